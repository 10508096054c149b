//! Retries are logged with tracing: host, attempt, reason and Request-ID, never a secret.
//!
//! A test binary of its own: tracing caches each call site's interest process-wide, and a
//! test in another thread of the same process could register the call sites first.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use wxpay_core::v2::V2Credentials;
use wxpay_core::{
    ApiV2Key, Call, Context, Endpoint, RetryPolicy, Step, TransportError, TransportErrorKind,
};

fn ctx() -> Context {
    let key = ApiV2Key::new("192006250b4c09247ec02edce69f6a2d").unwrap();
    Context::new().with_v2(V2Credentials::new("wx1", "1", key).unwrap())
}

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
    let ctx = ctx().with_v3(v3);
    let (op, policy) =
        (CloseOrderV3::direct("order-123"), RetryPolicy::default().with_max_attempts(2));
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    tracing::subscriber::with_default(Recorder(lines.clone()), || {
        let mut call = Call::new(&op, &ctx, &Endpoint::Mainland, &policy);
        let request = call.prepare(1_700_000_000, "NONCE1").unwrap().sign(&ctx).unwrap();
        assert!(request.headers().contains_key("authorization"));
        let answer = http::Response::builder()
            .status(500)
            .header("Request-ID", "REQ-4242")
            .body(b"<html>busy</html>".to_vec())
            .unwrap();
        assert!(matches!(call.step(Ok(answer), 0, Duration::ZERO, 0.5), Step::Retry(_)));
        call.prepare(1_700_000_001, "NONCE2").unwrap();
        assert!(matches!(
            call.step(transport(TransportErrorKind::Timeout), 0, Duration::ZERO, 0.5),
            Step::Fail(_)
        ));
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
    for secret in ["192006250b4c09247ec02edce69f6a2d", key_line, "signature=", "NONCE1"] {
        assert!(!all.contains(secret), "{secret} logged: {all}");
    }
}
