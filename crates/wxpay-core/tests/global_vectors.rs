//! The APIv3 cross-border close, byte for byte against `tests/vectors/global_close.json`
//! (made with the openssl command line by `tests/vectors/gen_global_close.py`): all four
//! request shapes, a verified 204 and verified error answers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use wxpay_core::v3::{CloseGlobalOrder, PublicKeyVerifier, RsaSigner, V3Credentials};
use wxpay_core::{
    Attempt, BaseUrl, CloseOrder, CloseOutcome, Context, Endpoint, ErrorKind, InvalidInput,
    Operation, OrderEffect, VerifyError,
};

const VECTORS: &str = include_str!("vectors/global_close.json");
const MERCHANT_KEY: &str = include_str!("vectors/keys/merchant_key.pem");
const WECHATPAY_PUB: &str = include_str!("vectors/keys/wechatpay_pub.pem");

fn ctx(mchid: &str) -> Context {
    let verifier =
        PublicKeyVerifier::from_pem("PUB_KEY_ID_0114232134912410000000000000", WECHATPAY_PUB)
            .unwrap();
    let creds = V3Credentials::new(
        mchid,
        "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C",
        RsaSigner::from_pem(MERCHANT_KEY).unwrap(),
        verifier,
    )
    .unwrap();
    Context::new().with_v3(creds)
}

/// The call a request vector describes.
fn op_for(v: &Value) -> CloseGlobalOrder {
    let name = v["name"].as_str().unwrap();
    let path = v["path"].as_str().unwrap();
    let id = path.trim_end_matches("/close").rsplit('/').next().unwrap();
    let op = if name.contains("transaction_id") {
        CloseGlobalOrder::by_transaction_id(id)
    } else {
        CloseGlobalOrder::by_out_trade_no(id)
    };
    if name.ends_with("institution") { op.for_sub_merchant("1900000109") } else { op }
}

