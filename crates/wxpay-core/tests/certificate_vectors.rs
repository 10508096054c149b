//! The platform certificate list against `tests/vectors/certificates.json` (made with Node's
//! crypto by `tests/vectors/gen_certificates.js`), and every way a list must be refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use wxpay_core::v3::{
    DownloadCertificates, PlatformCertificate, PlatformCertificates, RsaSigner, Signer,
    V3Credentials, Verifier, decrypt_resource, response_message,
};
use wxpay_core::{
    ApiV3Key, Attempt, BaseUrl, CertificateMismatch, Context, Endpoint, ErrorKind, InvalidInput,
    Operation, OrderEffect, VerifyError,
};

const VECTORS: &str = include_str!("vectors/certificates.json");
const MERCHANT_KEY: &str = include_str!("vectors/keys/merchant_key.pem");
const WECHATPAY_KEY: &str = include_str!("vectors/keys/wechatpay_key.pem");
const WECHATPAY_CERT: &str = include_str!("vectors/keys/wechatpay_cert.pem");
/// Inside the certificate's validity (2026-11-24 to 2036-11-21), as the vector's answer.
const NOW: u64 = 1_800_000_000;

fn vectors() -> Value {
    serde_json::from_str(VECTORS).unwrap()
}

fn key() -> ApiV3Key {
    ApiV3Key::new(vectors()["api_v3_key"].as_str().unwrap()).unwrap()
}

/// Credentials whose verifier is `store`.
fn ctx(store: PlatformCertificates, key: ApiV3Key) -> Context {
    let creds = V3Credentials::new(
        "1900000001",
        "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C",
        RsaSigner::from_pem(MERCHANT_KEY).unwrap(),
        store,
    )
    .unwrap()
    .with_api_v3_key(key);
    Context::new().with_v3(creds)
}

/// The vector's answer, or `body` signed afresh (with the vector's key) under `serial`.
fn answer(body: Option<&str>, serial: Option<&str>) -> http::Response<Vec<u8>> {
    let v = vectors();
    let a = &v["answer"];
    let mut headers: serde_json::Map<String, Value> = a["headers"].as_object().unwrap().clone();
    let body = match body {
        None => a["body"].as_str().unwrap().to_owned(),
        Some(body) => {
            let ts = headers["Wechatpay-Timestamp"].as_str().unwrap().to_owned();
            let nonce = headers["Wechatpay-Nonce"].as_str().unwrap().to_owned();
            let sig = RsaSigner::from_pem(WECHATPAY_KEY)
                .unwrap()
                .sign(&response_message(&ts, &nonce, body.as_bytes()))
                .unwrap();
            headers.insert("Wechatpay-Signature".into(), json!(STANDARD.encode(sig)));
            body.to_owned()
        }
    };
    if let Some(serial) = serial {
        headers.insert("Wechatpay-Serial".into(), json!(serial));
    }
    let mut b = http::Response::builder().status(200);
    for (k, value) in &headers {
        b = b.header(k, value.as_str().unwrap());
    }
    b.body(body.into_bytes()).unwrap()
}

#[test]
fn the_vector_decrypts_to_the_certificate() {
    let v = vectors();
    let d = &v["decrypt"];
    let plain = decrypt_resource(
        &key(),
        d["algorithm"].as_str().unwrap(),
        d["nonce"].as_str().unwrap(),
        d["associated_data"].as_str().unwrap(),
        d["ciphertext"].as_str().unwrap(),
        "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
    )
    .unwrap();
    assert_eq!(plain.as_slice(), WECHATPAY_CERT.as_bytes());
}

#[test]
fn the_request_is_a_signed_get_without_a_body() {
    let v = vectors();
    let r = &v["request"];
    let ctx = ctx(PlatformCertificates::new(), key());
    let base = BaseUrl::parse(BaseUrl::PRIMARY).unwrap();
    let attempt =
        Attempt::new(&base, r["timestamp"].as_u64().unwrap(), r["nonce"].as_str().unwrap());
    let prepared = DownloadCertificates::new().prepare(&ctx, &attempt).unwrap();
    assert_eq!(prepared.message().unwrap(), r["message"].as_str().unwrap().as_bytes());
    let request = prepared.sign(&ctx).unwrap();
    assert_eq!((request.method().as_str(), request.uri().path()), ("GET", "/v3/certificates"));
    assert!(request.body().is_empty() && !request.headers().contains_key("content-type"));
    // An empty store names no serial to expect.
    assert!(!request.headers().contains_key("wechatpay-serial"));
    // The global list goes to Hong Kong from the default endpoint.
    let global = DownloadCertificates::global();
    assert_eq!(global.path(), "/v3/global/certificates");
    assert_eq!(global.endpoint(&Endpoint::Mainland).primary().as_str(), BaseUrl::HONG_KONG);
    // Without the APIv3 key nothing is sent.
    let no_key = Context::new().with_v3(
        V3Credentials::new(
            "1900000001",
            "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C",
            RsaSigner::from_pem(MERCHANT_KEY).unwrap(),
            PlatformCertificates::new(),
        )
        .unwrap(),
    );
    let err = DownloadCertificates::new().build(&no_key, &attempt).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidInput(InvalidInput::MissingApiV3Key)));
    assert_eq!(err.order_effect(), OrderEffect::NotSent);
}

