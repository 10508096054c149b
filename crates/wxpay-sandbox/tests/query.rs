//! The order queries over real HTTP: every endpoint for every order state, signed and
//! verified with the core's verifiers; ownership and charset refusals; a paying order over
//! time; the faults made for queries and confirmed closes; the control API's new parts.
//!
//! The core has no query operations yet: the requests are built here by hand, signed with the
//! core's signers (`RsaSigner` over `request_message`, `sign_fields`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use wxpay_core::v2::{CloseOrderV2, SignType, V2Credentials, V2Fields, sign_fields, verify_fields};
use wxpay_core::v3::{
    CloseOrderV3, PlatformCertificateVerifier, Signer, V3Credentials, Verifier, VerifierSet,
    request_message, verify_response,
};
use wxpay_core::{Attempt, BaseUrl, CloseOutcome, Context, Error, ErrorKind, Operation};
use wxpay_sandbox::merchants::{
    MERCHANT_SERIAL_NO, V2_MERCHANTS, WECHATPAY_CERT_PEM, WECHATPAY_CERT_SERIAL,
    WECHATPAY_PUBLIC_KEY_ID,
};
use wxpay_sandbox::{
    CombinedOrder, Credentials, Fault, FaultRule, NewOrder, OrderKey, OrderState, Route,
    SandboxConfig, SandboxThread,
};

use wxpay_core::unix_now as now;

const V2_MCH: &str = "10000100";
const V2_SP: &str = "1900000109";
const V2_SUB: &str = "1900000110";
const V2_SUB_APPID: &str = "wx9999999999999999";
const V3_MCH: &str = "1900000001";
const V3_SP: &str = "1230000109";
/// The sub-merchant the sandbox presents (the vectors' `1900000109` only with
/// `accept_vector_ids`).
const V3_SUB: &str = wxpay_sandbox::merchants::V3_SUB_MCHID;
/// The merchant of a combined order's other sub-order, as the sandbox presents it.
const V3_SUB_ORDER: &str = wxpay_sandbox::merchants::V3_SUB_ORDER_MCHID;

fn creds() -> Credentials {
    Credentials { base_url: String::new() }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .user_agent(ureq::config::AutoHeaderValue::None)
        .accept(ureq::config::AutoHeaderValue::None)
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into()
}

fn send(agent: &ureq::Agent, req: http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
    let resp = agent.run(req).unwrap();
    let (parts, mut body) = resp.into_parts();
    let bytes = body.with_config().limit(4 * 1024 * 1024).read_to_vec().unwrap();
    http::Response::from_parts(parts, bytes)
}

/// Which key the request asks answers to be signed with.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    PublicKey,
    Certificate,
}

struct Fixture {
    sandbox: SandboxThread,
    agent: ureq::Agent,
}

/// A verified APIv3 answer: status and JSON body (`Null` when empty).
#[derive(Debug)]
struct V3Answer {
    status: u16,
    body: Value,
    raw: Vec<u8>,
    headers: http::HeaderMap,
}

impl Fixture {
    fn new() -> Self {
        let config = SandboxConfig { min_close_delay_secs: 0, ..SandboxConfig::default() };
        Fixture { sandbox: SandboxThread::start(config).unwrap(), agent: agent() }
    }

    fn state(&self) -> &wxpay_sandbox::State {
        self.sandbox.state()
    }

    /// A signed APIv3 `GET` of `target` (path and query) as merchant `mchid`.
    fn get(&self, mchid: &str, target: &str, mode: Mode) -> http::Request<Vec<u8>> {
        self.get_signed_over(mchid, target, target, mode)
    }

    /// A `GET` of `target` whose signature covers `signed` (a test of what is signed).
    fn get_signed_over(
        &self,
        mchid: &str,
        target: &str,
        signed: &str,
        mode: Mode,
    ) -> http::Request<Vec<u8>> {
        let ts = now();
        let nonce = format!("Q{}", now() % 100_000);
        let signature = creds()
            .merchant_signer()
            .sign(&request_message("GET", signed, ts, &nonce, b""))
            .unwrap();
        let auth = format!(
            "WECHATPAY2-SHA256-RSA2048 mchid=\"{mchid}\",nonce_str=\"{nonce}\",signature=\"{}\",timestamp=\"{ts}\",serial_no=\"{MERCHANT_SERIAL_NO}\"",
            base64::engine::general_purpose::STANDARD.encode(signature),
        );
        let serial = match mode {
            Mode::PublicKey => WECHATPAY_PUBLIC_KEY_ID,
            Mode::Certificate => WECHATPAY_CERT_SERIAL,
        };
        http::Request::builder()
            .method("GET")
            .uri(format!("{}{target}", self.sandbox.base_url()))
            .header("Authorization", auth)
            .header("User-Agent", "query-test/1")
            .header("Accept", "application/json")
            .header("Wechatpay-Serial", serial)
            .body(Vec::new())
            .unwrap()
    }

    /// Sends and verifies with only the key `mode` names: the answer is signed as asked.
    fn v3(&self, req: http::Request<Vec<u8>>, mode: Mode) -> V3Answer {
        let resp = send(&self.agent, req);
        let (parts, raw) = resp.into_parts();
        let verifier: Box<dyn Verifier> = match mode {
            Mode::PublicKey => Box::new(creds().public_key_verifier()),
            Mode::Certificate => {
                Box::new(PlatformCertificateVerifier::from_pem(WECHATPAY_CERT_PEM).unwrap())
            }
        };
        verify_response(verifier.as_ref(), &parts.headers, &raw, now(), 300).unwrap_or_else(|e| {
            panic!("{e:?}: {} {}", parts.status, String::from_utf8_lossy(&raw))
        });
        let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        V3Answer { status: parts.status.as_u16(), body, raw, headers: parts.headers }
    }

    fn query_v3(&self, mchid: &str, target: &str, mode: Mode) -> V3Answer {
        self.v3(self.get(mchid, target, mode), mode)
    }

    /// An APIv2 query with `fields` (appid, mch_id, nonce_str and sign added), answered and
    /// verified with the merchant's key: the answer's fields.
    fn query_v2(
        &self,
        mch: &str,
        fields: &[(&str, &str)],
        sign_type: SignType,
    ) -> Vec<(String, String)> {
        let appid = V2_MERCHANTS.iter().find(|m| m.mch_id == mch).unwrap().appid;
        let nonce = format!("V2Q{}", now());
        let mut all: Vec<(&str, &str)> =
            vec![("appid", appid), ("mch_id", mch), ("nonce_str", &nonce)];
        if sign_type == SignType::HmacSha256 {
            all.push(("sign_type", "HMAC-SHA256"));
        }
        all.extend_from_slice(fields);
        let key = creds().api_v2_key();
        let sign = sign_fields(&key, sign_type, all.iter().copied()).unwrap();
        all.push(("sign", sign.as_str()));
        let req = http::Request::builder()
            .method("POST")
            .uri(format!("{}/pay/orderquery", self.sandbox.base_url()))
            .body(wxpay_core::v2::xml_document(all))
            .unwrap();
        let resp = send(&self.agent, req);
        assert_eq!(resp.status(), 200);
        let answer = V2Fields::parse(resp.body()).unwrap();
        if answer.get("return_code") == Some("SUCCESS") {
            verify_fields(&key, sign_type, &answer).expect("signed with the request's sign_type");
        } else {
            assert_eq!(answer.get("sign"), None, "a communication failure is unsigned");
        }
        answer.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
    }

