//! Platform certificates on disk: `wxpay certificates` downloads the list into a directory
//! that mirrors it, and a close in certificate mode loads a directory, lets the core's
//! refresh keep it current, and writes back what a refresh brought.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use wxpay_core::v3::{DownloadCertificates, PlatformCertificate, PlatformCertificates};
use wxpay_core::{ClientConfig, Error, Session};

use crate::{Failure, exit, runtime};

/// A Unix time as RFC 3339, UTC.
fn utc(unix: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(i64::try_from(unix).unwrap_or(i64::MAX))
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// Writes `certificate` to `dir/<SERIAL>.pem` through a temporary file in the same
/// directory, renamed into place: a reader never sees half a certificate.
fn write_atomically(dir: &Path, certificate: &PlatformCertificate) -> std::io::Result<PathBuf> {
    let path = dir.join(format!("{}.pem", certificate.serial()));
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(certificate.pem().as_bytes())?;
    file.as_file().sync_all()?;
    file.persist(&path).map_err(|e| e.error)?;
    Ok(path)
}

/// Why a certificate download failed, without the order-effect wording of a close's error
/// (no order is involved): the kind of the last attempt, its causes, and the attempts.
fn download_failure(e: &Error) -> String {
    let mut text = crate::report::report(e.kind());
    if e.attempts() > 1 {
        text.push_str(&format!(" (after {} attempts)", e.attempts()));
    }
    if let Some(id) = e.request_id() {
        text.push_str(&format!(" [Request-ID {id}]"));
    }
    format!("the certificate list could not be downloaded or verified: {text}")
}

/// Downloads the list with the client `config` describes (the cross-border one when
/// `global`), and makes `out` mirror it ([`mirror`]), printing serials and validity. A
/// failed download creates nothing.
pub(crate) fn download(
    config: ClientConfig,
    global: bool,
    out: &Path,
    owner: &str,
    destination_note: Option<String>,
) -> Result<u8, Failure> {
    // Another merchant's (or destination's) directory is refused before anything is asked;
    // an unclaimed one is claimed once the list is verified.
    if out.join(wxpay_settings::OWNER_FILE).exists() {
        wxpay_settings::check_owner(out, owner)?;
    }
    let client = wxpay_async::Client::new(config).map_err(|e| Failure::usage(e.to_string()))?;
    if let Some(text) = &destination_note {
        note!("{text}");
    }
    let op = if global { DownloadCertificates::global() } else { DownloadCertificates::new() };
    let certificates = match runtime()?.block_on(client.execute(&op)) {
        Ok(certificates) => certificates,
        Err(e) => {
            return Err(Failure {
                message: download_failure(&e),
                code: if e.order_effect().is_unchanged() { exit::UNCHANGED } else { exit::ERROR },
            });
        }
    };
    // Only now: a failed download creates nothing.
    std::fs::create_dir_all(out)
        .map_err(|e| Failure::usage(format!("cannot make {}: {e}", out.display())))?;
    let mirrored = mirror(out, &certificates, owner)?;
    for (certificate, path) in certificates.iter().zip(&mirrored.written) {
        let (from, until) = certificate.validity();
        say!("{}  valid {} to {}  {}", certificate.serial(), utc(from), utc(until), path.display());
    }
    for path in &mirrored.removed {
        say!("removed {} (no longer listed)", path.display());
    }
    Ok(exit::CLOSED)
}

/// What [`mirror`] did.
#[derive(Debug, Default)]
pub(crate) struct Mirrored {
    /// Each listed certificate's file, in the list's order.
    pub(crate) written: Vec<PathBuf>,
    /// The certificate files no longer listed, removed.
    pub(crate) removed: Vec<PathBuf>,
}

/// Makes `dir` hold exactly `listed`, a verified list: each certificate written to
/// `<SERIAL>.pem` atomically, then every other `<SERIAL>.pem` (a file named by its own
/// certificate's serial, as wxpay writes them) removed (a close trusts every certificate in
/// the directory: a retired one must go). Other files are left alone.
pub(crate) fn mirror(
    dir: &Path,
    listed: &[PlatformCertificate],
    owner: &str,
) -> Result<Mirrored, Failure> {
    // Only the owner's directory ([`wxpay_settings::OWNER_FILE`]), claimed if new.
    wxpay_settings::claim_dir(dir, owner)?;
    mirror_files(dir, listed)
        .map_err(|e| Failure::error(format!("cannot write {}: {e}", dir.display())))
}

fn mirror_files(dir: &Path, listed: &[PlatformCertificate]) -> std::io::Result<Mirrored> {
    let mut done = Mirrored::default();
    for certificate in listed {
        done.written.push(write_atomically(dir, certificate)?);
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "pem") || done.written.contains(&path) {
            continue;
        }
        let held = std::fs::read_to_string(&path)
            .ok()
            .and_then(|pem| PlatformCertificate::from_pem(pem).ok());
        let Some(held) = held else { continue };
        // Only a file of wxpay's own making (`<SERIAL>.pem`, named by the certificate's own
        // serial) is removed: the merchant's `apiclient_cert.pem`, or any certificate put
        // there under another name, is left alone.
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        if !stem.eq_ignore_ascii_case(held.serial()) {
            continue;
        }
        if !listed.iter().any(|c| c.serial().eq_ignore_ascii_case(held.serial())) {
            std::fs::remove_file(&path)?;
            done.removed.push(path);
        }
    }
    Ok(done)
}

/// Certificate mode with the APIv3 key: the store the close verifies with, which the core's
/// refresh keeps current, the directory it was loaded from, and when that was last refreshed
/// (the newest file's time, if younger than the interval): the session refreshes the list
/// only an interval after that.
#[derive(Debug, Clone)]
pub(crate) struct KeptCertificates {
    pub(crate) store: PlatformCertificates,
    pub(crate) dir: Option<PathBuf>,
    pub(crate) refreshed_at: Option<Instant>,
    /// Whose certificates: the directory is written only if it is theirs.
    pub(crate) owner: String,
}

impl KeptCertificates {
    /// The certificates the library loaded, kept for `owner` ([`wxpay_settings::certificate_owner`]).
    pub(crate) fn new(loaded: wxpay_settings::LoadedCertificates, owner: String) -> Self {
        let (store, dir, refreshed_at) = (loaded.store, loaded.dir, loaded.refreshed_at);
        KeptCertificates { store, dir, refreshed_at, owner }
    }

    /// After the closes: when the session refreshed the list, the directory is made to
    /// mirror it (its file times then say it is fresh); otherwise nothing is written, so the
    /// files' times keep saying when the list was last had.
    pub(crate) fn write_back(&self, session: &Session) {
        let Some(dir) = &self.dir else { return };
        if session.certificates_refreshed_at() == self.refreshed_at {
            return;
        }
        if let Err(e) = mirror(dir, &self.store.certificates(), &self.owner) {
            note!("wxpay: the certificates are not written back: {}", e.message);
        }
    }
}
