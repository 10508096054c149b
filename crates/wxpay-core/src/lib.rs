//! The sans-IO core of wxpay: builds, signs, parses and verifies WeChat Pay close-order
//! calls, APIv2 (XML, MD5/HMAC-SHA256) and APIv3 (JSON, RSA).
//!
//! **In scope**: request building byte for byte, signing through pluggable signers, response
//! parsing and verification, the typed outcome and errors, and the retry policy.
//! **Out of scope**: sockets, TLS, clocks, randomness and sleeping. The caller passes the
//! time and the nonce in, and sends the [`http::Request`] however it likes: the
//! `wxpay-blocking` and `wxpay-async` crates do it with ureq and reqwest.
//!
//! Most code closes orders through a client, [`wxpay-blocking`] (ureq) or [`wxpay-async`]
//! (reqwest), which re-export everything here, so that a program depends on one of them
//! alone; their pages show a whole close, confirmed close and query. This crate's examples
//! name `wxpay_core` and need nothing else.
//!
//! [`wxpay-blocking`]: https://docs.rs/wxpay-blocking
//! [`wxpay-async`]: https://docs.rs/wxpay-async
//!
//! Without a transport, in any HTTP stack: build the request for one attempt
//! (time and nonce are inputs), send it, read the answer.
//!
//! ```
//! use wxpay_core::{ApiV2Key, Attempt, BaseUrl, CloseOutcome, Context, Operation, ReplayGuard, http};
//! use wxpay_core::v2::{CloseOrderV2, SignType, V2Credentials};
//!
//! let key = ApiV2Key::new("192006250b4c09247ec02edce69f6a2d")?;
//! let creds = V2Credentials::new("wx2421b1c4370ec43b", "10000100", key)?
//!     .with_sign_type(SignType::HmacSha256);
//! let ctx = Context::new().with_v2(creds);
//!
//! // One attempt: where it goes, when, and with which nonce.
//! let base = BaseUrl::parse(BaseUrl::PRIMARY)?;
//! let attempt = Attempt::new(&base, 1_700_000_000, "4ca93f17ddf3443ceabf72f26d64fe0e");
//! let close = CloseOrderV2::new("1415983244");
//! let request = close.build(&ctx, &attempt)?;
//! assert_eq!(request.uri(), "https://api.mch.weixin.qq.com/pay/closeorder");
//!
//! // … send it with any HTTP client, then read the answer:
//! let answer = http::Response::builder().status(200).body(
//!     b"<xml><return_code><![CDATA[FAIL]]></return_code><return_msg>SIGNERROR</return_msg></xml>".to_vec(),
//! )?;
//! // The answers believed so far: in real code one guard, kept and shared by every call (a
//! // `Session` keeps one); a guard made for each call refuses no replay.
//! let seen = ReplayGuard::new();
//! let err = close.parse(&ctx, &seen, 1_700_000_001, answer).unwrap_err();
//! assert!(matches!(err.kind(), wxpay_core::ErrorKind::Communication { .. }));
//! assert_eq!(err.order_effect(), wxpay_core::OrderEffect::Refused); // the order is unchanged
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! APIv3: sign a close request with the merchant's RSA key from a fixed time and nonce
//! (byte-exact against the shared vectors), then verify WeChat Pay's `204` answer.
//!
//! ```
//! use wxpay_core::{Attempt, BaseUrl, CloseOutcome, Context, Operation, ReplayGuard, http};
//! use wxpay_core::v3::{CloseOrderV3, PublicKeyVerifier, RsaSigner, V3Credentials};
//!
//! // The shared vectors' test keys (in this crate's `tests/vectors/keys/`).
//! let signer = RsaSigner::from_pem(std::fs::read("tests/vectors/keys/merchant_key.pem")?)?;
//! let verifier = PublicKeyVerifier::from_pem(
//!     "PUB_KEY_ID_0114232134912410000000000000",
//!     std::fs::read("tests/vectors/keys/wechatpay_pub.pem")?,
//! )?;
//! let creds = V3Credentials::new("1900000001", "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C", signer, verifier)?
//!     .dangerous_timestamp_window(u64::MAX); // only to replay the recorded answer below
//! let ctx = Context::new().with_v3(creds);
//!
//! let base = BaseUrl::parse(BaseUrl::PRIMARY)?;
//! let attempt = Attempt::new(&base, 1554208460, "593BEC0C930BF1AFEB40B4A08C8FB242");
//! let close = CloseOrderV3::new("1217752501201407033233368018");
//! let request = close.build(&ctx, &attempt)?;
//! assert_eq!(request.body(), br#"{"mchid":"1900000001"}"#);
//! assert!(request.headers()["authorization"].to_str()?.starts_with(
//!     r#"WECHATPAY2-SHA256-RSA2048 mchid="1900000001",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",signature="EVF7Uyr0"#,
//! ));
//!
//! let answer = http::Response::builder()
//!     .status(204)
//!     .header("Wechatpay-Timestamp", "1700000300")
//!     .header("Wechatpay-Nonce", "A1B2C3D4E5F60718293A4B5C6D7E8F90")
//!     .header("Wechatpay-Serial", "PUB_KEY_ID_0114232134912410000000000000")
//!     .header("Wechatpay-Signature", "OtOvsdVXMPwQhJSpKptsAyWsWonujbZMXvdK1MaAaWN8Wim0JiixMB/Kt129yYfYuhici7coCYhen6q787+NMbc3nxcncvHJ7X/YDGk9ptGbhlo2ASxPQOOQuJX8eK2t62u6QWqdKZDrxyjxeQ3j5Gv9nWTePGe1357PxqQN+ue6wz5EICdAXXBbJQJmzbdG9QjR57sHM4609SEZBcfvSxly1Saqjw0kP8rRPytQTQPLQJS9YL3Z4Di5vSyQQKPIs9x9E750P3xmSc8736lu/sUTziDzKFbhSSGB+6vSJfTFPHV7f53nm3jiy3+PAXJBKTK9uFmXEMYnzSPL7ER7rg==")
//!     .body(Vec::new())?;
//! let seen = ReplayGuard::new(); // (one shared by every call, in real code)
//! assert_eq!(close.parse(&ctx, &seen, 1700000301, answer)?, CloseOutcome::Closed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Calls are state machines
//!
//! A client's runtime state is a [`Session`] over a plain [`ClientConfig`]: the answers
//! believed so far (the [`ReplayGuard`]) and the certificate refresh. A call made from it
//! ([`Session::call`], or [`Session::close_confirmed`] for a close proven by a query) is a
//! [`Machine`]: given the time, random bytes and answers, it says what to do next
//! ([`Action`]); it never touches a socket, a clock or a random source. Each client is one
//! driver loop over it; yours can be too, and [`run_scripted`] drives one with no IO at all:
//!
//! ```
//! use wxpay_core::{ApiV2Key, ClientConfig, Now, OrderEffect, Session, http, run_scripted};
//! use wxpay_core::v2::{CloseOrderV2, V2Credentials};
//!
//! let key = ApiV2Key::new("192006250b4c09247ec02edce69f6a2d")?;
//! let config = ClientConfig::builder().v2(V2Credentials::new("wx2421b1c4370ec43b", "10000100", key)?).build()?;
//! let session = Session::new(config);
//! let close = CloseOrderV2::new("1415983244");
//! // The driver loop, with one scripted answer: WeChat Pay refuses the request itself.
//! let refused = http::Response::builder().status(200).body(
//!     b"<xml><return_code>FAIL</return_code><return_msg>SIGNERROR</return_msg></xml>".to_vec(),
//! )?;
//! let run = run_scripted(session.call(&close), Now::system(), [Ok(refused)]);
//! assert_eq!(run.sent.len(), 1);
//! assert_eq!(run.result.unwrap_err().order_effect(), OrderEffect::Refused);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Outcomes and errors
//!
//! What WeChat Pay said about the order is a [`CloseOutcome`] (closed, already closed, not
//! found, paid), never an error. An [`Error`] means the call established no outcome; its
//! [`order_effect`](Error::order_effect) says, over every attempt, whether the order is
//! certainly unchanged ([`OrderEffect::NotSent`], [`OrderEffect::Refused`]) or may have been
//! closed ([`OrderEffect::Unknown`]: close again, which is safe, to learn the state). Its
//! [`kind`](Error::kind) is the last attempt's failure, matchable whatever retries came
//! before.
// Where other crates' pages link this crate's items when its pages are not built beside theirs
// (`cargo doc --no-deps` documents workspace crates in parallel): docs.rs.
#![doc(html_root_url = "https://docs.rs/wxpay-core/latest/")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod call;
mod call_kind;
mod close;
mod close_delay;
mod config;
mod confirm;
mod endpoint;
mod error;
mod escape;
mod hex;
mod operation;
mod order_state;
mod outcome;
mod query;
mod refresh;
mod replay;
mod retry;
mod secret;
pub mod server;
mod session;
pub mod v2;
pub mod v3;
mod validate;
mod wire;