    fn control(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let req = http::Request::builder()
            .method(method)
            .uri(format!("{}/__sandbox/{path}", self.sandbox.base_url()))
            .header("content-type", "application/json")
            .body(body.map(|b| b.to_string().into_bytes()).unwrap_or_default())
            .unwrap();
        let resp = send(&self.agent, req);
        (resp.status().as_u16(), serde_json::from_slice(resp.body()).unwrap_or(Value::Null))
    }

    /// Runs one of the core's close operations.
    fn close<O: Operation>(&self, ctx: &Context, op: &O) -> Result<O::Output, Error> {
        let base = BaseUrl::parse(self.sandbox.base_url()).unwrap();
        let nonce = format!("C{}", now());
        let req = op.build(ctx, &Attempt::new(&base, now(), &nonce))?;
        let resp = send(&self.agent, req);
        op.parse(ctx, &wxpay_core::ReplayGuard::new(), now(), resp)
    }
}

fn get<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn v3_ctx(mchid: &str) -> Context {
    let verifiers = VerifierSet::new()
        .with(creds().public_key_verifier())
        .with(PlatformCertificateVerifier::from_pem(WECHATPAY_CERT_PEM).unwrap());
    let v3 = V3Credentials::new(mchid, MERCHANT_SERIAL_NO, creds().merchant_signer(), verifiers)
        .unwrap();
    Context::new().with_v3(v3)
}

fn v2_ctx(mch: &str) -> Context {
    let appid = V2_MERCHANTS.iter().find(|m| m.mch_id == mch).unwrap().appid;
    Context::new().with_v2(V2Credentials::new(appid, mch, creds().api_v2_key()).unwrap())
}

/// Each state, as `NewOrder` makes it (a paying order that stays paying for the test).
fn states() -> Vec<(OrderState, &'static str)> {
    vec![
        (OrderState::Unpaid, "NOTPAY"),
        (OrderState::Paid, "SUCCESS"),
        (OrderState::Closed, "CLOSED"),
        (OrderState::Refunded, "REFUND"),
        (OrderState::Revoked, "REVOKED"),
        (OrderState::PayError, "PAYERROR"),
        (OrderState::Paying, "USERPAYING"),
    ]
}

fn new_order(state: OrderState, i: usize) -> NewOrder {
    let new = NewOrder::new(state, now() - 3600).total(1000 + i as u64);
    if state == OrderState::Paying { new.paying(600, OrderState::Paid) } else { new }
}

/// Checks what an APIv3 query answer says about an order.
fn check_v3_order(v: &Value, no: &str, trade_state: &str, total: u64) -> Option<String> {
    assert_eq!(v["out_trade_no"], no, "{v}");
    assert_eq!(v["trade_state"], trade_state, "{v}");
    assert!(v["trade_state_desc"].as_str().is_some_and(|d| !d.is_empty()), "{v}");
    assert!(v["trade_type"].as_str().is_some(), "{v}");
    assert_eq!(v["amount"]["total"], total, "{v}");
    assert_eq!(
        (v["amount"]["currency"].as_str(), v["amount"]["payer_currency"].as_str()),
        (Some("CNY"), Some("CNY"))
    );
    let paid = matches!(trade_state, "SUCCESS" | "REFUND");
    if paid {
        assert_eq!(v["amount"]["payer_total"], total, "{v}");
        let t = v["success_time"].as_str().unwrap();
        assert!(t.ends_with("+08:00") && t.len() == 25, "{t}");
        let id = v["transaction_id"].as_str().unwrap();
        assert!(id.len() == 28 && id.bytes().all(|b| b.is_ascii_digit()), "{id}");
        Some(id.to_owned())
    } else {
        // Not paid: no paid time; WeChat Pay's number only when the order has one (an order
        // queried by that number names it, so that the answer names the order asked about).
        assert!(v.get("success_time").is_none() && v["amount"].get("payer_total").is_none(), "{v}");
        None
    }
}

