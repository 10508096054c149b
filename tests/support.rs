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
pub const V3_SUB: &str = "1900000109";

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

/// A retry policy quick enough for tests.
pub fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(100),
        deadline: Duration::from_secs(10),
    }
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
