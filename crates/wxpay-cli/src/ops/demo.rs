//! `wxpay demo`: the embedded sandbox, orders in every state, every close call, both clients.

use std::time::{Duration, SystemTime};

use wxpay_core::v2::{CloseOrderV2, SignType, V2Credentials};
use wxpay_core::v3::{
    CloseCombinedOrder, CloseGlobalOrder, CloseOrderV3, PlatformCertificateVerifier, SubOrder,
    V3Credentials, VerifierSet,
};
use wxpay_core::{
    ClientConfig, CloseOrder, CloseOutcome, ConfirmPolicy, ConfirmSettings, Confirmed, Error,
    Proof, RetryPolicy,
};
use wxpay_sandbox::merchants::{
    MERCHANT_SERIAL_NO, V2_MERCHANTS, V3_MERCHANTS, WECHATPAY_CERT_PEM,
};
use wxpay_sandbox::{
    AnswerMode, Fault, FaultRule, OrderKey, OrderState, Route, SandboxConfig, SandboxThread,
};

use crate::{Failure, exit, runtime};

/// One close of the demo.
struct Row {
    call: String,
    order: String,
    expected: CloseOutcome,
    job: Job,
}

/// The credentials a row's close needs, and the close.
enum Job {
    V2(V2Credentials, CloseOrder),
    V3(V3Credentials, CloseOrder),
}

impl Job {
    fn close(&self) -> CloseOrder {
        match self {
            Job::V2(_, close) | Job::V3(_, close) => close.clone(),
        }
    }
}

fn v3_creds(
    mchid: &str,
    mode: AnswerMode,
    creds: &wxpay_sandbox::Credentials,
) -> Result<V3Credentials, Failure> {
    let verifier = match mode {
        AnswerMode::PublicKey => VerifierSet::new().with(creds.public_key_verifier()),
        AnswerMode::PlatformCertificate => VerifierSet::new().with(
            PlatformCertificateVerifier::from_pem(WECHATPAY_CERT_PEM)
                .map_err(|e| Failure::error(e.to_string()))?,
        ),
    };
    V3Credentials::new(mchid, MERCHANT_SERIAL_NO, creds.merchant_signer(), verifier)
        .map_err(|e| Failure::error(e.to_string()))
}

const STATES: [(OrderState, CloseOutcome); 3] = [
    (OrderState::Unpaid, CloseOutcome::Closed),
    (OrderState::Closed, CloseOutcome::AlreadyClosed),
    (OrderState::Paid, CloseOutcome::Paid),
];

