//! `wxpay certificates`: download WeChat Pay's platform certificates, verify them, and write
//! one PEM file per serial.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use wxpay_core::v3::{DownloadCertificates, PlatformCertificate};

use crate::settings::Settings;
use crate::{Failure, exit, runtime};

#[derive(clap::Args, Debug)]
pub(crate) struct CertificatesArgs {
    /// Where to write the certificates, `<SERIAL>.pem` each (written whole or not at all).
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    /// The cross-border list (`GET /v3/global/certificates`, at the Hong Kong host).
    #[arg(long)]
    global: bool,
    #[command(flatten)]
    pub(crate) settings: Settings,
}

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

pub(crate) fn run(args: CertificatesArgs) -> Result<u8, Failure> {
    let settings = args.settings.resolve()?;
    if settings.api_v3_key_file.is_none() {
        return Err(Failure::usage(
            "downloading platform certificates needs the APIv3 key: --api-v3-key-file (WXPAY_API_V3_KEY_FILE, or `api_v3_key_file` in --config)",
        ));
    }
    settings.require("v3")?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Failure::usage(format!("cannot make {}: {e}", args.out.display())))?;
    let config = settings.builder()?.build().map_err(|e| Failure::usage(e.to_string()))?;
    let client = wxpay_async::Client::new(config).map_err(|e| Failure::usage(e.to_string()))?;
    let op = if args.global { DownloadCertificates::global() } else { DownloadCertificates::new() };
    let certificates = match runtime()?.block_on(client.execute(&op)) {
        Ok(certificates) => certificates,
        Err(e) => {
            return Err(Failure {
                message: format!("the certificate list: {}", crate::close::report(&e)),
                code: if e.order_effect().is_unchanged() { exit::UNCHANGED } else { exit::ERROR },
            });
        }
    };
    for certificate in &certificates {
        let path = write_atomically(&args.out, certificate)
            .map_err(|e| Failure::error(format!("cannot write {}: {e}", args.out.display())))?;
        let (from, until) = certificate.validity();
        say!("{}  valid {} to {}  {}", certificate.serial(), utc(from), utc(until), path.display());
    }
    Ok(exit::CLOSED)
}
