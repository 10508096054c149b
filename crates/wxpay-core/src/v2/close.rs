//! `POST /pay/closeorder`.

use http::header::{CONTENT_TYPE, USER_AGENT};
use http::uri::PathAndQuery;
use http::{HeaderValue, Method, StatusCode};

use super::credentials::V2Credentials;
use super::sign::{verify_fields, write_sorted_payload};
use super::xml::{V2Fields, write_validated_document};
use crate::error::{
    ApiCode, ApiError, ApiVersion, DecodeError, Error, ErrorKind, InvalidInput, VerifyError,
};
use crate::operation::{Attempt, Context, Operation, Prepared};
use crate::outcome::CloseOutcome;
use crate::replay::ReplayGuard;
use crate::validate;
use crate::wire::{MAX_RESPONSE_BODY, Response};

/// The path of the APIv2 close-order call.
pub const PATH: &str = "/pay/closeorder";

/// The content type of APIv2 request bodies.
pub const CONTENT_TYPE_XML: &str = "text/xml; charset=utf-8";

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

    /// Institutional mode: the service provider closes `sub_mch_id`'s order, optionally
    /// naming the sub-merchant's app.
    #[must_use]
    pub fn for_sub_merchant(
        mut self,
        sub_mch_id: impl Into<String>,
        sub_appid: Option<String>,
    ) -> Self {
        self.sub_mch_id = Some(sub_mch_id.into());
        self.sub_appid = sub_appid;
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
        validate::close_delay(self.created_at, now)
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

impl Operation for CloseOrderV2 {
    type Output = CloseOutcome;

    fn prepare(&self, ctx: &Context, attempt: &Attempt<'_>) -> Result<Prepared, Error> {
        let creds = ctx.v2()?;
        self.validate(attempt.timestamp)?;
        validate::nonce(attempt.nonce)?;

        let (fields, n) = self.fields(creds, attempt.nonce);
        let fields = &fields[..n];
        // One buffer: first the payload to sign, then (cleared) the XML document.
        // `<name>value</name>` is twice the name and 5 bytes of tags; room for escapes besides.
        let size: usize = fields.iter().map(|(n, v)| 2 * n.len() + v.len() + 5).sum();
        let mut body = Vec::with_capacity(size + 192);
        write_sorted_payload(fields, &mut body);
        let sign = creds.signer.sign(creds.sign_type, &body)?;
        body.clear();
        write_validated_document(fields, sign.as_str(), &mut body);

        let uri = attempt.base_url.join(PathAndQuery::from_static(PATH))?;
        let mut request = http::Request::new(body);
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_XML));
        headers.insert(USER_AGENT, ctx.user_agent.clone());
        Ok(Prepared::signed(request))
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

fn decode_error(reason: impl Into<String>, status: StatusCode, body: Vec<u8>) -> Error {
    DecodeError::new(reason, status.as_u16(), body).into()
}

fn parse_close(
    ctx: &Context,
    seen: &ReplayGuard,
    op: &CloseOrderV2,
    response: Response,
) -> Result<CloseOutcome, Error> {
    let creds = ctx.v2()?;
    let (parts, body) = response.into_parts();
    let status = parts.status;
    if body.len() > MAX_RESPONSE_BODY {
        return Err(decode_error("body exceeds the response size cap", status, body));
    }
    if !status.is_success() {
        let message = String::from_utf8_lossy(&body[..body.len().min(256)]).into_owned();
        let error =
            ApiError::new(ApiVersion::V2, status.as_u16(), ApiCode::HttpStatus, message, false);
        return Err(error.into());
    }
    let fields = match V2Fields::parse(&body) {
        Ok(f) => f,
        Err(reason) => return Err(decode_error(reason, status, body)),
    };
    match fields.get("return_code") {
        Some("SUCCESS") => {}
        Some("FAIL") => {
            let return_msg = fields.get("return_msg").unwrap_or_default().to_owned();
            return Err(ErrorKind::Communication { return_msg }.into());
        }
        Some(other) => {
            let reason = format!("unknown return_code {other:?}");
            return Err(decode_error(reason, status, body));
        }
        None => return Err(decode_error("no return_code", status, body)),
    }

    // Nothing in a SUCCESS answer is believed before its signature checks out, and then
    // once: an APIv2 answer names no order and no time, so a replay is the same answer again.
    verify_fields(creds.signer.as_ref(), creds.sign_type, &fields)?;
    let same =
        |field: &'static str, sent: Option<&str>, required: bool| -> Result<(), VerifyError> {
            match (fields.non_empty(field), sent) {
                (Some(got), Some(sent)) if got == sent => Ok(()),
                (None, _) if !required => Ok(()),
                _ => Err(VerifyError::Mismatch { field }),
            }
        };
    same("appid", Some(&creds.appid), true)?;
    same("mch_id", Some(&creds.mch_id), true)?;
    // Sub ids are checked when we sent them; an answer that omits them is still ours.
    if op.sub_mch_id.is_some() {
        same("sub_mch_id", op.sub_mch_id.as_deref(), false)?;
    }
    if op.sub_appid.is_some() {
        same("sub_appid", op.sub_appid.as_deref(), false)?;
    }
    let sign = fields.get("sign").unwrap_or_default();
    seen.first_v2(fields.get("nonce_str").unwrap_or_default(), sign)?;

    match fields.get("result_code") {
        Some("SUCCESS") => Ok(CloseOutcome::Closed),
        Some("FAIL") => {
            let code = fields.get("err_code").unwrap_or_default();
            if let Some(outcome) = CloseOutcome::from_v2_code(code) {
                return Ok(outcome);
            }
            let message = fields.non_empty("err_code_des").or_else(|| fields.get("result_msg"));
            let code = ApiCode::from_wire(code);
            let error = ApiError::new(
                ApiVersion::V2,
                status.as_u16(),
                code,
                message.unwrap_or_default(),
                true,
            );
            Err(error.into())
        }
        Some(other) => {
            let reason = format!("unknown result_code {other:?}");
            Err(decode_error(reason, status, body))
        }
        None => Err(decode_error("a SUCCESS answer without result_code", status, body)),
    }
}
