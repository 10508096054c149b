//! Keeping platform certificates current: when the clients refresh a
//! [`PlatformCertificates`] store, and the one entry point both clients call.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::ClientConfig;
use crate::error::{Error, ErrorKind, VerifyError};
use crate::operation::Operation;
use crate::retry::{Call, Transport, complete_now};
use crate::v3::{DownloadCertificates, PlatformCertificates};

/// The longest refresh interval: WeChat Pay lists a new certificate about 24 hours before it
/// signs with it, and asks merchants to fetch at intervals under 12 hours.
pub const MAX_REFRESH_INTERVAL: Duration = Duration::from_secs(12 * 3600);

/// When the clients refresh a [`PlatformCertificates`] store: every `interval` (6 hours by
/// default, under 12) counted from the last refresh that succeeded; after a failed one,
/// again after `retry_after` (a minute by default), doubling with each failure up to the
/// interval. An answer that names a serial the store does not hold forces a refresh (always
/// while the store is empty); then again only after `retry_after`, doubling while the lists
/// it brings do not hold the serial, so a forger cannot force more than a handful of
/// downloads an hour. A failed refresh keeps the current set.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertificateRefresh {
    /// How often the list is downloaded.
    pub interval: Duration,
    /// The first back-off after a failed refresh, and between forced ones.
    pub retry_after: Duration,
    /// `GET /v3/global/certificates` (cross-border merchants) instead of `/v3/certificates`.
    pub global: bool,
}

impl Default for CertificateRefresh {
    fn default() -> Self {
        CertificateRefresh {
            interval: Duration::from_secs(6 * 3600),
            retry_after: Duration::from_secs(60),
            global: false,
        }
    }
}

impl CertificateRefresh {
    /// Refreshes every `interval` (under 12 hours; checked when the configuration is built).
    #[must_use]
    pub fn every(interval: Duration) -> Self {
        CertificateRefresh { interval, ..CertificateRefresh::default() }
    }

    /// The first back-off after a failed refresh, and between forced refreshes (a minute by
    /// default; more than zero, checked when the configuration is built; never more than
    /// the interval).
    #[must_use]
    pub fn retry_after(mut self, backoff: Duration) -> Self {
        self.retry_after = backoff;
        self
    }

    /// Downloads the cross-border list.
    #[must_use]
    pub fn global(mut self) -> Self {
        self.global = true;
        self
    }
}

/// A store and when it was last refreshed, shared by a client's clones.
#[derive(Debug)]
pub(crate) struct Keeper {
    pub(crate) store: PlatformCertificates,
    pub(crate) refresh: CertificateRefresh,
    state: Mutex<KeeperState>,
}

#[derive(Debug, Default)]
struct KeeperState {
    /// When the last refresh succeeded.
    succeeded: Option<Instant>,
    /// After a failure: no periodic refresh before this, and the back-off after the next.
    failed: Option<(Instant, Duration)>,
    /// After a forced refresh: no other before this, and the back-off after the next.
    forced: Option<(Instant, Duration)>,
    /// A refresh is under way (others go on with the current set).
    running: bool,
}

