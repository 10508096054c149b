//! Property tests: reading APIv3 answers never panics, whatever the headers and body.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use wxpay_core::v3::{Authorization, CloseOrderV3, PublicKeyVerifier, RsaSigner, V3Credentials};
use wxpay_core::{Context, Operation};

fn ctx() -> Context {
    let signer = RsaSigner::from_pem(include_str!("vectors/keys/merchant_key.pem")).unwrap();
    let verifier = PublicKeyVerifier::from_pem(
        "PUB_KEY_ID_0114232134912410000000000000",
        include_str!("vectors/keys/wechatpay_pub.pem"),
    )
    .unwrap();
    Context::new().with_v3(
        V3Credentials::new(
            "1900000001",
            "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C",
            signer,
            verifier,
        )
        .unwrap(),
    )
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"PUB_KEY_ID_0114232134912410000000000000".to_vec()),
        Just(b"1700000000".to_vec()),
        Just(b"WECHATPAY/SIGNTEST/AAAA".to_vec()),
        Just(b"WECHATPAY2-SHA256-RSA2048".to_vec()),
        "[A-Za-z0-9+/=_ -]{0,40}".prop_map(String::into_bytes),
        prop::collection::vec(32u8..=255, 0..40),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn answers_never_panic(
        status in 100u16..600,
        headers in prop::collection::vec((0usize..6, header_value()), 0..8),
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            "\\{\"code\":\"[A-Z_]{0,20}\",\"message\":\"[^\"]{0,10}\"(,\"detail\":\\{\\})?\\}".prop_map(String::into_bytes),
        ],
        now in any::<u64>(),
    ) {
        const NAMES: [&str; 6] = [
            "wechatpay-timestamp", "wechatpay-nonce", "wechatpay-signature",
            "wechatpay-serial", "wechatpay-signature-type", "request-id",
        ];
        let mut b = http::Response::builder().status(status);
        for (i, v) in &headers {
            if let Ok(value) = http::HeaderValue::from_bytes(v) {
                b = b.header(NAMES[*i], value);
            }
        }
        let resp = b.body(body).unwrap();
        let result = CloseOrderV3::new("order123").parse(&ctx(), &wxpay_core::ReplayGuard::new(), now, resp);
        // Nothing random carries a valid signature: never an outcome.
        prop_assert!(result.is_err());
    }

    #[test]
    fn authorization_parsing_never_panics(s in "\\PC{0,200}") {
        let _ = Authorization::parse(&s);
        let with_scheme = format!("WECHATPAY2-SHA256-RSA2048 {s}");
        let _ = Authorization::parse(&with_scheme);
    }
}