#[test]
fn every_query_endpoint_answers_every_state() {
    let f = Fixture::new();
    let state = f.state();
    for (i, (st, trade_state)) in states().into_iter().enumerate() {
        let total = 1000 + i as u64;
        let mode = if i % 2 == 0 { Mode::PublicKey } else { Mode::Certificate };
        // Every order has a WeChat Pay number of its own, so it can be asked for by it too
        // (a paid order without one is given one).
        let tid = |n: u32| format!("42000000002025010{n}{i:010}");

        // Direct: by out_trade_no, then by transaction_id.
        let no = format!("q-direct|{i}");
        let key = OrderKey::new(V3_MCH, &no);
        state.put(key.clone(), new_order(st, i).transaction_id(tid(1)));
        let target = format!("/v3/pay/transactions/out-trade-no/q-direct%7C{i}?mchid={V3_MCH}");
        let a = f.query_v3(V3_MCH, &target, mode);
        assert_eq!(a.status, 200, "{st:?} {:?}", a.body);
        assert_eq!(
            (a.body["appid"].as_str(), a.body["mchid"].as_str()),
            (Some("wxd678efh567hg6787"), Some(V3_MCH))
        );
        let paid_id = check_v3_order(&a.body, &no, trade_state, total);
        if let Some(id) = &paid_id {
            assert_eq!(id, &tid(1));
        }
        let b =
            f.query_v3(V3_MCH, &format!("/v3/pay/transactions/id/{}?mchid={V3_MCH}", tid(1)), mode);
        assert_eq!(
            (b.status, &b.body["out_trade_no"], &b.body["trade_state"]),
            (200, &json!(no), &json!(trade_state))
        );

        // Partner, both ways.
        let no = format!("q-partner-{i}");
        state.put(OrderKey::sub(V3_SP, V3_SUB, &no), new_order(st, i).transaction_id(tid(2)));
        for target in [
            format!(
                "/v3/pay/partner/transactions/out-trade-no/{no}?sp_mchid={V3_SP}&sub_mchid={V3_SUB}"
            ),
            format!(
                "/v3/pay/partner/transactions/id/{}?sp_mchid={V3_SP}&sub_mchid={V3_SUB}",
                tid(2)
            ),
        ] {
            let a = f.query_v3(V3_SP, &target, mode);
            assert_eq!(a.status, 200, "{target}: {:?}", a.body);
            assert_eq!(
                (
                    &a.body["sp_mchid"],
                    &a.body["sub_mchid"],
                    &a.body["sp_appid"],
                    &a.body["sub_appid"]
                ),
                (
                    &json!(V3_SP),
                    &json!(V3_SUB),
                    &json!("wx7777777777777777"),
                    &json!("wxd678efh567hg7209")
                ),
            );
            assert!(a.body.get("mchid").is_none());
            check_v3_order(&a.body, &no, trade_state, total);
        }

        // Cross-border: common and institutional mode, both ways.
        let no = format!("q-global-{i}");
        state.put(OrderKey::new(V3_MCH, &no), new_order(st, i).transaction_id(tid(3)));
        state.put(OrderKey::sub(V3_SP, V3_SUB, &no), new_order(st, i).transaction_id(tid(4)));
        for (mch, query, t) in [
            (V3_MCH, format!("mchid={V3_MCH}"), tid(3)),
            (V3_SP, format!("sp_mchid={V3_SP}&sub_mchid={V3_SUB}"), tid(4)),
        ] {
            for target in [
                format!("/v3/global/transactions/out-trade-no/{no}?{query}"),
                format!("/v3/global/transactions/id/{t}?{query}"),
            ] {
                let a = f.query_v3(mch, &target, mode);
                assert_eq!(a.status, 200, "{target}: {:?}", a.body);
                check_v3_order(&a.body, &no, trade_state, total);
                assert_eq!(a.body["mchid"].as_str().or(a.body["sp_mchid"].as_str()), Some(mch));
            }
        }

        // APIv2, common and institutional; by out_trade_no, by transaction_id, and by both
        // (transaction_id wins); MD5 and HMAC-SHA256.
        let sign_type = if i % 2 == 0 { SignType::Md5 } else { SignType::HmacSha256 };
        let no = format!("q-v2-{i}@x");
        state.put(OrderKey::new(V2_MCH, &no), new_order(st, i).transaction_id(tid(5)));
        state.put(OrderKey::sub(V2_SP, V2_SUB, &no), new_order(st, i).transaction_id(tid(6)));
        state.put(OrderKey::new(V2_MCH, "q-v2-decoy"), NewOrder::new(OrderState::Closed, 0));
        let t5 = tid(5);
        for (mch, fields) in [
            (V2_MCH, vec![("out_trade_no", no.as_str())]),
            (V2_MCH, vec![("transaction_id", t5.as_str())]),
            (V2_MCH, vec![("out_trade_no", "q-v2-decoy"), ("transaction_id", t5.as_str())]),
            (
                V2_SP,
                vec![
                    ("out_trade_no", no.as_str()),
                    ("sub_mch_id", V2_SUB),
                    ("sub_appid", V2_SUB_APPID),
                ],
            ),
            (V2_SP, vec![("sub_mch_id", V2_SUB), ("transaction_id", &tid(6))]),
        ] {
            let a = f.query_v2(mch, &fields, sign_type);
            assert_eq!(
                (get(&a, "return_code"), get(&a, "result_code"), get(&a, "mch_id")),
                (Some("SUCCESS"), Some("SUCCESS"), Some(mch)),
                "{fields:?}: {a:?}"
            );
            assert_eq!(get(&a, "trade_state"), Some(trade_state), "{a:?}");
            assert_eq!(get(&a, "out_trade_no"), Some(no.as_str()), "{a:?}");
            assert!(get(&a, "trade_state_desc").is_some_and(|d| !d.is_empty()));
            if mch == V2_SP {
                assert_eq!(get(&a, "sub_mch_id"), Some(V2_SUB));
                let asked_appid = fields.iter().any(|(k, _)| *k == "sub_appid");
                assert_eq!(get(&a, "sub_appid").is_some(), asked_appid, "{a:?}");
            }
            if matches!(trade_state, "SUCCESS" | "REFUND") {
                let t = get(&a, "transaction_id").unwrap();
                assert_eq!(t, if mch == V2_SP { tid(6) } else { tid(5) });
                assert_eq!(get(&a, "total_fee"), Some(total.to_string().as_str()));
                let end = get(&a, "time_end").unwrap();
                assert!(end.len() == 14 && end.bytes().all(|b| b.is_ascii_digit()), "{end}");
            } else {
                // Not paid: no paid time or fee; WeChat Pay's number as the order has it.
                assert_eq!((get(&a, "time_end"), get(&a, "total_fee")), (None, None), "{a:?}");
            }
        }
    }

    // A paid order's APIv2 `time_end` is its paid time in Beijing time; a given number.
    let key = OrderKey::new(V2_MCH, "q-v2-time");
    state.put(
        key,
        NewOrder::new(OrderState::Paid, 1_700_000_000)
            .transaction_id("4200000000202311141234567890"),
    );
    let a = f.query_v2(V2_MCH, &[("out_trade_no", "q-v2-time")], SignType::Md5);
    assert_eq!(get(&a, "time_end"), Some("20231115061320"));
    let a = f.query_v3(
        V3_MCH,
        &format!("/v3/pay/transactions/out-trade-no/q-direct%7C1?mchid={V3_MCH}"),
        Mode::PublicKey,
    );
    assert!(a.body["success_time"].as_str().unwrap().starts_with("20"), "{}", a.body);

    // Not found: on every endpoint.
    for (mch, target) in [
        (V3_MCH, format!("/v3/pay/transactions/out-trade-no/q-missing-1?mchid={V3_MCH}")),
        (V3_MCH, format!("/v3/pay/transactions/id/4200000000999?mchid={V3_MCH}")),
        (
            V3_SP,
            format!(
                "/v3/pay/partner/transactions/out-trade-no/q-missing-1?sp_mchid={V3_SP}&sub_mchid={V3_SUB}"
            ),
        ),
        (
            V3_SP,
            format!(
                "/v3/pay/partner/transactions/id/4200000000999?sp_mchid={V3_SP}&sub_mchid={V3_SUB}"
            ),
        ),
        (V3_MCH, "/v3/combine-transactions/out-trade-no/q-missing-1".to_owned()),
        (V3_MCH, format!("/v3/global/transactions/out-trade-no/q-missing-1?mchid={V3_MCH}")),
        (V3_MCH, format!("/v3/global/transactions/id/4200000000999?mchid={V3_MCH}")),
        // Another merchant's order, by its number and by WeChat Pay's.
        (V3_MCH, format!("/v3/pay/transactions/out-trade-no/q-partner-1?mchid={V3_MCH}")),
        (V3_MCH, format!("/v3/pay/transactions/id/42000000002025010200000000001?mchid={V3_MCH}")),
    ] {
        let a = f.query_v3(mch, &target, Mode::PublicKey);
        assert_eq!((a.status, a.body["code"].as_str()), (404, Some("ORDER_NOT_EXIST")), "{target}");
    }
    for fields in [
        vec![("out_trade_no", "q-missing-1")],
        vec![("transaction_id", "42000000002025010600000000001")],
    ] {
        let a = f.query_v2(V2_MCH, &fields, SignType::Md5);
        assert_eq!(
            (get(&a, "return_code"), get(&a, "result_code"), get(&a, "err_code")),
            (Some("SUCCESS"), Some("FAIL"), Some("ORDERNOTEXIST")),
            "{fields:?}"
        );
    }
}

