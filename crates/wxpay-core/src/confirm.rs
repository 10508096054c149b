//! The confirmed close: a close that ends in a state proven by a signed answer.
//!
//! A close answer names no order (SPEC, "What a signature does not prove"); a query answer's
//! signed body does. [`ConfirmedClose`] closes, and where the close alone does not prove the
//! end state it queries the order and acts on what the verified answer says about *that*
//! order, until the order is proven closed, paid or not found, or the deadline passes:
//!
//! | the query says | then |
//! | --- | --- |
//! | `CLOSED`, `REVOKED` | closed, proven by the query |
//! | `SUCCESS`, `REFUND` | paid (with WeChat Pay's number and the paid time), proven by the query |
//! | not found | not found, proven by the query |
//! | `NOTPAY`, `PAYERROR` | the close did not take effect: close again (at most [`ConfirmSettings::max_closes`] closes) |
//! | `USERPAYING`, anything else | the payer is paying: wait [`ConfirmSettings::paying_wait`], query again |
//! | an answer signed under a key not held (after the certificate refresh it sets off) | the order's state is unknown: that error, at once (asking again would be answered under the same key) |
//! | any other failure | query again after [`ConfirmSettings::query_retry_wait`] |
//!
//! It is a machine made of the session's [`Call`] machines (close, query, close again), run
//! by the same driver loop as any call.

use std::time::{Duration, Instant};

use crate::TransportError;
use crate::call::{Action, Call, Machine, Now, RandomError, Wait};
use crate::close::CloseOrder;
use crate::error::{Error, ErrorKind, OrderEffect, SignError, VerifyError};
use crate::order_state::{OrderState, QueryAnswer, TradeState, combined_state};
use crate::outcome::CloseOutcome;
use crate::query::QueryOrder;
use crate::session::Session;
use crate::wire::Response;

/// When a confirmed close queries the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ConfirmPolicy {
    /// Never: the close's answer, as a plain close gives it.
    Never,
    /// When the close's answer proves nothing or could cost money if false: its effect is
    /// unknown (a timeout, a 5xx, an answer that does not verify or decode, a `202
    /// USER_PAYING`), or it says "paid" (goods go out on it: a replayed answer must not cause
    /// that). A verified close, "already closed" or "not found" is taken as it is.
    #[default]
    Doubt,
    /// After every close that was sent, a verified one included.
    Always,
}

impl ConfirmPolicy {
    /// `never`, `doubt` or `always`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ConfirmPolicy::Never => "never",
            ConfirmPolicy::Doubt => "doubt",
            ConfirmPolicy::Always => "always",
        }
    }

    /// Reads what [`as_str`](Self::as_str) writes.
    #[must_use]
    pub fn parse(s: &str) -> Option<ConfirmPolicy> {
        match s {
            "never" => Some(ConfirmPolicy::Never),
            "doubt" => Some(ConfirmPolicy::Doubt),
            "always" => Some(ConfirmPolicy::Always),
            _ => None,
        }
    }
}

/// How a confirmed close goes about it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfirmSettings {
    /// When to query.
    pub policy: ConfirmPolicy,
    /// No new close or query starts once this much time has passed (30 s by default).
    pub deadline: Duration,
    /// Closes in all, the first included, while queries say the order is still unpaid (3).
    pub max_closes: u32,
    /// How long to wait before asking again while the payer is paying (5 s).
    pub paying_wait: Duration,
    /// How long to wait before asking again after a query failed (1 s).
    pub query_retry_wait: Duration,
}

impl Default for ConfirmSettings {
    fn default() -> Self {
        ConfirmSettings {
            policy: ConfirmPolicy::Doubt,
            deadline: Duration::from_secs(30),
            max_closes: 3,
            paying_wait: Duration::from_secs(5),
            query_retry_wait: Duration::from_secs(1),
        }
    }
}

