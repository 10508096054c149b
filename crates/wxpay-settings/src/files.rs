//! Credentials from key files by path: each function reads one file and names it in its
//! error, never the key's content. Key buffers are wiped once the key is made.

use std::path::{Path, PathBuf};
use std::time::Instant;

use wxpay_core::v3::{PlatformCertificate, PublicKeyVerifier, RsaSigner};
use wxpay_core::{ApiV2Key, ApiV3Key};
use zeroize::Zeroizing;

use crate::SettingsError;
use crate::error::key_error;

/// A file's bytes, wiped when dropped.
pub(crate) fn read(path: &Path, what: &'static str) -> Result<Zeroizing<Vec<u8>>, SettingsError> {
    std::fs::read(path).map(Zeroizing::new).map_err(|error| SettingsError::Read {
        what,
        path: path.to_owned(),
        error,
    })
}

/// A file's text, wiped when dropped.
fn read_text(path: &Path, what: &'static str) -> Result<Zeroizing<String>, SettingsError> {
    let mut bytes = read(path, what)?;
    let text = String::from_utf8(std::mem::take(&mut *bytes))
        .map_err(|_| SettingsError::NotText { what, path: path.to_owned() })?;
    Ok(Zeroizing::new(text))
}

/// The API v2 key from a file: 32 characters, blanks around them (a final newline) ignored.
///
/// # Errors
/// [`SettingsError::Read`], [`SettingsError::NotText`], [`SettingsError::KeyLength`] or
/// [`SettingsError::KeyCharacter`], each naming the file.
pub fn api_v2_key(path: impl AsRef<Path>) -> Result<ApiV2Key, SettingsError> {
    let path = path.as_ref();
    let text = read_text(path, "API v2 key file")?;
    ApiV2Key::new(text.trim()).map_err(|e| key_error("API v2 key", path, e))
}

/// The APIv3 key from a file: 32 characters, blanks around them (a final newline) ignored.
///
/// # Errors
/// [`SettingsError::Read`], [`SettingsError::KeyLength`] or [`SettingsError::KeyCharacter`]
/// (bytes that are not UTF-8 included), each naming the file.
pub fn api_v3_key(path: impl AsRef<Path>) -> Result<ApiV3Key, SettingsError> {
    let path = path.as_ref();
    let bytes = read(path, "APIv3 key file")?;
    ApiV3Key::new(bytes.trim_ascii()).map_err(|e| key_error("APIv3 key", path, e))
}

/// The merchant's API private key (`apiclient_key.pem`: PKCS#8, or PKCS#1) as a signer.
///
/// # Errors
/// [`SettingsError::Read`], or [`SettingsError::Pem`] naming the file.
pub fn private_key(path: impl AsRef<Path>) -> Result<RsaSigner, SettingsError> {
    let path = path.as_ref();
    RsaSigner::from_pem(read(path, "private key")?.as_slice())
        .map_err(|error| SettingsError::Pem { path: path.to_owned(), error })
}

/// The WeChat Pay public key (PEM) as a verifier of answers signed under `id`
/// (`PUB_KEY_ID_…`).
///
/// # Errors
/// [`SettingsError::Read`], or [`SettingsError::Pem`] naming the file.
pub fn public_key(
    id: impl Into<String>,
    path: impl AsRef<Path>,
) -> Result<PublicKeyVerifier, SettingsError> {
    let path = path.as_ref();
    PublicKeyVerifier::from_pem(id, read(path, "public key")?.as_slice())
        .map_err(|error| SettingsError::Pem { path: path.to_owned(), error })
}

/// A WeChat Pay platform certificate (PEM).
///
/// # Errors
/// [`SettingsError::Read`], [`SettingsError::NotText`], or [`SettingsError::Pem`], naming the
/// file.
pub fn platform_certificate(path: impl AsRef<Path>) -> Result<PlatformCertificate, SettingsError> {
    let path = path.as_ref();
    let pem = read_text(path, "platform certificate file")?;
    PlatformCertificate::from_pem(pem.as_str())
        .map_err(|error| SettingsError::Pem { path: path.to_owned(), error })
}

