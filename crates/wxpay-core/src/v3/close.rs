//! The three APIv3 close calls and the reading of their answers.

use super::answer::read_error_answer;
use super::paths::{CloseCall, check_transaction_id, out_trade_no, segment_path};
use super::query::{QueryCombinedOrder, QueryOrderV3};
use super::request::prepare_post;
use super::verify::verify_once;
use crate::endpoint::Endpoint;
use crate::error::{DecodeError, Error, InvalidInput};
use crate::operation::{Attempt, Context, Operation, Prepared};
use crate::outcome::CloseOutcome;
use crate::replay::ReplayGuard;
use crate::validate;
use crate::wire::Response;

fn id(field: &'static str, value: &str) -> Result<(), InvalidInput> {
    validate::charset(field, value, 1, 32, b"_")
}

/// Which merchant closes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Closer {
    /// The merchant itself (`{"mchid"}`).
    Direct,
    /// A service provider or institution for its sub-merchant (`{"sp_mchid","sub_mchid"}`).
    Partner { sub_mchid: String },
}

impl Closer {
    /// The JSON body naming the merchant (the credentials' `mchid`) and any sub-merchant.
    fn body(&self, mchid: &str) -> Vec<u8> {
        let mut body = Vec::with_capacity(64);
        match self {
            Closer::Direct => {
                body.extend_from_slice(b"{\"mchid\":");
                json_string(mchid, &mut body);
            }
            Closer::Partner { sub_mchid } => {
                body.extend_from_slice(b"{\"sp_mchid\":");
                json_string(mchid, &mut body);
                body.extend_from_slice(b",\"sub_mchid\":");
                json_string(sub_mchid, &mut body);
            }
        }
        body.push(b'}');
        body
    }

    fn check(&self) -> Result<(), InvalidInput> {
        match self {
            Closer::Direct => Ok(()),
            Closer::Partner { sub_mchid } => id("sub_mchid", sub_mchid),
        }
    }
}

/// Closes an order through APIv3: as a direct merchant
/// (`POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close`) or as a service provider
/// for a sub-merchant (`POST /v3/pay/partner/transactions/out-trade-no/{out_trade_no}/close`).
///
/// Success is `204 No Content`, which becomes [`CloseOutcome::Closed`] once its signature
/// verifies.
///
/// ```
/// use wxpay_core::v3::CloseOrderV3;
///
/// let direct = CloseOrderV3::new("order|2024*01").created_at(1_700_000_000);
/// assert_eq!(direct.path()?, "/v3/pay/transactions/out-trade-no/order%7C2024*01/close");
/// direct.validate(1_700_000_300)?; // 5 minutes after creation: allowed
/// assert!(direct.validate(1_700_000_299).is_err());
///
/// let partner = CloseOrderV3::new("1217752501201407033233368018").for_sub_merchant("1900000109");
/// assert_eq!(partner.path()?, "/v3/pay/partner/transactions/out-trade-no/1217752501201407033233368018/close");
/// assert!(CloseOrderV3::new("../x").path().is_err()); // checked before anything is built
/// # Ok::<(), wxpay_core::InvalidInput>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseOrderV3(OrderClose);

/// One order's close, mainland or cross-border: the call (which path), the order number,
/// who closes and when the order was made. [`CloseOrderV3`] and [`CloseGlobalOrder`] are
/// this, built their own ways.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OrderClose {
    call: CloseCall,
    number: String,
    closer: Closer,
    created_at: Option<u64>,
}

impl OrderClose {
    /// The query that asks about the order this close names.
    fn query(&self) -> QueryOrderV3 {
        let query = match self.call {
            CloseCall::GlobalTransactionId => QueryOrderV3::by_transaction_id(&self.number),
            _ => QueryOrderV3::by_out_trade_no(&self.number),
        };
        let query = match &self.closer {
            Closer::Direct => query,
            Closer::Partner { sub_mchid } => query.for_sub_merchant(sub_mchid),
        };
        match self.call {
            CloseCall::GlobalOutTradeNo | CloseCall::GlobalTransactionId => query.global(),
            _ => query,
        }
    }

    fn new(call: CloseCall, number: String, closer: Closer) -> Self {
        OrderClose { call, number, closer, created_at: None }
    }

    fn validate(&self, now: u64) -> Result<(), InvalidInput> {
        match self.call {
            CloseCall::GlobalTransactionId => check_transaction_id(&self.number)?,
            _ => out_trade_no("out_trade_no", &self.number)?,
        }
        self.closer.check()?;
        crate::close_delay::close_delay(self.created_at, now)
    }