#[test]
fn combined_orders_are_queried_by_the_combining_merchant() {
    let f = Fixture::new();
    let state = f.state();
    let (a, b) = (OrderKey::new(V3_MCH, "q-combo-a"), OrderKey::new(V3_SUB_ORDER, "q-combo-b"));
    state.put(a.clone(), NewOrder::new(OrderState::Paid, now() - 3600).total(300));
    state.put(b.clone(), NewOrder::new(OrderState::Unpaid, now() - 3600).total(200));
    state.put_combined(
        V3_MCH,
        "q-combo-1",
        CombinedOrder {
            combine_appid: "wxd678efh567hg6787".into(),
            sub_orders: vec![a.clone(), b.clone()],
        },
    );
    let answer =
        f.query_v3(V3_MCH, "/v3/combine-transactions/out-trade-no/q-combo-1", Mode::Certificate);
    let v = &answer.body;
    assert_eq!(answer.status, 200, "{v}");
    assert_eq!(
        (&v["combine_appid"], &v["combine_mchid"], &v["combine_out_trade_no"]),
        (&json!("wxd678efh567hg6787"), &json!(V3_MCH), &json!("q-combo-1"))
    );
    let subs = v["sub_orders"].as_array().unwrap();
    assert_eq!(subs.len(), 2);
    assert_eq!(
        (&subs[0]["mchid"], &subs[0]["out_trade_no"], &subs[0]["trade_state"]),
        (&json!(V3_MCH), &json!("q-combo-a"), &json!("SUCCESS"))
    );
    assert_eq!(subs[0]["transaction_id"], json!(state.order(&a).unwrap().transaction_id.unwrap()));
    assert_eq!(
        (&subs[0]["amount"]["total_amount"], &subs[0]["amount"]["payer_amount"]),
        (&json!(300), &json!(300))
    );
    assert_eq!(
        (&subs[1]["mchid"], &subs[1]["trade_state"], &subs[1]["amount"]["total_amount"]),
        (&json!(V3_SUB_ORDER), &json!("NOTPAY"), &json!(200))
    );
    assert!(subs[1].get("transaction_id").is_none() && subs[1].get("sub_mchid").is_none());

    // Only the combining merchant's: the service provider finds nothing under that number.
    let other =
        f.query_v3(V3_SP, "/v3/combine-transactions/out-trade-no/q-combo-1", Mode::PublicKey);
    assert_eq!((other.status, other.body["code"].as_str()), (404, Some("ORDER_NOT_EXIST")));

    // A combined close records the combined order it closes; the query then sees it closed.
    let (c, d) = (OrderKey::new(V3_MCH, "q-combo-c"), OrderKey::new(V3_SUB_ORDER, "q-combo-d"));
    state.put_order(c, OrderState::Unpaid);
    state.put_order(d, OrderState::Unpaid);
    let combined = wxpay_core::v3::CloseCombinedOrder::new(
        "wxd678efh567hg6787",
        "q-combo-2",
        vec![
            wxpay_core::v3::SubOrder::new(V3_MCH, "q-combo-c"),
            wxpay_core::v3::SubOrder::new(V3_SUB_ORDER, "q-combo-d"),
        ],
    );
    assert_eq!(f.close(&v3_ctx(V3_MCH), &combined).unwrap(), CloseOutcome::Closed);
    let v =
        f.query_v3(V3_MCH, "/v3/combine-transactions/out-trade-no/q-combo-2", Mode::PublicKey).body;
    let states: Vec<&str> = v["sub_orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["trade_state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["CLOSED", "CLOSED"], "{v}");

    // Through the control API.
    let (status, body) = f.control(
        "POST",
        "orders/combined",
        Some(json!({
            "combine_mchid": V3_MCH, "combine_out_trade_no": "q-combo-3",
            "sub_orders": [{"mchid": V3_MCH, "out_trade_no": "q-combo-a"}],
        })),
    );
    assert_eq!(status, 201, "{body}");
    let v =
        f.query_v3(V3_MCH, "/v3/combine-transactions/out-trade-no/q-combo-3", Mode::PublicKey).body;
    assert_eq!(
        (&v["combine_appid"], &v["sub_orders"][0]["trade_state"]),
        (&json!("wxd678efh567hg6787"), &json!("SUCCESS"))
    );
    let (status, body) = f.control(
        "POST",
        "orders/combined",
        Some(json!({
            "combine_mchid": V3_MCH, "combine_out_trade_no": "q-combo-4",
            "sub_orders": [{"mchid": V3_MCH, "out_trade_no": "q-combo-none"}],
        })),
    );
    assert_eq!(status, 400, "a sub-order that does not exist: {body}");
    let (status, body) = f.control(
        "POST",
        "orders/combined",
        Some(json!({
            "combine_mchid": V3_MCH, "combine_out_trade_no": "q-combo-4",
            "sub_orders": [{"mchid": V3_MCH, "out_trade_no": "q-combo-a", "colour": "red"}],
        })),
    );
    assert_eq!(
        (status, &body["accepted"]),
        (400, &json!(["mchid", "sub_mchid", "out_trade_no"])),
        "{body}"
    );
}