impl ConfirmSettings {
    /// These settings with `policy`.
    #[must_use]
    pub fn with_policy(mut self, policy: ConfirmPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// These settings with `deadline`.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// How long to wait while the payer is paying, and after a failed query.
    #[must_use]
    pub fn with_waits(mut self, paying: Duration, query_retry: Duration) -> Self {
        self.paying_wait = paying;
        self.query_retry_wait = query_retry;
        self
    }
}

/// Which answer proved a confirmed close's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Proof {
    /// The close's own verified answer: an APIv3 `204` (under `doubt`; a `204` replayed from
    /// another client is caught only within its 5-minute window, and only by that client),
    /// or any answer under `never`.
    Close,
    /// A verified query answer that names the order.
    Query,
    /// A verified "no such order": neither generation's answer names an order (APIv3 `404`,
    /// APIv2 `ORDERNOTEXIST`), so nothing can prove it against a replayed one. Reported as
    /// WeChat Pay answered it; before issuing the order again, query it yourself later.
    Unnamed,
}

impl Proof {
    /// `close`, `query` or `unnamed`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Proof::Close => "close",
            Proof::Query => "query",
            Proof::Unnamed => "unnamed",
        }
    }
}

/// The proven end of a confirmed close.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Confirmed {
    /// The order's end: closed (or already closed), paid, or not found.
    pub outcome: CloseOutcome,
    /// What proved it.
    pub proof: Proof,
    /// The order as the query answer described it, when a query proved it (for a paid
    /// order: WeChat Pay's number and the paid time).
    pub order: Option<OrderState>,
    /// Close calls made in all (each with its own retries).
    pub closes: u32,
    /// Queries made in all.
    pub queries: u32,
}

impl Confirmed {
    /// WeChat Pay's order number, when a query proved the order paid.
    #[must_use]
    pub fn transaction_id(&self) -> Option<&str> {
        self.order.as_ref().and_then(|o| o.transaction_id.as_deref())
    }
}

/// A close confirmed by a query where the close alone proves nothing (see the module docs),
/// as one machine of the session's calls. Build it with [`Session::close_confirmed`].
pub struct ConfirmedClose<'s> {
    session: &'s Session,
    close: &'s CloseOrder,
    query: &'s QueryOrder,
    settings: ConfirmSettings,
    stage: Stage<'s>,
    started: Option<Instant>,
    closes: u32,
    queries: u32,
    /// The worst effect of the closes so far, and their attempts.
    effect: OrderEffect,
    attempts: u32,
    last_state: Option<TradeState>,
    /// The last close error, returned should nothing be proven.
    last_error: Option<Error>,
    /// What the last close answered, when it was an outcome (kept when a query confirms it:
    /// "already closed" stays "already closed").
    claimed: Option<CloseOutcome>,
}

enum Stage<'s> {
    /// Not started: the first poll closes.
    Start,
    Close(Box<Call<'s, CloseOrder>>),
    Query(Box<Call<'s, QueryOrder>>),
    /// Waiting, then this.
    Wait(Instant, Next),
    Done,
}

#[derive(Debug, Clone, Copy)]
enum Next {
    Close,
    Query,
}

impl std::fmt::Debug for ConfirmedClose<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfirmedClose")
            .field("closes", &self.closes)
            .field("queries", &self.queries)
            .field("last_state", &self.last_state)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A close of `close` confirmed as `settings` say; `query` asks about the same order
    /// (give [`CloseOrder::query`]).
    pub fn close_confirmed<'s>(
        &'s self,
        close: &'s CloseOrder,
        query: &'s QueryOrder,
        settings: ConfirmSettings,
    ) -> ConfirmedClose<'s> {
        ConfirmedClose {
            session: self,
            close,
            query,
            settings,
            stage: Stage::Start,
            started: None,
            closes: 0,
            queries: 0,
            effect: OrderEffect::NotSent,
            attempts: 0,
            last_state: None,
            last_error: None,
            claimed: None,
        }
    }
}