    fn path(&self) -> Result<String, InvalidInput> {
        self.validate(u64::MAX)?;
        Ok(self.path_unchecked())
    }

    fn path_unchecked(&self) -> String {
        segment_path(self.call.path_prefix(), &self.number)
    }

    fn prepare(&self, ctx: &Context, attempt: &Attempt<'_>) -> Result<Prepared, Error> {
        let creds = ctx.v3()?;
        self.validate(attempt.timestamp)?;
        let body = self.closer.body(&creds.mchid);
        prepare_post(ctx, creds, attempt, self.path_unchecked(), body)
    }
}

impl CloseOrderV3 {
    /// Closes the order the merchant numbered `out_trade_no` (the credentials' `mchid` is
    /// sent).
    pub fn new(out_trade_no: impl Into<String>) -> Self {
        CloseOrderV3(OrderClose::new(CloseCall::Direct, out_trade_no.into(), Closer::Direct))
    }

    /// Service-provider mode: the service provider (the credentials' `mchid`, sent as
    /// `sp_mchid`) closes its sub-merchant `sub_mchid`'s order
    /// (`/v3/pay/partner/transactions/…`).
    #[must_use]
    pub fn for_sub_merchant(mut self, sub_mchid: impl Into<String>) -> Self {
        self.0.call = CloseCall::Partner;
        self.0.closer = Closer::Partner { sub_mchid: sub_mchid.into() };
        self
    }

    /// When the order was created (Unix seconds): a close within 5 minutes is refused
    /// before anything is sent.
    #[must_use]
    pub fn created_at(mut self, unix_secs: u64) -> Self {
        self.0.created_at = Some(unix_secs);
        self
    }

    /// The merchant's order number.
    #[must_use]
    pub fn out_trade_no(&self) -> &str {
        &self.0.number
    }

    /// Whether a service provider closes for its sub-merchant.
    #[must_use]
    pub fn is_partner(&self) -> bool {
        matches!(self.0.closer, Closer::Partner { .. })
    }

    /// Checks the input as [`prepare`](Operation::prepare) does, at time `now`.
    ///
    /// # Errors
    /// The first [`InvalidInput`] found.
    pub fn validate(&self, now: u64) -> Result<(), InvalidInput> {
        self.0.validate(now)
    }

    /// The request path, `out_trade_no` percent-encoded, once the input is valid.
    ///
    /// # Errors
    /// The first [`InvalidInput`] found, as [`validate`](Self::validate) (the 5-minute rule
    /// aside).
    pub fn path(&self) -> Result<String, InvalidInput> {
        self.0.path()
    }
}

impl CloseOrderV3 {
    /// The query that asks about the order this close names (same merchant, same number).
    #[must_use]
    pub fn query(&self) -> QueryOrderV3 {
        self.0.query()
    }
}

impl Operation for CloseOrderV3 {
    type Output = CloseOutcome;

    fn prepare(&self, ctx: &Context, attempt: &Attempt<'_>) -> Result<Prepared, Error> {
        self.0.prepare(ctx, attempt)
    }

    fn parse(
        &self,
        ctx: &Context,
        seen: &ReplayGuard,
        now: u64,
        response: Response,
    ) -> Result<CloseOutcome, Error> {
        read_close_answer(ctx, seen, now, response)
    }
}

/// Closes a cross-border (global) merchant's order through APIv3, at the Hong Kong host
/// (`https://apihk.mch.weixin.qq.com`, no backup host), by the merchant's order number
/// (`POST /v3/global/transactions/out-trade-no/{out_trade_no}/close`) or by WeChat Pay's
/// (`POST /v3/global/transactions/id/{transaction_id}/close`), for a common-mode merchant
/// (`{"mchid"}`) or an institution closing for its sub-merchant (`{"sp_mchid","sub_mchid"}`).
/// Signing, verification, outcomes and the 5-minute rule are the mainland close's.
///
/// A client configured with the default mainland endpoint sends it to the Hong Kong host; a
/// base URL of your own (a proxy, the sandbox) is used as it is.
///
/// ```
/// use wxpay_core::v3::CloseGlobalOrder;
///
/// let by_no = CloseGlobalOrder::by_out_trade_no("1217752501201407033233368018");
/// assert_eq!(by_no.path()?, "/v3/global/transactions/out-trade-no/1217752501201407033233368018/close");
/// let by_id = CloseGlobalOrder::by_transaction_id("4200000000201811201234567890").for_sub_merchant("1900000109");
/// assert_eq!(by_id.path()?, "/v3/global/transactions/id/4200000000201811201234567890/close");
/// // WeChat Pay's order numbers are digits: refused before anything is built.
/// assert!(CloseGlobalOrder::by_transaction_id("42000A").path().is_err());
/// # Ok::<(), wxpay_core::InvalidInput>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseGlobalOrder(OrderClose);

