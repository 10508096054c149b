//! Every APIv3 vector of `tests/vectors/close_order.json`, byte for byte, plus every
//! verification failure, key-loading error and answer kind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context as TaskContext, Poll, Waker};

use serde_json::Value;
use wxpay_core::v3::{
    AsyncSigner, Authorization, CloseCombinedOrder, CloseOrderV3, PlatformCertificateVerifier,
    PublicKeyVerifier, RsaSigner, SignFuture, Signer, SubOrder, V3Credentials, Verifier,
    VerifierSet, response_message,
};
use wxpay_core::{
    ApiCode, Attempt, BaseUrl, CloseOutcome, Context, Error, ErrorKind, InvalidInput, KeyError,
    Operation, OrderEffect, SignError, VerifyError,
};

const VECTORS: &str = include_str!("vectors/close_order.json");
const MERCHANT_KEY: &str = include_str!("vectors/keys/merchant_key.pem");
const MERCHANT_KEY_PKCS1: &str = include_str!("vectors/keys/merchant_key_pkcs1.pem");
const MERCHANT_PUB: &str = include_str!("vectors/keys/merchant_pub.pem");
const MERCHANT_CERT: &str = include_str!("vectors/keys/merchant_cert.pem");
const WECHATPAY_KEY: &str = include_str!("vectors/keys/wechatpay_key.pem");
const WECHATPAY_PUB: &str = include_str!("vectors/keys/wechatpay_pub.pem");
const WECHATPAY_CERT: &str = include_str!("vectors/keys/wechatpay_cert.pem");
const PUB_KEY_ID: &str = "PUB_KEY_ID_0114232134912410000000000000";
const CERT_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const MERCHANT_SERIAL: &str = "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C";
/// A time inside the test certificates' validity (2026-11-24 to 2036-11-21).
const CERT_VALID_NOW: u64 = 1_800_000_000;

fn vectors() -> Value {
    serde_json::from_str(VECTORS).unwrap()
}

fn both_verifiers() -> VerifierSet {
    VerifierSet::new()
        .with(PublicKeyVerifier::from_pem(PUB_KEY_ID, WECHATPAY_PUB).unwrap())
        .with(PlatformCertificateVerifier::from_pem(WECHATPAY_CERT).unwrap())
}

fn ctx(mchid: &str) -> Context {
    let creds = V3Credentials::new(
        mchid,
        MERCHANT_SERIAL,
        RsaSigner::from_pem(MERCHANT_KEY).unwrap(),
        both_verifiers(),
    )
    .unwrap()
    // The vectors' answers are from 2023: a wide window replays them.
    .dangerous_timestamp_window(u64::MAX);
    Context::new().with_v3(creds)
}

fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = TaskContext::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

#[test]
fn request_vectors_message_signature_and_authorization() {
    let all = vectors();
    for v in all["v3"]["requests"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let path = v["path"].as_str().unwrap();
        let op = match name {
            "close_direct" => CloseOrderV3::new("1217752501201407033233368018"),
            "close_partner" => {
                CloseOrderV3::new("1217752501201407033233368018").for_sub_merchant("1900000109")
            }
            "close_percent_encoded" => CloseOrderV3::new("ord_2024-11|42*x"),
            other => panic!("a new vector {other}: teach this test its operation"),
        };
        assert_eq!(op.path().unwrap(), path, "{name}");
        let base = BaseUrl::parse(BaseUrl::PRIMARY).unwrap();
        let nonce = v["nonce"].as_str().unwrap();
        let attempt = Attempt::new(&base, v["timestamp"].as_u64().unwrap(), nonce);
        for key in [MERCHANT_KEY, MERCHANT_KEY_PKCS1] {
            let ctx = ctx(v["mchid"].as_str().unwrap());
            let prepared = op.prepare(&ctx, &attempt).unwrap();
            assert_eq!(
                prepared.message().unwrap(),
                v["message"].as_str().unwrap().as_bytes(),
                "{name}"
            );
            let signature =
                RsaSigner::from_pem(key).unwrap().sign(prepared.message().unwrap()).unwrap();
            use base64::Engine;
            assert_eq!(
                base64::engine::general_purpose::STANDARD.encode(&signature),
                v["signature"],
                "{name}"
            );
            let req = prepared.sign(&ctx).unwrap();
            assert_eq!(req.method(), "POST");
            assert_eq!(req.uri().path(), path);
            assert_eq!(req.uri().to_string(), format!("https://api.mch.weixin.qq.com{path}"));
            assert_eq!(req.body(), v["body"].as_str().unwrap().as_bytes(), "{name}");
            let auth = &req.headers()["authorization"];
            assert!(auth.is_sensitive());
            assert_eq!(auth, v["authorization"].as_str().unwrap(), "{name}");
            assert_eq!(req.headers()["accept"], "application/json");
            assert_eq!(req.headers()["content-type"], "application/json");
            assert_eq!(req.headers()["wechatpay-serial"], PUB_KEY_ID);
            assert!(req.headers()["user-agent"].to_str().unwrap().starts_with("wxpay/0."));
            let parsed = Authorization::parse(auth.to_str().unwrap()).unwrap();
            assert_eq!(parsed.to_string(), v["authorization"].as_str().unwrap());
            assert_eq!(parsed.serial_no, v["serial_no"].as_str().unwrap());
        }
    }
}

