//! Credentials and endpoint: from flags, a TOML file named with `--config`, and `WXPAY_*`
//! environment variables, in that order of precedence (a file named by `WXPAY_CONFIG`, itself
//! from the environment, only fills what the environment leaves unset). Key material is only
//! ever read from files.

use std::path::{Path, PathBuf};

use wxpay_core::v2::{SignType, V2Credentials};
use wxpay_core::v3::{
    PlatformCertificate, PlatformCertificates, PublicKeyVerifier, RsaSigner, V3Credentials,
    VerifierSet,
};
use wxpay_core::{
    ApiV2Key, ApiV3Key, CertificateRefresh, ClientConfig, ClientConfigBuilder, Endpoint,
};

use crate::Failure;
use crate::ops::certificates::KeptCertificates;

/// Where to find the merchant's credentials and WeChat Pay: the flags (and `WXPAY_*`
/// variables) as clap reads them, and a config file's table as serde reads it, one typed
/// struct for both (a file's unknown key or a value of the wrong type is refused by serde).
#[derive(clap::Args, Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Settings {
    /// A TOML file with any of the settings below, by their long names with `_` for `-`
    /// (e.g. `mch_id = "10000100"`). Flags win over it; given as --config it wins over the
    /// WXPAY_* environment variables; named by WXPAY_CONFIG it only fills what they leave unset.
    #[arg(long, env = "WXPAY_CONFIG", value_name = "FILE")]
    #[serde(skip)]
    pub(crate) config: Option<PathBuf>,
    /// Send to this base URL instead of WeChat Pay (`https://…`, or `http://` to loopback).
    #[arg(long, env = "WXPAY_BASE_URL", value_name = "URL")]
    pub(crate) base_url: Option<String>,
    /// With --base-url: the base URL to fail over to when it cannot be reached.
    #[arg(long, env = "WXPAY_BACKUP_URL", value_name = "URL")]
    pub(crate) backup_url: Option<String>,
    /// `mainland` (primary host with fail-over to the backup; the default) or `hongkong`.
    #[arg(long, env = "WXPAY_ENDPOINT", value_name = "NAME")]
    pub(crate) endpoint: Option<String>,
    /// APIv2: the app id.
    #[arg(long, env = "WXPAY_APPID")]
    pub(crate) appid: Option<String>,
    /// APIv2: the merchant id (`mch_id`).
    #[arg(long, env = "WXPAY_MCH_ID")]
    pub(crate) mch_id: Option<String>,
    /// APIv2: a file holding the API v2 key (32 characters).
    #[arg(long, env = "WXPAY_API_V2_KEY_FILE", value_name = "FILE")]
    pub(crate) api_v2_key_file: Option<PathBuf>,
    /// APIv2: `MD5` (default) or `HMAC-SHA256`.
    #[arg(long, env = "WXPAY_SIGN_TYPE", value_name = "TYPE")]
    pub(crate) sign_type: Option<String>,
    /// APIv3: the merchant id (`mchid`; the service provider's for partner closes).
    #[arg(long, env = "WXPAY_MCHID")]
    pub(crate) mchid: Option<String>,
    /// APIv3: the serial number of the merchant's API certificate.
    #[arg(long, env = "WXPAY_SERIAL_NO")]
    pub(crate) serial_no: Option<String>,
    /// APIv3: the merchant's API private key (`apiclient_key.pem`).
    #[arg(long, env = "WXPAY_PRIVATE_KEY_FILE", value_name = "FILE")]
    pub(crate) private_key_file: Option<PathBuf>,
    /// APIv3 public-key mode: the WeChat Pay public key's id (`PUB_KEY_ID_…`).
    #[arg(long, env = "WXPAY_PUBLIC_KEY_ID")]
    pub(crate) public_key_id: Option<String>,
    /// APIv3 public-key mode: the WeChat Pay public key (PEM).
    #[arg(long, env = "WXPAY_PUBLIC_KEY_FILE", value_name = "FILE")]
    pub(crate) public_key_file: Option<PathBuf>,
    /// APIv3 platform-certificate mode: a WeChat Pay platform certificate (PEM).
    #[arg(long, env = "WXPAY_PLATFORM_CERT_FILE", value_name = "FILE")]
    pub(crate) platform_cert_file: Option<PathBuf>,
    /// APIv3 platform-certificate mode: a directory of platform certificates (`*.pem`, as
    /// `wxpay certificates` writes them); with --api-v3-key-file they are kept current.
    #[arg(long, env = "WXPAY_PLATFORM_CERT_DIR", value_name = "DIR")]
    pub(crate) platform_cert_dir: Option<PathBuf>,
    /// APIv3: a file holding the APIv3 key (32 characters), which decrypts the platform
    /// certificates WeChat Pay lists: certificate mode then downloads and rotates them.
    #[arg(long, env = "WXPAY_API_V3_KEY_FILE", value_name = "FILE")]
    pub(crate) api_v3_key_file: Option<PathBuf>,
    /// Send through this proxy (`http://`, `https://` or `socks5://` URL).
    #[arg(long, env = "WXPAY_PROXY", value_name = "URL")]
    pub(crate) proxy: Option<String>,
    /// Trust only the certificate authorities in this PEM file for TLS, instead of the
    /// built-in Mozilla roots (a gateway with its own CA; the sandbox's `--tls`).
    #[arg(long, env = "WXPAY_TLS_ROOTS_FILE", value_name = "FILE")]
    pub(crate) tls_roots_file: Option<PathBuf>,
    /// Which settings came from flags and which from the environment.
    #[arg(skip)]
    #[serde(skip)]
    pub(crate) origin: Origin,
}

