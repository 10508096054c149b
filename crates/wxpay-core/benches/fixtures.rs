//! What the benchmarks measure, shared by the timing and the allocation benches.

#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    missing_debug_implementations,
    clippy::unwrap_used
)]

use std::hint::black_box;

use crate::paired::{Timed, simple};

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use ring::signature::{
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey,
};
use sha2::Sha256;
use wxpay_core::{Attempt, CloseOutcome, Operation};

use wxpay_core::v2::{self, CloseOrderV2, SignType, V2Credentials};
use wxpay_core::{ApiV2Key, BaseUrl, Context, ReplayGuard};

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

/// Distinct signed answers (a client believes each once: the replay guard), with what
/// identifies each to the guard.
pub struct Pool {
    pub answers: Vec<wxpay_core::Response>,
    /// APIv3: each answer's serial, timestamp and nonce.
    pub ids: Vec<(String, u64, String)>,
    /// APIv2: each answer's `nonce_str` and `sign`, side by side in one string (at
    /// [`V2_ID_LEN`] characters an answer), read in order as a client reads the answer it
    /// just parsed: the extra guard's inputs cost no cache miss the real guard's do not.
    pub v2_ids: String,
    /// APIv3: each answer's signature.
    pub signatures: Vec<Vec<u8>>,
}

/// The length of an APIv2 answer's identity in [`Pool::v2_ids`]: a 16-character nonce and
/// an MD5 `sign`.
pub const V2_ID_LEN: usize = 16 + 32;

/// `n` APIv2 success answers like the vector's, each with its own `nonce_str` (MD5).
pub fn v2_pool(n: usize) -> Pool {
    let key = ApiV2Key::new(KEY).unwrap();
    let (mut answers, mut v2_ids) = (Vec::with_capacity(n), String::with_capacity(n * V2_ID_LEN));
    for i in 0..n {
        let nonce = format!("BFK89FC6rx{i:06}");
        let fields = [
            ("appid", "wx2421b1c4370ec43b"),
            ("mch_id", "10000100"),
            ("nonce_str", nonce.as_str()),
            ("result_code", "SUCCESS"),
            ("result_msg", "OK"),
            ("return_code", "SUCCESS"),
            ("return_msg", "OK"),
        ];
        let sign = v2::sign_fields(&key, SignType::Md5, fields).unwrap();
        let body = V2_SUCCESS_XML
            .replace("BFK89FC6rxKCOjLX", &nonce)
            .replace("808C1D11E84411F8DF1DF1ADC960B491", sign.as_str());
        answers.push(http::Response::builder().status(200).body(body.into_bytes()).unwrap());
        assert_eq!(nonce.len() + sign.as_str().len(), V2_ID_LEN);
        v2_ids.push_str(&nonce);
        v2_ids.push_str(sign.as_str());
    }
    Pool { answers, ids: Vec::new(), v2_ids, signatures: Vec::new() }
}

/// `n` APIv3 204 answers signed at `timestamp` under `serial`, each with its own nonce.
pub fn v3_pool(n: usize, timestamp: u64, serial: &str) -> Pool {
    let (mut answers, mut ids) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut signatures = Vec::with_capacity(n);
    for i in 0..n {
        let nonce = format!("A1B2C3D4E5F60718293A4B5C6D{i:06}");
        let (mut resp, signature) = v3_signed_204_with(timestamp, &nonce);
        resp.headers_mut().insert("Wechatpay-Serial", serial.parse().unwrap());
        answers.push(resp);
        ids.push((serial.to_owned(), timestamp, nonce));
        signatures.push(signature);
    }
    Pool { answers, ids, signatures, v2_ids: String::new() }
}

/// The body of a signed APIv3 query answer (a paid direct order).
pub const V3_QUERY_BODY: &str = r#"{"appid":"wxd678efh567hg6787","mchid":"1900000001","out_trade_no":"1217752501201407033233368018","transaction_id":"4200000000201811201234567890","trade_type":"NATIVE","trade_state":"SUCCESS","trade_state_desc":"支付成功","success_time":"2018-06-08T10:34:56+08:00","amount":{"total":100,"payer_total":100,"currency":"CNY","payer_currency":"CNY"}}"#;

