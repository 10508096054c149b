//! `POST /pay/orderquery`: an order's state, in a signed answer that names it.

use super::answer::{bad_result_code, business_error, read_signed, signed_post};
use crate::error::{Error, InvalidInput, VerifyError};
use crate::operation::{Attempt, Context, Operation, Prepared};
use crate::order_state::{OrderState, QueryAnswer, TradeState};
use crate::replay::ReplayGuard;
use crate::validate;
use crate::wire::Response;

/// The path of the APIv2 order query.
pub const QUERY_PATH: &str = "/pay/orderquery";

/// Queries an order through APIv2 (`POST /pay/orderquery`), by the merchant's number or
/// WeChat Pay's, in common or institutional mode. The answer must name the order asked
/// about (and the merchant, and the sub-merchant when one was named).
///
/// ```
/// use wxpay_core::v2::QueryOrderV2;
///
/// let q = QueryOrderV2::by_out_trade_no("1415983244").for_sub_merchant("1900000110");
/// q.validate()?;
/// assert!(QueryOrderV2::by_transaction_id("42000A").validate().is_err());
/// # Ok::<(), wxpay_core::InvalidInput>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryOrderV2 {
    number: String,
    by_id: bool,
    sub_mch_id: Option<String>,
    sub_appid: Option<String>,
}

impl QueryOrderV2 {
    /// The order the merchant numbered `out_trade_no`.
    pub fn by_out_trade_no(out_trade_no: impl Into<String>) -> Self {
        QueryOrderV2 {
            number: out_trade_no.into(),
            by_id: false,
            sub_mch_id: None,
            sub_appid: None,
        }
    }

    /// The order WeChat Pay numbered `transaction_id`.
    pub fn by_transaction_id(transaction_id: impl Into<String>) -> Self {
        QueryOrderV2 {
            number: transaction_id.into(),
            by_id: true,
            sub_mch_id: None,
            sub_appid: None,
        }
    }

    /// Institutional mode: the service provider asks about `sub_mch_id`'s order.
    #[must_use]
    pub fn for_sub_merchant(mut self, sub_mch_id: impl Into<String>) -> Self {
        self.sub_mch_id = Some(sub_mch_id.into());
        self
    }

    /// Names the sub-merchant's app (institutional mode).
    #[must_use]
    pub fn with_sub_appid(mut self, sub_appid: impl Into<String>) -> Self {
        self.sub_appid = Some(sub_appid.into());
        self
    }

    /// The order number asked about.
    #[must_use]
    pub fn order_number(&self) -> &str {
        &self.number
    }

    /// Whether it asks by WeChat Pay's number.
    #[must_use]
    pub fn is_by_transaction_id(&self) -> bool {
        self.by_id
    }

    /// Checks the input as [`prepare`](Operation::prepare) does.
    ///
    /// # Errors
    /// The first [`InvalidInput`] found.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        if self.by_id {
            crate::v3::check_transaction_id(&self.number)?;
        } else {
            validate::charset("out_trade_no", &self.number, 1, 32, b"_-|*@")?;
        }
        validate::optional_id("sub_mch_id", self.sub_mch_id.as_deref(), 32)?;
        validate::optional_id("sub_appid", self.sub_appid.as_deref(), 32)?;
        if self.sub_appid.is_some() && self.sub_mch_id.is_none() {
            return Err(InvalidInput::MissingSubMchId);
        }
        Ok(())
    }
}

impl Operation for QueryOrderV2 {
    type Output = QueryAnswer;

    fn prepare(&self, ctx: &Context, attempt: &Attempt<'_>) -> Result<Prepared, Error> {
        let creds = ctx.v2()?;
        self.validate()?;
        validate::nonce(attempt.nonce)?;
        let number = if self.by_id { "transaction_id" } else { "out_trade_no" };
        let mut fields = vec![
            ("appid", creds.appid.as_str()),
            ("mch_id", creds.mch_id.as_str()),
            ("nonce_str", attempt.nonce),
            (number, self.number.as_str()),
        ];
        if let Some(t) = creds.sign_type_field() {
            fields.push(("sign_type", t));
        }
        if let Some(s) = &self.sub_appid {
            fields.push(("sub_appid", s));
        }
        if let Some(s) = &self.sub_mch_id {
            fields.push(("sub_mch_id", s));
        }
        fields.sort_unstable();
        signed_post(ctx, creds, attempt, QUERY_PATH, &fields)
    }

    fn parse(
        &self,
        ctx: &Context,
        seen: &ReplayGuard,
        _now: u64,
        response: Response,
    ) -> Result<QueryAnswer, Error> {
        let subs = (self.sub_mch_id.as_deref(), self.sub_appid.as_deref());
        read_signed(ctx, seen, response, subs, |fields, status, body| {
            match fields.get("result_code") {
                Some("SUCCESS") => {}
                Some("FAIL") if fields.get("err_code") == Some("ORDERNOTEXIST") => {
                    return Ok(QueryAnswer::NotFound);
                }
                Some("FAIL") => return Err(business_error(fields, status)),
                _ => return Err(bad_result_code(fields, status, body)),
            }
            // The answer must be about this order.
            let asked = if self.by_id { "transaction_id" } else { "out_trade_no" };
            if fields.get(asked) != Some(self.number.as_str()) {
                return Err(VerifyError::Mismatch { field: asked }.into());
            }
            let text = |name: &str| fields.non_empty(name).map(str::to_owned);
            let (Some(no), Some(state)) = (text("out_trade_no"), text("trade_state")) else {
                return Err(super::answer::decode_error(
                    "an answer without out_trade_no or trade_state",
                    status,
                    body.to_vec(),
                ));
            };
            let mut order = OrderState::new(no, TradeState::from_wire(&state));
            order.trade_state_desc = text("trade_state_desc").unwrap_or_default();
            order.transaction_id = text("transaction_id");
            order.paid_at = text("time_end");
            order.total = text("total_fee").and_then(|t| t.parse().ok());
            order.currency = text("fee_type").or_else(|| order.total.map(|_| "CNY".to_owned()));
            if order.trade_state.is_paid() && order.transaction_id.is_none() {
                return Err(super::answer::decode_error(
                    "a paid order without transaction_id",
                    status,
                    body.to_vec(),
                ));
            }
            Ok(QueryAnswer::Found(vec![order]))
        })
    }
}
