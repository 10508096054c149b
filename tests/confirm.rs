//! Queries and the confirmed close through both clients against the sandbox: every
//! `trade_state`, and every way a close alone proves nothing (a lost answer, a close that
//! never arrived, a payment landing during the close, a payer entering a password, a
//! replayed "paid", a query answer about another order, queries failing to the deadline).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use wxpay_core::v2::{CloseOrderV2, QueryOrderV2, SignType};
use wxpay_core::v3::{CloseCombinedOrder, CloseGlobalOrder, CloseOrderV3, QueryOrderV3, SubOrder};
use wxpay_core::{
    ClientConfig, CloseOrder, CloseOutcome, ConfirmPolicy, ConfirmSettings, Confirmed, Error,
    ErrorKind, OrderEffect, Proof, QueryAnswer, QueryOrder, RetryPolicy, TradeState,
};
use wxpay_integration_tests::*;
use wxpay_sandbox::{
    AnswerMode, Fault, FaultRule, OrderKey, OrderState, Route, SandboxConfig, SandboxThread,
};

/// One client of either kind, made once (one session: one replay guard).
struct Client {
    blocking: Option<wxpay_blocking::Client>,
    asynchronous: Option<(wxpay_async::Client, tokio::runtime::Runtime)>,
}

impl Client {
    fn new(blocking: bool, config: ClientConfig) -> Client {
        if blocking {
            Client {
                blocking: Some(wxpay_blocking::Client::new(config).unwrap()),
                asynchronous: None,
            }
        } else {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            Client {
                blocking: None,
                asynchronous: Some((wxpay_async::Client::new(config).unwrap(), rt)),
            }
        }
    }

    fn query(&self, q: impl Into<QueryOrder>) -> Result<QueryAnswer, Error> {
        match (&self.blocking, &self.asynchronous) {
            (Some(c), _) => c.query(q),
            (None, Some((c, rt))) => rt.block_on(c.query(q)),
            _ => unreachable!(),
        }
    }

    fn close(&self, op: impl Into<CloseOrder>) -> Result<CloseOutcome, Error> {
        match (&self.blocking, &self.asynchronous) {
            (Some(c), _) => c.close(op),
            (None, Some((c, rt))) => rt.block_on(c.close(op)),
            _ => unreachable!(),
        }
    }

    fn confirm(&self, op: impl Into<CloseOrder>, s: ConfirmSettings) -> Result<Confirmed, Error> {
        match (&self.blocking, &self.asynchronous) {
            (Some(c), _) => c.close_confirmed(op, s),
            (None, Some((c, rt))) => rt.block_on(c.close_confirmed(op, s)),
            _ => unreachable!(),
        }
    }
}

fn v3(sandbox: &SandboxThread) -> ClientConfig {
    config(sandbox.base_url())
        .v3(v3_credentials(V3_MCH, AnswerMode::PublicKey))
        .retry(RetryPolicy::never())
        .build()
        .unwrap()
}

fn v2(sandbox: &SandboxThread) -> ClientConfig {
    config(sandbox.base_url())
        .v2(v2_credentials(V2_MCH, SignType::HmacSha256))
        .retry(RetryPolicy::never())
        .build()
        .unwrap()
}

/// Short waits, so that paying and failing queries take a test a few seconds.
fn quick() -> ConfirmSettings {
    ConfirmSettings::default()
        .with_deadline(Duration::from_secs(6))
        .with_waits(Duration::from_millis(300), Duration::from_millis(200))
}

fn fault(sandbox: &SandboxThread, fault: Fault, route: Route, no: &str, times: Option<u32>) {
    let rule = FaultRule { fault, endpoint: Some(route), out_trade_no: Some(no.to_owned()), times };
    sandbox.state().add_fault(rule);
}

fn both(test: impl Fn(bool)) {
    test(true);
    test(false);
}

