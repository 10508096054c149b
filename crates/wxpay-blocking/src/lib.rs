//! A blocking WeChat Pay close-order client: [`wxpay_core`] over [ureq](https://docs.rs/ureq).
//!
//! This crate only moves bytes: it sends with a pooled ureq agent (rustls, keep-alive, no
//! redirects) and reads the answer up to the configured cap. Signing, verification, retries,
//! fail-over and certificate refresh are the core's call machine ([`Call`]),
//! which this client drives with blocking IO and thread sleeps.
//!
//! Everything a caller needs is re-exported here (`pub use wxpay_core::*`, below): one
//! dependency is enough. The core's items are documented on [`wxpay_core`]'s pages, whose
//! examples name `wxpay_core`; in a program that depends on this crate, write
//! `wxpay_blocking::` instead. Every example on this crate's pages builds with this crate
//! alone.
//!
//! An APIv2 close, the key read from a file:
//!
//! ```no_run
//! use wxpay_blocking::{ApiV2Key, Client, ClientConfig, CloseOutcome};
//! use wxpay_blocking::v2::{CloseOrderV2, V2Credentials};
//!
//! // The API v2 key from a file (32 characters; never in code).
//! let key = ApiV2Key::new(std::fs::read_to_string("api_v2_key.txt")?.trim())?;
//! let config = ClientConfig::builder()
//!     .v2(V2Credentials::new("wx2421b1c4370ec43b", "10000100", key)?)
//!     .build()?;
//! let client = Client::new(config)?;
//! match client.close(CloseOrderV2::new("1415983244"))? {
//!     CloseOutcome::Closed | CloseOutcome::AlreadyClosed => println!("can no longer be paid"),
//!     CloseOutcome::NotFound => println!("never submitted"),
//!     // A close answer names no order (a replay can claim "paid"): prove it with a query,
//!     // or close with `close_confirmed`, before delivering.
//!     CloseOutcome::Paid => println!("paid, says the close: query before delivering"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! An APIv3 client (see [`Client::new`]) closes with [`CloseOrderV3`](v3::CloseOrderV3) the
//! same way; [`Client::close_confirmed`] proves the end state with a query that names the
//! order, and [`Client::query`] asks for it alone.
//!
//! The types the API takes from other crates are re-exported too: [`http`] (a [`Request`] and
//! [`Response`] are `http` 1's, [`BaseUrl::join`] gives an [`http::Uri`]), [`serde_json`]
//! (an [`ApiError`]'s `detail`), and the [`EventListener`] with its [`Listener`] trait that a
//! [`Wait`] hands a driver of its own:
//!
//! ```
//! use wxpay_blocking::{EventListener, Listener, Wait, http, serde_json};
//!
//! fn answer(detail: Option<serde_json::Value>) -> http::Response<Vec<u8>> {
//!     let body = detail.map(|d| d.to_string().into_bytes()).unwrap_or_default();
//!     let response: wxpay_blocking::Response = http::Response::new(body);
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
//! use wxpay_blocking::settings::Settings;
//! use wxpay_blocking::{Client, v3::CloseOrderV3};
//!
//! let settings = Settings::from_env()?; // WXPAY_MCHID, WXPAY_PRIVATE_KEY_FILE, …
//! let client = Client::new(settings.client_config()?)?;
//! client.close(CloseOrderV3::new("1217752501201407033233368018"))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::io;
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