impl CloseGlobalOrder {
    /// Closes the order the merchant numbered `out_trade_no` (common mode).
    pub fn by_out_trade_no(out_trade_no: impl Into<String>) -> Self {
        let call = CloseCall::GlobalOutTradeNo;
        CloseGlobalOrder(OrderClose::new(call, out_trade_no.into(), Closer::Direct))
    }

    /// Closes the order WeChat Pay numbered `transaction_id` (common mode).
    pub fn by_transaction_id(transaction_id: impl Into<String>) -> Self {
        let call = CloseCall::GlobalTransactionId;
        CloseGlobalOrder(OrderClose::new(call, transaction_id.into(), Closer::Direct))
    }

    /// Institutional mode: the institution (the credentials' `mchid`, sent as `sp_mchid`)
    /// closes its sub-merchant `sub_mchid`'s order.
    #[must_use]
    pub fn for_sub_merchant(mut self, sub_mchid: impl Into<String>) -> Self {
        self.0.closer = Closer::Partner { sub_mchid: sub_mchid.into() };
        self
    }

    /// When the order was created (Unix seconds): a close within 5 minutes is refused
    /// before anything is sent.
    #[must_use]
    pub fn created_at(mut self, unix_secs: u64) -> Self {
        self.0.created_at = Some(unix_secs);
        self
    }

    /// The order number the call names: the merchant's or WeChat Pay's.
    #[must_use]
    pub fn order_number(&self) -> &str {
        &self.0.number
    }

    /// Whether the call names WeChat Pay's order number (`transaction_id`).
    #[must_use]
    pub fn is_by_transaction_id(&self) -> bool {
        self.0.call == CloseCall::GlobalTransactionId
    }

    /// Checks the input as [`prepare`](Operation::prepare) does, at time `now`.
    ///
    /// # Errors
    /// The first [`InvalidInput`] found.
    pub fn validate(&self, now: u64) -> Result<(), InvalidInput> {
        self.0.validate(now)
    }

    /// The request path, the order number percent-encoded, once the input is valid.
    ///
    /// # Errors
    /// As [`validate`](Self::validate) (the 5-minute rule aside).
    pub fn path(&self) -> Result<String, InvalidInput> {
        self.0.path()
    }
}

impl CloseGlobalOrder {
    /// The query that asks about the order this close names (same merchant, same number).
    #[must_use]
    pub fn query(&self) -> QueryOrderV3 {
        self.0.query()
    }
}

impl Operation for CloseGlobalOrder {
    type Output = CloseOutcome;

    fn endpoint(&self, configured: &Endpoint) -> Endpoint {
        match configured {
            Endpoint::Mainland => Endpoint::HongKong,
            other => other.clone(),
        }
    }

    fn prepare(&self, ctx: &Context, attempt: &Attempt<'_>) -> Result<Prepared, Error> {
        self.0.prepare(ctx, attempt)
    }

    fn parse(
        &self,
        ctx: &Context,
        seen: &ReplayGuard,
        now: u64,
        response: Response,
    ) -> Result<CloseOutcome, Error> {
        read_close_answer(ctx, seen, now, response)
    }
}

/// One sub-order of a combined order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubOrder {
    mchid: String,
    out_trade_no: String,
    sub_mchid: Option<String>,
    sub_appid: Option<String>,
}

impl SubOrder {
    /// The sub-order `out_trade_no` of merchant `mchid`.
    pub fn new(mchid: impl Into<String>, out_trade_no: impl Into<String>) -> Self {
        SubOrder {
            mchid: mchid.into(),
            out_trade_no: out_trade_no.into(),
            sub_mchid: None,
            sub_appid: None,
        }
    }

    /// Names the sub-merchant (service-provider combined payments).
    #[must_use]
    pub fn for_sub_merchant(mut self, sub_mchid: impl Into<String>) -> Self {
        self.sub_mchid = Some(sub_mchid.into());
        self
    }

    /// Names the sub-merchant's app.
    #[must_use]
    pub fn sub_appid(mut self, sub_appid: impl Into<String>) -> Self {
        self.sub_appid = Some(sub_appid.into());
        self
    }
}

