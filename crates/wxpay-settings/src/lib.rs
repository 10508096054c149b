//! wxpay's settings, read as the `wxpay` command reads them: `WXPAY_*` environment variables,
//! a TOML file, and key files by path, into APIv2 and APIv3 credentials and a
//! [`ClientConfig`](wxpay_core::ClientConfig). One piece of code for the library and the
//! command, so the two cannot drift.
//!
//! **In scope**: the settings (one [`Settings`] struct: the command's flags, the config
//! file's keys, the `WXPAY_*` variables), their precedence ([`Settings::resolve`]), the key
//! files ([`api_v2_key`], [`api_v3_key`], [`private_key`], [`public_key`],
//! [`platform_certificate`], [`certificate_dir`]) and the client configuration they make.
//! **Out of scope**: sending anything, and writing files (the command writes downloaded
//! certificates back; the clients keep them current in memory). Key material is only ever
//! read from files, never from a variable or the config file, and no error shows it.
//!
//! ```no_run
//! use wxpay_settings::Settings;
//!
//! // WXPAY_MCHID, WXPAY_SERIAL_NO, WXPAY_PRIVATE_KEY_FILE, WXPAY_PUBLIC_KEY_ID, … and a
//! // file named by WXPAY_CONFIG for what they leave unset.
//! let settings = Settings::from_env()?;
//! // Or a TOML file (`mchid = "1900000001"`, `private_key_file = "apiclient_key.pem"`, …;
//! // relative paths are relative to the file).
//! let settings = Settings::from_file("/etc/shop/wxpay.toml")?;
//! // Credentials of both API generations, whichever the settings name; in certificate mode
//! // with the APIv3 key, the clients download and rotate the platform certificates.
//! let config = settings.client_config()?;
//! # drop(config);
//! # Ok::<(), wxpay_settings::SettingsError>(())
//! ```
//!
//! The clients re-export this crate, so one dependency is enough:
//! `wxpay_blocking::settings::Settings`, `wxpay_async::settings::Settings`.
//!
//! The settings, by their config-file keys (the variable is `WXPAY_` and the key in upper
//! case, [`Settings::env_var`]; the command's flag is `--` and the key with `-` for `_`): see
//! [`Settings::KEYS`] and each field of [`Settings`].
// Where other crates' pages link this crate's items when its pages are not built beside theirs.
#![doc(html_root_url = "https://docs.rs/wxpay-settings/latest/")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod error;
mod files;
mod resolve;

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

pub use client::{ClientSetup, LoadedCertificates, Purpose, parse_sign_type};
pub use error::SettingsError;
pub use files::{
    OWNER_FILE, api_v2_key, api_v3_key, certificate_dir, certificate_owner, check_owner, claim_dir,
    platform_certificate, private_key, public_key, written_at,
};

