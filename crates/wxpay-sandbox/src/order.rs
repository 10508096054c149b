//! Orders as the sandbox holds them, what a close does to them, and what a query says about
//! them. A leaf: it imports no other module of the sandbox.

/// How long an order stays paying unless told otherwise (the `user_paying` fault, or the
/// `paying` state without `paying_secs`).
pub const DEFAULT_PAYING_SECS: u64 = 5;

/// An order's amount unless told otherwise, in fen (分).
pub const DEFAULT_TOTAL_FEN: u64 = 100;

/// An order's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderState {
    /// Created, not paid: it can be closed (`NOTPAY`).
    Unpaid,
    /// Paid: it cannot be closed (`SUCCESS`).
    Paid,
    /// Closed: it can no longer be paid (`CLOSED`).
    Closed,
    /// Paid, and a refund started (`REFUND`): it cannot be closed.
    Refunded,
    /// A payment-code order revoked (`REVOKED`): it can no longer be paid.
    Revoked,
    /// A payment-code payment that failed (`PAYERROR`): it can still be closed.
    PayError,
    /// The payer is entering a password (`USERPAYING`): for a while, then paid or unpaid
    /// ([`Order::paying`]).
    Paying,
}

impl OrderState {
    /// Every state, as the control API lists them.
    pub const ALL: [OrderState; 7] = [
        OrderState::Unpaid,
        OrderState::Paid,
        OrderState::Closed,
        OrderState::Refunded,
        OrderState::Revoked,
        OrderState::PayError,
        OrderState::Paying,
    ];

    /// `unpaid`, `paid`, `closed`, `refunded`, `revoked`, `payerror` or `paying`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Unpaid => "unpaid",
            OrderState::Paid => "paid",
            OrderState::Closed => "closed",
            OrderState::Refunded => "refunded",
            OrderState::Revoked => "revoked",
            OrderState::PayError => "payerror",
            OrderState::Paying => "paying",
        }
    }

    /// Reads what [`as_str`](Self::as_str) writes.
    #[must_use]
    pub fn parse(s: &str) -> Option<OrderState> {
        OrderState::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// The `trade_state` a query answers: `NOTPAY`, `SUCCESS`, `CLOSED`, `REFUND`, `REVOKED`,
    /// `PAYERROR` or `USERPAYING`.
    #[must_use]
    pub fn trade_state(self) -> &'static str {
        match self {
            OrderState::Unpaid => "NOTPAY",
            OrderState::Paid => "SUCCESS",
            OrderState::Closed => "CLOSED",
            OrderState::Refunded => "REFUND",
            OrderState::Revoked => "REVOKED",
            OrderState::PayError => "PAYERROR",
            OrderState::Paying => "USERPAYING",
        }
    }

    /// The `trade_state_desc` a query answers, as WeChat Pay words it.
    #[must_use]
    pub fn trade_state_desc(self) -> &'static str {
        match self {
            OrderState::Unpaid => "订单未支付",
            OrderState::Paid => "支付成功",
            OrderState::Closed => "订单已关闭",
            OrderState::Refunded => "订单发生过退款",
            OrderState::Revoked => "订单已撤销",
            OrderState::PayError => "支付失败，请重新下单支付",
            OrderState::Paying => "需要用户输入支付密码",
        }
    }

    /// Whether the payer's money moved (`SUCCESS`, `REFUND`): the order has a
    /// `transaction_id` and a paid time.
    #[must_use]
    pub fn is_paid(self) -> bool {
        matches!(self, OrderState::Paid | OrderState::Refunded)
    }

    /// Whether a payment-code (`MICROPAY`) order is the only kind that can be in this state.
    fn is_payment_code(self) -> bool {
        matches!(self, OrderState::Revoked | OrderState::PayError | OrderState::Paying)
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

/// What a paying order turns into, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paying {
    /// Unix seconds: from then on the order is in state [`then`](Self::then).
    pub until: u64,
    /// [`OrderState::Paid`] or [`OrderState::Unpaid`].
    pub then: OrderState,
}

/// An order as the sandbox holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Its state, as of the last time it was read (a paying order turns into its next state
    /// when it is read after [`Paying::until`]).
    pub state: OrderState,
    /// When it was created, Unix seconds.
    pub created_at: u64,
    /// How many close calls reached it (answered or not).
    pub close_calls: u32,
    /// How many of those closed it (0 or 1).
    pub closes: u32,
    /// WeChat Pay's order number: set by hand, or given when the order is paid.
    pub transaction_id: Option<String>,
    /// The amount, in fen.
    pub total: u64,
    /// When it was paid, Unix seconds (paid and refunded orders).
    pub paid_at: Option<u64>,
    /// While [`OrderState::Paying`]: until when, and what comes next.
    pub paying: Option<Paying>,
    /// `NATIVE`, or `MICROPAY` for an order made revoked, failed or paying (payment-code
    /// states).
    pub trade_type: &'static str,
}