#[test]
fn merchant_signature_verifies_with_the_merchant_public_key_and_certificate() {
    let all = vectors();
    let v = &all["v3"]["requests"][0];
    use base64::Engine;
    let sig =
        base64::engine::general_purpose::STANDARD.decode(v["signature"].as_str().unwrap()).unwrap();
    let message = v["message"].as_str().unwrap().as_bytes();
    let by_key = PublicKeyVerifier::from_pem("MERCHANT", MERCHANT_PUB).unwrap();
    assert_eq!(by_key.verify("MERCHANT", message, &sig, 0), Ok(()));
    let by_cert = PlatformCertificateVerifier::from_pem(MERCHANT_CERT).unwrap();
    assert_eq!(by_cert.serial(), MERCHANT_SERIAL);
    assert_eq!(by_cert.verify(MERCHANT_SERIAL, message, &sig, CERT_VALID_NOW), Ok(()));
}

fn answer(v: &Value) -> wxpay_core::Response {
    let mut b = http::Response::builder().status(v["status"].as_u64().unwrap() as u16);
    for (k, val) in v["headers"].as_object().unwrap() {
        b = b.header(k.as_str(), val.as_str().unwrap());
    }
    b.body(v["body"].as_str().unwrap().as_bytes().to_vec()).unwrap()
}

#[test]
fn response_vectors_verdicts() {
    let all = vectors();
    let ctx = ctx("1900000001");
    let op = CloseOrderV3::new("1217752501201407033233368018");
    for v in all["v3"]["responses"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let h = &v["headers"];
        let message = response_message(
            h["Wechatpay-Timestamp"].as_str().unwrap(),
            h["Wechatpay-Nonce"].as_str().unwrap(),
            v["body"].as_str().unwrap().as_bytes(),
        );
        if name != "tampered_timestamp" {
            assert_eq!(message, v["message"].as_str().unwrap().as_bytes(), "{name}");
        }
        let result = op.parse(&ctx, &wxpay_core::ReplayGuard::new(), CERT_VALID_NOW, answer(v));
        match name {
            "close_204_public_key" | "close_204_platform_cert" => {
                assert_eq!(result.unwrap(), CloseOutcome::Closed)
            }
            "error_400_signed" => assert_eq!(result.unwrap(), CloseOutcome::AlreadyClosed),
            "tampered_timestamp" => {
                assert!(
                    matches!(
                        result.as_ref().map_err(Error::kind),
                        Err(ErrorKind::Verify(VerifyError::BadSignature))
                    ),
                    "{result:?}"
                )
            }
            "signtest_probe" => {
                assert!(
                    matches!(
                        result.as_ref().map_err(Error::kind),
                        Err(ErrorKind::Verify(VerifyError::SignTestProbe))
                    ),
                    "{result:?}"
                )
            }
            other => panic!("a new vector {other}: teach this test its verdict"),
        }
        assert_eq!(
            v["valid"].as_bool().unwrap(),
            !matches!(name, "tampered_timestamp" | "signtest_probe")
        );
    }
}

