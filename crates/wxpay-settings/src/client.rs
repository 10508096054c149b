//! From settings to credentials and a client configuration: what a call needs, checked
//! before any file is read.

use std::path::PathBuf;
use std::time::Instant;

use wxpay_core::v2::{SignType, V2Credentials};
use wxpay_core::v3::{PlatformCertificates, V3Credentials, VerifierSet};
use wxpay_core::{CertificateRefresh, ClientConfig, ClientConfigBuilder, Endpoint};

use crate::{Api, Settings, SettingsError, files};

/// What a client configuration is for: which API generation's settings are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Purpose {
    /// Calls of both generations: the credentials of each the settings name (at least one),
    /// and in certificate mode with the APIv3 key, the platform certificates kept current.
    Both,
    /// APIv2 calls: the APIv2 credentials only (nothing of APIv3 is read, and no APIv3
    /// certificate list is downloaded).
    V2,
    /// APIv3 calls: the APIv3 credentials only, the platform certificates kept current in
    /// certificate mode with the APIv3 key.
    V3,
    /// APIv3 cross-border calls: as [`V3`](Self::V3), the certificates kept current from the
    /// cross-border list (`GET /v3/global/certificates`, at the Hong Kong host unless a base
    /// URL is set), where a cross-border merchant's certificates are; as for any call with
    /// the endpoint `hongkong`.
    V3Global,
    /// Downloading the platform certificate list once (`wxpay certificates`, `wxpay check`):
    /// the APIv3 credentials, and no refresh of the configuration's own.
    DownloadCertificates,
}

/// A client configuration builder (add timeouts, retries, a `User-Agent` suffix, then
/// build), and the platform certificates it keeps current, if any.
#[derive(Debug)]
#[non_exhaustive]
pub struct ClientSetup {
    /// The builder: credentials, endpoint, proxy and TLS roots as the settings name them.
    pub builder: ClientConfigBuilder,
    /// In certificate mode with the APIv3 key: the certificates the clients keep current.
    pub certificates: Option<LoadedCertificates>,
}

/// Platform certificates loaded from files, in a store the clients refresh (download with
/// the APIv3 key, rotate) in memory: to write them back to the directory after calls, say
/// (the `wxpay` command does).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoadedCertificates {
    /// The store the configuration verifies with and refreshes (clones share it).
    pub store: PlatformCertificates,
    /// The directory they were loaded from (`platform_cert_dir`), if any.
    pub dir: Option<PathBuf>,
    /// When the files were last written ([`written_at`](crate::written_at)), if younger than
    /// now: the refresh interval counts from there.
    pub refreshed_at: Option<Instant>,
}

/// A setting as a user can give it: `--flag`, `WXPAY_VAR`, or `key` in the config file.
pub(crate) fn describe(key: &str) -> String {
    format!("--{} ({}, or `{key}` in --config)", key.replace('_', "-"), Settings::env_var(key))
}

/// `MD5` or `HMAC-SHA256`, in any case: the one reader of a sign type given by a user.
///
/// # Errors
/// [`SettingsError::SignType`] for anything else.
pub fn parse_sign_type(text: &str) -> Result<SignType, SettingsError> {
    SignType::from_wire(&text.to_ascii_uppercase())
        .ok_or_else(|| SettingsError::SignType { given: text.to_owned() })
}

impl Settings {
    /// Where calls go, in words: the base URL (without a trailing `/`), or WeChat Pay's
    /// endpoint (`mainland`, the default, or `hongkong`). The command's journal and a
    /// certificate directory's [`OWNER_FILE`](crate::OWNER_FILE) name it so.
    #[must_use]
    pub fn destination(&self) -> String {
        match (&self.base_url, self.endpoint.as_deref()) {
            (Some(url), _) => url.trim_end_matches('/').to_owned(),
            (None, endpoint) => endpoint.unwrap_or("mainland").to_owned(),
        }
    }

