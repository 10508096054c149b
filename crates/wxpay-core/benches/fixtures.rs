//! What the benchmarks measure, shared by the timing and the allocation benches.

#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    missing_debug_implementations,
    clippy::unwrap_used
)]

use std::hint::black_box;

use crate::paired::{Timed, consuming, simple};

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use ring::signature::{
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey,
};
use sha2::Sha256;
use wxpay_core::{Attempt, CloseOutcome, Operation};

use wxpay_core::v2::{self, CloseOrderV2, SignType, V2Credentials};
use wxpay_core::{ApiV2Key, BaseUrl, Context};

pub const KEY: &str = "192006250b4c09247ec02edce69f6a2d";
pub const NONCE: &str = "4ca93f17ddf3443ceabf72f26d64fe0e";
pub const TIMESTAMP: u64 = 1_700_000_000;

pub fn v2_ctx(sign_type: SignType) -> Context {
    let key = ApiV2Key::new(KEY).unwrap();
    Context::new().with_v2(
        V2Credentials::new("wx2421b1c4370ec43b", "10000100", key)
            .unwrap()
            .with_sign_type(sign_type),
    )
}

pub fn base() -> BaseUrl {
    BaseUrl::parse(BaseUrl::PRIMARY).unwrap()
}

pub fn close() -> CloseOrderV2 {
    CloseOrderV2::new("1415983244")
}

/// The string-to-sign of the close request `close()` builds, key included.
pub fn v2_request_string_to_sign(sign_type: SignType) -> Vec<u8> {
    let mut fields = vec![
        ("appid", "wx2421b1c4370ec43b"),
        ("mch_id", "10000100"),
        ("nonce_str", NONCE),
        ("out_trade_no", "1415983244"),
    ];
    if sign_type == SignType::HmacSha256 {
        fields.push(("sign_type", "HMAC-SHA256"));
    }
    format!("{}&key={KEY}", v2::payload(fields)).into_bytes()
}

/// The signed success answer from the shared vectors (MD5), and its string-to-sign.
pub const V2_SUCCESS_XML: &str = "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg><appid><![CDATA[wx2421b1c4370ec43b]]></appid><mch_id><![CDATA[10000100]]></mch_id><nonce_str><![CDATA[BFK89FC6rxKCOjLX]]></nonce_str><result_code><![CDATA[SUCCESS]]></result_code><result_msg><![CDATA[OK]]></result_msg><sign><![CDATA[808C1D11E84411F8DF1DF1ADC960B491]]></sign></xml>";
pub const V2_SUCCESS_STRING_TO_SIGN: &str = "appid=wx2421b1c4370ec43b&mch_id=10000100&nonce_str=BFK89FC6rxKCOjLX&result_code=SUCCESS&result_msg=OK&return_code=SUCCESS&return_msg=OK&key=192006250b4c09247ec02edce69f6a2d";

pub fn v2_success_response() -> wxpay_core::Response {
    http::Response::builder().status(200).body(V2_SUCCESS_XML.as_bytes().to_vec()).unwrap()
}

pub const MERCHANT_KEY: &str = include_str!("../../../tests/vectors/keys/merchant_key.pem");
pub const WECHATPAY_KEY: &str = include_str!("../../../tests/vectors/keys/wechatpay_key.pem");
pub const WECHATPAY_PUB: &str = include_str!("../../../tests/vectors/keys/wechatpay_pub.pem");
pub const PUB_KEY_ID: &str = "PUB_KEY_ID_0114232134912410000000000000";
pub const WECHATPAY_CERT: &str = include_str!("../../../tests/vectors/keys/wechatpay_cert.pem");
pub const CERT_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
pub const V3_NONCE: &str = "593BEC0C930BF1AFEB40B4A08C8FB242";

pub fn v3_ctx() -> Context {
    v3_ctx_with(wxpay_core::v3::PublicKeyVerifier::from_pem(PUB_KEY_ID, WECHATPAY_PUB).unwrap())
}

/// APIv3 credentials verifying with `verifier`.
pub fn v3_ctx_with(verifier: impl wxpay_core::v3::Verifier + 'static) -> Context {
    use wxpay_core::v3::{RsaSigner, V3Credentials};
    let signer = RsaSigner::from_pem(MERCHANT_KEY).unwrap();
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

pub fn v3_close() -> wxpay_core::v3::CloseOrderV3 {
    wxpay_core::v3::CloseOrderV3::direct("1217752501201407033233368018")
}

/// The message the direct close vector signs.
pub const V3_MESSAGE: &str = "POST\n/v3/pay/transactions/out-trade-no/1217752501201407033233368018/close\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n{\"mchid\":\"1900000001\"}\n";

/// A 204 answer signed with the test WeChat Pay key at `timestamp`, and the raw signature.
pub fn v3_signed_204(timestamp: u64) -> (wxpay_core::Response, Vec<u8>) {
    use base64::Engine;
    use wxpay_core::v3::{RsaSigner, Signer, response_message};
    let ts = timestamp.to_string();
    let nonce = "A1B2C3D4E5F60718293A4B5C6D7E8F90";
    let sig = RsaSigner::from_pem(WECHATPAY_KEY)
        .unwrap()
        .sign(&response_message(&ts, nonce, b""))
        .unwrap();
    let resp = http::Response::builder()
        .status(204)
        .header("Wechatpay-Timestamp", ts)
        .header("Wechatpay-Nonce", nonce)
        .header("Wechatpay-Serial", PUB_KEY_ID)
        .header("Wechatpay-Signature", base64::engine::general_purpose::STANDARD.encode(&sig))
        .header("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")
        .header("Request-ID", "08F78BB5AF0610D302839A9E0A2C3D5E6F70")
        .body(Vec::new())
        .unwrap();
    (resp, sig)
}

/// The RSAPublicKey DER inside the test WeChat Pay public key (what ring verifies with).
pub fn wechatpay_rsa_public_key_der() -> Vec<u8> {
    use base64::Engine;
    let b64: String = WECHATPAY_PUB.lines().filter(|l| !l.starts_with("-----")).collect();
    let spki = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
    // A 2048-bit SPKI: 24 bytes of header, then the BIT STRING's RSAPublicKey.
    spki[24..].to_vec()
}

/// The DER inside a PEM document.
pub fn pem_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).unwrap()
}

