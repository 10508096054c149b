//! The sandbox's memory: orders and scripted faults.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::config::KeyMode;
/// The sandbox's routes are wxpay's calls, under their stable names.
pub(crate) use wxpay_core::CallKind as Route;

use crate::order::{Closing, NewOrder, Order, OrderKey, OrderState, Paying};

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
    /// The payer is entering a password as the request arrives: an unpaid order turns
    /// paying for [`DEFAULT_PAYING_SECS`](crate::DEFAULT_PAYING_SECS), then unpaid again. A close
    /// is answered as the close of a paying order is (APIv3: a signed `202
    /// {"code":"USER_PAYING"}`; APIv2: a signed `err_code=USERPAYING`); a query answers
    /// `USERPAYING`.
    UserPaying,
    /// [`UserPaying`](Self::UserPaying), paying for this many seconds (`paying_secs`).
    UserPayingFor(u64),
    /// The payer pays as the request arrives: the order (every payable sub-order of a
    /// combined close) becomes paid, with a `transaction_id`, before it is answered: a close
    /// answers "paid", a query `SUCCESS`.
    PayDuringClose,
    /// A query answered, correctly signed, about another order of the same merchant (another
    /// `out_trade_no`, and another `transaction_id` when the order has one), as someone in
    /// the path could send: the signature does not say which order was asked about.
    QueryOtherOrder,
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
            Fault::UserPaying | Fault::UserPayingFor(_) => "user_paying",
            Fault::PayDuringClose => "pay_during_close",
            Fault::QueryOtherOrder => "query_other_order",
        }
    }

    /// How long [`UserPaying`](Self::UserPaying) keeps the order paying.
    #[must_use]
    pub fn paying_secs(self) -> Option<u64> {
        match self {
            Fault::UserPaying => Some(crate::order::DEFAULT_PAYING_SECS),
            Fault::UserPayingFor(secs) => Some(secs),
            _ => None,
        }
    }

    /// Every fault's name, as the control API takes them.
    pub const NAMES: [&'static str; 19] = [
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
        "pay_during_close",
        "query_other_order",
    ];

    /// Reads a fault by name; `delay` takes `delay_ms`, `relabel_status` takes `status`
    /// (`user_paying` is [`UserPaying`](Self::UserPaying), for the default time).
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
            "pay_during_close" => Fault::PayDuringClose,
            "query_other_order" => Fault::QueryOtherOrder,
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

fn transaction_key(key: &OrderKey, transaction_id: &str) -> TransactionKey {
    OrderKey {
        mchid: key.mchid.clone(),
        sub_mchid: key.sub_mchid.clone(),
        out_trade_no: transaction_id.to_owned(),
    }
}

/// A combined order: the app it was placed with and its sub-orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CombinedOrder {
    /// `combine_appid`.
    pub combine_appid: String,
    /// The sub-orders, each a merchant's (or a sub-merchant's) own order.
    pub sub_orders: Vec<OrderKey>,
}

/// WeChat Pay's order numbers: the orders they name, and the ones the sandbox gave.
#[derive(Debug, Default)]
struct Ids {
    by_transaction: HashMap<TransactionKey, OrderKey>,
    issued: u64,
}

impl Ids {
    /// A new `transaction_id` for `key`, paid at `at`: `4200000000`, the Beijing date and a
    /// sequence number (28 digits, as WeChat Pay's).
    fn issue(&mut self, key: &OrderKey, at: u64) -> String {
        let date: String = crate::answer::compact_time(at).chars().take(8).collect();
        loop {
            self.issued += 1;
            let id = format!("4200000000{date:0>8}{:010}", self.issued % 10_000_000_000);
            if let std::collections::hash_map::Entry::Vacant(e) =
                self.by_transaction.entry(transaction_key(key, &id))
            {
                e.insert(key.clone());
                return id;
            }
        }
    }

