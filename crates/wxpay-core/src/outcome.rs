//! What WeChat Pay said about an order.

use std::fmt;

/// The state of the order after a close call, as WeChat Pay reported it (and wxpay verified).
///
/// This is not an error: every variant is a definite answer the caller must act on.
#[must_use = "a close outcome says what happened to the order; Paid in particular must be acted on"]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseOutcome {
    /// The order is now closed and can no longer be paid.
    Closed,
    /// The order was already closed: nothing more to do.
    AlreadyClosed,
    /// No such order: nothing to close; treat it as never submitted.
    NotFound,
    /// The order was paid and cannot be closed: treat it as paid (deliver or refund).
    Paid,
}

impl CloseOutcome {
    /// A stable lower-case name: `closed`, `already_closed`, `not_found`, `paid`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            CloseOutcome::Closed => "closed",
            CloseOutcome::AlreadyClosed => "already_closed",
            CloseOutcome::NotFound => "not_found",
            CloseOutcome::Paid => "paid",
        }
    }

    /// Maps an order-state error code of either API generation to its outcome
    /// (`ORDERCLOSED`/`ORDER_CLOSED`, `ORDERNOTEXIST`/`ORDER_NOT_EXIST`/`ORDER_NOT_EXISTS`/
    /// `RESOURCE_NOT_EXISTS`, `ORDERPAID`/`ORDER_PAID`); `None` for any other code.
    #[must_use]
    pub fn from_code(code: &str) -> Option<CloseOutcome> {
        match code {
            "ORDERCLOSED" | "ORDER_CLOSED" => Some(CloseOutcome::AlreadyClosed),
            "ORDERNOTEXIST"
            | "ORDER_NOT_EXIST"
            | "ORDER_NOT_EXISTS"
            | "ORDERNOTEXISTS"
            | "RESOURCE_NOT_EXISTS" => Some(CloseOutcome::NotFound),
            "ORDERPAID" | "ORDER_PAID" => Some(CloseOutcome::Paid),
            _ => None,
        }
    }
}

impl fmt::Display for CloseOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
