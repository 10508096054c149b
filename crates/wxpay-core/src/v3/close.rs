//! The three APIv3 close calls and the reading of their answers.

use std::fmt::Write as _;

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::uri::PathAndQuery;
use http::{HeaderName, HeaderValue, Method};

use super::verify::{has_signature_headers, header, verify_once};
use super::{AUTH_SCHEME, V3Credentials, itoa_buf, request_message};
use crate::endpoint::Endpoint;
use crate::error::{ApiCode, ApiError, ApiVersion, DecodeError, Error, InvalidInput};
use crate::operation::{Attempt, Context, Operation, PendingSignature, Prepared};
use crate::outcome::CloseOutcome;
use crate::replay::ReplayGuard;
use crate::{MAX_RESPONSE_BODY, Response, validate};

const JSON: &str = "application/json";
/// Characters an APIv3 `out_trade_no` may hold besides letters and digits.
const OUT_TRADE_NO_EXTRA: &[u8] = b"_-|*";

fn out_trade_no(field: &'static str, value: &str) -> Result<(), InvalidInput> {
    validate::charset(field, value, 6, 32, OUT_TRADE_NO_EXTRA)
}

/// Checks an APIv3 `out_trade_no` (6 to 32 of ASCII letters, digits and `_ - | *`), as the
/// close calls do before sending and as a server receiving one should.
///
/// # Errors
/// The [`InvalidInput`] that says what is wrong.
pub fn check_out_trade_no(value: &str) -> Result<(), InvalidInput> {
    out_trade_no("out_trade_no", value)
}

/// Checks a WeChat Pay order number (`transaction_id`): 1 to 32 digits.
///
/// # Errors
/// The [`InvalidInput`] that says what is wrong.
pub fn check_transaction_id(value: &str) -> Result<(), InvalidInput> {
    validate::charset("transaction_id", value, 1, 32, b"")?;
    if let Some((position, character)) =
        value.chars().enumerate().find(|(_, c)| !c.is_ascii_digit())
    {
        return Err(InvalidInput::BadCharacter { field: "transaction_id", character, position });
    }
    Ok(())
}

/// Which APIv3 close call a request path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseCall {
    /// A direct merchant's close.
    Direct,
    /// A service provider's close for a sub-merchant.
    Partner,
    /// A combined order's close.
    Combined,
    /// A cross-border (global) close by the merchant's order number.
    GlobalOutTradeNo,
    /// A cross-border (global) close by WeChat Pay's order number (`transaction_id`).
    GlobalTransactionId,
}

impl CloseCall {
    /// Every APIv3 close call.
    pub const ALL: [CloseCall; 5] = [
        CloseCall::Direct,
        CloseCall::Partner,
        CloseCall::Combined,
        CloseCall::GlobalOutTradeNo,
        CloseCall::GlobalTransactionId,
    ];

    /// The path up to the order number.
    #[must_use]
    pub fn path_prefix(self) -> &'static str {
        match self {
            CloseCall::Direct => "/v3/pay/transactions/out-trade-no/",
            CloseCall::Partner => "/v3/pay/partner/transactions/out-trade-no/",
            CloseCall::Combined => "/v3/combine-transactions/out-trade-no/",
            CloseCall::GlobalOutTradeNo => "/v3/global/transactions/out-trade-no/",
            CloseCall::GlobalTransactionId => "/v3/global/transactions/id/",
        }
    }

    /// Reads a request path: the close call it names and its order number, percent-decoded
    /// (not yet checked: see [`check_out_trade_no`] and [`check_transaction_id`]). `None` for
    /// any other path.
    #[must_use]
    pub fn from_path(path: &str) -> Option<(CloseCall, String)> {
        CloseCall::ALL.into_iter().find_map(|call| {
            let segment = path.strip_prefix(call.path_prefix())?.strip_suffix("/close")?;
            (!segment.is_empty() && !segment.contains('/')).then(|| (call, percent_decode(segment)))
        })
    }
}

