//! Keeping platform certificates current: when a session refreshes a
//! [`PlatformCertificates`] store (the [`Call`](crate::Call) machine does the refreshing).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::v3::PlatformCertificates;

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
    /// When the store was last refreshed before the session began (certificates kept on disk
    /// by an earlier process, say): the interval counts from there. `None`: the session
    /// refreshes before its first call.
    pub refreshed_at: Option<Instant>,
}

impl Default for CertificateRefresh {
    fn default() -> Self {
        CertificateRefresh {
            interval: Duration::from_secs(6 * 3600),
            retry_after: Duration::from_secs(60),
            global: false,
            refreshed_at: None,
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

    /// Downloads the cross-border list (`GET /v3/global/certificates`, at the Hong Kong host
    /// unless the client has a base URL of its own): what a cross-border merchant's
    /// [`CloseGlobalOrder`](crate::v3::CloseGlobalOrder) and cross-border queries need. The
    /// session does not pick the list from the call: set it for such a merchant (`wxpay`
    /// does, for `--global` and `--endpoint hongkong`).
    #[must_use]
    pub fn global(mut self) -> Self {
        self.global = true;
        self
    }

    /// Says the store already holds a list refreshed at `at` (loaded from a directory an
    /// earlier process wrote then, say): the session's first periodic refresh comes an
    /// interval after `at`, not before its first call.
    #[must_use]
    pub fn refreshed_at(mut self, at: Instant) -> Self {
        self.refreshed_at = Some(at);
        self
    }
}

/// A store and when it was last refreshed: part of a [`Session`](crate::Session).
#[derive(Debug)]
pub(crate) struct Keeper {
    pub(crate) store: PlatformCertificates,
    pub(crate) refresh: CertificateRefresh,
    state: Mutex<KeeperState>,
    /// Notified when a refresh ends (calls waiting for the first list wake up).
    ended: event_listener::Event,
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
    /// Why the last refresh failed, until one succeeds.
    last_failure: Option<String>,
    /// The merchant was found to have no platform certificates (said once).
    no_certificates: bool,
}

impl Keeper {
    pub(crate) fn new(store: PlatformCertificates, refresh: CertificateRefresh) -> Self {
        let state = KeeperState { succeeded: refresh.refreshed_at, ..KeeperState::default() };
        Keeper { store, refresh, state: Mutex::new(state), ended: event_listener::Event::new() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, KeeperState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// When the last refresh succeeded (or the store was said to be refreshed, if none has
    /// since).
    pub(crate) fn refreshed(&self) -> Option<Instant> {
        self.lock().succeeded
    }

    /// Records why a refresh failed (shown in the errors of calls that could not verify).
    pub(crate) fn note_failure(&self, error: &crate::error::Error) {
        // What failed, not what it means for an order: a download changes none.
        self.lock().last_failure = Some(error.kind().to_string());
    }

    /// Records that the merchant has no platform certificates; whether this is news.
    pub(crate) fn note_no_certificates(&self) -> bool {
        let mut s = self.lock();
        s.last_failure = None;
        !std::mem::replace(&mut s.no_certificates, true)
    }

    /// Why the last refresh failed, if it did and none succeeded since.
    pub(crate) fn last_failure(&self) -> Option<String> {
        self.lock().last_failure.clone()
    }

    /// Whether a refresh is under way.
    pub(crate) fn is_running(&self) -> bool {
        self.lock().running
    }

    /// Fires when the refresh under way ends (take it before checking
    /// [`is_running`](Self::is_running), so that no end is missed).
    pub(crate) fn listen(&self) -> event_listener::EventListener {
        self.ended.listen()
    }

    /// Claims the periodic refresh when it is due.
    pub(crate) fn claim_periodic(&self, now: Instant) -> Claim {
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
    pub(crate) fn claim_forced(&self, now: Instant) -> Claim {
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

    /// Records how a refresh ended and wakes the waiters (the store already holds what it
    /// brought). `forced_for` is the serial a forced refresh was looking for.
    pub(crate) fn finish(&self, now: Instant, succeeded: bool, forced_for: Option<&str>) {
        let first = self.refresh.retry_after.min(self.refresh.interval);
        let doubled = |(_, backoff): (Instant, Duration)| (backoff * 2).min(self.refresh.interval);
        {
            let mut s = self.lock();
            if succeeded {
                s.succeeded = Some(now);
                s.failed = None;
                s.last_failure = None;
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
        self.ended.notify(usize::MAX);
    }
}

/// Whether this call may refresh, another call is refreshing, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    Mine,
    Running,
    NotNow,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_said_refreshed_waits_an_interval_from_then() {
        let now = Instant::now();
        let refresh = CertificateRefresh::every(Duration::from_secs(3600));
        let fresh = Keeper::new(
            PlatformCertificates::new(),
            refresh.clone().refreshed_at(now - Duration::from_secs(600)),
        );
        assert_eq!(fresh.claim_periodic(now), Claim::NotNow, "refreshed 10 minutes ago");
        assert_eq!(fresh.claim_periodic(now + Duration::from_secs(3000)), Claim::Mine);
        let never = Keeper::new(PlatformCertificates::new(), refresh);
        assert_eq!(never.refreshed(), None);
        assert_eq!(never.claim_periodic(now), Claim::Mine, "no refresh yet: at once");
        never.finish(now, true, None);
        assert_eq!(never.refreshed(), Some(now));
    }
}
