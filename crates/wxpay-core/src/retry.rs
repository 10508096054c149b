//! The retry policy and the one call loop, shared by every transport.
//!
//! Close is idempotent, so a call that failed in a way that may pass next time is tried
//! again, signed afresh, after an exponential, jittered back-off, within a cap on attempts
//! and an overall deadline. A connection that could not be made moves the call to the
//! backup host at once. The decisions are pure functions; [`Call::run`] is the loop every
//! transport runs, and a transport ([`Transport`]) supplies only the IO.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::endpoint::{BaseUrl, Endpoint};
use crate::error::{Error, ErrorKind, OrderEffect, TransportErrorKind};
use crate::operation::{Attempt, Context, Operation, Prepared};
use crate::{Request, Response, TransportError};

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

/// The IO of one transport: sending, sleeping and signing, plus the clock and the random
/// source (whose defaults read the system's). [`Call::run`] drives it; a transport is this
/// and nothing more.
///
/// A blocking transport returns futures that are already complete
/// (`std::future::ready(…)`) and runs the call with [`Call::run_blocking`].
pub trait Transport {
    /// Sends one request to `host` and reads the whole answer (up to the size cap).
    fn send(
        &self,
        host: &str,
        request: Request,
    ) -> impl Future<Output = Result<Response, TransportError>>;

    /// Waits `delay` before the next attempt.
    fn sleep(&self, delay: Duration) -> impl Future<Output = ()>;

    /// Signs a prepared request: [`Prepared::sign`] for a blocking transport,
    /// [`Prepared::sign_async`] for an async one.
    fn sign(
        &self,
        ctx: &Context,
        prepared: Prepared,
    ) -> impl Future<Output = Result<Request, Error>>;

    /// Fills `bytes` from a cryptographically secure random source.
    ///
    /// # Errors
    /// When the source fails; nothing is sent without a fresh nonce.
    fn fill_random(&self, bytes: &mut [u8]) -> Result<(), ring::error::Unspecified> {
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), bytes)
    }

    /// Unix time in seconds, for signing and for checking answers' timestamps.
    fn unix_now(&self) -> u64 {
        crate::unix_now()
    }

    /// A monotonic clock, for the retry deadline.
    fn instant_now(&self) -> Instant {
        Instant::now()
    }
}

/// The result of a future whose every await is already complete (a blocking transport's):
/// polled once. One that is not ready (an asynchronous-only signer) is a signing error.
pub(crate) fn complete_now<T>(future: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(result) => result,
        std::task::Poll::Pending => Err(crate::SignError::new(
            "a blocking transport met a future that was not ready (an asynchronous signer?)",
        )
        .into()),
    }
}

/// What a caller driving a [`Call`] by hand does next.
#[derive(Debug)]
pub enum Step<T> {
    /// The call finished with an outcome.
    Done(T),
    /// The call failed for good; the error carries the whole call's history.
    Fail(Error),
    /// Sleep this long, then [`Call::prepare`] the next attempt.
    Retry(Duration),
}

/// One call of an operation through its attempts: the one call loop of wxpay.
///
/// Transports call [`run`](Call::run) (or [`run_blocking`](Call::run_blocking)) with their
/// IO. An embedder with an HTTP stack of its own can drive the same steps by hand:
///
/// ```text
/// loop {
///     let request = match call.prepare(unix_now, &nonce) {            // errors carry the history
///         Ok(prepared) => prepared.sign(ctx).map_err(|e| call.fail(e))?,
///         Err(e) => return Err(e),
///     };
///     match call.step(send(request), unix_now, elapsed, jitter) {
///         Step::Done(v) => return Ok(v),
///         Step::Fail(e) => return Err(e),
///         Step::Retry(d) => sleep(d),
///     }
/// }
/// ```
///
/// Every error a call returns knows what all its attempts may have done: an attempt that
/// timed out makes the order's state unknown even when a later attempt fails before
/// sending (a signer down, the random source failing).
#[derive(Debug)]
pub struct Call<'a, O: Operation> {
    op: &'a O,
    ctx: &'a Context,
    policy: &'a RetryPolicy,
    base: BaseUrl,
    backup: Option<BaseUrl>,
    attempts: u32,
    /// The worst effect of the attempts that have failed so far.
    earlier: OrderEffect,
    /// The `Request-ID` of the last answer.
    request_id: Option<String>,
}

