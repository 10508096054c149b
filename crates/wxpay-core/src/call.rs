//! A call is a state machine: it is given the time, random bytes, signatures and answers,
//! and says what its driver does next ([`Action`]). It never sleeps, reads a clock or
//! touches a socket. Each client is one short driver loop over it; an HTTP stack of your own
//! drives it the same way:
//!
//! ```text
//! let mut call = session.call(&op);
//! loop {
//!     match call.poll(Now::system()) {
//!         Action::Random => call.random(wxpay_core::system_random()),
//!         Action::Sign { message, signer } => call.signed(signer.sign_async(&message).await),
//!         Action::Send(request) => { let answer = send(request); call.answer(Now::system(), answer) }
//!         Action::Wait(wait) => wait_until(wait.until()),   // or until a refresh ends
//!         Action::Done(result) => return result,
//!     }
//! }
//! ```
//!
//! Machines compose: [`Attempts`] runs one operation through its retries and fail-over;
//! [`Call`] wraps it with the platform certificate refresh (before, after an unknown serial);
//! [`Then`] runs one machine after another, so a sequence of calls (close, query, wait,
//! close again) is one machine and no driver grows a loop of its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::endpoint::BaseUrl;
use crate::error::TransportError;
use crate::error::{
    ApiError, Error, ErrorKind, OrderEffect, SignError, TransportErrorKind, VerifyError,
};
use crate::operation::{Attempt, Operation, Prepared};
use crate::refresh::{Claim, Keeper};
use crate::retry::{AttemptRandom, RetryPolicy};
use crate::session::Session;
use crate::v3::{AsyncSigner, DownloadCertificates};
use crate::wire::{Request, Response};

/// The time, as a driver reads it: Unix seconds (for signatures and answers' timestamps) and
/// a monotonic instant (for back-offs and deadlines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Unix time in seconds.
    pub unix: u64,
    /// A monotonic clock reading.
    pub instant: Instant,
}

impl Now {
    /// The system's clocks (for drivers; the machines never read them).
    #[must_use]
    pub fn system() -> Self {
        Now { unix: crate::wire::unix_now(), instant: Instant::now() }
    }
}

/// The random source failed: no nonce could be drawn, nothing is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the random source failed")]
pub struct RandomError;

/// 24 bytes from the system's secure random source (for drivers; the machines draw none).
///
/// # Errors
/// [`RandomError`] when the source fails.
pub fn system_random() -> Result<[u8; 24], RandomError> {
    let mut bytes = [0u8; 24];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| RandomError)?;
    Ok(bytes)
}

/// What a machine's driver does next.
#[must_use]
#[allow(clippy::large_enum_variant)] // handed straight to the driver, never stored
pub enum Action<T> {
    /// Draw 24 random bytes and give them with [`Machine::random`].
    Random,
    /// Sign `message` with `signer` (an asynchronous signer: a KMS, an HSM) and give the
    /// result with [`Machine::signed`]. A synchronous signer signs inside the machine.
    Sign {
        /// The exact bytes to sign.
        message: Vec<u8>,
        /// The signer to ask.
        signer: Arc<dyn AsyncSigner>,
    },
    /// Send this request (to its URI's host) and give the answer, read whole up to the size
    /// cap, with [`Machine::answer`].
    Send(Request),
    /// Nothing to do until [`Wait::until`], or until another call's refresh ends
    /// ([`Wait::listener`]); then poll again.
    Wait(Wait),
    /// The machine has finished.
    Done(Result<T, Error>),
}

impl<T> std::fmt::Debug for Action<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Random => f.write_str("Random"),
            Action::Sign { message, .. } => {
                f.debug_struct("Sign").field("message_len", &message.len()).finish_non_exhaustive()
            }
            Action::Send(r) => f.debug_tuple("Send").field(&r.uri()).finish(),
            Action::Wait(w) => f.debug_tuple("Wait").field(w).finish(),
            Action::Done(r) => f.debug_tuple("Done").field(&r.as_ref().err()).finish(),
        }
    }
}

/// How long a machine has nothing to do.
#[derive(Debug)]
pub struct Wait {
    until: Instant,
    listener: Option<event_listener::EventListener>,
}

impl Wait {
    /// A wait until `until`, for no event.
    pub(crate) fn at(until: Instant) -> Self {
        Wait { until, listener: None }
    }

    /// Poll again at `until` at the latest.
    #[must_use]
    pub fn until(&self) -> Instant {
        self.until
    }

    /// Poll again when this fires (another call's refresh ended), if it fires before
    /// [`until`](Self::until). It is a future, and has a blocking `wait_deadline`.
    pub fn listener(self) -> Option<event_listener::EventListener> {
        self.listener
    }
}

/// A state machine a driver runs to its end: poll it with the time, do what its [`Action`]
/// says, give it what was asked (the crate docs, "Calls are state machines", show a driver).
pub trait Machine {
    /// What it ends with.
    type Output;

    /// What to do next, at `now`.
    fn poll(&mut self, now: Now) -> Action<Self::Output>;

    /// The random bytes asked for by [`Action::Random`].
    fn random(&mut self, bytes: Result<[u8; 24], RandomError>);

    /// The signature asked for by [`Action::Sign`].
    fn signed(&mut self, signature: Result<Vec<u8>, SignError>);

