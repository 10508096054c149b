//! `POST /pay/closeorder`.

use super::answer::{bad_result_code, business_error, read_signed, signed_post};
use super::credentials::V2Credentials;
use super::query::QueryOrderV2;
use super::xml::V2Fields;
use crate::error::{Error, InvalidInput};
use crate::operation::{Attempt, Context, Operation, Prepared};
use crate::outcome::CloseOutcome;
use crate::replay::ReplayGuard;
use crate::validate;
use crate::wire::Response;

/// The path of the APIv2 close-order call.
pub const PATH: &str = "/pay/closeorder";

/// Closes an order through APIv2 (`POST /pay/closeorder`), in common or institutional mode.
///
/// ```
/// use wxpay_core::{ApiV2Key, Attempt, BaseUrl, Context, Operation, v2::{CloseOrderV2, V2Credentials}};
///
/// let key = ApiV2Key::new("192006250b4c09247ec02edce69f6a2d")?;
/// let ctx = Context::new().with_v2(V2Credentials::new("wx2421b1c4370ec43b", "10000100", key)?);
/// let base = BaseUrl::parse(BaseUrl::PRIMARY)?;
/// let attempt = Attempt::new(&base, 1_700_000_000, "4ca93f17ddf3443ceabf72f26d64fe0e");
/// let request = CloseOrderV2::new("1415983244").build(&ctx, &attempt)?;
/// assert!(std::str::from_utf8(request.body())?.ends_with("<sign>8D2363E7A0948301A065F369DEB9011B</sign></xml>"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseOrderV2 {
    out_trade_no: String,
    sub_mch_id: Option<String>,
    sub_appid: Option<String>,
    created_at: Option<u64>,
}

impl CloseOrderV2 {
    /// Closes the order the merchant numbered `out_trade_no` (common mode).
    pub fn new(out_trade_no: impl Into<String>) -> Self {
        CloseOrderV2 {
            out_trade_no: out_trade_no.into(),
            sub_mch_id: None,
            sub_appid: None,
            created_at: None,
        }
    }

    /// Institutional mode: the service provider closes `sub_mch_id`'s order (name the
    /// sub-merchant's app with [`with_sub_appid`](Self::with_sub_appid)).
    #[must_use]
    pub fn for_sub_merchant(mut self, sub_mch_id: impl Into<String>) -> Self {
        self.sub_mch_id = Some(sub_mch_id.into());
        self
    }

    /// Names the sub-merchant's app id alone; [`prepare`](Operation::prepare) refuses it
    /// without a `sub_mch_id`.
    #[must_use]
    pub fn with_sub_appid(mut self, sub_appid: impl Into<String>) -> Self {
        self.sub_appid = Some(sub_appid.into());
        self
    }

    /// When the order was created (Unix seconds): closing sooner than 5 minutes after is
    /// refused before anything is sent, with how long to wait.
    #[must_use]
    pub fn created_at(mut self, unix_secs: u64) -> Self {
        self.created_at = Some(unix_secs);
        self
    }

    /// The merchant's order number.
    #[must_use]
    pub fn out_trade_no(&self) -> &str {
        &self.out_trade_no
    }

    /// Checks the input as [`prepare`](Operation::prepare) does, at time `now`.
    ///
    /// # Errors
    /// The first [`InvalidInput`] found.
    pub fn validate(&self, now: u64) -> Result<(), InvalidInput> {
        validate::charset("out_trade_no", &self.out_trade_no, 1, 32, b"_-|*@")?;
        validate::optional_id("sub_mch_id", self.sub_mch_id.as_deref(), 32)?;
        validate::optional_id("sub_appid", self.sub_appid.as_deref(), 32)?;
        if self.sub_appid.is_some() && self.sub_mch_id.is_none() {
            return Err(InvalidInput::MissingSubMchId);
        }
        crate::close_delay::close_delay(self.created_at, now)
    }

