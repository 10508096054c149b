//! The sandbox over real HTTP on loopback: the shared vectors replayed verbatim, every
//! endpoint and order state, every fault, and answers checked with the core's verifiers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use wxpay_core::v2::{CloseOrderV2, SignType, V2Credentials};
use wxpay_core::v3::{
    CloseCombinedOrder, CloseOrderV3, PlatformCertificateVerifier, SubOrder, V3Credentials,
    VerifierSet,
};
use wxpay_core::{
    ApiCode, Attempt, BaseUrl, CloseOutcome, Context, Error, ErrorKind, Operation, VerifyError,
};
use wxpay_sandbox::merchants::WECHATPAY_CERT_PEM;
use wxpay_sandbox::{
    AnswerMode, Fault, FaultRule, OrderKey, OrderState, Route, SandboxConfig, SandboxThread,
};

use wxpay_core::unix_now as now;

fn agent() -> ureq::Agent {
    // No headers of ureq's own: the requests are exactly what the test built.
    ureq::Agent::config_builder()
        .user_agent(ureq::config::AutoHeaderValue::None)
        .accept(ureq::config::AutoHeaderValue::None)
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into()
}

/// Sends a request the core built; the answer as the core takes it.
fn send(
    agent: &ureq::Agent,
    req: http::Request<Vec<u8>>,
) -> Result<http::Response<Vec<u8>>, ureq::Error> {
    let resp = agent.run(req)?;
    let (parts, mut body) = resp.into_parts();
    let bytes = body.with_config().limit(4 * 1024 * 1024).read_to_vec()?;
    Ok(http::Response::from_parts(parts, bytes))
}

struct Fixture {
    sandbox: SandboxThread,
    agent: ureq::Agent,
    base: BaseUrl,
}

impl Fixture {
    fn new(config: SandboxConfig) -> Self {
        let sandbox = SandboxThread::start(config).unwrap();
        let base = BaseUrl::parse(sandbox.base_url()).unwrap();
        Fixture { sandbox, agent: agent(), base }
    }

    fn call<O: Operation>(&self, ctx: &Context, op: &O) -> Result<O::Output, Error> {
        let nonce = format!("N{}", now());
        let attempt = Attempt::new(&self.base, now(), &nonce);
        let req = op.build(ctx, &attempt)?;
        let resp = send(&self.agent, req).map_err(|e| {
            Error::from(wxpay_core::TransportError::new(
                wxpay_core::TransportErrorKind::Io,
                self.base.host(),
                Some(Box::new(e)),
            ))
        })?;
        op.parse(ctx, &wxpay_core::ReplayGuard::new(), now(), resp)
    }

    fn control(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/__sandbox/{path}", self.sandbox.base_url());
        let req = http::Request::builder()
            .method(method)
            .uri(url)
            .header("content-type", "application/json")
            .body(body.map(|b| b.to_string().into_bytes()).unwrap_or_default())
            .unwrap();
        let resp = send(&self.agent, req).unwrap();
        (resp.status().as_u16(), serde_json::from_slice(resp.body()).unwrap_or(Value::Null))
    }
}

fn v2_ctx(mch: &str, sign_type: SignType) -> Context {
    let creds = wxpay_sandbox::Credentials { base_url: String::new() };
    let appid =
        wxpay_sandbox::merchants::V2_MERCHANTS.iter().find(|m| m.mch_id == mch).unwrap().appid;
    Context::new().with_v2(
        V2Credentials::new(appid, mch, creds.api_v2_key()).unwrap().with_sign_type(sign_type),
    )
}

fn v3_ctx(mchid: &str, mode: AnswerMode) -> Context {
    let creds = wxpay_sandbox::Credentials { base_url: String::new() };
    let verifiers = match mode {
        AnswerMode::PublicKey => VerifierSet::new()
            .with(creds.public_key_verifier())
            .with(PlatformCertificateVerifier::from_pem(WECHATPAY_CERT_PEM).unwrap()),
        AnswerMode::PlatformCertificate => VerifierSet::new()
            .with(PlatformCertificateVerifier::from_pem(WECHATPAY_CERT_PEM).unwrap())
            .with(creds.public_key_verifier()),
    };
    let v3 = V3Credentials::new(
        mchid,
        wxpay_sandbox::merchants::MERCHANT_SERIAL_NO,
        creds.merchant_signer(),
        verifiers,
    )
    .unwrap();
    Context::new().with_v3(v3)
}

const V2_MCH: &str = "10000100";
const V2_SP: &str = "1900000109";
const V2_SUB: &str = "1900000110";
const V3_MCH: &str = "1900000001";
const V3_SP: &str = "1230000109";
/// The sub-merchant the sandbox presents.
const V3_SUB: &str = wxpay_sandbox::merchants::V3_SUB_MCHID;
/// The merchant of a combined order's other sub-order, as the sandbox presents it.
const V3_SUB_ORDER: &str = wxpay_sandbox::merchants::V3_SUB_ORDER_MCHID;
/// The shared vectors' APIv3 sub-merchant (and sub-order merchant), accepted for them only
/// (`accept_vector_ids`).
const VECTOR_V3_SUB: &str = "1900000109";

fn no_delay() -> SandboxConfig {
    SandboxConfig { min_close_delay_secs: 0, ..SandboxConfig::default() }
}

#[test]
fn shared_vectors_replayed_verbatim_are_accepted() {
    let f = Fixture::new(SandboxConfig {
        request_window_secs: None,
        accept_vector_ids: true,
        ..no_delay()
    });
    let vectors: Value = serde_json::from_str(include_str!("vectors/close_order.json")).unwrap();
    let state = f.sandbox.state();

    // APIv3: the exact bytes of each vector request, old timestamps and all.
    state.put_order(OrderKey::new(V3_MCH, "1217752501201407033233368018"), OrderState::Unpaid);
    state.put_order(
        OrderKey::sub(V3_SP, VECTOR_V3_SUB, "1217752501201407033233368018"),
        OrderState::Unpaid,
    );
    state.put_order(OrderKey::new(V3_MCH, "ord_2024-11|42*x"), OrderState::Unpaid);
    for v in vectors["v3"]["requests"].as_array().unwrap() {
        let req = http::Request::builder()
            .method("POST")
            .uri(format!("{}{}", f.sandbox.base_url(), v["path"].as_str().unwrap()))
            .header("Authorization", v["authorization"].as_str().unwrap())
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .header("User-Agent", "vector-replay")
            .body(v["body"].as_str().unwrap().as_bytes().to_vec())
            .unwrap();
        let resp = send(&f.agent, req).unwrap();
        assert_eq!(resp.status(), 204, "{}: {:?}", v["name"], String::from_utf8_lossy(resp.body()));
        // The answer verifies with the core, in public-key mode.
        let ctx = v3_ctx(v["mchid"].as_str().unwrap(), AnswerMode::PublicKey);
        let outcome =
            wxpay_core::v3::read_close_answer(&ctx, &wxpay_core::ReplayGuard::new(), now(), resp)
                .unwrap();
        assert_eq!(outcome, CloseOutcome::Closed);
    }
    assert_eq!(
        state.order(&OrderKey::new(V3_MCH, "ord_2024-11|42*x")).unwrap().state,
        OrderState::Closed
    );

    // APIv2: each vector's fields and sign, as XML.
    state.put_order(OrderKey::new(V2_MCH, "1415983244"), OrderState::Unpaid);
    state.put_order(
        OrderKey::sub(V2_SP, V2_SUB, "1217752501201407033233368018"),
        OrderState::Unpaid,
    );
    let mut first_v2 = true;
    for v in vectors["v2"]["requests"].as_array().unwrap() {
        let params = v["params"].as_object().unwrap();
        let mut fields: Vec<(&str, &str)> =
            params.iter().map(|(k, v)| (k.as_str(), v.as_str().unwrap())).collect();
        fields.push(("sign", v["sign"].as_str().unwrap()));
        let body =
            wxpay_core::v2::xml_document(fields.iter().copied().filter(|(_, v)| !v.is_empty()));
        let req = http::Request::builder()
            .method("POST")
            .uri(format!("{}/pay/closeorder", f.sandbox.base_url()))
            .body(body)
            .unwrap();
        let resp = send(&f.agent, req).unwrap();
        let mch = params["mch_id"].as_str().unwrap();
        let sign_type = params
            .get("sign_type")
            .map_or(SignType::Md5, |s| SignType::from_wire(s.as_str().unwrap()).unwrap());
        let mut close = CloseOrderV2::new(params["out_trade_no"].as_str().unwrap());
        if let Some(sub) = params.get("sub_mch_id") {
            close = close.for_sub_merchant(sub.as_str().unwrap());
            if let Some(app) = params.get("sub_appid") {
                close = close.with_sub_appid(app.as_str().unwrap());
            }
        }
        let outcome = close
            .parse(&v2_ctx(mch, sign_type), &wxpay_core::ReplayGuard::new(), now(), resp)
            .unwrap();
        let expected = if mch == V2_SP || first_v2 {
            CloseOutcome::Closed
        } else {
            CloseOutcome::AlreadyClosed
        };
        assert_eq!(outcome, expected, "{}", v["name"]);
        if mch == V2_MCH {
            first_v2 = false;
        }
    }
}

