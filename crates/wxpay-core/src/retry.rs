//! The retry policy and the call driver, shared by every transport.
//!
//! Close is idempotent, so a call that failed in a way that may pass next time is tried
//! again, signed afresh, after an exponential, jittered back-off, within a cap on attempts
//! and an overall deadline. A connection that could not be made moves the call to the
//! backup host at once. The decision is a pure function; the transports only sleep.

use std::time::Duration;

use crate::endpoint::{BaseUrl, Endpoint};
use crate::error::{Error, TransportErrorKind};
use crate::operation::{Attempt, Context, Operation, Prepared};
use crate::{Response, TransportError};

/// When and how often to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
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
        RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }
    }

    /// Whether an error is worth another attempt: transport failures (but an oversized
    /// body), server faults, 5xx and frequency limits. Never a verification failure, a
    /// decoding failure, bad input or a business answer.
    #[must_use]
    pub fn is_retryable(error: &Error) -> bool {
        match error {
            Error::Transport(t) => {
                !matches!(t.kind, TransportErrorKind::BodyTooLarge | TransportErrorKind::Tls)
            }
            Error::Api(api) => api.is_retryable(),
            _ => false,
        }
    }

    /// The back-off before retry number `retry` (1 for the first retry), with `jitter` in
    /// `[0, 1)` spreading it over its upper half ("equal jitter").
    #[must_use]
    pub fn backoff(&self, retry: u32, jitter: f64) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32 << retry.saturating_sub(1).min(20));
        let capped = exp.min(self.max_delay);
        capped.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

/// The random inputs of one attempt, made from 24 bytes of the transport's random source
/// (the core draws no randomness itself).
#[derive(Debug, Clone, PartialEq)]
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
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let mut nonce = String::with_capacity(32);
        for b in &bytes[..16] {
            nonce.push(char::from(HEX[usize::from(b >> 4)]));
            nonce.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        let mut j = [0u8; 8];
        j.copy_from_slice(&bytes[16..]);
        // 53 random bits as a fraction of 1.
        let jitter = (u64::from_le_bytes(j) >> 11) as f64 / (1u64 << 53) as f64;
        AttemptRandom { nonce, jitter }
    }

    /// Draws the 24 bytes from the transport's random source (the system's, as a rule).
    ///
    /// # Errors
    /// [`Error::Sign`] when the source fails: nothing is sent without a fresh nonce.
    pub fn draw(random: &dyn ring::rand::SecureRandom) -> Result<Self, Error> {
        let mut bytes = [0u8; 24];
        random.fill(&mut bytes).map_err(|_| crate::SignError::new("the random source failed"))?;
        Ok(AttemptRandom::from_bytes(bytes))
    }
}

/// What a transport does next.
#[derive(Debug)]
pub enum Step<T> {
    /// The call finished with an outcome.
    Done(T),
    /// The call failed for good.
    Fail(Error),
    /// Sleep this long, then [`Call::prepare`] the next attempt.
    Retry(Duration),
}

/// One call of an operation through its attempts: the sans-IO driver every transport runs.
///
/// ```text
/// loop {
///     let request = call.prepare(unix_now, &nonce)?.sign(ctx)?;   // or sign_async(ctx).await?
///     let result = send(request);                                   // the transport's one job
///     match call.step(result, unix_now, elapsed, jitter) {
///         Step::Done(v) => return Ok(v),
///         Step::Fail(e) => return Err(e),
///         Step::Retry(d) => sleep(d),
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Call<'a, O: Operation> {
    op: &'a O,
    ctx: &'a Context,
    policy: &'a RetryPolicy,
    base: BaseUrl,
    backup: Option<BaseUrl>,
    attempts: u32,
    /// Whether an attempt before the current one may have reached WeChat Pay.
    sent: bool,
}

impl<'a, O: Operation> Call<'a, O> {
    /// Starts a call of `op` against `endpoint`.
    pub fn new(op: &'a O, ctx: &'a Context, endpoint: &Endpoint, policy: &'a RetryPolicy) -> Self {
        let (base, backup) = (endpoint.primary(), endpoint.backup());
        Call { op, ctx, policy, base, backup, attempts: 0, sent: false }
    }

    /// The base URL the next attempt goes to.
    #[must_use]
    pub fn base_url(&self) -> &BaseUrl {
        &self.base
    }

    /// Attempts made so far.
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Builds the next attempt's request, with a fresh timestamp and nonce.
    ///
    /// # Errors
    /// As [`Operation::prepare`]: bad input fails the call before anything is sent.
    pub fn prepare(&mut self, timestamp: u64, nonce: &str) -> Result<Prepared, Error> {
        self.attempts += 1;
        self.op.prepare(self.ctx, &Attempt { base_url: &self.base, timestamp, nonce })
    }