/// Where to find the merchant's credentials and WeChat Pay: one typed struct for the
/// `WXPAY_*` variables, the config file's table (a file's unknown key or a value of the
/// wrong type is refused) and, with the `clap` feature, the `wxpay` command's flags.
///
/// Every field is optional here; what a call needs is checked by [`Settings::require`] and
/// the credential readers, which name what is missing. `Debug` shows no proxy password.
#[derive(Clone, Default, serde::Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Settings {
    /// A TOML file with any of the settings below, by their long names with `_` for `-`
    /// (e.g. `mch_id = "10000100"`). Flags win over it; given as --config it wins over the
    /// WXPAY_* environment variables; named by WXPAY_CONFIG it only fills what they leave unset.
    #[cfg_attr(feature = "clap", arg(long, env = "WXPAY_CONFIG", value_name = "FILE"))]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Send to this base URL instead of WeChat Pay (`https://…`, or `http://` to loopback).
    #[cfg_attr(feature = "clap", arg(long, env = "WXPAY_BASE_URL", value_name = "URL"))]
    pub base_url: Option<String>,
    /// With --base-url: the base URL to fail over to when it cannot be reached.
    #[cfg_attr(feature = "clap", arg(long, env = "WXPAY_BACKUP_URL", value_name = "URL"))]
    pub backup_url: Option<String>,
    /// `mainland` (primary host with fail-over to the backup; the default) or `hongkong`.
    #[cfg_attr(feature = "clap", arg(long, env = "WXPAY_ENDPOINT", value_name = "NAME"))]
    pub endpoint: Option<String>,
    /// APIv2: the app id.
    #[cfg_attr(feature = "clap", arg(long, env = "WXPAY_APPID"))]
    pub appid: Option<String>,
    /// APIv2: the merchant id (`mch_id`).
    #[cfg_attr(feature = "clap", arg(long, env = "WXPAY_MCH_ID"))]
    pub mch_id: Option<String>,
    /// APIv2: a file holding the API v2 key (32 characters).
    #[cfg_attr(feature = "clap", arg(long, env = "WXPAY_API_V2_KEY_FILE", value_name = "FILE"))]
    pub api_v2_key_file: Option<PathBuf>,
    /// APIv2: `MD5` (default) or `HMAC-SHA256`.
    #[cfg_attr(feature = "clap", arg(long, env = "WXPAY_SIGN_TYPE", value_name = "TYPE"))]
    pub sign_type: Option<String>,
    /// APIv3: the merchant id (`mchid`; the service provider's for partner closes).
    #[cfg_attr(feature = "clap", arg(long, env = "WXPAY_MCHID"))]
    pub mchid: Option<String>,
    /// APIv3: the serial number of the merchant's API certificate.
    #[cfg_attr(feature = "clap", arg(long, env = "WXPAY_SERIAL_NO"))]
    pub serial_no: Option<String>,
    /// APIv3: the merchant's API private key (`apiclient_key.pem`).
    #[cfg_attr(feature = "clap", arg(long, env = "WXPAY_PRIVATE_KEY_FILE", value_name = "FILE"))]
    pub private_key_file: Option<PathBuf>,
    /// APIv3 public-key mode: the WeChat Pay public key's id (`PUB_KEY_ID_…`).
    #[cfg_attr(feature = "clap", arg(long, env = "WXPAY_PUBLIC_KEY_ID"))]
    pub public_key_id: Option<String>,
    /// APIv3 public-key mode: the WeChat Pay public key (PEM).
    #[cfg_attr(feature = "clap", arg(long, env = "WXPAY_PUBLIC_KEY_FILE", value_name = "FILE"))]
    pub public_key_file: Option<PathBuf>,
    /// APIv3 platform-certificate mode: a WeChat Pay platform certificate (PEM).
    #[cfg_attr(feature = "clap", arg(long, env = "WXPAY_PLATFORM_CERT_FILE", value_name = "FILE"))]
    pub platform_cert_file: Option<PathBuf>,
    /// APIv3 platform-certificate mode: a directory of platform certificates (`*.pem`, as
    /// `wxpay certificates` writes them); with --api-v3-key-file they are kept current.
    #[cfg_attr(feature = "clap", arg(long, env = "WXPAY_PLATFORM_CERT_DIR", value_name = "DIR"))]
    pub platform_cert_dir: Option<PathBuf>,
    /// APIv3: a file holding the APIv3 key (32 characters), which decrypts the platform
    /// certificates WeChat Pay lists: certificate mode then downloads and rotates them.
    #[cfg_attr(feature = "clap", arg(long, env = "WXPAY_API_V3_KEY_FILE", value_name = "FILE"))]
    pub api_v3_key_file: Option<PathBuf>,
    /// Send through this proxy (`http://`, `https://` or `socks5://` URL).
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "WXPAY_PROXY", value_name = "URL", hide_env_values = true)
    )]
    pub proxy: Option<String>,
    /// Trust only the certificate authorities in this PEM file for TLS, instead of the
    /// built-in Mozilla roots (a gateway with its own CA; the sandbox's `--tls`).
    #[cfg_attr(feature = "clap", arg(long, env = "WXPAY_TLS_ROOTS_FILE", value_name = "FILE"))]
    pub tls_roots_file: Option<PathBuf>,
    /// Where each setting came from (flags, the environment, the config file): what
    /// [`resolve`](Self::resolve)'s precedence goes by.
    #[cfg_attr(feature = "clap", arg(skip))]
    #[serde(skip)]
    pub origin: Origin,
}

/// Where one setting came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// A flag on the command line (or set by the program itself).
    Flag,
    /// A `WXPAY_*` environment variable.
    Env,
    /// A config file.
    File,
}

/// Where the settings came from, by their config-file keys (`mch_id`, `base_url`, …); a
/// key not named has no known source (set by the program, or unset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    sources: Vec<(String, Source)>,
    set_aside: Vec<&'static str>,
}

impl Origin {
    /// The settings a file named by `WXPAY_CONFIG` gave but [`Settings::resolve`] did not
    /// take, because the flags or variables give part of their group (a merchant's
    /// credentials, or the destination, come from one place): a missing setting's error names
    /// them.
    #[must_use]
    pub fn set_aside(&self) -> &[&'static str] {
        &self.set_aside
    }

