//! The HTTP server: accepts on loopback, routes, runs each WeChat Pay handler inside the
//! fault layer.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::answer::{Answer, DropConnection, not_found, plain};
use crate::control::{self, CONTROL_PREFIX};
use crate::faults;
use crate::shared::Shared;
use crate::state::Route;
use crate::{query_v3, wechat_v2, wechat_v3};
use wxpay_core::v3::QueryCall;

/// The largest request body the sandbox reads (WeChat Pay's own limit is far above any close).
const MAX_REQUEST_BODY: usize = 64 * 1024;

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
        if faults::drop_on_accept(&shared.state) {
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

/// The APIv2 order query's path (the core has no APIv2 query yet).
pub(crate) const V2_QUERY_PATH: &str = "/pay/orderquery";

/// The route of each APIv3 query call.
const QUERY_ROUTES: [(QueryCall, Route); 7] = [
    (QueryCall::Direct, Route::V3Query),
    (QueryCall::DirectById, Route::V3QueryById),
    (QueryCall::Partner, Route::V3PartnerQuery),
    (QueryCall::PartnerById, Route::V3PartnerQueryById),
    (QueryCall::Combined, Route::V3CombinedQuery),
    (QueryCall::Global, Route::V3GlobalQuery),
    (QueryCall::GlobalById, Route::V3GlobalQueryById),
];

/// Which WeChat Pay endpoint a path is, with the order number from the path (APIv3): the
/// core reads the path.
pub(crate) fn route(path: &str) -> Option<(Route, Option<String>)> {
    use wxpay_core::v3::CloseCall;
    if path == wxpay_core::v2::CLOSE_PATH {
        return Some((Route::V2Close, None));
    }
    if path == V2_QUERY_PATH {
        return Some((Route::V2Query, None));
    }
    if let Some((call, no)) = QueryCall::from_path(path) {
        let route = QUERY_ROUTES.iter().find(|(c, _)| *c == call).map(|(_, r)| *r)?;
        return Some((route, Some(no)));
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
    if faults::drop_before_read(&shared.state, endpoint, path_order.as_deref()) {
        return Err(DropConnection);
    }
    let Ok(body) = read_body(body).await else {
        return Ok(plain(413, "request body too large"));
    };
    let (state, replays) = (&shared.state, &shared.replays);
    match endpoint {
        Route::V2Close | Route::V2Query => {
            // The order number is in the body: a request that cannot be read as APIv2 is
            // answered before any fault is taken.
            let fields = match wechat_v2::read(&parts, &body) {
                Ok(fields) => fields,
                Err(answer) => return Ok(*answer),
            };
            if endpoint == Route::V2Query {
                let scope = wechat_v2::query_scope(&fields);
                return faults::around(state, replays, endpoint, Some(scope), |fault| {
                    wechat_v2::query(&shared, &fields, fault)
                })
                .await;
            }
            let scope = fields.get("out_trade_no").unwrap_or_default();
            faults::around(state, replays, endpoint, Some(scope), |fault| {
                wechat_v2::close(&shared, &fields, fault)
            })
            .await
        }
        Route::V3Certificates => {
            faults::around(state, replays, endpoint, None, |fault| {
                wechat_v3::certificates(&shared, &parts, &body, fault)
            })
            .await
        }
        _ if endpoint.is_query() => {
            let no = path_order.unwrap_or_default();
            let Some(call) = QUERY_ROUTES.iter().find(|(_, r)| *r == endpoint).map(|(c, _)| *c)
            else {
                return Ok(not_found());
            };
            faults::around(state, replays, endpoint, Some(&no), |fault| {
                query_v3::query(&shared, call, &no, &parts, &body, fault)
            })
            .await
        }
        _ => {
            let no = path_order.unwrap_or_default();
            faults::around(state, replays, endpoint, Some(&no), |fault| {
                wechat_v3::close(&shared, endpoint, &no, &parts, &body, fault)
            })
            .await
        }
    }
}

async fn read_body(body: Incoming) -> Result<Bytes, ()> {
    Limited::new(body, MAX_REQUEST_BODY).collect().await.map(|c| c.to_bytes()).map_err(|_| ())
}

/// Binds the listener: loopback only.
pub(crate) async fn bind(port: u16) -> std::io::Result<TcpListener> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}
