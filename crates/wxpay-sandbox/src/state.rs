//! The sandbox's memory: orders and scripted faults.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::order::{Closing, Order, OrderKey, OrderState};

/// An endpoint of the sandbox's WeChat Pay side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `POST /pay/closeorder`.
    V2Close,
    /// `POST /v3/pay/transactions/out-trade-no/{no}/close`.
    V3Direct,
    /// `POST /v3/pay/partner/transactions/out-trade-no/{no}/close`.
    V3Partner,
    /// `POST /v3/combine-transactions/out-trade-no/{no}/close`.
    V3Combined,
    /// `POST /v3/global/transactions/out-trade-no/{no}/close` (cross-border).
    V3Global,
    /// `POST /v3/global/transactions/id/{transaction_id}/close` (cross-border).
    V3GlobalById,
    /// `GET /v3/certificates` and `GET /v3/global/certificates`.
    V3Certificates,
}

impl Route {
    /// Every route.
    pub const ALL: [Route; 7] = [
        Route::V2Close,
        Route::V3Direct,
        Route::V3Partner,
        Route::V3Combined,
        Route::V3Global,
        Route::V3GlobalById,
        Route::V3Certificates,
    ];

    /// `v2`, `v3_direct`, `v3_partner`, `v3_combined`, `v3_global`, `v3_global_id`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Route::V2Close => "v2",
            Route::V3Direct => "v3_direct",
            Route::V3Partner => "v3_partner",
            Route::V3Combined => "v3_combined",
            Route::V3Global => "v3_global",
            Route::V3GlobalById => "v3_global_id",
            Route::V3Certificates => "v3_certificates",
        }
    }

    /// Reads what [`as_str`](Self::as_str) writes.
    #[must_use]
    pub fn parse(s: &str) -> Option<Route> {
        Route::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// A way to misbehave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A server fault: APIv2 `SYSTEMERROR` (signed), APIv3 500 `SYSTEM_ERROR`.
    SystemError,
    /// Too many calls: APIv2 `FREQUENCY_LIMITED` (signed), APIv3 429 `FREQUENCY_LIMITED`.
    FrequencyLimited,
    /// Wait this long, then answer normally (the close still happens).
    Delay(Duration),
    /// Close the connection before reading the request. Unscoped, it drops the next
    /// connections on accept; scoped, after reading the request head (APIv3 order scopes
    /// match the path; an APIv2 order scope cannot, as its order number is in the body).
    DropBeforeRead,
    /// Read the request, close the order, then close the connection without answering.
    DropAfterRead,
    /// Answer with a `Content-Length` longer than the body sent, then close.
    TruncatedBody,
    /// A signature that does not match.
    BadSignature,
    /// No signature at all (APIv3: no `Wechatpay-*` headers; APIv2: no `sign`).
    MissingSignature,
    /// A `WECHATPAY/SIGNTEST/` probe signature (APIv3; APIv2 answers get a bad `sign`).
    SignTestProbe,
    /// A correctly signed answer whose timestamp is 10 minutes old.
    StaleTimestamp,
    /// A body that is not valid XML or JSON.
    MalformedBody,
    /// A 1 MiB body.
    OversizedBody,
    /// APIv3: a good signature under a `Wechatpay-Serial` no client can know (a forger's).
    ForgedSerial,
    /// The answer as WeChat Pay signs it, under another HTTP status (the signature does not
    /// cover the status line): what someone in the path can do to a genuine answer.
    RelabelStatus(u16),
    /// The route's last signed answer sent again, as it was, instead of an answer to this
    /// request (the order is not touched): a replay. Until a route has answered once, the
    /// request is answered normally.
    Replay,
    /// Unsigned text holding terminal escape sequences (APIv2: a `return_code=FAIL`
    /// `return_msg`; APIv3: a 400 whose body is that text), as a forger would send.
    EscapeText,
    /// APIv3: a signed `202 {"code":"USER_PAYING"}`: the payer is entering a password (the
    /// order is not touched).
    UserPaying,
}

