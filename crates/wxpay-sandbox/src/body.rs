//! The answer body: whole, or cut short on purpose.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

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
