//! The HTTP server: accepts on loopback, routes, applies connection-level faults.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::body::AnswerBody;
use crate::state::{Fault, Route, State};
use crate::{SandboxConfig, control, wechat_v2, wechat_v3};

/// The largest request body the sandbox reads (WeChat Pay's own limit is far above any close).
const MAX_REQUEST_BODY: usize = 64 * 1024;

/// The prefix of the control API: never a WeChat Pay path.
pub const CONTROL_PREFIX: &str = "/__sandbox/";

pub(crate) type Answer = http::Response<AnswerBody>;

/// Shared by every connection.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) state: Arc<State>,
    pub(crate) config: SandboxConfig,
    /// Signs in public-key mode.
    pub(crate) signer: wxpay_core::v3::RsaSigner,
    /// Sign in platform-certificate mode, one per [`PLATFORM_CERTIFICATES`](crate::merchants::PLATFORM_CERTIFICATES).
    pub(crate) platform_signers: Vec<wxpay_core::v3::RsaSigner>,
    /// Verifies the merchants' APIv3 request signatures (their API key, by serial).
    pub(crate) merchant_verifier: wxpay_core::v3::PublicKeyVerifier,
    pub(crate) base_url: String,
    /// Set when serving HTTPS.
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    /// Each route's last answer, for [`Fault::Replay`].
    pub(crate) last_answers: std::sync::Mutex<std::collections::HashMap<Route, Recorded>>,
}

/// An answer as it was sent: status, headers and body.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    status: http::StatusCode,
    headers: http::HeaderMap,
    body: Option<Bytes>,
}