    /// The answer to the request of [`Action::Send`], received at `now`.
    fn answer(&mut self, now: Now, answer: Result<Response, TransportError>);
}

impl Session {
    /// A call of `op` as the clients make it: its attempts, and the certificate refresh
    /// around them when the configuration keeps certificates current.
    pub fn call<'s, O: Operation>(&'s self, op: &'s O) -> Call<'s, O> {
        Call::new(self, op)
    }

    /// `op`'s attempts alone (retries and fail-over, no refresh).
    pub fn attempts<'s, O: Operation>(&'s self, op: &'s O) -> Attempts<'s, O> {
        Attempts::new(self, op)
    }
}

/// One operation through its attempts: signed afresh each time, retried and failed over as
/// the policy says, with what every attempt may have done kept in the error.
pub struct Attempts<'s, O: Operation> {
    session: &'s Session,
    op: &'s O,
    policy: &'s RetryPolicy,
    base: BaseUrl,
    backup: Option<BaseUrl>,
    attempts: u32,
    /// The worst effect of the attempts that have failed so far.
    earlier: OrderEffect,
    /// The `Request-ID` of the last answer.
    request_id: Option<String>,
    started: Option<Instant>,
    now: Option<Now>,
    jitter: f64,
    state: AttemptState<O::Output>,
}

enum AttemptState<T> {
    /// The next attempt needs random bytes.
    Start,
    /// Prepared, to be signed.
    Prepared(Option<Prepared>),
    /// Waiting for an asynchronous signature over the prepared request.
    Signing(Option<Prepared>),
    /// Ready to go out.
    Ready(Option<Request>),
    /// Sent; waiting for the answer.
    Sent,
    /// Backing off until then.
    Backoff(Instant),
    /// Finished (the result is handed out once).
    Done(Option<Result<T, Error>>),
}

