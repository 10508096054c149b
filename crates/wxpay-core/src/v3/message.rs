//! The messages signatures cover: a request's five lines (method, target, timestamp, nonce,
//! body), built from the exact bytes sent.

/// The message an APIv3 request signature covers:
/// `{method}\n{target}\n{timestamp}\n{nonce}\n{body}\n`.
#[must_use]
pub fn request_message(
    method: &str,
    target: &str,
    timestamp: u64,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    message_lines(method, target, itoa_buf(timestamp).as_str(), nonce, body)
}

/// The five lines of a request message, the timestamp as text.
pub(crate) fn message_lines(
    method: &str,
    target: &str,
    ts: &str,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut m =
        Vec::with_capacity(method.len() + target.len() + ts.len() + nonce.len() + body.len() + 5);
    for part in [method.as_bytes(), target.as_bytes(), ts.as_bytes(), nonce.as_bytes(), body] {
        m.extend_from_slice(part);
        m.push(b'\n');
    }
    m
}

/// A small decimal formatter that does not allocate.
pub(crate) struct ItoaBuf {
    buf: [u8; 20],
    start: usize,
}

impl ItoaBuf {
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[self.start..]).unwrap_or("0")
    }
}

pub(crate) fn itoa_buf(mut n: u64) -> ItoaBuf {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    ItoaBuf { buf, start: i }
}