    fn fields<'a>(
        &'a self,
        creds: &'a V2Credentials,
        nonce: &'a str,
    ) -> ([(&'a str, &'a str); 7], usize) {
        let mut fields = [("", ""); 7];
        let mut n = 0;
        let mut push = |name, value: Option<&'a str>| {
            if let Some(v) = value {
                fields[n] = (name, v);
                n += 1;
            }
        };
        // Already in byte-wise name order, as signing requires.
        push("appid", Some(&creds.appid));
        push("mch_id", Some(&creds.mch_id));
        push("nonce_str", Some(nonce));
        push("out_trade_no", Some(&self.out_trade_no));
        push("sign_type", creds.sign_type_field());
        push("sub_appid", self.sub_appid.as_deref());
        push("sub_mch_id", self.sub_mch_id.as_deref());
        (fields, n)
    }
}

impl CloseOrderV2 {
    /// The query that asks about the order this close names (same merchant, sub-merchant
    /// and number).
    #[must_use]
    pub fn query(&self) -> QueryOrderV2 {
        let mut query = QueryOrderV2::by_out_trade_no(&self.out_trade_no);
        if let Some(sub) = &self.sub_mch_id {
            query = query.for_sub_merchant(sub);
        }
        if let Some(app) = &self.sub_appid {
            query = query.with_sub_appid(app);
        }
        query
    }
}

impl Operation for CloseOrderV2 {
    type Output = CloseOutcome;

    fn prepare(&self, ctx: &Context, attempt: &Attempt<'_>) -> Result<Prepared, Error> {
        let creds = ctx.v2()?;
        self.validate(attempt.timestamp)?;
        validate::nonce(attempt.nonce)?;

        let (fields, n) = self.fields(creds, attempt.nonce);
        signed_post(ctx, creds, attempt, PATH, &fields[..n])
    }

    fn parse(
        &self,
        ctx: &Context,
        seen: &ReplayGuard,
        _now: u64,
        response: Response,
    ) -> Result<CloseOutcome, Error> {
        parse_close(ctx, seen, self, response)
    }
}

/// Checks an incoming APIv2 close request's fields by the rules this crate's own requests
/// follow: `appid`, `mch_id` and the sub ids (printable, at most 32), `out_trade_no` (1 to 32
/// of letters, digits and `_ - | * @`), `nonce_str` (1 to 32 letters and digits), `sign`
/// (at most 64). For servers that stand in for WeChat Pay, as the sandbox does; the signature
/// itself is [`verify_fields`](super::verify_fields)'s.
///
/// # Errors
/// The first [`InvalidInput`] found.
pub fn check_close_request(fields: &V2Fields<'_>) -> Result<(), InvalidInput> {
    let required =
        |field: &'static str| fields.non_empty(field).ok_or(InvalidInput::Empty { field });
    validate::id("appid", required("appid")?, 32)?;
    validate::id("mch_id", required("mch_id")?, 32)?;
    validate::nonce(required("nonce_str")?)?;
    let sign = required("sign")?;
    if sign.len() > 64 {
        return Err(InvalidInput::TooLong { field: "sign", max: 64, len: sign.chars().count() });
    }
    let mut op = CloseOrderV2::new(required("out_trade_no")?);
    op.sub_mch_id = fields.non_empty("sub_mch_id").map(str::to_owned);
    op.sub_appid = fields.non_empty("sub_appid").map(str::to_owned);
    op.validate(0)
}

fn parse_close(
    ctx: &Context,
    seen: &ReplayGuard,
    op: &CloseOrderV2,
    response: Response,
) -> Result<CloseOutcome, Error> {
    let subs = (op.sub_mch_id.as_deref(), op.sub_appid.as_deref());
    read_signed(ctx, seen, response, subs, |fields, status, body| {
        // A query's answer (it carries the order's state) is not a close's, however well
        // signed: sent in place of one, it must not read as "closed".
        if fields.get("trade_state").is_some() {
            let reason = "an answer of another call (it carries trade_state), not a close's";
            return Err(super::answer::decode_error(reason, status, body.to_vec()));
        }
        close_outcome(fields, status, body)
    })
}

fn close_outcome(
    fields: &V2Fields<'_>,
    status: http::StatusCode,
    body: &[u8],
) -> Result<CloseOutcome, Error> {
    match fields.get("result_code") {
        Some("SUCCESS") => Ok(CloseOutcome::Closed),
        Some("FAIL") => {
            let code = fields.get("err_code").unwrap_or_default();
            match CloseOutcome::from_v2_code(code) {
                Some(outcome) => Ok(outcome),
                None => Err(business_error(fields, status)),
            }
        }
        _ => Err(bad_result_code(fields, status, body)),
    }
}
