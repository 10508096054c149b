//! The sans-IO contract: an operation builds a request and reads its answer; the caller
//! (a transport) supplies the clock, the nonce and the network.

use std::fmt;
use std::sync::Arc;

use http::HeaderValue;

use crate::endpoint::{BaseUrl, Endpoint};
use crate::error::{Error, InvalidInput, SignError};
use crate::replay::ReplayGuard;
use crate::v2::V2Credentials;
use crate::v3::{SignerKind, V3Credentials};
use crate::wire::{Request, Response};

/// The `User-Agent` wxpay sends unless told otherwise: `wxpay/<version>`.
pub const USER_AGENT: &str = concat!("wxpay/", env!("CARGO_PKG_VERSION"));

/// What stays the same across calls: the merchant's credentials and the `User-Agent`.
///
/// Built once by a client and shared by every call it makes.
#[derive(Clone)]
pub struct Context {
    pub(crate) v2: Option<V2Credentials>,
    pub(crate) v3: Option<V3Credentials>,
    pub(crate) user_agent: HeaderValue,
}

impl Context {
    /// A context with no credentials yet and the default `User-Agent`.
    #[must_use]
    pub fn new() -> Self {
        Context { v2: None, v3: None, user_agent: HeaderValue::from_static(USER_AGENT) }
    }

    /// Adds APIv2 credentials.
    #[must_use]
    pub fn with_v2(mut self, credentials: V2Credentials) -> Self {
        self.v2 = Some(credentials);
        self
    }

    /// Adds APIv3 credentials.
    #[must_use]
    pub fn with_v3(mut self, credentials: V3Credentials) -> Self {
        self.v3 = Some(credentials);
        self
    }

    /// The APIv2 credentials, if given.
    #[must_use]
    pub fn v2_credentials(&self) -> Option<&V2Credentials> {
        self.v2.as_ref()
    }

    /// The APIv3 credentials, if given.
    #[must_use]
    pub fn v3_credentials(&self) -> Option<&V3Credentials> {
        self.v3.as_ref()
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
            InvalidInput::BadCharacter { field: "user_agent", character, position }
        })?;
        Ok(self)
    }

    /// The APIv2 credentials, or the error a call that needs them returns.
    pub(crate) fn v2(&self) -> Result<&V2Credentials, InvalidInput> {
        self.v2.as_ref().ok_or(InvalidInput::MissingCredentials { api: "v2" })
    }

    /// The APIv3 credentials, or the error a call that needs them returns.
    pub(crate) fn v3(&self) -> Result<&V3Credentials, InvalidInput> {
        self.v3.as_ref().ok_or(InvalidInput::MissingCredentials { api: "v3" })
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
            .field("v3", &self.v3)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

/// What changes with every attempt: where it goes, when it is made and its nonce.
///
/// Every attempt, retries included, is signed afresh with a new timestamp and nonce.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Attempt<'a> {
    /// The base URL this attempt goes to.
    pub base_url: &'a BaseUrl,
    /// Unix time in seconds.
    pub timestamp: u64,
    /// A random string of 1 to 32 ASCII letters and digits (32 recommended).
    pub nonce: &'a str,
}

impl<'a> Attempt<'a> {
    /// An attempt to `base_url` at `timestamp` (Unix seconds) with `nonce`.
    #[must_use]
    pub fn new(base_url: &'a BaseUrl, timestamp: u64, nonce: &'a str) -> Self {
        Attempt { base_url, timestamp, nonce }
    }
}

/// A request ready to send, or one that still needs its APIv3 signature.
///
/// [`sign`](Prepared::sign) signs with the context's synchronous signer;
/// [`sign_async`](Prepared::sign_async) with an asynchronous one (a KMS, an HSM). The
/// signature covers [`message`](Prepared::message) exactly, built from the body bytes that
/// are sent.
#[derive(Debug)]
pub struct Prepared {
    request: Request,
    pending: Option<PendingSignature>,
}

/// What an APIv3 request still needs once signed.
pub(crate) struct PendingSignature {
    pub(crate) message: Vec<u8>,
    pub(crate) auth: String,
    pub(crate) timestamp: u64,
}

impl fmt::Debug for PendingSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingSignature")
            .field("message", &String::from_utf8_lossy(&self.message))
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

impl Prepared {
    pub(crate) fn signed(request: Request) -> Self {
        Prepared { request, pending: None }
    }

    pub(crate) fn unsigned(request: Request, pending: PendingSignature) -> Self {
        Prepared { request, pending: Some(pending) }
    }