/// Where the settings came from, by their names (`mch_id`, `base_url`, …).
#[derive(Debug, Clone, Default)]
pub(crate) struct Origin {
    /// Given as flags on the command line.
    pub(crate) flags: Vec<String>,
    /// Taken from `WXPAY_*` environment variables.
    pub(crate) env: Vec<String>,
}

impl Origin {
    pub(crate) fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    fn env(&self, name: &str) -> bool {
        self.env.iter().any(|f| f == name)
    }
}

/// WeChat Pay's own hosts.
const WECHAT_PAY: [&str; 3] =
    [wxpay_core::BaseUrl::PRIMARY, wxpay_core::BaseUrl::BACKUP, wxpay_core::BaseUrl::HONG_KONG];

/// When `config` sends anywhere but WeChat Pay's own hosts, the note that says where.
pub(crate) fn not_wechat_pay(config: &ClientConfig) -> Option<String> {
    let endpoint = config.endpoint();
    let urls: Vec<String> = std::iter::once(endpoint.primary())
        .chain(endpoint.backup())
        .map(|url| url.as_str().to_owned())
        .filter(|url| !WECHAT_PAY.iter().any(|w| w.eq_ignore_ascii_case(url)))
        .collect();
    match urls.as_slice() {
        [] => None,
        [one] => Some(format!("sending to {one}, which is not WeChat Pay")),
        more => Some(format!("sending to {}, which are not WeChat Pay", more.join(" and "))),
    }
}

/// Settings that go together, by their config-file names: where to send, the APIv2
/// credentials, the APIv3 credentials. An explicit `--config` that holds any of a group sets
/// the environment's whole group aside.
const GROUPS: [&[&str]; 3] = [
    &["base_url", "backup_url", "endpoint"],
    &["appid", "mch_id", "api_v2_key_file", "sign_type"],
    &[
        "mchid",
        "serial_no",
        "private_key_file",
        "public_key_id",
        "public_key_file",
        "platform_cert_file",
        "platform_cert_dir",
        "api_v3_key_file",
    ],
];

/// A platform certificate file.
fn certificate(file: &Path) -> Result<PlatformCertificate, Failure> {
    let pem = String::from_utf8(read(file, "platform certificate")?)
        .map_err(|_| Failure::usage(format!("{} is not a PEM text", file.display())))?;
    PlatformCertificate::from_pem(pem)
        .map_err(|e| Failure::usage(format!("{}: {e}", file.display())))
}