    /// Says that setting `key` came from `source`.
    pub fn set(&mut self, key: impl Into<String>, source: Source) {
        let key = key.into();
        self.sources.retain(|(k, _)| *k != key);
        self.sources.push((key, source));
    }

    /// Where setting `key` came from, if known.
    #[must_use]
    pub fn of(&self, key: &str) -> Option<Source> {
        self.sources.iter().find(|(k, _)| k == key).map(|(_, s)| *s)
    }

    /// Whether setting `key` was given as a flag.
    #[must_use]
    pub fn flag(&self, key: &str) -> bool {
        self.of(key) == Some(Source::Flag)
    }

    /// Whether setting `key` came from the environment.
    #[must_use]
    pub fn env(&self, key: &str) -> bool {
        self.of(key) == Some(Source::Env)
    }

    fn forget(&mut self, key: &str) {
        self.sources.retain(|(k, _)| k != key);
    }
}

/// An API generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Api {
    /// APIv2 (XML, the API v2 key).
    V2,
    /// APIv3 (JSON, RSA).
    V3,
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Api::V2 => "APIv2",
            Api::V3 => "APIv3",
        })
    }
}

/// One setting's value, to be read or moved by its key.
pub(crate) enum Slot<'a> {
    Text(&'a mut Option<String>),
    Path(&'a mut Option<PathBuf>),
}

impl Slot<'_> {
    fn is_set(&self) -> bool {
        match self {
            Slot::Text(v) => v.is_some(),
            Slot::Path(v) => v.is_some(),
        }
    }

    fn clear(&mut self) {
        match self {
            Slot::Text(v) => **v = None,
            Slot::Path(v) => **v = None,
        }
    }

    /// Takes `other`'s value when this one is unset; whether it did.
    fn fill_from(&mut self, other: Slot<'_>) -> bool {
        match (self, other) {
            (Slot::Text(mine), Slot::Text(theirs)) if mine.is_none() && theirs.is_some() => {
                **mine = theirs.take();
                true
            }
            (Slot::Path(mine), Slot::Path(theirs)) if mine.is_none() && theirs.is_some() => {
                **mine = theirs.take();
                true
            }
            _ => false,
        }
    }
}

impl Settings {
    /// Every setting's config-file key, `config` first. The environment variable is
    /// [`env_var`](Self::env_var) of the key; the command's flag is `--` and the key with `-`
    /// for `_`.
    pub const KEYS: [&'static str; 18] = [
        "config",
        "base_url",
        "backup_url",
        "endpoint",
        "appid",
        "mch_id",
        "api_v2_key_file",
        "sign_type",
        "mchid",
        "serial_no",
        "private_key_file",
        "public_key_id",
        "public_key_file",
        "platform_cert_file",
        "platform_cert_dir",
        "api_v3_key_file",
        "proxy",
        "tls_roots_file",
    ];

    /// The environment variable of setting `key`: `WXPAY_` and the key in upper case
    /// (`mch_id`: `WXPAY_MCH_ID`).
    #[must_use]
    pub fn env_var(key: &str) -> String {
        format!("WXPAY_{}", key.to_ascii_uppercase())
    }

    /// Each setting by its key, in [`KEYS`](Self::KEYS) order.
    pub(crate) fn slots(&mut self) -> [(&'static str, Slot<'_>); 18] {
        [
            ("config", Slot::Path(&mut self.config)),
            ("base_url", Slot::Text(&mut self.base_url)),
            ("backup_url", Slot::Text(&mut self.backup_url)),
            ("endpoint", Slot::Text(&mut self.endpoint)),
            ("appid", Slot::Text(&mut self.appid)),
            ("mch_id", Slot::Text(&mut self.mch_id)),
            ("api_v2_key_file", Slot::Path(&mut self.api_v2_key_file)),
            ("sign_type", Slot::Text(&mut self.sign_type)),
            ("mchid", Slot::Text(&mut self.mchid)),
            ("serial_no", Slot::Text(&mut self.serial_no)),
            ("private_key_file", Slot::Path(&mut self.private_key_file)),
            ("public_key_id", Slot::Text(&mut self.public_key_id)),
            ("public_key_file", Slot::Path(&mut self.public_key_file)),
            ("platform_cert_file", Slot::Path(&mut self.platform_cert_file)),
            ("platform_cert_dir", Slot::Path(&mut self.platform_cert_dir)),
            ("api_v3_key_file", Slot::Path(&mut self.api_v3_key_file)),
            ("proxy", Slot::Text(&mut self.proxy)),
            ("tls_roots_file", Slot::Path(&mut self.tls_roots_file)),
        ]
    }

