//! The APIv3 query calls (direct, partner, combined, cross-border; by either number) and the
//! reading of their answers, whose signed body names the order: the one proof of an order's
//! state that a replay cannot move to another order.

use std::borrow::Cow;

use http::Method;
use serde::Deserialize;

use super::answer::{check_size, read_error_answer};
use super::paths::{QueryCall, check_transaction_id, encode_segment, out_trade_no};
use super::request::prepare_request;
use super::verify::verify_once;
use crate::endpoint::Endpoint;
use crate::error::{DecodeError, Error, InvalidInput, VerifyError};
use crate::operation::{Attempt, Context, Operation, Prepared};
use crate::order_state::{OrderState, QueryAnswer, TradeState};
use crate::replay::ReplayGuard;
use crate::validate;
use crate::wire::Response;

/// Queries one APIv3 order: a direct merchant's, a sub-merchant's (service provider), or a
/// cross-border one (Hong Kong host), by the merchant's number or WeChat Pay's.
///
/// ```
/// use wxpay_core::v3::QueryOrderV3;
///
/// let q = QueryOrderV3::by_out_trade_no("1217752501201407033233368018");
/// assert_eq!(q.target("1900000001")?, "/v3/pay/transactions/out-trade-no/1217752501201407033233368018?mchid=1900000001");
/// let q = QueryOrderV3::by_transaction_id("4200000000201811201234567890").for_sub_merchant("1900000109");
/// assert_eq!(q.target("1230000109")?, "/v3/pay/partner/transactions/id/4200000000201811201234567890?sp_mchid=1230000109&sub_mchid=1900000109");
/// # Ok::<(), wxpay_core::InvalidInput>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryOrderV3 {
    number: String,
    by_id: bool,
    sub_mchid: Option<String>,
    global: bool,
}

impl QueryOrderV3 {
    /// The order the merchant numbered `out_trade_no`.
    pub fn by_out_trade_no(out_trade_no: impl Into<String>) -> Self {
        QueryOrderV3 { number: out_trade_no.into(), by_id: false, sub_mchid: None, global: false }
    }

    /// The order WeChat Pay numbered `transaction_id`.
    pub fn by_transaction_id(transaction_id: impl Into<String>) -> Self {
        QueryOrderV3 { number: transaction_id.into(), by_id: true, sub_mchid: None, global: false }
    }

    /// A sub-merchant's order: the credentials' `mchid` asks as service provider
    /// (`sp_mchid`).
    #[must_use]
    pub fn for_sub_merchant(mut self, sub_mchid: impl Into<String>) -> Self {
        self.sub_mchid = Some(sub_mchid.into());
        self
    }

    /// A cross-border order (`/v3/global/…`, at the Hong Kong host from the default
    /// endpoint).
    #[must_use]
    pub fn global(mut self) -> Self {
        self.global = true;
        self
    }

    /// The order number asked about (the merchant's or WeChat Pay's).
    #[must_use]
    pub fn order_number(&self) -> &str {
        &self.number
    }

    /// Whether it asks by WeChat Pay's number.
    #[must_use]
    pub fn is_by_transaction_id(&self) -> bool {
        self.by_id
    }

    /// Which call this is.
    #[must_use]
    pub fn kind(&self) -> crate::CallKind {
        use crate::CallKind as K;
        match self.call() {
            QueryCall::Direct => K::V3Query,
            QueryCall::DirectById => K::V3QueryById,
            QueryCall::Partner => K::V3PartnerQuery,
            QueryCall::PartnerById => K::V3PartnerQueryById,
            QueryCall::Combined => K::V3CombinedQuery,
            QueryCall::Global => K::V3GlobalQuery,
            QueryCall::GlobalById => K::V3GlobalQueryById,
        }
    }

    fn call(&self) -> QueryCall {
        match (self.global, self.sub_mchid.is_some(), self.by_id) {
            (true, _, false) => QueryCall::Global,
            (true, _, true) => QueryCall::GlobalById,
            (false, false, false) => QueryCall::Direct,
            (false, false, true) => QueryCall::DirectById,
            (false, true, false) => QueryCall::Partner,
            (false, true, true) => QueryCall::PartnerById,
        }
    }