    /// The request as it will be sent, less any signature still to come.
    #[must_use]
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The message an APIv3 signer must sign, if the request still needs a signature.
    #[must_use]
    pub fn message(&self) -> Option<&[u8]> {
        self.pending.as_ref().map(|p| p.message.as_slice())
    }

    /// Signs (where still needed) with the context's synchronous signer and returns the
    /// request to send.
    ///
    /// # Errors
    /// [`ErrorKind::Sign`](crate::ErrorKind::Sign) when the signer fails or is asynchronous only.
    pub fn sign(self, ctx: &Context) -> Result<Request, Error> {
        let Some(pending) = self.pending else { return Ok(self.request) };
        let creds = ctx.v3()?;
        let signature = match &creds.signer {
            SignerKind::Sync(signer) => signer.sign(&pending.message)?,
            SignerKind::Async(_) => {
                return Err(SignError::new(
                    "the APIv3 signer is asynchronous only: use sign_async",
                )
                .into());
            }
        };
        Self::finish(self.request, creds, pending, &signature)
    }

    /// Signs (where still needed) with the context's signer, synchronous or asynchronous,
    /// and returns the request to send.
    ///
    /// # Errors
    /// [`ErrorKind::Sign`](crate::ErrorKind::Sign) when the signer fails.
    pub async fn sign_async(self, ctx: &Context) -> Result<Request, Error> {
        let Some(pending) = self.pending else { return Ok(self.request) };
        let creds = ctx.v3()?;
        let signature = match &creds.signer {
            SignerKind::Sync(signer) => signer.sign(&pending.message)?,
            SignerKind::Async(signer) => signer.sign_async(&pending.message).await?,
        };
        Self::finish(self.request, creds, pending, &signature)
    }

    /// The asynchronous signer this request still needs, if any (a synchronous one signs in
    /// [`sign`](Self::sign)).
    pub(crate) fn async_signer(&self, ctx: &Context) -> Option<Arc<dyn crate::v3::AsyncSigner>> {
        self.pending.as_ref()?;
        match &ctx.v3.as_ref()?.signer {
            SignerKind::Async(signer) => Some(Arc::clone(signer)),
            SignerKind::Sync(_) => None,
        }
    }

    /// Completes the request with a signature made elsewhere over [`message`](Self::message).
    ///
    /// Dangerous: nothing checks the signature. One made over other bytes, or with another
    /// key, is only found out when WeChat Pay refuses the request. Prefer an
    /// [`AsyncSigner`](crate::v3::AsyncSigner), which [`sign_async`](Self::sign_async) calls.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) without APIv3 credentials
    /// in `ctx`.
    pub fn dangerous_with_signature(
        self,
        ctx: &Context,
        signature: &[u8],
    ) -> Result<Request, Error> {
        let Some(pending) = self.pending else { return Ok(self.request) };
        Self::finish(self.request, ctx.v3()?, pending, signature)
    }

    fn finish(
        mut request: Request,
        creds: &V3Credentials,
        pending: PendingSignature,
        signature: &[u8],
    ) -> Result<Request, Error> {
        crate::v3::authorize_request(
            creds,
            &mut request,
            pending.auth,
            pending.timestamp,
            signature,
        )?;
        Ok(request)
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

    /// Where this call goes, given the client's configured endpoint: that endpoint, as a
    /// rule; the cross-border close moves the default mainland endpoint to Hong Kong.
    fn endpoint(&self, configured: &Endpoint) -> Endpoint {
        configured.clone()
    }

    /// Builds the request for one attempt.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) for bad input (nothing is built), [`ErrorKind::Sign`](crate::ErrorKind::Sign) when an
    /// APIv2 signer fails.
    fn prepare(&self, ctx: &Context, attempt: &Attempt<'_>) -> Result<Prepared, Error>;

    /// Reads and verifies the answer. `now` is local Unix time in seconds when it arrived;
    /// `seen` the signed answers already believed by this client (a [`Session`](crate::Session)'s),
    /// which a verified answer joins, and which refuses one that comes again.
    ///
    /// # Errors
    /// Any [`Error`] kind but `InvalidInput`, `Sign` and `Transport`.
    fn parse(
        &self,
        ctx: &Context,
        seen: &ReplayGuard,
        now: u64,
        response: Response,
    ) -> Result<Self::Output, Error>;

    /// [`prepare`](Operation::prepare) and sign with the context's synchronous signers.
    ///
    /// # Errors
    /// As `prepare`, and [`ErrorKind::Sign`](crate::ErrorKind::Sign).
    fn build(&self, ctx: &Context, attempt: &Attempt<'_>) -> Result<Request, Error> {
        self.prepare(ctx, attempt)?.sign(ctx)
    }
}
