//! An async WeChat Pay close-order client: [`wxpay_core`] over
//! [reqwest](https://docs.rs/reqwest) on tokio.
//!
//! This crate only moves bytes: it signs with the core (a KMS or HSM can sign through an
//! [`AsyncSigner`](wxpay_core::v3::AsyncSigner)), sends with one pooled reqwest client
//! (rustls, keep-alive, no redirects), reads the answer up to the configured cap, and asks
//! the core's retry policy what to do next. The protocol lives in the core.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use wxpay_async::Client;
//! use wxpay_core::{ClientConfig, CloseOutcome};
//! use wxpay_core::v3::{CloseOrderV3, PublicKeyVerifier, RsaSigner, V3Credentials};
//!
//! let signer = RsaSigner::from_pem(std::fs::read("apiclient_key.pem")?)?;
//! let verifier = PublicKeyVerifier::from_pem("PUB_KEY_ID_0114232134912410000000000000", std::fs::read("pub_key.pem")?)?;
//! let creds = V3Credentials::new("1900000001", "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C", signer, verifier)?;
//! let client = Client::new(ClientConfig::builder().v3(creds).build()?)?;
//! match client.execute(&CloseOrderV3::direct("1217752501201407033233368018")).await? {
//!     CloseOutcome::Closed | CloseOutcome::AlreadyClosed => println!("can no longer be paid"),
//!     CloseOutcome::NotFound => println!("never submitted"),
//!     CloseOutcome::Paid => println!("paid: deliver or refund"),
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ring::rand::SystemRandom;
use wxpay_core::v2::CloseOrderV2;
use wxpay_core::v3::{CloseCombinedOrder, CloseOrderV3};
use wxpay_core::{
    AttemptRandom, Call, ClientConfig, CloseOutcome, Error, InvalidInput, Operation, Request,
    Response, Step, TransportError, TransportErrorKind,
};

/// An async client. Clone it freely: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    config: std::sync::Arc<ClientConfig>,
    http: reqwest::Client,
    random: SystemRandom,
}

impl Client {
    /// A client for `config`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a proxy reqwest refuses; [`Error::Transport`] when the
    /// HTTP client cannot be built (no TLS roots, say).
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout())
            .timeout(config.timeout())
            .tcp_nodelay(true)
            .use_rustls_tls()
            .no_proxy();
        if let Some(url) = config.proxy() {
            let proxy = reqwest::Proxy::all(url).map_err(|_| InvalidInput::BadBaseUrl {
                reason: "reqwest refused the proxy URL",
            })?;
            builder = builder.proxy(proxy);
        }
        if let Some(roots) = config.tls_roots() {
            builder = builder.tls_built_in_root_certs(false);
            for der in roots {
                let cert = reqwest::Certificate::from_der(der).map_err(|_| {
                    InvalidInput::TlsRoots(wxpay_core::KeyError::Malformed(
                        "reqwest refused a root certificate".into(),
                    ))
                })?;
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| {
            TransportError::new(TransportErrorKind::Other, "(client)", Some(Box::new(e)))
        })?;
        Ok(Client { config: std::sync::Arc::new(config), http, random: SystemRandom::new() })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Runs any core operation, with retries and fail-over as the policy says.
    ///
    /// # Errors
    /// The core's [`Error`]: an outcome is never an error.
    pub async fn execute<O: Operation>(&self, op: &O) -> Result<O::Output, Error> {
        let ctx = self.config.context();
        let mut call = Call::new(op, ctx, self.config.endpoint(), self.config.retry());
        let started = Instant::now();
        loop {
            let random = AttemptRandom::draw(&self.random)?;
            let request = call.prepare(unix_now(), &random.nonce)?.sign_async(ctx).await?;
            let result = self.send(call.base_url().host(), request).await;
            match call.step(result, unix_now(), started.elapsed(), random.jitter) {
                Step::Done(output) => return Ok(output),
                Step::Fail(error) => return Err(error),
                Step::Retry(delay) => tokio::time::sleep(delay).await,
            }
        }
    }

    /// Closes an order through APIv2.
    ///
    /// # Errors
    /// As [`execute`](Self::execute).
    pub async fn close_v2(&self, op: &CloseOrderV2) -> Result<CloseOutcome, Error> {
        self.execute(op).await
    }

    /// Closes an order through APIv3 (direct or service provider).
    ///
    /// # Errors
    /// As [`execute`](Self::execute).
    pub async fn close_v3(&self, op: &CloseOrderV3) -> Result<CloseOutcome, Error> {
        self.execute(op).await
    }

    /// Closes a combined order through APIv3.
    ///
    /// # Errors
    /// As [`execute`](Self::execute).
    pub async fn close_combined(&self, op: &CloseCombinedOrder) -> Result<CloseOutcome, Error> {
        self.execute(op).await
    }

    /// One exchange: the request out, the answer in, up to the size cap.
    async fn send(&self, host: &str, request: Request) -> Result<Response, TransportError> {
        let fail = |e: reqwest::Error| TransportError::new(kind(&e), host, Some(Box::new(e)));
        let request = reqwest::Request::try_from(request).map_err(fail)?;
        let mut response = self.http.execute(request).await.map_err(fail)?;
        let cap = self.config.max_response_bytes();
        if response.content_length().is_some_and(|n| n > cap) {
            return Err(too_large(host, cap));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(fail)? {
            if (body.len() + chunk.len()) as u64 > cap {
                return Err(too_large(host, cap));
            }
            body.extend_from_slice(&chunk);
        }
        let mut answer = Response::new(body);
        *answer.status_mut() = response.status();
        *answer.version_mut() = response.version();
        *answer.headers_mut() = std::mem::take(response.headers_mut());
        Ok(answer)
    }
}

fn too_large(host: &str, cap: u64) -> TransportError {
    let why = format!("the answer is larger than the {cap}-byte cap");
    TransportError::new(TransportErrorKind::BodyTooLarge, host, Some(why.into()))
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs()
}

/// What a reqwest error means for the order: could the request have been sent?
fn kind(e: &reqwest::Error) -> TransportErrorKind {
    if TransportError::is_tls_handshake_failure(e) {
        TransportErrorKind::Tls
    } else if e.is_connect() {
        TransportErrorKind::Connect
    } else if e.is_timeout() {
        TransportErrorKind::Timeout
    } else if e.is_request() || e.is_body() || e.is_decode() {
        TransportErrorKind::Io
    } else {
        TransportErrorKind::Other
    }
}