impl Shared {
    fn last_answers(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<Route, Recorded>> {
        self.last_answers.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps `answer` as `route`'s last, to be replayed.
    pub(crate) fn remember(&self, route: Route, answer: &Answer) {
        let body = match answer.body() {
            AnswerBody::Full(b) => b.clone(),
            AnswerBody::Truncated(_) => return,
        };
        let recorded =
            Recorded { status: answer.status(), headers: answer.headers().clone(), body };
        self.last_answers().insert(route, recorded);
    }

    /// `route`'s last answer, byte for byte, if it has answered.
    pub(crate) fn replay(&self, route: Route) -> Option<Answer> {
        let recorded = self.last_answers().get(&route).cloned()?;
        let mut answer = http::Response::new(AnswerBody::Full(recorded.body));
        *answer.status_mut() = recorded.status;
        *answer.headers_mut() = recorded.headers;
        Some(answer)
    }
}

/// Applies the faults that act on a finished answer: kept for a replay when it is a genuine
/// one, relabelled, or cut short.
pub(crate) fn finish(
    shared: &Shared,
    route: Route,
    mut answer: Answer,
    fault: Option<Fault>,
) -> Answer {
    match fault {
        None => shared.remember(route, &answer),
        Some(Fault::RelabelStatus(status)) => {
            *answer.status_mut() =
                http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
        }
        Some(Fault::TruncatedBody) => return truncate(answer),
        Some(_) => {}
    }
    answer
}

/// The TLS setup for the built-in test certificate: HTTP/1.1 only, as WeChat Pay's API.
pub(crate) fn tls_config() -> std::io::Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |e: &dyn std::fmt::Display| std::io::Error::other(format!("TLS identity: {e}"));
    let certs = CertificateDer::pem_slice_iter(crate::merchants::TLS_CERT_PEM.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    let key = PrivateKeyDer::from_pem_slice(crate::merchants::TLS_KEY_PEM.as_bytes())
        .map_err(|e| bad(&e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(&e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(&e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

pub(crate) use wxpay_core::unix_now as now;

/// 32 random upper-case hex characters.
pub(crate) fn nonce() -> String {
    let mut bytes = [0u8; 16];
    // The system random source does not fail on supported platforms; a zero nonce would
    // still be a valid (if predictable) test answer.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        if shared.state.take_connection_drop() {
            shared.state.count_request();
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let (shared, stop) = (shared.clone(), stop.clone());
        tokio::spawn(async move {
            match shared.tls.clone() {
                None => serve_connection(stream, shared, stop).await,
                Some(tls) => {
                    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
                    // A client that fails the handshake (an untrusted certificate) just leaves.
                    let handshake =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                    if let Ok(Ok(stream)) = handshake.await {
                        serve_connection(stream, shared, stop).await;
                    }
                }
            }
        });
    }
}

/// How long a TLS client has to finish its handshake.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// HTTP/1.1 with keep-alive on one connection, until it closes or the sandbox stops.
async fn serve_connection<S>(stream: S, shared: Arc<Shared>, mut stop: watch::Receiver<bool>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| handle(shared.clone(), req));
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Closes the connection without an answer (hyper drops a connection whose service fails).
#[derive(Debug)]
pub(crate) struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for DropConnection {}

/// Which WeChat Pay endpoint a path is, with the order number from the path (APIv3): the
/// core reads the path.
pub(crate) fn route(path: &str) -> Option<(Route, Option<String>)> {
    use wxpay_core::v3::CloseCall;
    if path == wxpay_core::v2::CLOSE_PATH {
        return Some((Route::V2Close, None));
    }
    let lists = [
        wxpay_core::v3::DownloadCertificates::new(),
        wxpay_core::v3::DownloadCertificates::global(),
    ];
    if lists.iter().any(|l| l.path() == path) {
        return Some((Route::V3Certificates, None));
    }
    let (call, no) = CloseCall::from_path(path)?;
    let endpoint = match call {
        CloseCall::Direct => Route::V3Direct,
        CloseCall::Partner => Route::V3Partner,
        CloseCall::Combined => Route::V3Combined,
        CloseCall::GlobalOutTradeNo => Route::V3Global,
        CloseCall::GlobalTransactionId => Route::V3GlobalById,
    };
    Some((endpoint, Some(no)))
}

pub(crate) use wxpay_core::v3::percent_decode;

async fn handle(
    shared: Arc<Shared>,
    req: http::Request<Incoming>,
) -> Result<Answer, DropConnection> {
    let (parts, body) = req.into_parts();
    if parts.uri.path().starts_with(CONTROL_PREFIX) {
        let body = read_body(body).await.unwrap_or_default();
        return Ok(control::handle(&shared, &parts, &body));
    }
    let Some((endpoint, path_order)) = route(parts.uri.path()) else {
        return Ok(not_found());
    };
    shared.state.count_request();
    // Faults that act before the body is read.
    let early = |f: Fault| matches!(f, Fault::DropBeforeRead);
    if shared.state.take_fault(endpoint, path_order.as_deref(), early).is_some() {
        return Err(DropConnection);
    }
    let Ok(body) = read_body(body).await else {
        return Ok(plain(413, "request body too large"));
    };
    match endpoint {
        Route::V2Close => wechat_v2::close(&shared, &parts, &body).await,
        Route::V3Certificates => wechat_v3::certificates(&shared, &parts, &body).await,
        _ => {
            wechat_v3::close(&shared, endpoint, path_order.unwrap_or_default(), &parts, &body).await
        }
    }
}

async fn read_body(body: Incoming) -> Result<Bytes, ()> {
    Limited::new(body, MAX_REQUEST_BODY).collect().await.map(|c| c.to_bytes()).map_err(|_| ())
}

pub(crate) fn not_found() -> Answer {
    plain(404, "no such path in the sandbox")
}

pub(crate) fn plain(status: u16, text: &str) -> Answer {
    let mut answer = http::Response::new(AnswerBody::full(text.to_owned()));
    *answer.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    answer
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain"));
    answer
}

/// Cuts an answer's body short: the full `Content-Length` is promised, half is sent. A 204
/// cannot carry a body, so it becomes a 200 promising one.
pub(crate) fn truncate(mut answer: Answer) -> Answer {
    if answer.status() == http::StatusCode::NO_CONTENT {
        *answer.status_mut() = http::StatusCode::OK;
    }
    let full = match std::mem::replace(answer.body_mut(), AnswerBody::Full(None)) {
        AnswerBody::Full(Some(b)) | AnswerBody::Truncated(Some(b)) => b,
        _ => Bytes::from_static(b"{\"code\":\"SYSTEM_ERROR\"}"),
    };
    let half = full.slice(..full.len() / 2);
    answer.headers_mut().insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(full.len()));
    *answer.body_mut() = AnswerBody::Truncated(Some(half));
    answer
}

/// Binds the listener: loopback only.
pub(crate) async fn bind(port: u16) -> std::io::Result<TcpListener> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}
