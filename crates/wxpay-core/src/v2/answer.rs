//! APIv2's requests and answers, the same for every call: one signed XML `POST`, and an
//! answer believed only once its `sign` verifies, it names the merchant (and sub-merchant)
//! asked for, and it has not been seen before.

use http::header::{CONTENT_TYPE, USER_AGENT};
use http::uri::PathAndQuery;
use http::{HeaderValue, Method, StatusCode};

use super::credentials::V2Credentials;
use super::sign::{verify_fields, write_sorted_payload};
use super::xml::{V2Fields, write_validated_document};
use crate::error::{ApiCode, ApiError, ApiVersion, DecodeError, Error, ErrorKind, VerifyError};
use crate::operation::{Attempt, Context, Prepared};
use crate::replay::ReplayGuard;
use crate::wire::{MAX_RESPONSE_BODY, Response};

/// The content type of APIv2 request bodies.
pub const CONTENT_TYPE_XML: &str = "text/xml; charset=utf-8";

/// A signed XML `POST` of `fields` (sorted by name, `sign` not among them) to `path`.
pub(crate) fn signed_post(
    ctx: &Context,
    creds: &V2Credentials,
    attempt: &Attempt<'_>,
    path: &'static str,
    fields: &[(&str, &str)],
) -> Result<Prepared, Error> {
    // One buffer: first the payload to sign, then (cleared) the XML document.
    // `<name>value</name>` is twice the name and 5 bytes of tags; room for escapes besides.
    let size: usize = fields.iter().map(|(n, v)| 2 * n.len() + v.len() + 5).sum();
    let mut body = Vec::with_capacity(size + 192);
    write_sorted_payload(fields, &mut body);
    let sign = creds.signer.sign(creds.sign_type, &body)?;
    body.clear();
    write_validated_document(fields, sign.as_str(), &mut body);

    let uri = attempt.base_url.join(PathAndQuery::from_static(path))?;
    let mut request = http::Request::new(body);
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_XML));
    headers.insert(USER_AGENT, ctx.user_agent.clone());
    Ok(Prepared::signed(request))
}

pub(crate) fn decode_error(reason: impl Into<String>, status: StatusCode, body: Vec<u8>) -> Error {
    DecodeError::new(reason, status.as_u16(), body).into()
}

/// Reads a signed APIv2 answer and hands its verified fields to `read`. `subs` are the
/// `sub_mch_id` and `sub_appid` the request named (checked when named; an answer that omits
/// them is still ours).
pub(crate) fn read_signed<T>(
    ctx: &Context,
    seen: &ReplayGuard,
    response: Response,
    subs: (Option<&str>, Option<&str>),
    read: impl FnOnce(&V2Fields<'_>, StatusCode, &[u8]) -> Result<T, Error>,
) -> Result<T, Error> {
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
    // once: an APIv2 answer names no time, so a replay is the same answer again.
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
    if subs.0.is_some() {
        same("sub_mch_id", subs.0, false)?;
    }
    if subs.1.is_some() {
        same("sub_appid", subs.1, false)?;
    }
    let sign = fields.get("sign").unwrap_or_default();
    seen.first_v2(fields.get("nonce_str").unwrap_or_default(), sign)?;
    read(&fields, status, &body)
}

/// A verified `result_code=FAIL` that is not the call's own outcome.
pub(crate) fn business_error(fields: &V2Fields<'_>, status: StatusCode) -> Error {
    let code = ApiCode::from_wire(fields.get("err_code").unwrap_or_default());
    let message = fields.non_empty("err_code_des").or_else(|| fields.get("result_msg"));
    ApiError::new(ApiVersion::V2, status.as_u16(), code, message.unwrap_or_default(), true).into()
}

/// A `result_code` that is neither `SUCCESS` nor `FAIL`, or none.
pub(crate) fn bad_result_code(fields: &V2Fields<'_>, status: StatusCode, body: &[u8]) -> Error {
    match fields.get("result_code") {
        Some(other) => {
            decode_error(format!("unknown result_code {other:?}"), status, body.to_vec())
        }
        None => decode_error("a SUCCESS answer without result_code", status, body.to_vec()),
    }
}
