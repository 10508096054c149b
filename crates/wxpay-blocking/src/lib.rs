//! A blocking WeChat Pay close-order client: [`wxpay_core`] over [ureq](https://docs.rs/ureq).
//!
//! This crate only moves bytes: it sends with a pooled ureq agent (rustls, keep-alive, no
//! redirects) and reads the answer up to the configured cap. Signing, verification, retries,
//! fail-over and certificate refresh are the core's call machine ([`Call`]),
//! which this client drives with blocking IO and thread sleeps.
//! Everything a caller needs is re-exported here: one dependency is enough.
//!
//! ```
//! use wxpay_blocking::{ApiV2Key, Client, ClientConfig, CloseOutcome};
//! use wxpay_blocking::v2::{CloseOrderV2, V2Credentials};
//! # use wxpay_sandbox::{Merchant, OrderState, SandboxThread, merchants::API_V2_KEY};
//! # let sandbox = SandboxThread::start(Default::default())?;
//! # sandbox.put_order(Merchant::V2Common, "1415983244", OrderState::Unpaid);
//! # let dir = tempfile::tempdir()?;
//! # let key_file = dir.path().join("api_v2_key.txt");
//! # std::fs::write(&key_file, API_V2_KEY)?;
//!
//! // The API v2 key from a file (32 characters; never in code).
//! let key = ApiV2Key::new(std::fs::read_to_string(&key_file)?.trim())?;
//! let config = ClientConfig::builder()
//!     .v2(V2Credentials::new("wx2421b1c4370ec43b", "10000100", key)?)
//! #   .base_url(sandbox.base_url()) // here: the local sandbox, not WeChat Pay
//!     .build()?;
//! let client = Client::new(config)?;
//! match client.close(CloseOrderV2::new("1415983244"))? {
//!     CloseOutcome::Closed | CloseOutcome::AlreadyClosed => println!("can no longer be paid"),
//!     CloseOutcome::NotFound => println!("never submitted"),
//!     CloseOutcome::Paid => println!("paid: deliver or refund"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Settings from the environment or a file
//!
//! [`settings`] (feature `settings`, on by default) reads what the `wxpay` command reads:
//! `WXPAY_*` variables, a TOML file, key files by path.
//!
//! ```
//! use wxpay_blocking::settings::Settings;
//! use wxpay_blocking::{Client, v3::CloseOrderV3};
//! # use wxpay_sandbox::{Merchant, OrderState, SandboxThread};
//! # let sandbox = SandboxThread::start(Default::default())?;
//! # sandbox.put_order(Merchant::V3Direct, "1217752501201407033233368018", OrderState::Unpaid);
//! # let dir = tempfile::tempdir()?;
//! # let vars = sandbox.credentials().write_key_files(dir.path())?; // the sandbox's `WXPAY_*`
//!
//! // Settings::from_env() in a program; the variables given here.
//! let settings = Settings::from_vars(vars)?;
//! let client = Client::new(settings.client_config()?)?;
//! client.close(CloseOrderV3::new("1217752501201407033233368018"))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::io;
use std::sync::Arc;

pub use wxpay_core::*;
/// The settings the `wxpay` command reads (`WXPAY_*` variables, a TOML file, key files by
/// path) into credentials and a [`ClientConfig`]: the `wxpay-settings` crate.
#[cfg(feature = "settings")]
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
    /// # Errors
    /// As [`execute`](Self::execute).
    pub fn close(&self, order: impl Into<CloseOrder>) -> Result<CloseOutcome, Error> {
        self.execute(&order.into())
    }

    /// Queries an order: any [`QueryOrder`], or a query type that converts into one. The
    /// answer names the order asked about (checked).
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
        E::Io(io) if io.kind() == io::ErrorKind::TimedOut => TransportErrorKind::Timeout,
        E::Io(_) | E::Protocol(_) | E::BodyStalled => TransportErrorKind::Io,
        _ => TransportErrorKind::Other,
    }
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