/// The demo's rows for one client; orders are created in the sandbox as the rows are made.
fn rows(sandbox: &SandboxThread, client: &str) -> Result<Vec<Row>, Failure> {
    let creds = sandbox.credentials();
    let state = sandbox.state();
    let mut rows = Vec::new();
    let mut n = 0;
    let mut number = || {
        n += 1;
        format!("demo-{client}-{n:03}")
    };
    let (common, sp) = (&V2_MERCHANTS[0], &V2_MERCHANTS[1]);
    for sign_type in [SignType::Md5, SignType::HmacSha256] {
        for institutional in [false, true] {
            let m = if institutional { sp } else { common };
            let v2 = V2Credentials::new(m.appid, m.mch_id, creds.api_v2_key())
                .map_err(|e| Failure::error(e.to_string()))?
                .with_sign_type(sign_type);
            let mode = if institutional { "institutional" } else { "common" };
            let call = format!("v2 {} {mode}", sign_type.as_str());
            for (st, expected) in STATES {
                let no = number();
                let op = match m.subs.first() {
                    Some((sub, appid)) if institutional => {
                        state.put_order(OrderKey::sub(m.mch_id, *sub, &no), st);
                        CloseOrderV2::new(&no).for_sub_merchant(*sub).with_sub_appid(*appid)
                    }
                    _ => {
                        state.put_order(OrderKey::new(m.mch_id, &no), st);
                        CloseOrderV2::new(&no)
                    }
                };
                rows.push(Row {
                    call: call.clone(),
                    order: no,
                    expected,
                    job: Job::V2(v2.clone(), op.into()),
                });
            }
            let no = number();
            rows.push(Row {
                call: call.clone(),
                order: no.clone(),
                expected: CloseOutcome::NotFound,
                job: Job::V2(v2.clone(), CloseOrderV2::new(&no).into()),
            });
        }
    }
    let (direct, partner) = (&V3_MERCHANTS[0], &V3_MERCHANTS[1]);
    for (mode, label) in
        [(AnswerMode::PublicKey, "public key"), (AnswerMode::PlatformCertificate, "certificate")]
    {
        let v3 = v3_creds(direct.mchid, mode, &creds)?;
        for (st, expected) in STATES {
            let no = number();
            state.put_order(OrderKey::new(direct.mchid, &no), st);
            let job = Job::V3(v3.clone(), CloseOrderV3::new(&no).into());
            rows.push(Row { call: format!("v3 direct ({label})"), order: no, expected, job });
        }
        let no = number();
        let job = Job::V3(v3.clone(), CloseOrderV3::new(&no).into());
        rows.push(Row {
            call: format!("v3 direct ({label})"),
            order: no,
            expected: CloseOutcome::NotFound,
            job,
        });

        let sp = v3_creds(partner.mchid, mode, &creds)?;
        let sub = partner.subs[0];
        // The combined orders' other sub-order: a merchant of its own, not the sub-merchant.
        let sub_order_mchid = direct.combined_with[0];
        for (st, expected) in STATES {
            let no = number();
            state.put_order(OrderKey::sub(partner.mchid, sub, &no), st);
            let job = Job::V3(sp.clone(), CloseOrderV3::new(&no).for_sub_merchant(sub).into());
            rows.push(Row { call: format!("v3 partner ({label})"), order: no, expected, job });
        }
        let no = number();
        let job = Job::V3(sp.clone(), CloseOrderV3::new(&no).for_sub_merchant(sub).into());
        let (call, expected) = (format!("v3 partner ({label})"), CloseOutcome::NotFound);
        rows.push(Row { call, order: no, expected, job });

        for (st, expected) in STATES {
            let no = number();
            let (a, b) = (format!("{no}-a"), format!("{no}-b"));
            state.put_order(OrderKey::new(direct.mchid, &a), st);
            state.put_order(OrderKey::new(sub_order_mchid, &b), st);
            let op = CloseCombinedOrder::new(
                "wxd678efh567hg6787",
                &no,
                vec![SubOrder::new(direct.mchid, a), SubOrder::new(sub_order_mchid, b)],
            );
            rows.push(Row {
                call: format!("v3 combined ({label})"),
                order: no,
                expected,
                job: Job::V3(v3.clone(), op.into()),
            });
        }
    }
    // Cross-border: by either order number, common and institutional mode (public-key mode).
    for (institution, mode) in [(false, "common"), (true, "institution")] {
        let (m, creds) = if institution {
            (partner.mchid, v3_creds(partner.mchid, AnswerMode::PublicKey, &creds)?)
        } else {
            (direct.mchid, v3_creds(direct.mchid, AnswerMode::PublicKey, &creds)?)
        };
        let sub = institution.then_some(partner.subs[0]);
        for by_id in [false, true] {
            let kind = if by_id { "transaction_id" } else { "out_trade_no" };
            // Each state, then an order the sandbox does not have (not found).
            let states = STATES.iter().map(|&(st, expected)| (Some(st), expected));
            for (st, expected) in states.chain([(None, CloseOutcome::NotFound)]) {
                let no = number();
                let key = match sub {
                    Some(sub) => OrderKey::sub(m, sub, &no),
                    None => OrderKey::new(m, &no),
                };
                // A transaction id numbered as the order beside it (demo-blocking-040's is
                // …040).
                let id = format!("42000000002026{:014}", rows.len() + 1);
                if let Some(st) = st {
                    state.put_order(key.clone(), st);
                    if by_id {
                        state.set_transaction_id(&key, &id);
                    }
                }
                let (shown, op) = if by_id {
                    (id.clone(), CloseGlobalOrder::by_transaction_id(id))
                } else {
                    (no.clone(), CloseGlobalOrder::by_out_trade_no(&no))
                };
                let op = match sub {
                    Some(sub) => op.for_sub_merchant(sub),
                    None => op,
                };
                rows.push(Row {
                    call: format!("v3 global {mode} (by {kind})"),
                    order: shown,
                    expected,
                    job: Job::V3(creds.clone(), op.into()),
                });
            }
        }
    }
    Ok(rows)
}

/// One confirmed close of the demo: a fault that makes the close's answer prove nothing,
/// and the end the query must prove.
struct ConfirmRow {
    call: String,
    order: String,
    fault: Fault,
    expected: CloseOutcome,
    /// The order (a sub-order of a combined one) whose `transaction_id` a paid end names.
    paid: Option<OrderKey>,
    job: Job,
}