    /// Reads an attempt's result and decides what comes next. `elapsed` is the time since
    /// the first attempt began; `jitter` a random number in `[0, 1)`.
    pub fn step(
        &mut self,
        result: Result<Response, TransportError>,
        now: u64,
        elapsed: Duration,
        jitter: f64,
    ) -> Step<O::Output> {
        let error = match result {
            Ok(response) => match self.op.parse(self.ctx, now, response) {
                Ok(output) => return Step::Done(output),
                Err(e) => e,
            },
            Err(t) => Error::Transport(t),
        };
        self.decide(error, elapsed, jitter)
    }

    /// The decision for a failed attempt.
    fn decide(&mut self, error: Error, elapsed: Duration, jitter: f64) -> Step<O::Output> {
        let host = self.base.host().to_owned();
        let request_id = error.api().and_then(|a| a.request_id.clone()).unwrap_or_default();
        if !RetryPolicy::is_retryable(&error) {
            return Step::Fail(self.wrap(error));
        }
        if self.attempts >= self.policy.max_attempts {
            tracing::warn!(host, attempt = self.attempts, reason = %error, request_id, "giving up: attempts exhausted");
            return Step::Fail(self.wrap(error));
        }
        let connect_failed =
            matches!(&error, Error::Transport(t) if t.kind == TransportErrorKind::Connect);
        let delay = match (connect_failed, self.backup.take()) {
            (true, Some(backup)) => {
                tracing::warn!(host, backup = backup.host(), attempt = self.attempts, reason = %error, "failing over to the backup host");
                self.base = backup;
                Duration::ZERO
            }
            (_, backup) => {
                self.backup = backup;
                self.policy.backoff(self.attempts, jitter)
            }
        };
        if elapsed.saturating_add(delay) > self.policy.deadline {
            tracing::warn!(host, attempt = self.attempts, reason = %error, request_id, "giving up: deadline reached");
            return Step::Fail(self.wrap(error));
        }
        tracing::info!(host, attempt = self.attempts, reason = %error, request_id, delay_ms = delay.as_millis() as u64, "retrying");
        self.sent |= error.was_sent();
        Step::Retry(delay)
    }

