//! The order query, byte for byte against `vectors/query.json` (made independently of
//! wxpay's code by `vectors/gen_query.py`: APIv3 with the openssl command line, APIv2 with
//! Python's hashlib/hmac): every request shape, and every answer read as the vector says,
//! a signed answer about another order or merchant refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use wxpay_core::v2::{QueryOrderV2, SignType, V2Credentials};
use wxpay_core::v3::{
    PublicKeyVerifier, QueryCombinedOrder, QueryOrderV3, RsaSigner, V3Credentials,
};
use wxpay_core::{
    ApiV2Key, Attempt, BaseUrl, Context, ErrorKind, Operation, OrderEffect, QueryAnswer,
    QueryOrder, ReplayGuard, VerifyError,
};

const VECTORS: &str = include_str!("vectors/query.json");
const MERCHANT_KEY: &str = include_str!("vectors/keys/merchant_key.pem");
const WECHATPAY_PUB: &str = include_str!("vectors/keys/wechatpay_pub.pem");
const NO: &str = "1217752501201407033233368018";
const TX: &str = "4200000000201811201234567890";

fn vectors() -> Value {
    serde_json::from_str(VECTORS).unwrap()
}

fn v3_ctx(mchid: &str) -> Context {
    let verifier =
        PublicKeyVerifier::from_pem("PUB_KEY_ID_0114232134912410000000000000", WECHATPAY_PUB)
            .unwrap();
    let signer = RsaSigner::from_pem(MERCHANT_KEY).unwrap();
    let creds =
        V3Credentials::new(mchid, "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C", signer, verifier)
            .unwrap();
    Context::new().with_v3(creds)
}

fn v2_ctx(sign_type: SignType) -> Context {
    let key = ApiV2Key::new(vectors()["api_v2_key"].as_str().unwrap()).unwrap();
    let creds = V2Credentials::new("wx2421b1c4370ec43b", "10000100", key).unwrap();
    Context::new().with_v2(creds.with_sign_type(sign_type))
}

/// The query an APIv3 request vector names, and the merchant that asks.
fn v3_query(name: &str) -> (QueryOrder, &'static str) {
    match name {
        "direct" => (QueryOrderV3::by_out_trade_no(NO).into(), "1900000001"),
        "direct_by_id" => (QueryOrderV3::by_transaction_id(TX).into(), "1900000001"),
        "partner" => {
            (QueryOrderV3::by_out_trade_no(NO).for_sub_merchant("1900000109").into(), "1230000109")
        }
        "partner_by_id" => (
            QueryOrderV3::by_transaction_id(TX).for_sub_merchant("1900000109").into(),
            "1230000109",
        ),
        "combined" => (QueryCombinedOrder::new("P20150806125346").into(), "1900000001"),
        "global" => (QueryOrderV3::by_out_trade_no(NO).global().into(), "1900000001"),
        "global_by_id_institution" => (
            QueryOrderV3::by_transaction_id(TX).for_sub_merchant("1900000109").global().into(),
            "1230000109",
        ),
        other => panic!("a new vector {other}: teach this test its query"),
    }
}

fn v2_query(name: &str) -> (QueryOrder, SignType) {
    match name {
        "query_md5" => (QueryOrderV2::by_out_trade_no("1415983244").into(), SignType::Md5),
        "query_hmac_by_id_institution" => (
            QueryOrderV2::by_transaction_id(TX).for_sub_merchant("1900000110").into(),
            SignType::HmacSha256,
        ),
        other => panic!("a new vector {other}: teach this test its query"),
    }
}

/// What an answer was read as, in the vectors' words.
fn summary(result: Result<QueryAnswer, wxpay_core::Error>) -> String {
    match result {
        Ok(QueryAnswer::NotFound) => "not_found".into(),
        Ok(QueryAnswer::Found(orders)) => {
            let states: Vec<&str> = orders.iter().map(|o| o.trade_state.as_str()).collect();
            let tx = orders
                .iter()
                .find_map(|o| o.transaction_id.clone().filter(|_| o.trade_state.is_paid()));
            match tx {
                Some(tx) => format!("found:{}:{tx}", states.join(",")),
                None => format!("found:{}", states.join(",")),
            }
        }
        Ok(other) => panic!("a new answer kind: {other:?}"),
        Err(e) => match e.kind() {
            ErrorKind::Verify(VerifyError::Mismatch { field }) => {
                assert_eq!(e.order_effect(), OrderEffect::Unknown);
                format!("mismatch:{field}")
            }
            other => format!("error:{other}"),
        },
    }
}