/// Signs an answer as WeChat Pay would, with the test platform key.
fn signed(
    status: u16,
    body: &str,
    timestamp: u64,
    serial: &str,
    signature_override: Option<&str>,
) -> wxpay_core::Response {
    let wechatpay = RsaSigner::from_pem(WECHATPAY_KEY).unwrap();
    let ts = timestamp.to_string();
    // A fresh nonce per answer, as WeChat Pay's: the same answer twice is a replay.
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nonce = &format!("NONCE{n:027}");
    use base64::Engine;
    let sig = base64::engine::general_purpose::STANDARD
        .encode(wechatpay.sign(&response_message(&ts, nonce, body.as_bytes())).unwrap());
    http::Response::builder()
        .status(status)
        .header("Wechatpay-Timestamp", ts)
        .header("Wechatpay-Nonce", nonce)
        .header("Wechatpay-Serial", serial)
        .header("Wechatpay-Signature", signature_override.unwrap_or(&sig))
        .header("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")
        .header("Request-ID", "REQ-1")
        .body(body.as_bytes().to_vec())
        .unwrap()
}

fn live_ctx() -> Context {
    let creds = V3Credentials::new(
        "1900000001",
        MERCHANT_SERIAL,
        RsaSigner::from_pem(MERCHANT_KEY).unwrap(),
        both_verifiers(),
    )
    .unwrap();
    Context::new().with_v3(creds)
}