    /// Marks `order` paid at `at`, giving it a `transaction_id` if it has none.
    fn mark_paid(&mut self, key: &OrderKey, order: &mut Order, at: u64) {
        order.state = OrderState::Paid;
        order.paying = None;
        order.paid_at = Some(at);
        if order.transaction_id.is_none() {
            order.transaction_id = Some(self.issue(key, at));
        }
    }

    /// A paying order whose time is up at `now` turns into its next state.
    fn settle(&mut self, key: &OrderKey, order: &mut Order, now: u64) {
        let Some(paying) = order.paying else { return };
        if order.state != OrderState::Paying {
            order.paying = None;
            return;
        }
        if now < paying.until {
            return;
        }
        order.paying = None;
        if paying.then == OrderState::Paid {
            self.mark_paid(key, order, paying.until);
        } else {
            order.state = OrderState::Unpaid;
        }
    }
}

/// The orders and their numbers, under one lock.
#[derive(Debug, Default)]
struct Orders {
    by_key: HashMap<OrderKey, Order>,
    ids: Ids,
    /// Combined orders by combining merchant and `combine_out_trade_no`.
    combined: HashMap<(String, String), CombinedOrder>,
}

impl Orders {
    /// The order, read at `now`.
    fn get(&mut self, key: &OrderKey, now: u64) -> Option<&mut Order> {
        let order = self.by_key.get_mut(key)?;
        self.ids.settle(key, order, now);
        Some(order)
    }
}

/// Whether the payer can still pay an order in this state.
fn payable(state: OrderState) -> bool {
    matches!(state, OrderState::Unpaid | OrderState::PayError | OrderState::Paying)
}

/// The APIv3 merchants' key modes: one for all, and each merchant's own once set.
#[derive(Debug, Default)]
struct Keys {
    all: KeyMode,
    merchants: HashMap<&'static str, KeyMode>,
}