impl<'s, O: Operation> Attempts<'s, O> {
    /// Starts `op` in `session`, at the endpoint the operation chooses.
    pub fn new(session: &'s Session, op: &'s O) -> Self {
        let endpoint = op.endpoint(session.config().endpoint());
        Attempts {
            session,
            op,
            policy: session.config().retry(),
            base: endpoint.primary(),
            backup: endpoint.backup(),
            attempts: 0,
            earlier: OrderEffect::NotSent,
            request_id: None,
            started: None,
            now: None,
            jitter: 0.0,
            state: AttemptState::Start,
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

    /// An error that ended the current attempt, with what earlier attempts may have done.
    fn fail(&self, error: impl Into<Error>) -> Error {
        error.into().with_history(self.attempts, self.earlier, self.request_id.clone())
    }

    fn finish(&mut self, result: Result<O::Output, Error>) {
        self.state = AttemptState::Done(Some(result));
    }

    /// The decision for a failed attempt.
    fn decide(&mut self, error: Error, elapsed: Duration, now: Instant) {
        let error = self.fail(error);
        let kind = error.kind();
        let host = self.base.host();
        let request_id = error.request_id().unwrap_or_default();
        if !RetryPolicy::is_retryable(kind) {
            return self.finish(Err(error));
        }
        if self.attempts >= self.policy.max_attempts {
            tracing::warn!(host, attempt = self.attempts, reason = %kind, request_id, "giving up: attempts exhausted");
            return self.finish(Err(error));
        }
        let connect_failed =
            matches!(kind, ErrorKind::Transport(t) if t.kind == TransportErrorKind::Connect);
        let delay = match (connect_failed, self.backup.as_ref()) {
            (true, Some(backup)) => {
                tracing::warn!(host, backup = backup.host(), attempt = self.attempts, reason = %kind, "failing over to the backup host");
                Duration::ZERO
            }
            _ => self.policy.backoff(self.attempts, self.jitter),
        };
        if elapsed.saturating_add(delay) > self.policy.deadline {
            tracing::warn!(host, attempt = self.attempts, reason = %kind, request_id, "giving up: deadline reached");
            return self.finish(Err(error));
        }
        tracing::info!(host, attempt = self.attempts, reason = %kind, request_id, delay_ms = delay.as_millis() as u64, "retrying");
        if connect_failed {
            if let Some(backup) = self.backup.take() {
                self.base = backup;
            }
        }
        self.earlier = error.order_effect();
        self.state = AttemptState::Backoff(later(now, delay));
    }

    /// Signs a prepared request with a synchronous signer, or asks an asynchronous one.
    fn sign(&mut self, prepared: Prepared) -> Action<O::Output> {
        let ctx = self.session.config().context();
        if let Some(signer) = prepared.async_signer(ctx) {
            let message = prepared.message().map(<[u8]>::to_vec).unwrap_or_default();
            self.state = AttemptState::Signing(Some(prepared));
            return Action::Sign { message, signer };
        }
        match prepared.sign(ctx) {
            Ok(request) => {
                self.state = AttemptState::Sent;
                Action::Send(request)
            }
            Err(e) => {
                let e = self.fail(e);
                self.done(Err(e))
            }
        }
    }

    /// Finishes with `result`, handed out now.
    fn done(&mut self, result: Result<O::Output, Error>) -> Action<O::Output> {
        self.state = AttemptState::Done(None);
        Action::Done(result)
    }
}

impl<O: Operation> Machine for Attempts<'_, O> {
    type Output = O::Output;

    fn poll(&mut self, now: Now) -> Action<O::Output> {
        self.now = Some(now);
        self.started.get_or_insert(now.instant);
        match &mut self.state {
            AttemptState::Start => Action::Random,
            AttemptState::Prepared(prepared) => match prepared.take() {
                Some(prepared) => self.sign(prepared),
                None => Action::Random,
            },
            AttemptState::Ready(request) => match request.take() {
                Some(request) => {
                    self.state = AttemptState::Sent;
                    Action::Send(request)
                }
                None => Action::Random,
            },
            // Polled before the signature or the answer came: nothing new to do.
            AttemptState::Signing(_) | AttemptState::Sent => Action::Wait(Wait {
                until: later(now.instant, Duration::from_secs(1)),
                listener: None,
            }),
            AttemptState::Backoff(until) if now.instant < *until => {
                Action::Wait(Wait { until: *until, listener: None })
            }
            AttemptState::Backoff(_) => {
                self.state = AttemptState::Start;
                Action::Random
            }
            AttemptState::Done(result) => match result.take() {
                Some(result) => Action::Done(result),
                None => Action::Done(Err(finished())),
            },
        }
    }

    fn random(&mut self, bytes: Result<[u8; 24], RandomError>) {
        if !matches!(self.state, AttemptState::Start) {
            return;
        }
        self.attempts += 1;
        let Ok(bytes) = bytes else {
            let e = self.fail(ErrorKind::Random);
            return self.finish(Err(e));
        };
        let random = AttemptRandom::from_bytes(bytes);
        self.jitter = random.jitter;
        let unix = self.now.map_or_else(crate::wire::unix_now, |n| n.unix);
        let ctx = self.session.config().context();
        match self.op.prepare(ctx, &Attempt::new(&self.base, unix, &random.nonce)) {
            Ok(prepared) => self.state = AttemptState::Prepared(Some(prepared)),
            Err(e) => {
                let e = self.fail(e);
                self.finish(Err(e));
            }
        }
    }

    fn signed(&mut self, signature: Result<Vec<u8>, SignError>) {
        let AttemptState::Signing(prepared) = &mut self.state else { return };
        let Some(prepared) = prepared.take() else { return };
        let ctx = self.session.config().context();
        let request =
            signature.map_err(Error::from).and_then(|s| prepared.dangerous_with_signature(ctx, &s));
        match request {
            Ok(request) => self.state = AttemptState::Ready(Some(request)),
            Err(e) => {
                let e = self.fail(e);
                self.finish(Err(e));
            }
        }
    }

    fn answer(&mut self, now: Now, answer: Result<Response, TransportError>) {
        if !matches!(self.state, AttemptState::Sent) {
            return;
        }
        let elapsed = now.instant.saturating_duration_since(self.started.unwrap_or(now.instant));
        let error = match answer {
            Ok(response) => {
                self.request_id = response
                    .headers()
                    .get(crate::v3::header::REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let ctx = self.session.config().context();
                match self.op.parse(ctx, self.session.replay_guard(), now.unix, response) {
                    Ok(output) => return self.finish(Ok(output)),
                    Err(e) => e,
                }
            }
            Err(t) => {
                self.request_id = None;
                Error::from(t)
            }
        };
        self.decide(error, elapsed, now.instant);
    }
}

impl<O: Operation> std::fmt::Debug for Attempts<'_, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempts")
            .field("base", &self.base.as_str())
            .field("attempts", &self.attempts)
            .field("earlier", &self.earlier)
            .finish_non_exhaustive()
    }
}

/// One operation as the clients run it: its [`Attempts`], and when the session keeps
/// platform certificates current, a refresh when one is due (or the first list, waited for
/// while another call downloads it), and after an answer signed under a serial the store
/// does not hold, one forced refresh and the call made again (closing is idempotent).
pub struct Call<'s, O: Operation> {
    session: &'s Session,
    op: &'s O,
    stage: Stage<'s, O>,
    /// The error of the first run, when the call is made again after a refresh.
    first: Option<Error>,
    /// The unknown serial that forced a refresh.
    serial: Option<String>,
}

enum Stage<'s, O: Operation> {
    /// Deciding whether to refresh first.
    Begin,
    /// This call's refresh (periodic, or forced by `serial`).
    Refresh(Box<Refresh<'s>>, Then_),
    /// Another call's refresh: wait for it to end, then go on.
    WaitRefresh(Instant, Then_),
    /// The operation itself (the second time after a forced refresh).
    Run(Box<Attempts<'s, O>>),
    /// Finished.
    Done,
}

/// What comes after a refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then_ {
    /// The first run of the operation.
    Run,
    /// The run again, if the store now holds the serial that forced the refresh.
    Again,
}

/// The two certificate lists, as operations that live as long as any call.
static LIST: DownloadCertificates = DownloadCertificates::new();
static GLOBAL_LIST: DownloadCertificates = DownloadCertificates::global();

/// A claimed refresh: released (as failed) if the machine is dropped half-way.
struct Refresh<'s> {
    session: &'s Session,
    attempts: Option<Attempts<'s, DownloadCertificates>>,
    forced_for: Option<String>,
    started: Option<Instant>,
    finished: bool,
}