#[test]
fn a_first_list_verifies_with_the_certificate_inside_it() {
    let store = PlatformCertificates::new();
    let ctx = ctx(store.clone(), key());
    let seen = wxpay_core::ReplayGuard::new();
    let got = DownloadCertificates::new().parse(&ctx, &seen, NOW, answer(None, None)).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].serial(), "5157F09EFDC096DE15EBE81A47057A7232F1B8E1");
    assert_eq!(got[0].pem(), WECHATPAY_CERT);
    assert_eq!(store.update(got, NOW), 1);
    assert!(store.knows("5157f09efdc096de15ebe81a47057a7232f1b8e1"));
    // The same signed answer again, to the same client: a replay, not believed.
    let replayed =
        DownloadCertificates::new().parse(&ctx, &seen, NOW, answer(None, None)).unwrap_err();
    assert!(matches!(replayed.kind(), ErrorKind::Verify(VerifyError::Replayed)), "{replayed}");
    assert_eq!(replayed.order_effect(), OrderEffect::Unknown);
    // Another client (its own session) sharing the store: now trusted, it verifies the list.
    let other = wxpay_core::ReplayGuard::new();
    let again = DownloadCertificates::new().parse(&ctx, &other, NOW, answer(None, None)).unwrap();
    assert_eq!(store.update(again, NOW), 0);
}

/// The vector's list body with one change.
fn altered(change: impl FnOnce(&mut Value)) -> String {
    let mut body: Value =
        serde_json::from_str(vectors()["answer"]["body"].as_str().unwrap()).unwrap();
    change(&mut body["data"][0]);
    body.to_string()
}