    /// Checks, before any file is read, that a call of `api` has what it needs: APIv2
    /// `appid`, `mch_id` and `api_v2_key_file`; APIv3 `mchid`, `serial_no`,
    /// `private_key_file` and a way to verify answers (`public_key_id` with
    /// `public_key_file`, or `platform_cert_file`, `platform_cert_dir` or `api_v3_key_file`).
    ///
    /// ```
    /// use wxpay_settings::{Api, Settings};
    ///
    /// let settings = Settings::from_vars([("WXPAY_MCH_ID", "1900000001")])?;
    /// let err = settings.require(Api::V3).unwrap_err().to_string();
    /// assert!(err.contains("--mchid (WXPAY_MCHID, or `mchid` in --config)"), "{err}");
    /// assert!(err.contains("APIv3 reads `mchid`"), "{err}");
    /// # Ok::<(), wxpay_settings::SettingsError>(())
    /// ```
    ///
    /// # Errors
    /// [`SettingsError::Missing`], naming each missing setting with its flag, variable and
    /// config key, and pointing out the merchant-id mix-up (`mch_id` is APIv2's, `mchid`
    /// APIv3's).
    pub fn require(&self, api: Api) -> Result<(), SettingsError> {
        let unset = |settings: &[(bool, &str)]| -> Vec<String> {
            settings.iter().filter(|(set, _)| !set).map(|(_, name)| describe(name)).collect()
        };
        let (missing, note) = match api {
            Api::V2 => {
                let missing = unset(&[
                    (self.appid.is_some(), "appid"),
                    (self.mch_id.is_some(), "mch_id"),
                    (self.api_v2_key_file.is_some(), "api_v2_key_file"),
                ]);
                let note = (self.mch_id.is_none() && self.mchid.is_some()).then_some(
                    "`mchid` is APIv3's merchant id; APIv2 reads `mch_id` (--mch-id, WXPAY_MCH_ID)",
                );
                (missing, note)
            }
            Api::V3 => {
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
                let note = (self.mchid.is_none() && self.mch_id.is_some()).then_some(
                    "`mch_id` is APIv2's merchant id; APIv3 reads `mchid` (--mchid, WXPAY_MCHID)",
                );
                (missing, note)
            }
        };
        if missing.is_empty() {
            return Ok(());
        }
        let set_aside = self.origin.set_aside().to_vec();
        Err(SettingsError::Missing { api, missing, note, set_aside })
    }

    /// The APIv2 credentials, when the settings name any of them (`None` when they name
    /// none): `appid`, `mch_id`, the key from `api_v2_key_file`, `sign_type` (MD5 unless
    /// said).
    ///
    /// # Errors
    /// [`SettingsError::Missing`] for a half-set group, the key file's errors
    /// ([`api_v2_key`](crate::api_v2_key)), [`SettingsError::SignType`], and
    /// [`SettingsError::Invalid`] for ids the core refuses.
    pub fn v2_credentials(&self) -> Result<Option<V2Credentials>, SettingsError> {
        let any = self.appid.is_some() || self.mch_id.is_some() || self.api_v2_key_file.is_some();
        if !any {
            return Ok(None);
        }
        self.require(Api::V2)?;
        let (Some(appid), Some(mch_id), Some(key_file)) =
            (&self.appid, &self.mch_id, &self.api_v2_key_file)
        else {
            return Ok(None);
        };
        let key = files::api_v2_key(key_file)?;
        let sign_type = match self.sign_type.as_deref() {
            None => SignType::Md5,
            Some(s) => parse_sign_type(s)?,
        };
        Ok(Some(V2Credentials::new(appid, mch_id, key)?.with_sign_type(sign_type)))
    }

