//! A blocking WeChat Pay close-order client: [`wxpay_core`] over [ureq](https://docs.rs/ureq).
//!
//! This crate only moves bytes: it signs with the core, sends with a pooled ureq agent
//! (rustls, keep-alive, no redirects), reads the answer up to the configured cap, and asks
//! the core's retry policy what to do next. The protocol lives in the core.
//!
//! ```no_run
//! use wxpay_blocking::Client;
//! use wxpay_core::{ApiV2Key, ClientConfig, CloseOutcome};
//! use wxpay_core::v2::{CloseOrderV2, V2Credentials};
//!
//! let key = ApiV2Key::new(std::fs::read_to_string("api_v2_key.txt")?.trim())?;
//! let client = Client::new(
//!     ClientConfig::builder().v2(V2Credentials::new("wx2421b1c4370ec43b", "10000100", key)?).build()?,
//! )?;
//! match client.execute(&CloseOrderV2::new("1415983244"))? {
//!     CloseOutcome::Closed | CloseOutcome::AlreadyClosed => println!("can no longer be paid"),
//!     CloseOutcome::NotFound => println!("never submitted"),
//!     CloseOutcome::Paid => println!("paid: deliver or refund"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::io;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ring::rand::SystemRandom;
use wxpay_core::v2::CloseOrderV2;
use wxpay_core::v3::{CloseCombinedOrder, CloseOrderV3};
use wxpay_core::{
    AttemptRandom, Call, ClientConfig, CloseOutcome, Error, InvalidInput, Operation, Request,
    Response, SignError, Step, TransportError, TransportErrorKind,
};

/// A blocking client. Cheap to share by reference across threads; one connection pool.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    agent: ureq::Agent,
    random: SystemRandom,
}

impl Client {
    /// A client for `config`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a proxy ureq refuses, and [`Error::Sign`] when the APIv3
    /// signer is asynchronous only (use `wxpay-async` for a KMS or HSM).
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        if config.context().v3_credentials().is_some_and(|v3| !v3.has_sync_signer()) {
            return Err(
                SignError::new("the blocking client needs a synchronous APIv3 signer").into()
            );
        }
        let proxy =
            match config.proxy() {
                Some(url) => Some(ureq::Proxy::new(url).map_err(|_| InvalidInput::BadBaseUrl {
                    reason: "ureq refused the proxy URL",
                })?),
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
        Ok(Client { config, agent, random: SystemRandom::new() })
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
    pub fn execute<O: Operation>(&self, op: &O) -> Result<O::Output, Error> {
        let ctx = self.config.context();
        let mut call = Call::new(op, ctx, self.config.endpoint(), self.config.retry());
        let started = Instant::now();
        loop {
            let random = AttemptRandom::draw(&self.random)?;
            let request = call.prepare(unix_now(), &random.nonce)?.sign(ctx)?;
            let result = self.send(call.base_url().host(), request);
            match call.step(result, unix_now(), started.elapsed(), random.jitter) {
                Step::Done(output) => return Ok(output),
                Step::Fail(error) => return Err(error),
                Step::Retry(delay) => std::thread::sleep(delay),
            }
        }
    }

    /// Closes an order through APIv2.
    ///
    /// # Errors
    /// As [`execute`](Self::execute).
    pub fn close_v2(&self, op: &CloseOrderV2) -> Result<CloseOutcome, Error> {
        self.execute(op)
    }

    /// Closes an order through APIv3 (direct or service provider).
    ///
    /// # Errors
    /// As [`execute`](Self::execute).
    pub fn close_v3(&self, op: &CloseOrderV3) -> Result<CloseOutcome, Error> {
        self.execute(op)
    }

    /// Closes a combined order through APIv3.
    ///
    /// # Errors
    /// As [`execute`](Self::execute).
    pub fn close_combined(&self, op: &CloseCombinedOrder) -> Result<CloseOutcome, Error> {
        self.execute(op)
    }

    /// One exchange: the request out, the answer in, up to the size cap.
    fn send(&self, host: &str, request: Request) -> Result<Response, TransportError> {
        let fail = |e: ureq::Error| TransportError::new(kind(&e), host, Some(Box::new(e)));
        let (parts, mut body) = self.agent.run(request).map_err(fail)?.into_parts();
        let bytes = body
            .with_config()
            .limit(self.config.max_response_bytes())
            .read_to_vec()
            .map_err(fail)?;
        Ok(Response::from_parts(parts, bytes))
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs()
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