#[test]
fn queries_are_refused_as_closes_are() {
    let f = Fixture::new();
    let state = f.state();
    state.put(
        OrderKey::new(V3_MCH, "q-refuse-1"),
        NewOrder::new(OrderState::Paid, 0).transaction_id("4200000000123"),
    );
    state.put(OrderKey::sub(V3_SP, V3_SUB, "q-refuse-2"), NewOrder::new(OrderState::Unpaid, 0));
    let refused = |mch: &str, target: &str| {
        let a = f.query_v3(mch, target, Mode::PublicKey);
        (a.status, a.body["code"].as_str().unwrap_or_default().to_owned(), a.body)
    };
    let direct = "/v3/pay/transactions/out-trade-no/q-refuse-1";
    for (mch, target, status, code, field) in [
        // Ownership: the merchant ids in the query are the signing merchant's.
        (V3_MCH, format!("{direct}?mchid={V3_SP}"), 400, "INVALID_REQUEST", None),
        (V3_SP, format!("{direct}?mchid={V3_MCH}"), 400, "INVALID_REQUEST", None),
        (V3_MCH, direct.to_owned(), 400, "PARAM_ERROR", Some("mchid")),
        (V3_MCH, format!("{direct}?mch_id={V3_MCH}"), 400, "PARAM_ERROR", Some("mchid")),
        (
            V3_MCH,
            format!("{direct}?mchid={V3_MCH}&mchid={V3_MCH}"),
            400,
            "PARAM_ERROR",
            Some("mchid"),
        ),
        (
            V3_SP,
            format!(
                "/v3/pay/partner/transactions/out-trade-no/q-refuse-2?sp_mchid={V3_SP}&sub_mchid=1999999999"
            ),
            400,
            "INVALID_REQUEST",
            None,
        ),
        (
            V3_SP,
            format!("/v3/pay/partner/transactions/out-trade-no/q-refuse-2?sp_mchid={V3_SP}"),
            400,
            "PARAM_ERROR",
            Some("sub_mchid"),
        ),
        (
            V3_SP,
            format!("/v3/pay/partner/transactions/out-trade-no/q-refuse-2?mchid={V3_SP}"),
            400,
            "PARAM_ERROR",
            Some("sp_mchid"),
        ),
        (
            V3_MCH,
            format!(
                "/v3/pay/partner/transactions/out-trade-no/q-refuse-2?sp_mchid={V3_MCH}&sub_mchid={V3_SUB}"
            ),
            400,
            "INVALID_REQUEST",
            None,
        ),
        (
            V3_MCH,
            format!(
                "/v3/global/transactions/out-trade-no/q-refuse-1?sp_mchid={V3_SP}&sub_mchid={V3_SUB}"
            ),
            400,
            "INVALID_REQUEST",
            None,
        ),
        // A sub-merchant's order asked for by the service provider as its own is not found.
        (
            V3_SP,
            format!("/v3/pay/transactions/out-trade-no/q-refuse-2?mchid={V3_SP}"),
            404,
            "ORDER_NOT_EXIST",
            None,
        ),
        // Order numbers: the core's charsets and lengths.
        (
            V3_MCH,
            format!("/v3/pay/transactions/out-trade-no/q-bad%23char?mchid={V3_MCH}"),
            400,
            "PARAM_ERROR",
            Some("out_trade_no"),
        ),
        (
            V3_MCH,
            format!("/v3/pay/transactions/out-trade-no/abc?mchid={V3_MCH}"),
            400,
            "PARAM_ERROR",
            Some("out_trade_no"),
        ),
        (
            V3_MCH,
            format!("/v3/pay/transactions/out-trade-no/{}?mchid={V3_MCH}", "a".repeat(33)),
            400,
            "PARAM_ERROR",
            Some("out_trade_no"),
        ),
        (
            V3_MCH,
            format!("/v3/pay/transactions/id/42A?mchid={V3_MCH}"),
            400,
            "PARAM_ERROR",
            Some("transaction_id"),
        ),
        (
            V3_MCH,
            format!("/v3/global/transactions/id/{}?mchid={V3_MCH}", "4".repeat(33)),
            400,
            "PARAM_ERROR",
            Some("transaction_id"),
        ),
        (
            V3_MCH,
            "/v3/combine-transactions/out-trade-no/q%20combo".to_owned(),
            400,
            "PARAM_ERROR",
            Some("combine_out_trade_no"),
        ),
        // An unknown merchant.
        ("1999999999", format!("{direct}?mchid=1999999999"), 400, "MCH_NOT_EXISTS", None),
    ] {
        let (got_status, got_code, body) = refused(mch, &target);
        assert_eq!((got_status, got_code.as_str()), (status, code), "{target}: {body}");
        if let Some(field) = field {
            assert_eq!(body["detail"]["field"], field, "{target}: {body}");
        }
    }

    // The signature covers the query string: signed without it, or with another, refused.
    for signed in [direct.to_owned(), format!("{direct}?mchid={V3_SP}")] {
        let req = f.get_signed_over(
            V3_MCH,
            &format!("{direct}?mchid={V3_MCH}"),
            &signed,
            Mode::PublicKey,
        );
        let a = f.v3(req, Mode::PublicKey);
        assert_eq!((a.status, a.body["code"].as_str()), (401, Some("SIGN_ERROR")), "{signed}");
    }
    // Headers, method and body as WeChat Pay requires them.
    let target = format!("{direct}?mchid={V3_MCH}");
    let mut req = f.get(V3_MCH, &target, Mode::PublicKey);
    req.headers_mut().remove("user-agent");
    assert_eq!(f.v3(req, Mode::PublicKey).body["code"], "INVALID_REQUEST");
    let mut req = f.get(V3_MCH, &target, Mode::PublicKey);
    req.headers_mut().insert("accept", "text/html".parse().unwrap());
    assert_eq!(f.v3(req, Mode::PublicKey).body["code"], "INVALID_REQUEST");
    let mut req = f.get(V3_MCH, &target, Mode::PublicKey);
    *req.method_mut() = http::Method::POST;
    assert_eq!(f.v3(req, Mode::PublicKey).status, 405);
    let mut req = f.get(V3_MCH, &target, Mode::PublicKey);
    *req.body_mut() = b"{}".to_vec();
    req.headers_mut().insert("content-type", "application/json".parse().unwrap());
    assert_eq!(f.v3(req, Mode::PublicKey).status, 400);
    let mut req = f.get(V3_MCH, &target, Mode::PublicKey);
    req.headers_mut().remove("authorization");
    assert_eq!(f.v3(req, Mode::PublicKey).status, 401);

    // APIv2: request-level refusals are unsigned `return_code=FAIL`; ownership as the close.
    state.put(
        OrderKey::new(V2_MCH, "q-v2-refuse"),
        NewOrder::new(OrderState::Paid, 0).transaction_id("4200000000777"),
    );
    for (mch, fields, msg) in [
        (V2_MCH, vec![("out_trade_no", "q-bad#char")], "out_trade_no"),
        (V2_MCH, vec![("out_trade_no", &*"A".repeat(33))], "out_trade_no"),
        (V2_MCH, vec![("transaction_id", "42A")], "transaction_id"),
        (
            V2_MCH,
            vec![("transaction_id", "4200000000777"), ("out_trade_no", "q bad")],
            "out_trade_no",
        ),
        (V2_MCH, vec![], "out_trade_no"),
        (V2_MCH, vec![("out_trade_no", "q-v2-refuse"), ("sub_appid", V2_SUB_APPID)], "sub_mch_id"),
        (
            V2_SP,
            vec![("out_trade_no", "q-v2-refuse"), ("sub_mch_id", "1999999999")],
            "SUB_MCH_ID_NOT_EXISTS",
        ),
        (
            V2_SP,
            vec![
                ("out_trade_no", "q-v2-refuse"),
                ("sub_mch_id", V2_SUB),
                ("sub_appid", "wx0000000000000000"),
            ],
            "SUB_APPID_NOT_MATCH",
        ),
    ] {
        let a = f.query_v2(mch, &fields, SignType::Md5);
        assert_eq!(get(&a, "return_code"), Some("FAIL"), "{fields:?}: {a:?}");
        assert!(get(&a, "return_msg").unwrap().contains(msg), "{fields:?}: {a:?}");
    }
    // Another merchant's order, by either number: not found.
    for fields in [
        vec![("out_trade_no", "q-v2-refuse"), ("sub_mch_id", V2_SUB)],
        vec![("transaction_id", "4200000000777"), ("sub_mch_id", V2_SUB)],
    ] {
        let a = f.query_v2(V2_SP, &fields, SignType::HmacSha256);
        assert_eq!(get(&a, "err_code"), Some("ORDERNOTEXIST"), "{fields:?}: {a:?}");
    }
    // A wrong sign, and a GET.
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("{}/pay/orderquery", f.sandbox.base_url()))
        .body(b"<xml><appid>wx2421b1c4370ec43b</appid><mch_id>10000100</mch_id><nonce_str>n1</nonce_str><out_trade_no>q-v2-refuse</out_trade_no><sign>00</sign></xml>".to_vec())
        .unwrap();
    let resp = send(&f.agent, req);
    assert!(String::from_utf8_lossy(resp.body()).contains("SIGNERROR"));
    let req = http::Request::builder()
        .method("GET")
        .uri(format!("{}/pay/orderquery", f.sandbox.base_url()))
        .body(Vec::new())
        .unwrap();
    assert!(String::from_utf8_lossy(send(&f.agent, req).body()).contains("REQUIRE_POST_METHOD"));
}