    /// The APIv3 credentials, when the settings name any of them (`None` when they name
    /// none): `mchid`, `serial_no`, the signer from `private_key_file`, and the verifiers:
    /// the public key (`public_key_id`, `public_key_file`), the platform certificates
    /// (`platform_cert_file`, `platform_cert_dir`), and the APIv3 key (`api_v3_key_file`).
    ///
    /// In certificate mode (a certificate given, or no public key) with the APIv3 key, the
    /// certificates are held in a store that [`client_config`](Self::client_config) keeps
    /// current (downloaded before the first call when none is given, and rotated); these
    /// credentials alone verify with the certificates they hold and download nothing.
    ///
    /// # Errors
    /// [`SettingsError::Missing`] for a half-set group (a public key without its id too), the
    /// key files' errors ([`private_key`](crate::private_key), [`public_key`](crate::public_key),
    /// [`api_v3_key`](crate::api_v3_key), [`platform_certificate`](crate::platform_certificate),
    /// [`certificate_dir`](crate::certificate_dir)), and [`SettingsError::Invalid`] for ids
    /// the core refuses.
    pub fn v3_credentials(&self) -> Result<Option<V3Credentials>, SettingsError> {
        Ok(self.v3_parts()?.map(|(credentials, _)| credentials))
    }

