//! What every handler answers with: the answer type and its body (whole, or cut short on
//! purpose), plain-text answers, the clock and the nonce. A leaf: it imports no other module
//! of the sandbox, so that every one can import it.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// How large an `oversized_body` answer is.
pub const OVERSIZED_BODY_BYTES: usize = 1024 * 1024;

/// An answer as the sandbox sends it.
pub(crate) type Answer = http::Response<AnswerBody>;

/// Closes the connection without an answer (hyper drops a connection whose service fails).
#[derive(Debug)]
pub(crate) struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for DropConnection {}

/// A plain-text answer: not a WeChat Pay answer (an unknown path, a body too large, an
/// unsigned forgery).
pub(crate) fn plain(status: u16, text: &str) -> Answer {
    let mut answer = http::Response::new(AnswerBody::full(text.to_owned()));
    *answer.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    answer
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain"));
    answer
}

/// The answer to a path the sandbox does not serve.
pub(crate) fn not_found() -> Answer {
    plain(404, "no such path in the sandbox")
}

pub(crate) use wxpay_core::unix_now as now;

/// Unix seconds in China Standard Time (UTC+8), as WeChat Pay writes its times.
fn beijing(unix: u64) -> Option<time::OffsetDateTime> {
    let offset = time::UtcOffset::from_hms(8, 0, 0).ok()?;
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(unix).ok()?).ok()?;
    Some(t.to_offset(offset))
}

/// Unix seconds as RFC 3339 in China Standard Time (`2018-06-08T10:34:56+08:00`): APIv3
/// times.
pub(crate) fn rfc3339(unix: u64) -> String {
    beijing(unix)
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// Unix seconds as `yyyyMMddHHmmss` in China Standard Time: APIv2 times (`time_end`).
pub(crate) fn compact_time(unix: u64) -> String {
    beijing(unix).map_or_else(String::new, |t| {
        format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    })
}

/// 32 random upper-case hex characters.
pub(crate) fn nonce() -> String {
    let mut bytes = [0u8; 16];
    // The system random source does not fail on supported platforms; a zero nonce would
    // still be a valid (if predictable) test answer.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    wxpay_core::server::nonce_from_random(bytes)
}

/// An answer body. `Truncated` sends its bytes and then fails, so the connection closes
/// before the promised `Content-Length` is reached.
#[derive(Debug)]
pub(crate) enum AnswerBody {
    Full(Option<Bytes>),
    Truncated(Option<Bytes>),
}

impl AnswerBody {
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        AnswerBody::Full(if bytes.is_empty() { None } else { Some(bytes) })
    }
}

/// The error that ends a truncated body.
#[derive(Debug)]
pub(crate) struct Cut;

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("body cut short on purpose")
    }
}

impl std::error::Error for Cut {}

impl Body for AnswerBody {
    type Data = Bytes;
    type Error = Cut;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Cut>>> {
        let this = self.get_mut();
        Poll::Ready(match this {
            AnswerBody::Full(data) => data.take().map(|d| Ok(Frame::data(d))),
            AnswerBody::Truncated(data) => match data.take() {
                Some(d) => Some(Ok(Frame::data(d))),
                None => Some(Err(Cut)),
            },
        })
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, AnswerBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            AnswerBody::Full(Some(d)) => SizeHint::with_exact(d.len() as u64),
            AnswerBody::Full(None) => SizeHint::with_exact(0),
            AnswerBody::Truncated(_) => SizeHint::default(),
        }
    }
}
