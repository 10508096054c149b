//! The sans-IO contract: an operation builds a request and reads its answer; the caller
//! (a transport) supplies the clock, the nonce and the network.

use std::fmt;

use http::HeaderValue;

use crate::endpoint::BaseUrl;
use crate::error::{Error, InvalidInput};
use crate::v2::V2Credentials;
use crate::{Request, Response};

/// The `User-Agent` wxpay sends unless told otherwise: `wxpay/<version>`.
pub const USER_AGENT: &str = concat!("wxpay/", env!("CARGO_PKG_VERSION"));

/// What stays the same across calls: the merchant's credentials and the `User-Agent`.
///
/// Built once by a client and shared by every call it makes.
#[derive(Clone)]
pub struct Context {
    pub(crate) v2: Option<V2Credentials>,
    pub(crate) user_agent: HeaderValue,
}

impl Context {
    /// A context with no credentials yet and the default `User-Agent`.
    #[must_use]
    pub fn new() -> Self {
        Context {
            v2: None,
            user_agent: HeaderValue::from_static(USER_AGENT),
        }
    }

    /// Adds APIv2 credentials.
    #[must_use]
    pub fn with_v2(mut self, credentials: V2Credentials) -> Self {
        self.v2 = Some(credentials);
        self
    }

    /// Appends `suffix` to the `User-Agent` (`wxpay/<version> <suffix>`).
    ///
    /// # Errors
    /// [`InvalidInput::BadCharacter`] when the suffix has characters a header cannot carry.
    pub fn with_user_agent_suffix(mut self, suffix: &str) -> Result<Self, InvalidInput> {
        let full = format!("{USER_AGENT} {suffix}");
        self.user_agent = HeaderValue::from_str(&full).map_err(|_| {
            let (position, character) = suffix
                .chars()
                .enumerate()
                .find(|(_, c)| !(c.is_ascii_graphic() || *c == ' '))
                .unwrap_or((0, '?'));
            InvalidInput::BadCharacter {
                field: "user_agent",
                character,
                position,
            }
        })?;
        Ok(self)
    }

    /// The APIv2 credentials, or the error a call that needs them returns.
    pub(crate) fn v2(&self) -> Result<&V2Credentials, InvalidInput> {
        self.v2
            .as_ref()
            .ok_or(InvalidInput::MissingCredentials { api: "v2" })
    }
}

impl Default for Context {
    fn default() -> Self {
        Context::new()
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("v2", &self.v2)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

/// What changes with every attempt: where it goes, when it is made and its nonce.
///
/// Every attempt, retries included, is signed afresh with a new timestamp and nonce.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    /// The base URL this attempt goes to.
    pub base_url: &'a BaseUrl,
    /// Unix time in seconds.
    pub timestamp: u64,
    /// A random string of 1 to 32 ASCII letters and digits (32 recommended).
    pub nonce: &'a str,
}

/// A request ready to send, or one that still needs its APIv3 signature.
#[derive(Debug)]
pub struct Prepared {
    pub(crate) request: Request,
}

impl Prepared {
    pub(crate) fn signed(request: Request) -> Self {
        Prepared { request }
    }

    /// Signs (where still needed) and returns the request to send.
    ///
    /// # Errors
    /// [`Error::Sign`] when the signer fails.
    pub fn sign(self, _ctx: &Context) -> Result<Request, Error> {
        Ok(self.request)
    }
}

/// A WeChat Pay call: builds its request and reads its answer, doing no IO of its own.
///
/// Transports drive it: [`prepare`](Operation::prepare), sign, send, then
/// [`parse`](Operation::parse) what came back. Both steps are pure functions of their
/// inputs, so a request can be checked byte for byte against known-answer vectors.
pub trait Operation {
    /// What a successful call returns.
    type Output;

    /// Builds the request for one attempt.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for bad input (nothing is built), [`Error::Sign`] when an
    /// APIv2 signer fails.
    fn prepare(&self, ctx: &Context, attempt: &Attempt<'_>) -> Result<Prepared, Error>;

    /// Reads and verifies the answer. `now` is local Unix time in seconds when it arrived.
    ///
    /// # Errors
    /// Any [`Error`] kind but `InvalidInput`, `Sign` and `Transport`.
    fn parse(&self, ctx: &Context, now: u64, response: Response) -> Result<Self::Output, Error>;

    /// [`prepare`](Operation::prepare) and sign with the context's synchronous signers.
    ///
    /// # Errors
    /// As `prepare`, and [`Error::Sign`].
    fn build(&self, ctx: &Context, attempt: &Attempt<'_>) -> Result<Request, Error> {
        self.prepare(ctx, attempt)?.sign(ctx)
    }
}