/// Every `*.pem` certificate in a directory (none yet is fine: they are downloaded).
pub(crate) fn certificate_dir(dir: &Path) -> Result<Vec<PlatformCertificate>, Failure> {
    let cannot = |e: std::io::Error| Failure::usage(format!("cannot read {}: {e}", dir.display()));
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(cannot)? {
        let path = entry.map_err(cannot)?.path();
        if path.extension().is_some_and(|e| e == "pem") {
            found.push(certificate(&path)?);
        }
    }
    Ok(found)
}

/// A setting as a user can give it: `--flag`, `WXPAY_VAR`, or `key` in the config file.
fn describe(key: &str) -> String {
    format!(
        "--{} ({}, or `{key}` in --config)",
        key.replace('_', "-"),
        format_args!("WXPAY_{}", key.to_ascii_uppercase())
    )
}

/// `MD5` or `HMAC-SHA256`, in any case: the one reader of a sign type given by a user.
pub(crate) fn parse_sign_type(text: &str) -> Result<SignType, Failure> {
    SignType::from_wire(&text.to_ascii_uppercase())
        .ok_or_else(|| Failure::usage(format!("sign type {text:?}: use MD5 or HMAC-SHA256")))
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path)
        .map_err(|e| Failure::usage(format!("cannot read {what} {}: {e}", path.display())))
}

impl Settings {
    /// The settings that name files: a config file's are relative to the file.
    fn files(&mut self) -> [&mut Option<PathBuf>; 7] {
        [
            &mut self.api_v2_key_file,
            &mut self.private_key_file,
            &mut self.public_key_file,
            &mut self.platform_cert_file,
            &mut self.platform_cert_dir,
            &mut self.api_v3_key_file,
            &mut self.tls_roots_file,
        ]
    }

