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
    /// The order was paid and cannot be closed: treat it as paid (deliver or refund). From a
    /// close's own answer, which names no order (a replayed `ORDERPAID` can claim it), prove
    /// it with a query before delivering, or close through `close_confirmed`, which does.
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

    /// The outcome an APIv2 `err_code` stands for, exactly as the API documents for close:
    /// `ORDERCLOSED`, `ORDERNOTEXIST`, `ORDERPAID`; `None` for any other code.
    #[must_use]
    pub fn from_v2_code(err_code: &str) -> Option<CloseOutcome> {
        match err_code {
            "ORDERCLOSED" => Some(CloseOutcome::AlreadyClosed),
            "ORDERNOTEXIST" => Some(CloseOutcome::NotFound),
            "ORDERPAID" => Some(CloseOutcome::Paid),
            _ => None,
        }
    }

    /// The outcome a (verified) APIv3 error answer stands for, exactly as the API documents
    /// for close: `400 ORDER_CLOSED`, `404 ORDER_NOT_EXIST`, `400 ORDERPAID` / `400
    /// ORDER_PAID`; `None` for any other status and code (a 404 with another code may mean a
    /// wrong path or an unbound sub-merchant, not a missing order).
    #[must_use]
    pub fn from_v3_answer(status: u16, code: &str) -> Option<CloseOutcome> {
        match (status, code) {
            (400, "ORDER_CLOSED") => Some(CloseOutcome::AlreadyClosed),
            (404, "ORDER_NOT_EXIST") => Some(CloseOutcome::NotFound),
            (400, "ORDERPAID" | "ORDER_PAID") => Some(CloseOutcome::Paid),
            _ => None,
        }
    }
}

impl fmt::Display for CloseOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::CloseOutcome::{self, *};

    #[test]
    fn only_the_documented_codes_are_outcomes() {
        assert_eq!(CloseOutcome::from_v2_code("ORDERCLOSED"), Some(AlreadyClosed));
        assert_eq!(CloseOutcome::from_v2_code("ORDERNOTEXIST"), Some(NotFound));
        assert_eq!(CloseOutcome::from_v2_code("ORDERPAID"), Some(Paid));
        for code in [
            "ORDER_CLOSED",
            "ORDER_NOT_EXIST",
            "ORDER_PAID",
            "ORDERNOTEXISTS",
            "RESOURCE_NOT_EXISTS",
            "SYSTEMERROR",
            "",
        ] {
            assert_eq!(CloseOutcome::from_v2_code(code), None, "v2 {code}");
        }
        assert_eq!(CloseOutcome::from_v3_answer(400, "ORDER_CLOSED"), Some(AlreadyClosed));
        assert_eq!(CloseOutcome::from_v3_answer(404, "ORDER_NOT_EXIST"), Some(NotFound));
        assert_eq!(CloseOutcome::from_v3_answer(400, "ORDERPAID"), Some(Paid));
        assert_eq!(CloseOutcome::from_v3_answer(400, "ORDER_PAID"), Some(Paid));
        for (status, code) in [
            (404, "RESOURCE_NOT_EXISTS"),
            (404, "ORDER_NOT_EXISTS"),
            (404, "ORDERNOTEXISTS"),
            (404, "ORDERNOTEXIST"),
            (400, "ORDER_NOT_EXIST"),
            (403, "ORDER_CLOSED"),
            (500, "ORDER_PAID"),
            (400, "ORDERCLOSED"),
        ] {
            assert_eq!(CloseOutcome::from_v3_answer(status, code), None, "v3 {status} {code}");
        }
    }
}