/// Closes a combined order (every sub-order or none):
///
/// ```
/// use wxpay_core::v3::{CloseCombinedOrder, SubOrder};
///
/// let close = CloseCombinedOrder::new(
///     "wxd678efh567hg6787",
///     "P20150806125346",
///     vec![SubOrder::new("1900000109", "20150806125346"), SubOrder::new("1900000110", "20150806125347").for_sub_merchant("1900000111")],
/// );
/// assert_eq!(
///     close.body(),
///     br#"{"combine_appid":"wxd678efh567hg6787","sub_orders":[{"mchid":"1900000109","out_trade_no":"20150806125346"},{"mchid":"1900000110","out_trade_no":"20150806125347","sub_mchid":"1900000111"}]}"#
/// );
/// ```
///
/// The call:
/// `POST /v3/combine-transactions/out-trade-no/{combine_out_trade_no}/close`, with the
/// combining app id and every sub-order (1 to 50).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseCombinedOrder {
    combine_appid: String,
    combine_out_trade_no: String,
    sub_orders: Vec<SubOrder>,
    created_at: Option<u64>,
}

impl CloseCombinedOrder {
    /// Closes the combined order `combine_out_trade_no` made by app `combine_appid`.
    pub fn new(
        combine_appid: impl Into<String>,
        combine_out_trade_no: impl Into<String>,
        sub_orders: Vec<SubOrder>,
    ) -> Self {
        CloseCombinedOrder {
            combine_appid: combine_appid.into(),
            combine_out_trade_no: combine_out_trade_no.into(),
            sub_orders,
            created_at: None,
        }
    }

    /// When the combined order was created (Unix seconds), for the 5-minute rule.
    #[must_use]
    pub fn created_at(mut self, unix_secs: u64) -> Self {
        self.created_at = Some(unix_secs);
        self
    }

    /// The combined order's number.
    #[must_use]
    pub fn combine_out_trade_no(&self) -> &str {
        &self.combine_out_trade_no
    }

    /// Checks the input as [`prepare`](Operation::prepare) does, at time `now`.
    ///
    /// # Errors
    /// The first [`InvalidInput`] found.
    pub fn validate(&self, now: u64) -> Result<(), InvalidInput> {
        id("combine_appid", &self.combine_appid)?;
        out_trade_no("combine_out_trade_no", &self.combine_out_trade_no)?;
        if self.sub_orders.is_empty() || self.sub_orders.len() > 50 {
            return Err(InvalidInput::SubOrderCount { count: self.sub_orders.len() });
        }
        for sub in &self.sub_orders {
            id("mchid", &sub.mchid)?;
            out_trade_no("out_trade_no", &sub.out_trade_no)?;
            if let Some(s) = &sub.sub_mchid {
                id("sub_mchid", s)?;
            }
            if let Some(s) = &sub.sub_appid {
                id("sub_appid", s)?;
            }
        }
        crate::close_delay::close_delay(self.created_at, now)
    }

    /// The request path, the order number percent-encoded, once the input is valid.
    ///
    /// # Errors
    /// The first [`InvalidInput`] found, as [`validate`](Self::validate) (the 5-minute rule
    /// aside).
    pub fn path(&self) -> Result<String, InvalidInput> {
        self.validate(u64::MAX)?;
        Ok(self.path_unchecked())
    }

    fn path_unchecked(&self) -> String {
        segment_path(CloseCall::Combined.path_prefix(), &self.combine_out_trade_no)
    }

    /// The JSON body, exactly as sent.
    #[must_use]
    pub fn body(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(64 + 96 * self.sub_orders.len());
        body.extend_from_slice(b"{\"combine_appid\":");
        json_string(&self.combine_appid, &mut body);
        body.extend_from_slice(b",\"sub_orders\":[");
        for (i, sub) in self.sub_orders.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(b"{\"mchid\":");
            json_string(&sub.mchid, &mut body);
            body.extend_from_slice(b",\"out_trade_no\":");
            json_string(&sub.out_trade_no, &mut body);
            if let Some(s) = &sub.sub_mchid {
                body.extend_from_slice(b",\"sub_mchid\":");
                json_string(s, &mut body);
            }
            if let Some(s) = &sub.sub_appid {
                body.extend_from_slice(b",\"sub_appid\":");
                json_string(s, &mut body);
            }
            body.push(b'}');
        }
        body.extend_from_slice(b"]}");
        body
    }
}

impl CloseCombinedOrder {
    /// The query that asks about the combined order this close names.
    #[must_use]
    pub fn query(&self) -> QueryCombinedOrder {
        QueryCombinedOrder::new(&self.combine_out_trade_no)
    }
}