    /// Takes the TOML file's settings, if a file is named. Flags always win. A file given as
    /// `--config` wins over the environment: for each group of settings it holds any of
    /// ([`GROUPS`]: where to send, APIv2 credentials, APIv3 credentials; the others one by
    /// one), the environment's settings of that group are set aside, and a file with
    /// credentials but no destination sends to WeChat Pay, not to an environment's base URL.
    /// A file that moves the destination (names one, or sends to WeChat Pay instead of the
    /// environment's) sets aside every credential of the environment: credentials meant for
    /// one destination never go to another.
    /// A file named by `WXPAY_CONFIG` (from the environment itself) only fills what flags and
    /// the environment left unset.
    pub(crate) fn resolve(self) -> Result<Settings, Failure> {
        use serde_json::Value;
        let Some(path) = self.config.clone() else { return Ok(self) };
        let text = String::from_utf8(read(&path, "config file")?)
            .map_err(|_| Failure::usage(format!("{}: not UTF-8", path.display())))?;
        let mut file: Settings = toml::from_str(&text).map_err(|e| {
            Failure::usage(format!(
                "{}: {} (the settings are those of `wxpay close --help`, in snake case: mch_id, mchid, api_v2_key_file, …; every value a string)",
                path.display(),
                e.message()
            ))
        })?;
        let dir = path.parent().unwrap_or(Path::new(".")).to_owned();
        for slot in file.files() {
            if let Some(relative) = slot.take() {
                *slot = Some(dir.join(relative));
            }
        }
        // Merged as tables of the one struct's fields: what is set is a non-null value.
        let table = |s: &Settings| match serde_json::to_value(s) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(Failure::usage("a setting holds a path that is not UTF-8")),
        };
        let file_table = table(&file)?;
        let given = &file_table;
        let given: Vec<&str> =
            given.iter().filter(|(_, v)| !v.is_null()).map(|(k, _)| k.as_str()).collect();
        let mut merged = table(&self)?;
        if self.origin.flag("config") {
            let holds = |group: &[&str]| group.iter().any(|k| given.contains(k));
            let credentials = holds(GROUPS[1]) || holds(GROUPS[2]);
            // The file moves the destination when it names one, or when it holds credentials
            // and the environment names one (the file's credentials go to WeChat Pay): then
            // no credential of the environment's goes with it.
            let env_destination = GROUPS[0].iter().any(|k| self.origin.env(k));
            let moved = holds(GROUPS[0]) || (credentials && env_destination);
            let mut aside: Vec<&str> = given.clone();
            for (i, group) in GROUPS.iter().enumerate() {
                if holds(group) || (i == 0 && credentials) || (i > 0 && moved) {
                    aside.extend(group.iter());
                }
            }
            for key in aside {
                if self.origin.env(key) {
                    merged.insert(key.to_owned(), Value::Null);
                }
            }
        }
        // Flags (and what is left of the environment) win; the file fills the rest.
        for (key, value) in file_table.clone() {
            let unset = merged.get(&key).is_none_or(Value::is_null);
            if unset && !value.is_null() {
                merged.insert(key, value);
            }
        }
        let mut resolved: Settings = serde_json::from_value(Value::Object(merged))
            .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
        resolved.config = self.config;
        resolved.origin = self.origin;
        Ok(resolved)
    }

    /// What a call of `api` (`v2` or `v3`) needs, checked before anything is read: every
    /// missing setting named with its flag, variable and config key, and the APIv2/APIv3
    /// merchant-id mix-up (`mch_id` vs `mchid`) pointed out.
    pub(crate) fn require(&self, api: &str) -> Result<(), Failure> {
        let unset = |settings: &[(bool, &str)]| -> Vec<String> {
            settings.iter().filter(|(set, _)| !set).map(|(_, name)| describe(name)).collect()
        };
        let (missing, trap) = if api == "v2" {
            let missing = unset(&[
                (self.appid.is_some(), "appid"),
                (self.mch_id.is_some(), "mch_id"),
                (self.api_v2_key_file.is_some(), "api_v2_key_file"),
            ]);
            let trap = (self.mch_id.is_none() && self.mchid.is_some()).then_some(
                "`mchid` is APIv3's merchant id; APIv2 reads `mch_id` (--mch-id, WXPAY_MCH_ID)",
            );
            (missing, trap)
        } else {
            let mut missing = unset(&[
                (self.mchid.is_some(), "mchid"),
                (self.serial_no.is_some(), "serial_no"),
                (self.private_key_file.is_some(), "private_key_file"),
            ]);
            let verifies = self.platform_cert_file.is_some()
                || self.platform_cert_dir.is_some()
                || self.api_v3_key_file.is_some()
                || (self.public_key_file.is_some() && self.public_key_id.is_some());
            if !verifies {
                missing.push(format!(
                    "{} with {}, or {}, or {} (certificates downloaded)",
                    describe("public_key_id"),
                    describe("public_key_file"),
                    describe("platform_cert_file"),
                    describe("api_v3_key_file")
                ));
            }
            let trap = (self.mchid.is_none() && self.mch_id.is_some()).then_some(
                "`mch_id` is APIv2's merchant id; APIv3 reads `mchid` (--mchid, WXPAY_MCHID)",
            );
            (missing, trap)
        };
        if missing.is_empty() {
            return Ok(());
        }
        let mut message =
            format!("API{api} needs settings that are not set: {}", missing.join("; "));
        if let Some(trap) = trap {
            message.push_str(&format!(". Note: {trap}"));
        }
        if self.config.is_none() && self.base_url.is_none() {
            message.push_str(". To try the sandbox: `wxpay close --sandbox …`, or source `wxpay sandbox`'s output");
        }
        Err(Failure::usage(message))
    }

    /// APIv2 credentials, when the settings name them; a half-set group is an error.
    pub(crate) fn v2(&self) -> Result<Option<V2Credentials>, Failure> {
        let any = self.appid.is_some() || self.mch_id.is_some() || self.api_v2_key_file.is_some();
        if !any {
            return Ok(None);
        }
        self.require("v2")?;
        let (Some(appid), Some(mch_id), Some(key_file)) =
            (&self.appid, &self.mch_id, &self.api_v2_key_file)
        else {
            return Ok(None);
        };
        let text = String::from_utf8(read(key_file, "API v2 key file")?).map_err(|_| {
            Failure::usage(format!("{}: the API v2 key file is not text", key_file.display()))
        })?;
        let key = ApiV2Key::new(text.trim()).map_err(|e| key_error("API v2 key", key_file, &e))?;
        let sign_type = match self.sign_type.as_deref() {
            None => SignType::Md5,
            Some(s) => parse_sign_type(s)?,
        };
        let creds =
            V2Credentials::new(appid, mch_id, key).map_err(|e| Failure::usage(e.to_string()))?;
        Ok(Some(creds.with_sign_type(sign_type)))
    }

    /// APIv3 credentials, when the settings name them (a half-set group is an error), and
    /// the platform certificate store to keep current when the APIv3 key is given.
    pub(crate) fn v3(
        &self,
    ) -> Result<Option<(V3Credentials, Option<PlatformCertificates>)>, Failure> {
        let any = self.mchid.is_some()
            || self.serial_no.is_some()
            || self.private_key_file.is_some()
            || self.public_key_file.is_some()
            || self.platform_cert_file.is_some()
            || self.platform_cert_dir.is_some();
        if !any {
            return Ok(None);
        }
        self.require("v3")?;
        let (Some(mchid), Some(serial_no), Some(key_file)) =
            (&self.mchid, &self.serial_no, &self.private_key_file)
        else {
            return Ok(None);
        };
        let signer = RsaSigner::from_pem(read(key_file, "private key")?)
            .map_err(|e| Failure::usage(format!("{}: {e}", key_file.display())))?;
        let mut verifiers = VerifierSet::new();
        if let Some(file) = &self.public_key_file {
            let id = self.public_key_id.clone().ok_or_else(|| {
                Failure::usage("APIv3 needs --public-key-id with --public-key-file")
            })?;
            let v = PublicKeyVerifier::from_pem(id, read(file, "public key")?)
                .map_err(|e| Failure::usage(format!("{}: {e}", file.display())))?;
            verifiers = verifiers.with(v);
        }
        let api_v3_key = match &self.api_v3_key_file {
            Some(file) => {
                let text = read(file, "APIv3 key file")?;
                Some(
                    ApiV3Key::new(text.trim_ascii())
                        .map_err(|e| key_error("APIv3 key", file, &e))?,
                )
            }
            None => None,
        };
        // Certificates from a file or a directory; kept current when the APIv3 key is given.
        let mut certificates = Vec::new();
        if let Some(file) = &self.platform_cert_file {
            certificates.push(certificate(file)?);
        }
        if let Some(dir) = &self.platform_cert_dir {
            certificates.extend(certificate_dir(dir)?);
        }
        // Certificate mode (a certificate given, or no public key) with the APIv3 key: kept
        // current. A public-key merchant's APIv3 key downloads nothing.
        let certificate_mode = self.platform_cert_file.is_some()
            || self.platform_cert_dir.is_some()
            || self.public_key_file.is_none();
        let store = if api_v3_key.is_some() && certificate_mode {
            let store = PlatformCertificates::from_certificates(certificates);
            verifiers = verifiers.with(store.clone());
            Some(store)
        } else {
            for c in certificates {
                verifiers = verifiers.with(c.verifier().clone());
            }
            None
        };
        let mut creds = V3Credentials::new(mchid, serial_no, signer, verifiers)
            .map_err(|e| Failure::usage(e.to_string()))?;
        if let Some(key) = api_v3_key {
            creds = creds.with_api_v3_key(key);
        }
        Ok(Some((creds, store)))
    }

    /// Where closes go, as the journal names it: the base URL, or WeChat Pay's endpoint
    /// (`mainland`, `hongkong`).
    pub(crate) fn destination(&self) -> String {
        match (&self.base_url, self.endpoint.as_deref()) {
            (Some(url), _) => url.trim_end_matches('/').to_owned(),
            (None, endpoint) => endpoint.unwrap_or("mainland").to_owned(),
        }
    }

    /// The APIv2 merchant as the journal names it: `appid/mch_id`.
    pub(crate) fn v2_merchant(&self) -> String {
        format!(
            "{}/{}",
            self.appid.as_deref().unwrap_or_default(),
            self.mch_id.as_deref().unwrap_or_default()
        )
    }

    /// The client configuration of [`Settings::builder`], built (for a call that keeps no
    /// certificates current).
    pub(crate) fn client_config(&self, purpose: Purpose) -> Result<ClientConfig, Failure> {
        self.builder(purpose)?.builder.build().map_err(|e| Failure::usage(e.to_string()))
    }

    /// A client configuration builder with the credentials (of the API generation `purpose`
    /// needs, and no other: a v2 close downloads no v3 certificate list) and the endpoint
    /// these settings name, and the platform certificates to keep current, if any: for a
    /// close, the core's refresh keeps them, counting its interval from the newest
    /// certificate file's time.
    pub(crate) fn builder(&self, purpose: Purpose) -> Result<Built, Failure> {
        let mut b = ClientConfig::builder();
        let mut certificates = None;
        if purpose == Purpose::CloseV2 {
            if let Some(v2) = self.v2()? {
                b = b.v2(v2);
            }
        } else if let Some((v3, store)) = self.v3()? {
            b = b.v3(v3);
            // `wxpay certificates` downloads the list itself, once.
            if let (Some(store), Purpose::CloseV3) = (store, purpose) {
                let dir = self.platform_cert_dir.clone();
                let refreshed_at = KeptCertificates::written_at(
                    dir.as_deref(),
                    self.platform_cert_file.as_deref(),
                );
                let mut refresh = CertificateRefresh::default();
                if self.endpoint.as_deref() == Some("hongkong") {
                    refresh = refresh.global();
                }
                if let Some(at) = refreshed_at {
                    refresh = refresh.refreshed_at(at);
                }
                b = b.refresh_certificates(store.clone(), refresh);
                certificates = Some(KeptCertificates { store, dir, refreshed_at });
            }
        }
        if self.backup_url.is_some() && self.base_url.is_none() {
            return Err(Failure::usage(
                "--backup-url (WXPAY_BACKUP_URL) goes with --base-url: WeChat Pay's own hosts fail over by themselves",
            ));
        }
        b = match (&self.base_url, self.endpoint.as_deref()) {
            (Some(url), _) => match &self.backup_url {
                Some(backup) => b.base_urls(url, backup),
                None => b.base_url(url),
            },
            (None, None | Some("mainland")) => b.endpoint(Endpoint::Mainland),
            (None, Some("hongkong")) => b.endpoint(Endpoint::HongKong),
            (None, Some(other)) => {
                return Err(Failure::usage(format!(
                    "--endpoint is mainland or hongkong, not {other}"
                )));
            }
        };
        if let Some(proxy) = &self.proxy {
            b = b.proxy(proxy);
        }
        if let Some(file) = &self.tls_roots_file {
            b = b.tls_roots_pem(read(file, "TLS roots file")?);
        }
        let builder = b.user_agent_suffix(concat!("wxpay-cli/", env!("CARGO_PKG_VERSION")));
        Ok(Built { builder, certificates })
    }
}

/// What a client configuration is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// An APIv2 close: APIv2 credentials only.
    CloseV2,
    /// An APIv3 close: APIv3 credentials only.
    CloseV3,
    /// `wxpay certificates`: APIv3 credentials; the list is downloaded once, by the command.
    Certificates,
}

/// A client configuration builder, and the platform certificates to keep current.
pub(crate) struct Built {
    pub(crate) builder: ClientConfigBuilder,
    pub(crate) certificates: Option<KeptCertificates>,
}

/// A key file's key refused by the core, said with the key's name and the file: `which` is
/// `API v2 key` or `APIv3 key` (the core's own text names the APIv2 key for both lengths).
fn key_error(which: &str, file: &Path, e: &wxpay_core::InvalidInput) -> Failure {
    use wxpay_core::InvalidInput;
    let file = file.display();
    Failure::usage(match e {
        InvalidInput::ApiKeyLength { len } => {
            format!("{file}: the {which} must be 32 characters, got {len}")
        }
        InvalidInput::BadCharacter { position, .. } => format!(
            "{file}: the {which} must be printable ASCII; character {} is not",
            position + 1
        ),
        other => format!("{file}: the {which}: {other}"),
    })
}
