//! An async WeChat Pay close-order client: [`wxpay_core`] over
//! [reqwest](https://docs.rs/reqwest) on tokio.
//!
//! This crate only moves bytes: it sends with one pooled reqwest client (rustls,
//! keep-alive, no redirects) and reads the answer up to the configured cap. Signing (a KMS
//! or HSM can sign through an [`AsyncSigner`](wxpay_core::v3::AsyncSigner)), verification,
//! retries, fail-over and certificate refresh are the core's call machine
//! ([`Call`]), which this client drives with async IO and tokio's timers: run its calls on
//! a tokio runtime.
//!
//! Everything a caller needs is re-exported here (`pub use wxpay_core::*`, below): one
//! dependency is enough (plus tokio for the runtime). The core's items are documented on [`wxpay_core`]'s pages, whose
//! examples name `wxpay_core`; in a program that depends on this crate, write
//! `wxpay_async::` instead. Every example on this crate's pages builds with this crate
//! alone.
//!
//! The client needs a tokio runtime with IO and timers enabled: polled by any other
//! executor (`futures::executor::block_on`, a hand-written one) its first `.await` panics
//! with "there is no reactor running". A program's `Cargo.toml`:
//!
//! ```toml
//! [dependencies]
//! wxpay-async = "0.1"
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] } # or "rt" for one thread
//! ```
//!
//! and its `main` (not built with the examples below, which depend on this crate alone):
//!
//! ```ignore
//! #[tokio::main] // or #[tokio::main(flavor = "current_thread")] with the "rt" feature
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let settings = wxpay_async::settings::Settings::from_env()?;
//!     let client = wxpay_async::Client::new(settings.client_config()?)?;
//!     let outcome = client.close(wxpay_async::v3::CloseOrderV3::new("1217752501201407033233368018")).await?;
//!     println!("{outcome:?}");
//!     Ok(())
//! }
//! ```
//!
//! An APIv3 close, the keys read from the files the merchant platform gives:
//!
//! ```
//! use wxpay_async::{Client, ClientConfig, CloseOutcome};
//! use wxpay_async::v3::{CloseOrderV3, PublicKeyVerifier, RsaSigner, V3Credentials};
//!
//! async fn close(out_trade_no: &str) -> Result<(), Box<dyn std::error::Error>> {
//!     let signer = RsaSigner::from_pem(std::fs::read("apiclient_key.pem")?)?; // PKCS#8 or PKCS#1
//!     let verifier = PublicKeyVerifier::from_pem(
//!         "PUB_KEY_ID_0114232134912410000000000000",
//!         std::fs::read("pub_key.pem")?,
//!     )?;
//!     let creds = V3Credentials::new("1900000001", "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C", signer, verifier)?;
//!     let client = Client::new(ClientConfig::builder().v3(creds).build()?)?; // build it once, clone it
//!     match client.close(CloseOrderV3::new(out_trade_no)).await? {
//!         CloseOutcome::Closed | CloseOutcome::AlreadyClosed => println!("can no longer be paid"),
//!         CloseOutcome::NotFound => println!("never submitted"),
//!         // A close answer names no order (a replay can claim "paid"): prove it with a
//!         // query, or close with `close_confirmed`, before delivering.
//!         CloseOutcome::Paid => println!("paid, says the close: query before delivering"),
//!     }
//!     Ok(())
//! }
//! ```
//!
//! An APIv2 client (see [`Client::new`]) closes with [`CloseOrderV2`](v2::CloseOrderV2) the
//! same way; [`Client::close_confirmed`] proves the end state with a query that names the
//! order, and [`Client::query`] asks for it alone.
//!
//! The types the API takes from other crates are re-exported too: [`http`] (a [`Request`] and
//! [`Response`] are `http` 1's, [`BaseUrl::join`] gives an [`http::Uri`]), [`serde_json`]
//! (an [`ApiError`]'s `detail`), and the [`EventListener`] with its [`Listener`] trait that a
//! [`Wait`] hands a driver of its own:
//!
//! ```
//! use wxpay_async::{EventListener, Listener, Wait, http, serde_json};
//!
//! fn answer(detail: Option<serde_json::Value>) -> http::Response<Vec<u8>> {
//!     let body = detail.map(|d| d.to_string().into_bytes()).unwrap_or_default();
//!     let response: wxpay_async::Response = http::Response::new(body);
//!     response
//! }
//! fn wait(wait: Wait) {
//!     let until = wait.until();
//!     if let Some(listener) = wait.listener() {
//!         let listener: EventListener = listener; // event-listener 5
//!         listener.wait_deadline(until);
//!     }
//! }
//! ```
//!
//! ## Settings from the environment or a file
//!
//! [`settings`] (feature `settings`, on by default) reads what the `wxpay` command reads:
//! `WXPAY_*` variables, a TOML file, key files by path.
//!
//! ```no_run
//! use wxpay_async::settings::Settings;
//! use wxpay_async::{Client, v3::CloseOrderV3};
//!
//! async fn close() -> Result<(), Box<dyn std::error::Error>> {
//!     let settings = Settings::from_env()?; // WXPAY_MCHID, WXPAY_PRIVATE_KEY_FILE, …
//!     let client = Client::new(settings.client_config()?)?;
//!     client.close(CloseOrderV3::new("1217752501201407033233368018")).await?;
//!     Ok(())
//! }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::sync::Arc;