#[test]
fn every_bad_list_is_refused_with_a_clear_error() {
    let store = PlatformCertificates::new();
    let parse = |key: ApiV3Key, body: Option<&str>, serial: Option<&str>, now: u64| {
        DownloadCertificates::new()
            .parse(
                &ctx(store.clone(), key),
                &wxpay_core::ReplayGuard::new(),
                now,
                answer(body, serial),
            )
            .unwrap_err()
    };
    let verify_error = |e: wxpay_core::Error| match e.into_kind() {
        ErrorKind::Verify(v) => v,
        other => panic!("{other:?}"),
    };
    // Tampered ciphertext (one byte of the encrypted certificate), re-signed by WeChat Pay's key.
    let tampered = altered(|d| {
        let c = d["encrypt_certificate"]["ciphertext"].as_str().unwrap();
        let mut raw = STANDARD.decode(c).unwrap();
        raw[10] ^= 1;
        d["encrypt_certificate"]["ciphertext"] = json!(STANDARD.encode(raw));
    });
    let e = verify_error(parse(key(), Some(&tampered), None, NOW));
    assert!(
        matches!(&e, VerifyError::Decrypt { serial } if serial == "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"),
        "{e}"
    );
    assert!(e.to_string().contains("wrong APIv3 key"), "{e}");
    // The wrong APIv3 key.
    let wrong = ApiV3Key::new("WrongApiV3Key0123456789abcdefghi").unwrap();
    assert!(matches!(verify_error(parse(wrong, None, None, NOW)), VerifyError::Decrypt { .. }));
    // Other associated data.
    let ad = altered(|d| d["encrypt_certificate"]["associated_data"] = json!("transaction"));
    assert!(matches!(
        verify_error(parse(key(), Some(&ad), None, NOW)),
        VerifyError::Decrypt { .. }
    ));
    // Another nonce.
    let nonce = altered(|d| d["encrypt_certificate"]["nonce"] = json!("000000000000"));
    assert!(matches!(
        verify_error(parse(key(), Some(&nonce), None, NOW)),
        VerifyError::Decrypt { .. }
    ));
    // Another algorithm.
    let alg = altered(|d| d["encrypt_certificate"]["algorithm"] = json!("AEAD_SM4_GCM"));
    assert!(matches!(
        verify_error(parse(key(), Some(&alg), None, NOW)),
        VerifyError::UnsupportedAlgorithm(_)
    ));
    // A serial that is not the certificate's.
    let serial = altered(|d| d["serial_no"] = json!("0123456789ABCDEF0123456789ABCDEF01234567"));
    let e = verify_error(parse(key(), Some(&serial), None, NOW));
    assert!(
        matches!(
            &e,
            VerifyError::CertificateMismatch { what: CertificateMismatch::Serial { found }, .. }
                if found == "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
        ) && e.to_string().contains("serial"),
        "{e}"
    );
    // Validity times that are not the certificate's.
    let times = altered(|d| d["expire_time"] = json!("2040-01-01T00:00:00+08:00"));
    let e = verify_error(parse(key(), Some(&times), None, NOW));
    assert!(
        matches!(
            &e,
            VerifyError::CertificateMismatch { what: CertificateMismatch::Validity { listed_until, .. }, .. }
                if listed_until == "2040-01-01T00:00:00+08:00"
        ) && e.to_string().contains("valid"),
        "{e}"
    );
    // Expired: after its validity, the certificate neither verifies nor is listed.
    let after = 2_200_000_000;
    let e = verify_error(
        DownloadCertificates::new()
            .parse(&ctx(store.clone(), key()), &wxpay_core::ReplayGuard::new(), after, {
                let mut a = answer(None, None);
                a.headers_mut().insert("Wechatpay-Timestamp", after.to_string().parse().unwrap());
                a
            })
            .unwrap_err(),
    );
    assert!(
        matches!(e, VerifyError::BadSignature | VerifyError::CertificateNotValidNow { .. }),
        "{e}"
    );
    // Signed under a serial neither trusted nor in the list.
    let e = verify_error(parse(
        key(),
        Some(vectors()["answer"]["body"].as_str().unwrap()),
        Some("ABCDEF0123456789ABCDEF0123456789ABCDEF01"),
        NOW,
    ));
    assert!(
        matches!(&e, VerifyError::UnknownSerial(s) if s == "ABCDEF0123456789ABCDEF0123456789ABCDEF01"),
        "{e}"
    );
    // And the vector itself, unaltered, still passes: none of the above was vacuous.
    assert!(
        DownloadCertificates::new()
            .parse(
                &ctx(store.clone(), key()),
                &wxpay_core::ReplayGuard::new(),
                NOW,
                answer(None, None)
            )
            .is_ok()
    );
}

#[test]
fn a_store_keeps_old_and_new_during_a_rotation_and_drops_the_expired() {
    let old = PlatformCertificate::from_pem(WECHATPAY_CERT).unwrap();
    let store = PlatformCertificates::from_certificates([old.clone()]);
    assert_eq!(store.preferred_serial().as_deref(), Some(old.serial()));
    // Verification through the store reads the same set from many threads while it changes.
    let message = b"1800000000\nNONCE\n\n";
    let sig = RsaSigner::from_pem(WECHATPAY_KEY).unwrap().sign(message).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..50 {
                    assert_eq!(store.verify(old.serial(), message, &sig, NOW), Ok(()));
                }
            });
        }
        s.spawn(|| {
            for _ in 0..50 {
                store.update(vec![old.clone()], NOW);
            }
        });
    });
    assert_eq!(
        store.verify("FFFF", message, &sig, NOW),
        Err(VerifyError::UnknownSerial("FFFF".into()))
    );
    // Past its validity, an update drops it.
    assert_eq!(store.update(Vec::new(), 2_200_000_000), 0);
    assert!(store.certificates().is_empty());
    // Debug shows serials, not keys.
    let shown = format!("{:?}", PlatformCertificates::from_certificates([old]));
    assert!(shown.contains("5157F09E") && !shown.contains("BEGIN"), "{shown}");
}

#[test]
fn the_vectors_are_what_node_makes() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/gen_certificates.js");
    match std::process::Command::new("node").arg(script).output() {
        Ok(out) if out.status.success() => {
            assert_eq!(String::from_utf8(out.stdout).unwrap(), VECTORS);
        }
        Ok(out) => panic!("the generator failed: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => eprintln!("node is not installed ({e}): the vectors were not regenerated"),
    }
}