pub use call::{
    Action, Attempts, Call, Machine, Now, RandomError, Scripted, Then, Wait, run_scripted,
    system_random,
};
pub use call_kind::{CallKind, UnknownCallKind};
pub use close::CloseOrder;
pub use close_delay::MIN_CLOSE_DELAY_SECS;
pub use config::{ClientConfig, ClientConfigBuilder};
pub use confirm::{ConfirmPolicy, ConfirmSettings, Confirmed, ConfirmedClose, Proof};
pub use endpoint::{BaseUrl, Endpoint};
pub use error::{
    ApiCode, ApiError, ApiVersion, BuildError, CertificateMismatch, DecodeError, Error, ErrorKind,
    InvalidInput, KeyError, OrderEffect, SignError, TransportError, TransportErrorKind,
    VerifyError,
};
pub use escape::{Escaped, escape, is_hidden};
#[doc(no_inline)]
pub use event_listener::{EventListener, Listener};
pub use http;
pub use operation::{Attempt, Context, Operation, Prepared, USER_AGENT};
pub use order_state::{OrderState, QueryAnswer, TradeState};
pub use outcome::CloseOutcome;
pub use query::QueryOrder;
pub use refresh::{CertificateRefresh, MAX_REFRESH_INTERVAL};
pub use replay::ReplayGuard;
pub use retry::{AttemptRandom, RetryPolicy};
pub use secret::{ApiV2Key, ApiV3Key};
/// `serde_json`, whose `Value` is [`ApiError::detail`]'s type.
pub use serde_json;
pub use session::Session;
pub use wire::{MAX_RESPONSE_BODY, Request, Response, unix_now};