#[test]
fn every_endpoint_and_state() {
    let f = Fixture::new(SandboxConfig::default());
    let state = f.sandbox.state();
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    let young = std::time::SystemTime::now() - Duration::from_secs(10);

    // APIv2, common and institutional, MD5 and HMAC-SHA256.
    for (sign_type, tag) in [(SignType::Md5, "m"), (SignType::HmacSha256, "h")] {
        let ctx = v2_ctx(V2_MCH, sign_type);
        for (no, st, created, expect) in [
            ("unpaid", OrderState::Unpaid, old, Ok(CloseOutcome::Closed)),
            ("closed", OrderState::Closed, old, Ok(CloseOutcome::AlreadyClosed)),
            ("paid", OrderState::Paid, old, Ok(CloseOutcome::Paid)),
            ("young", OrderState::Unpaid, young, Err(ApiCode::RuleLimit)),
        ] {
            let no = format!("v2-{tag}-{no}");
            state.put_order_created(OrderKey::new(V2_MCH, &no), st, created);
            let got =
                f.call(&ctx, &CloseOrderV2::new(&no)).map_err(|e| e.api().unwrap().code.clone());
            assert_eq!(got, expect, "{no}");
        }
        let missing = f.call(&ctx, &CloseOrderV2::new(format!("v2-{tag}-missing"))).unwrap();
        assert_eq!(missing, CloseOutcome::NotFound);
        // Closing again after a close.
        assert_eq!(
            f.call(&ctx, &CloseOrderV2::new(format!("v2-{tag}-unpaid"))).unwrap(),
            CloseOutcome::AlreadyClosed
        );

        let sp = v2_ctx(V2_SP, sign_type);
        let no = format!("v2-{tag}-sub");
        state.put_order_created(OrderKey::sub(V2_SP, V2_SUB, &no), OrderState::Unpaid, old);
        let op =
            CloseOrderV2::new(&no).for_sub_merchant(V2_SUB).with_sub_appid("wx9999999999999999");
        assert_eq!(f.call(&sp, &op).unwrap(), CloseOutcome::Closed);
        // The same number under another merchant is another order.
        assert_eq!(f.call(&ctx, &CloseOrderV2::new(&no)).unwrap(), CloseOutcome::NotFound);
    }

    // APIv3: direct, partner, combined; public-key and certificate modes.
    for mode in [AnswerMode::PublicKey, AnswerMode::PlatformCertificate] {
        let tag = if mode == AnswerMode::PublicKey { "pk" } else { "pc" };
        let ctx = v3_ctx(V3_MCH, mode);
        for (no, st, created, expect) in [
            ("unpaid", OrderState::Unpaid, old, Ok(CloseOutcome::Closed)),
            ("closed", OrderState::Closed, old, Ok(CloseOutcome::AlreadyClosed)),
            ("paid", OrderState::Paid, old, Ok(CloseOutcome::Paid)),
            ("young", OrderState::Unpaid, young, Err(ApiCode::RuleLimit)),
        ] {
            let no = format!("v3-{tag}-{no}");
            state.put_order_created(OrderKey::new(V3_MCH, &no), st, created);
            let got =
                f.call(&ctx, &CloseOrderV3::new(&no)).map_err(|e| e.api().unwrap().code.clone());
            assert_eq!(got, expect, "{no}");
        }
        assert_eq!(
            f.call(&ctx, &CloseOrderV3::new(format!("v3-{tag}-missing"))).unwrap(),
            CloseOutcome::NotFound
        );

        let sp = v3_ctx(V3_SP, mode);
        let no = format!("v3-{tag}-sub|1");
        state.put_order_created(OrderKey::sub(V3_SP, V3_SUB, &no), OrderState::Unpaid, old);
        assert_eq!(
            f.call(&sp, &CloseOrderV3::new(&no).for_sub_merchant(V3_SUB)).unwrap(),
            CloseOutcome::Closed
        );
        assert_eq!(
            f.call(&sp, &CloseOrderV3::new(&no).for_sub_merchant(V3_SUB)).unwrap(),
            CloseOutcome::AlreadyClosed
        );
        let err = f.call(&sp, &CloseOrderV3::new(&no).for_sub_merchant("1999999999")).unwrap_err();
        assert_eq!(err.api().unwrap().code, ApiCode::InvalidRequest);

        let (a, b) = (format!("v3-{tag}-ca"), format!("v3-{tag}-cb"));
        state.put_order_created(OrderKey::new(V3_MCH, &a), OrderState::Unpaid, old);
        state.put_order_created(OrderKey::new(V3_SUB_ORDER, &b), OrderState::Unpaid, old);
        let combined = CloseCombinedOrder::new(
            "wxd678efh567hg6787",
            format!("v3-{tag}-combined"),
            vec![SubOrder::new(V3_MCH, &a), SubOrder::new(V3_SUB_ORDER, &b)],
        );
        assert_eq!(f.call(&ctx, &combined).unwrap(), CloseOutcome::Closed);
        assert_eq!(
            state.order(&OrderKey::new(V3_SUB_ORDER, &b)).unwrap().state,
            OrderState::Closed
        );
        assert_eq!(f.call(&ctx, &combined).unwrap(), CloseOutcome::AlreadyClosed);
    }
}

#[test]
fn answers_name_the_key_the_request_asked_for() {
    let f = Fixture::new(no_delay());
    f.sandbox.state().put_order(OrderKey::new(V3_MCH, "mode-test-1"), OrderState::Unpaid);
    // A client holding only the platform certificate asks for it and can verify the answer.
    let cert_only = V3Credentials::new(
        V3_MCH,
        wxpay_sandbox::merchants::MERCHANT_SERIAL_NO,
        wxpay_sandbox::Credentials { base_url: String::new() }.merchant_signer(),
        PlatformCertificateVerifier::from_pem(WECHATPAY_CERT_PEM).unwrap(),
    )
    .unwrap();
    let ctx = Context::new().with_v3(cert_only);
    assert_eq!(f.call(&ctx, &CloseOrderV3::new("mode-test-1")).unwrap(), CloseOutcome::Closed);
}

