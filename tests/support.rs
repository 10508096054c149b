//! Shared by the workspace's integration tests: client contexts for the sandbox's merchants
//! and a way to put both clients behind one interface.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use wxpay_core::v2::{SignType, V2Credentials};
use wxpay_core::v3::{PlatformCertificateVerifier, V3Credentials, VerifierSet};
use wxpay_core::{ClientConfig, ClientConfigBuilder, RetryPolicy};
use wxpay_sandbox::merchants::{MERCHANT_SERIAL_NO, V2_MERCHANTS, WECHATPAY_CERT_PEM};
use wxpay_sandbox::{AnswerMode, Credentials};

pub const V2_MCH: &str = "10000100";
pub const V2_SP: &str = "1900000109";
pub const V2_SUB: &str = "1900000110";
pub const V2_SUB_APPID: &str = "wx9999999999999999";
pub const V3_MCH: &str = "1900000001";
pub const V3_SP: &str = "1230000109";
/// The APIv3 sub-merchant the sandbox presents (not the APIv2 service provider's id).
pub const V3_SUB: &str = wxpay_sandbox::merchants::V3_SUB_MCHID;
/// The merchant of a combined order's other sub-order, as the sandbox presents it.
pub const V3_SUB_ORDER: &str = wxpay_sandbox::merchants::V3_SUB_ORDER_MCHID;

fn creds() -> Credentials {
    Credentials { base_url: String::new() }
}

pub fn v2_credentials(mch_id: &str, sign_type: SignType) -> V2Credentials {
    let appid = V2_MERCHANTS.iter().find(|m| m.mch_id == mch_id).unwrap().appid;
    V2Credentials::new(appid, mch_id, creds().api_v2_key()).unwrap().with_sign_type(sign_type)
}

/// APIv3 credentials verifying in `mode` only: the request asks for that key.
pub fn v3_credentials(mchid: &str, mode: AnswerMode) -> V3Credentials {
    let c = creds();
    let verifiers = match mode {
        AnswerMode::PublicKey => VerifierSet::new().with(c.public_key_verifier()),
        AnswerMode::PlatformCertificate => VerifierSet::new()
            .with(PlatformCertificateVerifier::from_pem(WECHATPAY_CERT_PEM).unwrap()),
    };
    V3Credentials::new(mchid, MERCHANT_SERIAL_NO, c.merchant_signer(), verifiers).unwrap()
}

/// An error's message followed by each cause's, as `anyhow`'s `{:#}` shows them.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        text = format!("{text}: {cause}");
        next = cause.source();
    }
    text
}

/// A retry policy quick enough for tests.
pub fn quick_retries() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(3)
        .with_delays(Duration::from_millis(20), Duration::from_millis(100))
        .with_deadline(Duration::from_secs(10))
}

/// A configuration builder pointed at `base_url` with quick retries.
pub fn config(base_url: &str) -> ClientConfigBuilder {
    ClientConfig::builder()
        .base_url(base_url)
        .retry(quick_retries())
        .timeout(Duration::from_secs(5))
}

/// The whole HTTP stack an embedder needs for the sandbox: one `std::net::TcpStream`, one
/// HTTP/1.1 exchange, `Connection: close`. No transport crate involved: the core builds and
/// signs the request and reads the answer.
///
/// # Errors
/// Any IO error, or an answer that is not HTTP/1.1 with a `Content-Length` or a close.
pub fn raw_tcp_exchange(request: wxpay_core::Request) -> std::io::Result<wxpay_core::Response> {
    use std::io::{BufRead, BufReader, Read, Write};
    let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_owned());
    let authority = request.uri().authority().ok_or_else(|| bad("no authority"))?.to_string();
    let mut stream = std::net::TcpStream::connect(&authority)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut head = format!(
        "{} {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n",
        request.method()
    );
    for (name, value) in request.headers() {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().map_err(|_| bad("header"))?));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", request.body().len()));
    stream.write_all(head.as_bytes())?;
    stream.write_all(request.body())?;

    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("status line"))?;
    let mut builder = http::Response::builder().status(status);
    let mut length = None;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').ok_or_else(|| bad("header line"))?;
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse::<usize>().ok();
        }
        builder = builder.header(name.trim(), value.trim());
    }
    let mut body = Vec::new();
    match length {
        Some(n) => {
            body.resize(n, 0);
            reader.read_exact(&mut body)?;
        }
        None => {
            reader.take(wxpay_core::MAX_RESPONSE_BODY as u64).read_to_end(&mut body)?;
        }
    }
    builder.body(body).map_err(|_| bad("response"))
}