#[test]
fn every_answer_kind() {
    let ctx = live_ctx();
    let now = CERT_VALID_NOW;
    let op = CloseOrderV3::new("1217752501201407033233368018");
    let run = |resp| op.parse(&ctx, &wxpay_core::ReplayGuard::new(), now, resp);

    // Outcomes, exactly as SPEC lists them (both spellings of paid), from signed answers.
    for (status, code, outcome) in [
        (400, "ORDER_CLOSED", CloseOutcome::AlreadyClosed),
        (404, "ORDER_NOT_EXIST", CloseOutcome::NotFound),
        (400, "ORDER_PAID", CloseOutcome::Paid),
        (400, "ORDERPAID", CloseOutcome::Paid),
    ] {
        let body = format!(r#"{{"code":"{code}","message":"m"}}"#);
        assert_eq!(run(signed(status, &body, now, PUB_KEY_ID, None)).unwrap(), outcome, "{code}");
        assert_eq!(run(signed(status, &body, now, CERT_SERIAL, None)).unwrap(), outcome, "{code}");
    }
    // Anything else is an API error with its code kept, never an outcome: a 404 that is not
    // ORDER_NOT_EXIST may be a wrong path or an unbound sub-merchant.
    for (status, code) in [
        (404, "RESOURCE_NOT_EXISTS"),
        (404, "ORDER_NOT_EXISTS"),
        (404, "ORDERNOTEXISTS"),
        (400, "ORDERCLOSED"),
        (400, "ORDERNOTEXIST"),
        (403, "ORDER_PAID"),
        (400, "ORDER_NOT_EXIST"),
    ] {
        let body = format!(r#"{{"code":"{code}","message":"m"}}"#);
        let err = run(signed(status, &body, now, PUB_KEY_ID, None)).unwrap_err();
        let api = err.api().unwrap_or_else(|| panic!("{status} {code}: {err:?}"));
        assert_eq!((api.status, api.code.as_str(), api.verified), (status, code, true));
        assert_eq!(err.order_effect(), OrderEffect::Refused, "{status} {code}");
    }

    // Typed API errors with status, code, message, detail and Request-ID.
    for (status, code, typed, retry) in [
        (400, "PARAM_ERROR", ApiCode::ParamError, false),
        (400, "INVALID_REQUEST", ApiCode::InvalidRequest, false),
        (400, "MCH_NOT_EXISTS", ApiCode::MchNotExists, false),
        (401, "SIGN_ERROR", ApiCode::SignError, false),
        (403, "RULE_LIMIT", ApiCode::RuleLimit, false),
        (403, "TRADE_ERROR", ApiCode::TradeError, false),
        (429, "FREQUENCY_LIMITED", ApiCode::FrequencyLimited, true),
        (500, "SYSTEM_ERROR", ApiCode::SystemError, true),
        (400, "SOMETHING_NEW", ApiCode::Other("SOMETHING_NEW".into()), false),
    ] {
        let body = format!(
            r#"{{"code":"{code}","detail":{{"location":"uri_template","value":""}},"message":"…mchid…必填…"}}"#
        );
        let err = run(signed(status, &body, now, PUB_KEY_ID, None)).unwrap_err();
        let effect = if status >= 500 { OrderEffect::Unknown } else { OrderEffect::Refused };
        assert_eq!(err.order_effect(), effect, "{code}");
        assert_eq!(err.request_id(), Some("REQ-1"), "{code}");
        let api = err.api().unwrap_or_else(|| panic!("{code}: {err:?}"));
        assert_eq!(
            (api.status, &api.code, api.verified, api.is_retryable()),
            (status, &typed, true, retry)
        );
        assert_eq!(api.message, "…mchid…必填…");
        assert_eq!(api.detail.as_ref().unwrap()["location"], "uri_template");
        assert_eq!(api.request_id.as_deref(), Some("REQ-1"));
    }

    // An unsigned error answer: reported, marked unverified, never turned into an outcome.
    let unsigned = http::Response::builder()
        .status(400)
        .header("Request-ID", "REQ-2")
        .body(br#"{"code":"ORDER_PAID","message":"paid"}"#.to_vec())
        .unwrap();
    let err = run(unsigned).unwrap_err();
    assert_eq!(err.order_effect(), OrderEffect::Unknown, "an unsigned refusal is not believed");
    let api = err.api().unwrap();
    assert!(!api.verified);
    assert_eq!(api.code, ApiCode::Other("ORDER_PAID".into()));
    assert!(err.to_string().contains("unverified"));

    // A gateway page: an HTTP-status error, retryable.
    let gateway =
        http::Response::builder().status(502).body(b"<html>bad gateway</html>".to_vec()).unwrap();
    let api = run(gateway).unwrap_err().api().cloned().unwrap();
    assert_eq!((&api.code, api.status, api.is_retryable()), (&ApiCode::HttpStatus, 502, true));

    // A 4xx body that is not JSON keeps its bytes.
    let junk = http::Response::builder().status(400).body(b"{not json".to_vec()).unwrap();
    match run(junk).map_err(Error::into_kind) {
        Err(ErrorKind::Decode(d)) => assert_eq!(d.body, b"{not json"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_verification_failure() {
    let ctx = live_ctx();
    let now = CERT_VALID_NOW;
    let op = CloseOrderV3::new("1217752501201407033233368018");
    let verdict = |resp| match op
        .parse(&ctx, &wxpay_core::ReplayGuard::new(), now, resp)
        .map_err(Error::into_kind)
    {
        Err(ErrorKind::Verify(e)) => e,
        other => panic!("{other:?}"),
    };

    assert_eq!(
        verdict(signed(204, "", now - 301, PUB_KEY_ID, None)),
        VerifyError::StaleTimestamp { timestamp: now - 301, now, window: 300 }
    );
    assert_eq!(
        verdict(signed(204, "", now + 301, PUB_KEY_ID, None)),
        VerifyError::StaleTimestamp { timestamp: now + 301, now, window: 300 }
    );
    assert_eq!(
        op.parse(
            &ctx,
            &wxpay_core::ReplayGuard::new(),
            now,
            signed(204, "", now - 300, PUB_KEY_ID, None)
        )
        .unwrap(),
        CloseOutcome::Closed
    );
    assert_eq!(
        verdict(signed(204, "", now, "PUB_KEY_ID_OTHER", None)),
        VerifyError::UnknownSerial("PUB_KEY_ID_OTHER".into())
    );
    assert_eq!(verdict(signed(204, "", now, PUB_KEY_ID, Some("AAAA"))), VerifyError::BadSignature);
    assert_eq!(
        verdict(signed(204, "", now, PUB_KEY_ID, Some("!!not base64!!"))),
        VerifyError::BadSignature
    );
    assert_eq!(
        verdict(signed(204, "", now, PUB_KEY_ID, Some("WECHATPAY/SIGNTEST/AAAA"))),
        VerifyError::SignTestProbe
    );

    // A body added after signing: a 204 must be empty; not a close whatever its signature.
    let mut resp = signed(204, "", now, PUB_KEY_ID, None);
    *resp.body_mut() = b"{}".to_vec();
    let err = op.parse(&ctx, &wxpay_core::ReplayGuard::new(), now, resp).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Decode(_)), "{err:?}");
    assert_eq!(err.order_effect(), OrderEffect::Unknown);

    // Each missing header.
    for h in ["Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial"] {
        let mut resp = signed(204, "", now, PUB_KEY_ID, None);
        resp.headers_mut().remove(h);
        assert_eq!(
            verdict(resp),
            VerifyError::MissingHeader(Box::leak(h.to_lowercase().into_boxed_str()))
        );
    }
    // A signature header that is not text is a bad header, before the serial is looked at.
    let mut resp = signed(204, "", now, PUB_KEY_ID, None);
    let not_text = http::HeaderValue::from_bytes(b"AAAA\xff").unwrap();
    resp.headers_mut().insert("wechatpay-signature", not_text);
    resp.headers_mut().remove("wechatpay-serial");
    assert_eq!(verdict(resp), VerifyError::BadHeader("wechatpay-signature"));
    let mut resp = signed(204, "", now, PUB_KEY_ID, None);
    resp.headers_mut().insert("wechatpay-timestamp", "17e8".parse().unwrap());
    assert_eq!(verdict(resp), VerifyError::BadHeader("wechatpay-timestamp"));
    let mut resp = signed(204, "", now, PUB_KEY_ID, None);
    resp.headers_mut()
        .insert("wechatpay-signature-type", "WECHATPAY2-SM2-WITH-SM3".parse().unwrap());
    assert_eq!(
        verdict(resp),
        VerifyError::UnsupportedSignatureType("WECHATPAY2-SM2-WITH-SM3".into())
    );

    // A bare 204 with no signature at all is not closed.
    let bare = http::Response::builder().status(204).body(Vec::new()).unwrap();
    assert_eq!(verdict(bare), VerifyError::MissingHeader("wechatpay-timestamp"));

    // A signed error answer whose signature is bad is a verification failure, not an API error.
    let body = r#"{"code":"ORDER_CLOSED","message":"m"}"#;
    assert_eq!(
        verdict(signed(400, body, now, PUB_KEY_ID, Some("AAAA"))),
        VerifyError::BadSignature
    );

    // The platform certificate is used only inside its validity window.
    let before = 1_700_000_000;
    let err = op
        .parse(
            &ctx,
            &wxpay_core::ReplayGuard::new(),
            before,
            signed(204, "", before, CERT_SERIAL, None),
        )
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Verify(VerifyError::CertificateNotValidNow { .. })),
        "{err:?}"
    );
    // The same signature by serial in lower case is the same certificate.
    assert_eq!(
        op.parse(
            &ctx,
            &wxpay_core::ReplayGuard::new(),
            now,
            signed(204, "", now, &CERT_SERIAL.to_lowercase(), None)
        )
        .unwrap(),
        CloseOutcome::Closed
    );
}

#[test]
fn partner_and_combined_requests() {
    let ctx = ctx("1230000109");
    let base = BaseUrl::parse("http://127.0.0.1:8080").unwrap();
    let attempt = Attempt::new(&base, 1_700_000_000, "0123456789ABCDEF0123456789ABCDEF");
    let combined = CloseCombinedOrder::new(
        "wxd678efh567hg6787",
        "P20150806125346",
        vec![
            SubOrder::new("1900000109", "20150806125346"),
            SubOrder::new("1900000110", "20150806125347")
                .for_sub_merchant("1900000111")
                .sub_appid("wxd678efh567hg6999"),
        ],
    );
    let req = combined.build(&ctx, &attempt).unwrap();
    assert_eq!(
        req.uri().to_string(),
        "http://127.0.0.1:8080/v3/combine-transactions/out-trade-no/P20150806125346/close"
    );
    let body = std::str::from_utf8(req.body()).unwrap();
    assert_eq!(
        body,
        r#"{"combine_appid":"wxd678efh567hg6787","sub_orders":[{"mchid":"1900000109","out_trade_no":"20150806125346"},{"mchid":"1900000110","out_trade_no":"20150806125347","sub_mchid":"1900000111","sub_appid":"wxd678efh567hg6999"}]}"#
    );
    // The signature covers exactly what is sent.
    let auth = Authorization::parse(req.headers()["authorization"].to_str().unwrap()).unwrap();
    let message = format!(
        "POST\n/v3/combine-transactions/out-trade-no/P20150806125346/close\n1700000000\n{}\n{body}\n",
        auth.nonce_str
    );
    use base64::Engine;
    let sig = base64::engine::general_purpose::STANDARD.decode(auth.signature).unwrap();
    let merchant = PublicKeyVerifier::from_pem("M", MERCHANT_PUB).unwrap();
    assert_eq!(merchant.verify("M", message.as_bytes(), &sig, 0), Ok(()));
    assert_eq!(auth.mchid, "1230000109");
}

#[test]
fn bad_input_is_refused_before_anything_is_built() {
    let ctx = ctx("1900000001");
    let base = BaseUrl::parse(BaseUrl::PRIMARY).unwrap();
    let attempt = Attempt::new(&base, 1_700_000_000, "0123456789ABCDEF0123456789ABCDEF");
    let err = |op: &dyn Fn() -> Result<http::Request<Vec<u8>>, Error>| match op()
        .map_err(Error::into_kind)
    {
        Err(ErrorKind::InvalidInput(e)) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        err(&|| CloseOrderV3::new("12345").build(&ctx, &attempt)),
        InvalidInput::TooShort { field: "out_trade_no", min: 6, len: 5 }
    );
    assert_eq!(
        err(&|| CloseOrderV3::new("order@123").build(&ctx, &attempt)),
        InvalidInput::BadCharacter { field: "out_trade_no", character: '@', position: 5 }
    );
    assert_eq!(
        err(&|| CloseOrderV3::new("order123").for_sub_merchant("19\"00").build(&ctx, &attempt)),
        InvalidInput::BadCharacter { field: "sub_mchid", character: '"', position: 2 }
    );
    assert_eq!(
        err(&|| CloseOrderV3::new("order123")
            .created_at(1_700_000_000 - 299)
            .build(&ctx, &attempt)),
        InvalidInput::TooEarly { wait_secs: 1 }
    );
    assert_eq!(
        err(&|| CloseCombinedOrder::new("wx1", "order123", vec![]).build(&ctx, &attempt)),
        InvalidInput::SubOrderCount { count: 0 }
    );
    let bad_nonce = Attempt::new(&base, 1_700_000_000, "has space");
    assert_eq!(
        err(&|| CloseOrderV3::new("order123").build(&ctx, &bad_nonce)),
        InvalidInput::BadCharacter { field: "nonce_str", character: ' ', position: 3 }
    );
    assert_eq!(
        err(&|| CloseOrderV3::new("order123").build(&Context::new(), &attempt)),
        InvalidInput::MissingCredentials { api: "v3" }
    );
    let signer = RsaSigner::from_pem(MERCHANT_KEY).unwrap();
    assert_eq!(
        V3Credentials::new("19000000\"01", MERCHANT_SERIAL, signer, both_verifiers()).unwrap_err(),
        InvalidInput::BadCharacter { field: "mchid", character: '"', position: 8 }
    );
}

#[test]
fn key_loading_errors_are_clear() {
    let k = |pem: &str| RsaSigner::from_pem(pem).unwrap_err();
    assert_eq!(k("not a key"), KeyError::NotPem);
    assert_eq!(
        k(WECHATPAY_PUB),
        KeyError::WrongPemLabel { expected: "a private key", found: "PUBLIC KEY".into() }
    );
    assert_eq!(
        k(WECHATPAY_CERT),
        KeyError::WrongPemLabel { expected: "a private key", found: "CERTIFICATE".into() }
    );
    assert_eq!(k(include_str!("keys/encrypted.pem")), KeyError::Encrypted);
    assert_eq!(k(include_str!("keys/ec_pkcs8.pem")), KeyError::NotRsa);
    assert_eq!(k(include_str!("keys/rsa1024_pkcs8.pem")), KeyError::TooSmall);
    assert!(RsaSigner::from_pem(format!("issued by the platform\n{MERCHANT_KEY}")).is_ok());
    assert_eq!(RsaSigner::from_pem(MERCHANT_KEY).unwrap().bits(), 2048);

    let p = |pem: &str| PublicKeyVerifier::from_pem(PUB_KEY_ID, pem).unwrap_err();
    assert_eq!(
        p(MERCHANT_KEY),
        KeyError::WrongPemLabel { expected: "a public key", found: "PRIVATE KEY".into() }
    );
    assert_eq!(p(include_str!("keys/rsa1024_pub.pem")), KeyError::TooSmall);
    assert!(matches!(
        p("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
        KeyError::Malformed(_)
    ));

    let c = |pem: &str| PlatformCertificateVerifier::from_pem(pem).unwrap_err();
    assert_eq!(
        c(WECHATPAY_PUB),
        KeyError::WrongPemLabel { expected: "a certificate", found: "PUBLIC KEY".into() }
    );
    assert_eq!(c(include_str!("keys/ec_cert.pem")), KeyError::NotRsa);
    let cert = PlatformCertificateVerifier::from_pem(WECHATPAY_CERT).unwrap();
    assert_eq!(cert.serial(), CERT_SERIAL);
    assert_eq!(cert.validity(), (1_795_530_100, 2_110_890_100));
}

#[test]
fn secrets_never_show_in_debug() {
    let signer = RsaSigner::from_pem(MERCHANT_KEY).unwrap();
    let ctx = live_ctx();
    let shown = format!("{signer:?} {ctx:?} {ctx:#?}");
    let key_body: String = MERCHANT_KEY.lines().nth(1).unwrap().chars().take(20).collect();
    assert!(!shown.contains(&key_body), "{shown}");
    assert!(shown.contains("redacted"));
    // The Authorization header is marked sensitive, so http's Debug hides it.
    let base = BaseUrl::parse(BaseUrl::PRIMARY).unwrap();
    let attempt = Attempt::new(&base, 1_700_000_000, "N1");
    let req = CloseOrderV3::new("order123").build(&ctx, &attempt).unwrap();
    let shown = format!("{req:?}");
    assert!(shown.contains("Sensitive") && !shown.contains("signature="), "{shown}");
}

/// A signer that counts its calls, standing in for an HSM.
struct CountingSigner(RsaSigner, AtomicUsize);

impl Signer for CountingSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.sign(message)
    }
}

/// A remote-only signer (a KMS): implements only the async trait.
struct Kms(RsaSigner);

impl AsyncSigner for Kms {
    fn sign_async<'a>(&'a self, message: &'a [u8]) -> SignFuture<'a> {
        Box::pin(async move { self.0.sign(message) })
    }
}

/// A verifier that trusts one serial with the real key and records what it saw.
struct RecordingVerifier(PublicKeyVerifier, std::sync::Mutex<Vec<String>>);

impl Verifier for RecordingVerifier {
    fn verify(
        &self,
        serial: &str,
        message: &[u8],
        signature: &[u8],
        now: u64,
    ) -> Result<(), VerifyError> {
        self.1.lock().unwrap().push(serial.to_owned());
        self.0.verify(serial, message, signature, now)
    }
    fn preferred_serial(&self) -> Option<std::sync::Arc<str>> {
        Some("PUB_KEY_ID_CUSTOM".into())
    }
}

#[test]
fn custom_signers_and_verifiers_plug_in() {
    let all = vectors();
    let v = &all["v3"]["requests"][0];
    let base = BaseUrl::parse(BaseUrl::PRIMARY).unwrap();
    let attempt = Attempt::new(&base, 1554208460, v["nonce"].as_str().unwrap());
    let op = CloseOrderV3::new("1217752501201407033233368018");

    let counting =
        Arc::new(CountingSigner(RsaSigner::from_pem(MERCHANT_KEY).unwrap(), AtomicUsize::new(0)));
    let recording = Arc::new(RecordingVerifier(
        PublicKeyVerifier::from_pem(PUB_KEY_ID, WECHATPAY_PUB).unwrap(),
        Default::default(),
    ));
    let creds =
        V3Credentials::new("1900000001", MERCHANT_SERIAL, counting.clone(), recording.clone())
            .unwrap();
    let ctx = Context::new().with_v3(creds);
    let req = op.build(&ctx, &attempt).unwrap();
    assert_eq!(req.headers()["authorization"], v["authorization"].as_str().unwrap());
    assert_eq!(req.headers()["wechatpay-serial"], "PUB_KEY_ID_CUSTOM");
    assert_eq!(counting.1.load(Ordering::SeqCst), 1);
    // A sync signer works on the async path too.
    let req2 = block_on(op.prepare(&ctx, &attempt).unwrap().sign_async(&ctx)).unwrap();
    assert_eq!(req2.headers()["authorization"], req.headers()["authorization"]);
    assert_eq!(counting.1.load(Ordering::SeqCst), 2);

    let now = CERT_VALID_NOW;
    assert_eq!(
        op.parse(
            &ctx,
            &wxpay_core::ReplayGuard::new(),
            now,
            signed(204, "", now, PUB_KEY_ID, None)
        )
        .unwrap(),
        CloseOutcome::Closed
    );
    assert_eq!(*recording.1.lock().unwrap(), vec![PUB_KEY_ID.to_string()]);

    // An async-only signer: the async path signs, the sync path says why it cannot.
    let kms = V3Credentials::with_async_signer(
        "1900000001",
        MERCHANT_SERIAL,
        Kms(RsaSigner::from_pem(MERCHANT_KEY).unwrap()),
        both_verifiers(),
    )
    .unwrap();
    let kms_ctx = Context::new().with_v3(kms);
    let req3 = block_on(op.prepare(&kms_ctx, &attempt).unwrap().sign_async(&kms_ctx)).unwrap();
    assert_eq!(req3.headers()["authorization"], v["authorization"].as_str().unwrap());
    let err = op.build(&kms_ctx, &attempt).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Sign(_)) && err.to_string().contains("sign_async"),
        "{err}"
    );
    assert!(!err.was_sent());
}