impl ConfirmedClose<'_> {
    fn done(
        &mut self,
        outcome: CloseOutcome,
        proof: Proof,
        order: Option<OrderState>,
    ) -> Action<Confirmed> {
        self.stage = Stage::Done;
        let (closes, queries) = (self.closes, self.queries);
        Action::Done(Ok(Confirmed { outcome, proof, order, closes, queries }))
    }

    fn fail(&mut self, error: Error) -> Action<Confirmed> {
        self.stage = Stage::Done;
        Action::Done(Err(error))
    }

    /// Nothing proven by the deadline: unknown, with the last state seen and what the closes
    /// may have done.
    fn unproven(&mut self) -> Action<Confirmed> {
        let last_close = self.last_error.take().map(Box::new);
        let request_id = last_close.as_ref().and_then(|e| e.request_id().map(str::to_owned));
        let error =
            Error::from(ErrorKind::Unproven { last_state: self.last_state.clone(), last_close })
                .with_history(self.attempts, self.effect, request_id);
        self.fail(error)
    }

    fn past_deadline(&self, now: Instant) -> bool {
        self.started.is_some_and(|s| now.saturating_duration_since(s) >= self.settings.deadline)
    }

    /// What to do after the close answered.
    fn after_close(
        &mut self,
        result: Result<CloseOutcome, Error>,
        now: Now,
    ) -> Option<Action<Confirmed>> {
        self.closes += 1;
        match result {
            Ok(outcome) => {
                // Under `doubt` only an APIv3 204 is taken as it is (a replay of one lasts
                // five minutes at most); an APIv2 answer can be replayed at any time, and
                // "already closed", "not found" and "paid" name no order.
                let trusted = outcome == CloseOutcome::Closed && !self.close.is_v2();
                let doubt = match self.settings.policy {
                    ConfirmPolicy::Never => false,
                    ConfirmPolicy::Doubt => !trusted,
                    ConfirmPolicy::Always => true,
                };
                if !doubt {
                    return Some(self.done(outcome, Proof::Close, None));
                }
                // An answer we do not believe: the close was sent and may have been done.
                self.effect = OrderEffect::Unknown;
                self.claimed = Some(outcome);
            }
            Err(error) => {
                self.claimed = None;
                self.attempts += error.attempts();
                self.effect = self.effect.max(error.order_effect());
                // Never asked to confirm, or nothing has been done by any close (not sent,
                // or refused): the error says so, and a query would prove nothing more.
                if self.settings.policy == ConfirmPolicy::Never || self.effect.is_unchanged() {
                    return Some(self.fail(error));
                }
                self.last_error = Some(error);
            }
        }
        if self.past_deadline(now.instant) {
            return Some(self.unproven());
        }
        self.stage = Stage::Query(Box::new(self.session.call(self.query)));
        None
    }

    /// What to do after the query answered.
    fn after_query(
        &mut self,
        result: Result<QueryAnswer, Error>,
        now: Now,
    ) -> Option<Action<Confirmed>> {
        self.queries += 1;
        let (next, wait) = match result {
            Ok(QueryAnswer::NotFound) => {
                return Some(self.done(CloseOutcome::NotFound, Proof::Unnamed, None));
            }
            Ok(QueryAnswer::Found(orders)) => {
                let state = combined_state(&orders);
                self.last_state = Some(state.clone());
                let order = orders.first().cloned();
                if state.is_closed() {
                    let outcome = match self.claimed {
                        Some(CloseOutcome::AlreadyClosed) => CloseOutcome::AlreadyClosed,
                        _ => CloseOutcome::Closed,
                    };
                    return Some(self.done(outcome, Proof::Query, order));
                }
                if state.is_paid() {
                    let paid = orders.iter().find(|o| o.trade_state.is_paid()).cloned();
                    return Some(self.done(CloseOutcome::Paid, Proof::Query, paid.or(order)));
                }
                match state {
                    TradeState::NotPay | TradeState::PayError
                        if self.closes < self.settings.max_closes =>
                    {
                        (Next::Close, Duration::ZERO)
                    }
                    // Still unpaid after every close allowed: nothing more to try.
                    TradeState::NotPay | TradeState::PayError => return Some(self.unproven()),
                    _ => (Next::Query, self.settings.paying_wait),
                }
            }
            // Signed under a key this client does not hold, after the call's own
            // certificate refresh: asking again is answered under the same key, so the
            // order's state stays unknown, said at once rather than at the deadline.
            Err(error)
                if matches!(error.kind(), ErrorKind::Verify(VerifyError::UnknownSerial(_))) =>
            {
                let attempts = self.attempts + error.attempts();
                return Some(self.fail(error.with_history(attempts, self.effect, None)));
            }
            Err(_) => (Next::Query, self.settings.query_retry_wait),
        };
        let until = now.instant.checked_add(wait);
        let deadline = self.started.and_then(|s| s.checked_add(self.settings.deadline));
        let Some(until) = until.filter(|u| deadline.is_none_or(|d| *u < d)) else {
            return Some(self.unproven());
        };
        self.stage = Stage::Wait(until, next);
        None
    }
}

