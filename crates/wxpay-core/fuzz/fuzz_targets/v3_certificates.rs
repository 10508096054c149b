//! Any headers and body as a platform certificate list: the reader must return, never
//! panic, and never hand out a certificate that did not decrypt and verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wxpay_core::v3::{DownloadCertificates, PlatformCertificates, RsaSigner, V3Credentials};
use wxpay_core::{ApiV3Key, Context, Operation};

const NAMES: [&str; 4] =
    ["wechatpay-timestamp", "wechatpay-nonce", "wechatpay-signature", "wechatpay-serial"];

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0);
    let mut builder = http::Response::builder().status(200);
    for name in NAMES {
        if let Some(value) = parts.next().and_then(|v| http::HeaderValue::from_bytes(v).ok()) {
            builder = builder.header(name, value);
        }
    }
    let body = parts.next().unwrap_or_default().to_vec();
    let Ok(resp) = builder.body(body) else { return };
    let Ok(signer) = RsaSigner::from_pem(include_str!("../../tests/vectors/keys/merchant_key.pem")) else { return };
    let Ok(key) = ApiV3Key::new("TestApiV3Key0123456789abcdefghij") else { return };
    let Ok(creds) = V3Credentials::new("1900000001", "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C", signer, PlatformCertificates::new()) else { return };
    let ctx = Context::new().with_v3(creds.with_api_v3_key(key));
    // Nothing in random bytes can carry a valid AEAD tag and signature: never a certificate.
    assert!(DownloadCertificates::new().parse(&ctx, &wxpay_core::ReplayGuard::new(), 1_800_000_000, resp).is_err());
});