#[test]
fn a_query_reads_every_trade_state_through_both_clients() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    both(|blocking| {
        for (v3_api, client) in [
            (true, Client::new(blocking, v3(&sandbox))),
            (false, Client::new(blocking, v2(&sandbox))),
        ] {
            for state in OrderState::ALL {
                let no =
                    format!("qs-{}-{}-{}", u8::from(blocking), u8::from(v3_api), state.as_str());
                let key =
                    if v3_api { OrderKey::new(V3_MCH, &no) } else { OrderKey::new(V2_MCH, &no) };
                if state == OrderState::Paying {
                    sandbox.state().put_order(key.clone(), OrderState::Unpaid);
                    assert!(sandbox.state().set_paying(&key, 30, OrderState::Paid));
                } else {
                    sandbox.state().put_order(key.clone(), state);
                }
                let answer = if v3_api {
                    client.query(QueryOrderV3::by_out_trade_no(&no))
                } else {
                    client.query(QueryOrderV2::by_out_trade_no(&no))
                }
                .unwrap();
                let order = answer.order().unwrap().clone();
                let expected = match state {
                    OrderState::Unpaid => TradeState::NotPay,
                    OrderState::Paid => TradeState::Success,
                    OrderState::Closed => TradeState::Closed,
                    OrderState::Refunded => TradeState::Refund,
                    OrderState::Revoked => TradeState::Revoked,
                    OrderState::PayError => TradeState::PayError,
                    OrderState::Paying => TradeState::UserPaying,
                };
                assert_eq!(
                    (order.out_trade_no.as_str(), &order.trade_state),
                    (no.as_str(), &expected),
                    "{no}"
                );
                if expected.is_paid() {
                    let sandbox_tx = sandbox.state().order(&key).unwrap().transaction_id;
                    assert_eq!(order.transaction_id, sandbox_tx, "{no}");
                    assert!(
                        order.paid_at_unix().is_some() && order.total == Some(100),
                        "{order:?}"
                    );
                    // The same order by WeChat Pay's number.
                    let tx = order.transaction_id.clone().unwrap();
                    let by_id = if v3_api {
                        client.query(QueryOrderV3::by_transaction_id(&tx))
                    } else {
                        client.query(QueryOrderV2::by_transaction_id(&tx))
                    }
                    .unwrap();
                    assert_eq!(by_id.order().unwrap().out_trade_no, no);
                }
            }
            let missing = if v3_api {
                client.query(QueryOrderV3::by_out_trade_no("qs-missing-1"))
            } else {
                client.query(QueryOrderV2::by_out_trade_no("qs-missing-1"))
            };
            assert_eq!(missing.unwrap(), QueryAnswer::NotFound);
        }
    });
}

#[test]
fn a_lost_close_answer_is_proven_closed_by_the_query() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    both(|blocking| {
        for v3_api in [true, false] {
            let no = format!("lost-{}-{}", u8::from(blocking), u8::from(v3_api));
            let (config, route, key, op): (_, _, _, CloseOrder) = if v3_api {
                (
                    v3(&sandbox),
                    Route::V3Direct,
                    OrderKey::new(V3_MCH, &no),
                    CloseOrderV3::new(&no).into(),
                )
            } else {
                (
                    v2(&sandbox),
                    Route::V2Close,
                    OrderKey::new(V2_MCH, &no),
                    CloseOrderV2::new(&no).into(),
                )
            };
            sandbox.state().put_order(key.clone(), OrderState::Unpaid);
            fault(&sandbox, Fault::DropAfterRead, route, &no, Some(1));
            let c = Client::new(blocking, config).confirm(op, quick()).unwrap();
            assert_eq!(
                (c.outcome, c.proof, c.closes, c.queries),
                (CloseOutcome::Closed, Proof::Query, 1, 1),
                "{no}"
            );
            assert_eq!(c.order.unwrap().trade_state, TradeState::Closed);
            assert_eq!(sandbox.state().order(&key).unwrap().state, OrderState::Closed);
        }
    });
}