impl Drop for Refresh<'_> {
    fn drop(&mut self) {
        if !self.finished {
            if let Some(keeper) = self.session.keeper() {
                keeper.finish(self.started.unwrap_or_else(Instant::now), false, None);
            }
        }
    }
}

/// Whether a refresh failed because the merchant has no platform certificates: a verified
/// `404 RESOURCE_NOT_EXISTS` (a merchant in public-key mode only).
fn has_no_certificates(error: &Error) -> bool {
    error.api().is_some_and(ApiError::is_no_certificates)
}

impl<'s, O: Operation> Call<'s, O> {
    /// A verification error, with why the last certificate refresh failed when one did: the
    /// cause (a wrong APIv3 key, a refused list, the network) is said where it shows.
    fn with_cause(&self, error: Error) -> Error {
        let unverifiable = matches!(
            error.kind(),
            ErrorKind::Verify(
                VerifyError::UnknownSerial(_) | VerifyError::CertificateNotValidNow { .. }
            )
        );
        match self.session.keeper().and_then(Keeper::last_failure) {
            Some(cause) if unverifiable => error.with_refresh_failure(cause),
            _ => error,
        }
    }

    /// Starts `op` in `session`.
    pub fn new(session: &'s Session, op: &'s O) -> Self {
        Call { session, op, stage: Stage::Begin, first: None, serial: None }
    }

    fn run(&self) -> Stage<'s, O> {
        Stage::Run(Box::new(Attempts::new(self.session, self.op)))
    }

    fn refresh(&self, forced_for: Option<String>, then: Then_) -> Stage<'s, O> {
        let op = match self.session.keeper().map(|k| k.refresh.global) {
            Some(true) => &GLOBAL_LIST,
            _ => &LIST,
        };
        let refresh = Refresh {
            session: self.session,
            attempts: Some(Attempts::new(self.session, op)),
            forced_for,
            started: None,
            finished: false,
        };
        Stage::Refresh(Box::new(refresh), then)
    }

    /// After a refresh (of this call or another): the run, or the run again if the key it
    /// needs is now held, else the first error.
    fn after_refresh(&mut self, then: Then_) -> Option<Action<O::Output>> {
        match then {
            Then_::Run => {
                self.stage = self.run();
                None
            }
            Then_::Again => {
                let known = self
                    .serial
                    .as_deref()
                    .is_some_and(|s| self.session.keeper().is_some_and(|k| k.store.knows(s)));
                if known {
                    self.stage = self.run();
                    None
                } else {
                    self.stage = Stage::Done;
                    let first = self
                        .first
                        .take()
                        .unwrap_or_else(|| VerifyError::UnknownSerial(String::new()).into());
                    Some(Action::Done(Err(self.with_cause(first))))
                }
            }
        }
    }
}