/// `n` APIv3 query answers (200, [`V3_QUERY_BODY`]) signed at `timestamp`, each with its own
/// nonce; and the message and signature of the first, for the baseline.
pub fn v3_query_pool(n: usize, timestamp: u64) -> (Pool, Vec<u8>, Vec<u8>) {
    use base64::Engine;
    use wxpay_core::v3::{RsaSigner, Signer, response_message};
    let signer = RsaSigner::from_pem(WECHATPAY_KEY).unwrap();
    let ts = timestamp.to_string();
    let (mut answers, mut ids, mut signatures) = (Vec::new(), Vec::new(), Vec::new());
    let mut first = None;
    for i in 0..n {
        let nonce = format!("Q1B2C3D4E5F60718293A4B5C6D{i:06}");
        let message = response_message(&ts, &nonce, V3_QUERY_BODY.as_bytes());
        let sig = signer.sign(&message).unwrap();
        first.get_or_insert_with(|| (message.clone(), sig.clone()));
        let resp = http::Response::builder()
            .status(200)
            .header("Wechatpay-Timestamp", &ts)
            .header("Wechatpay-Nonce", &nonce)
            .header("Wechatpay-Serial", PUB_KEY_ID)
            .header("Wechatpay-Signature", base64::engine::general_purpose::STANDARD.encode(&sig))
            .header("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")
            .body(V3_QUERY_BODY.as_bytes().to_vec())
            .unwrap();
        answers.push(resp);
        ids.push((PUB_KEY_ID.to_owned(), timestamp, nonce));
        signatures.push(sig);
    }
    let (message, sig) = first.unwrap();
    (Pool { answers, ids, signatures, v2_ids: String::new() }, message, sig)
}

/// How many answers [`fresh_answers`] copies at a time (a few dozen KiB).
const HOT_BATCH: usize = 16;

/// `n` reads of answers from `pool` by a client made afresh for each timed run (outside the
/// clock), so that no answer is read twice by one client. The answers are copied out of the
/// pool (outside the clock) a few at a time, just before they are read, as a client reads an
/// answer it just received: copied all at once, a round's answers had left the cache by the
/// time they were read, and a figure rose with the length of its rounds.
pub fn fresh_answers<S: 'static>(
    pool: std::rc::Rc<Pool>,
    make_ctx: impl Fn() -> S + 'static,
    mut read: impl FnMut(&S, usize, wxpay_core::Response) + 'static,
) -> Timed {
    Box::new(move |n| {
        let n = usize::try_from(n).unwrap();
        assert!(
            n <= pool.answers.len(),
            "the pool holds {} answers, {n} asked",
            pool.answers.len()
        );
        let ctx = make_ctx();
        let mut elapsed = std::time::Duration::ZERO;
        for (batch, answers) in pool.answers[..n].chunks(HOT_BATCH).enumerate() {
            let inputs = answers.to_vec();
            let start = std::time::Instant::now();
            for (j, input) in inputs.into_iter().enumerate() {
                read(&ctx, batch * HOT_BATCH + j, input);
            }
            elapsed += start.elapsed();
        }
        elapsed
    })
}

pub const MERCHANT_KEY: &str = include_str!("../tests/vectors/keys/merchant_key.pem");
pub const WECHATPAY_KEY: &str = include_str!("../tests/vectors/keys/wechatpay_key.pem");
pub const WECHATPAY_PUB: &str = include_str!("../tests/vectors/keys/wechatpay_pub.pem");
pub const PUB_KEY_ID: &str = "PUB_KEY_ID_0114232134912410000000000000";
pub const WECHATPAY_CERT: &str = include_str!("../tests/vectors/keys/wechatpay_cert.pem");
pub const CERT_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
/// A test APIv3 key (32 characters).
pub const V3_KEY: &str = "wxpaySandboxApiV3Key0123456789ab";
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
    wxpay_core::v3::CloseOrderV3::new("1217752501201407033233368018")
}

/// The message the direct close vector signs.
pub const V3_MESSAGE: &str = "POST\n/v3/pay/transactions/out-trade-no/1217752501201407033233368018/close\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n{\"mchid\":\"1900000001\"}\n";

/// A 204 answer signed with the test WeChat Pay key at `timestamp`, and the raw signature.
pub fn v3_signed_204(timestamp: u64) -> (wxpay_core::Response, Vec<u8>) {
    v3_signed_204_with(timestamp, "A1B2C3D4E5F60718293A4B5C6D7E8F90")
}

