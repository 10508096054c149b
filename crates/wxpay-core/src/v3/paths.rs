//! Request paths: the order numbers they carry (checked, percent-encoded) and, for servers,
//! reading them back.

use std::fmt::Write as _;

use crate::error::InvalidInput;
use crate::validate;

/// Characters an APIv3 `out_trade_no` may hold besides letters and digits.
const OUT_TRADE_NO_EXTRA: &[u8] = b"_-|*";

pub(crate) fn out_trade_no(field: &'static str, value: &str) -> Result<(), InvalidInput> {
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

/// Which APIv3 query call a request path names (`GET`, the merchant ids in the query
/// string).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryCall {
    /// A direct merchant's order by its number (`?mchid=`).
    Direct,
    /// A direct merchant's order by WeChat Pay's number (`?mchid=`).
    DirectById,
    /// A sub-merchant's order by its number (`?sp_mchid=&sub_mchid=`).
    Partner,
    /// A sub-merchant's order by WeChat Pay's number (`?sp_mchid=&sub_mchid=`).
    PartnerById,
    /// A combined order by its number (no query string).
    Combined,
    /// A cross-border order by the merchant's number (`?mchid=` or `?sp_mchid=&sub_mchid=`).
    Global,
    /// A cross-border order by WeChat Pay's number.
    GlobalById,
}

impl QueryCall {
    /// Every APIv3 query call.
    pub const ALL: [QueryCall; 7] = [
        QueryCall::Direct,
        QueryCall::DirectById,
        QueryCall::Partner,
        QueryCall::PartnerById,
        QueryCall::Combined,
        QueryCall::Global,
        QueryCall::GlobalById,
    ];

    /// The path up to the order number.
    #[must_use]
    pub fn path_prefix(self) -> &'static str {
        match self {
            QueryCall::Direct => "/v3/pay/transactions/out-trade-no/",
            QueryCall::DirectById => "/v3/pay/transactions/id/",
            QueryCall::Partner => "/v3/pay/partner/transactions/out-trade-no/",
            QueryCall::PartnerById => "/v3/pay/partner/transactions/id/",
            QueryCall::Combined => "/v3/combine-transactions/out-trade-no/",
            QueryCall::Global => "/v3/global/transactions/out-trade-no/",
            QueryCall::GlobalById => "/v3/global/transactions/id/",
        }
    }

    /// Whether the path names WeChat Pay's order number (`transaction_id`).
    #[must_use]
    pub fn by_transaction_id(self) -> bool {
        matches!(self, QueryCall::DirectById | QueryCall::PartnerById | QueryCall::GlobalById)
    }

    /// Reads a request path (without its query string): the query call it names and its
    /// order number, percent-decoded (not yet checked). `None` for any other path (a close's
    /// path ends in `/close`).
    #[must_use]
    pub fn from_path(path: &str) -> Option<(QueryCall, String)> {
        QueryCall::ALL.into_iter().find_map(|call| {
            let segment = path.strip_prefix(call.path_prefix())?;
            (!segment.is_empty() && !segment.contains('/')).then(|| (call, percent_decode(segment)))
        })
    }
}

/// The `name=value` pairs of a query string, percent-decoded (`+` is a plus: WeChat Pay's
/// values never hold spaces).
#[must_use]
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
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

/// `{prefix}{segment, percent-encoded}/close`, in a string of exactly that length (so that
/// `http` takes it over without another allocation).
pub(crate) fn segment_path(prefix: &str, segment: &str) -> String {
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