impl<O: Operation> Machine for Call<'_, O> {
    type Output = O::Output;

    fn poll(&mut self, now: Now) -> Action<O::Output> {
        loop {
            match &mut self.stage {
                Stage::Begin => {
                    let Some(keeper) = self.session.keeper() else {
                        self.stage = self.run();
                        continue;
                    };
                    self.stage = match keeper.claim_periodic(now.instant) {
                        Claim::Mine => self.refresh(None, Then_::Run),
                        // A store that knows nothing yet waits for its first list rather
                        // than fail.
                        Claim::Running if keeper.store.is_empty() => Stage::WaitRefresh(
                            later(now.instant, self.session.config().retry().deadline),
                            Then_::Run,
                        ),
                        Claim::Running | Claim::NotNow => self.run(),
                    };
                }
                Stage::Refresh(refresh, then) => {
                    let then = *then;
                    refresh.started.get_or_insert(now.instant);
                    let Some(attempts) = refresh.attempts.as_mut() else {
                        return Action::Done(Err(finished()));
                    };
                    match attempts.poll(now) {
                        Action::Done(result) => {
                            let keeper = self.session.keeper();
                            let succeeded = match result {
                                Ok(certificates) => {
                                    if let Some(k) = keeper {
                                        let added = k.store.update(certificates, now.unix);
                                        tracing::info!(
                                            added,
                                            forced = refresh.forced_for.is_some(),
                                            "platform certificates refreshed"
                                        );
                                    }
                                    true
                                }
                                // A merchant with no platform certificates (public-key mode
                                // only): a verified 404 RESOURCE_NOT_EXISTS. Nothing to
                                // download, and nothing wrong: said once, asked again only at
                                // the interval.
                                Err(error) if has_no_certificates(&error) => {
                                    if let Some(k) = keeper {
                                        if k.note_no_certificates() {
                                            tracing::info!(
                                                "the merchant has no platform certificates (public-key mode): verifying with the keys configured"
                                            );
                                        }
                                    }
                                    true
                                }
                                Err(error) => {
                                    tracing::warn!(%error, "platform certificate refresh failed; keeping the current set");
                                    if let Some(k) = keeper {
                                        k.note_failure(&error);
                                    }
                                    false
                                }
                            };
                            refresh.finished = true;
                            if let Some(k) = keeper {
                                // Released only now: whoever waited finds the store updated.
                                k.finish(now.instant, succeeded, refresh.forced_for.as_deref());
                            }
                            if let Some(action) = self.after_refresh(then) {
                                return action;
                            }
                        }
                        other => return map_action(other),
                    }
                }
                Stage::WaitRefresh(deadline, then) => {
                    let (deadline, then) = (*deadline, *then);
                    let Some(keeper) = self.session.keeper() else {
                        self.stage = self.run();
                        continue;
                    };
                    let listener = keeper.listen();
                    if keeper.is_running() && now.instant < deadline {
                        return Action::Wait(Wait { until: deadline, listener: Some(listener) });
                    }
                    if let Some(action) = self.after_refresh(then) {
                        return action;
                    }
                }
                Stage::Run(attempts) => match attempts.poll(now) {
                    Action::Done(Err(error)) if self.first.is_none() => {
                        let serial = match error.kind() {
                            ErrorKind::Verify(VerifyError::UnknownSerial(s)) => s.clone(),
                            _ => {
                                self.stage = Stage::Done;
                                return Action::Done(Err(error));
                            }
                        };
                        let Some(keeper) = self.session.keeper() else {
                            self.stage = Stage::Done;
                            return Action::Done(Err(error));
                        };
                        self.first = Some(error);
                        self.serial = Some(serial.clone());
                        self.stage = match keeper.claim_forced(now.instant) {
                            Claim::Mine => self.refresh(Some(serial), Then_::Again),
                            // Another call is refreshing: its list may hold the serial.
                            Claim::Running => Stage::WaitRefresh(
                                later(now.instant, self.session.config().retry().deadline),
                                Then_::Again,
                            ),
                            Claim::NotNow => {
                                self.stage = Stage::Done;
                                let first = self
                                    .first
                                    .take()
                                    .unwrap_or_else(|| VerifyError::UnknownSerial(serial).into());
                                return Action::Done(Err(self.with_cause(first)));
                            }
                        };
                    }
                    Action::Done(result) => {
                        self.stage = Stage::Done;
                        // The first answer could not be believed: what it may have done stays
                        // in the error if this run fails too.
                        let first = self.first.take();
                        return Action::Done(match (result, first) {
                            (Err(again), Some(first)) => Err(self.with_cause(again.after(&first))),
                            (result, _) => result.map_err(|e| self.with_cause(e)),
                        });
                    }
                    other => return other,
                },
                Stage::Done => return Action::Done(Err(finished())),
            }
        }
    }

    fn random(&mut self, bytes: Result<[u8; 24], RandomError>) {
        match &mut self.stage {
            Stage::Refresh(r, _) => {
                if let Some(a) = r.attempts.as_mut() {
                    a.random(bytes);
                }
            }
            Stage::Run(a) => a.random(bytes),
            _ => {}
        }
    }

    fn signed(&mut self, signature: Result<Vec<u8>, SignError>) {
        match &mut self.stage {
            Stage::Refresh(r, _) => {
                if let Some(a) = r.attempts.as_mut() {
                    a.signed(signature);
                }
            }
            Stage::Run(a) => a.signed(signature),
            _ => {}
        }
    }

    fn answer(&mut self, now: Now, answer: Result<Response, TransportError>) {
        match &mut self.stage {
            Stage::Refresh(r, _) => {
                if let Some(a) = r.attempts.as_mut() {
                    a.answer(now, answer);
                }
            }
            Stage::Run(a) => a.answer(now, answer),
            _ => {}
        }
    }
}

/// `now + by`, or a year from now should that overflow (a deadline of `Duration::MAX`).
pub(crate) fn later(now: Instant, by: Duration) -> Instant {
    now.checked_add(by)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(now)
}

/// The error of a machine polled after it finished (a driver's mistake): nothing was sent.
pub(crate) fn finished() -> Error {
    crate::error::InvalidInput::Finished.into()
}

/// An action of an inner machine whose output is not this machine's: only `Done` differs,
/// and callers handle it before.
pub(crate) fn map_action<A, B>(action: Action<A>) -> Action<B> {
    match action {
        Action::Random => Action::Random,
        Action::Sign { message, signer } => Action::Sign { message, signer },
        Action::Send(r) => Action::Send(r),
        Action::Wait(w) => Action::Wait(w),
        Action::Done(Err(e)) => Action::Done(Err(e)),
        Action::Done(Ok(_)) => Action::Done(Err(finished())),
    }
}

impl<O: Operation> std::fmt::Debug for Call<'_, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stage = match &self.stage {
            Stage::Begin => "begin",
            Stage::Refresh(..) => "refresh",
            Stage::WaitRefresh(..) => "waiting for a refresh",
            Stage::Run(_) => "run",
            Stage::Done => "done",
        };
        f.debug_struct("Call").field("stage", &stage).finish_non_exhaustive()
    }
}

/// Runs machine `A`, then the machine `next` makes of `A`'s result, as one machine: a
/// sequence of calls without a loop of its own.
pub struct Then<A: Machine, B: Machine, F: FnOnce(Result<A::Output, Error>) -> Result<B, Error>> {
    state: ThenState<A, B, F>,
}

enum ThenState<A, B, F> {
    First(A, Option<F>),
    Second(B),
    Done,
}

