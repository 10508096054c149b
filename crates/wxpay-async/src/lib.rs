//! An async WeChat Pay close-order client: [`wxpay_core`] over
//! [reqwest](https://docs.rs/reqwest) on tokio.
//!
//! This crate only moves bytes: it sends with one pooled reqwest client (rustls,
//! keep-alive, no redirects) and reads the answer up to the configured cap. Signing (a KMS
//! or HSM can sign through an [`AsyncSigner`](wxpay_core::v3::AsyncSigner)), verification,
//! retries, fail-over and certificate refresh are the core's call machine
//! ([`Call`]), which this client drives with async IO and tokio's timers.
//! Everything a caller needs is re-exported here: one dependency is enough.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use wxpay_async::{Client, ClientConfig, CloseOutcome};
//! use wxpay_async::v3::{CloseOrderV3, PublicKeyVerifier, RsaSigner, V3Credentials};
//! # use wxpay_sandbox::{Merchant, OrderState, Sandbox, merchants::{MERCHANT_KEY_PEM, WECHATPAY_PUB_PEM}};
//! # let sandbox = Sandbox::start(Default::default()).await?;
//! # sandbox.put_order(Merchant::V3Direct, "1217752501201407033233368018", OrderState::Unpaid);
//! # let dir = tempfile::tempdir()?;
//! # let (key_file, pub_file) = (dir.path().join("apiclient_key.pem"), dir.path().join("pub_key.pem"));
//! # std::fs::write(&key_file, MERCHANT_KEY_PEM)?;
//! # std::fs::write(&pub_file, WECHATPAY_PUB_PEM)?;
//!
//! // The merchant's API key and WeChat Pay's public key, from the files the merchant platform gives.
//! let signer = RsaSigner::from_pem(std::fs::read(&key_file)?)?;
//! let verifier = PublicKeyVerifier::from_pem("PUB_KEY_ID_0114232134912410000000000000", std::fs::read(&pub_file)?)?;
//! let creds = V3Credentials::new("1900000001", "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C", signer, verifier)?;
//! let config = ClientConfig::builder()
//!     .v3(creds)
//! #   .base_url(sandbox.base_url()) // here: the local sandbox, not WeChat Pay
//!     .build()?;
//! let client = Client::new(config)?;
//! match client.close(CloseOrderV3::new("1217752501201407033233368018")).await? {
//!     CloseOutcome::Closed | CloseOutcome::AlreadyClosed => println!("can no longer be paid"),
//!     CloseOutcome::NotFound => println!("never submitted"),
//!     CloseOutcome::Paid => println!("paid: deliver or refund"),
//! }
//! # Ok(()) }
//! ```
//!
//! ## Settings from the environment or a file
//!
//! [`settings`] (feature `settings`, on by default) reads what the `wxpay` command reads:
//! `WXPAY_*` variables, a TOML file, key files by path.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use wxpay_async::settings::Settings;
//! use wxpay_async::{Client, v3::CloseOrderV3};
//! # use wxpay_sandbox::{Merchant, OrderState, Sandbox};
//! # let sandbox = Sandbox::start(Default::default()).await?;
//! # sandbox.put_order(Merchant::V3Direct, "1217752501201407033233368018", OrderState::Unpaid);
//! # let dir = tempfile::tempdir()?;
//! # let vars = sandbox.credentials().write_key_files(dir.path())?; // the sandbox's `WXPAY_*`
//!
//! // Settings::from_env() in a program; the variables given here.
//! let settings = Settings::from_vars(vars)?;
//! let client = Client::new(settings.client_config()?)?;
//! client.close(CloseOrderV3::new("1217752501201407033233368018")).await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::sync::Arc;

pub use wxpay_core::*;
/// The settings the `wxpay` command reads (`WXPAY_*` variables, a TOML file, key files by
/// path) into credentials and a [`ClientConfig`]: the `wxpay-settings` crate.
#[cfg(feature = "settings")]
pub use wxpay_settings as settings;