/// The same signed answer under another `Wechatpay-Serial` (not signed; serials match in
/// any letter case, and a public key and a certificate may hold one key pair).
fn with_serial(answer: &wxpay_core::Response, serial: &str) -> wxpay_core::Response {
    let mut copy = http::Response::new(answer.body().clone());
    *copy.status_mut() = answer.status();
    *copy.headers_mut() = answer.headers().clone();
    copy.headers_mut().insert("Wechatpay-Serial", serial.parse().unwrap());
    copy
}

#[test]
fn a_replay_is_caught_whatever_serial_header_it_carries() {
    let ctx = live_ctx(); // the public key and the certificate of one key pair
    let seen = wxpay_core::ReplayGuard::new();
    let now = CERT_VALID_NOW;
    let op = CloseOrderV3::new("1217752501201407033233368018");
    let paid = signed(400, r#"{"code":"ORDER_PAID","message":"m"}"#, now, CERT_SERIAL, None);
    let closed = signed(204, "", now, CERT_SERIAL, None);
    for genuine in [paid, closed] {
        assert!(op.parse(&ctx, &seen, now, with_serial(&genuine, CERT_SERIAL)).is_ok());
        let mut mixed = CERT_SERIAL.to_owned();
        mixed.replace_range(0..1, &mixed[0..1].to_lowercase());
        for serial in [CERT_SERIAL.to_lowercase(), mixed, PUB_KEY_ID.to_owned()] {
            let err = op.parse(&ctx, &seen, now, with_serial(&genuine, &serial)).unwrap_err();
            assert!(
                matches!(err.kind(), ErrorKind::Verify(VerifyError::Replayed)),
                "{serial}: {err}"
            );
            assert_eq!(err.order_effect(), OrderEffect::Unknown);
        }
    }
}

/// A verifier that records the length of each signature it is given, and refuses it.
struct LengthVerifier(std::sync::Mutex<Vec<usize>>);

impl Verifier for LengthVerifier {
    fn verify(&self, _: &str, _: &[u8], signature: &[u8], _: u64) -> Result<(), VerifyError> {
        self.0.lock().unwrap().push(signature.len());
        Err(VerifyError::BadSignature)
    }
    fn preferred_serial(&self) -> Option<std::sync::Arc<str>> {
        None
    }
}

#[test]
fn signatures_up_to_rsa_8192_reach_the_verifier_and_longer_ones_are_bad() {
    use base64::Engine;
    let verifier = LengthVerifier(std::sync::Mutex::new(Vec::new()));
    let now = CERT_VALID_NOW;
    for len in [1, 256, 512, 1023, 1024, 1025, 4096] {
        let sig = base64::engine::general_purpose::STANDARD.encode(vec![0x5a; len]);
        let resp = signed(204, "", now, PUB_KEY_ID, Some(&sig));
        let verdict = wxpay_core::v3::verify_response(&verifier, resp.headers(), b"", now, 300);
        assert_eq!(verdict, Err(VerifyError::BadSignature), "{len}");
    }
    assert_eq!(*verifier.0.lock().unwrap(), [1, 256, 512, 1023, 1024]);
}