impl<'a, O: Operation> Call<'a, O> {
    /// Starts a call of `op` against `endpoint` (as the operation places it: see
    /// [`Operation::endpoint`]).
    pub fn new(op: &'a O, ctx: &'a Context, endpoint: &Endpoint, policy: &'a RetryPolicy) -> Self {
        let endpoint = op.endpoint(endpoint);
        let (base, backup) = (endpoint.primary(), endpoint.backup());
        Call {
            op,
            ctx,
            policy,
            base,
            backup,
            attempts: 0,
            earlier: OrderEffect::NotSent,
            request_id: None,
        }
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

    /// Runs the call to its end through `io`: draw randomness, prepare, sign, send, read,
    /// and retry as the policy says.
    ///
    /// # Errors
    /// The last attempt's [`Error`], which knows what every attempt may have done. An
    /// outcome is never an error.
    pub async fn run<T: Transport>(mut self, io: &T) -> Result<O::Output, Error> {
        let started = io.instant_now();
        loop {
            let mut bytes = [0u8; 24];
            if io.fill_random(&mut bytes).is_err() {
                self.attempts += 1;
                return Err(self.fail(ErrorKind::Random));
            }
            let random = AttemptRandom::from_bytes(bytes);
            let prepared = self.prepare(io.unix_now(), &random.nonce)?;
            let request = match io.sign(self.ctx, prepared).await {
                Ok(request) => request,
                Err(e) => return Err(self.fail(e)),
            };
            let result = io.send(self.base.host(), request).await;
            let elapsed = io.instant_now().saturating_duration_since(started);
            match self.step(result, io.unix_now(), elapsed, random.jitter) {
                Step::Done(output) => return Ok(output),
                Step::Fail(error) => return Err(error),
                Step::Retry(delay) => io.sleep(delay).await,
            }
        }
    }

    /// [`run`](Self::run) for a blocking transport, whose futures are always ready.
    ///
    /// # Errors
    /// As `run`; and [`ErrorKind::Sign`] should the transport's signing future not be ready
    /// (an asynchronous-only signer: use an async transport).
    pub fn run_blocking<T: Transport>(self, io: &T) -> Result<O::Output, Error> {
        complete_now(self.run(io))
    }

    /// Builds the next attempt's request, with a fresh timestamp and nonce.
    ///
    /// # Errors
    /// As [`Operation::prepare`], with the call's history (bad input fails the call before
    /// anything is sent).
    pub fn prepare(&mut self, timestamp: u64, nonce: &str) -> Result<Prepared, Error> {
        self.attempts += 1;
        self.op
            .prepare(self.ctx, &Attempt::new(&self.base, timestamp, nonce))
            .map_err(|e| self.fail(e))
    }

    /// An error that ended the current attempt before it was sent (signing, the random
    /// source), with what earlier attempts may have done.
    pub fn fail(&self, error: impl Into<Error>) -> Error {
        error.into().with_history(self.attempts, self.earlier, self.request_id.clone())
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
            Ok(response) => {
                self.request_id = response
                    .headers()
                    .get(crate::v3::header::REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                match self.op.parse(self.ctx, now, response) {
                    Ok(output) => return Step::Done(output),
                    Err(e) => e,
                }
            }
            Err(t) => {
                self.request_id = None;
                Error::from(t)
            }
        };
        self.decide(error, elapsed, jitter)
    }

    /// The decision for a failed attempt.
    fn decide(&mut self, error: Error, elapsed: Duration, jitter: f64) -> Step<O::Output> {
        let error = self.fail(error);
        let kind = error.kind();
        let host = self.base.host();
        let request_id = error.request_id().unwrap_or_default();
        if !RetryPolicy::is_retryable(kind) {
            return Step::Fail(error);
        }
        if self.attempts >= self.policy.max_attempts {
            tracing::warn!(host, attempt = self.attempts, reason = %kind, request_id, "giving up: attempts exhausted");
            return Step::Fail(error);
        }
        let connect_failed =
            matches!(kind, ErrorKind::Transport(t) if t.kind == TransportErrorKind::Connect);
        let delay = match (connect_failed, self.backup.as_ref()) {
            (true, Some(backup)) => {
                tracing::warn!(host, backup = backup.host(), attempt = self.attempts, reason = %kind, "failing over to the backup host");
                Duration::ZERO
            }
            _ => self.policy.backoff(self.attempts, jitter),
        };
        if elapsed.saturating_add(delay) > self.policy.deadline {
            tracing::warn!(host, attempt = self.attempts, reason = %kind, request_id, "giving up: deadline reached");
            return Step::Fail(error);
        }
        tracing::info!(host, attempt = self.attempts, reason = %kind, request_id, delay_ms = delay.as_millis() as u64, "retrying");
        if connect_failed {
            if let Some(backup) = self.backup.take() {
                self.base = backup;
            }
        }
        self.earlier = error.order_effect();
        Step::Retry(delay)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::collections::VecDeque;

    use super::*;
    use crate::error::{ApiCode, ApiError, ApiVersion, SignError};
    use crate::v2::{CloseOrderV2, V2Credentials};
    use crate::{ApiV2Key, CloseOutcome};

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
    fn nan_and_infinite_jitter_do_not_panic() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1, f64::NAN), Duration::from_millis(100));
        assert_eq!(p.backoff(1, f64::INFINITY), Duration::from_millis(200));
        assert_eq!(p.backoff(1, f64::NEG_INFINITY), Duration::from_millis(100));
        let (ctx, op, policy) = (ctx(), CloseOrderV2::new("1"), RetryPolicy::default());
        let mut call = Call::new(&op, &ctx, &Endpoint::HongKong, &policy);
        call.prepare(0, "n").unwrap();
        let step = call.step(transport(TransportErrorKind::Timeout), 0, Duration::ZERO, f64::NAN);
        assert!(matches!(step, Step::Retry(d) if d == Duration::from_millis(100)), "{step:?}");
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
            Step::Fail(e) => {
                assert!(
                    matches!(e.kind(), ErrorKind::Transport(t) if t.kind == TransportErrorKind::Timeout)
                );
                assert_eq!((e.attempts(), e.order_effect()), (4, OrderEffect::Unknown));
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
                Some(Step::Fail(e)) => e,
                other => panic!("{other:?}"),
            }
        };
        use TransportErrorKind::{Connect, Timeout};
        let unsent = run(&[Connect, Connect, Connect, Connect]);
        assert_eq!((unsent.attempts(), unsent.order_effect()), (4, OrderEffect::NotSent));
        assert!(!unsent.was_sent());
        assert!(unsent.to_string().starts_with("not sent, the order is unchanged"), "{unsent}");
        // A timeout anywhere may have reached WeChat Pay: unknown from then on, though the
        // last attempt's kind (Connect) stays what it was.
        for kinds in [[Connect, Timeout, Connect, Connect], [Connect, Connect, Connect, Timeout]] {
            let e = run(&kinds);
            assert_eq!(e.order_effect(), OrderEffect::Unknown, "{kinds:?}");
            assert!(e.was_sent() && e.to_string().starts_with("order state unknown"), "{e}");
        }
        let e = run(&[Timeout, Connect, Connect, Connect]);
        assert!(matches!(e.kind(), ErrorKind::Transport(t) if t.kind == Connect));
    }

    #[test]
    fn a_final_kind_that_is_not_retried_stays_matchable_after_retries() {
        // One timeout, then an answer whose signature is wrong: still `Verify`, never hidden.
        let (ctx, op, policy) = (ctx(), CloseOrderV2::new("1"), RetryPolicy::default());
        let mut call = Call::new(&op, &ctx, &Endpoint::HongKong, &policy);
        call.prepare(0, "n").unwrap();
        assert!(matches!(
            call.step(transport(TransportErrorKind::Timeout), 0, Duration::ZERO, 0.0),
            Step::Retry(_)
        ));
        call.prepare(0, "n").unwrap();
        let forged = http::Response::builder()
            .status(200)
            .header("Request-ID", "08DE1C2B0610")
            .body(b"<xml><return_code>SUCCESS</return_code><sign>00</sign></xml>".to_vec())
            .unwrap();
        match call.step(Ok(forged), 0, Duration::ZERO, 0.0) {
            Step::Fail(e) => {
                assert!(matches!(e.kind(), ErrorKind::Verify(_)), "{e:?}");
                assert_eq!(e.attempts(), 2);
                assert_eq!(e.order_effect(), OrderEffect::Unknown);
                assert_eq!(e.request_id(), Some("08DE1C2B0610"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tls_failure_ends_the_call_at_once_without_fail_over() {
        let (ctx, op, policy) = (ctx(), CloseOrderV2::new("1"), RetryPolicy::default());
        let mut call = Call::new(&op, &ctx, &Endpoint::Mainland, &policy);
        call.prepare(0, "n").unwrap();
        match call.step(transport(TransportErrorKind::Tls), 0, Duration::ZERO, 0.5) {
            Step::Fail(e) => {
                assert!(
                    matches!(e.kind(), ErrorKind::Transport(t) if t.kind == TransportErrorKind::Tls)
                );
                assert_eq!(e.order_effect(), OrderEffect::NotSent);
            }
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
            Step::Fail(e) => assert!(matches!(e.kind(), ErrorKind::Transport(_))),
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
            Step::Fail(e) if matches!(e.kind(), ErrorKind::Verify(_))
        ));
        // A 5xx is.
        let mut call = Call::new(&op, &ctx, &Endpoint::HongKong, &policy);
        call.prepare(0, "n").unwrap();
        assert!(matches!(call.step(Ok(status(503)), 0, Duration::ZERO, 0.0), Step::Retry(_)));
    }

    /// A transport whose answers, random source and signer are scripted.
    struct Scripted {
        answers: RefCell<VecDeque<Result<Response, TransportError>>>,
        random_fails_from: u32,
        sign_fails_from: u32,
        draws: Cell<u32>,
        signs: Cell<u32>,
        sent: Cell<u32>,
    }

    impl Scripted {
        fn new(answers: Vec<Result<Response, TransportError>>) -> Self {
            Scripted {
                answers: RefCell::new(answers.into()),
                random_fails_from: u32::MAX,
                sign_fails_from: u32::MAX,
                draws: Cell::new(0),
                signs: Cell::new(0),
                sent: Cell::new(0),
            }
        }
    }

    impl Transport for Scripted {
        fn send(
            &self,
            _host: &str,
            _request: Request,
        ) -> impl Future<Output = Result<Response, TransportError>> {
            self.sent.set(self.sent.get() + 1);
            let next = self.answers.borrow_mut().pop_front();
            std::future::ready(next.unwrap_or_else(|| transport(TransportErrorKind::Connect)))
        }
        fn sleep(&self, _delay: Duration) -> impl Future<Output = ()> {
            std::future::ready(())
        }
        fn sign(
            &self,
            ctx: &Context,
            prepared: Prepared,
        ) -> impl Future<Output = Result<Request, Error>> {
            self.signs.set(self.signs.get() + 1);
            std::future::ready(if self.signs.get() >= self.sign_fails_from {
                Err(SignError::new("the KMS is down").into())
            } else {
                prepared.sign(ctx)
            })
        }
        fn fill_random(&self, bytes: &mut [u8]) -> Result<(), ring::error::Unspecified> {
            self.draws.set(self.draws.get() + 1);
            if self.draws.get() >= self.random_fails_from {
                return Err(ring::error::Unspecified);
            }
            bytes.fill(7);
            Ok(())
        }
        fn unix_now(&self) -> u64 {
            1_700_000_000
        }
    }

    #[test]
    fn a_failure_before_sending_a_retry_keeps_what_the_first_attempt_may_have_done() {
        let (ctx, op, policy) = (ctx(), CloseOrderV2::new("1"), RetryPolicy::default());
        // Attempt 1 times out (it may have closed the order); attempt 2's signer fails.
        let mut io = Scripted::new(vec![transport(TransportErrorKind::Timeout)]);
        io.sign_fails_from = 2;
        let e = Call::new(&op, &ctx, &Endpoint::HongKong, &policy).run_blocking(&io).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Sign(_)), "{e:?}");
        assert_eq!((e.attempts(), io.sent.get()), (2, 1));
        assert_eq!(e.order_effect(), OrderEffect::Unknown, "{e}");
        assert!(e.was_sent());
        // The same with the random source failing.
        let mut io = Scripted::new(vec![transport(TransportErrorKind::Timeout)]);
        io.random_fails_from = 2;
        let e = Call::new(&op, &ctx, &Endpoint::HongKong, &policy).run_blocking(&io).unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Random), "{e:?}");
        assert_eq!(e.order_effect(), OrderEffect::Unknown, "{e}");
        assert!(e.to_string().starts_with("order state unknown: the random source failed"), "{e}");
        // With nothing sent before, the same failures leave the order unchanged.
        let mut io = Scripted::new(vec![]);
        io.random_fails_from = 1;
        let e = Call::new(&op, &ctx, &Endpoint::HongKong, &policy).run_blocking(&io).unwrap_err();
        assert_eq!((e.order_effect(), e.attempts(), io.sent.get()), (OrderEffect::NotSent, 1, 0));
    }

    #[test]
    fn run_retries_to_an_outcome() {
        let key = ApiV2Key::new("192006250b4c09247ec02edce69f6a2d").unwrap();
        let signer = key.clone();
        let ctx = Context::new().with_v2(V2Credentials::new("wx1", "1", key).unwrap());
        let fields = [
            ("appid", "wx1"),
            ("mch_id", "1"),
            ("result_code", "SUCCESS"),
            ("return_code", "SUCCESS"),
        ];
        let sign = crate::v2::sign_fields(&signer, crate::v2::SignType::Md5, fields).unwrap();
        let mut body = String::from("<xml>");
        for (k, v) in fields.iter().chain(&[("sign", sign.as_str())]) {
            body.push_str(&format!("<{k}>{v}</{k}>"));
        }
        body.push_str("</xml>");
        let ok = http::Response::builder().status(200).body(body.into_bytes()).unwrap();
        let io = Scripted::new(vec![Ok(status(503)), transport(TransportErrorKind::Io), Ok(ok)]);
        let (op, policy) = (CloseOrderV2::new("1"), RetryPolicy::default());
        let outcome = Call::new(&op, &ctx, &Endpoint::HongKong, &policy).run_blocking(&io);
        assert_eq!(outcome.unwrap(), CloseOutcome::Closed);
        assert_eq!((io.sent.get(), io.signs.get(), io.draws.get()), (3, 3, 3));
    }
}
