//! The boundary types: what the core hands to an HTTP stack and takes back, and the cap on
//! what it reads.

/// The request type wxpay hands to transports.
pub type Request = http::Request<Vec<u8>>;
/// The response type wxpay takes back from transports.
pub type Response = http::Response<Vec<u8>>;

/// The largest response body wxpay reads (close answers are a few hundred bytes).
pub const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// The system's Unix time in seconds, for transports and tools: the core's own functions
/// never read the clock, they take the time as an argument.
#[must_use]
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