#[test]
fn a_close_that_never_arrived_is_made_again_then_proven() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    both(|blocking| {
        let no = format!("never-{}", u8::from(blocking));
        let key = OrderKey::new(V3_MCH, &no);
        sandbox.state().put_order(key.clone(), OrderState::Unpaid);
        fault(&sandbox, Fault::DropBeforeRead, Route::V3Direct, &no, Some(1));
        let c =
            Client::new(blocking, v3(&sandbox)).confirm(CloseOrderV3::new(&no), quick()).unwrap();
        assert_eq!(
            (c.outcome, c.proof, c.closes, c.queries),
            (CloseOutcome::Closed, Proof::Close, 2, 1),
            "{no}"
        );
        let o = sandbox.state().order(&key).unwrap();
        assert_eq!((o.state, o.closes), (OrderState::Closed, 1));
    });
}

#[test]
fn a_payment_landing_during_the_close_is_proven_paid_with_its_transaction_id() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    both(|blocking| {
        for v3_api in [true, false] {
            let no = format!("landing-{}-{}", u8::from(blocking), u8::from(v3_api));
            let (config, route, key, op): (_, _, _, CloseOrder) = if v3_api {
                (
                    v3(&sandbox),
                    Route::V3Direct,
                    OrderKey::new(V3_MCH, &no),
                    CloseOrderV3::new(&no).into(),
                )
            } else {
                (
                    v2(&sandbox),
                    Route::V2Close,
                    OrderKey::new(V2_MCH, &no),
                    CloseOrderV2::new(&no).into(),
                )
            };
            sandbox.state().put_order(key.clone(), OrderState::Unpaid);
            fault(&sandbox, Fault::PayDuringClose, route, &no, Some(1));
            let c = Client::new(blocking, config).confirm(op, quick()).unwrap();
            assert_eq!((c.outcome, c.proof), (CloseOutcome::Paid, Proof::Query), "{no}");
            let tx = sandbox.state().order(&key).unwrap().transaction_id;
            assert!(tx.is_some());
            assert_eq!(c.transaction_id(), tx.as_deref());
        }
    });
}

#[test]
fn a_payer_entering_a_password_is_waited_for() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    both(|blocking| {
        let no = format!("paying-{}", u8::from(blocking));
        let key = OrderKey::new(V3_MCH, &no);
        sandbox.state().put_order(key.clone(), OrderState::Unpaid);
        // The close answers 202 USER_PAYING; the payer pays for 2 s, then gives up.
        fault(&sandbox, Fault::UserPayingFor(2), Route::V3Direct, &no, Some(1));
        let started = std::time::Instant::now();
        let c =
            Client::new(blocking, v3(&sandbox)).confirm(CloseOrderV3::new(&no), quick()).unwrap();
        assert_eq!((c.outcome, c.closes), (CloseOutcome::Closed, 2), "{no}");
        assert!(c.queries >= 2, "asked while the payer was paying: {c:?}");
        assert!(started.elapsed() >= Duration::from_millis(900), "waited for the payer");
        assert_eq!(sandbox.state().order(&key).unwrap().state, OrderState::Closed);
    });
}