    /// After more than one attempt, the error says so, and whether any attempt may have
    /// been sent (then the order's state is unknown).
    fn wrap(&self, error: Error) -> Error {
        if self.attempts > 1 {
            let sent = self.sent || error.was_sent();
            Error::RetriesExhausted { attempts: self.attempts, sent, last: Box::new(error) }
        } else {
            error
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ApiV2Key;
    use crate::error::{ApiCode, ApiError, ApiVersion};
    use crate::v2::{CloseOrderV2, V2Credentials};

    fn ctx() -> Context {
        let key = ApiV2Key::new("192006250b4c09247ec02edce69f6a2d").unwrap();
        Context::new().with_v2(V2Credentials::new("wx1", "1", key).unwrap())
    }

    fn transport(kind: TransportErrorKind) -> Result<Response, TransportError> {
        Err(TransportError::new(kind, "h", None))
    }

    fn status(status: u16) -> Response {
        http::Response::builder().status(status).body(Vec::new()).unwrap()
    }

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
        let t = |k| Error::Transport(TransportError::new(k, "h", None));
        assert!(RetryPolicy::is_retryable(&t(TransportErrorKind::Connect)));
        assert!(RetryPolicy::is_retryable(&t(TransportErrorKind::Timeout)));
        assert!(RetryPolicy::is_retryable(&t(TransportErrorKind::Io)));
        assert!(!RetryPolicy::is_retryable(&t(TransportErrorKind::BodyTooLarge)));
        assert!(!RetryPolicy::is_retryable(&t(TransportErrorKind::Tls)));
        let a = |status, code| {
            Error::Api(ApiError {
                version: ApiVersion::V3,
                status,
                code,
                message: String::new(),
                detail: None,
                request_id: None,
                verified: true,
            })
        };
        assert!(RetryPolicy::is_retryable(&a(500, ApiCode::SystemError)));
        assert!(RetryPolicy::is_retryable(&a(200, ApiCode::SystemError)));
        assert!(RetryPolicy::is_retryable(&a(429, ApiCode::FrequencyLimited)));
        assert!(RetryPolicy::is_retryable(&a(502, ApiCode::HttpStatus)));
        assert!(!RetryPolicy::is_retryable(&a(400, ApiCode::ParamError)));
        assert!(!RetryPolicy::is_retryable(&a(401, ApiCode::SignError)));
        assert!(!RetryPolicy::is_retryable(&Error::Verify(crate::VerifyError::BadSignature)));
        assert!(!RetryPolicy::is_retryable(&Error::Communication { return_msg: String::new() }));
    }

    #[test]
    fn connect_failure_fails_over_at_once_then_backs_off() {
        let (ctx, op, policy) = (ctx(), CloseOrderV2::new("1"), RetryPolicy::default());
        let mut call = Call::new(&op, &ctx, &Endpoint::Mainland, &policy);
        assert_eq!(call.base_url().as_str(), BaseUrl::PRIMARY);
        call.prepare(0, "n").unwrap();
        match call.step(transport(TransportErrorKind::Connect), 0, Duration::ZERO, 0.5) {
            Step::Retry(d) => assert_eq!(d, Duration::ZERO),
            other => panic!("{other:?}"),
        }
        assert_eq!(call.base_url().as_str(), BaseUrl::BACKUP);
        call.prepare(0, "n").unwrap();
        match call.step(transport(TransportErrorKind::Connect), 0, Duration::ZERO, 1.0) {
            Step::Retry(d) => assert_eq!(d, Duration::from_millis(400)),
            other => panic!("{other:?}"),
        }
        assert_eq!(call.base_url().as_str(), BaseUrl::BACKUP, "stays on the backup");
        call.prepare(0, "n").unwrap();
        assert!(matches!(
            call.step(transport(TransportErrorKind::Timeout), 0, Duration::ZERO, 0.0),
            Step::Retry(_)
        ));
        call.prepare(0, "n").unwrap();
        match call.step(transport(TransportErrorKind::Timeout), 0, Duration::ZERO, 0.0) {
            Step::Fail(Error::RetriesExhausted { attempts: 4, sent: true, last }) => {
                assert!(matches!(*last, Error::Transport(_)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exhausted_says_whether_any_attempt_may_have_been_sent() {
        let (ctx, op, policy) = (ctx(), CloseOrderV2::new("1"), RetryPolicy::default());
        let run = |kinds: &[TransportErrorKind]| {
            let mut call = Call::new(&op, &ctx, &Endpoint::HongKong, &policy);
            let mut last = None;
            for kind in kinds {
                call.prepare(0, "n").unwrap();
                last = Some(call.step(transport(*kind), 0, Duration::ZERO, 0.0));
            }
            match last {
                Some(Step::Fail(e @ Error::RetriesExhausted { .. })) => e,
                other => panic!("{other:?}"),
            }
        };
        use TransportErrorKind::{Connect, Timeout};
        let unsent = run(&[Connect, Connect, Connect, Connect]);
        assert!(matches!(unsent, Error::RetriesExhausted { attempts: 4, sent: false, .. }));
        assert!(!unsent.was_sent());
        assert!(unsent.to_string().contains("none sent (the order is unchanged)"), "{unsent}");
        // A timeout in the middle may have reached WeChat Pay: unknown from then on.
        for kinds in [[Connect, Timeout, Connect, Connect], [Connect, Connect, Connect, Timeout]] {
            let e = run(&kinds);
            assert!(matches!(e, Error::RetriesExhausted { sent: true, .. }), "{kinds:?}");
            assert!(e.was_sent() && e.to_string().starts_with("order state unknown"), "{e}");
        }
    }

    #[test]
    fn tls_failure_ends_the_call_at_once_without_fail_over() {
        let (ctx, op, policy) = (ctx(), CloseOrderV2::new("1"), RetryPolicy::default());
        let mut call = Call::new(&op, &ctx, &Endpoint::Mainland, &policy);
        call.prepare(0, "n").unwrap();
        match call.step(transport(TransportErrorKind::Tls), 0, Duration::ZERO, 0.5) {
            Step::Fail(Error::Transport(t)) => assert_eq!(t.kind, TransportErrorKind::Tls),
            other => panic!("{other:?}"),
        }
        assert_eq!(call.base_url().as_str(), BaseUrl::PRIMARY, "no fail-over");
        assert_eq!(call.attempts(), 1);
    }

    #[test]
    fn deadline_and_non_retryable_errors_end_the_call() {
        let (ctx, op, policy) = (ctx(), CloseOrderV2::new("1"), RetryPolicy::default());
        let mut call = Call::new(&op, &ctx, &Endpoint::HongKong, &policy);
        call.prepare(0, "n").unwrap();
        let late = Duration::from_secs(29) + Duration::from_millis(950);
        match call.step(transport(TransportErrorKind::Io), 0, late, 1.0) {
            Step::Fail(Error::Transport(_)) => {}
            other => panic!("{other:?}"),
        }
        // A business answer that fails verification is never retried.
        let mut call = Call::new(&op, &ctx, &Endpoint::HongKong, &policy);
        call.prepare(0, "n").unwrap();
        let junk = http::Response::builder()
            .status(200)
            .body(b"<xml><return_code>SUCCESS</return_code></xml>".to_vec())
            .unwrap();
        assert!(matches!(
            call.step(Ok(junk), 0, Duration::ZERO, 0.0),
            Step::Fail(Error::Verify(_))
        ));
        // A 5xx is.
        let mut call = Call::new(&op, &ctx, &Endpoint::HongKong, &policy);
        call.prepare(0, "n").unwrap();
        assert!(matches!(call.step(Ok(status(503)), 0, Duration::ZERO, 0.0), Step::Retry(_)));
    }
}
