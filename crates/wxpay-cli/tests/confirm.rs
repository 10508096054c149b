//! `wxpay close --confirm`: the command as a process against the sandbox, with the faults
//! that make a close's answer prove nothing (lost, never arrived, replayed, paid meanwhile,
//! a query answer about another order).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;
use wxpay_sandbox::{
    CombinedOrder, Fault, FaultRule, OrderKey, OrderState, Route, SandboxConfig, SandboxThread,
};

mod common;
use common::*;

const MCH: &str = "1900000001";
const SP: &str = "1230000109";
/// The sandbox's APIv3 sub-merchant.
const SUB: &str = "1900000209";
/// The merchant of a combined order's other sub-order.
const SUB_ORDER: &str = "1900000309";

/// A sandbox and the settings for its test merchants.
struct Bench {
    sandbox: SandboxThread,
    env: Vec<(String, String)>,
    dir: PathBuf,
}

impl Bench {
    fn new(name: &str) -> Self {
        let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
        let dir = temp_dir(&format!("confirm-{name}"));
        let env = env_for(&sandbox, &dir);
        Bench { sandbox, env, dir }
    }

    fn put(&self, no: &str, state: OrderState) -> OrderKey {
        let key = OrderKey::new(MCH, no);
        self.sandbox.state().put_order(key.clone(), state);
        key
    }

    fn fault(&self, rule: FaultRule) {
        self.sandbox.state().add_fault(rule);
    }

    fn state(&self, key: &OrderKey) -> OrderState {
        self.sandbox.state().order(key).unwrap().state
    }

    /// `wxpay close ARGS…` with the sandbox's settings.
    fn close(&self, args: &[&str]) -> Output {
        wxpay().arg("close").args(args).envs(self.env.iter().cloned()).output().unwrap()
    }
}

/// The one JSON record a single close prints.
fn record(out: &Output) -> Value {
    let (stdout, stderr) = text(out);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout} {stderr}"))
}

#[test]
fn a_lost_close_answer_is_proven_closed_by_the_query() {
    let b = Bench::new("lost");
    let key = b.put("lost-0001", OrderState::Unpaid);
    // Every close attempt closes the order and its answer is lost; queries answer.
    b.fault(FaultRule::always(Fault::DropAfterRead).on(Route::V3Direct));
    let out = b.close(&["--confirm", "doubt", "lost-0001"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout} {stderr}");
    assert!(
        stdout.contains("lost-0001: closed") && stdout.contains("proven by a query"),
        "{stdout}"
    );
    let out = b.close(&["--json", "lost-0001"]);
    let v = record(&out);
    assert_eq!(out.status.code(), Some(0), "the default is doubt: {v}");
    assert_eq!(
        (v["outcome"].as_str(), v["proof"].as_str()),
        (Some("closed"), Some("query")),
        "{v}"
    );
    assert_eq!(v["trade_state"], "CLOSED", "{v}");
    assert_eq!(b.state(&key), OrderState::Closed);
    // Without confirmation: the lost answer leaves the state unknown, as before.
    let out = b.close(&["--confirm", "never", "--json", "lost-0001"]);
    let v = record(&out);
    assert_eq!((out.status.code(), v["effect"].as_str()), (Some(1), Some("unknown")), "{v}");
    assert!(v.get("proof").is_none(), "{v}");
}

#[test]
fn a_close_that_never_arrived_is_closed_again_once_the_query_says_unpaid() {
    let b = Bench::new("never-arrived");
    let key = b.put("gone-0001", OrderState::Unpaid);
    // Every attempt of the first close is dropped before it is read (the order untouched).
    b.fault(FaultRule::next(Fault::DropBeforeRead, 4).on(Route::V3Direct));
    let out = b.close(&["--json", "gone-0001"]);
    let v = record(&out);
    assert_eq!(out.status.code(), Some(0), "{v} {}", text(&out).1);
    assert_eq!(v["outcome"], "closed", "{v}");
    assert_eq!((v["closes"].as_u64(), v["queries"].as_u64()), (Some(2), Some(1)), "{v}");
    assert_eq!(b.state(&key), OrderState::Closed);
}

#[test]
fn a_payment_during_the_close_is_proven_paid_with_its_transaction_id() {
    let b = Bench::new("paid-meanwhile");
    let key = b.put("pay-0001", OrderState::Unpaid);
    b.fault(FaultRule::next(Fault::PayDuringClose, 1).on(Route::V3Direct));
    let out = b.close(&["--json", "pay-0001"]);
    let v = record(&out);
    assert_eq!(out.status.code(), Some(3), "{v}");
    let id = b.sandbox.state().order(&key).unwrap().transaction_id.unwrap();
    assert_eq!((v["outcome"].as_str(), v["proof"].as_str()), (Some("paid"), Some("query")), "{v}");
    assert_eq!(v["transaction_id"], id.as_str(), "{v}");
    assert!(v["paid_at"].is_string(), "{v}");
    // The human line says it too.
    b.put("pay-0002", OrderState::Unpaid);
    b.fault(FaultRule::next(Fault::PayDuringClose, 1).on(Route::V3Direct));
    let out = b.close(&["pay-0002"]);
    let stdout = text(&out).0;
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("PAID") && stdout.contains("transaction_id 4200"), "{stdout}");
}