/// A confirmed close per kind of close, for one client: the close's answer lost
/// (`drop_after_read` on every attempt: the order is closed, only the query can say so), and a
/// payment landing during the close (`pay_during_close`: proven paid, with its number).
fn confirm_rows(sandbox: &SandboxThread, client: &str) -> Result<Vec<ConfirmRow>, Failure> {
    let creds = sandbox.credentials();
    let state = sandbox.state();
    let (common, direct, partner) = (&V2_MERCHANTS[0], &V3_MERCHANTS[0], &V3_MERCHANTS[1]);
    let (sub, sub_order_mchid) = (partner.subs[0], direct.combined_with[0]);
    let v2 = V2Credentials::new(common.appid, common.mch_id, creds.api_v2_key())
        .map_err(|e| Failure::error(e.to_string()))?;
    let v3 = v3_creds(direct.mchid, AnswerMode::PublicKey, &creds)?;
    let sp = v3_creds(partner.mchid, AnswerMode::PublicKey, &creds)?;
    let mut rows = Vec::new();
    for (i, fault) in [Fault::DropAfterRead, Fault::PayDuringClose].into_iter().enumerate() {
        let expected =
            if fault == Fault::PayDuringClose { CloseOutcome::Paid } else { CloseOutcome::Closed };
        let paid = |key: &OrderKey| (expected == CloseOutcome::Paid).then(|| key.clone());
        let no = |kind: &str| format!("confirm-{client}-{kind}-{i}");
        let mut row = |call: &str, order: String, route: Route, key: Option<OrderKey>, job: Job| {
            let rule = match fault {
                Fault::DropAfterRead => FaultRule::always(fault),
                _ => FaultRule::next(fault, 1),
            };
            state.add_fault(rule.on(route).for_order(order.as_str()));
            rows.push(ConfirmRow {
                call: format!("confirmed {call}"),
                order,
                fault,
                expected,
                paid: key,
                job,
            });
        };

        let n = no("v2");
        let key = OrderKey::new(common.mch_id, &n);
        state.put_order(key.clone(), OrderState::Unpaid);
        let job = Job::V2(v2.clone(), CloseOrderV2::new(&n).into());
        row("v2", n, Route::V2Close, paid(&key), job);

        let n = no("direct");
        let key = OrderKey::new(direct.mchid, &n);
        state.put_order(key.clone(), OrderState::Unpaid);
        let job = Job::V3(v3.clone(), CloseOrderV3::new(&n).into());
        row("v3 direct", n, Route::V3Direct, paid(&key), job);

        let n = no("partner");
        let key = OrderKey::sub(partner.mchid, sub, &n);
        state.put_order(key.clone(), OrderState::Unpaid);
        let job = Job::V3(sp.clone(), CloseOrderV3::new(&n).for_sub_merchant(sub).into());
        row("v3 partner", n, Route::V3Partner, paid(&key), job);

        let n = no("combined");
        let (a, b) = (format!("{n}-a"), format!("{n}-b"));
        let key = OrderKey::new(direct.mchid, &a);
        state.put_order(key.clone(), OrderState::Unpaid);
        state.put_order(OrderKey::new(sub_order_mchid, &b), OrderState::Unpaid);
        let op = CloseCombinedOrder::new(
            "wxd678efh567hg6787",
            &n,
            vec![SubOrder::new(direct.mchid, a), SubOrder::new(sub_order_mchid, b)],
        );
        row("v3 combined", n, Route::V3Combined, paid(&key), Job::V3(v3.clone(), op.into()));

        let n = no("global");
        let key = OrderKey::new(direct.mchid, &n);
        state.put_order(key.clone(), OrderState::Unpaid);
        let job = Job::V3(v3.clone(), CloseGlobalOrder::by_out_trade_no(&n).into());
        row("v3 global", n, Route::V3Global, paid(&key), job);
    }
    Ok(rows)
}

/// What a confirmed close gave, and whether it is what the row expects: the outcome, proven
/// by the query, and for a paid order the sandbox's own `transaction_id`.
fn confirmed(
    sandbox: &SandboxThread,
    row: &ConfirmRow,
    result: &Result<Confirmed, Error>,
) -> (String, bool) {
    match result {
        Ok(c) => {
            let id = c.transaction_id();
            let mut got = format!("{}, proof {}", c.outcome.as_str(), c.proof.as_str());
            if let Some(id) = id {
                got.push_str(&format!(", transaction_id {id}"));
            }
            let want_id = row
                .paid
                .as_ref()
                .and_then(|key| sandbox.state().order(key))
                .and_then(|o| o.transaction_id);
            let ok = c.outcome == row.expected
                && c.proof == Proof::Query
                && (row.paid.is_none() || (id.is_some() && id == want_id.as_deref()));
            (got, ok)
        }
        Err(e) => (format!("error: {e}"), false),
    }
}

