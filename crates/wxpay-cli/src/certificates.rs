//! `wxpay certificates`: download WeChat Pay's platform certificates, verify them, and write
//! one PEM file per serial.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wxpay_core::v3::{DownloadCertificates, PlatformCertificate};
use wxpay_core::{CertificateRefresh, CloseOrder, CloseOutcome, Error, ErrorKind, VerifyError};

use crate::settings::{KeptCertificates, Purpose, Settings};
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

/// Why a certificate download failed, without the order-effect wording of a close's error
/// (no order is involved): the kind of the last attempt, its causes, and the attempts.
fn download_failure(e: &Error) -> String {
    let mut text = crate::close::report(e.kind());
    if e.attempts() > 1 {
        text.push_str(&format!(" (after {} attempts)", e.attempts()));
    }
    if let Some(id) = e.request_id() {
        text.push_str(&format!(" [Request-ID {id}]"));
    }
    format!("the certificate list could not be downloaded or verified: {text}")
}

pub(crate) fn run(args: CertificatesArgs) -> Result<u8, Failure> {
    let settings = args.settings.resolve()?;
    if settings.api_v3_key_file.is_none() {
        return Err(Failure::usage(
            "downloading platform certificates needs the APIv3 key: --api-v3-key-file (WXPAY_API_V3_KEY_FILE, or `api_v3_key_file` in --config)",
        ));
    }
    settings.require("v3")?;
    // The list is downloaded here, once: the configuration refreshes nothing by itself.
    let built = settings.builder(Purpose::Certificates)?;
    let config = built.builder.build().map_err(|e| Failure::usage(e.to_string()))?;
    if let Some(text) = crate::settings::not_wechat_pay(&config) {
        note!("wxpay: note: {text}");
    }
    let client = wxpay_async::Client::new(config).map_err(|e| Failure::usage(e.to_string()))?;
    let op = if args.global { DownloadCertificates::global() } else { DownloadCertificates::new() };
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
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Failure::usage(format!("cannot make {}: {e}", args.out.display())))?;
    for certificate in &certificates {
        let path = write_atomically(&args.out, certificate)
            .map_err(|e| Failure::error(format!("cannot write {}: {e}", args.out.display())))?;
        let (from, until) = certificate.validity();
        say!("{}  valid {} to {}  {}", certificate.serial(), utc(from), utc(until), path.display());
    }
    Ok(exit::CLOSED)
}

/// Keeps a certificate-mode store current for the command's closes, as the clients'
/// refresh would, but knowing what a process that lives for one close cannot: when the
/// certificates were last downloaded, from the directory's file times. The list is
/// downloaded before a close only when the directory's newest certificate file (or the
/// certificate file given) is older than the refresh interval (6 hours; always, with
/// neither), again when a long run passes
/// the interval, and once per interval after an answer names a serial the store does not
/// hold; what is downloaded is written back to the directory (atomically).
#[derive(Debug)]
pub(crate) struct Keeper {
    kept: KeptCertificates,
    interval: Duration,
    state: tokio::sync::Mutex<KeeperState>,
}

#[derive(Debug, Default)]
struct KeeperState {
    /// When this process last downloaded the list.
    last: Option<Instant>,
    /// When it last did so for an unknown serial.
    forced: Option<Instant>,
}

impl Keeper {
    pub(crate) fn new(kept: KeptCertificates) -> Self {
        Keeper {
            kept,
            interval: CertificateRefresh::default().interval,
            state: tokio::sync::Mutex::default(),
        }
    }

    /// Whether the certificate directory, or the certificate file, was written within the
    /// interval.
    fn fresh_on_disk(&self) -> bool {
        let in_dir = self.kept.dir.iter().filter_map(|dir| std::fs::read_dir(dir).ok()).flat_map(
            |entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "pem"))
            },
        );
        in_dir
            .chain(self.kept.file.iter().cloned())
            .filter_map(|p| std::fs::metadata(p).ok()?.modified().ok())
            .filter_map(|t| t.elapsed().ok())
            .any(|age| age < self.interval)
    }

    /// Downloads the list, adds it to the store and writes it to the directory; a failure
    /// is said and keeps the certificates held.
    async fn download(&self, client: &wxpay_async::Client, why: &str) {
        let op = if self.kept.global {
            DownloadCertificates::global()
        } else {
            DownloadCertificates::new()
        };
        match client.execute(&op).await {
            Ok(certificates) => {
                if let Some(dir) = &self.kept.dir {
                    for certificate in &certificates {
                        if let Err(e) = write_atomically(dir, certificate) {
                            note!("wxpay: cannot write {}: {e}", dir.display());
                        }
                    }
                }
                let added = self.kept.store.update(certificates, wxpay_core::unix_now());
                tracing::info!(why, added, "platform certificates refreshed");
            }
            Err(e) => note!(
                "wxpay: {}; going on with the certificates held ({why})",
                crate::escape::line(&download_failure(&e))
            ),
        }
    }

    /// Before a close: downloads the list when the certificates held are older than the
    /// interval.
    async fn before_close(&self, client: &wxpay_async::Client) {
        let mut state = self.state.lock().await;
        let due = match state.last {
            Some(last) => last.elapsed() >= self.interval,
            None => !self.fresh_on_disk(),
        };
        if due {
            state.last = Some(Instant::now());
            self.download(client, "the certificates held are older than the refresh interval")
                .await;
        }
    }

    /// After an answer signed under `serial`, which the store did not hold: downloads the
    /// list, at most once per interval (a forged serial cannot start a storm of downloads).
    /// Whether the store holds `serial` now.
    async fn learn(&self, client: &wxpay_async::Client, serial: &str) -> bool {
        let mut state = self.state.lock().await;
        if self.kept.store.knows(serial) {
            // Another close's download brought it.
            return true;
        }
        if state.forced.is_some_and(|t| t.elapsed() < self.interval) {
            return false;
        }
        state.forced = Some(Instant::now());
        state.last = state.forced;
        self.download(client, "an answer named an unknown serial").await;
        self.kept.store.knows(serial)
    }
}

/// What the command closes with: the client, and in certificate mode with the APIv3 key, the
/// [`Keeper`] of its certificates. Clones share both.
#[derive(Debug, Clone)]
pub(crate) struct Closer {
    pub(crate) client: wxpay_async::Client,
    pub(crate) keeper: Option<Arc<Keeper>>,
}

impl Closer {
    /// Closes `order`; in certificate mode, refreshes first when due, and closes once more
    /// after an answer under an unknown serial once the list names it (closing is
    /// idempotent). Of two failed closes, the error whose effect is worse is returned: an
    /// answer that could not be believed may have closed the order.
    pub(crate) async fn close(&self, order: CloseOrder) -> Result<CloseOutcome, Error> {
        let Some(keeper) = &self.keeper else { return self.client.close(order).await };
        keeper.before_close(&self.client).await;
        let first = match self.client.close(order.clone()).await {
            Err(e) => e,
            done => return done,
        };
        let ErrorKind::Verify(VerifyError::UnknownSerial(serial)) = first.kind() else {
            return Err(first);
        };
        if !keeper.learn(&self.client, serial).await {
            return Err(first);
        }
        match self.client.close(order).await {
            Err(again) if again.order_effect() < first.order_effect() => Err(first),
            result => result,
        }
    }
}
