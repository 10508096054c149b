//! Any status, headers and body as an APIv3 close answer: the reader must return, never
//! panic, and never report an outcome for bytes nobody signed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wxpay_core::v3::{CloseOrderV3, PublicKeyVerifier, RsaSigner, V3Credentials};
use wxpay_core::{Context, Operation};

const NAMES: [&str; 6] = [
    "wechatpay-timestamp",
    "wechatpay-nonce",
    "wechatpay-signature",
    "wechatpay-serial",
    "wechatpay-signature-type",
    "request-id",
];

fuzz_target!(|data: &[u8]| {
    let Some((&status, rest)) = data.split_first() else { return };
    let mut parts = rest.split(|b| *b == 0);
    let mut builder = http::Response::builder().status(200 + u16::from(status) * 2);
    for name in NAMES {
        if let Some(value) = parts.next().and_then(|v| http::HeaderValue::from_bytes(v).ok()) {
            builder = builder.header(name, value);
        }
    }
    let body = parts.next().unwrap_or_default().to_vec();
    let Ok(resp) = builder.body(body) else { return };
    let Ok(signer) = RsaSigner::from_pem(include_str!("../../tests/vectors/keys/merchant_key.pem")) else { return };
    let Ok(verifier) = PublicKeyVerifier::from_pem(
        "PUB_KEY_ID_0114232134912410000000000000",
        include_str!("../../tests/vectors/keys/wechatpay_pub.pem"),
    ) else {
        return;
    };
    let Ok(creds) = V3Credentials::new("1900000001", "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C", signer, verifier) else {
        return;
    };
    let ctx = Context::new().with_v3(creds);
    assert!(CloseOrderV3::new("order-123").parse(&ctx, &wxpay_core::ReplayGuard::new(), 1_800_000_000, resp).is_err());
});