impl<A: Machine, B: Machine, F: FnOnce(Result<A::Output, Error>) -> Result<B, Error>>
    std::fmt::Debug for Then<A, B, F>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let step = match &self.state {
            ThenState::First(..) => "first",
            ThenState::Second(_) => "second",
            ThenState::Done => "done",
        };
        f.debug_struct("Then").field("step", &step).finish()
    }
}

impl<A: Machine, B: Machine, F: FnOnce(Result<A::Output, Error>) -> Result<B, Error>>
    Then<A, B, F>
{
    /// `first`, then `next(first's result)` (which may end the whole with an error instead).
    pub fn new(first: A, next: F) -> Self {
        Then { state: ThenState::First(first, Some(next)) }
    }
}

impl<A: Machine, B: Machine, F: FnOnce(Result<A::Output, Error>) -> Result<B, Error>> Machine
    for Then<A, B, F>
{
    type Output = B::Output;

    fn poll(&mut self, now: Now) -> Action<B::Output> {
        loop {
            match &mut self.state {
                ThenState::First(a, next) => match a.poll(now) {
                    Action::Done(result) => {
                        let Some(next) = next.take() else {
                            self.state = ThenState::Done;
                            continue;
                        };
                        match next(result) {
                            Ok(b) => self.state = ThenState::Second(b),
                            Err(e) => {
                                self.state = ThenState::Done;
                                return Action::Done(Err(e));
                            }
                        }
                    }
                    other => return map_action(other),
                },
                ThenState::Second(b) => return b.poll(now),
                ThenState::Done => return Action::Done(Err(finished())),
            }
        }
    }

    fn random(&mut self, bytes: Result<[u8; 24], RandomError>) {
        match &mut self.state {
            ThenState::First(a, _) => a.random(bytes),
            ThenState::Second(b) => b.random(bytes),
            ThenState::Done => {}
        }
    }

    fn signed(&mut self, signature: Result<Vec<u8>, SignError>) {
        match &mut self.state {
            ThenState::First(a, _) => a.signed(signature),
            ThenState::Second(b) => b.signed(signature),
            ThenState::Done => {}
        }
    }

    fn answer(&mut self, now: Now, answer: Result<Response, TransportError>) {
        match &mut self.state {
            ThenState::First(a, _) => a.answer(now, answer),
            ThenState::Second(b) => b.answer(now, answer),
            ThenState::Done => {}
        }
    }
}

/// What [`run_scripted`] saw: the machine's result, every request it sent, and how long
/// it waited in all.
#[derive(Debug)]
pub struct Scripted<T> {
    /// The machine's result.
    pub result: Result<T, Error>,
    /// Every request, in order.
    pub sent: Vec<Request>,
    /// The time spent waiting (the clock jumps to each wait's end).
    pub waited: Duration,
}