impl Operation for CloseCombinedOrder {
    type Output = CloseOutcome;

    fn prepare(&self, ctx: &Context, attempt: &Attempt<'_>) -> Result<Prepared, Error> {
        let creds = ctx.v3()?;
        self.validate(attempt.timestamp)?;
        prepare_post(ctx, creds, attempt, self.path_unchecked(), self.body())
    }

    fn parse(
        &self,
        ctx: &Context,
        seen: &ReplayGuard,
        now: u64,
        response: Response,
    ) -> Result<CloseOutcome, Error> {
        read_close_answer(ctx, seen, now, response)
    }
}

/// A JSON string literal (serde_json's escaping) appended to `out`.
fn json_string(s: &str, out: &mut Vec<u8>) {
    // Writing to a Vec cannot fail, and a &str always serializes.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Reads and verifies the answer to any APIv3 close call, with `ctx`'s APIv3 credentials
/// and the replay guard `seen` (a signed answer is believed once).
///
/// A `204` with an empty body is [`CloseOutcome::Closed`] once its signature verifies; any
/// other 2xx is a decoding failure (the signature does not cover the status line, so a
/// signed error body under 200 must not read as a close). An error answer that carries
/// signature headers must verify too; one that carries none is reported as an unverified
/// [`ApiError`](crate::ApiError), and is never turned into an outcome: only a verified answer can say an
/// order is paid, closed or unknown. A verified error answer without a `code` (an empty
/// body under 403, say) refuses nothing: its effect is unknown.
///
/// # Errors
/// [`ErrorKind::Verify`](crate::ErrorKind::Verify), [`ErrorKind::Api`](crate::ErrorKind::Api)
/// or [`ErrorKind::Decode`](crate::ErrorKind::Decode).
pub fn read_close_answer(
    ctx: &Context,
    seen: &ReplayGuard,
    now: u64,
    response: Response,
) -> Result<CloseOutcome, Error> {
    let creds = ctx.v3()?;
    let (parts, body) = response.into_parts();
    if parts.status.is_success() {
        // The signature covers the body, never the status line: only the exact form of a
        // close (204, no body) is one. A signed `{"code":…}` relabelled 200, or a 202
        // `USER_PAYING`, is not.
        if parts.status != http::StatusCode::NO_CONTENT || !body.is_empty() {
            let reason =
                "a close is answered 204 with an empty body; this 2xx answer is not a close";
            return Err(DecodeError::new(reason, parts.status.as_u16(), body).into());
        }
        let verifier = creds.verifier.as_ref();
        verify_once(seen, verifier, &parts.headers, &body, now, creds.window_secs)?;
        return Ok(CloseOutcome::Closed);
    }
    let (error, code) = read_error_answer(seen, creds, now, &parts, body)?;
    if error.verified {
        if let Some(outcome) = CloseOutcome::from_v3_answer(error.status, &code) {
            return Ok(outcome);
        }
    }
    Err(error.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v3::{check_out_trade_no, percent_decode};

    #[test]
    fn paths_read_back_as_they_are_written() {
        for (op, call) in [
            (CloseOrderV3::new("a|b*c_d-e12"), CloseCall::Direct),
            (CloseOrderV3::new("a|b*c_d-e12").for_sub_merchant("1900000109"), CloseCall::Partner),
        ] {
            let path = op.path().unwrap();
            assert!(path.contains("%7C"), "{path}");
            assert_eq!(CloseCall::from_path(&path), Some((call, "a|b*c_d-e12".to_owned())));
        }
        let combined =
            CloseCombinedOrder::new("wx1", "combined-1", vec![SubOrder::new("1", "sub-0001")]);
        let path = combined.path().unwrap();
        assert_eq!(CloseCall::from_path(&path), Some((CloseCall::Combined, "combined-1".into())));
        for other in [
            "/v3/pay/transactions/out-trade-no//close",
            "/v3/pay/transactions/out-trade-no/a/b/close",
            "/pay/closeorder",
            "/v3/pay/transactions/out-trade-no/abc",
        ] {
            assert_eq!(CloseCall::from_path(other), None, "{other}");
        }
        assert_eq!(percent_decode("%7c%7C%zz%4"), "||%zz%4");
    }

    #[test]
    fn path_refuses_what_prepare_would() {
        assert!(matches!(
            CloseOrderV3::new("../../x/close").path(),
            Err(InvalidInput::BadCharacter { character: '.', .. })
        ));
        assert!(check_out_trade_no("12345").is_err());
        assert!(check_out_trade_no("a|b*c_d-e12").is_ok());
    }
}