#[test]
fn all_four_request_shapes_byte_for_byte() {
    let vectors: Value = serde_json::from_str(VECTORS).unwrap();
    let requests = vectors["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 4);
    for v in requests {
        let name = v["name"].as_str().unwrap();
        let ctx = ctx(v["mchid"].as_str().unwrap());
        let op = op_for(v);
        // The default (mainland) endpoint sends a cross-border close to Hong Kong, no backup.
        let endpoint = op.endpoint(&Endpoint::Mainland);
        assert_eq!(endpoint.primary().as_str(), v["host"].as_str().unwrap(), "{name}");
        assert!(endpoint.backup().is_none(), "{name}");
        let base = endpoint.primary();
        let attempt =
            Attempt::new(&base, v["timestamp"].as_u64().unwrap(), v["nonce"].as_str().unwrap());
        let prepared = op.prepare(&ctx, &attempt).unwrap();
        assert_eq!(
            prepared.message().unwrap(),
            v["message"].as_str().unwrap().as_bytes(),
            "{name}"
        );
        let request = op.build(&ctx, &attempt).unwrap();
        assert_eq!(request.uri().path(), v["path"].as_str().unwrap(), "{name}");
        assert_eq!(request.uri().host(), Some("apihk.mch.weixin.qq.com"), "{name}");
        assert_eq!(request.body(), v["body"].as_str().unwrap().as_bytes(), "{name}");
        assert_eq!(
            request.headers()["authorization"].to_str().unwrap(),
            v["authorization"].as_str().unwrap(),
            "{name}"
        );
        // Through the one close type, the same request.
        let via: CloseOrder = op.clone().into();
        assert_eq!(via.build(&ctx, &attempt).unwrap().body(), request.body());
        assert_eq!(via.order_number(), op.order_number());
    }
}

#[test]
fn answers_verify_and_read_as_the_mainland_close() {
    let vectors: Value = serde_json::from_str(VECTORS).unwrap();
    let ctx = ctx("1900000001");
    // One client's memory of the answers it believed.
    let seen = wxpay_core::ReplayGuard::new();
    let op = CloseGlobalOrder::by_transaction_id("4200000000201811201234567890");
    for v in vectors["responses"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let now = v["headers"]["Wechatpay-Timestamp"].as_str().unwrap().parse::<u64>().unwrap();
        let mut builder = http::Response::builder().status(v["status"].as_u64().unwrap() as u16);
        for (k, value) in v["headers"].as_object().unwrap() {
            builder = builder.header(k, value.as_str().unwrap());
        }
        let answer = builder.body(v["body"].as_str().unwrap().as_bytes().to_vec()).unwrap();
        let got = match op.parse(&ctx, &seen, now + 1, answer.clone()) {
            Ok(outcome) => outcome.as_str().to_owned(),
            Err(e) => {
                assert_eq!(e.order_effect(), OrderEffect::Refused, "{name}");
                format!("api:{}", e.api().unwrap().code.as_str())
            }
        };
        assert_eq!(got, v["expect"].as_str().unwrap(), "{name}");
        // One byte changed: refused as forged, never believed.
        let (parts, mut body) = answer.into_parts();
        if body.is_empty() {
            body.push(b' ');
        } else {
            body[0] ^= 1;
        }
        let err = op
            .parse(
                &ctx,
                &wxpay_core::ReplayGuard::new(),
                now + 1,
                http::Response::from_parts(parts, body),
            )
            .unwrap_err();
        // A 204 with a body is no close before any signature is looked at.
        assert!(
            matches!(err.kind(), ErrorKind::Verify(_) | ErrorKind::Decode(_)),
            "{name}: {err:?}"
        );
        assert_eq!(err.order_effect(), OrderEffect::Unknown, "{name}");
    }
    let already_closed = || {
        let v = &vectors["responses"][1];
        let mut b = http::Response::builder().status(400);
        for (k, value) in v["headers"].as_object().unwrap() {
            b = b.header(k, value.as_str().unwrap());
        }
        b.body(v["body"].as_str().unwrap().as_bytes().to_vec()).unwrap()
    };
    // The same answer again, to the same client: a replay.
    let replay = op.parse(&ctx, &seen, 1_700_000_401, already_closed()).unwrap_err();
    assert!(matches!(replay.kind(), ErrorKind::Verify(VerifyError::Replayed)), "{replay}");
    // To a client that has not seen it: believed.
    let fresh = wxpay_core::ReplayGuard::new();
    assert_eq!(
        op.parse(&ctx, &fresh, 1_700_000_401, already_closed()).unwrap(),
        CloseOutcome::AlreadyClosed
    );
}

#[test]
fn bad_ids_are_refused_before_anything_is_built() {
    let ctx = ctx("1900000001");
    let base = BaseUrl::parse(BaseUrl::HONG_KONG).unwrap();
    let attempt = Attempt::new(&base, 1_700_000_000, "NONCE");
    for (op, field, character) in [
        (
            CloseGlobalOrder::by_transaction_id("42000000002018112012345678A0"),
            "transaction_id",
            Some('A'),
        ),
        (CloseGlobalOrder::by_transaction_id("-1"), "transaction_id", Some('-')),
        (CloseGlobalOrder::by_transaction_id("1".repeat(33)), "transaction_id", None),
        (CloseGlobalOrder::by_transaction_id(""), "transaction_id", None),
        (CloseGlobalOrder::by_out_trade_no("short"), "out_trade_no", None),
        (CloseGlobalOrder::by_out_trade_no("../../x/close"), "out_trade_no", Some('.')),
        (CloseGlobalOrder::by_out_trade_no("ok-order-1").for_sub_merchant(""), "sub_mchid", None),
    ] {
        let err = op.build(&ctx, &attempt).unwrap_err();
        match err.kind() {
            ErrorKind::InvalidInput(InvalidInput::BadCharacter {
                field: f, character: c, ..
            }) => assert_eq!((*f, Some(*c)), (field, character), "{op:?}"),
            ErrorKind::InvalidInput(
                InvalidInput::TooLong { field: f, .. }
                | InvalidInput::TooShort { field: f, .. }
                | InvalidInput::Empty { field: f },
            ) => assert_eq!((*f, None), (field, character), "{op:?}"),
            other => panic!("{op:?}: {other:?}"),
        }
        assert_eq!(err.order_effect(), OrderEffect::NotSent);
    }
    // The 5-minute rule, as on the mainland.
    let young = CloseGlobalOrder::by_out_trade_no("young-order-1").created_at(1_700_000_000 - 10);
    assert!(matches!(
        young.build(&ctx, &attempt).unwrap_err().kind(),
        ErrorKind::InvalidInput(InvalidInput::TooEarly { wait_secs: 290 })
    ));
    // A base URL of one's own is kept (the sandbox, a proxy).
    let custom = Endpoint::custom("http://127.0.0.1:9").unwrap();
    let op = CloseGlobalOrder::by_out_trade_no("ok-order-1");
    assert_eq!(op.endpoint(&custom).primary().as_str(), "http://127.0.0.1:9");
}

#[test]
fn the_vectors_are_what_openssl_makes() {
    // Independent of ring: the generator signs with the openssl command line. Where the
    // tools are missing (not on CI's machine), say so rather than pass silently.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/gen_global_close.py");
    match std::process::Command::new("python3").arg(script).output() {
        Ok(out) if out.status.success() => {
            assert_eq!(String::from_utf8(out.stdout).unwrap(), VECTORS);
        }
        Ok(out) => panic!("the generator failed: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => eprintln!("python3 is not installed ({e}): the vectors were not regenerated"),
    }
}
