//! What can go wrong reading settings and key files: each error names the setting or the
//! file, never a key's content.

use std::path::PathBuf;

use wxpay_core::{InvalidInput, KeyError};

use crate::Api;

/// Why settings or a key file could not be read into credentials or a client configuration.
/// Nothing was sent. The text names the file or the setting (its flag, `WXPAY_*` variable and
/// config-file key), never a key's content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// A file could not be read (the OS error is part of the text).
    #[error("cannot read {what} {}: {error}", path.display())]
    Read {
        /// What the file holds, in words (`API v2 key file`, `config file`, …).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// A file that must be text is not UTF-8.
    #[error("{}: the {what} is not UTF-8 text", path.display())]
    NotText {
        /// What the file holds, in words.
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// A key file's key is not 32 characters long (its content is never shown).
    #[error("{}: the {which} must be 32 characters, got {len}", path.display())]
    KeyLength {
        /// `API v2 key` or `APIv3 key`.
        which: &'static str,
        /// The key file.
        path: PathBuf,
        /// The characters found (blanks around the key are not counted).
        len: usize,
    },
    /// A key file's key holds a character that is not printable ASCII (which one is never
    /// shown).
    #[error("{}: the {which} must be printable ASCII; character {position} is not", path.display())]
    KeyCharacter {
        /// `API v2 key` or `APIv3 key`.
        which: &'static str,
        /// The key file.
        path: PathBuf,
        /// The character's position, counting from 1.
        position: usize,
    },
    /// A PEM file (private key, public key, certificate) the core refused.
    #[error("{}: {error}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// Why it was refused.
        error: KeyError,
    },
    /// The config file is not TOML, or holds a key that is not a setting or a value that is
    /// not a string.
    #[error(
        "{}{}: {message} (the settings are the `wxpay` command's flags in snake case: mch_id, mchid, api_v2_key_file, …; every value a string)",
        path.display(),
        line.map(|l| format!(":{l}")).unwrap_or_default()
    )]
    Toml {
        /// The config file.
        path: PathBuf,
        /// The line the TOML reader points at, when it does.
        line: Option<usize>,
        /// The TOML reader's message.
        message: String,
    },
    /// A platform certificate directory holds another merchant's (or destination's)
    /// certificates ([`OWNER_FILE`](crate::OWNER_FILE)): trusting them would believe answers
    /// signed for another (the sandbox's keys are public).
    #[error(
        "{} holds the platform certificates of {held}, not of {wanted}: give this merchant a directory of its own",
        dir.display()
    )]
    CertificatesOfAnother {
        /// The directory.
        dir: PathBuf,
        /// Whose it holds, as its owner file says.
        held: String,
        /// Whose were wanted.
        wanted: String,
    },
    /// A setting's value is refused by the core (a base URL without `https://`, …): said
    /// with the setting's flag, variable and config key.
    #[error("{}: {error}", crate::client::describe(key))]
    Setting {
        /// The setting's config-file key.
        key: &'static str,
        /// Why.
        error: wxpay_core::InvalidInput,
    },
    /// A platform certificate directory holds certificates but names no owner
    /// ([`OWNER_FILE`](crate::OWNER_FILE)): whose they are is unknown, so none is trusted.
    #[error(
        "{} holds platform certificates but does not say whose (no {}): run `wxpay certificates --out {}` with this merchant's settings (it checks them against WeChat Pay's list and claims the directory)",
        dir.display(),
        crate::OWNER_FILE,
        dir.display()
    )]
    UnclaimedCertificates {
        /// The directory.
        dir: PathBuf,
    },
    /// A config file's path setting is empty (joined to the file's directory, it would name
    /// the directory itself).
    #[error("{}: `{key}` is empty", file.display())]
    EmptyPath {
        /// The config file.
        file: PathBuf,
        /// The setting.
        key: &'static str,
    },
    /// A `WXPAY_*` variable that names no setting (misspelt, most likely): refused, since the
    /// setting it was meant for would be left unset (a misspelt base URL sends to WeChat Pay
    /// itself).
    #[error(
        "{variable} is not a wxpay setting{}; unset it (the settings' variables are listed by `wxpay close --help`)",
        suggestion.as_ref().map(|s| format!(" (did you mean {s}?)")).unwrap_or_default()
    )]
    UnknownVariable {
        /// The variable's name.
        variable: String,
        /// The setting's variable it most likely means.
        suggestion: Option<String>,
    },
    /// A setting's `WXPAY_*` variable is set but empty: refused rather than read as unset (an
    /// empty `WXPAY_BASE_URL` would send to WeChat Pay itself).
    #[error("{variable} is set but empty: unset it (`unset {variable}`) or give it a value")]
    EmptyVariable {
        /// The variable's name.
        variable: String,
    },
    /// A `WXPAY_*` variable of a setting that is text holds bytes that are not UTF-8.
    #[error("{variable} is not UTF-8")]
    NotUnicode {
        /// The variable's name.
        variable: String,
    },
    /// A call of `api` needs settings that are not set.
    #[error(
        "{api} needs settings that are not set: {}{}{}",
        missing.join("; "),
        note.map(|n| format!(". Note: {n}")).unwrap_or_default(),
        if set_aside.is_empty() {
            String::new()
        } else {
            format!(
                ". The file WXPAY_CONFIG names gives {}, set aside: of each group these belong to (the destination; the APIv2 credentials; the APIv3 credentials), the flags or variables give part, and a group comes from one place, even where the values agree",
                set_aside.join(", ")
            )
        }
    )]
    Missing {
        /// The API generation.
        api: Api,
        /// Each missing setting (or choice of settings), as a user can give it: flag,
        /// variable and config-file key.
        missing: Vec<String>,
        /// The merchant-id mix-up (`mch_id` is APIv2's, `mchid` APIv3's), when it is one.
        note: Option<&'static str>,
        /// What a `WXPAY_CONFIG` file gave and was set aside ([`Origin::set_aside`](crate::Origin::set_aside)).
        set_aside: Vec<&'static str>,
    },
    /// A config file named by `WXPAY_CONFIG` and the flags or variables would put credentials
    /// meant for one destination with another's: refused, since a signed request goes
    /// wherever it is sent, and whoever runs that host could pass it on to WeChat Pay.
    #[error(
        "{} (named by WXPAY_CONFIG) {}: credentials meant for one destination never go to another; put the destination and the credentials in one place (the file, or the flags and variables)",
        file.display(),
        if *destination_in_file {
            format!("names where to send (base_url, backup_url or endpoint), and the flags or variables give {credentials} credentials, which name no destination of their own (WeChat Pay)")
        } else {
            format!("gives {credentials} credentials and names no destination (WeChat Pay), and the flags or variables send elsewhere (base_url, backup_url or endpoint)")
        }
    )]
    CrossedDestination {
        /// The config file.
        file: std::path::PathBuf,
        /// Whether the file names the destination (else the flags or variables do).
        destination_in_file: bool,
        /// Whose credentials would go with the other's destination.
        credentials: Api,
    },
    /// Neither API generation's credentials are set.
    #[error(
        "no credentials are set: APIv2 needs appid, mch_id and api_v2_key_file; APIv3 needs mchid, serial_no, private_key_file and public_key_id with public_key_file, or platform_cert_file, or api_v3_key_file (as --flags, WXPAY_* variables or keys of the config file)"
    )]
    NoCredentials,
    /// The sign type is neither `MD5` nor `HMAC-SHA256`.
    #[error("sign type {given:?}: use MD5 or HMAC-SHA256")]
    SignType {
        /// What was given.
        given: String,
    },
    /// The endpoint is neither `mainland` nor `hongkong`.
    #[error("--endpoint is mainland or hongkong, not {given:?}")]
    Endpoint {
        /// What was given.
        given: String,
    },
    /// A backup URL without a base URL.
    #[error(
        "--backup-url (WXPAY_BACKUP_URL) goes with --base-url: WeChat Pay's own hosts fail over by themselves"
    )]
    BackupWithoutBase,
    /// The core refused a value (a merchant id, a base URL, a proxy URL, TLS roots…).
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
}

/// A key refused by the core, said with the key's name and the file: `which` is
/// `API v2 key` or `APIv3 key` (the core's own text names the APIv2 key for both lengths, and
/// shows a bad character, which is part of the key).
pub(crate) fn key_error(
    which: &'static str,
    path: &std::path::Path,
    e: InvalidInput,
) -> SettingsError {
    let path = path.to_owned();
    match e {
        InvalidInput::ApiKeyLength { len } => SettingsError::KeyLength { which, path, len },
        InvalidInput::BadCharacter { position, .. } => {
            SettingsError::KeyCharacter { which, path, position: position + 1 }
        }
        // Not expected of a key (the core checks length and characters only); said without
        // the key's name rather than with a guess.
        other => SettingsError::Invalid(other),
    }
}