#[test]
fn a_paying_order_over_time() {
    let f = Fixture::new();
    let state = f.state();
    let v3 = v3_ctx(V3_MCH);
    let v2 = v2_ctx(V2_MCH);
    // Paying for 2 seconds, then paid; another then unpaid (through the control API).
    state.put(
        OrderKey::new(V3_MCH, "q-paying-1"),
        NewOrder::new(OrderState::Unpaid, now() - 3600).paying(2, OrderState::Paid),
    );
    let (status, body) = f.control("POST", "orders", Some(json!({"mchid": V3_MCH, "out_trade_no": "q-paying-2", "state": "paying", "paying_secs": 2, "then": "unpaid"})));
    assert_eq!(status, 201, "{body}");
    state.put(
        OrderKey::new(V2_MCH, "q-paying-3"),
        NewOrder::new(OrderState::Unpaid, now() - 3600).paying(2, OrderState::Paid),
    );
    let query = |no: &str| {
        let target = format!("/v3/pay/transactions/out-trade-no/{no}?mchid={V3_MCH}");
        f.query_v3(V3_MCH, &target, Mode::PublicKey).body
    };
    for no in ["q-paying-1", "q-paying-2"] {
        assert_eq!(query(no)["trade_state"], "USERPAYING", "{no}");
    }
    let (_, v) = f.control("GET", &format!("orders?mchid={V3_MCH}&out_trade_no=q-paying-2"), None);
    assert_eq!(
        (&v["state"], &v["trade_state"], &v["then"]),
        (&json!("paying"), &json!("USERPAYING"), &json!("unpaid")),
        "{v}"
    );
    assert!(v["paying_until"].as_u64().unwrap() > now(), "{v}");
    let v2_state = |no: &str| {
        let a = f.query_v2(V2_MCH, &[("out_trade_no", no)], SignType::Md5);
        (get(&a, "trade_state").map(str::to_owned), get(&a, "transaction_id").map(str::to_owned))
    };
    assert_eq!(v2_state("q-paying-3"), (Some("USERPAYING".into()), None));

    // A close while the payer pays: APIv3 202 USER_PAYING, read by the core as "unknown"
    // (not a close); APIv2 a signed USERPAYING, read as a refusal. The order is untouched.
    let e = f.close(&v3, &CloseOrderV3::new("q-paying-1")).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Decode(d) if d.status == 202), "{e:?}");
    assert_eq!(e.order_effect().as_str(), "unknown");
    let e = f.close(&v2, &CloseOrderV2::new("q-paying-3")).unwrap_err();
    assert_eq!(e.api().unwrap().code.as_str(), "USERPAYING", "{e:?}");
    assert_eq!(e.order_effect().as_str(), "refused");
    let o = state.order(&OrderKey::new(V3_MCH, "q-paying-1")).unwrap();
    assert_eq!((o.state, o.close_calls, o.closes), (OrderState::Paying, 1, 0));

    std::thread::sleep(Duration::from_millis(2100));
    let paid = query("q-paying-1");
    assert_eq!(paid["trade_state"], "SUCCESS", "{paid}");
    assert!(paid["transaction_id"].as_str().is_some() && paid["success_time"].as_str().is_some());
    assert_eq!(query("q-paying-2")["trade_state"], "NOTPAY");
    let (trade_state, transaction_id) = v2_state("q-paying-3");
    assert_eq!((trade_state.as_deref(), transaction_id.is_some()), (Some("SUCCESS"), true));
    assert_eq!(f.close(&v3, &CloseOrderV3::new("q-paying-1")).unwrap(), CloseOutcome::Paid);
    assert_eq!(f.close(&v3, &CloseOrderV3::new("q-paying-2")).unwrap(), CloseOutcome::Closed);
    assert_eq!(query("q-paying-2")["trade_state"], "CLOSED");

    // The other states close as documented: refunded is paid, revoked already closed, a
    // failed payment closes.
    for (st, outcome) in [
        (OrderState::Refunded, CloseOutcome::Paid),
        (OrderState::Revoked, CloseOutcome::AlreadyClosed),
        (OrderState::PayError, CloseOutcome::Closed),
    ] {
        let no = format!("q-closes-{}", st.as_str());
        state.put_order(OrderKey::new(V3_MCH, &no), st);
        state.put_order(OrderKey::new(V2_MCH, &no), st);
        assert_eq!(f.close(&v3, &CloseOrderV3::new(&no)).unwrap(), outcome, "{st:?}");
        assert_eq!(f.close(&v2, &CloseOrderV2::new(&no)).unwrap(), outcome, "{st:?}");
    }
}