/// [`v3_signed_204`] with `nonce`.
pub fn v3_signed_204_with(timestamp: u64, nonce: &str) -> (wxpay_core::Response, Vec<u8>) {
    use base64::Engine;
    use wxpay_core::v3::{RsaSigner, Signer, response_message};
    let ts = timestamp.to_string();
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
    // A client believes an answer once: each read is of a distinct answer, by a client made
    // afresh for each timed run.
    let v2_answers = std::rc::Rc::new(v2_pool(1 << 16));
    // `Some(extra)`: each read also fetches the answer's identity, and with `extra` gives it
    // to a second guard (the two sides of `replay_guard.v2_share` differ by the guard alone).
    let v2_read = |guard: Option<bool>| {
        let close = close();
        let pool = std::rc::Rc::clone(&v2_answers);
        let extra = guard == Some(true);
        fresh_answers(
            std::rc::Rc::clone(&v2_answers),
            move || (v2_ctx(SignType::Md5), ReplayGuard::new(), extra.then(ReplayGuard::new)),
            move |(ctx, seen, extra), i, resp| {
                assert_eq!(close.parse(ctx, seen, TIMESTAMP, resp).unwrap(), CloseOutcome::Closed);
                if guard.is_some() {
                    let id = black_box(&pool.v2_ids[i * V2_ID_LEN..(i + 1) * V2_ID_LEN]);
                    if let Some(g) = extra {
                        g.first_v2(&id[..16], &id[16..]).unwrap();
                    }
                }
            },
        )
    };
    let v2_parse = v2_read(None);
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
    let (_, sig) = v3_signed_204(now);
    let v3_answers = std::rc::Rc::new(v3_pool(1024, now, PUB_KEY_ID));
    // As `v2_read`.
    let v3_read = |guard: Option<bool>| {
        let close = v3_close();
        let pool = std::rc::Rc::clone(&v3_answers);
        let extra = guard == Some(true);
        fresh_answers(
            std::rc::Rc::clone(&v3_answers),
            move || (v3_ctx(), ReplayGuard::new(), extra.then(ReplayGuard::new)),
            move |(ctx, seen, extra), i, resp| {
                assert_eq!(close.parse(ctx, seen, now, resp).unwrap(), CloseOutcome::Closed);
                if guard.is_some() {
                    let (_, ts, nonce) = black_box(&pool.ids[i]);
                    let signature = black_box(&pool.signatures[i]);
                    if let Some(g) = extra {
                        g.first_v3(signature, *ts, nonce, now, 300).unwrap();
                    }
                }
            },
        )
    };
    let v3_verify = v3_read(None);
    let public = wechatpay_rsa_public_key_der();
    // A query answer read and verified (it names the order, checked), against ring alone.
    let (query_pool, query_message, query_sig) = v3_query_pool(1024, now);
    let v3_query = {
        let query = wxpay_core::v3::QueryOrderV3::by_out_trade_no("1217752501201407033233368018");
        fresh_answers(
            std::rc::Rc::new(query_pool),
            move || (v3_ctx(), ReplayGuard::new()),
            move |(ctx, seen), _, resp| {
                let answer = query.parse(ctx, seen, now, resp).unwrap();
                assert!(answer.order().unwrap().trade_state.is_paid());
            },
        )
    };
    let query_public = public.clone();
    let v3_query_baseline = simple(move || {
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &query_public)
            .verify(black_box(&query_message), black_box(&query_sig))
            .unwrap()
    });
    let message = format!("{now}\nA1B2C3D4E5F60718293A4B5C6D7E8F90\n\n");
    // The same answer in certificate mode, through a store that can change under it.
    let later = 1_800_000_000;
    let (_, cert_sig) = v3_signed_204(later);
    let v3_verify_rotating = {
        let store = wxpay_core::v3::PlatformCertificates::from_certificates([
            wxpay_core::v3::PlatformCertificate::from_pem(WECHATPAY_CERT).unwrap(),
        ]);
        let close = v3_close();
        fresh_answers(
            std::rc::Rc::new(v3_pool(1024, later, CERT_SERIAL)),
            move || (v3_ctx_with(store.clone()), ReplayGuard::new()),
            move |(ctx, seen), _, resp| {
                assert_eq!(close.parse(ctx, seen, later, resp).unwrap(), CloseOutcome::Closed)
            },
        )
    };
    // A whole close (build, sign, answer, verify) through a session that keeps its
    // certificates current and whose store is fresh, against one that refreshes nothing.
    let refresh_pool = std::rc::Rc::new(v3_pool(256, later, CERT_SERIAL));
    let session_close = |refresh: bool| {
        let store = wxpay_core::v3::PlatformCertificates::from_certificates([
            wxpay_core::v3::PlatformCertificate::from_pem(WECHATPAY_CERT).unwrap(),
        ]);
        let close = v3_close();
        fresh_answers(
            std::rc::Rc::clone(&refresh_pool),
            move || {
                let creds = v3_ctx_with(store.clone()).v3_credentials().unwrap().clone();
                let creds = creds.with_api_v3_key(wxpay_core::ApiV3Key::new(V3_KEY).unwrap());
                let mut config = wxpay_core::ClientConfig::builder().v3(creds);
                if refresh {
                    let fresh = wxpay_core::CertificateRefresh::default()
                        .refreshed_at(std::time::Instant::now());
                    config = config.refresh_certificates(store.clone(), fresh);
                }
                wxpay_core::Session::new(config.build().unwrap())
            },
            move |session, _, resp| {
                let start = wxpay_core::Now { unix: later, instant: std::time::Instant::now() };
                let run = wxpay_core::run_scripted(session.call(&close), start, [Ok(resp)]);
                assert_eq!(run.result.unwrap(), CloseOutcome::Closed);
            },
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
        // What the replay guard adds to reading an answer: the read plus a second guard's
        // check of the same answer, against the read alone.
        Case {
            name: "replay_guard.v2_share",
            measured: v2_read(Some(true)),
            baseline: v2_read(Some(false)),
        },
        Case {
            name: "replay_guard.v3_share",
            measured: v3_read(Some(true)),
            baseline: v3_read(Some(false)),
        },
        Case { name: "v3.query_parse_verify", measured: v3_query, baseline: v3_query_baseline },
        Case {
            name: "refresh.steady_state",
            measured: session_close(true),
            baseline: session_close(false),
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
