//! [`QueryOrder`]: every query call wxpay makes, as one type.

use crate::call_kind::CallKind;
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::operation::{Attempt, Context, Operation, Prepared};
use crate::order_state::QueryAnswer;
use crate::replay::ReplayGuard;
use crate::v2::QueryOrderV2;
use crate::v3::{QueryCombinedOrder, QueryOrderV3};
use crate::wire::Response;

/// Any query call: APIv2, APIv3 (direct, partner, cross-border; by either number), or an
/// APIv3 combined order. [`CloseOrder::query`](crate::CloseOrder::query) gives the one that
/// asks about a close's order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryOrder {
    /// `POST /pay/orderquery`.
    V2(QueryOrderV2),
    /// `GET /v3/[partner/|global/]transactions/{out-trade-no|id}/{no}`.
    V3(QueryOrderV3),
    /// `GET /v3/combine-transactions/out-trade-no/{combine_out_trade_no}`.
    Combined(QueryCombinedOrder),
}

impl QueryOrder {
    fn as_operation(&self) -> &dyn Operation<Output = QueryAnswer> {
        match self {
            QueryOrder::V2(op) => op,
            QueryOrder::V3(op) => op,
            QueryOrder::Combined(op) => op,
        }
    }

    /// Which call this is.
    #[must_use]
    pub fn kind(&self) -> CallKind {
        match self {
            QueryOrder::V2(_) => CallKind::V2Query,
            QueryOrder::V3(op) => op.kind(),
            QueryOrder::Combined(_) => CallKind::V3CombinedQuery,
        }
    }

    /// The order number asked about.
    #[must_use]
    pub fn order_number(&self) -> &str {
        match self {
            QueryOrder::V2(op) => op.order_number(),
            QueryOrder::V3(op) => op.order_number(),
            QueryOrder::Combined(op) => op.combine_out_trade_no(),
        }
    }
}

impl Operation for QueryOrder {
    type Output = QueryAnswer;

    fn endpoint(&self, configured: &Endpoint) -> Endpoint {
        self.as_operation().endpoint(configured)
    }

    fn prepare(&self, ctx: &Context, attempt: &Attempt<'_>) -> Result<Prepared, Error> {
        self.as_operation().prepare(ctx, attempt)
    }

    fn parse(
        &self,
        ctx: &Context,
        seen: &ReplayGuard,
        now: u64,
        response: Response,
    ) -> Result<QueryAnswer, Error> {
        self.as_operation().parse(ctx, seen, now, response)
    }
}

impl From<QueryOrderV2> for QueryOrder {
    fn from(op: QueryOrderV2) -> Self {
        QueryOrder::V2(op)
    }
}

impl From<QueryOrderV3> for QueryOrder {
    fn from(op: QueryOrderV3) -> Self {
        QueryOrder::V3(op)
    }
}

impl From<QueryCombinedOrder> for QueryOrder {
    fn from(op: QueryCombinedOrder) -> Self {
        QueryOrder::Combined(op)
    }
}