/// The text of [`Fault::EscapeText`]: clears the screen and paints a false "closed".
pub const ESCAPE_TEXT: &str =
    "\u{1b}[2J\u{1b}[H\u{1b}[32mclosed, the order can no longer be paid\u{1b}[0m";

impl Fault {
    /// The fault's name in the control API (`system_error`, `delay`, …).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Fault::SystemError => "system_error",
            Fault::FrequencyLimited => "frequency_limited",
            Fault::Delay(_) => "delay",
            Fault::DropBeforeRead => "drop_before_read",
            Fault::DropAfterRead => "drop_after_read",
            Fault::TruncatedBody => "truncated_body",
            Fault::BadSignature => "bad_signature",
            Fault::MissingSignature => "missing_signature",
            Fault::SignTestProbe => "signtest_probe",
            Fault::StaleTimestamp => "stale_timestamp",
            Fault::ForgedSerial => "forged_serial",
            Fault::MalformedBody => "malformed_body",
            Fault::OversizedBody => "oversized_body",
            Fault::RelabelStatus(_) => "relabel_status",
            Fault::Replay => "replay",
            Fault::EscapeText => "escape_text",
            Fault::UserPaying => "user_paying",
        }
    }

    /// Every fault's name, as the control API takes them.
    pub const NAMES: [&'static str; 17] = [
        "system_error",
        "frequency_limited",
        "delay",
        "drop_before_read",
        "drop_after_read",
        "truncated_body",
        "bad_signature",
        "missing_signature",
        "signtest_probe",
        "stale_timestamp",
        "forged_serial",
        "malformed_body",
        "oversized_body",
        "relabel_status",
        "replay",
        "escape_text",
        "user_paying",
    ];

    /// Reads a fault by name; `delay` takes `delay_ms`, `relabel_status` takes `status`.
    #[must_use]
    pub fn parse(name: &str, delay_ms: u64, status: u16) -> Option<Fault> {
        Some(match name {
            "system_error" => Fault::SystemError,
            "frequency_limited" => Fault::FrequencyLimited,
            "delay" => Fault::Delay(Duration::from_millis(delay_ms)),
            "drop_before_read" => Fault::DropBeforeRead,
            "drop_after_read" => Fault::DropAfterRead,
            "truncated_body" => Fault::TruncatedBody,
            "bad_signature" => Fault::BadSignature,
            "missing_signature" => Fault::MissingSignature,
            "signtest_probe" => Fault::SignTestProbe,
            "stale_timestamp" => Fault::StaleTimestamp,
            "forged_serial" => Fault::ForgedSerial,
            "malformed_body" => Fault::MalformedBody,
            "oversized_body" => Fault::OversizedBody,
            "relabel_status" if (100..=599).contains(&status) => Fault::RelabelStatus(status),
            "replay" => Fault::Replay,
            "escape_text" => Fault::EscapeText,
            "user_paying" => Fault::UserPaying,
            _ => return None,
        })
    }
}

/// A scripted fault and where it applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    /// What goes wrong.
    pub fault: Fault,
    /// Only on this endpoint (any when `None`).
    pub endpoint: Option<Route>,
    /// Only for this order number (any when `None`).
    pub out_trade_no: Option<String>,
    /// For this many matching requests (for ever when `None`).
    pub times: Option<u32>,
}

impl FaultRule {
    /// `fault` on every request from now on, until cleared.
    #[must_use]
    pub fn always(fault: Fault) -> Self {
        FaultRule { fault, endpoint: None, out_trade_no: None, times: None }
    }

    /// `fault` on the next `n` requests.
    #[must_use]
    pub fn next(fault: Fault, n: u32) -> Self {
        FaultRule { fault, endpoint: None, out_trade_no: None, times: Some(n) }
    }

    /// Only on `endpoint`.
    #[must_use]
    pub fn on(mut self, endpoint: Route) -> Self {
        self.endpoint = Some(endpoint);
        self
    }

    /// Only for order `out_trade_no`.
    #[must_use]
    pub fn for_order(mut self, out_trade_no: impl Into<String>) -> Self {
        self.out_trade_no = Some(out_trade_no.into());
        self
    }