/// Orders, faults and counters, shared by every connection.
#[derive(Debug, Default)]
pub struct State {
    orders: Mutex<Orders>,
    rotation: Mutex<Rotation>,
    keys: Mutex<Keys>,
    certificate_downloads: AtomicU64,
    global_certificate_downloads: AtomicU64,
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
        self.put(key, NewOrder::new(state, created_at));
    }

    /// Creates (or replaces) an order as `new` says: its amount, WeChat Pay's number (a paid
    /// or refunded order without one is given one), how long it stays paying. A replaced
    /// order's `transaction_id` no longer finds it.
    pub fn put(&self, key: OrderKey, new: NewOrder) {
        let now = crate::answer::now();
        let mut orders = lock(&self.orders);
        let mut order = new.into_order(now);
        if let Some(old) = orders.by_key.get(&key).and_then(|o| o.transaction_id.clone()) {
            orders.ids.by_transaction.remove(&transaction_key(&key, &old));
        }
        match &order.transaction_id {
            Some(t) => {
                orders.ids.by_transaction.insert(transaction_key(&key, t), key.clone());
            }
            None if order.state.is_paid() => {
                let at = order.paid_at.unwrap_or(now);
                order.transaction_id = Some(orders.ids.issue(&key, at));
            }
            None => {}
        }
        orders.by_key.insert(key, order);
    }

    /// Records a combined order: `combine_mchid`'s `combine_out_trade_no`, made of
    /// `combined.sub_orders` (which are orders of their own, made with [`put`](Self::put)).
    /// A combined close records the combined order it closes, if it is not known yet.
    pub fn put_combined(
        &self,
        combine_mchid: impl Into<String>,
        combine_out_trade_no: impl Into<String>,
        combined: CombinedOrder,
    ) {
        let id = (combine_mchid.into(), combine_out_trade_no.into());
        lock(&self.orders).combined.insert(id, combined);
    }

    /// Records a combined order unless one of that number is known.
    pub(crate) fn remember_combined(&self, combine_mchid: &str, no: &str, combined: CombinedOrder) {
        let id = (combine_mchid.to_owned(), no.to_owned());
        lock(&self.orders).combined.entry(id).or_insert(combined);
    }

    /// A combined order, if known.
    #[must_use]
    pub fn combined(
        &self,
        combine_mchid: &str,
        combine_out_trade_no: &str,
    ) -> Option<CombinedOrder> {
        let id = (combine_mchid.to_owned(), combine_out_trade_no.to_owned());
        lock(&self.orders).combined.get(&id).cloned()
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

    /// The key mode of APIv3 merchant `mchid` (a service provider's for its sub-merchants):
    /// its own once set, else the one every merchant has ([`SandboxConfig::keys`](crate::SandboxConfig::keys)
    /// at start). An id that is no APIv3 merchant of the sandbox has that one too.
    #[must_use]
    pub fn key_mode(&self, mchid: &str) -> KeyMode {
        let keys = lock(&self.keys);
        keys.merchants.get(mchid).copied().unwrap_or(keys.all)
    }

    /// Every APIv3 merchant's key mode, in the order of
    /// [`V3_MERCHANTS`](crate::merchants::V3_MERCHANTS).
    #[must_use]
    pub fn key_modes(&self) -> Vec<(&'static str, KeyMode)> {
        let keys = lock(&self.keys);
        crate::merchants::V3_MERCHANTS
            .iter()
            .map(|m| (m.mchid, keys.merchants.get(m.mchid).copied().unwrap_or(keys.all)))
            .collect()
    }

    /// Switches APIv3 merchant `mchid` to `mode` from its next request on (a merchant's move
    /// to the public key, say); false, and nothing changed, if the sandbox has no such APIv3
    /// merchant.
    pub fn set_key_mode(&self, mchid: &str, mode: KeyMode) -> bool {
        let Some(merchant) = crate::merchants::v3_merchant(mchid) else { return false };
        lock(&self.keys).merchants.insert(merchant.mchid, mode);
        true
    }

    /// Puts every APIv3 merchant in `mode`, forgetting the modes set one by one.
    pub fn set_all_key_modes(&self, mode: KeyMode) {
        let mut keys = lock(&self.keys);
        keys.all = mode;
        keys.merchants.clear();
    }

    /// The listed platform certificates' indexes, and the one that signs.
    #[must_use]
    pub fn platform_certificates(&self) -> (Vec<usize>, usize) {
        let r = lock(&self.rotation);
        (r.listed.clone(), r.signing)
    }

    pub(crate) fn count_certificate_download(&self, global: bool) {
        self.certificate_downloads.fetch_add(1, Ordering::Relaxed);
        if global {
            self.global_certificate_downloads.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many certificate lists were served (either list).
    #[must_use]
    pub fn certificate_downloads(&self) -> u64 {
        self.certificate_downloads.load(Ordering::Relaxed)
    }

    /// How many of them were the cross-border list (`GET /v3/global/certificates`).
    #[must_use]
    pub fn global_certificate_downloads(&self) -> u64 {
        self.global_certificate_downloads.load(Ordering::Relaxed)
    }

    /// Gives an order WeChat Pay's order number `transaction_id` (replacing the one it had),
    /// so that a close or query can name it either way; false if there is no such order.
    pub fn set_transaction_id(&self, key: &OrderKey, transaction_id: impl Into<String>) -> bool {
        let transaction_id = transaction_id.into();
        let mut orders = lock(&self.orders);
        let Orders { by_key, ids, .. } = &mut *orders;
        let Some(order) = by_key.get_mut(key) else { return false };
        if let Some(old) = order.transaction_id.replace(transaction_id.clone()) {
            ids.by_transaction.remove(&transaction_key(key, &old));
        }
        ids.by_transaction.insert(transaction_key(key, &transaction_id), key.clone());
        true
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
        lock(&self.orders).ids.by_transaction.get(&id).cloned()
    }

    /// An order, if it exists, as of now (a paying order whose time is up has turned into
    /// its next state).
    #[must_use]
    pub fn order(&self, key: &OrderKey) -> Option<Order> {
        self.order_at(key, crate::answer::now())
    }

    pub(crate) fn order_at(&self, key: &OrderKey, now: u64) -> Option<Order> {
        lock(&self.orders).get(key, now).map(|o| o.clone())
    }

    /// Marks an order paid (as the payer's payment would), with a `transaction_id` if it had
    /// none; true if it is paid now, false if there is no such order or it can no longer be
    /// paid (closed, revoked, refunded).
    pub fn pay(&self, key: &OrderKey) -> bool {
        self.pay_at(key, crate::answer::now())
    }

    pub(crate) fn pay_at(&self, key: &OrderKey, now: u64) -> bool {
        let mut orders = lock(&self.orders);
        let Orders { by_key, ids, .. } = &mut *orders;
        let Some(order) = by_key.get_mut(key) else { return false };
        ids.settle(key, order, now);
        match order.state {
            OrderState::Paid => true,
            s if payable(s) => {
                ids.mark_paid(key, order, now);
                true
            }
            _ => false,
        }
    }

    /// Makes an unpaid (or failed) order paying for `secs` from now, then `then` (paid, or
    /// unpaid otherwise); false if there is no such order or it is in another state.
    pub fn set_paying(&self, key: &OrderKey, secs: u64, then: OrderState) -> bool {
        let now = crate::answer::now();
        let mut orders = lock(&self.orders);
        let Some(order) = orders.get(key, now) else { return false };
        if !matches!(order.state, OrderState::Unpaid | OrderState::PayError) {
            return false;
        }
        let then = if then == OrderState::Paid { OrderState::Paid } else { OrderState::Unpaid };
        order.state = OrderState::Paying;
        order.paying = Some(Paying { until: now.saturating_add(secs), then });
        true
    }

    /// What a fault does to the order a request names, before it is answered: the payer
    /// starts paying (`user_paying`) or pays (`pay_during_close`).
    pub(crate) fn fault_on_order(&self, key: &OrderKey, fault: Option<Fault>, now: u64) {
        match fault {
            Some(f @ (Fault::UserPaying | Fault::UserPayingFor(_))) => {
                let secs = f.paying_secs().unwrap_or(crate::order::DEFAULT_PAYING_SECS);
                self.set_paying(key, secs, OrderState::Unpaid);
            }
            Some(Fault::PayDuringClose) => {
                self.pay_at(key, now);
            }
            _ => {}
        }
    }

    /// The number of orders held.
    #[must_use]
    pub fn order_count(&self) -> usize {
        lock(&self.orders).by_key.len()
    }

    /// Closes one order, atomically.
    #[cfg(test)]
    pub(crate) fn close(&self, key: &OrderKey, now: u64, min_delay: u64) -> Closing {
        self.close_all(std::slice::from_ref(key), now, min_delay, false)
    }

    /// Closes several orders (a combined order) atomically: all or none. With `pay_first`,
    /// the payer pays each payable order as the close arrives (the `pay_during_close` fault).
    pub(crate) fn close_all(
        &self,
        keys: &[OrderKey],
        now: u64,
        min_delay: u64,
        pay_first: bool,
    ) -> Closing {
        let mut orders = lock(&self.orders);
        let Orders { by_key, ids, .. } = &mut *orders;
        let mut verdict = Closing::AlreadyClosed;
        for key in keys {
            let Some(order) = by_key.get_mut(key) else { return Closing::NotFound };
            ids.settle(key, order, now);
            order.close_calls += 1;
            if pay_first && payable(order.state) {
                ids.mark_paid(key, order, now);
            }
            match order.state {
                OrderState::Paid | OrderState::Refunded => return Closing::Paid,
                OrderState::Paying => return Closing::UserPaying,
                // The 5-minute rule (or the configured delay): the core's.
                OrderState::Unpaid | OrderState::PayError
                    if wxpay_core::server::check_close_delay(order.created_at, now, min_delay)
                        .is_err() =>
                {
                    return Closing::TooEarly;
                }
                OrderState::Unpaid | OrderState::PayError => verdict = Closing::Closed,
                OrderState::Closed | OrderState::Revoked => {}
            }
        }
        if verdict == Closing::Closed {
            for key in keys {
                if let Some(order) = by_key.get_mut(key) {
                    if matches!(order.state, OrderState::Unpaid | OrderState::PayError) {
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
        assert_eq!(s.close_all(&[a.clone(), b.clone()], 1000, 300, false), Closing::Paid);
        assert_eq!(s.order(&a).unwrap().state, OrderState::Unpaid);
        s.insert_order(b.clone(), OrderState::Closed, 0);
        assert_eq!(s.close_all(&[a.clone(), b.clone()], 1000, 300, false), Closing::Closed);
        assert_eq!(s.order(&a).unwrap().state, OrderState::Closed);
    }

    #[test]
    fn every_state_closes_as_documented() {
        let s = State::default();
        let now = crate::answer::now();
        for (state, closing, after) in [
            (OrderState::Refunded, Closing::Paid, OrderState::Refunded),
            (OrderState::Revoked, Closing::AlreadyClosed, OrderState::Revoked),
            (OrderState::PayError, Closing::Closed, OrderState::Closed),
            (OrderState::Paying, Closing::UserPaying, OrderState::Paying),
        ] {
            let k = OrderKey::new("m", state.as_str());
            s.insert_order(k.clone(), state, 0);
            assert_eq!(
                s.close_all(std::slice::from_ref(&k), now, 300, false),
                closing,
                "{state:?}"
            );
            assert_eq!(s.order(&k).unwrap().state, after, "{state:?}");
        }
        // Paid while the close arrives: the close says paid, the order has a number.
        let k = OrderKey::new("m", "paid-during-close");
        s.insert_order(k.clone(), OrderState::Unpaid, 0);
        assert_eq!(s.close_all(std::slice::from_ref(&k), now, 300, true), Closing::Paid);
        let o = s.order(&k).unwrap();
        assert_eq!((o.state, o.paid_at), (OrderState::Paid, Some(now)));
        let t = o.transaction_id.unwrap();
        assert_eq!(s.order_by_transaction_id("m", None, &t), Some(k));
    }

    #[test]
    fn a_paying_order_turns_into_its_next_state_when_read() {
        let s = State::default();
        let now = crate::answer::now();
        let (a, b) = (OrderKey::new("m", "a"), OrderKey::new("m", "b"));
        s.put(a.clone(), NewOrder::new(OrderState::Unpaid, 0).paying(10, OrderState::Paid));
        s.put(b.clone(), NewOrder::new(OrderState::Unpaid, 0).paying(10, OrderState::Unpaid));
        assert_eq!(s.order_at(&a, now).unwrap().state, OrderState::Paying);
        let paid = s.order_at(&a, now + 10).unwrap();
        assert_eq!((paid.state, paid.paid_at), (OrderState::Paid, Some(now + 10)));
        assert!(paid.transaction_id.is_some());
        let unpaid = s.order_at(&b, now + 10).unwrap();
        assert_eq!((unpaid.state, unpaid.transaction_id), (OrderState::Unpaid, None));
        // Orders made paid are given a number; a replaced order's number no longer finds it.
        let c = OrderKey::new("m", "c");
        s.put(c.clone(), NewOrder::new(OrderState::Refunded, 5).total(250));
        let o = s.order(&c).unwrap();
        assert_eq!((o.paid_at, o.total), (Some(5), 250));
        let t = o.transaction_id.unwrap();
        assert!(t.starts_with("420000000019700101") && t.len() == 28, "{t}");
        s.put(c.clone(), NewOrder::new(OrderState::Unpaid, 5));
        assert_eq!(s.order_by_transaction_id("m", None, &t), None);
        assert!(s.set_transaction_id(&c, "42"));
        assert!(!s.set_transaction_id(&OrderKey::new("m", "none"), "43"));
        assert_eq!(s.order_by_transaction_id("m", None, "42"), Some(c));
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