#[test]
fn a_replayed_paid_answer_is_not_believed_under_doubt() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    both(|blocking| {
        let paid = format!("replay-paid-{}", u8::from(blocking));
        let open = format!("replay-open-{}", u8::from(blocking));
        sandbox.state().put_order(OrderKey::new(V3_MCH, &paid), OrderState::Paid);
        sandbox.state().put_order(OrderKey::new(V3_MCH, &open), OrderState::Unpaid);
        // Another client (another process, say) closed the paid order: a genuine signed
        // ORDER_PAID, which someone in the path sends again as the answer to ours.
        let other = Client::new(blocking, v3(&sandbox));
        assert_eq!(other.close(CloseOrderV3::new(&paid)).unwrap(), CloseOutcome::Paid);
        fault(&sandbox, Fault::Replay, Route::V3Direct, &open, Some(1));
        // Believed as it stands by a plain close (its first coming): that is the hole.
        let c = Client::new(blocking, v3(&sandbox));
        assert_eq!(c.close(CloseOrderV3::new(&open)).unwrap(), CloseOutcome::Paid);
        // Confirmed under doubt: the query says NOTPAY, the order is closed and proven.
        fault(&sandbox, Fault::Replay, Route::V3Direct, &open, Some(1));
        let fresh = Client::new(blocking, v3(&sandbox));
        let confirmed = fresh.confirm(CloseOrderV3::new(&open), quick()).unwrap();
        assert_eq!(
            (confirmed.outcome, confirmed.proof),
            (CloseOutcome::Closed, Proof::Close),
            "{confirmed:?}"
        );
        assert_eq!((confirmed.closes, confirmed.queries), (2, 1));
        assert_eq!(
            sandbox.state().order(&OrderKey::new(V3_MCH, &open)).unwrap().state,
            OrderState::Closed
        );
    });
}

#[test]
fn a_signed_query_answer_about_another_order_proves_nothing() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    both(|blocking| {
        let no = format!("other-{}", u8::from(blocking));
        sandbox.state().put_order(OrderKey::new(V3_MCH, &no), OrderState::Unpaid);
        fault(&sandbox, Fault::DropAfterRead, Route::V3Direct, &no, Some(1));
        fault(&sandbox, Fault::QueryOtherOrder, Route::V3Query, &no, None);
        let settings = quick().with_deadline(Duration::from_secs(2));
        let err = Client::new(blocking, v3(&sandbox))
            .confirm(CloseOrderV3::new(&no), settings)
            .unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Unproven { last_state: None, .. }), "{err}");
        assert_eq!(err.order_effect(), OrderEffect::Unknown);
        // The query alone says why.
        let q = Client::new(blocking, v3(&sandbox))
            .query(QueryOrderV3::by_out_trade_no(&no))
            .unwrap_err();
        assert!(
            matches!(
                q.kind(),
                ErrorKind::Verify(wxpay_core::VerifyError::Mismatch { field: "out_trade_no" })
            ),
            "{q}"
        );
    });
}

#[test]
fn queries_failing_until_the_deadline_leave_the_state_unknown() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    both(|blocking| {
        let no = format!("failing-queries-{}", u8::from(blocking));
        sandbox.state().put_order(OrderKey::new(V3_MCH, &no), OrderState::Unpaid);
        fault(&sandbox, Fault::DropAfterRead, Route::V3Direct, &no, Some(1));
        fault(&sandbox, Fault::SystemError, Route::V3Query, &no, None);
        let settings = quick().with_deadline(Duration::from_secs(2));
        let err = Client::new(blocking, v3(&sandbox))
            .confirm(CloseOrderV3::new(&no), settings)
            .unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Unproven { .. }), "{err}");
        assert_eq!(err.order_effect(), OrderEffect::Unknown, "the lost close may have closed it");
        assert!(err.to_string().starts_with("order state unknown: no end state proven"), "{err}");
    });
}

