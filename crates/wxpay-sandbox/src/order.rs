//! Orders as the sandbox holds them, and what a close does to them. A leaf: it imports no
//! other module of the sandbox.

/// An order's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderState {
    /// Created, not paid: it can be closed.
    Unpaid,
    /// Paid: it cannot be closed.
    Paid,
    /// Closed: it can no longer be paid.
    Closed,
}

impl OrderState {
    /// Every state, as the control API lists them.
    pub const ALL: [OrderState; 3] = [OrderState::Unpaid, OrderState::Paid, OrderState::Closed];

    /// `unpaid`, `paid` or `closed`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Unpaid => "unpaid",
            OrderState::Paid => "paid",
            OrderState::Closed => "closed",
        }
    }

    /// Reads `unpaid`, `paid` or `closed`.
    #[must_use]
    pub fn parse(s: &str) -> Option<OrderState> {
        OrderState::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// Which merchant's order: the merchant (`mch_id`/`mchid`, or the service provider's),
/// the sub-merchant if any, and the merchant's order number. APIv2 and APIv3 merchants are
/// kept apart by their ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderKey {
    /// The merchant, or the service provider acting for a sub-merchant.
    pub mchid: String,
    /// The sub-merchant, for service-provider orders.
    pub sub_mchid: Option<String>,
    /// The merchant's order number.
    pub out_trade_no: String,
}

impl OrderKey {
    /// A direct merchant's order.
    pub fn new(mchid: impl Into<String>, out_trade_no: impl Into<String>) -> Self {
        OrderKey { mchid: mchid.into(), sub_mchid: None, out_trade_no: out_trade_no.into() }
    }

    /// A sub-merchant's order, placed through service provider `sp_mchid`.
    pub fn sub(
        sp_mchid: impl Into<String>,
        sub_mchid: impl Into<String>,
        out_trade_no: impl Into<String>,
    ) -> Self {
        OrderKey {
            mchid: sp_mchid.into(),
            sub_mchid: Some(sub_mchid.into()),
            out_trade_no: out_trade_no.into(),
        }
    }
}

/// An order as the sandbox holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Its state.
    pub state: OrderState,
    /// When it was created, Unix seconds.
    pub created_at: u64,
    /// How many close calls reached it (answered or not).
    pub close_calls: u32,
    /// How many of those closed it (0 or 1).
    pub closes: u32,
}

/// What a close did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closing {
    Closed,
    AlreadyClosed,
    Paid,
    NotFound,
    TooEarly,
}