/// A blocking client. Clone it freely: clones share one connection pool and one
/// [`Session`] (the answers believed so far, the certificate refresh).
///
/// `Debug` shows the configuration only, with its secrets redacted.
#[derive(Clone)]
pub struct Client {
    session: Arc<Session>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("config", self.session.config()).finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `config`.
    ///
    /// An APIv3 client, in public-key mode (the files the merchant platform gives):
    ///
    /// ```no_run
    /// use wxpay_blocking::{Client, ClientConfig};
    /// use wxpay_blocking::v3::{PublicKeyVerifier, RsaSigner, V3Credentials};
    ///
    /// let signer = RsaSigner::from_pem(std::fs::read("apiclient_key.pem")?)?; // PKCS#8 or PKCS#1
    /// let verifier = PublicKeyVerifier::from_pem(
    ///     "PUB_KEY_ID_0114232134912410000000000000",
    ///     std::fs::read("pub_key.pem")?,
    /// )?;
    /// let creds = V3Credentials::new("1900000001", "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C", signer, verifier)?;
    /// let client = Client::new(ClientConfig::builder().v3(creds).build()?)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`BuildError::InvalidInput`] for a proxy ureq refuses, and [`BuildError::AsyncSigner`]
    /// when the APIv3 signer is asynchronous only (use `wxpay-async` for a KMS or HSM).
    /// Nothing is sent either way.
    pub fn new(config: ClientConfig) -> Result<Client, BuildError> {
        if config.context().v3_credentials().is_some_and(|v3| !v3.has_sync_signer()) {
            return Err(BuildError::AsyncSigner);
        }
        let proxy = match config.proxy() {
            Some(url) => Some(
                ureq::Proxy::new(url)
                    .map_err(|_| InvalidInput::BadProxy { reason: "ureq refused the proxy URL" })?,
            ),
            None => None,
        };
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(config.connect_timeout()))
            .timeout_global(Some(config.timeout()))
            .proxy(proxy)
            .tls_config(tls_config(config.tls_roots()))
            .build()
            .into();
        Ok(Client { session: Arc::new(Session::new(config)), agent })
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
    /// use wxpay_blocking::{Client, CloseOutcome, Error};
    /// use wxpay_blocking::v2::CloseOrderV2;
    /// use wxpay_blocking::v3::CloseOrderV3;
    ///
    /// /// Whether the order can no longer be paid; an error says if it may have been closed.
    /// fn close(client: &Client, out_trade_no: &str, created_at: u64) -> Result<bool, Error> {
    ///     // APIv3 (a service provider adds `.for_sub_merchant(sub_mchid)`); APIv2 is
    ///     // `CloseOrderV2::new(out_trade_no)`. `created_at` refuses closes within 5 minutes.
    ///     let outcome = client.close(CloseOrderV3::new(out_trade_no).created_at(created_at))?;
    ///     Ok(match outcome {
    ///         CloseOutcome::Closed | CloseOutcome::AlreadyClosed | CloseOutcome::NotFound => true,
    ///         CloseOutcome::Paid => false, // query (or `close_confirmed`) before delivering
    ///     })
    /// }
    ///
    /// fn close_v2(client: &Client) {
    ///     match client.close(CloseOrderV2::new("1415983244")) {
    ///         Ok(outcome) => println!("{outcome:?}"),
    ///         Err(e) if e.order_effect().is_unchanged() => println!("unchanged: {e}"),
    ///         Err(e) => println!("state unknown, close again: {e}"),
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    /// As [`execute`](Self::execute).
    pub fn close(&self, order: impl Into<CloseOrder>) -> Result<CloseOutcome, Error> {
        self.execute(&order.into())
    }

    /// Queries an order: any [`QueryOrder`], or a query type that converts into one. The
    /// answer names the order asked about (checked).
    ///
    /// ```
    /// use wxpay_blocking::{Client, Error, QueryAnswer};
    /// use wxpay_blocking::v3::QueryOrderV3;
    ///
    /// fn show(client: &Client, out_trade_no: &str) -> Result<(), Error> {
    ///     match client.query(QueryOrderV3::by_out_trade_no(out_trade_no))? {
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
    pub fn query(&self, query: impl Into<QueryOrder>) -> Result<QueryAnswer, Error> {
        self.execute(&query.into())
    }

    /// Closes an order and, where the close alone proves nothing (as `settings.policy`
    /// says), queries it until its end state is proven by a signed answer that names it,
    /// or the deadline passes: see [`ConfirmedClose`].
    ///
    /// ```
    /// use wxpay_blocking::{Client, CloseOutcome, ConfirmPolicy, ConfirmSettings, Error, Proof};
    /// use wxpay_blocking::v2::CloseOrderV2;
    ///
    /// fn close_for_good(client: &Client, out_trade_no: &str) -> Result<(), Error> {
    ///     let settings = ConfirmSettings::default().with_policy(ConfirmPolicy::Doubt); // 30 s
    ///     let confirmed = client.close_confirmed(CloseOrderV2::new(out_trade_no), settings)?;
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
    pub fn close_confirmed(
        &self,
        close: impl Into<CloseOrder>,
        settings: ConfirmSettings,
    ) -> Result<Confirmed, Error> {
        let close = close.into();
        let query = close.query();
        self.drive(self.session.close_confirmed(&close, &query, settings))
    }

    /// Runs any core operation as the core's [`Call`] machine: retries and fail-over as the
    /// policy says, platform certificates kept current when the configuration asks
    /// ([`ClientConfigBuilder::refresh_certificates`]).
    ///
    /// # Errors
    /// The core's [`Error`]: an outcome is never an error.
    pub fn execute<O: Operation>(&self, op: &O) -> Result<O::Output, Error> {
        self.drive(self.session.call(op))
    }