    /// Checks the input as [`prepare`](Operation::prepare) does.
    ///
    /// # Errors
    /// The first [`InvalidInput`] found.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        if self.by_id {
            check_transaction_id(&self.number)?;
        } else {
            out_trade_no("out_trade_no", &self.number)?;
        }
        if let Some(sub) = &self.sub_mchid {
            validate::charset("sub_mchid", sub, 1, 32, b"_")?;
        }
        Ok(())
    }

    /// The request target (path and query string) for merchant `mchid`, once the input is
    /// valid.
    ///
    /// # Errors
    /// As [`validate`](Self::validate).
    pub fn target(&self, mchid: &str) -> Result<String, InvalidInput> {
        self.validate()?;
        let mut target = String::with_capacity(96);
        target.push_str(self.call().path_prefix());
        encode_segment(&self.number, &mut target);
        match &self.sub_mchid {
            None => {
                target.push_str("?mchid=");
                encode_segment(mchid, &mut target);
            }
            Some(sub) => {
                target.push_str("?sp_mchid=");
                encode_segment(mchid, &mut target);
                target.push_str("&sub_mchid=");
                encode_segment(sub, &mut target);
            }
        }
        Ok(target)
    }
}

impl Operation for QueryOrderV3 {
    type Output = QueryAnswer;

    fn endpoint(&self, configured: &Endpoint) -> Endpoint {
        match configured {
            Endpoint::Mainland if self.global => Endpoint::HongKong,
            other => other.clone(),
        }
    }

    fn prepare(&self, ctx: &Context, attempt: &Attempt<'_>) -> Result<Prepared, Error> {
        let creds = ctx.v3()?;
        let target = self.target(&creds.mchid)?;
        prepare_request(ctx, creds, attempt, Method::GET, target, Vec::new())
    }

    fn parse(
        &self,
        ctx: &Context,
        seen: &ReplayGuard,
        now: u64,
        response: Response,
    ) -> Result<QueryAnswer, Error> {
        let creds = ctx.v3()?;
        let Some(body) = read_query_answer(ctx, seen, now, response)? else {
            return Ok(QueryAnswer::NotFound);
        };
        let a = answered(&body)?;
        // The answer must be about this order, of this merchant.
        match &self.sub_mchid {
            None => same("mchid", &a.mchid, &creds.mchid)?,
            Some(sub) => {
                same("sp_mchid", &a.sp_mchid, &creds.mchid)?;
                same("sub_mchid", &a.sub_mchid, sub)?;
            }
        }
        if self.by_id {
            same("transaction_id", &a.transaction_id, &self.number)?;
        } else {
            same("out_trade_no", &a.out_trade_no, &self.number)?;
        }
        Ok(QueryAnswer::Found(vec![order_state(&a, &body)?]))
    }
}

/// Queries a combined order (`GET /v3/combine-transactions/out-trade-no/{combine_out_trade_no}`),
/// as the combining merchant (the credentials' `mchid`). The answer lists every sub-order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryCombinedOrder {
    combine_out_trade_no: String,
}

impl QueryCombinedOrder {
    /// The combined order `combine_out_trade_no`.
    pub fn new(combine_out_trade_no: impl Into<String>) -> Self {
        QueryCombinedOrder { combine_out_trade_no: combine_out_trade_no.into() }
    }

    /// The combined order's number.
    #[must_use]
    pub fn combine_out_trade_no(&self) -> &str {
        &self.combine_out_trade_no
    }

    /// The request path, once the input is valid.
    ///
    /// # Errors
    /// An [`InvalidInput`] for a number that is not an APIv3 `out_trade_no`.
    pub fn target(&self) -> Result<String, InvalidInput> {
        out_trade_no("combine_out_trade_no", &self.combine_out_trade_no)?;
        let mut target = String::from(QueryCall::Combined.path_prefix());
        encode_segment(&self.combine_out_trade_no, &mut target);
        Ok(target)
    }
}

impl Operation for QueryCombinedOrder {
    type Output = QueryAnswer;

    fn prepare(&self, ctx: &Context, attempt: &Attempt<'_>) -> Result<Prepared, Error> {
        let creds = ctx.v3()?;
        prepare_request(ctx, creds, attempt, Method::GET, self.target()?, Vec::new())
    }