    fn is_unscoped(&self) -> bool {
        self.endpoint.is_none() && self.out_trade_no.is_none()
    }
}

/// A step of a platform-certificate rotation, as WeChat Pay makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationStep {
    /// List the next certificate, ahead of signing with it (WeChat Pay: about 24 hours).
    Add,
    /// Sign with the newest listed certificate.
    Switch,
    /// Stop listing the oldest certificate that no longer signs.
    Retire,
}

impl RotationStep {
    /// Every step, in the order a rotation takes them.
    pub const ALL: [RotationStep; 3] =
        [RotationStep::Add, RotationStep::Switch, RotationStep::Retire];

    /// `add`, `switch` or `retire`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            RotationStep::Add => "add",
            RotationStep::Switch => "switch",
            RotationStep::Retire => "retire",
        }
    }

    /// Reads what [`as_str`](Self::as_str) writes.
    #[must_use]
    pub fn parse(s: &str) -> Option<RotationStep> {
        RotationStep::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Which platform certificates are listed, and which one signs (indexes into
/// [`PLATFORM_CERTIFICATES`](crate::merchants::PLATFORM_CERTIFICATES)).
#[derive(Debug)]
struct Rotation {
    listed: Vec<usize>,
    signing: usize,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation { listed: vec![0], signing: 0 }
    }
}

/// WeChat Pay's order number within a merchant (and sub-merchant): an [`OrderKey`] whose
/// `out_trade_no` holds the `transaction_id`.
type TransactionKey = OrderKey;

/// Orders, faults and counters, shared by every connection.
#[derive(Debug, Default)]
pub struct State {
    orders: Mutex<HashMap<OrderKey, Order>>,
    /// WeChat Pay's order numbers → the orders.
    transaction_ids: Mutex<HashMap<TransactionKey, OrderKey>>,
    rotation: Mutex<Rotation>,
    certificate_downloads: AtomicU64,
    faults: Mutex<Vec<FaultRule>>,
    requests: AtomicU64,
}

/// Locks, recovering the data if another thread panicked while holding the lock (the
/// sandbox's maps stay consistent: every update is a single insert or field change).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl State {
    /// Creates (or replaces) an order, made an hour ago: old enough to close.
    pub fn put_order(&self, key: OrderKey, state: OrderState) {
        let created = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        self.put_order_created(key, state, created);
    }

    /// Creates (or replaces) an order made at `created`: a moment ago makes an order that
    /// the 5-minute rule keeps open.
    pub fn put_order_created(
        &self,
        key: OrderKey,
        state: OrderState,
        created: std::time::SystemTime,
    ) {
        let secs = created.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        self.insert_order(key, state, secs);
    }

    pub(crate) fn insert_order(&self, key: OrderKey, state: OrderState, created_at: u64) {
        lock(&self.orders).insert(key, Order { state, created_at, close_calls: 0, closes: 0 });
    }

    /// Takes one step of a platform-certificate rotation.
    ///
    /// # Errors
    /// What cannot be done: no certificate left to add, the newest already signing, or no
    /// retired-to-be certificate besides the signing one.
    pub fn rotate_certificate(&self, step: RotationStep) -> Result<(), &'static str> {
        let mut r = lock(&self.rotation);
        let total = crate::merchants::PLATFORM_CERTIFICATES.len();
        match step {
            RotationStep::Add => {
                let next = r.listed.iter().max().map_or(0, |m| m + 1);
                if next >= total {
                    return Err("every platform certificate is listed already");
                }
                r.listed.push(next);
            }
            RotationStep::Switch => {
                let newest = *r.listed.iter().max().ok_or("no certificate is listed")?;
                if newest == r.signing {
                    return Err("the newest listed certificate signs already");
                }
                r.signing = newest;
            }
            RotationStep::Retire => {
                let signing = r.signing;
                let oldest = r.listed.iter().copied().filter(|i| *i != signing).min();
                let oldest = oldest.ok_or("only the signing certificate is listed")?;
                r.listed.retain(|i| *i != oldest);
            }
        }
        Ok(())
    }

    /// The listed platform certificates' indexes, and the one that signs.
    #[must_use]
    pub fn platform_certificates(&self) -> (Vec<usize>, usize) {
        let r = lock(&self.rotation);
        (r.listed.clone(), r.signing)
    }

    pub(crate) fn count_certificate_download(&self) {
        self.certificate_downloads.fetch_add(1, Ordering::Relaxed);
    }

    /// How many certificate lists were served.
    #[must_use]
    pub fn certificate_downloads(&self) -> u64 {
        self.certificate_downloads.load(Ordering::Relaxed)
    }

    /// Gives an order WeChat Pay's order number `transaction_id` too, so that a cross-border
    /// close can name it either way.
    pub fn set_transaction_id(&self, key: &OrderKey, transaction_id: impl Into<String>) {
        let id = OrderKey {
            mchid: key.mchid.clone(),
            sub_mchid: key.sub_mchid.clone(),
            out_trade_no: transaction_id.into(),
        };
        lock(&self.transaction_ids).insert(id, key.clone());
    }

    /// The order that WeChat Pay numbered `transaction_id`, for merchant `mchid` (and
    /// sub-merchant `sub_mchid`).
    #[must_use]
    pub fn order_by_transaction_id(
        &self,
        mchid: &str,
        sub_mchid: Option<&str>,
        transaction_id: &str,
    ) -> Option<OrderKey> {
        let id = OrderKey {
            mchid: mchid.to_owned(),
            sub_mchid: sub_mchid.map(str::to_owned),
            out_trade_no: transaction_id.to_owned(),
        };
        lock(&self.transaction_ids).get(&id).cloned()
    }

    /// An order, if it exists.
    #[must_use]
    pub fn order(&self, key: &OrderKey) -> Option<Order> {
        lock(&self.orders).get(key).cloned()
    }

    /// Marks an unpaid order paid (as the payer's payment would); false if there is no such
    /// order or it is closed.
    pub fn pay(&self, key: &OrderKey) -> bool {
        match lock(&self.orders).get_mut(key) {
            Some(order) if order.state != OrderState::Closed => {
                order.state = OrderState::Paid;
                true
            }
            _ => false,
        }
    }

    /// The number of orders held.
    #[must_use]
    pub fn order_count(&self) -> usize {
        lock(&self.orders).len()
    }

    /// Closes one order, atomically.
    pub(crate) fn close(&self, key: &OrderKey, now: u64, min_delay: u64) -> Closing {
        self.close_all(std::slice::from_ref(key), now, min_delay)
    }

    /// Closes several orders (a combined order) atomically: all or none.
    pub(crate) fn close_all(&self, keys: &[OrderKey], now: u64, min_delay: u64) -> Closing {
        let mut orders = lock(&self.orders);
        let mut verdict = Closing::AlreadyClosed;
        for key in keys {
            let Some(order) = orders.get_mut(key) else { return Closing::NotFound };
            order.close_calls += 1;
            match order.state {
                OrderState::Paid => return Closing::Paid,
                // The 5-minute rule (or the configured delay): the core's.
                OrderState::Unpaid
                    if wxpay_core::server::check_close_delay(order.created_at, now, min_delay)
                        .is_err() =>
                {
                    return Closing::TooEarly;
                }
                OrderState::Unpaid => verdict = Closing::Closed,
                OrderState::Closed => {}
            }
        }
        if verdict == Closing::Closed {
            for key in keys {
                if let Some(order) = orders.get_mut(key) {
                    if order.state == OrderState::Unpaid {
                        order.state = OrderState::Closed;
                        order.closes += 1;
                    }
                }
            }
        }
        verdict
    }

    /// Scripts a fault.
    pub fn add_fault(&self, rule: FaultRule) {
        // A rule for zero times never fires.
        if rule.times != Some(0) {
            lock(&self.faults).push(rule);
        }
    }

    /// Removes every scripted fault.
    pub fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    /// Requests answered or dropped so far (WeChat Pay paths only).
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub(crate) fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one use of an unscoped drop-before-read rule, for a new connection.
    pub(crate) fn take_connection_drop(&self) -> bool {
        let mut faults = lock(&self.faults);
        let found = faults.iter().position(|r| r.fault == Fault::DropBeforeRead && r.is_unscoped());
        found.is_some_and(|i| use_rule(&mut faults, i))
    }

    /// Takes one use of the first rule that matches, if any. `out_trade_no` is `None` when
    /// not yet known (before the body is read): then only rules without an order scope match.
    pub(crate) fn take_fault(
        &self,
        endpoint: Route,
        out_trade_no: Option<&str>,
        stage: impl Fn(Fault) -> bool,
    ) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        let i = faults.iter().position(|r| {
            stage(r.fault)
                && r.endpoint.is_none_or(|e| e == endpoint)
                && match (&r.out_trade_no, out_trade_no) {
                    (None, _) => true,
                    (Some(want), Some(got)) => want == got,
                    (Some(_), None) => false,
                }
        })?;
        let fault = faults[i].fault;
        use_rule(&mut faults, i);
        Some(fault)
    }
}