    /// [`v3_credentials`](Self::v3_credentials), and the store to keep current, if any.
    fn v3_parts(
        &self,
    ) -> Result<Option<(V3Credentials, Option<PlatformCertificates>)>, SettingsError> {
        let any = self.mchid.is_some()
            || self.serial_no.is_some()
            || self.private_key_file.is_some()
            || self.public_key_file.is_some()
            || self.platform_cert_file.is_some()
            || self.platform_cert_dir.is_some();
        if !any {
            return Ok(None);
        }
        self.require(Api::V3)?;
        let (Some(mchid), Some(serial_no), Some(key_file)) =
            (&self.mchid, &self.serial_no, &self.private_key_file)
        else {
            return Ok(None);
        };
        let signer = files::private_key(key_file)?;
        let mut verifiers = VerifierSet::new();
        if let Some(file) = &self.public_key_file {
            let Some(id) = &self.public_key_id else {
                return Err(SettingsError::Missing {
                    set_aside: Vec::new(),
                    api: Api::V3,
                    missing: vec![format!(
                        "{}, which goes with --public-key-file",
                        describe("public_key_id")
                    )],
                    note: None,
                });
            };
            verifiers = verifiers.with(files::public_key(id, file)?);
        }
        let api_v3_key = self.api_v3_key_file.as_ref().map(files::api_v3_key).transpose()?;
        let mut certificates = Vec::new();
        if let Some(file) = &self.platform_cert_file {
            certificates.push(files::platform_certificate(file)?);
        }
        if let Some(dir) = &self.platform_cert_dir {
            files::check_owner(dir, &files::certificate_owner(mchid, &self.destination()))?;
            certificates.extend(files::certificate_dir(dir)?);
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
        let mut credentials = V3Credentials::new(mchid, serial_no, signer, verifiers)?;
        if let Some(key) = api_v3_key {
            credentials = credentials.with_api_v3_key(key);
        }
        Ok(Some((credentials, store)))
    }

    /// The client configuration for calls of both API generations (whichever the settings
    /// name credentials for): [`client_config_builder`](Self::client_config_builder), built.
    ///
    /// # Errors
    /// Those of [`client_config_builder`](Self::client_config_builder), and
    /// [`SettingsError::Invalid`] for a value the core refuses (a base URL, a proxy URL,
    /// TLS roots that are not PEM certificates).
    pub fn client_config(&self) -> Result<ClientConfig, SettingsError> {
        Ok(self.client_config_builder()?.build()?)
    }

    /// A client configuration builder for calls of both API generations, to which you can
    /// add timeouts, retries or a `User-Agent` suffix: [`client_setup`](Self::client_setup)
    /// for [`Purpose::Both`].
    ///
    /// # Errors
    /// As [`client_setup`](Self::client_setup).
    pub fn client_config_builder(&self) -> Result<ClientConfigBuilder, SettingsError> {
        Ok(self.client_setup(Purpose::Both)?.builder)
    }

    /// A client configuration builder with the credentials `purpose` needs (and no other:
    /// an APIv2 close downloads no APIv3 certificate list) and the endpoint, proxy and TLS
    /// roots the settings name; and, in certificate mode with the APIv3 key (except to
    /// download the list once), the platform certificates the clients keep current (the
    /// core's refresh, counting its interval from the newest certificate file's time, the
    /// cross-border list for the `hongkong` endpoint).
    ///
    /// # Errors
    /// [`SettingsError::NoCredentials`] ([`Purpose::Both`]) or [`SettingsError::Missing`]
    /// when the credentials are not set, the errors of
    /// [`v2_credentials`](Self::v2_credentials) and [`v3_credentials`](Self::v3_credentials),
    /// [`SettingsError::BackupWithoutBase`], [`SettingsError::Endpoint`], and
    /// [`SettingsError::Read`] for the TLS roots file.
    pub fn client_setup(&self, purpose: Purpose) -> Result<ClientSetup, SettingsError> {
        let mut b = ClientConfig::builder();
        let mut certificates = None;
        let (v2, v3) = match purpose {
            Purpose::Both => (true, true),
            Purpose::V2 => (true, false),
            Purpose::V3 | Purpose::V3Global | Purpose::DownloadCertificates => (false, true),
        };
        let mut named = false;
        if v2 {
            if purpose == Purpose::V2 {
                self.require(Api::V2)?;
            }
            if let Some(credentials) = self.v2_credentials()? {
                b = b.v2(credentials);
                named = true;
            }
        }
        if v3 {
            if purpose != Purpose::Both {
                self.require(Api::V3)?;
            }
            if let Some((credentials, store)) = self.v3_parts()? {
                b = b.v3(credentials);
                named = true;
                if let (Some(store), false) = (store, purpose == Purpose::DownloadCertificates) {
                    let dir = self.platform_cert_dir.clone();
                    let refreshed_at =
                        files::written_at(dir.as_deref(), self.platform_cert_file.as_deref());
                    let mut refresh = CertificateRefresh::default();
                    if purpose == Purpose::V3Global || self.endpoint.as_deref() == Some("hongkong")
                    {
                        refresh = refresh.global();
                    }
                    if let Some(at) = refreshed_at {
                        refresh = refresh.refreshed_at(at);
                    }
                    b = b.refresh_certificates(store.clone(), refresh);
                    certificates = Some(LoadedCertificates { store, dir, refreshed_at });
                }
            }
        }
        if !named {
            return Err(SettingsError::NoCredentials);
        }
        if self.backup_url.is_some() && self.base_url.is_none() {
            return Err(SettingsError::BackupWithoutBase);
        }
        // Checked with a base URL too, where it still picks the certificate list to download.
        if let Some(other) =
            self.endpoint.as_deref().filter(|e| !matches!(*e, "mainland" | "hongkong"))
        {
            return Err(SettingsError::Endpoint { given: other.to_owned() });
        }
        // Each URL checked by name, so that the error says which setting is wrong.
        for (key, url) in [("base_url", &self.base_url), ("backup_url", &self.backup_url)] {
            if let Some(url) = url {
                wxpay_core::BaseUrl::parse(url)
                    .map_err(|error| SettingsError::Setting { key, error })?;
            }
        }
        b = match (&self.base_url, self.endpoint.as_deref()) {
            (Some(url), _) => match &self.backup_url {
                Some(backup) => b.base_urls(url, backup),
                None => b.base_url(url),
            },
            (None, None | Some("mainland")) => b.endpoint(Endpoint::Mainland),
            (None, Some("hongkong")) => b.endpoint(Endpoint::HongKong),
            (None, Some(other)) => {
                return Err(SettingsError::Endpoint { given: other.to_owned() });
            }
        };
        if let Some(proxy) = &self.proxy {
            b = b.proxy(proxy);
        }
        if let Some(file) = &self.tls_roots_file {
            b = b.tls_roots_pem(files::read(file, "TLS roots file")?.as_slice());
        }
        Ok(ClientSetup { builder: b, certificates })
    }
}
