//! The retry policy: when a failed attempt is tried again, and after how long.
//!
//! Close is idempotent, so a call that failed in a way that may pass next time is tried
//! again, signed afresh, after an exponential, jittered back-off, within a cap on attempts
//! and an overall deadline. A connection that could not be made moves the call to the
//! backup host at once. The decisions are pure functions; the [`Attempts`](crate::Attempts)
//! machine applies them.

use std::time::Duration;

use crate::error::{ErrorKind, TransportErrorKind};

/// When and how often to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 turns retries off).
    pub max_attempts: u32,
    /// The back-off before the first retry; it doubles with each retry.
    pub base_delay: Duration,
    /// The longest back-off.
    pub max_delay: Duration,
    /// No retry starts once this much time has passed since the first attempt.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            deadline: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    #[must_use]
    pub fn never() -> Self {
        RetryPolicy::default().with_max_attempts(1)
    }

    /// Attempts in all, the first included (at least 1).
    #[must_use]
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The back-off before the first retry, and the longest one.
    #[must_use]
    pub fn with_delays(mut self, base: Duration, max: Duration) -> Self {
        self.base_delay = base;
        self.max_delay = max;
        self
    }

    /// No retry starts once this much time has passed since the first attempt.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Whether an error is worth another attempt: transport failures (but an oversized
    /// body or a failed TLS handshake), server faults, 5xx and frequency limits. Never a
    /// verification failure, a decoding failure, bad input or a business answer.
    #[must_use]
    pub fn is_retryable(error: &ErrorKind) -> bool {
        match error {
            ErrorKind::Transport(t) => {
                !matches!(t.kind, TransportErrorKind::BodyTooLarge | TransportErrorKind::Tls)
            }
            ErrorKind::Api(api) => api.is_retryable(),
            _ => false,
        }
    }

    /// The back-off before retry number `retry` (1 for the first retry), with `jitter` in
    /// `[0, 1)` spreading it over its upper half ("equal jitter"). A jitter outside that
    /// range is clamped; one that is not a number counts as 0.
    #[must_use]
    pub fn backoff(&self, retry: u32, jitter: f64) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32 << retry.saturating_sub(1).min(20));
        let capped = exp.min(self.max_delay);
        let jitter = if jitter.is_nan() { 0.0 } else { jitter.clamp(0.0, 1.0) };
        capped.mul_f64(0.5 + 0.5 * jitter)
    }
}

/// The random inputs of one attempt, made from 24 bytes of the transport's random source
/// (the core draws no randomness itself).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AttemptRandom {
    /// A nonce: 32 upper-case hex characters.
    pub nonce: String,
    /// Back-off jitter in `[0, 1)`.
    pub jitter: f64,
}

impl AttemptRandom {
    /// Splits 24 random bytes into a 128-bit nonce and a jitter.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 24]) -> Self {
        let nonce = crate::hex::upper(&bytes[..16]);
        let mut j = [0u8; 8];
        j.copy_from_slice(&bytes[16..]);
        // 53 random bits as a fraction of 1.
        let jitter = (u64::from_le_bytes(j) >> 11) as f64 / (1u64 << 53) as f64;
        AttemptRandom { nonce, jitter }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TransportError;
    use crate::error::{ApiCode, ApiError, ApiVersion};

    #[test]
    fn attempt_random_makes_a_hex_nonce_and_a_unit_jitter() {
        let r = AttemptRandom::from_bytes([0xAB; 24]);
        assert_eq!(r.nonce, "AB".repeat(16));
        assert!((0.0..1.0).contains(&r.jitter));
        assert_eq!(AttemptRandom::from_bytes([0; 24]).jitter, 0.0);
        assert!(AttemptRandom::from_bytes([0xFF; 24]).jitter < 1.0);
    }

    #[test]
    fn backoff_doubles_caps_and_jitters() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(200));
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(100));
        assert_eq!(p.backoff(2, 1.0), Duration::from_millis(400));
        assert_eq!(p.backoff(3, 1.0), Duration::from_millis(800));
        assert_eq!(p.backoff(30, 1.0), Duration::from_secs(5));
        assert_eq!(p.backoff(30, 7.0), Duration::from_secs(5), "jitter is clamped");
    }

    #[test]
    fn what_is_retried() {
        let t = |k| ErrorKind::Transport(TransportError::new(k, "h", None));
        assert!(RetryPolicy::is_retryable(&t(TransportErrorKind::Connect)));
        assert!(RetryPolicy::is_retryable(&t(TransportErrorKind::Timeout)));
        assert!(RetryPolicy::is_retryable(&t(TransportErrorKind::Io)));
        assert!(!RetryPolicy::is_retryable(&t(TransportErrorKind::BodyTooLarge)));
        assert!(!RetryPolicy::is_retryable(&t(TransportErrorKind::Tls)));
        let a =
            |status, code| ErrorKind::Api(ApiError::new(ApiVersion::V3, status, code, "", true));
        assert!(RetryPolicy::is_retryable(&a(500, ApiCode::SystemError)));
        assert!(RetryPolicy::is_retryable(&a(200, ApiCode::SystemError)));
        assert!(RetryPolicy::is_retryable(&a(429, ApiCode::FrequencyLimited)));
        assert!(RetryPolicy::is_retryable(&a(502, ApiCode::HttpStatus)));
        assert!(!RetryPolicy::is_retryable(&a(400, ApiCode::ParamError)));
        assert!(!RetryPolicy::is_retryable(&a(401, ApiCode::SignError)));
        assert!(!RetryPolicy::is_retryable(&ErrorKind::Verify(crate::VerifyError::BadSignature)));
        let comm = ErrorKind::Communication { return_msg: String::new() };
        assert!(!RetryPolicy::is_retryable(&comm));
    }

    #[test]
    fn nan_and_infinite_jitter_do_not_panic() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1, f64::NAN), Duration::from_millis(100));
        assert_eq!(p.backoff(1, f64::INFINITY), Duration::from_millis(200));
        assert_eq!(p.backoff(1, f64::NEG_INFINITY), Duration::from_millis(100));
    }
}