#[test]
fn the_faults_of_a_confirmed_close() {
    let f = Fixture::new();
    let state = f.state();
    let v3 = v3_ctx(V3_MCH);
    let v2 = v2_ctx(V2_MCH);
    let direct = |no: &str| format!("/v3/pay/transactions/out-trade-no/{no}?mchid={V3_MCH}");

    // pay_during_close: the payer pays as the close arrives; the close answers "paid".
    for no in ["q-fault-pay-1", "q-fault-pay-2"] {
        state.put_order(OrderKey::new(V3_MCH, no), OrderState::Unpaid);
        state.put_order(OrderKey::new(V2_MCH, no), OrderState::Unpaid);
    }
    state.add_fault(FaultRule::next(Fault::PayDuringClose, 1).on(Route::V3Direct));
    assert_eq!(f.close(&v3, &CloseOrderV3::new("q-fault-pay-1")).unwrap(), CloseOutcome::Paid);
    let o = state.order(&OrderKey::new(V3_MCH, "q-fault-pay-1")).unwrap();
    assert_eq!((o.state, o.transaction_id.is_some(), o.closes), (OrderState::Paid, true, 0));
    assert_eq!(
        f.query_v3(V3_MCH, &direct("q-fault-pay-1"), Mode::PublicKey).body["transaction_id"],
        json!(o.transaction_id)
    );
    state.add_fault(FaultRule::next(Fault::PayDuringClose, 1).on(Route::V2Close));
    assert_eq!(f.close(&v2, &CloseOrderV2::new("q-fault-pay-1")).unwrap(), CloseOutcome::Paid);
    // On a query route: the query finds it paid.
    state.add_fault(FaultRule::next(Fault::PayDuringClose, 1).on(Route::V3Query));
    assert_eq!(
        f.query_v3(V3_MCH, &direct("q-fault-pay-2"), Mode::PublicKey).body["trade_state"],
        "SUCCESS"
    );

    // user_paying: 202 USER_PAYING, and the order pays for `paying_secs`, then is unpaid.
    state.put_order(OrderKey::new(V3_MCH, "q-fault-paying"), OrderState::Unpaid);
    let (status, body) = f.control(
        "POST",
        "faults",
        Some(
            json!({"fault": "user_paying", "endpoint": "v3_direct", "paying_secs": 2, "times": 1}),
        ),
    );
    assert_eq!(status, 201, "{body}");
    let e = f.close(&v3, &CloseOrderV3::new("q-fault-paying")).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Decode(d) if d.status == 202), "{e:?}");
    assert_eq!(
        f.query_v3(V3_MCH, &direct("q-fault-paying"), Mode::PublicKey).body["trade_state"],
        "USERPAYING"
    );
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(
        f.query_v3(V3_MCH, &direct("q-fault-paying"), Mode::PublicKey).body["trade_state"],
        "NOTPAY"
    );
    assert_eq!(f.close(&v3, &CloseOrderV3::new("q-fault-paying")).unwrap(), CloseOutcome::Closed);
    // On APIv2: a signed USERPAYING; the default time is 5 seconds.
    state.put_order(OrderKey::new(V2_MCH, "q-fault-paying"), OrderState::Unpaid);
    state.add_fault(FaultRule::next(Fault::UserPaying, 1).on(Route::V2Close));
    let e = f.close(&v2, &CloseOrderV2::new("q-fault-paying")).unwrap_err();
    assert_eq!(e.api().unwrap().code.as_str(), "USERPAYING");
    let o = state.order(&OrderKey::new(V2_MCH, "q-fault-paying")).unwrap();
    assert_eq!(o.state, OrderState::Paying);
    let until = o.paying.unwrap().until;
    assert!((now() + 4..=now() + 5).contains(&until), "{until}");

    // query_other_order: signed, verifies, and is about another order.
    state.put(
        OrderKey::new(V3_MCH, "q-fault-other"),
        NewOrder::new(OrderState::Paid, 0).transaction_id("4200000000555"),
    );
    state.put(
        OrderKey::new(V2_MCH, "q-fault-other"),
        NewOrder::new(OrderState::Paid, 0).transaction_id("4200000000555"),
    );
    state.add_fault(FaultRule::always(Fault::QueryOtherOrder).for_order("q-fault-other"));
    let a = f.query_v3(V3_MCH, &direct("q-fault-other"), Mode::Certificate);
    assert_eq!(a.status, 200);
    assert_ne!(a.body["out_trade_no"], "q-fault-other", "{}", a.body);
    assert!(a.body["transaction_id"].as_str().is_some_and(|t| t != "4200000000555"), "{}", a.body);
    assert_eq!(a.body["mchid"], V3_MCH);
    let a = f.query_v2(V2_MCH, &[("out_trade_no", "q-fault-other")], SignType::HmacSha256);
    assert_eq!(get(&a, "result_code"), Some("SUCCESS"));
    assert_ne!(get(&a, "out_trade_no"), Some("q-fault-other"));
    assert!(get(&a, "transaction_id").is_some_and(|t| t != "4200000000555"));
    // Scoped by transaction_id on a by-id route; and a combined order's.
    state.clear_faults();
    state.add_fault(FaultRule::next(Fault::QueryOtherOrder, 1).for_order("4200000000555"));
    let a = f.query_v3(
        V3_MCH,
        &format!("/v3/pay/transactions/id/4200000000555?mchid={V3_MCH}"),
        Mode::PublicKey,
    );
    assert_ne!(a.body["transaction_id"], "4200000000555", "{}", a.body);
    state.put_combined(
        V3_MCH,
        "q-fault-combo",
        CombinedOrder {
            combine_appid: "wxd678efh567hg6787".into(),
            sub_orders: vec![OrderKey::new(V3_MCH, "q-fault-other")],
        },
    );
    state.add_fault(FaultRule::next(Fault::QueryOtherOrder, 1).on(Route::V3CombinedQuery));
    let v = f
        .query_v3(V3_MCH, "/v3/combine-transactions/out-trade-no/q-fault-combo", Mode::PublicKey)
        .body;
    assert_ne!(v["combine_out_trade_no"], "q-fault-combo");
    assert_ne!(v["sub_orders"][0]["out_trade_no"], "q-fault-other");
    // Not found: still a 200 about some other order.
    state.add_fault(FaultRule::next(Fault::QueryOtherOrder, 1).on(Route::V3Query));
    let a = f.query_v3(V3_MCH, &direct("q-fault-nothing"), Mode::PublicKey);
    assert_eq!((a.status, &a.body["trade_state"]), (200, &json!("NOTPAY")));

    // replay on the query routes: the route's last genuine answer, byte for byte.
    state.clear_faults();
    state.put_order(OrderKey::new(V3_MCH, "q-replay-a"), OrderState::Paid);
    state.put_order(OrderKey::new(V3_MCH, "q-replay-b"), OrderState::Unpaid);
    let first = f.query_v3(V3_MCH, &direct("q-replay-a"), Mode::PublicKey);
    state.add_fault(FaultRule::next(Fault::Replay, 1).on(Route::V3Query));
    let again = f.query_v3(V3_MCH, &direct("q-replay-b"), Mode::PublicKey);
    assert_eq!(again.raw, first.raw);
    assert_eq!(again.body["out_trade_no"], "q-replay-a");
    for h in ["wechatpay-signature", "wechatpay-timestamp", "wechatpay-nonce", "wechatpay-serial"] {
        assert_eq!(again.headers.get(h), first.headers.get(h), "{h}");
    }
    state.put_order(OrderKey::new(V2_MCH, "q-replay-a"), OrderState::Paid);
    state.put_order(OrderKey::new(V2_MCH, "q-replay-b"), OrderState::Unpaid);
    let first = f.query_v2(V2_MCH, &[("out_trade_no", "q-replay-a")], SignType::Md5);
    state.add_fault(FaultRule::next(Fault::Replay, 1).on(Route::V2Query));
    let again = f.query_v2(V2_MCH, &[("out_trade_no", "q-replay-b")], SignType::Md5);
    assert_eq!(again, first);

    // The close faults apply to queries too.
    state.add_fault(FaultRule::next(Fault::SystemError, 1).on(Route::V3Query));
    let a = f.query_v3(V3_MCH, &direct("q-replay-a"), Mode::PublicKey);
    assert_eq!((a.status, a.body["code"].as_str()), (500, Some("SYSTEM_ERROR")));
    state.add_fault(FaultRule::next(Fault::BadSignature, 1).on(Route::V3Query));
    let resp = send(&f.agent, f.get(V3_MCH, &direct("q-replay-a"), Mode::PublicKey));
    let (parts, body) = resp.into_parts();
    assert!(
        verify_response(&creds().public_key_verifier(), &parts.headers, &body, now(), 300).is_err()
    );
    state.add_fault(FaultRule::next(Fault::SystemError, 1).on(Route::V2Query));
    let a = f.query_v2(V2_MCH, &[("out_trade_no", "q-replay-a")], SignType::Md5);
    assert_eq!(get(&a, "err_code"), Some("SYSTEMERROR"));
}

