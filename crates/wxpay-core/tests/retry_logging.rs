//! Retries are logged with tracing: host, attempt, reason and Request-ID, never a secret.
//!
//! A test binary of its own: tracing caches each call site's interest process-wide, and a
//! test in another thread of the same process could register the call sites first.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use wxpay_core::v2::V2Credentials;
use wxpay_core::{
    ApiV2Key, ClientConfig, Now, RetryPolicy, Session, TransportError, TransportErrorKind,
    run_scripted,
};

fn transport(kind: TransportErrorKind) -> Result<wxpay_core::Response, TransportError> {
    Err(TransportError::new(kind, "h", None))
}

/// Records every event's fields as text.
struct Recorder(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl tracing::Subscriber for Recorder {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={value:?} ", field.name()));
            }
        }
        let mut fields = Fields(format!("{} ", event.metadata().level()));
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn retries_are_logged_with_host_attempt_reason_and_request_id_and_no_secret() {
    use wxpay_core::v3::{CloseOrderV3, PublicKeyVerifier, RsaSigner, V3Credentials};
    let key_pem = include_str!("vectors/keys/merchant_key.pem");
    let signer = RsaSigner::from_pem(key_pem).unwrap();
    let verifier = PublicKeyVerifier::from_pem(
        "PUB_KEY_ID_0114232134912410000000000000",
        include_str!("vectors/keys/wechatpay_pub.pem"),
    )
    .unwrap();
    let v3 = V3Credentials::new(
        "1900000001",
        "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C",
        signer,
        verifier,
    )
    .unwrap();
    let key = ApiV2Key::new("192006250b4c09247ec02edce69f6a2d").unwrap();
    let config = ClientConfig::builder()
        .v2(V2Credentials::new("wx1", "1", key).unwrap())
        .v3(v3)
        .retry(RetryPolicy::default().with_max_attempts(2))
        .build()
        .unwrap();
    let session = Session::new(config);
    let op = CloseOrderV3::new("order-123");
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    tracing::subscriber::with_default(Recorder(lines.clone()), || {
        let answer = http::Response::builder()
            .status(500)
            .header("Request-ID", "REQ-4242")
            .body(b"<html>busy</html>".to_vec())
            .unwrap();
        let run = run_scripted(
            session.call(&op),
            Now::system(),
            [Ok(answer), transport(TransportErrorKind::Timeout)],
        );
        assert!(run.sent.iter().all(|r| r.headers().contains_key("authorization")));
        assert_eq!(run.sent.len(), 2);
        assert!(run.result.is_err());
    });
    let lines = lines.lock().unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("INFO") && lines[0].contains("retrying"), "{lines:?}");
    for needle in [
        "host=\"api.mch.weixin.qq.com\"",
        "attempt=1",
        "request_id=\"REQ-4242\"",
        "reason=",
        "HTTP 500",
    ] {
        assert!(lines[0].contains(needle), "{needle} in {}", lines[0]);
    }
    assert!(lines[1].starts_with("WARN") && lines[1].contains("attempts exhausted"), "{lines:?}");
    let all = lines.join("\n");
    let key_line = key_pem.lines().nth(1).unwrap();
    for secret in ["192006250b4c09247ec02edce69f6a2d", key_line, "signature="] {
        assert!(!all.contains(secret), "{secret} logged: {all}");
    }
}