/// Decodes `%XX` escapes (a `%` not followed by two hex digits stays as it is); bytes that
/// do not form UTF-8 become U+FFFD.
#[must_use]
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| char::from(c).to_digit(16);
        match (b[i], b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                // Two hex digits: at most 255.
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

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
/// let direct = CloseOrderV3::direct("order|2024*01").created_at(1_700_000_000);
/// assert_eq!(direct.path()?, "/v3/pay/transactions/out-trade-no/order%7C2024*01/close");
/// direct.validate(1_700_000_300)?; // 5 minutes after creation: allowed
/// assert!(direct.validate(1_700_000_299).is_err());
///
/// let partner = CloseOrderV3::partner("1217752501201407033233368018", "1900000109");
/// assert_eq!(partner.path()?, "/v3/pay/partner/transactions/out-trade-no/1217752501201407033233368018/close");
/// assert!(CloseOrderV3::direct("../x").path().is_err()); // checked before anything is built
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
    fn new(call: CloseCall, number: String, closer: Closer) -> Self {
        OrderClose { call, number, closer, created_at: None }
    }

    fn validate(&self, now: u64) -> Result<(), InvalidInput> {
        match self.call {
            CloseCall::GlobalTransactionId => check_transaction_id(&self.number)?,
            _ => out_trade_no("out_trade_no", &self.number)?,
        }
        self.closer.check()?;
        validate::close_delay(self.created_at, now)
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
    /// A direct merchant closes its order `out_trade_no` (the credentials' `mchid` is sent).
    pub fn direct(out_trade_no: impl Into<String>) -> Self {
        CloseOrderV3(OrderClose::new(CloseCall::Direct, out_trade_no.into(), Closer::Direct))
    }

    /// A service provider (the credentials' `mchid`, sent as `sp_mchid`) closes
    /// `sub_mchid`'s order `out_trade_no`.
    pub fn partner(out_trade_no: impl Into<String>, sub_mchid: impl Into<String>) -> Self {
        let closer = Closer::Partner { sub_mchid: sub_mchid.into() };
        CloseOrderV3(OrderClose::new(CloseCall::Partner, out_trade_no.into(), closer))
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
    pub fn sub_mchid(mut self, sub_mchid: impl Into<String>) -> Self {
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
///     vec![SubOrder::new("1900000109", "20150806125346"), SubOrder::new("1900000110", "20150806125347").sub_mchid("1900000111")],
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
        validate::close_delay(self.created_at, now)
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

/// `{prefix}{segment, percent-encoded}/close`, in a string of exactly that length (so that
/// `http` takes it over without another allocation).
fn segment_path(prefix: &str, segment: &str) -> String {
    let encoded: usize = segment.bytes().map(|b| if keep_in_segment(b) { 1 } else { 3 }).sum();
    let mut path = String::with_capacity(prefix.len() + encoded + "/close".len());
    path.push_str(prefix);
    encode_segment(segment, &mut path);
    path.push_str("/close");
    path
}

fn keep_in_segment(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b)
}

/// Percent-encodes a path segment as RFC 3986 requires: unreserved characters, sub-delims,
/// `:` and `@` stay; everything else becomes `%XX` (upper-case hex).
pub(crate) fn encode_segment(segment: &str, out: &mut String) {
    for b in segment.bytes() {
        if keep_in_segment(b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// Builds an unsigned APIv3 `POST` with its headers and the message its signature will cover.
fn prepare_post(
    ctx: &Context,
    creds: &V3Credentials,
    attempt: &Attempt<'_>,
    path: String,
    body: Vec<u8>,
) -> Result<Prepared, Error> {
    prepare_request(ctx, creds, attempt, Method::POST, path, body)
}

/// Builds an unsigned APIv3 request with its headers and the message its signature will
/// cover (`Content-Type` only when there is a body).
pub(crate) fn prepare_request(
    ctx: &Context,
    creds: &V3Credentials,
    attempt: &Attempt<'_>,
    method: Method,
    path: String,
    body: Vec<u8>,
) -> Result<Prepared, Error> {
    validate::nonce(attempt.nonce)?;
    let message = request_message(method.as_str(), &path, attempt.timestamp, attempt.nonce, &body);
    let path = PathAndQuery::try_from(path)
        .map_err(|_| InvalidInput::BadBaseUrl { reason: "could not form the request path" })?;
    let uri = attempt.base_url.join(path)?;

    // The Authorization header up to the signature; the rest is added once signed.
    let mut auth = String::with_capacity(authorization_len(creds, attempt));
    let _ = write!(
        auth,
        "{AUTH_SCHEME} mchid=\"{}\",nonce_str=\"{}\",signature=\"",
        creds.mchid, attempt.nonce
    );

    let has_body = !body.is_empty();
    let mut request = http::Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    headers.insert(ACCEPT, HeaderValue::from_static(JSON));
    if has_body {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    }
    headers.insert(USER_AGENT, ctx.user_agent.clone());
    if let Some(serial) = creds.wechatpay_serial() {
        headers.insert(HeaderName::from_static(header::SERIAL), serial);
    }
    Ok(Prepared::unsigned(
        request,
        PendingSignature { message, auth, timestamp: attempt.timestamp },
    ))
}

/// The exact length of the finished Authorization header (an exact capacity lets `http`
/// take the string over without another allocation).
fn authorization_len(creds: &V3Credentials, attempt: &Attempt<'_>) -> usize {
    const PUNCTUATION: &str =
        " mchid=\"\",nonce_str=\"\",signature=\"\",timestamp=\"\",serial_no=\"\"";
    AUTH_SCHEME.len()
        + PUNCTUATION.len()
        + creds.mchid.len()
        + attempt.nonce.len()
        + creds.signature_len.div_ceil(3) * 4
        + itoa_buf(attempt.timestamp).as_str().len()
        + creds.serial_no.len()
}

/// Completes the Authorization header with the signature and sets it (marked sensitive).
pub(crate) fn authorize(
    creds: &V3Credentials,
    request: &mut http::Request<Vec<u8>>,
    mut auth: String,
    timestamp: u64,
    signature: &[u8],
) -> Result<(), Error> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode_string(signature, &mut auth);
    let ts = itoa_buf(timestamp);
    let _ = write!(auth, "\",timestamp=\"{}\",serial_no=\"{}\"", ts.as_str(), creds.serial_no);
    let mut value = HeaderValue::try_from(auth)
        .map_err(|_| crate::SignError::new("the signature made an invalid header"))?;
    value.set_sensitive(true);
    request.headers_mut().insert(AUTHORIZATION, value);
    Ok(())
}

/// Reads and verifies the answer to any APIv3 close call, with `ctx`'s APIv3 credentials
/// and the replay guard `seen` (a signed answer is believed once).
///
/// A `204` with an empty body is [`CloseOutcome::Closed`] once its signature verifies; any
/// other 2xx is a decoding failure (the signature does not cover the status line, so a
/// signed error body under 200 must not read as a close). An error answer that carries
/// signature headers must verify too; one that carries none is reported as an unverified
/// [`ApiError`], and is never turned into an outcome: only a verified answer can say an
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

/// A body over the cap is a decoding failure.
pub(crate) fn check_size(status: http::StatusCode, body: &[u8]) -> Result<(), Error> {
    if body.len() > MAX_RESPONSE_BODY {
        let reason = "body exceeds the response size cap";
        return Err(DecodeError::new(reason, status.as_u16(), body.to_vec()).into());
    }
    Ok(())
}

/// Reads an APIv3 error answer (any non-2xx): verified when it carries signature headers
/// (and refused when they do not verify), its code as received beside the typed error.
///
/// # Errors
/// [`ErrorKind::Verify`](crate::ErrorKind::Verify) and
/// [`ErrorKind::Decode`](crate::ErrorKind::Decode).
pub(crate) fn read_error_answer(
    seen: &ReplayGuard,
    creds: &V3Credentials,
    now: u64,
    parts: &http::response::Parts,
    body: Vec<u8>,
) -> Result<(ApiError, String), Error> {
    let status = parts.status;
    check_size(status, &body)?;
    let verified = if has_signature_headers(&parts.headers) {
        let verifier = creds.verifier.as_ref();
        verify_once(seen, verifier, &parts.headers, &body, now, creds.window_secs)?;
        true
    } else {
        false
    };
    let request_id =
        parts.headers.get(header::REQUEST_ID).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let api_error = |code: ApiCode, message: String, detail| {
        let mut error = ApiError::new(ApiVersion::V3, status.as_u16(), code, message, verified);
        error.detail = detail;
        error.request_id.clone_from(&request_id);
        error
    };
    let json: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        _ if status.is_server_error() || body.is_empty() || !body.starts_with(b"{") => {
            let text = String::from_utf8_lossy(&body[..body.len().min(256)]).into_owned();
            return Ok((api_error(ApiCode::HttpStatus, text, None), String::new()));
        }
        _ => {
            let reason = "an error answer that is not a JSON object";
            return Err(DecodeError::new(reason, status.as_u16(), body).into());
        }
    };
    let code = json.get("code").and_then(|c| c.as_str()).unwrap_or_default().to_owned();
    let message = json.get("message").and_then(|m| m.as_str()).unwrap_or_default().to_owned();
    let typed = if code.is_empty() { ApiCode::HttpStatus } else { ApiCode::from_wire(&code) };
    Ok((api_error(typed, message, json.get("detail").cloned()), code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_back_as_they_are_written() {
        for (op, call) in [
            (CloseOrderV3::direct("a|b*c_d-e12"), CloseCall::Direct),
            (CloseOrderV3::partner("a|b*c_d-e12", "1900000109"), CloseCall::Partner),
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
            CloseOrderV3::direct("../../x/close").path(),
            Err(InvalidInput::BadCharacter { character: '.', .. })
        ));
        assert!(check_out_trade_no("12345").is_err());
        assert!(check_out_trade_no("a|b*c_d-e12").is_ok());
    }
}
