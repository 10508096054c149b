//! Reading APIv3 answers that are not the operation's own: the size cap and error answers
//! (`{"code","message","detail"}`), verified when they carry signature headers.

use super::credentials::V3Credentials;
use super::verify::{has_signature_headers, header, verify_once};
use crate::error::{ApiCode, ApiError, ApiVersion, DecodeError, Error};
use crate::replay::ReplayGuard;
use crate::wire::MAX_RESPONSE_BODY;

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
