//! What a query answer says about one order: its `trade_state` and the facts a merchant
//! needs (WeChat Pay's number, when it was paid, the amount).

use std::fmt;

/// An order's `trade_state`, as WeChat Pay reports it (both generations spell them alike).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TradeState {
    /// Paid.
    Success,
    /// Paid, and a refund has started.
    Refund,
    /// Not paid, still payable.
    NotPay,
    /// Closed: it can no longer be paid.
    Closed,
    /// Revoked (payment-code orders).
    Revoked,
    /// The payer is entering a password (payment-code orders): ask again in a few seconds.
    UserPaying,
    /// The payment failed (payment-code orders).
    PayError,
    /// A state wxpay does not know, as received.
    Other(String),
}

impl TradeState {
    /// Reads a wire value.
    #[must_use]
    pub fn from_wire(s: &str) -> TradeState {
        match s {
            "SUCCESS" => TradeState::Success,
            "REFUND" => TradeState::Refund,
            "NOTPAY" => TradeState::NotPay,
            "CLOSED" => TradeState::Closed,
            "REVOKED" => TradeState::Revoked,
            "USERPAYING" => TradeState::UserPaying,
            "PAYERROR" => TradeState::PayError,
            other => TradeState::Other(other.to_owned()),
        }
    }

    /// The wire value.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            TradeState::Success => "SUCCESS",
            TradeState::Refund => "REFUND",
            TradeState::NotPay => "NOTPAY",
            TradeState::Closed => "CLOSED",
            TradeState::Revoked => "REVOKED",
            TradeState::UserPaying => "USERPAYING",
            TradeState::PayError => "PAYERROR",
            TradeState::Other(s) => s,
        }
    }

    /// Whether the order was paid (`SUCCESS`, `REFUND`).
    #[must_use]
    pub fn is_paid(&self) -> bool {
        matches!(self, TradeState::Success | TradeState::Refund)
    }

    /// Whether the order can no longer be paid and was not (`CLOSED`, `REVOKED`).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        matches!(self, TradeState::Closed | TradeState::Revoked)
    }
}

impl fmt::Display for TradeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::escape::escape(self.as_str()))
    }
}

/// One order as a verified query answer describes it. The answer named this order and this
/// merchant (checked): a signed answer about another order is a verification failure.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OrderState {
    /// The merchant's order number.
    pub out_trade_no: String,
    /// The order's state.
    pub trade_state: TradeState,
    /// WeChat Pay's description of the state, as received.
    pub trade_state_desc: String,
    /// WeChat Pay's order number, once paid.
    pub transaction_id: Option<String>,
    /// When it was paid, as WeChat Pay writes it (APIv3 RFC 3339, APIv2 `yyyyMMddHHmmss`
    /// Beijing time), once paid.
    pub paid_at: Option<String>,
    /// The order's amount in the currency's smallest unit (fen), when given.
    pub total: Option<u64>,
    /// The currency, when given (`CNY`).
    pub currency: Option<String>,
}

impl OrderState {
    /// When it was paid, in Unix seconds, read from [`paid_at`](Self::paid_at) (APIv3's RFC
    /// 3339, or APIv2's `yyyyMMddHHmmss` in Beijing time).
    #[must_use]
    pub fn paid_at_unix(&self) -> Option<u64> {
        let text = self.paid_at.as_deref()?;
        rfc3339(text).or_else(|| v2_time(text))
    }

    pub(crate) fn new(out_trade_no: String, trade_state: TradeState) -> Self {
        OrderState {
            out_trade_no,
            trade_state,
            trade_state_desc: String::new(),
            transaction_id: None,
            paid_at: None,
            total: None,
            currency: None,
        }
    }
}

/// What a query found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryAnswer {
    /// The order (for a combined order: each sub-order, in the answer's order).
    Found(Vec<OrderState>),
    /// No such order (APIv2 `ORDERNOTEXIST`, APIv3 `404 ORDER_NOT_EXIST`).
    NotFound,
}

impl QueryAnswer {
    /// The order's state: a single order's, or a combined order's as a whole (paid if any
    /// sub-order is, closed if every one is, else the first sub-order's that is neither).
    /// `None` when not found.
    #[must_use]
    pub fn trade_state(&self) -> Option<TradeState> {
        match self {
            QueryAnswer::Found(orders) => Some(combined_state(orders)),
            QueryAnswer::NotFound => None,
        }
    }

    /// The one order found (the first sub-order of a combined order).
    #[must_use]
    pub fn order(&self) -> Option<&OrderState> {
        match self {
            QueryAnswer::Found(orders) => orders.first(),
            QueryAnswer::NotFound => None,
        }
    }
}

/// A combined order's state: paid if any sub-order is, closed if every one is, else the
/// first sub-order's that is neither.
pub(crate) fn combined_state(orders: &[OrderState]) -> TradeState {
    if let Some(paid) = orders.iter().find(|o| o.trade_state.is_paid()) {
        return paid.trade_state.clone();
    }
    orders
        .iter()
        .find(|o| !o.trade_state.is_closed())
        .or(orders.first())
        .map_or(TradeState::Other(String::new()), |o| o.trade_state.clone())
}

/// Unix seconds of an APIv2 `time_end` (`yyyyMMddHHmmss`, Beijing time, UTC+8).
pub(crate) fn v2_time(text: &str) -> Option<u64> {
    if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |range: std::ops::Range<usize>| text[range].parse::<u16>().ok();
    let month = time::Month::try_from(u8::try_from(n(4..6)?).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(i32::from(n(0..4)?), month, u8::try_from(n(6..8)?).ok()?)
            .ok()?;
    let time = time::Time::from_hms(
        u8::try_from(n(8..10)?).ok()?,
        u8::try_from(n(10..12)?).ok()?,
        u8::try_from(n(12..14)?).ok()?,
    )
    .ok()?;
    let offset = time::UtcOffset::from_hms(8, 0, 0).ok()?;
    u64::try_from(time::PrimitiveDateTime::new(date, time).assume_offset(offset).unix_timestamp())
        .ok()
}

/// Unix seconds of an RFC 3339 time.
pub(crate) fn rfc3339(text: &str) -> Option<u64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_back_and_unknown_ones_are_kept() {
        for s in ["SUCCESS", "REFUND", "NOTPAY", "CLOSED", "REVOKED", "USERPAYING", "PAYERROR"] {
            assert_eq!(TradeState::from_wire(s).as_str(), s);
        }
        assert_eq!(TradeState::from_wire("ACCEPT"), TradeState::Other("ACCEPT".into()));
        assert!(TradeState::Refund.is_paid() && TradeState::Revoked.is_closed());
        assert!(!TradeState::NotPay.is_paid() && !TradeState::UserPaying.is_closed());
    }

    #[test]
    fn times_of_both_generations() {
        // 2026-12-03 14:00:00 in Beijing is 06:00:00 UTC.
        assert_eq!(v2_time("20261203140000"), Some(1_796_277_600));
        assert_eq!(rfc3339("2026-12-03T14:00:00+08:00"), Some(1_796_277_600));
        assert_eq!(v2_time("2026120314"), None);
    }
}