#[test]
fn combined_and_cross_border_closes_are_proven_by_the_query() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let always = quick().with_policy(ConfirmPolicy::Always);
    both(|blocking| {
        let client = Client::new(blocking, v3(&sandbox));
        // Combined: every sub-order closed, proven by the combined query.
        let no = format!("combined-{}", u8::from(blocking));
        let (a, b) = (format!("{no}-a"), format!("{no}-b"));
        sandbox.state().put_order(OrderKey::new(V3_MCH, &a), OrderState::Unpaid);
        sandbox.state().put_order(OrderKey::new(V3_SUB_ORDER, &b), OrderState::Unpaid);
        let combined = CloseCombinedOrder::new(
            "wxd678efh567hg6787",
            &no,
            vec![SubOrder::new(V3_MCH, &a), SubOrder::new(V3_SUB_ORDER, &b)],
        );
        let q = client.query(combined.query());
        assert!(q.is_ok(), "{q:?}");
        let c = client.confirm(combined, always.clone()).unwrap();
        assert_eq!((c.outcome, c.proof), (CloseOutcome::Closed, Proof::Query), "{c:?}");
        // Cross-border, by the merchant's number and by WeChat Pay's.
        let by_no = format!("global-no-{}", u8::from(blocking));
        sandbox.state().put_order(OrderKey::new(V3_MCH, &by_no), OrderState::Unpaid);
        let q = client.query(QueryOrderV3::by_out_trade_no(&by_no).global());
        assert!(q.is_ok(), "{q:?}");
        let c = client.confirm(CloseGlobalOrder::by_out_trade_no(&by_no), always.clone()).unwrap();
        assert_eq!((c.outcome, c.proof), (CloseOutcome::Closed, Proof::Query));
        let by_id = format!("global-id-{}", u8::from(blocking));
        let key = OrderKey::new(V3_MCH, &by_id);
        sandbox.state().put_order(key.clone(), OrderState::Unpaid);
        let tx = format!("42000000002026120{}00000001", u8::from(blocking));
        assert!(sandbox.state().set_transaction_id(&key, &tx));
        let q = client.query(QueryOrderV3::by_transaction_id(&tx).global());
        assert!(q.is_ok(), "{q:?}");
        let c = client.confirm(CloseGlobalOrder::by_transaction_id(&tx), always.clone()).unwrap();
        assert_eq!((c.outcome, c.proof), (CloseOutcome::Closed, Proof::Query));
        assert_eq!(c.order.unwrap().out_trade_no, by_id);
        // Never: the plain close.
        let plain = format!("never-policy-{}", u8::from(blocking));
        sandbox.state().put_order(OrderKey::new(V3_MCH, &plain), OrderState::Unpaid);
        let c = client
            .confirm(CloseOrderV3::new(&plain), quick().with_policy(ConfirmPolicy::Never))
            .unwrap();
        assert_eq!((c.outcome, c.proof, c.queries), (CloseOutcome::Closed, Proof::Close, 0));
    });
}

#[test]
fn answers_signed_under_a_key_not_held_end_the_confirmed_close_at_once_as_unknown() {
    use wxpay_sandbox::KeyMode;
    // The client holds the platform certificate only; WeChat Pay signs with the public key
    // (the merchant was moved). Asking again is answered under the same key: the confirmed
    // close says "unknown" at once, naming the key, instead of querying to its deadline.
    let sandbox = SandboxThread::start(SandboxConfig {
        keys: KeyMode::PublicKey,
        ..SandboxConfig::default()
    })
    .unwrap();
    both(|blocking| {
        let no = format!("key-not-held-{}", u8::from(blocking));
        sandbox.state().put_order(OrderKey::new(V3_MCH, &no), OrderState::Unpaid);
        let config = config(sandbox.base_url())
            .v3(v3_credentials(V3_MCH, AnswerMode::PlatformCertificate))
            .retry(RetryPolicy::never())
            .build()
            .unwrap();
        let settings = quick().with_deadline(Duration::from_secs(20));
        let started = std::time::Instant::now();
        let err =
            Client::new(blocking, config).confirm(CloseOrderV3::new(&no), settings).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        let ErrorKind::Verify(wxpay_core::VerifyError::UnknownSerial(serial)) = err.kind() else {
            panic!("{err}");
        };
        assert!(serial.starts_with("PUB_KEY_ID_"), "{serial}");
        assert_eq!(err.order_effect(), OrderEffect::Unknown, "the close was sent: {err}");
        let order = sandbox.state().order(&OrderKey::new(V3_MCH, &no)).unwrap();
        assert_eq!(order.close_calls, 1, "one close, one query, and nothing more");
    });
}