/// An async client. Clone it freely: clones share one connection pool and one
/// [`Session`] (the answers believed so far, the certificate refresh).
///
/// `Debug` shows the configuration only, with its secrets redacted.
#[derive(Clone)]
pub struct Client {
    session: Arc<Session>,
    http: reqwest::Client,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("config", self.session.config()).finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `config`.
    ///
    /// # Errors
    /// [`BuildError::InvalidInput`] for a proxy or TLS root reqwest refuses;
    /// [`BuildError::Http`] when the HTTP client cannot be built. Nothing is sent either way.
    pub fn new(config: ClientConfig) -> Result<Client, BuildError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout())
            .timeout(config.timeout())
            .tcp_nodelay(true)
            .use_rustls_tls()
            .no_proxy();
        if let Some(url) = config.proxy() {
            let proxy = reqwest::Proxy::all(url)
                .map_err(|_| InvalidInput::BadProxy { reason: "reqwest refused the proxy URL" })?;
            builder = builder.proxy(proxy);
        }
        if let Some(roots) = config.tls_roots() {
            builder = builder.tls_built_in_root_certs(false);
            for der in roots {
                let cert = reqwest::Certificate::from_der(der).map_err(|_| {
                    InvalidInput::TlsRoots(KeyError::Malformed(
                        "reqwest refused a root certificate".into(),
                    ))
                })?;
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| BuildError::Http(Box::new(e)))?;
        Ok(Client { session: Arc::new(Session::new(config)), http })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ClientConfig {
        self.session.config()
    }

    /// The session its calls share.
    #[must_use]
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Closes an order: any [`CloseOrder`], or a call type that converts into one.
    ///
    /// # Errors
    /// As [`execute`](Self::execute).
    pub async fn close(&self, order: impl Into<CloseOrder>) -> Result<CloseOutcome, Error> {
        self.execute(&order.into()).await
    }

    /// Queries an order: any [`QueryOrder`], or a query type that converts into one. The
    /// answer names the order asked about (checked).
    ///
    /// # Errors
    /// As [`execute`](Self::execute).
    pub async fn query(&self, query: impl Into<QueryOrder>) -> Result<QueryAnswer, Error> {
        self.execute(&query.into()).await
    }

    /// Closes an order and, where the close alone proves nothing (as `settings.policy`
    /// says), queries it until its end state is proven by a signed answer that names it,
    /// or the deadline passes: see [`ConfirmedClose`].
    ///
    /// # Errors
    /// The close's [`Error`] when it changed nothing (not sent, refused); else
    /// [`ErrorKind::Unproven`] when no end state was proven by the deadline (state unknown).
    pub async fn close_confirmed(
        &self,
        close: impl Into<CloseOrder>,
        settings: ConfirmSettings,
    ) -> Result<Confirmed, Error> {
        let close = close.into();
        let query = close.query();
        self.drive(self.session.close_confirmed(&close, &query, settings)).await
    }

    /// Runs any core operation as the core's [`Call`] machine: retries and fail-over as the
    /// policy says, platform certificates kept current when the configuration asks
    /// ([`ClientConfigBuilder::refresh_certificates`]).
    ///
    /// # Errors
    /// The core's [`Error`]: an outcome is never an error.
    pub async fn execute<O: Operation>(&self, op: &O) -> Result<O::Output, Error> {
        self.drive(self.session.call(op)).await
    }

    /// Runs any call machine to its end: the one driver loop of this client.
    ///
    /// # Errors
    /// The machine's [`Error`].
    pub async fn drive<M: Machine>(&self, mut machine: M) -> Result<M::Output, Error> {
        loop {
            match machine.poll(Now::system()) {
                Action::Random => machine.random(system_random()),
                Action::Sign { message, signer } => {
                    machine.signed(signer.sign_async(&message).await);
                }
                Action::Send(request) => {
                    let answer = self.exchange(request).await;
                    machine.answer(Now::system(), answer);
                }
                Action::Wait(wait) => {
                    let until = tokio::time::Instant::from_std(wait.until());
                    match wait.listener() {
                        Some(listener) => {
                            let _ = tokio::time::timeout_at(until, listener).await;
                        }
                        None => tokio::time::sleep_until(until).await,
                    }
                }
                Action::Done(result) => return result,
            }
        }
    }

    /// One exchange: the request out, the answer in, up to the size cap.
    async fn exchange(&self, request: Request) -> Result<Response, TransportError> {
        let host = request.uri().host().unwrap_or_default().to_owned();
        let host = host.as_str();
        let fail = |e: reqwest::Error| TransportError::new(kind(&e), host, Some(Box::new(e)));
        let request = reqwest::Request::try_from(request).map_err(fail)?;
        let mut response = self.http.execute(request).await.map_err(fail)?;
        let cap = self.session.config().max_response_bytes();
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