/// Every platform certificate in a directory, one `*.pem` file each (as `wxpay certificates`
/// writes them); other files are left alone. An empty directory is fine: certificate mode
/// with the APIv3 key downloads the list.
///
/// # Errors
/// [`SettingsError::Read`] for the directory, or any error of [`platform_certificate`] for a
/// `*.pem` file in it.
pub fn certificate_dir(dir: impl AsRef<Path>) -> Result<Vec<PlatformCertificate>, SettingsError> {
    let dir = dir.as_ref();
    let cannot = |error| SettingsError::Read {
        what: "platform certificate directory",
        path: dir.to_owned(),
        error,
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(cannot)? {
        let path = entry.map_err(cannot)?.path();
        if path.extension().is_some_and(|e| e == "pem") {
            paths.push(path);
        }
    }
    // In name order: the same directory loads the same way on every system.
    paths.sort();
    paths.iter().map(platform_certificate).collect()
}

/// The file in a platform certificate directory that names whose certificates it holds:
/// the APIv3 merchant and where its calls go ([`certificate_owner`]). Written with the first
/// certificates (`wxpay certificates`, or a close that refreshed them), and checked before
/// the directory is read or written: one merchant's (or the sandbox's) certificates are never
/// trusted for, or mixed into, another's.
pub const OWNER_FILE: &str = ".wxpay-owner";

/// Whose platform certificates: APIv3 merchant `mchid`, its calls going to `destination`
/// ([`Settings::destination`](crate::Settings::destination)), as [`OWNER_FILE`] holds it.
///
/// The destination is compared as WeChat Pay's endpoints are named: a base URL of WeChat
/// Pay's own hosts is its endpoint (`https://api.mch.weixin.qq.com` is `mainland`), and a
/// URL's scheme and host are lower-cased, its default port and trailing `/` dropped.
#[must_use]
pub fn certificate_owner(mchid: &str, destination: &str) -> String {
    format!("mchid {mchid}\ndestination {}\n", normal_destination(destination))
}

/// `destination` as [`certificate_owner`] compares it.
fn normal_destination(destination: &str) -> String {
    let Some((scheme, rest)) = destination.split_once("://") else {
        return destination.to_owned();
    };
    let scheme = scheme.to_ascii_lowercase();
    let rest = rest.trim_end_matches('/');
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let mut authority = authority.to_ascii_lowercase();
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    if let Some(host) = authority.strip_suffix(default_port) {
        authority = host.to_owned();
    }
    let url = if path.is_empty() {
        format!("{scheme}://{authority}")
    } else {
        format!("{scheme}://{authority}/{path}")
    };
    let own = |base: &str| base.trim_end_matches('/').eq_ignore_ascii_case(&url);
    if own(wxpay_core::BaseUrl::PRIMARY) || own(wxpay_core::BaseUrl::BACKUP) {
        "mainland".to_owned()
    } else if own(wxpay_core::BaseUrl::HONG_KONG) {
        "hongkong".to_owned()
    } else {
        url
    }
}

/// Checks that certificate directory `dir` holds `owner`'s certificates, before they are
/// trusted: its [`OWNER_FILE`] names `owner`, or it has none and holds no `*.pem` yet (an
/// unclaimed directory with certificates could hold anyone's: `wxpay certificates --out DIR`
/// checks them against WeChat Pay's list and claims it, or [`claim_dir`] does).
///
/// # Errors
/// [`SettingsError::CertificatesOfAnother`] when it names another,
/// [`SettingsError::UnclaimedCertificates`] when it names none but holds certificates,
/// [`SettingsError::Read`] when it cannot be read.
pub fn check_owner(dir: impl AsRef<Path>, owner: &str) -> Result<(), SettingsError> {
    let dir = dir.as_ref();
    if owned_by(dir, owner)? || !holds_pem(dir) {
        Ok(())
    } else {
        Err(SettingsError::UnclaimedCertificates { dir: dir.to_owned() })
    }
}

/// Whether `dir`'s owner file names `owner` (`false`: it has none).
fn owned_by(dir: &Path, owner: &str) -> Result<bool, SettingsError> {
    let path = dir.join(OWNER_FILE);
    match std::fs::read(&path) {
        Ok(held) if held == owner.as_bytes() => Ok(true),
        Ok(held) => Err(SettingsError::CertificatesOfAnother {
            dir: dir.to_owned(),
            held: String::from_utf8_lossy(&held).trim().replace('\n', ", "),
            wanted: owner.trim().replace('\n', ", "),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => {
            Err(SettingsError::Read { what: "certificate directory owner file", path, error })
        }
    }
}

fn holds_pem(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|e| e.path().extension().is_some_and(|x| x == "pem"))
    })
}

/// Marks certificate directory `dir` as `owner`'s ([`OWNER_FILE`]): one that names another
/// is refused; an unclaimed one is claimed (call it only for certificates just checked
/// against WeChat Pay's list, as `wxpay certificates` does, or that you vouch for).
///
/// # Errors
/// [`SettingsError::CertificatesOfAnother`], or the error reading or writing the file.
pub fn claim_dir(dir: impl AsRef<Path>, owner: &str) -> Result<(), SettingsError> {
    owned_by(dir.as_ref(), owner)?;
    let path = dir.as_ref().join(OWNER_FILE);
    if !path.exists() {
        std::fs::write(&path, owner).map_err(|error| SettingsError::Read {
            what: "certificate directory owner file",
            path,
            error,
        })?;
    }
    Ok(())
}

/// When the certificate files (`dir`'s `*.pem`, and `file`) were last written, as an instant
/// of this process (the newest of them), if any exists: a refresh counts its interval from
/// there (certificates written by `wxpay certificates` an hour ago are not downloaded again).
#[must_use]
pub fn written_at(dir: Option<&Path>, file: Option<&Path>) -> Option<Instant> {
    let in_dir = dir.iter().filter_map(|dir| std::fs::read_dir(dir).ok()).flat_map(|entries| {
        entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "pem"))
    });
    let age = in_dir
        .chain(file.map(Path::to_owned))
        .filter_map(|p| std::fs::metadata(p).ok()?.modified().ok())
        .map(|t| t.elapsed().unwrap_or_default())
        .min()?;
    Instant::now().checked_sub(age)
}