impl Keeper {
    pub(crate) fn new(store: PlatformCertificates, refresh: CertificateRefresh) -> Self {
        Keeper { store, refresh, state: Mutex::new(KeeperState::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, KeeperState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Claims the periodic refresh when it is due.
    fn claim_periodic(&self, now: Instant) -> Claim {
        let mut s = self.lock();
        if s.running {
            return Claim::Running;
        }
        let interval_passed =
            s.succeeded.is_none_or(|t| now.saturating_duration_since(t) >= self.refresh.interval);
        let backed_off = s.failed.is_none_or(|(not_before, _)| now >= not_before);
        if interval_passed && backed_off {
            s.running = true;
            return Claim::Mine;
        }
        Claim::NotNow
    }

    /// Claims a refresh for an unknown serial: always while the store is empty, else once
    /// the forced back-off has passed.
    fn claim_forced(&self, now: Instant) -> Claim {
        let mut s = self.lock();
        if s.running {
            return Claim::Running;
        }
        let allowed =
            self.store.is_empty() || s.forced.is_none_or(|(not_before, _)| now >= not_before);
        if allowed {
            s.running = true;
            return Claim::Mine;
        }
        Claim::NotNow
    }

    /// Records how a refresh ended and releases the waiters (the store already holds what
    /// it brought). `forced_for` is the serial a forced refresh was looking for.
    fn finish(&self, now: Instant, succeeded: bool, forced_for: Option<&str>) {
        let first = self.refresh.retry_after.min(self.refresh.interval);
        let doubled = |(_, backoff): (Instant, Duration)| (backoff * 2).min(self.refresh.interval);
        let mut s = self.lock();
        if succeeded {
            s.succeeded = Some(now);
            s.failed = None;
        } else {
            let backoff = s.failed.map_or(first, doubled);
            s.failed = Some((now + backoff, backoff));
        }
        if let Some(serial) = forced_for {
            let backoff = if succeeded && self.store.knows(serial) {
                first
            } else {
                s.forced.map_or(first, doubled)
            };
            s.forced = Some((now + backoff, backoff));
        }
        s.running = false;
    }

    /// Waits (sleeping through the transport) for the refresh another call is making, up to
    /// the retry deadline.
    async fn wait_for_refresh<T: Transport>(&self, config: &ClientConfig, io: &T) {
        let started = io.instant_now();
        while self.lock().running
            && io.instant_now().saturating_duration_since(started) < config.retry().deadline
        {
            io.sleep(Duration::from_millis(20)).await;
        }
    }

    /// Downloads the list and updates the store; a failure is logged and changes nothing.
    /// `forced_for` is the unknown serial that forced it, if any.
    async fn refresh<T: Transport>(&self, config: &ClientConfig, io: &T, forced_for: Option<&str>) {
        /// Marks the refresh finished (as failed) should the future be dropped half-way.
        struct Finish<'a> {
            keeper: &'a Keeper,
            started: Instant,
            done: bool,
        }
        impl Drop for Finish<'_> {
            fn drop(&mut self) {
                if !self.done {
                    self.keeper.finish(self.started, false, None);
                }
            }
        }
        let mut finish = Finish { keeper: self, started: io.instant_now(), done: false };
        let op = if self.refresh.global {
            DownloadCertificates::global()
        } else {
            DownloadCertificates::new()
        };
        let call = Call::new(&op, config.context(), config.endpoint(), config.retry());
        let result = call.run(io).await;
        let why = forced_for.map_or("periodic", |_| "an answer named an unknown serial");
        let succeeded = match result {
            Ok(certificates) => {
                let added = self.store.update(certificates, io.unix_now());
                let serials: Vec<String> =
                    self.store.certificates().iter().map(|c| c.serial().to_owned()).collect();
                tracing::info!(why, added, ?serials, "platform certificates refreshed");
                true
            }
            Err(error) => {
                tracing::warn!(why, %error, "platform certificate refresh failed; keeping the current set");
                false
            }
        };
        // Released only now: whoever waited finds the store updated.
        finish.done = true;
        self.finish(io.instant_now(), succeeded, forced_for);
    }
}

/// Whether this call may refresh, another call is refreshing, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    Mine,
    Running,
    NotNow,
}

/// The serial of an answer signed under a key not held.
fn unknown_serial(error: &Error) -> Option<&str> {
    match error.kind() {
        ErrorKind::Verify(VerifyError::UnknownSerial(serial)) => Some(serial),
        _ => None,
    }
}

/// Runs `op` as both clients do: its call loop, and, when the configuration keeps platform
/// certificates current ([`ClientConfigBuilder::refresh_certificates`](crate::ClientConfigBuilder::refresh_certificates)),
/// a refresh when one is due, and one after an answer signed under an unknown serial, after
/// which the call is made once more (closing is idempotent).
///
/// # Errors
/// The call's [`Error`].
pub async fn execute<O: Operation, T: Transport>(
    config: &ClientConfig,
    op: &O,
    io: &T,
) -> Result<O::Output, Error> {
    let call = || Call::new(op, config.context(), config.endpoint(), config.retry()).run(io);
    let Some(keeper) = config.keeper() else { return call().await };
    match keeper.claim_periodic(io.instant_now()) {
        Claim::Mine => keeper.refresh(config, io, None).await,
        // A store that knows nothing yet waits for its first list rather than fail.
        Claim::Running if keeper.store.certificates().is_empty() => {
            keeper.wait_for_refresh(config, io).await;
        }
        Claim::Running | Claim::NotNow => {}
    }
    let first = match call().await {
        Err(first) if unknown_serial(&first).is_some() => first,
        result => return result,
    };
    let serial = unknown_serial(&first).unwrap_or_default();
    match keeper.claim_forced(io.instant_now()) {
        Claim::Mine => keeper.refresh(config, io, Some(serial)).await,
        // Another call is refreshing: its list may hold the serial.
        Claim::Running => keeper.wait_for_refresh(config, io).await,
        Claim::NotNow => {}
    }
    // Called again only if the key it needs is now held.
    if !keeper.store.knows(serial) {
        return Err(first);
    }
    // The first answer could not be believed: what it may have done stays in the error if
    // this call fails too.
    call().await.map_err(|again| again.after(&first))
}

/// [`execute`] for a blocking transport, whose futures are always ready.
///
/// # Errors
/// As [`execute`].
pub fn execute_blocking<O: Operation, T: Transport>(
    config: &ClientConfig,
    op: &O,
    io: &T,
) -> Result<O::Output, Error> {
    complete_now(execute(config, op, io))
}