#[test]
fn the_control_api_lists_the_queries() {
    let f = Fixture::new();
    let (_, v) = f.control("GET", "", None);
    let endpoints: Vec<&str> =
        v["endpoints"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    for route in [
        "v2_query",
        "v3_query",
        "v3_id_query",
        "v3_partner_query",
        "v3_partner_id_query",
        "v3_combined_query",
        "v3_global_query",
        "v3_global_id_query",
    ] {
        assert!(endpoints.contains(&route), "{route}: {endpoints:?}");
        let (status, body) = f.control(
            "POST",
            "faults",
            Some(json!({"fault": "replay", "endpoint": route, "times": 1})),
        );
        assert_eq!(status, 201, "{route}: {body}");
    }
    let faults: Vec<&str> =
        v["faults"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    for name in ["pay_during_close", "query_other_order", "user_paying", "replay"] {
        assert!(faults.contains(&name), "{name}");
    }
    for state in ["refunded", "revoked", "payerror", "paying"] {
        assert!(v["order_states"].as_array().unwrap().contains(&json!(state)), "{state}");
    }
    let orders = v["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == "/__sandbox/orders" && r["method"] == "POST")
        .unwrap();
    for field in ["total", "paying_secs", "then"] {
        assert!(orders["fields"].as_array().unwrap().contains(&json!(field)), "{field}");
    }

    // Every state through the control API, with an amount and a number.
    for (i, state) in ["unpaid", "paid", "closed", "refunded", "revoked", "payerror", "paying"]
        .into_iter()
        .enumerate()
    {
        let no = format!("q-ctl-{state}");
        let (status, body) = f.control("POST", "orders", Some(json!({"mchid": V3_MCH, "out_trade_no": no, "state": state, "total": 500 + i, "transaction_id": format!("42000000009{i}")})));
        assert_eq!(status, 201, "{body}");
        let (_, o) = f.control("GET", &format!("orders?mchid={V3_MCH}&out_trade_no={no}"), None);
        assert_eq!(
            (&o["state"], &o["total"], &o["transaction_id"]),
            (&json!(state), &json!(500 + i), &json!(format!("42000000009{i}"))),
            "{o}"
        );
        let a = f.query_v3(
            V3_MCH,
            &format!("/v3/pay/transactions/id/42000000009{i}?mchid={V3_MCH}"),
            Mode::PublicKey,
        );
        assert_eq!(
            (&a.body["out_trade_no"], &a.body["amount"]["total"]),
            (&json!(no), &json!(500 + i))
        );
    }
    // Paying by default: 5 seconds, then unpaid.
    let (_, o) =
        f.control("GET", &format!("orders?mchid={V3_MCH}&out_trade_no=q-ctl-paying"), None);
    assert_eq!(o["then"], "unpaid");
    assert!((now() + 4..=now() + 5).contains(&o["paying_until"].as_u64().unwrap()), "{o}");
    // Paying an order gives it a number.
    f.control("POST", "orders", Some(json!({"mchid": V3_MCH, "out_trade_no": "q-ctl-topay"})));
    let (status, paid) = f.control(
        "POST",
        "orders/pay",
        Some(json!({"mchid": V3_MCH, "out_trade_no": "q-ctl-topay"})),
    );
    assert_eq!(status, 200);
    assert_eq!(paid["transaction_id"].as_str().unwrap().len(), 28, "{paid}");
    assert_eq!(
        f.control(
            "POST",
            "orders/pay",
            Some(json!({"mchid": V3_MCH, "out_trade_no": "q-ctl-revoked"}))
        )
        .0,
        409
    );

    // Refused: paying fields on another state, `then` other than paid or unpaid, and
    // `paying_secs` on another fault.
    for body in [
        json!({"mchid": V3_MCH, "out_trade_no": "q-ctl-x", "state": "paid", "paying_secs": 3}),
        json!({"mchid": V3_MCH, "out_trade_no": "q-ctl-x", "then": "paid"}),
        json!({"mchid": V3_MCH, "out_trade_no": "q-ctl-x", "state": "paying", "then": "closed"}),
        json!({"mchid": V3_MCH, "out_trade_no": "q-ctl-x", "state": "paying", "paying_secs": -1}),
        json!({"mchid": V3_MCH, "out_trade_no": "q-ctl-x", "total": "100"}),
    ] {
        let (status, v) = f.control("POST", "orders", Some(body.clone()));
        assert_eq!(status, 400, "{body}: {v}");
    }
    let (_, v) = f.control("POST", "orders", Some(json!({"mchid": V3_MCH, "out_trade_no": "q-ctl-x", "state": "paying", "then": "closed"})));
    assert_eq!(v["accepted"], json!(["paid", "unpaid"]));
    let (status, v) =
        f.control("POST", "faults", Some(json!({"fault": "system_error", "paying_secs": 3})));
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("`paying_secs` is not a parameter of `system_error`"),
        "{v}"
    );
    assert!(f.state().order(&OrderKey::new(V3_MCH, "q-ctl-x")).is_none());
}