    fn parse(
        &self,
        ctx: &Context,
        seen: &ReplayGuard,
        now: u64,
        response: Response,
    ) -> Result<QueryAnswer, Error> {
        let creds = ctx.v3()?;
        let Some(body) = read_query_answer(ctx, seen, now, response)? else {
            return Ok(QueryAnswer::NotFound);
        };
        let a = answered(&body)?;
        same("combine_mchid", &a.combine_mchid, &creds.mchid)?;
        same("combine_out_trade_no", &a.combine_out_trade_no, &self.combine_out_trade_no)?;
        let subs = a.sub_orders.as_deref().filter(|s| !s.is_empty()).ok_or_else(|| {
            Error::from(DecodeError::new("a combined answer without sub_orders", 200, body.clone()))
        })?;
        let orders =
            subs.iter().map(|o| order_state(o, &body)).collect::<Result<Vec<_>, Error>>()?;
        Ok(QueryAnswer::Found(orders))
    }
}

/// That a (verified) answer's `field` is what was asked: else it is about another order or
/// merchant, and proves nothing about this one.
fn same(field: &'static str, got: &Option<Cow<'_, str>>, want: &str) -> Result<(), Error> {
    match got {
        Some(got) if got == want => Ok(()),
        _ => Err(VerifyError::Mismatch { field }.into()),
    }
}

/// An order in a query answer (and a combined answer, whose `sub_orders` are orders too),
/// read straight from the body's bytes.
#[derive(Debug, Deserialize)]
struct Answered<'a> {
    #[serde(borrow, default)]
    mchid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    sp_mchid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    sub_mchid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    out_trade_no: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    transaction_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    trade_state: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    trade_state_desc: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    success_time: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    amount: Option<Amount<'a>>,
    #[serde(borrow, default)]
    combine_mchid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    combine_out_trade_no: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    sub_orders: Option<Vec<Answered<'a>>>,
}

#[derive(Debug, Deserialize)]
struct Amount<'a> {
    #[serde(default)]
    total: Option<u64>,
    #[serde(default)]
    total_amount: Option<u64>,
    #[serde(borrow, default)]
    currency: Option<Cow<'a, str>>,
}

/// A verified query answer's body, or `None` for a verified `404 ORDER_NOT_EXIST`.
fn read_query_answer(
    ctx: &Context,
    seen: &ReplayGuard,
    now: u64,
    response: Response,
) -> Result<Option<Vec<u8>>, Error> {
    let creds = ctx.v3()?;
    let (parts, body) = response.into_parts();
    if parts.status != http::StatusCode::OK {
        if parts.status.is_success() {
            let reason = "a query is answered 200; this 2xx answer is not one";
            return Err(DecodeError::new(reason, parts.status.as_u16(), body).into());
        }
        let (error, code) = read_error_answer(seen, creds, now, &parts, body)?;
        if error.verified && error.status == 404 && code == "ORDER_NOT_EXIST" {
            return Ok(None);
        }
        return Err(error.into());
    }
    check_size(parts.status, &body)?;
    verify_once(seen, creds.verifier.as_ref(), &parts.headers, &body, now, creds.window_secs)?;
    Ok(Some(body))
}

/// The body as an order (or combined order).
fn answered(body: &[u8]) -> Result<Answered<'_>, Error> {
    // Checked as UTF-8 once, whole: `from_str` then reads each string without checking it
    // again (as `from_slice` does, string by string). Stricter than `from_slice`, which let
    // bad UTF-8 pass inside a field it skipped: such a (signed) body is now a decode error.
    let text = std::str::from_utf8(body).ok();
    text.and_then(|t| serde_json::from_str(t).ok()).ok_or_else(|| {
        DecodeError::new("a query answer that is not an order object", 200, body.to_vec()).into()
    })
}

/// One order of a (verified) query answer.
fn order_state(a: &Answered<'_>, body: &[u8]) -> Result<OrderState, Error> {
    let decode = |reason: &str| Error::from(DecodeError::new(reason, 200, body.to_vec()));
    let (Some(no), Some(state)) = (&a.out_trade_no, &a.trade_state) else {
        return Err(decode("an order without out_trade_no or trade_state"));
    };
    let owned =
        |s: &Option<Cow<'_, str>>| s.as_deref().filter(|t| !t.is_empty()).map(str::to_owned);
    let mut order = OrderState::new(no.to_string(), TradeState::from_wire(state));
    order.trade_state_desc = owned(&a.trade_state_desc).unwrap_or_default();
    order.transaction_id = owned(&a.transaction_id);
    order.paid_at = owned(&a.success_time);
    if let Some(amount) = &a.amount {
        order.total = amount.total.or(amount.total_amount);
        order.currency = owned(&amount.currency);
    }
    if order.trade_state.is_paid() && order.transaction_id.is_none() {
        return Err(decode("a paid order without transaction_id"));
    }
    Ok(order)
}
