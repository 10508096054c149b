//! The sans-IO core of wxpay: builds, signs, parses and verifies WeChat Pay close-order
//! calls, APIv2 (XML, MD5/HMAC-SHA256) and APIv3 (JSON, RSA).
//!
//! **In scope**: request building byte for byte, signing through pluggable signers, response
//! parsing and verification, the typed outcome and errors, and the retry policy.
//! **Out of scope**: sockets, TLS, clocks, randomness and sleeping. The caller passes the
//! time and the nonce in, and sends the [`http::Request`] however it likes: the
//! `wxpay-blocking` and `wxpay-async` crates do it with ureq and reqwest.
//!
//! ```
//! use wxpay_core::{ApiV2Key, Attempt, BaseUrl, CloseOutcome, Context, Operation};
//! use wxpay_core::v2::{CloseOrderV2, SignType, V2Credentials};
//!
//! let key = ApiV2Key::new("192006250b4c09247ec02edce69f6a2d")?;
//! let creds = V2Credentials::new("wx2421b1c4370ec43b", "10000100", key)?
//!     .with_sign_type(SignType::HmacSha256);
//! let ctx = Context::new().with_v2(creds);
//!
//! // One attempt: where it goes, when, and with which nonce.
//! let base = BaseUrl::parse(BaseUrl::PRIMARY)?;
//! let attempt = Attempt { base_url: &base, timestamp: 1_700_000_000, nonce: "4ca93f17ddf3443ceabf72f26d64fe0e" };
//! let close = CloseOrderV2::new("1415983244");
//! let request = close.build(&ctx, &attempt)?;
//! assert_eq!(request.uri(), "https://api.mch.weixin.qq.com/pay/closeorder");
//!
//! // … send it with any HTTP client, then read the answer:
//! let answer = http::Response::builder().status(200).body(
//!     b"<xml><return_code><![CDATA[FAIL]]></return_code><return_msg>SIGNERROR</return_msg></xml>".to_vec(),
//! )?;
//! let err = close.parse(&ctx, 1_700_000_001, answer).unwrap_err();
//! assert!(matches!(err, wxpay_core::Error::Communication { .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod endpoint;
mod error;
mod operation;
mod outcome;
mod secret;
pub mod v2;
mod validate;

pub use endpoint::{BaseUrl, Endpoint};
pub use error::{
    ApiCode, ApiError, ApiVersion, DecodeError, Error, InvalidInput, KeyError, SignError,
    TransportError, TransportErrorKind, VerifyError,
};
pub use http;
pub use operation::{Attempt, Context, Operation, Prepared, USER_AGENT};
pub use outcome::CloseOutcome;
pub use secret::ApiV2Key;
pub use validate::MIN_CLOSE_DELAY_SECS;

/// The request type wxpay hands to transports.
pub type Request = http::Request<Vec<u8>>;
/// The response type wxpay takes back from transports.
pub type Response = http::Response<Vec<u8>>;

/// The largest response body wxpay reads (close answers are a few hundred bytes).
pub const MAX_RESPONSE_BODY: usize = 64 * 1024;