/// An order to create: its state and what the defaults do not say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    /// Its state.
    pub state: OrderState,
    /// When it was created, Unix seconds.
    pub created_at: u64,
    /// The amount, in fen ([`DEFAULT_TOTAL_FEN`] unless set).
    pub total: u64,
    /// WeChat Pay's number for it (a paid or refunded order without one is given one).
    pub transaction_id: Option<String>,
    /// For [`OrderState::Paying`]: for how long ([`DEFAULT_PAYING_SECS`] unless set).
    pub paying_secs: u64,
    /// For [`OrderState::Paying`]: paid or unpaid afterwards (unpaid unless set).
    pub then: OrderState,
}

impl NewOrder {
    /// An order in `state`, created at `created_at` (Unix seconds), with the defaults.
    #[must_use]
    pub fn new(state: OrderState, created_at: u64) -> Self {
        NewOrder {
            state,
            created_at,
            total: DEFAULT_TOTAL_FEN,
            transaction_id: None,
            paying_secs: DEFAULT_PAYING_SECS,
            then: OrderState::Unpaid,
        }
    }

    /// Of `total` fen.
    #[must_use]
    pub fn total(mut self, total: u64) -> Self {
        self.total = total;
        self
    }

    /// Numbered `transaction_id` by WeChat Pay.
    #[must_use]
    pub fn transaction_id(mut self, transaction_id: impl Into<String>) -> Self {
        self.transaction_id = Some(transaction_id.into());
        self
    }

    /// Paying for `secs` from `now` (Unix seconds), then `then` (paid or unpaid).
    #[must_use]
    pub fn paying(mut self, secs: u64, then: OrderState) -> Self {
        self.state = OrderState::Paying;
        self.paying_secs = secs;
        self.then = then;
        self
    }

    /// The order, made at `now` (a paying order's time runs from `now`). A paid or refunded
    /// order was paid when it was created; `then` other than paid is unpaid.
    #[must_use]
    pub fn into_order(self, now: u64) -> Order {
        let paying = (self.state == OrderState::Paying).then(|| Paying {
            until: now.saturating_add(self.paying_secs),
            then: if self.then == OrderState::Paid { OrderState::Paid } else { OrderState::Unpaid },
        });
        Order {
            state: self.state,
            created_at: self.created_at,
            close_calls: 0,
            closes: 0,
            transaction_id: self.transaction_id,
            total: self.total,
            paid_at: self.state.is_paid().then_some(self.created_at),
            paying,
            trade_type: if self.state.is_payment_code() { "MICROPAY" } else { "NATIVE" },
        }
    }
}

/// What a close did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closing {
    Closed,
    AlreadyClosed,
    Paid,
    NotFound,
    TooEarly,
    /// The payer is paying: the order is not touched.
    UserPaying,
}

/// What a query answers about one order: a copy of it, read at the time of the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OrderView {
    pub(crate) key: OrderKey,
    pub(crate) order: Order,
}

/// The order number of the order a `query_other_order` answer is about.
pub(crate) const OTHER_OUT_TRADE_NO: &str = "sandbox-other-order-0001";
/// Its WeChat Pay number.
pub(crate) const OTHER_TRANSACTION_ID: &str = "4200000000200001010000000001";

/// Another number than `mine`: `a`, or `b` when `mine` is `a`.
fn other(mine: &str, a: &str, b: &str) -> String {
    if mine == a { b.to_owned() } else { a.to_owned() }
}

impl OrderView {
    /// Another merchant order number than `mine`.
    pub(crate) fn other_number(mine: &str) -> String {
        other(mine, OTHER_OUT_TRADE_NO, "sandbox-other-order-0002")
    }

    /// The same answer about another order of the same merchant: another `out_trade_no`, and
    /// another `transaction_id` if the order has one.
    pub(crate) fn other_order(mut self) -> OrderView {
        self.key.out_trade_no = OrderView::other_number(&self.key.out_trade_no);
        if let Some(t) = &self.order.transaction_id {
            self.order.transaction_id =
                Some(other(t, OTHER_TRANSACTION_ID, "4200000000200001010000000002"));
        }
        self
    }
}
