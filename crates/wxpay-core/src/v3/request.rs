//! Building an APIv3 request: the message its signature covers (method, target, timestamp,
//! nonce, body), its headers, and the checks a server makes of them.

use http::header::{ACCEPT, CONTENT_TYPE, USER_AGENT};
use http::uri::PathAndQuery;
use http::{HeaderName, HeaderValue, Method};

use super::authorization::header_start;
use super::credentials::V3Credentials;
use super::message::request_message;
use super::verify::header;
use crate::error::{Error, InvalidInput};
use crate::operation::{Attempt, Context, PendingSignature, Prepared};
use crate::validate;

/// A request that WeChat Pay refuses before it reads the business part: the HTTP status,
/// the error code and a message, as its answer carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refusal {
    /// The HTTP status.
    pub status: u16,
    /// The error code (`INVALID_REQUEST`, `SIGN_ERROR`, `PARAM_ERROR`…).
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
}

impl Refusal {
    /// `400 INVALID_REQUEST`.
    #[must_use]
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Refusal { status: 400, code: "INVALID_REQUEST", message: message.into() }
    }

    /// `401 SIGN_ERROR`.
    #[must_use]
    pub fn sign_error(message: impl Into<String>) -> Self {
        Refusal { status: 401, code: "SIGN_ERROR", message: message.into() }
    }
}

/// What WeChat Pay requires of an APIv3 request's headers, the same rules this crate's
/// requests follow: a `User-Agent`, `Accept: application/json`, and, when there is a body,
/// `Content-Type: application/json` (parameters such as `charset` allowed). For servers
/// that stand in for WeChat Pay, as the sandbox does.
///
/// # Errors
/// A `400 INVALID_REQUEST` [`Refusal`] naming the header.
pub fn check_request_headers(headers: &http::HeaderMap, has_body: bool) -> Result<(), Refusal> {
    use http::header::{ACCEPT, CONTENT_TYPE, USER_AGENT};
    let text = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let is_json = |media: &str| {
        media.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    };
    if text(USER_AGENT).is_none_or(|ua| ua.trim().is_empty()) {
        return Err(Refusal::invalid_request(
            "HTTP头缺少 User-Agent (APIv3 requests must carry a User-Agent)",
        ));
    }
    if !text(ACCEPT).is_some_and(|a| a.split(',').any(is_json)) {
        return Err(Refusal::invalid_request("HTTP头 Accept 应为 application/json"));
    }
    if has_body && !text(CONTENT_TYPE).is_some_and(is_json) {
        return Err(Refusal::invalid_request("HTTP头 Content-Type 应为 application/json"));
    }
    Ok(())
}

const JSON: &str = "application/json";

/// Builds an unsigned APIv3 `POST` with its headers and the message its signature will cover.
pub(crate) fn prepare_post(
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
        .map_err(|_| InvalidInput::BadPath { reason: "could not form the request path" })?;
    let uri = attempt.base_url.join(path)?;

    // The Authorization header up to the signature; the rest is added once signed.
    let auth = header_start(creds, attempt.nonce, attempt.timestamp);

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
