//! Every merchant the sandbox presents has an id of its own (issue #20): no id serves two
//! roles across the `Merchant`s, the `Credentials`, the `WXPAY_*` exports and the control
//! API; and the shared vectors' ids, which the sandbox does not present, are still accepted
//! so that the vectors' requests replay as sent.

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
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let url = format!("{}/__sandbox/merchants", sandbox.base_url());
    let req = http::Request::get(url).body(Vec::new()).unwrap();
    let (status, body) = send(req);
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    let m = &v["merchants"];
    assert_eq!(m[0]["mchid"], "1900000001", "{v}");
    assert_eq!(m[0]["sub_order_mchids"], json!([V3_SUB_ORDER_MCHID]), "{v}");
    assert_eq!(m[0]["accepted_for_vectors"]["sub_order_mchids"], json!([V3_VECTOR_SUB_MCHID]));
    assert_eq!(m[1]["mchid"], "1230000109", "{v}");
    assert_eq!(m[1]["appid"], V3_MERCHANTS[1].appid, "{v}");
    assert_eq!(m[1]["sub_mchids"], json!([V3_SUB_MCHID]), "{v}");
    assert_eq!(m[1]["accepted_for_vectors"]["sub_mchids"], json!([V3_VECTOR_SUB_MCHID]));
}

/// The shared vectors' APIv3 partner request, replayed byte for byte with their ids
/// (`sp_mchid` 1230000109, `sub_mchid` 1900000109), is still accepted; so are the vectors' ids
/// through a client (the partner and the combined close), beside the presented ones.
#[test]
fn the_vector_ids_still_replay() {
    let sandbox = SandboxThread::start(SandboxConfig {
        min_close_delay_secs: 0,
        request_window_secs: None,
        ..SandboxConfig::default()
    })
    .unwrap();
    let vectors: Value = serde_json::from_str(include_str!("vectors/close_order.json")).unwrap();
    let v = vectors["v3"]["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "close_partner")
        .expect("the vectors' partner close");
    assert_eq!(v["body"], r#"{"sp_mchid":"1230000109","sub_mchid":"1900000109"}"#);
    let no = "1217752501201407033233368018";
    let key = OrderKey::sub("1230000109", V3_VECTOR_SUB_MCHID, no);
    sandbox.state().put_order(key.clone(), OrderState::Unpaid);
    let req = http::Request::post(format!("{}{}", sandbox.base_url(), v["path"].as_str().unwrap()))
        .header("Authorization", v["authorization"].as_str().unwrap())
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .header("User-Agent", "vector-replay")
        .body(v["body"].as_str().unwrap().as_bytes().to_vec())
        .unwrap();
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