    /// Runs any call machine to its end: the one driver loop of this client.
    ///
    /// # Errors
    /// The machine's [`Error`].
    pub fn drive<M: Machine>(&self, mut machine: M) -> Result<M::Output, Error> {
        loop {
            match machine.poll(Now::system()) {
                Action::Random => machine.random(system_random()),
                // Refused when the client was built: only an asynchronous signer asks.
                Action::Sign { .. } => machine.signed(Err(SignError::new(
                    "the blocking client cannot run an asynchronous signer",
                ))),
                Action::Send(request) => {
                    let answer = self.exchange(request);
                    machine.answer(Now::system(), answer);
                }
                Action::Wait(wait) => {
                    let until = wait.until();
                    match wait.listener() {
                        Some(listener) => {
                            listener.wait_deadline(until);
                        }
                        None => std::thread::sleep(
                            until.saturating_duration_since(std::time::Instant::now()),
                        ),
                    }
                }
                Action::Done(result) => return result,
            }
        }
    }

    /// One exchange: the request out, the answer in, up to the size cap.
    fn exchange(&self, request: Request) -> Result<Response, TransportError> {
        let host = request.uri().host().unwrap_or_default().to_owned();
        let fail = |e: ureq::Error| TransportError::new(kind(&e), &host, Some(Box::new(e)));
        let (parts, mut body) = self.agent.run(request).map_err(fail)?.into_parts();
        let bytes = body
            .with_config()
            .limit(self.session.config().max_response_bytes())
            .read_to_vec()
            .map_err(fail)?;
        Ok(Response::from_parts(parts, bytes))
    }
}

/// What a ureq error means for the order: could the request have been sent?
fn kind(e: &ureq::Error) -> TransportErrorKind {
    use ureq::Error as E;
    // ureq's error names no source: look inside the io::Error it may wrap.
    let inner: &(dyn std::error::Error + 'static) = match e {
        E::Io(io) => io,
        other => other,
    };
    if TransportError::is_tls_handshake_failure(inner) {
        return TransportErrorKind::Tls;
    }
    match e {
        E::ConnectionFailed | E::HostNotFound | E::ConnectProxyFailed(_) => {
            TransportErrorKind::Connect
        }
        E::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => TransportErrorKind::Connect,
        E::Timeout(_) => TransportErrorKind::Timeout,
        E::BodyExceedsLimit(_) => TransportErrorKind::BodyTooLarge,
        E::Io(io) if io.kind() == io::ErrorKind::ConnectionRefused => TransportErrorKind::Connect,
        E::Io(io) if is_name_lookup_failure(io) => TransportErrorKind::Connect,
        E::Io(io) if io.kind() == io::ErrorKind::TimedOut => TransportErrorKind::Timeout,
        E::Io(_) | E::Protocol(_) | E::BodyStalled => TransportErrorKind::Io,
        _ => TransportErrorKind::Other,
    }
}

/// Whether `io` is the standard library's failed name lookup (`getaddrinfo`), which ureq
/// passes on as [`ureq::Error::Io`] before connecting: nothing was sent.
///
/// std says so only in the message on Unix (its kind is not public), and with the
/// resolver's own error codes on Windows. Anything else, including a lookup failure worded
/// otherwise by a future std, stays [`TransportErrorKind::Io`]: possibly sent, never the
/// other way round.
fn is_name_lookup_failure(io: &io::Error) -> bool {
    // WSAHOST_NOT_FOUND, WSATRY_AGAIN, WSANO_RECOVERY, WSANO_DATA: raised only by lookups.
    if cfg!(windows) && matches!(io.raw_os_error(), Some(11001..=11004)) {
        return true;
    }
    io.raw_os_error().is_none()
        && io.to_string().starts_with("failed to lookup address information")
}

/// rustls with the built-in Mozilla roots, or only the configured ones.
fn tls_config(roots: Option<&[Vec<u8>]>) -> ureq::tls::TlsConfig {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let roots = match roots {
        Some(roots) => RootCerts::Specific(std::sync::Arc::new(
            roots.iter().map(|der| Certificate::from_der(der).to_owned()).collect(),
        )),
        None => RootCerts::WebPki,
    };
    TlsConfig::builder().root_certs(roots).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_failed_name_lookup_among_io_errors_counts_as_not_sent() {
        let lookup =
            io::Error::other("failed to lookup address information: Name or service not known");
        assert_eq!(kind(&ureq::Error::Io(lookup)), TransportErrorKind::Connect);
        let broken = io::Error::other("connection reset by peer");
        assert_eq!(kind(&ureq::Error::Io(broken)), TransportErrorKind::Io);
        assert_eq!(kind(&ureq::Error::HostNotFound), TransportErrorKind::Connect);
    }
}