#[test]
fn bad_requests_get_the_documented_answers() {
    let f = Fixture::new(no_delay());
    let url = |p: &str| format!("{}{p}", f.sandbox.base_url());
    // The headers a correct client sends; the header checks have a test of their own.
    let raw = |method: &str, path: &str, body: &str, auth: Option<&str>| {
        let mut b = http::Request::builder()
            .method(method)
            .uri(url(path))
            .header("User-Agent", "test/1")
            .header("Accept", "application/json")
            .header("Content-Type", "application/json");
        if let Some(a) = auth {
            b = b.header("Authorization", a);
        }
        send(&f.agent, b.body(body.as_bytes().to_vec()).unwrap()).unwrap()
    };
    let v2_fail = |resp: http::Response<Vec<u8>>| {
        let fields = wxpay_core::v2::V2Fields::parse(resp.body()).unwrap();
        assert_eq!(fields.get("return_code"), Some("FAIL"));
        assert_eq!(fields.get("sign"), None);
        fields.get("return_msg").unwrap().to_owned()
    };
    assert_eq!(v2_fail(raw("GET", "/pay/closeorder", "", None)), "REQUIRE_POST_METHOD");
    assert_eq!(v2_fail(raw("POST", "/pay/closeorder", "<xml><a>", None)), "XML_FORMAT_ERROR");
    assert_eq!(
        v2_fail(raw(
            "POST",
            "/pay/closeorder",
            "<xml><appid>wx2421b1c4370ec43b</appid><mch_id>10000100</mch_id><nonce_str>n</nonce_str><out_trade_no>1</out_trade_no><sign>00</sign></xml>",
            None
        )),
        "SIGNERROR"
    );
    assert_eq!(
        v2_fail(raw("POST", "/pay/closeorder", "<xml><mch_id>999</mch_id></xml>", None)),
        "MCH_NOT_EXISTS"
    );

    // A v2 call signed with the wrong key: the client sees a communication failure.
    let wrong = Context::new().with_v2(
        V2Credentials::new(
            "wx2421b1c4370ec43b",
            V2_MCH,
            wxpay_core::ApiV2Key::new("0".repeat(32)).unwrap(),
        )
        .unwrap(),
    );
    match f.call(&wrong, &CloseOrderV2::new("x1")).map_err(Error::into_kind) {
        Err(ErrorKind::Communication { return_msg }) => assert_eq!(return_msg, "SIGNERROR"),
        other => panic!("{other:?}"),
    }

    // APIv3: method, signature, body, fields.
    let path = "/v3/pay/transactions/out-trade-no/order-123/close";
    let v3_err = |resp: http::Response<Vec<u8>>| {
        let status = resp.status().as_u16();
        assert!(resp.headers().contains_key("wechatpay-signature"), "errors are signed too");
        let v: Value = serde_json::from_slice(resp.body()).unwrap();
        (status, v["code"].as_str().unwrap().to_owned(), v.get("detail").cloned())
    };
    assert_eq!(v3_err(raw("GET", path, "", None)).1, "INVALID_REQUEST");
    assert_eq!(v3_err(raw("POST", path, "{}", None)), (401, "SIGN_ERROR".into(), None));
    assert_eq!(v3_err(raw("POST", path, "{}", Some("Basic abc"))).0, 401);

    // Signed correctly, but with a body that lacks `mchid`: PARAM_ERROR with detail.
    let ctx = v3_ctx(V3_MCH, AnswerMode::PublicKey);
    let base = BaseUrl::parse(f.sandbox.base_url()).unwrap();
    let sign_raw = |path: &str, body: &str| {
        let message =
            wxpay_core::v3::request_message("POST", path, now(), "NONCE1", body.as_bytes());
        use base64::Engine;
        use wxpay_core::v3::Signer;
        let sig = wxpay_sandbox::Credentials { base_url: String::new() }
            .merchant_signer()
            .sign(&message)
            .unwrap();
        format!(
            "WECHATPAY2-SHA256-RSA2048 mchid=\"{V3_MCH}\",nonce_str=\"NONCE1\",signature=\"{}\",timestamp=\"{}\",serial_no=\"{}\"",
            base64::engine::general_purpose::STANDARD.encode(sig),
            now(),
            wxpay_sandbox::merchants::MERCHANT_SERIAL_NO
        )
    };
    let (status, code, detail) = v3_err(raw(
        "POST",
        path,
        r#"{"mch_id":"1900000001"}"#,
        Some(&sign_raw(path, r#"{"mch_id":"1900000001"}"#)),
    ));
    assert_eq!((status, code.as_str()), (400, "PARAM_ERROR"));
    assert_eq!(detail.unwrap()["field"], "mchid");
    let (status, code, _) =
        v3_err(raw("POST", path, "not json", Some(&sign_raw(path, "not json"))));
    assert_eq!((status, code.as_str()), (400, "PARAM_ERROR"));
    // Signed over a different body than sent.
    let (status, code, _) =
        v3_err(raw("POST", path, r#"{"mchid":"1900000001"}"#, Some(&sign_raw(path, "{}"))));
    assert_eq!((status, code.as_str()), (401, "SIGN_ERROR"));
    let _ = (ctx, base);

    // A stale request timestamp is refused by default.
    let strict = Fixture::new(SandboxConfig::default());
    let vectors: Value = serde_json::from_str(include_str!("vectors/close_order.json")).unwrap();
    let v = &vectors["v3"]["requests"][0];
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("{}{}", strict.sandbox.base_url(), v["path"].as_str().unwrap()))
        .header("Authorization", v["authorization"].as_str().unwrap())
        .header("User-Agent", "test/1")
        .header("Accept", "application/json")
        .header("Content-Type", "application/json")
        .body(v["body"].as_str().unwrap().as_bytes().to_vec())
        .unwrap();
    let (status, code, _) = v3_err(send(&strict.agent, req).unwrap());
    assert_eq!((status, code.as_str()), (401, "SIGN_ERROR"));

    // Unknown paths are plain 404s, not WeChat Pay answers.
    assert_eq!(raw("POST", "/v3/unknown", "", None).status(), 404);
}

#[test]
fn every_fault_on_both_generations() {
    let f = Fixture::new(no_delay());
    let state = f.sandbox.state();
    let v2 = v2_ctx(V2_MCH, SignType::HmacSha256);
    let v3 = v3_ctx(V3_MCH, AnswerMode::PublicKey);
    let mut n = 0;
    let mut fresh = |mch: &str| {
        n += 1;
        let no = format!("fault-{n:04}");
        state.put_order(OrderKey::new(mch, &no), OrderState::Unpaid);
        no
    };
    let is_transport = |e: &Error| matches!(e.kind(), ErrorKind::Transport(_));

    for fault in [
        Fault::SystemError,
        Fault::FrequencyLimited,
        Fault::DropBeforeRead,
        Fault::DropAfterRead,
        Fault::TruncatedBody,
        Fault::BadSignature,
        Fault::MissingSignature,
        Fault::SignTestProbe,
        Fault::StaleTimestamp,
        Fault::MalformedBody,
        Fault::OversizedBody,
        Fault::ForgedSerial,
    ] {
        // APIv2.
        let no = fresh(V2_MCH);
        state.add_fault(FaultRule::next(fault, 1).on(Route::V2Close));
        let got = f.call(&v2, &CloseOrderV2::new(&no));
        match fault {
            Fault::SystemError => {
                assert_eq!(got.unwrap_err().api().unwrap().code, ApiCode::SystemError)
            }
            Fault::FrequencyLimited => {
                assert_eq!(got.unwrap_err().api().unwrap().code, ApiCode::FrequencyLimited)
            }
            Fault::DropBeforeRead | Fault::DropAfterRead | Fault::TruncatedBody => {
                assert!(is_transport(got.as_ref().unwrap_err()), "{fault:?}: {got:?}")
            }
            Fault::BadSignature | Fault::SignTestProbe => {
                assert!(
                    matches!(
                        got.as_ref().map_err(Error::kind),
                        Err(ErrorKind::Verify(VerifyError::BadSignature))
                    ),
                    "{fault:?}: {got:?}"
                )
            }
            Fault::MissingSignature => {
                assert!(
                    matches!(
                        got.as_ref().map_err(Error::kind),
                        Err(ErrorKind::Verify(VerifyError::MissingSign))
                    ),
                    "{got:?}"
                )
            }
            // No timestamp or serial in an APIv2 answer.
            Fault::StaleTimestamp | Fault::ForgedSerial => {
                assert_eq!(got.unwrap(), CloseOutcome::Closed)
            }
            Fault::MalformedBody | Fault::OversizedBody => assert!(
                matches!(got.as_ref().map_err(Error::kind), Err(ErrorKind::Decode(_))),
                "{got:?}"
            ),
            other => unreachable!("{other:?}: not in this loop"),
        }
        // Whether the order was closed says whether the request was processed.
        let closed = state.order(&OrderKey::new(V2_MCH, &no)).unwrap().state == OrderState::Closed;
        let processed = !matches!(
            fault,
            Fault::SystemError
                | Fault::FrequencyLimited
                | Fault::DropBeforeRead
                | Fault::MalformedBody
                | Fault::OversizedBody
        );
        assert_eq!(closed, processed, "v2 {fault:?}");

        // APIv3.
        let no = fresh(V3_MCH);
        state.add_fault(FaultRule::next(fault, 1).for_order(&no));
        let got = f.call(&v3, &CloseOrderV3::new(&no));
        match fault {
            Fault::SystemError => {
                let e = got.unwrap_err();
                let api = e.api().unwrap();
                assert_eq!(
                    (api.status, &api.code, api.verified),
                    (500, &ApiCode::SystemError, true)
                );
            }
            Fault::FrequencyLimited => assert_eq!(got.unwrap_err().api().unwrap().status, 429),
            Fault::DropBeforeRead | Fault::DropAfterRead | Fault::TruncatedBody => {
                assert!(is_transport(got.as_ref().unwrap_err()), "{fault:?}: {got:?}")
            }
            Fault::BadSignature => {
                assert!(
                    matches!(
                        got.as_ref().map_err(Error::kind),
                        Err(ErrorKind::Verify(VerifyError::BadSignature))
                    ),
                    "{got:?}"
                )
            }
            Fault::MissingSignature => {
                assert!(
                    matches!(
                        got.as_ref().map_err(Error::kind),
                        Err(ErrorKind::Verify(VerifyError::MissingHeader(_)))
                    ),
                    "{got:?}"
                )
            }
            Fault::SignTestProbe => {
                assert!(
                    matches!(
                        got.as_ref().map_err(Error::kind),
                        Err(ErrorKind::Verify(VerifyError::SignTestProbe))
                    ),
                    "{got:?}"
                )
            }
            Fault::StaleTimestamp => {
                assert!(
                    matches!(
                        got.as_ref().map_err(Error::kind),
                        Err(ErrorKind::Verify(VerifyError::StaleTimestamp { .. }))
                    ),
                    "{got:?}"
                )
            }
            Fault::ForgedSerial => assert!(
                matches!(
                    got.as_ref().map_err(Error::kind),
                    Err(ErrorKind::Verify(VerifyError::UnknownSerial(_)))
                ),
                "{got:?}"
            ),
            Fault::MalformedBody | Fault::OversizedBody => assert!(
                matches!(got.as_ref().map_err(Error::kind), Err(ErrorKind::Decode(_))),
                "{got:?}"
            ),
            other => unreachable!("{other:?}: not in this loop"),
        }
        let closed = state.order(&OrderKey::new(V3_MCH, &no)).unwrap().state == OrderState::Closed;
        assert_eq!(closed, processed, "v3 {fault:?}");
    }

    // Delay: answers normally, later.
    let no = fresh(V3_MCH);
    state.add_fault(FaultRule::next(Fault::Delay(Duration::from_millis(300)), 1));
    let start = std::time::Instant::now();
    assert_eq!(f.call(&v3, &CloseOrderV3::new(&no)).unwrap(), CloseOutcome::Closed);
    assert!(start.elapsed() >= Duration::from_millis(300));

    // An unscoped drop-before-read drops the next connection, whatever it carries.
    let no = fresh(V3_MCH);
    state.add_fault(FaultRule::next(Fault::DropBeforeRead, 1));
    let before = state.requests();
    let nonce = format!("N{}", now());
    let req = CloseOrderV3::new(&no).build(&v3, &Attempt::new(&f.base, now(), &nonce)).unwrap();
    let got = send(&agent(), req);
    assert!(got.is_err(), "{got:?}");
    assert_eq!(state.requests(), before + 1);
    assert_eq!(state.order(&OrderKey::new(V3_MCH, &no)).unwrap().state, OrderState::Unpaid);

    // Faults for ever, until cleared; scoped to one endpoint.
    state.add_fault(FaultRule::always(Fault::SystemError).on(Route::V3Direct));
    for _ in 0..3 {
        let no = fresh(V3_MCH);
        assert!(f.call(&v3, &CloseOrderV3::new(&no)).is_err());
    }
    let no = fresh(V2_MCH);
    assert_eq!(f.call(&v2, &CloseOrderV2::new(&no)).unwrap(), CloseOutcome::Closed);
    state.clear_faults();
    let no = fresh(V3_MCH);
    assert_eq!(f.call(&v3, &CloseOrderV3::new(&no)).unwrap(), CloseOutcome::Closed);
}

#[test]
fn the_control_api_over_http() {
    let f = Fixture::new(SandboxConfig::default());
    assert_eq!(f.control("GET", "health", None).0, 200);
    let (status, v) =
        f.control("POST", "orders", Some(json!({"mchid": V3_MCH, "out_trade_no": "ctl-0001"})));
    assert_eq!((status, v["state"].as_str()), (201, Some("unpaid")));
    let (status, v) =
        f.control("GET", &format!("orders?mchid={V3_MCH}&out_trade_no=ctl-0001"), None);
    assert_eq!(
        (status, v["state"].as_str(), v["close_calls"].as_u64()),
        (200, Some("unpaid"), Some(0))
    );
    assert!(v["created_at"].as_u64().unwrap() <= now() - 3600);

    let ctx = v3_ctx(V3_MCH, AnswerMode::PublicKey);
    assert_eq!(f.call(&ctx, &CloseOrderV3::new("ctl-0001")).unwrap(), CloseOutcome::Closed);
    let (_, v) = f.control("GET", &format!("orders?mchid={V3_MCH}&out_trade_no=ctl-0001"), None);
    assert_eq!(
        (v["state"].as_str(), v["close_calls"].as_u64(), v["closes"].as_u64()),
        (Some("closed"), Some(1), Some(1))
    );

    // Pay, then close: paid.
    f.control(
        "POST",
        "orders",
        Some(json!({"mchid": V3_SP, "sub_mchid": V3_SUB, "out_trade_no": "ctl-0002"})),
    );
    assert_eq!(
        f.control(
            "POST",
            "orders/pay",
            Some(json!({"mchid": V3_SP, "sub_mchid": V3_SUB, "out_trade_no": "ctl-0002"}))
        )
        .0,
        200
    );
    let sp = v3_ctx(V3_SP, AnswerMode::PublicKey);
    assert_eq!(
        f.call(&sp, &CloseOrderV3::new("ctl-0002").for_sub_merchant(V3_SUB)).unwrap(),
        CloseOutcome::Paid
    );

    // Young orders and faults through the API.
    f.control(
        "POST",
        "orders",
        Some(json!({"mchid": V3_MCH, "out_trade_no": "ctl-0003", "age_secs": 0})),
    );
    assert_eq!(
        f.call(&ctx, &CloseOrderV3::new("ctl-0003")).unwrap_err().api().unwrap().code,
        ApiCode::RuleLimit
    );
    let (status, _) = f.control(
        "POST",
        "faults",
        Some(json!({"fault": "frequency_limited", "endpoint": "v3_direct", "times": 1})),
    );
    assert_eq!(status, 201);
    f.control("POST", "orders", Some(json!({"mchid": V3_MCH, "out_trade_no": "ctl-0004"})));
    assert_eq!(
        f.call(&ctx, &CloseOrderV3::new("ctl-0004")).unwrap_err().api().unwrap().code,
        ApiCode::FrequencyLimited
    );
    assert_eq!(f.call(&ctx, &CloseOrderV3::new("ctl-0004")).unwrap(), CloseOutcome::Closed);
    let (status, why) = f.control("POST", "faults", Some(json!({"fault": "nonsense"})));
    assert_eq!(status, 400);
    assert!(why.to_string().contains("relabel_status, replay, escape_text"), "{why}");
    // Every fault the list names is one the API takes.
    for name in wxpay_sandbox::Fault::NAMES {
        let fault = wxpay_sandbox::Fault::parse(name, 1, 200).unwrap();
        assert_eq!(fault.name(), name);
    }
    let relabel =
        json!({"fault": "relabel_status", "endpoint": "v3_direct", "status": 200, "times": 1});
    assert_eq!(f.control("POST", "faults", Some(relabel)).0, 201);
    let no_status = json!({"fault": "relabel_status"});
    assert_eq!(f.control("POST", "faults", Some(no_status)).0, 400);
    let bad_status = json!({"fault": "relabel_status", "status": 42});
    assert_eq!(f.control("POST", "faults", Some(bad_status)).0, 400);
    assert_eq!(f.control("DELETE", "faults", None).0, 200);
    assert_eq!(f.control("POST", "orders", Some(json!({"out_trade_no": "x"}))).0, 400);
    assert_eq!(f.control("GET", "orders?mchid=1&out_trade_no=none", None).0, 404);

    let (_, creds) = f.control("GET", "credentials", None);
    assert_eq!(creds["base_url"], f.sandbox.base_url());
    // A both merchant (the default) has the public key and the certificate.
    let direct = &creds["v3"]["merchants"][0];
    assert_eq!(direct["key_mode"], "both");
    assert_eq!(direct["wechatpay_public_key_id"], "PUB_KEY_ID_0114232134912410000000000000");
    assert_eq!(direct["wechatpay_cert_serial"], "5157F09EFDC096DE15EBE81A47057A7232F1B8E1");
    let (_, stats) = f.control("GET", "stats", None);
    assert_eq!(stats["requests"].as_u64(), Some(5));
}

#[test]
fn concurrent_closes_of_one_order_close_it_exactly_once() {
    let f = Arc::new(Fixture::new(no_delay()));
    f.sandbox.state().put_order(OrderKey::new(V3_MCH, "hammered-1"), OrderState::Unpaid);
    f.sandbox.state().put_order(OrderKey::new(V2_MCH, "hammered-2"), OrderState::Unpaid);
    let threads: Vec<_> = (0..32)
        .map(|i| {
            let f = f.clone();
            std::thread::spawn(move || {
                let mut outcomes = Vec::new();
                for _ in 0..4 {
                    if i % 2 == 0 {
                        let ctx = v3_ctx(V3_MCH, AnswerMode::PublicKey);
                        outcomes
                            .push(("v3", f.call(&ctx, &CloseOrderV3::new("hammered-1")).unwrap()));
                    } else {
                        let ctx = v2_ctx(V2_MCH, SignType::Md5);
                        outcomes
                            .push(("v2", f.call(&ctx, &CloseOrderV2::new("hammered-2")).unwrap()));
                    }
                }
                outcomes
            })
        })
        .collect();
    let all: Vec<_> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    for api in ["v3", "v2"] {
        let closed = all.iter().filter(|(a, o)| *a == api && *o == CloseOutcome::Closed).count();
        let already =
            all.iter().filter(|(a, o)| *a == api && *o == CloseOutcome::AlreadyClosed).count();
        assert_eq!((closed, already), (1, 63), "{api}");
    }
    let o = f.sandbox.state().order(&OrderKey::new(V3_MCH, "hammered-1")).unwrap();
    assert_eq!((o.closes, o.close_calls), (1, 64));
}

/// A request that a lenient server would accept, refused as WeChat Pay refuses it: each of
/// the sandbox's strict checks, with the answer signed and the order untouched.
#[test]
fn requests_a_lenient_server_would_accept_are_refused() {
    use base64::Engine;
    use wxpay_core::v3::{Signer, verify_response};
    let f = Fixture::new(no_delay());
    let state = f.sandbox.state();
    let ctx = v3_ctx(V3_MCH, AnswerMode::PublicKey);
    let creds = ctx.v3_credentials().unwrap();
    // The answer verifies as WeChat Pay's would; its status, code and detail.
    let refused = |resp: http::Response<Vec<u8>>| {
        let (parts, body) = resp.into_parts();
        assert_ne!(parts.status, 204, "accepted: {parts:?}");
        verify_response(creds.verifier(), &parts.headers, &body, now(), 300)
            .expect("refusals are signed like every answer");
        let v: Value = serde_json::from_slice(&body).unwrap();
        (parts.status.as_u16(), v["code"].as_str().unwrap().to_owned(), v)
    };
    let order = |no: &str| {
        state.put_order(OrderKey::new(V3_MCH, no), OrderState::Unpaid);
        let attempt = Attempt::new(&f.base, now(), "HEADERCHECKNONCE");
        CloseOrderV3::new(no).build(&ctx, &attempt).unwrap()
    };
    let untouched = |no: &str| {
        let o = state.order(&OrderKey::new(V3_MCH, no)).unwrap();
        assert_eq!((o.state, o.closes), (OrderState::Unpaid, 0), "{no}");
    };

    // Headers: each one missing or wrong, the signature still good.
    for (i, (name, value)) in [
        ("user-agent", None),
        ("user-agent", Some(" ")),
        ("accept", None),
        ("accept", Some("text/html")),
        ("content-type", None),
        ("content-type", Some("text/plain")),
    ]
    .into_iter()
    .enumerate()
    {
        let no = format!("headers-{i:03}");
        let mut req = order(&no);
        match value {
            None => drop(req.headers_mut().remove(name)),
            Some(v) => drop(req.headers_mut().insert(name, v.parse().unwrap())),
        }
        let (status, code, body) = refused(send(&f.agent, req).unwrap());
        assert_eq!((status, code.as_str()), (400, "INVALID_REQUEST"), "{name}={value:?}");
        let message = body["message"].as_str().unwrap().to_ascii_lowercase();
        assert!(message.contains(name), "{name}: {message}");
        untouched(&no);
    }
    // `Accept` listing JSON among others, and a charset on the content type, are fine.
    let mut req = order("headers-ok1");
    req.headers_mut().insert("accept", "text/plain, application/json;q=0.9".parse().unwrap());
    req.headers_mut().insert("content-type", "application/json; charset=utf-8".parse().unwrap());
    assert_eq!(send(&f.agent, req).unwrap().status(), 204);

    // The timestamp as text: signed over the canonical digits, sent with a sign or a
    // leading zero. A server that parsed the number and rebuilt the message would accept.
    let path = "/v3/pay/transactions/out-trade-no/{no}/close";
    for (i, shown) in [format!("+{}", now()), format!("0{}", now()), format!(" {}", now())]
        .into_iter()
        .enumerate()
    {
        let no = format!("timestamp-{i:03}");
        state.put_order(OrderKey::new(V3_MCH, &no), OrderState::Unpaid);
        let path = path.replace("{no}", &no);
        let body = format!(r#"{{"mchid":"{V3_MCH}"}}"#);
        let ts = now();
        let message =
            wxpay_core::v3::request_message("POST", &path, ts, "TSNONCE", body.as_bytes());
        let signature = wxpay_sandbox::Credentials { base_url: String::new() }
            .merchant_signer()
            .sign(&message)
            .unwrap();
        let auth = format!(
            "WECHATPAY2-SHA256-RSA2048 mchid=\"{V3_MCH}\",nonce_str=\"TSNONCE\",signature=\"{}\",timestamp=\"{shown}\",serial_no=\"{}\"",
            base64::engine::general_purpose::STANDARD.encode(signature),
            wxpay_sandbox::merchants::MERCHANT_SERIAL_NO,
        );
        let req = http::Request::builder()
            .method("POST")
            .uri(format!("{}{path}", f.sandbox.base_url()))
            .header("Authorization", auth)
            .header("User-Agent", "test/1")
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")
            .body(body.into_bytes())
            .unwrap();
        let (status, code, _) = refused(send(&f.agent, req).unwrap());
        assert_eq!((status, code.as_str()), (401, "SIGN_ERROR"), "{shown:?}");
        untouched(&no);
    }

    // A combined close whose sub-order is another merchant's (the service provider's).
    state.put_order(OrderKey::new(V3_MCH, "combo-mine-1"), OrderState::Unpaid);
    state.put_order(OrderKey::new(V3_SP, "combo-theirs-1"), OrderState::Unpaid);
    let combined = CloseCombinedOrder::new(
        "wxd678efh567hg6787",
        "combo-0001",
        vec![SubOrder::new(V3_MCH, "combo-mine-1"), SubOrder::new(V3_SP, "combo-theirs-1")],
    );
    let req = combined.build(&ctx, &Attempt::new(&f.base, now(), "COMBONONCE")).unwrap();
    let (status, code, body) = refused(send(&f.agent, req).unwrap());
    assert_eq!((status, code.as_str()), (400, "INVALID_REQUEST"));
    assert_eq!(body["detail"]["field"], "sub_orders[1].mchid");
    untouched("combo-mine-1");
    let theirs = state.order(&OrderKey::new(V3_SP, "combo-theirs-1")).unwrap();
    assert_eq!(theirs.closes, 0);

    // APIv2 fields past their length or charset, correctly signed.
    let key = wxpay_sandbox::Credentials { base_url: String::new() }.api_v2_key();
    for (i, (field, value)) in [
        ("nonce_str", "N".repeat(33)),
        ("nonce_str", "has space".to_owned()),
        ("out_trade_no", "A".repeat(33)),
        ("out_trade_no", "bad#char1".to_owned()),
        ("appid", "w".repeat(33)),
    ]
    .into_iter()
    .enumerate()
    {
        let no = format!("v2check{i:03}");
        state.put_order(OrderKey::new(V2_MCH, &no), OrderState::Unpaid);
        let mut fields = vec![
            ("appid", "wx2421b1c4370ec43b".to_owned()),
            ("mch_id", V2_MCH.to_owned()),
            ("nonce_str", "V2NONCE".to_owned()),
            ("out_trade_no", no.clone()),
        ];
        for f in &mut fields {
            if f.0 == field {
                f.1.clone_from(&value);
            }
        }
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let sign = wxpay_core::v2::sign_fields(&key, SignType::Md5, pairs.iter().copied()).unwrap();
        let mut all = pairs.clone();
        all.push(("sign", sign.as_str()));
        let req = http::Request::builder()
            .method("POST")
            .uri(format!("{}/pay/closeorder", f.sandbox.base_url()))
            .body(wxpay_core::v2::xml_document(all))
            .unwrap();
        let resp = send(&f.agent, req).unwrap();
        let answer = wxpay_core::v2::V2Fields::parse(resp.body()).unwrap();
        assert_eq!(answer.get("return_code"), Some("FAIL"), "{field}={value}");
        let msg = answer.get("return_msg").unwrap();
        // The appid check comes first for an unknown appid, as for any other mismatch.
        let expected = if field == "appid" { "APPID_MCHID_NOT_MATCH" } else { field };
        assert!(msg.contains(expected), "{field}: {msg}");
        let o = state.order(&OrderKey::new(V2_MCH, &no)).unwrap();
        assert_eq!(o.closes, 0, "{field}");
    }

    // Faults that cannot be: zero times, a negative delay.
    for fault in [
        json!({"fault": "system_error", "times": 0}),
        json!({"fault": "delay", "delay_ms": -5}),
        json!({"fault": "delay", "delay_ms": "soon"}),
    ] {
        let (status, body) = f.control("POST", "faults", Some(fault.clone()));
        assert_eq!(status, 400, "{fault}: {body}");
    }
    // In process, a rule for zero times is no rule.
    state.add_fault(FaultRule { times: Some(0), ..FaultRule::always(Fault::SystemError) });
    state.put_order(OrderKey::new(V3_MCH, "faults-none"), OrderState::Unpaid);
    assert_eq!(f.call(&ctx, &CloseOrderV3::new("faults-none")).unwrap(), CloseOutcome::Closed);
}

#[test]
fn cross_border_orders_are_found_by_either_number_and_set_through_the_control_api() {
    use wxpay_core::v3::CloseGlobalOrder;
    let f = Fixture::new(no_delay());
    let (status, body) = f.control(
        "POST",
        "orders",
        Some(json!({"mchid": V3_MCH, "out_trade_no": "global-ctl-1", "transaction_id": "4200000000201811209999999999"})),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = f.control(
        "POST",
        "orders",
        Some(json!({"mchid": V3_MCH, "out_trade_no": "global-ctl-2", "transaction_id": "42A"})),
    );
    assert_eq!(status, 400, "{body}");
    let ctx = v3_ctx(V3_MCH, AnswerMode::PublicKey);
    let by_id = CloseGlobalOrder::by_transaction_id("4200000000201811209999999999");
    assert_eq!(f.call(&ctx, &by_id).unwrap(), CloseOutcome::Closed);
    // The same order by the merchant's number: already closed.
    let by_no = CloseGlobalOrder::by_out_trade_no("global-ctl-1");
    assert_eq!(f.call(&ctx, &by_no).unwrap(), CloseOutcome::AlreadyClosed);
    let order = f.sandbox.state().order(&OrderKey::new(V3_MCH, "global-ctl-1")).unwrap();
    assert_eq!((order.state, order.close_calls, order.closes), (OrderState::Closed, 2, 1));
    // Another merchant's transaction id is not this merchant's order.
    let sp = v3_ctx(V3_SP, AnswerMode::PublicKey);
    let theirs = CloseGlobalOrder::by_transaction_id("4200000000201811209999999999")
        .for_sub_merchant(V3_SUB);
    assert_eq!(f.call(&sp, &theirs).unwrap(), CloseOutcome::NotFound);
    // A fault scoped to the global-by-id route.
    f.sandbox.state().add_fault(FaultRule::always(Fault::SystemError).on(Route::V3GlobalById));
    let err = f.call(&ctx, &by_id).unwrap_err();
    assert_eq!(err.api().unwrap().code, ApiCode::SystemError);
    assert_eq!(f.call(&ctx, &by_no).unwrap(), CloseOutcome::AlreadyClosed, "only that route");
}

/// An APIv3 `POST` signed with the merchant's key, with a nonce of the test's choosing.
fn signed_post(f: &Fixture, path: &str, body: &str, nonce: &str) -> http::Request<Vec<u8>> {
    use base64::Engine;
    use wxpay_core::v3::Signer;
    let ts = now();
    let message = wxpay_core::v3::request_message("POST", path, ts, nonce, body.as_bytes());
    let signature = wxpay_sandbox::Credentials { base_url: String::new() }
        .merchant_signer()
        .sign(&message)
        .unwrap();
    let auth = format!(
        "WECHATPAY2-SHA256-RSA2048 mchid=\"{V3_MCH}\",nonce_str=\"{nonce}\",signature=\"{}\",timestamp=\"{ts}\",serial_no=\"{}\"",
        base64::engine::general_purpose::STANDARD.encode(signature),
        wxpay_sandbox::merchants::MERCHANT_SERIAL_NO,
    );
    http::Request::builder()
        .method("POST")
        .uri(format!("{}{path}", f.sandbox.base_url()))
        .header("Authorization", auth)
        .header("User-Agent", "test/1")
        .header("Accept", "application/json")
        .header("Content-Type", "application/json")
        .body(body.as_bytes().to_vec())
        .unwrap()
}

/// A combined close that breaks the core's rules (`CloseCombinedOrder::validate`), which no
/// client of wxpay can send, is answered as WeChat Pay answers it: a signed 400 `PARAM_ERROR`
/// whose `detail` names the field, and no sub-order is touched.
#[test]
fn combined_closes_that_break_the_core_rules_are_param_errors() {
    use wxpay_core::v3::verify_response;
    let f = Fixture::new(no_delay());
    let state = f.sandbox.state();
    let ctx = v3_ctx(V3_MCH, AnswerMode::PublicKey);
    let creds = ctx.v3_credentials().unwrap();
    let path = "/v3/combine-transactions/out-trade-no/combo-rules-1/close";
    state.put_order(OrderKey::new(V3_MCH, "combo-rule-a"), OrderState::Unpaid);
    let answer = |body: &Value| {
        let resp = send(&f.agent, signed_post(&f, path, &body.to_string(), "RULESNONCE")).unwrap();
        let (parts, bytes) = resp.into_parts();
        verify_response(creds.verifier(), &parts.headers, &bytes, now(), 300)
            .expect("refusals are signed like every answer");
        (parts.status.as_u16(), serde_json::from_slice::<Value>(&bytes).unwrap())
    };
    let sub = |no: &str| json!({"mchid": V3_MCH, "out_trade_no": no});

    // 51 sub-orders: one more than a combined order holds.
    let many: Vec<Value> = (0..51).map(|_| sub("combo-rule-a")).collect();
    let (status, v) = answer(&json!({"combine_appid": "wxd678efh567hg6787", "sub_orders": many}));
    assert_eq!((status, v["code"].as_str()), (400, Some("PARAM_ERROR")), "{v}");
    assert_eq!(
        (v["detail"]["field"].as_str(), v["detail"]["value"].as_u64()),
        (Some("sub_orders"), Some(51))
    );
    assert!(v["detail"]["issue"].as_str().unwrap().contains("1 to 50"), "{v}");

    // A sub-order number with a character the API does not allow, and one too short.
    for (bad, issue) in [("combo#rule", "'#'"), ("abc", "at least 6")] {
        let body = json!({"combine_appid": "wxd678efh567hg6787", "sub_orders": [sub("combo-rule-a"), sub(bad)]});
        let (status, v) = answer(&body);
        assert_eq!((status, v["code"].as_str()), (400, Some("PARAM_ERROR")), "{v}");
        let detail = &v["detail"];
        assert_eq!(detail["field"], "sub_orders[1].out_trade_no", "{v}");
        assert_eq!(
            (detail["value"].as_str(), detail["location"].as_str()),
            (Some(bad), Some("body"))
        );
        assert!(detail["issue"].as_str().unwrap().contains(issue), "{v}");
    }
    // A sub-merchant id no WeChat Pay id looks like.
    let odd = json!({"mchid": V3_MCH, "out_trade_no": "combo-rule-a", "sub_mchid": "19<0"});
    let (status, v) = answer(&json!({"combine_appid": "wxd678efh567hg6787", "sub_orders": [odd]}));
    assert_eq!(
        (status, v["detail"]["field"].as_str()),
        (400, Some("sub_orders[0].sub_mchid")),
        "{v}"
    );
    let o = state.order(&OrderKey::new(V3_MCH, "combo-rule-a")).unwrap();
    assert_eq!((o.state, o.close_calls), (OrderState::Unpaid, 0), "no sub-order was reached");

    // Within the rules, the same order closes.
    let body = json!({"combine_appid": "wxd678efh567hg6787", "sub_orders": [sub("combo-rule-a")]});
    let resp = send(&f.agent, signed_post(&f, path, &body.to_string(), "RULESNONCE")).unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(
        state.order(&OrderKey::new(V3_MCH, "combo-rule-a")).unwrap().state,
        OrderState::Closed
    );
}

/// The request's nonce and the order's age are checked by the core's rules.
#[test]
fn request_nonces_and_the_close_delay_follow_the_core() {
    let f = Fixture::new(SandboxConfig { min_close_delay_secs: 30, ..SandboxConfig::default() });
    let state = f.sandbox.state();
    let path = |no: &str| format!("/v3/pay/transactions/out-trade-no/{no}/close");
    let body = format!(r#"{{"mchid":"{V3_MCH}"}}"#);
    state.put_order(OrderKey::new(V3_MCH, "nonce-rule-1"), OrderState::Unpaid);
    for nonce in ["has space", &"N".repeat(33), "nonce-with-dash"] {
        let resp = send(&f.agent, signed_post(&f, &path("nonce-rule-1"), &body, nonce)).unwrap();
        let v: Value = serde_json::from_slice(resp.body()).unwrap();
        assert_eq!(
            (resp.status().as_u16(), v["code"].as_str()),
            (401, Some("SIGN_ERROR")),
            "{nonce}: {v}"
        );
        assert!(v["message"].as_str().unwrap().contains("nonce_str"), "{v}");
    }
    let resp = send(&f.agent, signed_post(&f, &path("nonce-rule-1"), &body, "GOODNONCE1")).unwrap();
    assert_eq!(resp.status(), 204);

    // The configured 30 seconds, not WeChat Pay's 5 minutes.
    let ago = |secs| std::time::SystemTime::now() - Duration::from_secs(secs);
    state.put_order_created(OrderKey::new(V3_MCH, "delay-rule-1"), OrderState::Unpaid, ago(10));
    state.put_order_created(OrderKey::new(V3_MCH, "delay-rule-2"), OrderState::Unpaid, ago(60));
    let ctx = v3_ctx(V3_MCH, AnswerMode::PublicKey);
    let err = f.call(&ctx, &CloseOrderV3::new("delay-rule-1")).unwrap_err();
    assert_eq!(err.api().unwrap().code, ApiCode::RuleLimit);
    assert_eq!(f.call(&ctx, &CloseOrderV3::new("delay-rule-2")).unwrap(), CloseOutcome::Closed);
}

/// `GET /__sandbox/` says what the control API takes: every route, every fault with its
/// parameters, the endpoints, order states and rotation steps.
#[test]
fn the_control_api_lists_itself() {
    let f = Fixture::new(SandboxConfig::default());
    let (status, v) = f.control("GET", "", None);
    assert_eq!(status, 200, "{v}");
    let routes: Vec<(String, String)> = v["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["method"].as_str().unwrap().to_owned(), r["path"].as_str().unwrap().to_owned()))
        .collect();
    for (method, path) in [
        ("GET", "/__sandbox/"),
        ("GET", "/__sandbox/health"),
        ("GET", "/__sandbox/credentials"),
        ("GET", "/__sandbox/stats"),
        ("POST", "/__sandbox/orders"),
        ("GET", "/__sandbox/orders"),
        ("POST", "/__sandbox/orders/pay"),
        ("POST", "/__sandbox/orders/combined"),
        ("POST", "/__sandbox/faults"),
        ("DELETE", "/__sandbox/faults"),
        ("GET", "/__sandbox/certificates"),
        ("POST", "/__sandbox/certificates/rotate"),
        ("GET", "/__sandbox/merchants"),
        ("POST", "/__sandbox/merchants/{mchid}/keys"),
    ] {
        assert!(
            routes.contains(&(method.to_owned(), path.to_owned())),
            "{method} {path}: {routes:?}"
        );
    }
    assert_eq!(routes.len(), 14);
    // Every listed route answers as listed (none is a 404).
    for (method, path) in &routes {
        if method == "GET" && path != "/__sandbox/orders" {
            let (status, _) = f.control(method, path.trim_start_matches("/__sandbox/"), None);
            assert_eq!(status, 200, "{method} {path}");
        }
    }
    let faults = v["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == "/__sandbox/faults" && r["method"] == "POST")
        .unwrap();
    assert_eq!(
        faults["fields"],
        json!(["fault", "endpoint", "out_trade_no", "times", "delay_ms", "status", "paying_secs"])
    );

    let names: Vec<&str> =
        v["faults"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, Fault::NAMES);
    let parameters = |name: &str| {
        v["faults"].as_array().unwrap().iter().find(|f| f["name"] == name).unwrap()["parameters"]
            .clone()
    };
    assert_eq!(parameters("delay"), json!([{"name": "delay_ms", "required": false}]));
    assert_eq!(parameters("relabel_status"), json!([{"name": "status", "required": true}]));
    assert_eq!(parameters("replay"), json!([]));
    assert_eq!(parameters("user_paying"), json!([{"name": "paying_secs", "required": false}]));
    assert_eq!(parameters("pay_during_close"), json!([]));
    assert_eq!(parameters("query_other_order"), json!([]));
    assert_eq!(
        v["order_states"],
        json!(["unpaid", "paid", "closed", "refunded", "revoked", "payerror", "paying"])
    );
    assert_eq!(v["paying_then"], json!(["paid", "unpaid"]));
    assert_eq!(v["rotation_steps"], json!(["add", "switch", "retire"]));
    assert_eq!(v["key_modes"], json!(["public-key", "certificates", "both"]));
    let endpoints: Vec<&str> =
        v["endpoints"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert_eq!(endpoints, Route::ALL.map(Route::as_str));
    // Each listed endpoint is one a fault can be scoped to.
    for endpoint in endpoints {
        let (status, body) = f.control(
            "POST",
            "faults",
            Some(json!({"fault": "delay", "endpoint": endpoint, "times": 1})),
        );
        assert_eq!(status, 201, "{endpoint}: {body}");
    }

    // An unknown control path says where the list is.
    let (status, v) = f.control("GET", "nothing-here", None);
    assert_eq!(status, 404);
    assert!(v["routes"].as_str().unwrap().contains("GET /__sandbox/"), "{v}");
}

/// Unknown fields, and unknown names of faults, endpoints, states and steps, are refused with
/// a 400 that lists what is accepted; nothing is done.
#[test]
fn the_control_api_refuses_what_it_does_not_know() {
    let f = Fixture::new(SandboxConfig::default());
    let state = f.sandbox.state();
    let refused = |method: &str, path: &str, body: Option<Value>| {
        let (status, v) = f.control(method, path, body.clone());
        assert_eq!(status, 400, "{method} {path} {body:?}: {v}");
        let error = v["error"].as_str().unwrap().to_owned();
        let accepted: Vec<String> = v["accepted"]
            .as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        (error, accepted)
    };

    // Unknown fields, in every kind of request.
    let order = json!({"mchid": V3_MCH, "out_trade_no": "ctl-strict-1"});
    let with = |extra: &str| {
        let mut o = order.clone();
        o[extra] = json!("x");
        o
    };
    let (error, accepted) = refused("POST", "orders", Some(with("colour")));
    assert!(error.contains("`colour`"), "{error}");
    assert!(accepted.contains(&"age_secs".to_owned()) && accepted.contains(&"count".to_owned()));
    assert_eq!(state.order_count(), 0, "no order was made");
    let (error, accepted) = refused("POST", "orders/pay", Some(with("state")));
    assert!(error.contains("`state`"), "{error}");
    assert_eq!(accepted, ["mchid", "sub_mchid", "out_trade_no"]);
    let (error, _) =
        refused("GET", &format!("orders?mchid={V3_MCH}&out_trade_no=x&verbose=1"), None);
    assert!(error.contains("query parameter `verbose`"), "{error}");
    let (error, accepted) = refused("POST", "faults", Some(json!({"fault": "delay", "delay": 5})));
    assert!(error.contains("`delay`"), "{error}");
    assert!(accepted.contains(&"delay_ms".to_owned()));
    let (error, _) =
        refused("POST", "certificates/rotate", Some(json!({"step": "add", "force": true})));
    assert!(error.contains("`force`"), "{error}");
    let (error, _) = refused("GET", "stats?reset=1", None);
    assert!(error.contains("`reset`") && error.contains("no fields"), "{error}");
    let (error, _) = refused("DELETE", "faults", Some(json!({"endpoint": "v2"})));
    assert!(error.contains("`endpoint`"), "{error}");
    let (error, _) = refused("POST", "faults?fault=replay", Some(json!({"fault": "replay"})));
    assert!(error.contains("`fault`"), "a query parameter on a POST: {error}");
    // A parameter of another fault, a wrong type: refused, not ignored.
    let (error, _) =
        refused("POST", "faults", Some(json!({"fault": "system_error", "delay_ms": 5})));
    assert!(error.contains("`delay_ms` is not a parameter of `system_error`"), "{error}");
    refused("POST", "faults", Some(json!({"fault": "system_error", "endpoint": 2})));
    refused("POST", "faults", Some(json!({"fault": "system_error", "out_trade_no": 7})));
    refused(
        "POST",
        "orders",
        Some(json!({"mchid": V3_MCH, "out_trade_no": "ctl-strict-2", "count": "3"})),
    );
    refused(
        "POST",
        "orders",
        Some(json!({"mchid": V3_MCH, "out_trade_no": "ctl-strict-2", "age_secs": -1})),
    );
    assert_eq!(state.order_count(), 0, "no order was made");

    // Unknown names: each lists the accepted ones.
    let (error, accepted) = refused("POST", "faults", Some(json!({"fault": "meltdown"})));
    assert!(error.contains("\"meltdown\""), "{error}");
    assert_eq!(accepted, Fault::NAMES);
    let (error, accepted) =
        refused("POST", "faults", Some(json!({"fault": "system_error", "endpoint": "v4"})));
    assert!(error.contains("\"v4\"") && error.contains("v3_certificates"), "{error}");
    assert_eq!(accepted, Route::ALL.map(Route::as_str));
    let (error, accepted) = refused(
        "POST",
        "orders",
        Some(json!({"mchid": V3_MCH, "out_trade_no": "ctl-strict-3", "state": "cancelled"})),
    );
    assert!(error.contains("\"cancelled\""), "{error}");
    assert_eq!(accepted, ["unpaid", "paid", "closed", "refunded", "revoked", "payerror", "paying"]);
    let (error, accepted) = refused("POST", "certificates/rotate", Some(json!({"step": "renew"})));
    assert!(error.contains("\"renew\""), "{error}");
    assert_eq!(accepted, ["add", "switch", "retire"]);
    let (_, accepted) = refused("POST", "certificates/rotate", Some(json!({})));
    assert_eq!(accepted, ["add", "switch", "retire"]);
    assert_eq!(state.order_count(), 0, "no order was made");
    assert_eq!(state.platform_certificates(), (vec![0], 0), "no rotation was made");

    // No fault was scripted by any of these: an order closes.
    state.put_order(OrderKey::new(V3_MCH, "ctl-strict-4"), OrderState::Unpaid);
    let ctx = v3_ctx(V3_MCH, AnswerMode::PublicKey);
    assert_eq!(f.call(&ctx, &CloseOrderV3::new("ctl-strict-4")).unwrap(), CloseOutcome::Closed);
    // What is well-formed still works, `null` as absent included.
    let (status, v) = f.control("POST", "orders", Some(json!({"mchid": V3_MCH, "out_trade_no": "ctl-strict-5", "state": "paid", "sub_mchid": null, "count": null})));
    assert_eq!((status, v["state"].as_str()), (201, Some("paid")), "{v}");
    assert_eq!(f.control("DELETE", "faults", Some(json!({}))).0, 200);
}