    /// The settings of the process environment's `WXPAY_*` variables
    /// ([`from_vars`](Self::from_vars) of [`std::env::vars_os`]).
    ///
    /// # Errors
    /// As [`from_vars`](Self::from_vars).
    pub fn from_env() -> Result<Settings, SettingsError> {
        Settings::from_vars(std::env::vars_os())
    }

    /// Refuses `WXPAY_*` variables that would be read otherwise than meant: one that names no
    /// setting (a misspelt `WXPAY_BASE_ULR` would otherwise leave the destination at WeChat
    /// Pay itself), and a setting's variable that is set but empty (an empty
    /// `WXPAY_BASE_URL` likewise). wxpay's own other variables pass: the sandbox's exports
    /// (`WXPAY_SANDBOX_*`) and its benchmarks' `WXPAY_BIN`. A `wxpay_*` variable in another
    /// case is refused too (it is never read); variables without the prefix are not looked at.
    ///
    /// ```
    /// use wxpay_settings::{Settings, SettingsError};
    ///
    /// let e = Settings::check_vars([("WXPAY_BASE_ULR", "http://127.0.0.1:8080")]).unwrap_err();
    /// assert!(matches!(e, SettingsError::UnknownVariable { suggestion: Some(s), .. } if s == "WXPAY_BASE_URL"));
    /// assert!(Settings::check_vars([("WXPAY_BASE_URL", "")]).is_err());
    /// assert!(Settings::check_vars([("WXPAY_SANDBOX_V2_SP_MCH_ID", "1900000109"), ("PATH", "")]).is_ok());
    /// ```
    ///
    /// # Errors
    /// [`SettingsError::UnknownVariable`] or [`SettingsError::EmptyVariable`], for the first
    /// such variable.
    pub fn check_vars<I, K, V>(vars: I) -> Result<(), SettingsError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (name, value) in vars {
            let name = name.as_ref().to_string_lossy();
            let upper = name.to_ascii_uppercase();
            if !upper.starts_with("WXPAY_")
                || upper.starts_with("WXPAY_SANDBOX_")
                || upper == "WXPAY_BIN"
            {
                continue;
            }
            let known = || Settings::KEYS.iter().map(|k| Settings::env_var(k));
            // A setting's variable, as named (another case is never read, on Unix).
            if known().any(|k| k == name) {
                if value.as_ref().is_empty() {
                    return Err(SettingsError::EmptyVariable { variable: name.into_owned() });
                }
                continue;
            }
            // No setting's: a misspelling (or another case), named with what it most likely means.
            let suggestion = known()
                .map(|k| (distance(&k, &upper), k))
                .filter(|(d, _)| *d <= 2)
                .min_by_key(|(d, _)| *d)
                .map(|(_, k)| k);
            return Err(SettingsError::UnknownVariable { variable: name.into_owned(), suggestion });
        }
        Ok(())
    }

    /// The settings of `vars` as environment variables, as the command reads its own: each
    /// setting from `WXPAY_` and its key in upper case ([`env_var`](Self::env_var)); then, if
    /// `WXPAY_CONFIG` names a file, that file fills only whole groups the variables leave
    /// unset ([`resolve`](Self::resolve)). Variables are first checked by
    /// [`check_vars`](Self::check_vars): a misspelt or empty one is refused.
    ///
    /// ```
    /// use wxpay_settings::{Settings, Source};
    ///
    /// let settings = Settings::from_vars([("WXPAY_MCH_ID", "10000100"), ("HOME", "/root")])?;
    /// assert_eq!(settings.mch_id.as_deref(), Some("10000100"));
    /// assert_eq!(settings.origin.of("mch_id"), Some(Source::Env));
    /// # Ok::<(), wxpay_settings::SettingsError>(())
    /// ```
    ///
    /// # Errors
    /// [`SettingsError::NotUnicode`] for a text setting's variable that is not UTF-8 (paths
    /// may be any bytes), and the errors of [`from_file`](Self::from_file) for the file
    /// `WXPAY_CONFIG` names.
    pub fn from_vars<I, K, V>(vars: I) -> Result<Settings, SettingsError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: Into<OsString>,
    {
        let vars: Vec<(OsString, OsString)> =
            vars.into_iter().map(|(k, v)| (k.as_ref().to_owned(), v.into())).collect();
        Settings::check_vars(vars.iter().map(|(k, v)| (k, v)))?;
        let mut settings = Settings::default();
        let mut origin = Origin::default();
        for (name, value) in vars {
            let Some(name) = name.to_str() else { continue };
            let Some(upper) = name.strip_prefix("WXPAY_") else { continue };
            let value: OsString = value;
            let Some((key, slot)) = settings
                .slots()
                .into_iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(upper) && Settings::env_var(key) == name)
            else {
                continue;
            };
            match slot {
                Slot::Text(v) => {
                    let text = value
                        .into_string()
                        .map_err(|_| SettingsError::NotUnicode { variable: name.to_owned() })?;
                    *v = Some(text);
                }
                Slot::Path(v) => *v = Some(PathBuf::from(value)),
            }
            origin.set(key, Source::Env);
        }
        settings.origin = origin;
        settings.resolve()
    }

    /// The settings of a TOML file, by their keys (`mch_id = "10000100"`, every value a
    /// string); the files it names, when relative, are relative to the file's directory.
    /// `config` is not a key of the file.
    ///
    /// # Errors
    /// [`SettingsError::Read`], [`SettingsError::NotText`], or [`SettingsError::Toml`] for a
    /// file that is not TOML, holds a key that is not a setting or a value that is not a
    /// string.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Settings, SettingsError> {
        let path = path.as_ref();
        let bytes = files::read(path, "config file")?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| SettingsError::NotText { what: "config file", path: path.to_owned() })?;
        let mut settings: Settings = toml::from_str(text).map_err(|e| SettingsError::Toml {
            path: path.to_owned(),
            line: e.span().map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1),
            message: e.message().to_owned(),
        })?;
        let dir = path.parent().unwrap_or(Path::new(".")).to_owned();
        let mut origin = Origin::default();
        for (key, slot) in settings.slots() {
            match slot {
                // Joined to the file's directory, an empty path would name the directory.
                Slot::Path(Some(file)) if file.as_os_str().is_empty() => {
                    return Err(SettingsError::EmptyPath { file: path.to_owned(), key });
                }
                Slot::Path(Some(file)) => {
                    *file = dir.join(&*file);
                    origin.set(key, Source::File);
                }
                slot if slot.is_set() => origin.set(key, Source::File),
                _ => {}
            }
        }
        settings.origin = origin;
        Ok(settings)
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        f.debug_struct("Settings")
            .field("config", &path(&self.config))
            .field("base_url", &self.base_url)
            .field("backup_url", &self.backup_url)
            .field("endpoint", &self.endpoint)
            .field("appid", &self.appid)
            .field("mch_id", &self.mch_id)
            .field("api_v2_key_file", &path(&self.api_v2_key_file))
            .field("sign_type", &self.sign_type)
            .field("mchid", &self.mchid)
            .field("serial_no", &self.serial_no)
            .field("private_key_file", &path(&self.private_key_file))
            .field("public_key_id", &self.public_key_id)
            .field("public_key_file", &path(&self.public_key_file))
            .field("platform_cert_file", &path(&self.platform_cert_file))
            .field("platform_cert_dir", &path(&self.platform_cert_dir))
            .field("api_v3_key_file", &path(&self.api_v3_key_file))
            // A proxy URL may carry a password.
            .field("proxy", &self.proxy.as_ref().map(|_| "[redacted]"))
            .field("tls_roots_file", &path(&self.tls_roots_file))
            .field("origin", &self.origin)
            .finish()
    }
}

/// How many single-character edits make `a` into `b` (a misspelling is one or two).
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != cb)).min(row[j] + 1).min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspellings_are_one_or_two_edits() {
        assert_eq!(distance("WXPAY_BASE_ULR", "WXPAY_BASE_URL"), 2);
        assert_eq!(distance("WXPAY_MCHI", "WXPAY_MCHID"), 1);
        assert_eq!(distance("WXPAY_MCHI", "WXPAY_MCH_ID"), 2);
        assert!(distance("WXPAY_PROXY", "WXPAY_APPID") > 2);
    }

    #[test]
    fn keys_are_the_slots_in_order() {
        let mut settings = Settings::default();
        let keys: Vec<&str> = settings.slots().iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, Settings::KEYS);
        assert_eq!(Settings::env_var("mch_id"), "WXPAY_MCH_ID");
    }
}