/// A figure: what is measured, and the baseline it is reported against.
pub struct Case {
    pub name: &'static str,
    pub measured: Timed,
    pub baseline: Timed,
}

/// Every benchmarked figure of the core.
pub fn cases() -> Vec<Case> {
    let v2_build = |sign_type: SignType| {
        let ctx = v2_ctx(sign_type);
        let base = base();
        let close = close();
        simple(move || close.build(&ctx, &Attempt::new(&base, TIMESTAMP, NONCE)).unwrap())
    };
    let md5_request = v2_request_string_to_sign(SignType::Md5);
    let hmac_request = v2_request_string_to_sign(SignType::HmacSha256);
    let v2_parse = {
        let ctx = v2_ctx(SignType::Md5);
        let close = close();
        consuming(v2_success_response, move |resp| {
            assert_eq!(close.parse(&ctx, TIMESTAMP, resp).unwrap(), CloseOutcome::Closed)
        })
    };
    let v3_build = {
        let ctx = v3_ctx();
        let base = base();
        let close = v3_close();
        simple(move || {
            let attempt = Attempt::new(&base, 1_554_208_460, V3_NONCE);
            close.build(&ctx, &attempt).unwrap()
        })
    };
    let key = RsaKeyPair::from_pkcs8(&pem_der(MERCHANT_KEY)).unwrap();
    let rng = ring::rand::SystemRandom::new();
    let now = 1_700_000_000;
    let (resp, sig) = v3_signed_204(now);
    let v3_verify = {
        let ctx = v3_ctx();
        let close = v3_close();
        consuming(
            move || resp.clone(),
            move |resp| assert_eq!(close.parse(&ctx, now, resp).unwrap(), CloseOutcome::Closed),
        )
    };
    let public = wechatpay_rsa_public_key_der();
    let message = format!("{now}\nA1B2C3D4E5F60718293A4B5C6D7E8F90\n\n");
    // The same answer in certificate mode, through a store that can change under it.
    let later = 1_800_000_000;
    let (cert_resp, cert_sig) = v3_signed_204(later);
    let cert_resp = {
        let mut r = cert_resp;
        r.headers_mut().insert("Wechatpay-Serial", CERT_SERIAL.parse().unwrap());
        r
    };
    let v3_verify_rotating = {
        let ctx = v3_ctx_with(wxpay_core::v3::PlatformCertificates::from_certificates([
            wxpay_core::v3::PlatformCertificate::from_pem(WECHATPAY_CERT).unwrap(),
        ]));
        let close = v3_close();
        consuming(
            move || cert_resp.clone(),
            move |resp| assert_eq!(close.parse(&ctx, later, resp).unwrap(), CloseOutcome::Closed),
        )
    };
    let public_later = public.clone();
    let later_message = format!("{later}\nA1B2C3D4E5F60718293A4B5C6D7E8F90\n\n");

    vec![
        Case {
            name: "v2.build_md5",
            measured: v2_build(SignType::Md5),
            baseline: simple(move || Md5::digest(black_box(&md5_request))),
        },
        Case {
            name: "v2.build_hmac",
            measured: v2_build(SignType::HmacSha256),
            baseline: simple(move || {
                let mut m = <Hmac<Sha256> as Mac>::new_from_slice(KEY.as_bytes()).unwrap();
                m.update(black_box(&hmac_request));
                m.finalize().into_bytes()
            }),
        },
        Case {
            name: "v2.parse_verify",
            measured: v2_parse,
            baseline: simple(|| Md5::digest(black_box(V2_SUCCESS_STRING_TO_SIGN.as_bytes()))),
        },
        Case {
            name: "v3.build_sign",
            measured: v3_build,
            baseline: simple(move || {
                let mut sig = vec![0u8; key.public().modulus_len()];
                key.sign(&RSA_PKCS1_SHA256, &rng, black_box(V3_MESSAGE.as_bytes()), &mut sig)
                    .unwrap();
                sig
            }),
        },
        Case {
            name: "v3.verify_rotating",
            measured: v3_verify_rotating,
            baseline: simple(move || {
                UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &public_later)
                    .verify(black_box(later_message.as_bytes()), black_box(&cert_sig))
                    .unwrap()
            }),
        },
        Case {
            name: "v3.verify",
            measured: v3_verify,
            baseline: simple(move || {
                UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &public)
                    .verify(black_box(message.as_bytes()), black_box(&sig))
                    .unwrap()
            }),
        },
    ]
}