/// What a [`TestProxy`] speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyKind {
    /// HTTP `CONNECT` tunnels (what clients use for `https://` through an `http://` proxy).
    Connect,
    /// SOCKS5, no authentication, `CONNECT` command.
    Socks5,
}

/// A forward proxy on loopback for tests: tunnels each connection to the target the client
/// names, and records those targets. Threads and `std::net` only; it runs until the test
/// process ends.
#[derive(Debug)]
pub struct TestProxy {
    url: String,
    targets: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl TestProxy {
    pub fn start(kind: ProxyKind) -> TestProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let scheme = if kind == ProxyKind::Connect { "http" } else { "socks5" };
        let url = format!("{scheme}://{}", listener.local_addr().unwrap());
        let targets = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = targets.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let _ = tunnel(kind, client, &seen);
                });
            }
        });
        TestProxy { url, targets }
    }

    /// `http://127.0.0.1:<port>` or `socks5://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The `host:port` of every tunnel opened so far.
    pub fn targets(&self) -> Vec<String> {
        self.targets.lock().unwrap().clone()
    }
}

/// Reads the client's request for a tunnel, opens it, then copies bytes both ways.
fn tunnel(
    kind: ProxyKind,
    mut client: std::net::TcpStream,
    seen: &std::sync::Mutex<Vec<String>>,
) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let target = match kind {
        ProxyKind::Connect => {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                client.read_exact(&mut byte)?;
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let mut words = head.split_whitespace();
            if words.next() != Some("CONNECT") {
                client
                    .write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")?;
                return Ok(());
            }
            words.next().unwrap_or_default().to_owned()
        }
        ProxyKind::Socks5 => {
            let mut greeting = [0u8; 2];
            client.read_exact(&mut greeting)?;
            let mut methods = vec![0u8; usize::from(greeting[1])];
            client.read_exact(&mut methods)?;
            client.write_all(&[5, 0])?;
            let mut request = [0u8; 4];
            client.read_exact(&mut request)?;
            let host = match request[3] {
                1 => {
                    let mut ip = [0u8; 4];
                    client.read_exact(&mut ip)?;
                    std::net::Ipv4Addr::from(ip).to_string()
                }
                3 => {
                    let mut len = [0u8; 1];
                    client.read_exact(&mut len)?;
                    let mut name = vec![0u8; usize::from(len[0])];
                    client.read_exact(&mut name)?;
                    String::from_utf8_lossy(&name).into_owned()
                }
                _ => return Ok(()),
            };
            let mut port = [0u8; 2];
            client.read_exact(&mut port)?;
            format!("{host}:{}", u16::from_be_bytes(port))
        }
    };
    seen.lock().unwrap().push(target.clone());
    let upstream = std::net::TcpStream::connect(&target)?;
    match kind {
        ProxyKind::Connect => client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")?,
        ProxyKind::Socks5 => client.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0])?,
    }
    let (mut up_read, mut client_write) = (upstream.try_clone()?, client.try_clone()?);
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut up_read, &mut client_write);
        let _ = client_write.shutdown(std::net::Shutdown::Write);
    });
    let (mut client_read, mut up_write) = (client, upstream);
    let _ = std::io::copy(&mut client_read, &mut up_write);
    let _ = up_write.shutdown(std::net::Shutdown::Write);
    let _ = back.join();
    Ok(())
}
