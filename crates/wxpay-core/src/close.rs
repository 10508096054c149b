//! [`CloseOrder`]: every close call wxpay makes, as one type.

use crate::call_kind::CallKind;
use crate::endpoint::Endpoint;
use crate::error::{ApiVersion, Error, InvalidInput};
use crate::operation::{Attempt, Context, Operation, Prepared};
use crate::outcome::CloseOutcome;
use crate::query::QueryOrder;
use crate::replay::ReplayGuard;
use crate::v2::CloseOrderV2;
use crate::v3::{CloseCombinedOrder, CloseGlobalOrder, CloseOrderV3};
use crate::wire::Response;

/// Any close call: APIv2, APIv3 (direct merchant or service provider), or an APIv3
/// combined order. Clients, the command and the tests dispatch on this type and nowhere
/// else; each call type converts into it with `into()`.
///
/// ```
/// use wxpay_core::{ApiVersion, CloseOrder};
/// use wxpay_core::v3::CloseOrderV3;
///
/// let close: CloseOrder = CloseOrderV3::new("1217752501201407033233368018").for_sub_merchant("1900000109").into();
/// assert_eq!(close.order_number(), "1217752501201407033233368018");
/// assert_eq!(close.api_version(), ApiVersion::V3);
/// close.validate(1_700_000_000)?;
/// # Ok::<(), wxpay_core::InvalidInput>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseOrder {
    /// `POST /pay/closeorder` (common or institutional mode).
    V2(CloseOrderV2),
    /// `POST /v3/pay/[partner/]transactions/out-trade-no/{out_trade_no}/close`.
    V3(CloseOrderV3),
    /// `POST /v3/combine-transactions/out-trade-no/{combine_out_trade_no}/close`.
    Combined(CloseCombinedOrder),
    /// `POST /v3/global/transactions/{out-trade-no|id}/{no}/close` (cross-border).
    Global(CloseGlobalOrder),
}

impl CloseOrder {
    /// The order number the call closes (`combine_out_trade_no` for a combined order; the
    /// `transaction_id` for a cross-border close by WeChat Pay's number).
    #[must_use]
    pub fn order_number(&self) -> &str {
        match self {
            CloseOrder::V2(op) => op.out_trade_no(),
            CloseOrder::V3(op) => op.out_trade_no(),
            CloseOrder::Combined(op) => op.combine_out_trade_no(),
            CloseOrder::Global(op) => op.order_number(),
        }
    }

    /// Which API generation the call uses.
    #[must_use]
    pub fn api_version(&self) -> ApiVersion {
        match self {
            CloseOrder::V2(_) => ApiVersion::V2,
            CloseOrder::V3(_) | CloseOrder::Combined(_) | CloseOrder::Global(_) => ApiVersion::V3,
        }
    }

    /// When the order was created (Unix seconds): a close within 5 minutes is refused
    /// before anything is sent.
    #[must_use]
    pub fn created_at(self, unix_secs: u64) -> Self {
        match self {
            CloseOrder::V2(op) => CloseOrder::V2(op.created_at(unix_secs)),
            CloseOrder::V3(op) => CloseOrder::V3(op.created_at(unix_secs)),
            CloseOrder::Combined(op) => CloseOrder::Combined(op.created_at(unix_secs)),
            CloseOrder::Global(op) => CloseOrder::Global(op.created_at(unix_secs)),
        }
    }

    /// Checks the input as [`prepare`](Operation::prepare) does, at time `now`.
    ///
    /// # Errors
    /// The first [`InvalidInput`] found.
    pub fn validate(&self, now: u64) -> Result<(), InvalidInput> {
        self.as_operation().validate_at(now)
    }

    /// Whether it is an APIv2 close.
    #[must_use]
    pub fn is_v2(&self) -> bool {
        matches!(self, CloseOrder::V2(_))
    }

    /// Which call this is.
    #[must_use]
    pub fn kind(&self) -> CallKind {
        match self {
            CloseOrder::V2(_) => CallKind::V2Close,
            CloseOrder::V3(op) if op.is_partner() => CallKind::V3Partner,
            CloseOrder::V3(_) => CallKind::V3Direct,
            CloseOrder::Combined(_) => CallKind::V3Combined,
            CloseOrder::Global(op) if op.is_by_transaction_id() => CallKind::V3GlobalById,
            CloseOrder::Global(_) => CallKind::V3Global,
        }
    }

    /// The query that asks about the order this close names: same merchant, sub-merchant
    /// and number (for a combined order, the combined order).
    #[must_use]
    pub fn query(&self) -> QueryOrder {
        match self {
            CloseOrder::V2(op) => QueryOrder::V2(op.query()),
            CloseOrder::V3(op) => QueryOrder::V3(op.query()),
            CloseOrder::Combined(op) => QueryOrder::Combined(op.query()),
            CloseOrder::Global(op) => QueryOrder::V3(op.query()),
        }
    }

    fn as_operation(&self) -> &dyn CloseCall {
        match self {
            CloseOrder::V2(op) => op,
            CloseOrder::V3(op) => op,
            CloseOrder::Combined(op) => op,
            CloseOrder::Global(op) => op,
        }
    }
}

/// What every close call type offers, so that [`CloseOrder`] dispatches once.
trait CloseCall {
    fn validate_at(&self, now: u64) -> Result<(), InvalidInput>;
    fn prepare_dyn(&self, ctx: &Context, attempt: &Attempt<'_>) -> Result<Prepared, Error>;
    fn parse_dyn(
        &self,
        ctx: &Context,
        seen: &ReplayGuard,
        now: u64,
        response: Response,
    ) -> Result<CloseOutcome, Error>;
    fn endpoint_dyn(&self, configured: &Endpoint) -> Endpoint;
}

macro_rules! close_call {
    ($($variant:ident => $t:ty),*) => {$(
        impl CloseCall for $t {
            fn validate_at(&self, now: u64) -> Result<(), InvalidInput> {
                self.validate(now)
            }
            fn prepare_dyn(&self, ctx: &Context, attempt: &Attempt<'_>) -> Result<Prepared, Error> {
                self.prepare(ctx, attempt)
            }
            fn parse_dyn(&self, ctx: &Context, seen: &ReplayGuard, now: u64, response: Response) -> Result<CloseOutcome, Error> {
                self.parse(ctx, seen, now, response)
            }
            fn endpoint_dyn(&self, configured: &Endpoint) -> Endpoint {
                self.endpoint(configured)
            }
        }
        impl From<$t> for CloseOrder {
            fn from(op: $t) -> Self {
                CloseOrder::$variant(op)
            }
        }
    )*};
}

close_call!(
    V2 => CloseOrderV2,
    V3 => CloseOrderV3,
    Combined => CloseCombinedOrder,
    Global => CloseGlobalOrder
);

impl Operation for CloseOrder {
    type Output = CloseOutcome;

    fn endpoint(&self, configured: &Endpoint) -> Endpoint {
        self.as_operation().endpoint_dyn(configured)
    }

    fn prepare(&self, ctx: &Context, attempt: &Attempt<'_>) -> Result<Prepared, Error> {
        self.as_operation().prepare_dyn(ctx, attempt)
    }

    fn parse(
        &self,
        ctx: &Context,
        seen: &ReplayGuard,
        now: u64,
        response: Response,
    ) -> Result<CloseOutcome, Error> {
        self.as_operation().parse_dyn(ctx, seen, now, response)
    }
}