#[test]
fn a_replayed_orderpaid_for_an_unpaid_order_is_not_believed_under_doubt() {
    let b = Bench::new("replay");
    b.put("paid-0001", OrderState::Paid);
    let key = b.put("unpaid-0001", OrderState::Unpaid);
    // The route's last answer is a genuine, signed ORDERPAID for paid-0001.
    let out = b.close(&["--confirm", "never", "paid-0001"]);
    assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
    b.fault(FaultRule::next(Fault::Replay, 1).on(Route::V3Direct));
    let out = b.close(&["--json", "--confirm", "doubt", "unpaid-0001"]);
    let v = record(&out);
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["outcome"], "closed", "not paid: {v}");
    assert_eq!((v["closes"].as_u64(), v["queries"].as_u64()), (Some(2), Some(1)), "{v}");
    assert_eq!(b.state(&key), OrderState::Closed);
    // The same replay without confirmation is believed: what --confirm never risks.
    let key = b.put("unpaid-0002", OrderState::Unpaid);
    b.close(&["--confirm", "never", "paid-0001"]);
    b.fault(FaultRule::next(Fault::Replay, 1).on(Route::V3Direct));
    let out = b.close(&["--confirm", "never", "unpaid-0002"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(b.state(&key), OrderState::Unpaid);
    // Which the line says: a plain close's "paid" is no ground for delivering.
    let stdout = text(&out).0;
    assert!(stdout.contains("unpaid-0002: PAID"), "{stdout}");
    assert!(stdout.contains("names no order: query it before delivering"), "{stdout}");
    assert!(!stdout.contains("deliver or refund"), "no advice to deliver first: {stdout}");
}

#[test]
fn a_query_answer_about_another_order_is_never_believed() {
    let b = Bench::new("other-order");
    b.put("other-0001", OrderState::Paid);
    let key = b.put("asked-0001", OrderState::Unpaid);
    b.fault(FaultRule::always(Fault::DropAfterRead).on(Route::V3Direct));
    b.fault(FaultRule::always(Fault::QueryOtherOrder).on(Route::V3Query));
    let started = std::time::Instant::now();
    let out = b.close(&["--json", "--confirm-deadline", "2", "asked-0001"]);
    let v = record(&out);
    assert_eq!(out.status.code(), Some(1), "{v}");
    assert_eq!(
        (v["kind"].as_str(), v["effect"].as_str()),
        (Some("unproven"), Some("unknown")),
        "{v}"
    );
    assert!(v.get("outcome").is_none() && v.get("transaction_id").is_none(), "{v}");
    assert!(started.elapsed().as_secs() < 15, "the deadline holds");
    assert_eq!(b.state(&key), OrderState::Closed, "closed, but nothing proved it");
    let out = b.close(&["--confirm-deadline", "1", "asked-0001"]);
    let stdout = text(&out).0;
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("no end state proven") && !stdout.contains("PAID"), "{stdout}");
}

