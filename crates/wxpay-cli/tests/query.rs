//! `wxpay query` driven as a process, against the sandbox on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;

mod common;
use common::*;

/// Runs `wxpay query --sandbox ARGS…`; the exit code, standard output and standard error.
fn query(args: &[&str]) -> (Option<i32>, String, String) {
    let out = wxpay().arg("query").arg("--sandbox").args(args).output().unwrap();
    let (stdout, stderr) = text(&out);
    (out.status.code(), stdout, stderr)
}

#[test]
fn each_trade_state_has_its_line_and_exit_code() {
    for (state, code, says) in [
        ("unpaid", 7, "NOTPAY"),
        ("paying", 7, "USERPAYING"),
        ("payerror", 7, "PAYERROR"),
        ("closed", 0, "CLOSED"),
        ("revoked", 0, "REVOKED"),
        ("paid", 3, "SUCCESS"),
        ("refunded", 3, "REFUND"),
        ("missing", 4, "not found"),
    ] {
        for api in ["v2", "v3"] {
            let (got, stdout, stderr) =
                query(&["--api", api, "--sandbox-state", state, "query-0001"]);
            assert_eq!(got, Some(code), "{api} {state}: {stdout} {stderr}");
            assert!(stdout.starts_with(&format!("query-0001: {says}")), "{api} {state}: {stdout}");
            if code == 3 {
                assert!(
                    stdout.contains("paid at ") && stdout.contains("transaction_id 4200"),
                    "{stdout}"
                );
            }
        }
    }
    let (code, stdout, _) = query(&["--json", "--sandbox-state", "paid", "query-0002"]);
    assert_eq!(code, Some(3));
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        (v["trade_state"].as_str(), v["out_trade_no"].as_str()),
        (Some("SUCCESS"), Some("query-0002"))
    );
    assert!(v["transaction_id"].as_str().unwrap().starts_with("4200"), "{v}");
    assert!(v["paid_at"].is_string() && v["total"] == 100, "{v}");
    assert!(v["base_url"].as_str().unwrap().starts_with("http://127.0.0.1:"), "{v}");
    let (code, stdout, _) = query(&["--json", "--sandbox-state", "missing", "query-0003"]);
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!((code, v["found"].as_bool(), v.get("trade_state")), (Some(4), Some(false), None));
}

#[test]
fn partner_cross_border_and_combined_orders_by_either_number() {
    // A service provider's order, APIv3 and APIv2 (institutional).
    let (code, stdout, stderr) =
        query(&["--sub-mchid", "1900000209", "--sandbox-state", "closed", "partner-0001"]);
    assert_eq!(code, Some(0), "{stdout} {stderr}");
    let (code, stdout, _) = query(&[
        "--api",
        "v2",
        "--sub-mch-id",
        "1900000110",
        "--sandbox-state",
        "paid",
        "partner-0002",
    ]);
    assert_eq!(code, Some(3), "{stdout}");
    // By WeChat Pay's number: direct, partner, APIv2, cross-border (common and institution).
    let id = "4200000000202601010000000077";
    for extra in [
        &[][..],
        &["--sub-mch-id", "1900000209"][..],
        &["--api", "v2"][..],
        &["--global"][..],
        &["--global", "--sub-mch-id", "1900000209"][..],
    ] {
        let mut args = extra.to_vec();
        args.extend(["--sandbox-state", "paid", "--json", "--transaction-id", id]);
        let (code, stdout, stderr) = query(&args);
        assert_eq!(code, Some(3), "{extra:?}: {stdout} {stderr}");
        let v: Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(v["transaction_id"], id, "{extra:?}: {v}");
        assert_eq!(v["out_trade_no"], format!("sandbox-{id}"), "{extra:?}: {v}");
    }
    // Cross-border by the merchant's number.
    for (state, want) in [("unpaid", 7), ("closed", 0), ("paid", 3)] {
        let (code, stdout, _) = query(&["--global", "--sandbox-state", state, "global-0001"]);
        assert_eq!(code, Some(want), "{state}: {stdout}");
    }
    // Combined: one line per sub-order.
    for (state, want, says) in
        [("paid", 3, "SUCCESS"), ("closed", 0, "CLOSED"), ("unpaid", 7, "NOTPAY")]
    {
        let (code, stdout, stderr) =
            query(&["--combined", "--sandbox-state", state, "combined-0001"]);
        assert_eq!(code, Some(want), "{state}: {stdout} {stderr}");
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{stdout}");
        assert!(lines[0].starts_with(&format!("combined-0001-a: {says}")), "{stdout}");
        assert!(lines[1].starts_with(&format!("combined-0001-b: {says}")), "{stdout}");
    }
    let (code, stdout, _) =
        query(&["--combined", "--json", "--sandbox-state", "missing", "combined-0002"]);
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!((code, v["combine_out_trade_no"].as_str()), (Some(4), Some("combined-0002")));
}

#[test]
fn bad_usage_sends_nothing() {
    for args in [
        &["--api", "v2", "--combined", "combined-0001"][..],
        &["--api", "v2", "--global", "global-0001"][..],
        &["bad#order"][..],
        &["--transaction-id", "42000A"][..],
        &["--combined", "--transaction-id", "4200000000202601010000000077"][..],
    ] {
        let (code, stdout, stderr) = query(args);
        assert_eq!(code, Some(2), "{args:?}: {stdout} {stderr}");
    }
    let out = wxpay().args(["query", "query-0001"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "no credentials: {:?}", text(&out));
}

#[test]
fn a_signed_answer_about_another_order_is_never_believed() {
    use wxpay_sandbox::{Fault, FaultRule, OrderKey, OrderState, SandboxConfig, SandboxThread};
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let dir = temp_dir("query-other");
    let env = env_for(&sandbox, &dir);
    sandbox.state().put_order(OrderKey::new("1900000001", "asked-0001"), OrderState::Unpaid);
    sandbox.state().put_order(OrderKey::new("1900000001", "other-0001"), OrderState::Paid);
    sandbox.state().add_fault(FaultRule::always(Fault::QueryOtherOrder));
    let out = wxpay().args(["query", "asked-0001"]).envs(env).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout} {stderr}");
    assert!(stdout.contains("state is unknown") && !stdout.contains("SUCCESS"), "{stdout}");
}