impl Machine for ConfirmedClose<'_> {
    type Output = Confirmed;

    fn poll(&mut self, now: Now) -> Action<Confirmed> {
        self.started.get_or_insert(now.instant);
        loop {
            match &mut self.stage {
                Stage::Start => {
                    self.stage = Stage::Close(Box::new(self.session.call(self.close)));
                }
                Stage::Wait(until, next) => {
                    if now.instant < *until {
                        return Action::Wait(Wait::at(*until));
                    }
                    self.stage = match next {
                        Next::Close => Stage::Close(Box::new(self.session.call(self.close))),
                        Next::Query => Stage::Query(Box::new(self.session.call(self.query))),
                    };
                }
                Stage::Close(call) => match call.poll(now) {
                    Action::Done(result) => {
                        if let Some(action) = self.after_close(result, now) {
                            return action;
                        }
                    }
                    other => return crate::call::map_action(other),
                },
                Stage::Query(call) => match call.poll(now) {
                    Action::Done(result) => {
                        if let Some(action) = self.after_query(result, now) {
                            return action;
                        }
                    }
                    other => return crate::call::map_action(other),
                },
                Stage::Done => return Action::Done(Err(crate::call::finished())),
            }
        }
    }

    fn random(&mut self, bytes: Result<[u8; 24], RandomError>) {
        match &mut self.stage {
            Stage::Close(c) => c.random(bytes),
            Stage::Query(q) => q.random(bytes),
            _ => {}
        }
    }

    fn signed(&mut self, signature: Result<Vec<u8>, SignError>) {
        match &mut self.stage {
            Stage::Close(c) => c.signed(signature),
            Stage::Query(q) => q.signed(signature),
            _ => {}
        }
    }

    fn answer(&mut self, now: Now, answer: Result<Response, TransportError>) {
        match &mut self.stage {
            Stage::Close(c) => c.answer(now, answer),
            Stage::Query(q) => q.answer(now, answer),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::run_scripted;
    use crate::error::{TransportErrorKind, VerifyError};
    use crate::v2::{CloseOrderV2, SignType, V2Credentials};
    use crate::{ApiV2Key, ClientConfig, Endpoint, RetryPolicy};

    const KEY: &str = "192006250b4c09247ec02edce69f6a2d";

    fn session() -> Session {
        let key = ApiV2Key::new(KEY).unwrap();
        let config = ClientConfig::builder()
            .v2(V2Credentials::new("wx1", "1", key).unwrap())
            .endpoint(Endpoint::HongKong)
            .retry(RetryPolicy::never())
            .build()
            .unwrap();
        Session::new(config)
    }

    /// A signed APIv2 answer with these fields besides the merchant's, each distinct.
    fn answer(extra: &[(&str, &str)]) -> Result<Response, TransportError> {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let nonce = format!("N{}", N.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let mut fields: Vec<(&str, &str)> = vec![
            ("appid", "wx1"),
            ("mch_id", "1"),
            ("nonce_str", &nonce),
            ("return_code", "SUCCESS"),
        ];
        fields.extend_from_slice(extra);
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

    fn closed() -> Result<Response, TransportError> {
        answer(&[("result_code", "SUCCESS")])
    }

    fn close_says(code: &str) -> Result<Response, TransportError> {
        answer(&[("result_code", "FAIL"), ("err_code", code)])
    }

    fn state(no: &str, state: &str) -> Result<Response, TransportError> {
        let paid = matches!(state, "SUCCESS" | "REFUND");
        let mut fields =
            vec![("result_code", "SUCCESS"), ("out_trade_no", no), ("trade_state", state)];
        if paid {
            fields.extend([
                ("transaction_id", "4200000000202612031234567890"),
                ("time_end", "20261203140000"),
                ("total_fee", "100"),
            ]);
        }
        answer(&fields)
    }

    fn not_found() -> Result<Response, TransportError> {
        answer(&[("result_code", "FAIL"), ("err_code", "ORDERNOTEXIST")])
    }

    fn timeout() -> Result<Response, TransportError> {
        Err(TransportError::new(TransportErrorKind::Timeout, "h", None))
    }

    fn start() -> Now {
        Now { unix: 1_800_000_000, instant: Instant::now() }
    }

    fn confirm(
        settings: ConfirmSettings,
        answers: Vec<Result<Response, TransportError>>,
    ) -> (Result<Confirmed, Error>, Vec<String>, Duration) {
        let s = session();
        let close = CloseOrder::V2(CloseOrderV2::new("order-1"));
        let query = close.query();
        let run = run_scripted(s.close_confirmed(&close, &query, settings), start(), answers);
        let paths = run.sent.iter().map(|r| r.uri().path().to_owned()).collect();
        (run.result, paths, run.waited)
    }

    const CLOSE: &str = "/pay/closeorder";
    const QUERY: &str = "/pay/orderquery";

    #[test]
    fn a_lost_close_answer_is_proven_closed_by_the_query() {
        let (r, paths, _) =
            confirm(ConfirmSettings::default(), vec![timeout(), state("order-1", "CLOSED")]);
        let c = r.unwrap();
        assert_eq!(
            (c.outcome, c.proof, c.closes, c.queries),
            (CloseOutcome::Closed, Proof::Query, 1, 1)
        );
        assert_eq!(paths, [CLOSE, QUERY]);
    }

    #[test]
    fn a_close_that_never_arrived_is_made_again_then_proven() {
        // APIv2 answers can be replayed at any time: even "closed" is proven by a query.
        let (r, paths, _) = confirm(
            ConfirmSettings::default(),
            vec![timeout(), state("order-1", "NOTPAY"), closed(), state("order-1", "CLOSED")],
        );
        let c = r.unwrap();
        assert_eq!((c.outcome, c.proof, c.closes), (CloseOutcome::Closed, Proof::Query, 2));
        assert_eq!(paths, [CLOSE, QUERY, CLOSE, QUERY]);
    }

    #[test]
    fn paid_is_proven_by_the_query_with_the_transaction_id() {
        let (r, _, _) = confirm(
            ConfirmSettings::default(),
            vec![close_says("ORDERPAID"), state("order-1", "SUCCESS")],
        );
        let c = r.unwrap();
        assert_eq!((c.outcome, c.proof), (CloseOutcome::Paid, Proof::Query));
        assert_eq!(c.transaction_id(), Some("4200000000202612031234567890"));
        assert_eq!(c.order.unwrap().paid_at_unix(), Some(1_796_277_600));
    }

    #[test]
    fn a_false_paid_is_not_believed_under_doubt() {
        // A (replayed) "paid" for an order the query proves unpaid: closed again, proven.
        let (r, paths, _) = confirm(
            ConfirmSettings::default(),
            vec![
                close_says("ORDERPAID"),
                state("order-1", "NOTPAY"),
                closed(),
                state("order-1", "CLOSED"),
            ],
        );
        let c = r.unwrap();
        assert_eq!((c.outcome, c.proof), (CloseOutcome::Closed, Proof::Query));
        assert_eq!(paths, [CLOSE, QUERY, CLOSE, QUERY]);
        // Never: the close's word, as a plain close.
        let (r, paths, _) = confirm(
            ConfirmSettings::default().with_policy(ConfirmPolicy::Never),
            vec![close_says("ORDERPAID")],
        );
        assert_eq!((r.unwrap().outcome, paths.len()), (CloseOutcome::Paid, 1));
    }

    #[test]
    fn the_payer_paying_is_waited_for() {
        let settings = ConfirmSettings::default();
        let (r, paths, waited) = confirm(
            settings.clone(),
            vec![
                timeout(),
                state("order-1", "USERPAYING"),
                state("order-1", "USERPAYING"),
                state("order-1", "SUCCESS"),
            ],
        );
        assert_eq!(r.unwrap().outcome, CloseOutcome::Paid);
        assert_eq!(paths, [CLOSE, QUERY, QUERY, QUERY]);
        assert_eq!(waited, settings.paying_wait * 2);
    }

    #[test]
    fn a_query_answer_about_another_order_proves_nothing() {
        let settings = ConfirmSettings::default().with_deadline(Duration::from_secs(3));
        let (r, paths, _) = confirm(
            settings,
            vec![
                timeout(),
                state("order-2", "CLOSED"),
                state("order-2", "CLOSED"),
                state("order-2", "CLOSED"),
                state("order-2", "CLOSED"),
            ],
        );
        let e = r.unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Unproven { last_state: None, .. }), "{e}");
        assert_eq!(e.order_effect(), OrderEffect::Unknown);
        assert!(paths.len() >= 3 && paths[1..].iter().all(|p| p == QUERY), "{paths:?}");
    }

    #[test]
    fn queries_failing_until_the_deadline_leave_the_state_unknown_with_the_close_effect() {
        let settings = ConfirmSettings::default().with_deadline(Duration::from_secs(4));
        let (r, _, waited) = confirm(
            settings,
            vec![timeout(), timeout(), timeout(), timeout(), timeout(), timeout()],
        );
        let e = r.unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Unproven { .. }), "{e}");
        assert_eq!(e.order_effect(), OrderEffect::Unknown);
        assert!(waited < Duration::from_secs(4), "{waited:?}");
    }

    #[test]
    fn policies_decide_when_to_query() {
        // Doubt: an APIv2 "closed" (replayable at any time) is proven by a query; Never: the
        // close's word; Always: a query too.
        let (r, paths, _) =
            confirm(ConfirmSettings::default(), vec![closed(), state("order-1", "CLOSED")]);
        assert_eq!((r.unwrap().proof, paths.len()), (Proof::Query, 2));
        let never = ConfirmSettings::default().with_policy(ConfirmPolicy::Never);
        let (r, paths, _) = confirm(never.clone(), vec![closed()]);
        assert_eq!((r.unwrap().proof, paths.len()), (Proof::Close, 1));
        // "Not found" names no order, in the close's answer or the query's: reported as
        // answered, marked unnamed.
        let (r, _, _) =
            confirm(ConfirmSettings::default(), vec![close_says("ORDERNOTEXIST"), not_found()]);
        let c = r.unwrap();
        assert_eq!((c.outcome, c.proof), (CloseOutcome::NotFound, Proof::Unnamed));
        // A query's answer sent in place of the close's is not "closed".
        let (r, _, _) = confirm(never, vec![state("order-1", "NOTPAY")]);
        let e = r.unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Decode(_)), "{e}");
        // A doubted answer, then a refusal: the first close may have been done, so unknown.
        let (r, _, _) = confirm(
            ConfirmSettings::default(),
            vec![close_says("ORDERPAID"), state("order-1", "NOTPAY"), close_says("RULE_LIMIT")],
        );
        assert_eq!(r.unwrap_err().order_effect(), OrderEffect::Unknown);
        // Deadlines and waits of any size do not overflow.
        let huge = ConfirmSettings::default()
            .with_deadline(Duration::MAX)
            .with_waits(Duration::MAX, Duration::MAX);
        let (r, _, _) = confirm(huge, vec![timeout(), state("order-1", "USERPAYING")]);
        assert!(matches!(r.unwrap_err().kind(), ErrorKind::Unproven { .. }));
        let always = ConfirmSettings::default().with_policy(ConfirmPolicy::Always);
        let (r, paths, _) = confirm(always, vec![closed(), state("order-1", "CLOSED")]);
        assert_eq!(
            (r.unwrap().proof, paths),
            (Proof::Query, vec![CLOSE.to_owned(), QUERY.to_owned()])
        );
        // Nothing done (a refusal, unchanged): the error, no query.
        let (r, paths, _) = confirm(ConfirmSettings::default(), vec![close_says("RULE_LIMIT")]);
        assert_eq!((r.unwrap_err().order_effect(), paths.len()), (OrderEffect::Refused, 1));
        // A replayed query answer is not believed either.
        let s = session();
        let close = CloseOrder::V2(CloseOrderV2::new("order-1"));
        let query = close.query();
        let same = state("order-1", "CLOSED").unwrap();
        let copy = || {
            let mut r = http::Response::new(same.body().clone());
            *r.status_mut() = same.status();
            Ok(r)
        };
        let first = run_scripted(
            s.close_confirmed(&close, &query, ConfirmSettings::default()),
            start(),
            vec![timeout(), copy()],
        );
        assert_eq!(first.result.unwrap().outcome, CloseOutcome::Closed);
        let settings = ConfirmSettings::default().with_deadline(Duration::from_secs(2));
        let again = run_scripted(
            s.close_confirmed(&close, &query, settings),
            start(),
            vec![timeout(), copy(), copy()],
        );
        let e = again.result.unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Unproven { .. }), "{e}");
        let _ = VerifyError::Replayed;
    }
}