#[test]
fn confirm_never_is_the_plain_close_and_doubt_costs_no_query_for_a_verified_close() {
    let b = Bench::new("never");
    b.put("never-0001", OrderState::Paid);
    b.put("never-0002", OrderState::Unpaid);
    let before = b.sandbox.state().requests();
    let out = b.close(&["--confirm", "never", "--json", "never-0001"]);
    let v = record(&out);
    assert_eq!((out.status.code(), v["outcome"].as_str()), (Some(3), Some("paid")), "{v}");
    assert!(v.get("proof").is_none() && v.get("transaction_id").is_none(), "{v}");
    assert_eq!(b.sandbox.state().requests() - before, 1, "one close, no query");
    let out = b.close(&["--confirm", "never", "never-0002"]);
    assert_eq!(text(&out).0.trim(), "never-0002: closed, the order can no longer be paid");
    // doubt: a verified close is taken as it is (no query); always queries.
    b.put("never-0003", OrderState::Unpaid);
    let before = b.sandbox.state().requests();
    let v = record(&b.close(&["--json", "never-0003"]));
    assert_eq!((v["proof"].as_str(), v["queries"].as_u64()), (Some("close"), Some(0)), "{v}");
    assert_eq!(b.sandbox.state().requests() - before, 1);
    b.put("never-0004", OrderState::Unpaid);
    let v = record(&b.close(&["--json", "--confirm", "always", "never-0004"]));
    assert_eq!((v["proof"].as_str(), v["queries"].as_u64()), (Some("query"), Some(1)), "{v}");
    // A bad policy is a usage error.
    let out = b.close(&["--confirm", "sometimes", "never-0004"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn combined_and_cross_border_closes_are_confirmed_by_either_number() {
    let b = Bench::new("kinds");
    // Combined: a payment lands on a sub-order during the close.
    for (mch, no) in [(MCH, "comb-0001-a"), (SUB_ORDER, "comb-0001-b")] {
        b.sandbox.state().put_order(OrderKey::new(mch, no), OrderState::Unpaid);
    }
    b.sandbox.state().put_combined(
        MCH,
        "comb-0001",
        CombinedOrder {
            combine_appid: "wxd678efh567hg6787".into(),
            sub_orders: vec![
                OrderKey::new(MCH, "comb-0001-a"),
                OrderKey::new(SUB_ORDER, "comb-0001-b"),
            ],
        },
    );
    b.fault(FaultRule::next(Fault::PayDuringClose, 1).on(Route::V3Combined));
    let out = b.close(&[
        "--json",
        "--combined",
        "--combine-appid",
        "wxd678efh567hg6787",
        "--sub-order",
        &format!("{MCH}:comb-0001-a"),
        "--sub-order",
        &format!("{SUB_ORDER}:comb-0001-b"),
        "comb-0001",
    ]);
    let v = record(&out);
    assert_eq!((out.status.code(), v["proof"].as_str()), (Some(3), Some("query")), "{v}");
    assert!(v["transaction_id"].as_str().unwrap().starts_with("4200"), "{v}");
    // Cross-border by the merchant's number, the answer lost.
    let key = b.put("glob-0001", OrderState::Unpaid);
    b.fault(FaultRule::always(Fault::DropAfterRead).on(Route::V3Global));
    let v = record(&b.close(&["--json", "--global", "glob-0001"]));
    assert_eq!(
        (v["outcome"].as_str(), v["proof"].as_str()),
        (Some("closed"), Some("query")),
        "{v}"
    );
    assert_eq!(b.state(&key), OrderState::Closed);
    // Cross-border by WeChat Pay's number, an institution's, paid during the close.
    let key = OrderKey::sub(SP, SUB, "glob-0002");
    b.sandbox.state().put_order(key.clone(), OrderState::Unpaid);
    let id = "4200000000202601010000000099";
    b.sandbox.state().set_transaction_id(&key, id);
    b.fault(FaultRule::next(Fault::PayDuringClose, 1).on(Route::V3GlobalById));
    let out = wxpay()
        .args(["close", "--json", "--global", "--sub-mch-id", SUB, "--transaction-id", id])
        .envs(b.env.iter().cloned())
        .env("WXPAY_MCHID", SP)
        .output()
        .unwrap();
    let v = record(&out);
    assert_eq!((out.status.code(), v["proof"].as_str()), (Some(3), Some("query")), "{v}");
    assert_eq!(v["transaction_id"], id, "{v}");
    // APIv2: the lost answer proven by the APIv2 query.
    let key = OrderKey::new("10000100", "v2-0001");
    b.sandbox.state().put_order(key.clone(), OrderState::Unpaid);
    b.fault(FaultRule::always(Fault::DropAfterRead).on(Route::V2Close));
    let v = record(&b.close(&["--json", "--api", "v2", "v2-0001"]));
    assert_eq!(
        (v["outcome"].as_str(), v["proof"].as_str()),
        (Some("closed"), Some("query")),
        "{v}"
    );
    let _ = &b.dir;
}

#[test]
fn bulk_with_confirm_exits_1_only_for_the_unproven_and_resume_keeps_the_policy() {
    let b = Bench::new("bulk");
    b.put("bulk-0001", OrderState::Unpaid);
    b.put("bulk-0002", OrderState::Unpaid);
    b.put("bulk-0003", OrderState::Unpaid);
    b.put("bulk-other", OrderState::Paid);
    // 0002's answer is lost (proven by the query); 0003 is paid during its close.
    b.fault(FaultRule::always(Fault::DropAfterRead).on(Route::V3Direct).for_order("bulk-0002"));
    b.fault(FaultRule::next(Fault::PayDuringClose, 1).on(Route::V3Direct).for_order("bulk-0003"));
    let file = b.dir.join("orders.txt");
    std::fs::write(&file, "bulk-0001\nbulk-0002\nbulk-0003\n").unwrap();
    let journal = b.dir.join("orders.journal");
    let run = |file: &PathBuf, journal: &PathBuf, extra: &[&str]| {
        let mut args = vec!["--json", "--confirm-deadline", "2"];
        args.extend_from_slice(extra);
        wxpay()
            .arg("close")
            .args(&args)
            .arg("--from")
            .arg(file)
            .arg("--journal")
            .arg(journal)
            .envs(b.env.iter().cloned())
            .output()
            .unwrap()
    };
    let out = run(&file, &journal, &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "paid, and nothing unproven: {stdout} {stderr}");
    let records = journal_records(&journal);
    assert_eq!(records[0]["confirm"], "doubt", "{records:?}");
    let by_no = |no: &str| {
        records.iter().find(|r| r["out_trade_no"] == no).cloned().unwrap_or_else(|| panic!("{no}"))
    };
    assert_eq!(by_no("bulk-0002")["proof"], "query");
    assert_eq!(by_no("bulk-0003")["outcome"], "paid");
    assert!(by_no("bulk-0003")["transaction_id"].as_str().unwrap().starts_with("4200"));

    // 0005: nothing proves it (its answers lost, every query answer about another order).
    b.put("bulk-0004", OrderState::Unpaid);
    b.put("bulk-0005", OrderState::Unpaid);
    b.fault(FaultRule::always(Fault::DropAfterRead).on(Route::V3Direct).for_order("bulk-0005"));
    b.fault(FaultRule::always(Fault::QueryOtherOrder).on(Route::V3Query).for_order("bulk-0005"));
    let file2 = b.dir.join("more.txt");
    std::fs::write(&file2, "bulk-0004\nbulk-0005\n").unwrap();
    let journal2 = b.dir.join("more.journal");
    let out = run(&file2, &journal2, &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout} {stderr}");
    let records = journal_records(&journal2);
    let errors: Vec<&Value> = records.iter().filter(|r| r.get("error").is_some()).collect();
    assert_eq!(errors.len(), 1, "{records:?}");
    assert_eq!(
        (errors[0]["out_trade_no"].as_str(), errors[0]["kind"].as_str()),
        (Some("bulk-0005"), Some("unproven"))
    );
    // Resume: another policy is another run; the same one closes 0005 again.
    let resume = |policy: &str| {
        wxpay()
            .args(["close", "--json", "--confirm-deadline", "2", "--confirm", policy, "--from"])
            .arg(&file2)
            .arg("--resume")
            .arg(&journal2)
            .envs(b.env.iter().cloned())
            .output()
            .unwrap()
    };
    let out = resume("never");
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--confirm was doubt") && stderr.contains("nothing was sent"),
        "{stderr}"
    );
    b.sandbox.state().clear_faults();
    let out = resume("doubt");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout} {stderr}");
    assert!(stdout.contains("bulk-0005") && !stdout.contains("bulk-0004"), "{stdout}");
}