/// Counts one use of rule `i`, removing it when used up. Always true.
fn use_rule(faults: &mut Vec<FaultRule>, i: usize) -> bool {
    match &mut faults[i].times {
        Some(n) if *n <= 1 => {
            faults.remove(i);
        }
        Some(n) => *n -= 1,
        None => {}
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closing_follows_the_order_state() {
        let s = State::default();
        let k = OrderKey::new("m", "o1");
        assert_eq!(s.close(&k, 1000, 300), Closing::NotFound);
        s.insert_order(k.clone(), OrderState::Unpaid, 900);
        assert_eq!(s.close(&k, 1000, 300), Closing::TooEarly);
        assert_eq!(s.close(&k, 1200, 300), Closing::Closed);
        assert_eq!(s.close(&k, 1200, 300), Closing::AlreadyClosed);
        assert!(!s.pay(&k));
        let order = s.order(&k).unwrap();
        assert_eq!((order.state, order.close_calls, order.closes), (OrderState::Closed, 4 - 1, 1));
        let p = OrderKey::new("m", "o2");
        s.insert_order(p.clone(), OrderState::Unpaid, 0);
        assert!(s.pay(&p));
        assert_eq!(s.close(&p, 1000, 300), Closing::Paid);
    }

    #[test]
    fn combined_closes_are_all_or_nothing() {
        let s = State::default();
        let (a, b) = (OrderKey::new("m", "a"), OrderKey::new("m", "b"));
        s.insert_order(a.clone(), OrderState::Unpaid, 0);
        s.insert_order(b.clone(), OrderState::Paid, 0);
        assert_eq!(s.close_all(&[a.clone(), b.clone()], 1000, 300), Closing::Paid);
        assert_eq!(s.order(&a).unwrap().state, OrderState::Unpaid);
        s.insert_order(b.clone(), OrderState::Closed, 0);
        assert_eq!(s.close_all(&[a.clone(), b.clone()], 1000, 300), Closing::Closed);
        assert_eq!(s.order(&a).unwrap().state, OrderState::Closed);
    }

    #[test]
    fn faults_match_by_scope_and_run_out() {
        let s = State::default();
        s.add_fault(FaultRule::next(Fault::SystemError, 2).on(Route::V2Close));
        s.add_fault(FaultRule::always(Fault::BadSignature).for_order("x"));
        let any = |_| true;
        assert_eq!(s.take_fault(Route::V3Direct, Some("y"), any), None);
        assert_eq!(s.take_fault(Route::V2Close, None, any), Some(Fault::SystemError));
        assert_eq!(s.take_fault(Route::V2Close, None, any), Some(Fault::SystemError));
        assert_eq!(s.take_fault(Route::V2Close, None, any), None);
        assert_eq!(s.take_fault(Route::V3Direct, Some("x"), any), Some(Fault::BadSignature));
        assert_eq!(s.take_fault(Route::V3Direct, Some("x"), any), Some(Fault::BadSignature));
        s.add_fault(FaultRule::next(Fault::DropBeforeRead, 1));
        assert!(s.take_connection_drop());
        assert!(!s.take_connection_drop());
    }
}
