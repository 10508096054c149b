//! The `Authorization` header: written in one place for requests ([`authorize`]), read
//! back by servers ([`Authorization::parse`]).

use std::fmt::{self, Write as _};

use http::HeaderValue;
use http::header::AUTHORIZATION;

use super::credentials::V3Credentials;
use super::message::{itoa_buf, message_lines};
use crate::error::Error;

/// The scheme of the `Authorization` header.
pub const AUTH_SCHEME: &str = "WECHATPAY2-SHA256-RSA2048";

/// The parts of an APIv3 `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// `mchid`.
    pub mchid: String,
    /// `nonce_str`.
    pub nonce_str: String,
    /// `signature`, base64.
    pub signature: String,
    /// `timestamp`, as sent.
    pub timestamp: String,
    /// `serial_no`.
    pub serial_no: String,
}

impl Authorization {
    /// Parses `WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",timestamp="…",serial_no="…"`
    /// (the five parameters in any order, each exactly once).
    ///
    /// # Errors
    /// A reason in words.
    pub fn parse(header: &str) -> Result<Authorization, String> {
        let rest = header
            .strip_prefix(AUTH_SCHEME)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or_else(|| format!("the scheme must be {AUTH_SCHEME}"))?;
        let mut slots: [Option<String>; 5] = Default::default();
        const NAMES: [&str; 5] = ["mchid", "nonce_str", "signature", "timestamp", "serial_no"];
        for param in rest.split(',') {
            let (name, value) = param.trim().split_once('=').ok_or("a parameter without `=`")?;
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .ok_or_else(|| format!("`{name}` is not quoted"))?;
            let i = NAMES
                .iter()
                .position(|n| *n == name)
                .ok_or_else(|| format!("unknown parameter `{name}`"))?;
            if slots[i].replace(value.to_owned()).is_some() {
                return Err(format!("`{name}` appears twice"));
            }
        }
        let [mchid, nonce_str, signature, timestamp, serial_no] = slots;
        let need = |v: Option<String>, n: &str| v.ok_or_else(|| format!("`{n}` is missing"));
        Ok(Authorization {
            mchid: need(mchid, "mchid")?,
            nonce_str: need(nonce_str, "nonce_str")?,
            signature: need(signature, "signature")?,
            timestamp: need(timestamp, "timestamp")?,
            serial_no: need(serial_no, "serial_no")?,
        })
    }
}

impl Authorization {
    /// The `timestamp` in Unix seconds. WeChat Pay signs and checks the header's own text,
    /// so only the canonical decimal form is taken: digits, no sign, no leading zero.
    ///
    /// # Errors
    /// A reason in words.
    pub fn timestamp_secs(&self) -> Result<u64, String> {
        let t = &self.timestamp;
        let canonical = !t.is_empty()
            && t.bytes().all(|b| b.is_ascii_digit())
            && (t == "0" || !t.starts_with('0'));
        if !canonical {
            return Err(format!(
                "timestamp {t:?} is not decimal Unix seconds (digits, no sign, no leading zero)"
            ));
        }
        t.parse().map_err(|_| format!("timestamp {t:?} is out of range"))
    }

    /// The message the signature must cover, for a request with this header: built from the
    /// header's own `timestamp` and `nonce_str` text, as WeChat Pay rebuilds it.
    ///
    /// # Errors
    /// As [`timestamp_secs`](Self::timestamp_secs).
    pub fn signed_message(
        &self,
        method: &str,
        target: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, String> {
        self.timestamp_secs()?;
        Ok(message_lines(method, target, &self.timestamp, &self.nonce_str, body))
    }
}

impl fmt::Display for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{AUTH_SCHEME} mchid=\"{}\",nonce_str=\"{}\",signature=\"{}\",timestamp=\"{}\",serial_no=\"{}\"",
            self.mchid, self.nonce_str, self.signature, self.timestamp, self.serial_no
        )
    }
}

/// The exact length of the finished Authorization header (an exact capacity lets `http`
/// take the string over without another allocation).
fn authorization_len(creds: &V3Credentials, nonce: &str, timestamp: u64) -> usize {
    const PUNCTUATION: &str =
        " mchid=\"\",nonce_str=\"\",signature=\"\",timestamp=\"\",serial_no=\"\"";
    AUTH_SCHEME.len()
        + PUNCTUATION.len()
        + creds.mchid.len()
        + nonce.len()
        + creds.signature_len.div_ceil(3) * 4
        + itoa_buf(timestamp).as_str().len()
        + creds.serial_no.len()
}

/// The `Authorization` header up to its signature (scheme, `mchid`, `nonce_str`), in a
/// string of exactly the finished header's length, for [`authorize`] to complete.
pub(crate) fn header_start(creds: &V3Credentials, nonce: &str, timestamp: u64) -> String {
    let mut auth = String::with_capacity(authorization_len(creds, nonce, timestamp));
    let _ = write!(
        auth,
        "{AUTH_SCHEME} mchid=\"{}\",nonce_str=\"{}\",signature=\"",
        creds.mchid, nonce
    );
    auth
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