/// Drives `machine` with no IO at all, for tests: each request is answered by the next item
/// of `answers` (a refused connection once they run out), the random bytes are fixed, the
/// clock starts at `start` and jumps to the end of every wait. An asynchronous signer fails.
pub fn run_scripted<M: Machine>(
    mut machine: M,
    start: Now,
    answers: impl IntoIterator<Item = Result<Response, TransportError>>,
) -> Scripted<M::Output> {
    let mut answers = answers.into_iter();
    let (mut now, mut sent, mut waited) = (start, Vec::new(), Duration::ZERO);
    loop {
        match machine.poll(now) {
            Action::Random => machine.random(Ok([7; 24])),
            Action::Sign { .. } => {
                machine.signed(Err(SignError::new("no asynchronous signer here")))
            }
            Action::Send(request) => {
                sent.push(request);
                let answer = answers.next().unwrap_or_else(|| {
                    Err(TransportError::new(TransportErrorKind::Connect, "scripted", None))
                });
                machine.answer(now, answer);
            }
            Action::Wait(wait) => {
                let delay = wait.until().saturating_duration_since(now.instant);
                waited += delay;
                now = Now { unix: now.unix + delay.as_secs(), instant: wait.until() };
            }
            Action::Done(result) => return Scripted { result, sent, waited },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::Endpoint;
    use crate::error::TransportErrorKind::{Connect, Io, Timeout, Tls};
    use crate::v2::{CloseOrderV2, SignType, V2Credentials};
    use crate::{ApiV2Key, ClientConfig, CloseOutcome};

    const KEY: &str = "192006250b4c09247ec02edce69f6a2d";

    fn session(endpoint: Endpoint, policy: RetryPolicy) -> Session {
        let key = ApiV2Key::new(KEY).unwrap();
        let config = ClientConfig::builder()
            .v2(V2Credentials::new("wx1", "1", key).unwrap())
            .endpoint(endpoint)
            .retry(policy)
            .build()
            .unwrap();
        Session::new(config)
    }

    fn transport(kind: TransportErrorKind) -> Result<Response, TransportError> {
        Err(TransportError::new(kind, "h", None))
    }

    fn status(status: u16) -> Result<Response, TransportError> {
        Ok(http::Response::builder().status(status).body(Vec::new()).unwrap())
    }

    /// A signed APIv2 answer (its `nonce_str` makes each one distinct).
    fn v2_answer(nonce: &str, extra: &[(&str, &str)]) -> Result<Response, TransportError> {
        let mut fields = vec![
            ("appid", "wx1"),
            ("mch_id", "1"),
            ("nonce_str", nonce),
            ("result_code", "SUCCESS"),
            ("return_code", "SUCCESS"),
        ];
        for (k, v) in extra {
            match fields.iter_mut().find(|(name, _)| name == k) {
                Some(field) => field.1 = v,
                None => fields.push((k, v)),
            }
        }
        fields.sort();
        let key = ApiV2Key::new(KEY).unwrap();
        let sign = crate::v2::sign_fields(&key, SignType::Md5, fields.iter().copied()).unwrap();
        let mut body = String::from("<xml>");
        for (k, v) in fields.iter().chain(&[("sign", sign.as_str())]) {
            body.push_str(&format!("<{k}>{v}</{k}>"));
        }
        body.push_str("</xml>");
        Ok(http::Response::builder().status(200).body(body.into_bytes()).unwrap())
    }

    fn start() -> Now {
        Now { unix: 1_700_000_000, instant: Instant::now() }
    }

    #[test]
    fn retries_to_an_outcome_signing_each_attempt_afresh() {
        let s = session(Endpoint::HongKong, RetryPolicy::default());
        let op = CloseOrderV2::new("1");
        let run =
            run_scripted(s.call(&op), start(), [status(503), transport(Io), v2_answer("N1", &[])]);
        assert_eq!(run.result.unwrap(), CloseOutcome::Closed);
        assert_eq!(run.sent.len(), 3);
        assert!(run.waited > Duration::ZERO, "backed off between attempts");
    }

    #[test]
    fn connect_failure_fails_over_at_once_then_backs_off() {
        let s = session(Endpoint::Mainland, RetryPolicy::default());
        let op = CloseOrderV2::new("1");
        let run = run_scripted(
            s.attempts(&op),
            start(),
            [transport(Connect), transport(Connect), transport(Timeout), transport(Timeout)],
        );
        let hosts: Vec<_> = run.sent.iter().map(|r| r.uri().host().unwrap().to_owned()).collect();
        assert_eq!(
            hosts,
            [
                "api.mch.weixin.qq.com",
                "api2.mch.weixin.qq.com",
                "api2.mch.weixin.qq.com",
                "api2.mch.weixin.qq.com"
            ]
        );
        let e = run.result.unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Transport(t) if t.kind == Timeout));
        assert_eq!((e.attempts(), e.order_effect()), (4, OrderEffect::Unknown));
    }

    #[test]
    fn exhausted_says_whether_any_attempt_may_have_been_sent() {
        let s = session(Endpoint::HongKong, RetryPolicy::default());
        let op = CloseOrderV2::new("1");
        let run = |kinds: [TransportErrorKind; 4]| {
            run_scripted(s.attempts(&op), start(), kinds.map(transport)).result.unwrap_err()
        };
        let unsent = run([Connect, Connect, Connect, Connect]);
        assert_eq!((unsent.attempts(), unsent.order_effect()), (4, OrderEffect::NotSent));
        assert!(unsent.to_string().starts_with("not sent, the order is unchanged"), "{unsent}");
        // A timeout anywhere may have reached WeChat Pay: unknown from then on, though the
        // last attempt's kind (Connect) stays what it was.
        for kinds in [[Connect, Timeout, Connect, Connect], [Connect, Connect, Connect, Timeout]] {
            let e = run(kinds);
            assert_eq!(e.order_effect(), OrderEffect::Unknown, "{kinds:?}");
        }
        let e = run([Timeout, Connect, Connect, Connect]);
        assert!(matches!(e.kind(), ErrorKind::Transport(t) if t.kind == Connect));
        assert_eq!(e.order_effect(), OrderEffect::Unknown);
    }

    #[test]
    fn a_final_kind_that_is_not_retried_stays_matchable_after_retries() {
        let s = session(Endpoint::HongKong, RetryPolicy::default());
        let op = CloseOrderV2::new("1");
        let forged = http::Response::builder()
            .status(200)
            .header("Request-ID", "08DE1C2B0610")
            .body(b"<xml><return_code>SUCCESS</return_code><sign>00</sign></xml>".to_vec())
            .unwrap();
        let run = run_scripted(s.attempts(&op), start(), [transport(Timeout), Ok(forged)]);
        let e = run.result.unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Verify(_)), "{e:?}");
        assert_eq!((e.attempts(), e.order_effect()), (2, OrderEffect::Unknown));
        assert_eq!(e.request_id(), Some("08DE1C2B0610"));
    }

    #[test]
    fn tls_failure_ends_the_call_at_once_without_fail_over() {
        let s = session(Endpoint::Mainland, RetryPolicy::default());
        let op = CloseOrderV2::new("1");
        let run = run_scripted(s.attempts(&op), start(), [transport(Tls)]);
        let e = run.result.unwrap_err();
        assert_eq!((e.attempts(), e.order_effect(), run.sent.len()), (1, OrderEffect::NotSent, 1));
    }

    #[test]
    fn the_deadline_and_answers_that_are_not_retried_end_the_call() {
        let short = RetryPolicy::default().with_deadline(Duration::from_millis(50));
        let s = session(Endpoint::HongKong, short);
        let op = CloseOrderV2::new("1");
        // The first back-off (100 to 200 ms) would pass the deadline.
        let run = run_scripted(s.attempts(&op), start(), [transport(Io), transport(Io)]);
        assert_eq!((run.sent.len(), run.waited), (1, Duration::ZERO));
        // A business answer that fails verification is never retried; a 5xx is.
        let s = session(Endpoint::HongKong, RetryPolicy::default());
        let junk = Ok(http::Response::builder()
            .status(200)
            .body(b"<xml><return_code>SUCCESS</return_code></xml>".to_vec())
            .unwrap());
        let run = run_scripted(s.attempts(&op), start(), [junk, status(503)]);
        assert_eq!(run.sent.len(), 1);
        let run = run_scripted(s.attempts(&op), start(), [status(503), v2_answer("N2", &[])]);
        assert_eq!((run.sent.len(), run.result.unwrap()), (2, CloseOutcome::Closed));
    }

    /// A driver whose random source fails from the `n`th draw on.
    fn with_random_failing_from<M: Machine>(
        mut m: M,
        n: u32,
        answers: Vec<Result<Response, TransportError>>,
    ) -> (Result<M::Output, Error>, usize) {
        let (mut draws, mut sent, mut now) = (0, 0, start());
        let mut answers = answers.into_iter();
        loop {
            match m.poll(now) {
                Action::Random => {
                    draws += 1;
                    m.random(if draws >= n { Err(RandomError) } else { Ok([7; 24]) });
                }
                Action::Send(_) => {
                    sent += 1;
                    m.answer(now, answers.next().unwrap_or_else(|| transport(Connect)));
                }
                Action::Wait(w) => now.instant = w.until(),
                Action::Sign { .. } => m.signed(Err(SignError::new("none"))),
                Action::Done(r) => return (r, sent),
            }
        }
    }

    #[test]
    fn a_failure_before_sending_a_retry_keeps_what_the_first_attempt_may_have_done() {
        let s = session(Endpoint::HongKong, RetryPolicy::default());
        let op = CloseOrderV2::new("1");
        // Attempt 1 times out (it may have closed the order); attempt 2 draws no nonce.
        let (result, sent) = with_random_failing_from(s.attempts(&op), 2, vec![transport(Timeout)]);
        let e = result.unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Random), "{e:?}");
        assert_eq!((e.attempts(), sent, e.order_effect()), (2, 1, OrderEffect::Unknown));
        assert!(e.to_string().starts_with("order state unknown: the random source failed"), "{e}");
        // With nothing sent before, the same failure leaves the order unchanged.
        let (result, sent) = with_random_failing_from(s.attempts(&op), 1, vec![]);
        let e = result.unwrap_err();
        assert_eq!((e.order_effect(), e.attempts(), sent), (OrderEffect::NotSent, 1, 0));
    }

    #[test]
    fn two_calls_run_as_one_machine() {
        // A close, then (whatever it said) a second close of another order: one machine, one
        // driver loop, each call with its own attempts.
        let s = session(Endpoint::HongKong, RetryPolicy::default());
        let (first, second) = (CloseOrderV2::new("first-1"), CloseOrderV2::new("second-2"));
        let both = Then::new(s.call(&first), |result: Result<CloseOutcome, Error>| {
            assert_eq!(result?, CloseOutcome::Paid);
            Ok(s.call(&second))
        });
        let run = run_scripted(
            both,
            start(),
            [
                v2_answer("N3", &[("err_code", "ORDERPAID"), ("result_code", "FAIL")]),
                status(503),
                v2_answer("N4", &[]),
            ],
        );
        assert_eq!(run.result.unwrap(), CloseOutcome::Closed);
        let orders: Vec<bool> = run
            .sent
            .iter()
            .map(|r| String::from_utf8_lossy(r.body()).contains("second-2"))
            .collect();
        assert_eq!(orders, [false, true, true], "the second call retried on its own");
        // The first machine's error ends the whole before the second starts.
        let both =
            Then::new(s.call(&first), |r: Result<CloseOutcome, Error>| r.map(|_| s.call(&second)));
        let run = run_scripted(both, start(), [transport(Tls)]);
        assert_eq!(
            (run.sent.len(), run.result.unwrap_err().order_effect()),
            (1, OrderEffect::NotSent)
        );
    }

    #[test]
    fn one_signed_answer_is_believed_once_per_session() {
        let s = session(Endpoint::HongKong, RetryPolicy::default());
        let op = CloseOrderV2::new("1");
        let paid = || v2_answer("SAME", &[("err_code", "ORDERPAID"), ("result_code", "FAIL")]);
        assert_eq!(
            run_scripted(s.call(&op), start(), [paid()]).result.unwrap(),
            CloseOutcome::Paid
        );
        let again = run_scripted(s.call(&op), start(), [paid()]).result.unwrap_err();
        assert!(matches!(again.kind(), ErrorKind::Verify(VerifyError::Replayed)), "{again}");
        // Another session (another client) has not seen it.
        let other = session(Endpoint::HongKong, RetryPolicy::default());
        assert_eq!(
            run_scripted(other.call(&op), start(), [paid()]).result.unwrap(),
            CloseOutcome::Paid
        );
    }
}