/// The core's items, documented on its own pages: every type a client's signatures name
/// (configuration, calls, outcomes, errors, the `http` crate) is here.
#[doc(no_inline)]
pub use wxpay_core::*;
/// The settings the `wxpay` command reads (`WXPAY_*` variables, a TOML file, key files by
/// path) into credentials and a [`ClientConfig`]: the `wxpay-settings` crate.
#[cfg(feature = "settings")]
#[doc(no_inline)]
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
    /// An APIv2 client, the key read from a file:
    ///
    /// ```no_run
    /// use wxpay_async::{ApiV2Key, Client, ClientConfig};
    /// use wxpay_async::v2::{SignType, V2Credentials};
    ///
    /// let key = ApiV2Key::new(std::fs::read_to_string("api_v2_key.txt")?.trim())?; // 32 characters
    /// let creds = V2Credentials::new("wx2421b1c4370ec43b", "10000100", key)?.with_sign_type(SignType::HmacSha256);
    /// let client = Client::new(ClientConfig::builder().v2(creds).build()?)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
    /// ```
    /// use wxpay_async::{Client, CloseOutcome, Error};
    /// use wxpay_async::v2::CloseOrderV2;
    /// use wxpay_async::v3::CloseOrderV3;
    ///
    /// /// Whether the order can no longer be paid; an error says if it may have been closed.
    /// async fn close(client: &Client, out_trade_no: &str, created_at: u64) -> Result<bool, Error> {
    ///     // APIv3 (a service provider adds `.for_sub_merchant(sub_mchid)`); APIv2 is
    ///     // `CloseOrderV2::new(out_trade_no)`. `created_at` refuses closes within 5 minutes.
    ///     let outcome = client.close(CloseOrderV3::new(out_trade_no).created_at(created_at)).await?;
    ///     Ok(match outcome {
    ///         CloseOutcome::Closed | CloseOutcome::AlreadyClosed | CloseOutcome::NotFound => true,
    ///         CloseOutcome::Paid => false, // query (or `close_confirmed`) before delivering
    ///     })
    /// }
    ///
    /// async fn close_v2(client: &Client) {
    ///     match client.close(CloseOrderV2::new("1415983244")).await {
    ///         Ok(outcome) => println!("{outcome:?}"),
    ///         Err(e) if e.order_effect().is_unchanged() => println!("unchanged: {e}"),
    ///         Err(e) => println!("state unknown, close again: {e}"),
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    /// As [`execute`](Self::execute).
    pub async fn close(&self, order: impl Into<CloseOrder>) -> Result<CloseOutcome, Error> {
        self.execute(&order.into()).await
    }

    /// Queries an order: any [`QueryOrder`], or a query type that converts into one. The
    /// answer names the order asked about (checked).
    ///
    /// ```
    /// use wxpay_async::{Client, Error, QueryAnswer};
    /// use wxpay_async::v3::QueryOrderV3;
    ///
    /// async fn show(client: &Client, out_trade_no: &str) -> Result<(), Error> {
    ///     match client.query(QueryOrderV3::by_out_trade_no(out_trade_no)).await? {
    ///         QueryAnswer::Found(orders) => {
    ///             for order in &orders {
    ///                 println!("{}: {}", order.out_trade_no, order.trade_state.as_str());
    ///             }
    ///         }
    ///         QueryAnswer::NotFound => println!("{out_trade_no}: not found"),
    ///         _ => {}
    ///     }
    ///     Ok(())
    /// }
    /// ```
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
    /// ```
    /// use wxpay_async::{Client, CloseOutcome, ConfirmPolicy, ConfirmSettings, Error, Proof};
    /// use wxpay_async::v3::CloseOrderV3;
    ///
    /// async fn close_for_good(client: &Client, out_trade_no: &str) -> Result<(), Error> {
    ///     let settings = ConfirmSettings::default().with_policy(ConfirmPolicy::Doubt); // 30 s
    ///     let confirmed = client.close_confirmed(CloseOrderV3::new(out_trade_no), settings).await?;
    ///     match confirmed.outcome {
    ///         // Proven by a query that names the order: deliver.
    ///         CloseOutcome::Paid => println!("paid: {:?}", confirmed.transaction_id()),
    ///         CloseOutcome::NotFound if confirmed.proof == Proof::Unnamed => {
    ///             println!("not found (query again before issuing it anew)")
    ///         }
    ///         _ => println!("can no longer be paid"),
    ///     }
    ///     Ok(())
    /// }
    /// ```
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