#[test]
fn v3_requests_are_signed_byte_for_byte() {
    let base = BaseUrl::parse(BaseUrl::PRIMARY).unwrap();
    for v in vectors()["v3_requests"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let (query, mchid) = v3_query(name);
        assert_eq!(mchid, v["mchid"]);
        let attempt =
            Attempt::new(&base, v["timestamp"].as_u64().unwrap(), v["nonce"].as_str().unwrap());
        let request = query.build(&v3_ctx(mchid), &attempt).unwrap();
        assert_eq!(request.method(), "GET", "{name}");
        assert_eq!(request.uri().path_and_query().unwrap().as_str(), v["target"], "{name}");
        assert_eq!(
            request.headers()["authorization"],
            v["authorization"].as_str().unwrap(),
            "{name}"
        );
        assert!(request.body().is_empty() && !request.headers().contains_key("content-type"));
        let global = name.starts_with("global");
        let host = query.endpoint(&wxpay_core::Endpoint::Mainland).primary();
        assert_eq!(host.as_str() == BaseUrl::HONG_KONG, global, "{name}");
    }
}

#[test]
fn v3_answers_read_as_the_vectors_say() {
    for v in vectors()["v3_answers"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let (query, mchid) = v3_query(v["query"].as_str().unwrap());
        let ts: u64 = v["headers"]["Wechatpay-Timestamp"].as_str().unwrap().parse().unwrap();
        let answer = |body: Vec<u8>| {
            let mut b = http::Response::builder().status(v["status"].as_u64().unwrap() as u16);
            for (k, value) in v["headers"].as_object().unwrap() {
                b = b.header(k, value.as_str().unwrap());
            }
            b.body(body).unwrap()
        };
        let body = v["body"].as_str().unwrap().as_bytes().to_vec();
        let ctx = v3_ctx(mchid);
        let seen = ReplayGuard::new();
        let got = summary(query.parse(&ctx, &seen, ts + 1, answer(body.clone())));
        assert_eq!(got, v["expect"].as_str().unwrap(), "{name}");
        // The same answer again is a replay; one byte changed is a forgery.
        let again = query.parse(&ctx, &seen, ts + 1, answer(body.clone())).unwrap_err();
        assert!(
            matches!(again.kind(), ErrorKind::Verify(VerifyError::Replayed)),
            "{name}: {again}"
        );
        let mut forged = body;
        forged[1] ^= 1;
        let err = query.parse(&ctx, &ReplayGuard::new(), ts + 1, answer(forged)).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::Verify(VerifyError::BadSignature)),
            "{name}: {err}"
        );
    }
}

#[test]
fn v2_requests_and_answers() {
    let all = vectors();
    let base = BaseUrl::parse(BaseUrl::PRIMARY).unwrap();
    for v in all["v2_requests"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let (query, sign_type) = v2_query(name);
        let nonce = v["params"]["nonce_str"].as_str().unwrap();
        let request = query.build(&v2_ctx(sign_type), &Attempt::new(&base, 0, nonce)).unwrap();
        assert_eq!(request.uri().path(), "/pay/orderquery");
        let body = String::from_utf8(request.body().clone()).unwrap();
        let sign = v["sign"].as_str().unwrap();
        assert!(body.contains(&format!("<sign>{sign}</sign>")), "{name}: {body}");
        for (k, value) in v["params"].as_object().unwrap() {
            assert!(
                body.contains(&format!("<{k}>{}</{k}>", value.as_str().unwrap())),
                "{name}: {k}"
            );
        }
    }
    for v in all["v2_answers"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let (query, sign_type) = v2_query(v["query"].as_str().unwrap());
        let answer = || {
            http::Response::builder()
                .status(200)
                .body(v["body"].as_str().unwrap().as_bytes().to_vec())
                .unwrap()
        };
        let ctx = v2_ctx(sign_type);
        let seen = ReplayGuard::new();
        assert_eq!(
            summary(query.parse(&ctx, &seen, 0, answer())),
            v["expect"].as_str().unwrap(),
            "{name}"
        );
        if !v["expect"].as_str().unwrap().starts_with("mismatch") {
            let again = query.parse(&ctx, &seen, 0, answer()).unwrap_err();
            assert!(
                matches!(again.kind(), ErrorKind::Verify(VerifyError::Replayed)),
                "{name}: {again}"
            );
        }
    }
}

#[test]
fn the_vectors_are_what_openssl_and_python_make() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/gen_query.py");
    match std::process::Command::new("python3").arg(script).output() {
        Ok(out) if out.status.success() => {
            assert_eq!(String::from_utf8(out.stdout).unwrap(), VECTORS);
        }
        Ok(out) => panic!("the generator failed: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => eprintln!("python3 is not installed ({e}): the vectors were not regenerated"),
    }
}