/// Prints `rows` under `header`, the first four columns padded to their widest.
fn print_table(header: &[String; 5], rows: &[[String; 5]]) {
    let widths: Vec<usize> = (0..4)
        .map(|i| {
            rows.iter()
                .chain(std::iter::once(header))
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in std::iter::once(header).chain(rows) {
        say!(
            "{:w0$}  {:w1$}  {:w2$}  {:w3$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        );
    }
}

fn config_with(base: &str, job: &Job, retry: RetryPolicy) -> Result<ClientConfig, Failure> {
    let b = ClientConfig::builder().base_url(base).retry(retry);
    let b = match job {
        Job::V2(c, _) => b.v2(c.clone()),
        Job::V3(c, _) => b.v3(c.clone()),
    };
    b.build().map_err(|e| Failure::error(e.to_string()))
}

fn config(base: &str, job: &Job) -> Result<ClientConfig, Failure> {
    let b = ClientConfig::builder().base_url(base);
    let b = match job {
        Job::V2(c, _) => b.v2(c.clone()),
        Job::V3(c, _) => b.v3(c.clone()),
    };
    b.build().map_err(|e| Failure::error(e.to_string()))
}

fn got(result: &Result<CloseOutcome, Error>) -> String {
    match result {
        Ok(o) => o.as_str().to_owned(),
        Err(e) => format!("error: {e}"),
    }
}

pub(crate) fn run() -> Result<u8, Failure> {
    let started = SystemTime::now();
    let sandbox = SandboxThread::start(SandboxConfig::default())
        .map_err(|e| Failure::error(format!("cannot start the sandbox: {e}")))?;
    say!("wxpay demo: WeChat Pay sandbox at {} (test keys only)\n", sandbox.base_url());
    let rt = runtime()?;
    let mut table: Vec<[String; 5]> = Vec::new();
    let mut failures = 0;
    for client in ["blocking", "async"] {
        for row in rows(&sandbox, client)? {
            let config = config(sandbox.base_url(), &row.job)?;
            let result = if client == "blocking" {
                let c = wxpay_blocking::Client::new(config)
                    .map_err(|e| Failure::error(e.to_string()))?;
                c.close(row.job.close())
            } else {
                let c =
                    wxpay_async::Client::new(config).map_err(|e| Failure::error(e.to_string()))?;
                rt.block_on(c.close(row.job.close()))
            };
            let got = got(&result);
            let ok = result.as_ref().ok() == Some(&row.expected);
            failures += usize::from(!ok);
            let mark = if ok { "ok" } else { "MISMATCH" };
            table.push([
                row.call,
                client.to_owned(),
                row.order,
                row.expected.as_str().to_owned(),
                format!("{got}  {mark}"),
            ]);
        }
    }
    let header = ["call", "client", "order", "expected", "got"].map(str::to_owned);
    print_table(&header, &table);
    say!("\n{} closes, {} as expected, {failures} not", table.len(), table.len() - failures);

    // Confirmed closes (the command's --confirm doubt): the query proves what the close's
    // answer cannot.
    say!(
        "\nConfirmed close: where a close's answer proves nothing, a query answer that names the order proves its end"
    );
    let settings = ConfirmSettings::default()
        .with_policy(ConfirmPolicy::Doubt)
        .with_waits(Duration::from_millis(200), Duration::from_millis(100));
    // Quick retries: every attempt of a lost close is lost, and the demo should not wait.
    let retry =
        RetryPolicy::default().with_delays(Duration::from_millis(5), Duration::from_millis(20));
    let mut confirmed_table: Vec<[String; 5]> = Vec::new();
    let mut confirm_failures = 0;
    for client in ["blocking", "async"] {
        for row in confirm_rows(&sandbox, client)? {
            let config = config_with(sandbox.base_url(), &row.job, retry.clone())?;
            let result = if client == "blocking" {
                let c = wxpay_blocking::Client::new(config)
                    .map_err(|e| Failure::error(e.to_string()))?;
                c.close_confirmed(row.job.close(), settings.clone())
            } else {
                let c =
                    wxpay_async::Client::new(config).map_err(|e| Failure::error(e.to_string()))?;
                rt.block_on(c.close_confirmed(row.job.close(), settings.clone()))
            };
            let (got, ok) = confirmed(&sandbox, &row, &result);
            confirm_failures += usize::from(!ok);
            let mark = if ok { "ok" } else { "MISMATCH" };
            confirmed_table.push([
                row.call,
                client.to_owned(),
                row.order,
                format!("{} → {}", row.fault.name(), row.expected.as_str()),
                format!("{got}  {mark}"),
            ]);
        }
    }
    let header = ["call", "client", "order", "fault → expected", "got"].map(str::to_owned);
    print_table(&header, &confirmed_table);
    let secs = started.elapsed().map_or(0.0, |d| d.as_secs_f64());
    say!(
        "\n{} confirmed closes, {} as expected, {confirm_failures} not; {secs:.1} s in all",
        confirmed_table.len(),
        confirmed_table.len() - confirm_failures
    );
    Ok(if failures == 0 && confirm_failures == 0 { exit::CLOSED } else { exit::ERROR })
}
