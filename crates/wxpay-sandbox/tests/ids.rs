//! Every merchant the sandbox presents has an id of its own (issue #20): no id serves two
//! roles across the `Merchant`s, the `Credentials`, the `WXPAY_*` exports and the control
//! API; and the shared vectors' ids, which the sandbox does not present, are refused as WeChat
//! Pay refuses them unless the sandbox is told to accept them (`accept_vector_ids`), so that
//! the vectors' requests replay as sent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use wxpay_blocking::{Client, CloseOutcome};
use wxpay_core::v3::{CloseCombinedOrder, SubOrder};
use wxpay_sandbox::merchants::{
    V2_MERCHANTS, V3_MERCHANTS, V3_SUB_MCHID, V3_SUB_ORDER_MCHID, V3_VECTOR_SUB_MCHID,
};
use wxpay_sandbox::{Credentials, Merchant, OrderKey, OrderState, SandboxConfig, SandboxThread};

/// Asserts the `(role, id)`s are pairwise distinct, naming the roles that share one.
fn assert_distinct(what: &str, ids: &[(&str, String)]) {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (role, id) in ids {
        if let Some(other) = seen.insert(id, role) {
            panic!("{what}: {id} is both the {other} and the {role}: {ids:?}");
        }
    }
}

fn var(vars: &[(&'static str, String)], name: &str) -> String {
    vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()).unwrap_or_else(|| {
        panic!("{name} is not exported: {vars:?}");
    })
}

/// Sends `req` exactly as built; the status and body.
fn send(req: http::Request<Vec<u8>>) -> (u16, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .user_agent(ureq::config::AutoHeaderValue::None)
        .accept(ureq::config::AutoHeaderValue::None)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let resp = agent.run(req).unwrap();
    let status = resp.status().as_u16();
    (status, resp.into_body().read_to_vec().unwrap())
}

/// The merchant and sub-merchant of `merchant`'s orders.
fn ids_of(merchant: Merchant) -> (String, Option<String>) {
    let key = merchant.order_key("x");
    (key.mchid, key.sub_mchid)
}

#[test]
fn presented_ids_are_pairwise_distinct_across_roles() {
    let dir = std::env::temp_dir().join(format!("wxpay-sandbox-ids-{}", std::process::id()));
    let creds = Credentials { base_url: "http://127.0.0.1:9".into() };
    let vars = creds.write_key_files(&dir).unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    // The merchant ids, as exported.
    let mchids = [
        ("APIv2 merchant", var(&vars, "WXPAY_MCH_ID")),
        ("APIv2 service provider", var(&vars, "WXPAY_SANDBOX_V2_SP_MCH_ID")),
        ("APIv2 sub-merchant", var(&vars, "WXPAY_SANDBOX_V2_SUB_MCH_ID")),
        ("APIv3 direct merchant", var(&vars, "WXPAY_MCHID")),
        ("APIv3 service provider", var(&vars, "WXPAY_SANDBOX_V3_SP_MCHID")),
        ("APIv3 sub-merchant", var(&vars, "WXPAY_SANDBOX_V3_SUB_MCHID")),
        ("combined sub-order merchant", var(&vars, "WXPAY_SANDBOX_V3_SUB_ORDER_MCHID")),
    ];
    assert_distinct("merchant ids", &mchids);
    let id = |role: &str| mchids.iter().find(|(r, _)| *r == role).unwrap().1.clone();
    // The vector id the sandbox only accepts is presented in one role only: the APIv2
    // service provider's.
    assert_eq!(id("APIv2 service provider"), V3_VECTOR_SUB_MCHID);
    assert_eq!(id("APIv3 sub-merchant"), V3_SUB_MCHID);
    assert_eq!(id("combined sub-order merchant"), V3_SUB_ORDER_MCHID);

    // The Merchants speak as the same ids.
    assert_eq!(ids_of(Merchant::V2Common), (id("APIv2 merchant"), None));
    assert_eq!(
        ids_of(Merchant::V2Institutional),
        (id("APIv2 service provider"), Some(id("APIv2 sub-merchant")))
    );
    assert_eq!(ids_of(Merchant::V3Direct), (id("APIv3 direct merchant"), None));
    assert_eq!(
        ids_of(Merchant::V3Partner),
        (id("APIv3 service provider"), Some(id("APIv3 sub-merchant")))
    );
    // And so do the merchant lists' presented entries.
    assert_eq!(V3_MERCHANTS[0].presented_combined_with(), [V3_SUB_ORDER_MCHID]);
    assert_eq!(V3_MERCHANTS[1].presented_subs(), [V3_SUB_MCHID]);
    assert_eq!(V3_MERCHANTS[0].vector_combined_with(), [V3_VECTOR_SUB_MCHID]);
    assert_eq!(V3_MERCHANTS[1].vector_subs(), [V3_VECTOR_SUB_MCHID]);

    // The apps: each merchant's, the sub-merchants' included.
    let v3_sub_appid = V3_MERCHANTS[1].sub_appids[0].to_owned();
    let appids = [
        ("APIv2 merchant's app", var(&vars, "WXPAY_APPID")),
        ("APIv2 service provider's app", var(&vars, "WXPAY_SANDBOX_V2_SP_APPID")),
        ("APIv2 sub-merchant's app", V2_MERCHANTS[1].subs[0].1.to_owned()),
        ("APIv3 direct merchant's app", V3_MERCHANTS[0].appid.to_owned()),
        ("APIv3 service provider's app", V3_MERCHANTS[1].appid.to_owned()),
        ("APIv3 sub-merchant's app", v3_sub_appid),
    ];
    assert_distinct("appids", &appids);
}

#[test]
fn the_control_api_presents_the_same_ids_and_names_the_vector_ids_apart() {
    for accept_vector_ids in [false, true] {
        let config = SandboxConfig { accept_vector_ids, ..SandboxConfig::default() };
        let sandbox = SandboxThread::start(config).unwrap();
        let url = format!("{}/__sandbox/merchants", sandbox.base_url());
        let req = http::Request::get(url).body(Vec::new()).unwrap();
        let (status, body) = send(req);
        assert_eq!(status, 200);
        let v: Value = serde_json::from_slice(&body).unwrap();
        let m = &v["merchants"];
        assert_eq!(m[0]["mchid"], "1900000001", "{v}");
        assert_eq!(m[0]["sub_order_mchids"], json!([V3_SUB_ORDER_MCHID]), "{v}");
        let vectors = &m[0]["accepted_for_vectors"];
        assert_eq!(vectors["sub_order_mchids"], json!([V3_VECTOR_SUB_MCHID]), "{v}");
        // Whether this run accepts them.
        assert_eq!(vectors["accepted"], accept_vector_ids, "{v}");
        assert_eq!(m[1]["mchid"], "1230000109", "{v}");
        assert_eq!(m[1]["appid"], V3_MERCHANTS[1].appid, "{v}");
        assert_eq!(m[1]["sub_mchids"], json!([V3_SUB_MCHID]), "{v}");
        let vectors = &m[1]["accepted_for_vectors"];
        assert_eq!(vectors["sub_mchids"], json!([V3_VECTOR_SUB_MCHID]), "{v}");
        assert_eq!(vectors["accepted"], accept_vector_ids, "{v}");
    }
}

/// With `accept_vector_ids`, the shared vectors' APIv3 partner request, replayed byte for byte
/// with their ids (`sp_mchid` 1230000109, `sub_mchid` 1900000109), is accepted; so are the
/// vectors' ids through a client (the partner and the combined close), beside the presented
/// ones.
#[test]
fn the_vector_ids_replay_when_accepted() {
    let sandbox = SandboxThread::start(SandboxConfig {
        min_close_delay_secs: 0,
        request_window_secs: None,
        accept_vector_ids: true,
        ..SandboxConfig::default()
    })
    .unwrap();
    let v = partner_close_vector();
    assert_eq!(v["body"], r#"{"sp_mchid":"1230000109","sub_mchid":"1900000109"}"#);
    let no = "1217752501201407033233368018";
    let key = OrderKey::sub("1230000109", V3_VECTOR_SUB_MCHID, no);
    sandbox.state().put_order(key.clone(), OrderState::Unpaid);
    let req = vector_request(sandbox.base_url(), &v);
    let (status, body) = send(req);
    assert_eq!(status, 204, "the vector request replays: {}", String::from_utf8_lossy(&body));
    assert_eq!(sandbox.state().order(&key).unwrap().state, OrderState::Closed);

    // Through a client: the partner close for the vectors' sub-merchant, and a combined close
    // with a sub-order of the vectors' sub-order merchant, as the core's vectors build them.
    let partner = Client::new(sandbox.client_config(Merchant::V3Partner).build().unwrap()).unwrap();
    let key = OrderKey::sub("1230000109", V3_VECTOR_SUB_MCHID, "vector-sub-1");
    sandbox.state().put_order(key, OrderState::Unpaid);
    let close =
        wxpay_core::v3::CloseOrderV3::new("vector-sub-1").for_sub_merchant(V3_VECTOR_SUB_MCHID);
    assert_eq!(partner.close(close).unwrap(), CloseOutcome::Closed);

    let direct = Client::new(sandbox.client_config(Merchant::V3Direct).build().unwrap()).unwrap();
    for (mchid, no) in [
        ("1900000001", "vector-comb-a"),
        (V3_VECTOR_SUB_MCHID, "vector-comb-b"),
        (V3_SUB_ORDER_MCHID, "vector-comb-c"),
    ] {
        sandbox.state().put_order(OrderKey::new(mchid, no), OrderState::Unpaid);
    }
    let combined = CloseCombinedOrder::new(
        "wxd678efh567hg6787",
        "vector-comb",
        vec![
            SubOrder::new("1900000001", "vector-comb-a"),
            SubOrder::new(V3_VECTOR_SUB_MCHID, "vector-comb-b"),
            SubOrder::new(V3_SUB_ORDER_MCHID, "vector-comb-c"),
        ],
    );
    assert_eq!(direct.close(combined).unwrap(), CloseOutcome::Closed);
    let b = sandbox.state().order(&OrderKey::new(V3_VECTOR_SUB_MCHID, "vector-comb-b")).unwrap();
    assert_eq!(b.state, OrderState::Closed);
}

/// The error a client got: status, code, message, detail; and whether it was signed.
fn api_error(e: &wxpay_blocking::Error) -> (u16, String, String, Option<Value>, bool) {
    match e.kind() {
        wxpay_core::ErrorKind::Api(a) => {
            (a.status, a.code.as_str().to_owned(), a.message.clone(), a.detail.clone(), a.verified)
        }
        other => panic!("not an API error: {other}"),
    }
}

/// A client that gives the shared vectors' id as its APIv3 sub-merchant (say, the APIv2 service
/// provider's `WXPAY_SANDBOX_V2_SP_MCH_ID` for `WXPAY_SANDBOX_V3_SUB_MCHID`) or as a combined
/// sub-order's merchant would be refused by WeChat Pay, so the sandbox refuses it too unless it
/// is told to accept the vector ids: with its signed answer to a sub-merchant that is not the
/// service provider's (or a sub-order merchant the merchant does not combine for). The orders
/// stay unpaid.
#[test]
fn the_vector_ids_are_refused_by_default() {
    let sandbox = SandboxThread::start(SandboxConfig {
        min_close_delay_secs: 0,
        request_window_secs: None,
        ..SandboxConfig::default()
    })
    .unwrap();
    let state = sandbox.state();
    let partner = Client::new(sandbox.client_config(Merchant::V3Partner).build().unwrap()).unwrap();

    // What the sandbox answers for a sub-merchant that is not the service provider's.
    let unknown = "1900000999";
    state.put_order(OrderKey::sub("1230000109", unknown, "unknown-sub-1"), OrderState::Unpaid);
    let close = wxpay_core::v3::CloseOrderV3::new("unknown-sub-1").for_sub_merchant(unknown);
    let refusal = api_error(&partner.close(close).unwrap_err());
    assert_eq!((refusal.0, refusal.1.as_str()), (400, "INVALID_REQUEST"), "{refusal:?}");
    assert!(refusal.4, "a signed answer: {refusal:?}");

    // The vectors' sub-merchant, through a client: the same answer; the order unpaid.
    let key = OrderKey::sub("1230000109", V3_VECTOR_SUB_MCHID, "lax-sub-1");
    state.put_order(key.clone(), OrderState::Unpaid);
    let close =
        wxpay_core::v3::CloseOrderV3::new("lax-sub-1").for_sub_merchant(V3_VECTOR_SUB_MCHID);
    assert_eq!(api_error(&partner.close(close).unwrap_err()), refusal);
    assert_eq!(state.order(&key).unwrap().state, OrderState::Unpaid);
    // Its query too.
    let query = wxpay_core::v3::QueryOrderV3::by_out_trade_no("lax-sub-1")
        .for_sub_merchant(V3_VECTOR_SUB_MCHID);
    assert_eq!(api_error(&partner.query(query).unwrap_err()), refusal);

    // The vectors' partner close, byte for byte: the same answer.
    let v = partner_close_vector();
    let no = "1217752501201407033233368018";
    let key = OrderKey::sub("1230000109", V3_VECTOR_SUB_MCHID, no);
    state.put_order(key.clone(), OrderState::Unpaid);
    let req = vector_request(sandbox.base_url(), &v);
    let (status, body) = send(req);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((status, body["code"].as_str()), (400, Some("INVALID_REQUEST")), "{body}");
    assert_eq!(body["message"].as_str(), Some(refusal.2.as_str()), "{body}");
    assert_eq!(state.order(&key).unwrap().state, OrderState::Unpaid);

    // A combined order with a sub-order of the vectors' sub-order merchant: refused as a
    // sub-order of any merchant the direct merchant does not combine for.
    let direct = Client::new(sandbox.client_config(Merchant::V3Direct).build().unwrap()).unwrap();
    let combined = |other: &str, tag: &str| {
        let (a, b) = (format!("{tag}-a"), format!("{tag}-b"));
        state.put_order(OrderKey::new("1900000001", &a), OrderState::Unpaid);
        state.put_order(OrderKey::new(other, &b), OrderState::Unpaid);
        let close = CloseCombinedOrder::new(
            "wxd678efh567hg6787",
            tag,
            vec![SubOrder::new("1900000001", &a), SubOrder::new(other, &b)],
        );
        let e = api_error(&direct.close(close).unwrap_err());
        for (mchid, no) in [("1900000001", &a), (other, &b)] {
            assert_eq!(state.order(&OrderKey::new(mchid, no)).unwrap().state, OrderState::Unpaid);
        }
        e
    };
    let not_combined = combined("1900000998", "lax-comb-u");
    assert_eq!((not_combined.0, not_combined.1.as_str()), (400, "INVALID_REQUEST"));
    assert!(not_combined.4, "a signed answer: {not_combined:?}");
    let vector = combined(V3_VECTOR_SUB_MCHID, "lax-comb-v");
    assert_eq!((vector.0, &vector.1, &vector.2), (400, &not_combined.1, &not_combined.2));
    assert_eq!(vector.3.as_ref().unwrap()["value"], V3_VECTOR_SUB_MCHID, "{vector:?}");
}

/// A combined sub-order's `sub_mchid` is a sub-merchant of that sub-order's merchant, as a
/// partner close's `sub_mchid` is the service provider's: any other is refused with the same
/// answer, and no order is closed.
#[test]
fn a_combined_sub_order_sub_mchid_is_the_sub_order_merchants() {
    let sandbox =
        SandboxThread::start(SandboxConfig { min_close_delay_secs: 0, ..SandboxConfig::default() })
            .unwrap();
    let state = sandbox.state();
    let direct = Client::new(sandbox.client_config(Merchant::V3Direct).build().unwrap()).unwrap();
    let partner = Client::new(sandbox.client_config(Merchant::V3Partner).build().unwrap()).unwrap();
    let unpaid = |key: &OrderKey| state.order(key).unwrap().state == OrderState::Unpaid;

    // The direct merchant's combined order, whose second sub-order names a sub-merchant that
    // the sub-order merchant does not have (it has none).
    let a = OrderKey::new("1900000001", "comb-sub-a");
    let b = OrderKey::sub(V3_SUB_ORDER_MCHID, V3_SUB_MCHID, "comb-sub-b");
    state.put_order(a.clone(), OrderState::Unpaid);
    state.put_order(b.clone(), OrderState::Unpaid);
    let close = CloseCombinedOrder::new(
        "wxd678efh567hg6787",
        "comb-sub",
        vec![
            SubOrder::new("1900000001", "comb-sub-a"),
            SubOrder::new(V3_SUB_ORDER_MCHID, "comb-sub-b").for_sub_merchant(V3_SUB_MCHID),
        ],
    );
    let e = api_error(&direct.close(close).unwrap_err());
    assert_eq!((e.0, e.1.as_str()), (400, "INVALID_REQUEST"), "{e:?}");
    assert!(e.4, "a signed answer: {e:?}");
    assert_eq!(e.3.as_ref().unwrap()["field"], "sub_orders[1].sub_mchid", "{e:?}");
    assert!(unpaid(&a) && unpaid(&b));

    // The service provider's combined order for its sub-merchant: its own sub-merchant
    // closes; another is refused with the partner close's answer to a sub-merchant not its own.
    let unknown = "1900000999";
    state.put_order(OrderKey::sub("1230000109", unknown, "comb-sp-x"), OrderState::Unpaid);
    let close = wxpay_core::v3::CloseOrderV3::new("comb-sp-x").for_sub_merchant(unknown);
    let partner_refusal = api_error(&partner.close(close).unwrap_err());
    let key = OrderKey::sub("1230000109", unknown, "comb-sp-1");
    state.put_order(key.clone(), OrderState::Unpaid);
    let close = CloseCombinedOrder::new(
        "wxd678efh567hg6787",
        "comb-sp",
        vec![SubOrder::new("1230000109", "comb-sp-1").for_sub_merchant(unknown)],
    );
    let e = api_error(&partner.close(close).unwrap_err());
    assert_eq!((e.0, &e.1, &e.2), (partner_refusal.0, &partner_refusal.1, &partner_refusal.2));
    assert_eq!(e.3.as_ref().unwrap()["value"], unknown, "{e:?}");
    assert!(unpaid(&key));
    let key = OrderKey::sub("1230000109", V3_SUB_MCHID, "comb-sp-2");
    state.put_order(key.clone(), OrderState::Unpaid);
    let close = CloseCombinedOrder::new(
        "wxd678efh567hg6787",
        "comb-sp2",
        vec![SubOrder::new("1230000109", "comb-sp-2").for_sub_merchant(V3_SUB_MCHID)],
    );
    assert_eq!(partner.close(close).unwrap(), CloseOutcome::Closed);
    assert_eq!(state.order(&key).unwrap().state, OrderState::Closed);
}

/// A vector request as recorded (its signature over its own bytes), sent to `base_url`.
/// The shared vectors' recorded APIv3 partner close.
fn partner_close_vector() -> Value {
    let vectors: Value = serde_json::from_str(include_str!("vectors/close_order.json")).unwrap();
    let requests = vectors["v3"]["requests"].as_array().unwrap();
    let v = requests.iter().find(|v| v["name"] == "close_partner");
    v.expect("the vectors' partner close").clone()
}

fn vector_request(base_url: &str, v: &Value) -> http::Request<Vec<u8>> {
    http::Request::post(format!("{base_url}{}", v["path"].as_str().unwrap()))
        .header("Authorization", v["authorization"].as_str().unwrap())
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .header("User-Agent", "vector-replay")
        .body(v["body"].as_str().unwrap().as_bytes().to_vec())
        .unwrap()
}
