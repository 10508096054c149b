//! One table of cases, run through the blocking and the async client against the real
//! sandbox on loopback: every outcome, every sandbox fault, APIv2 MD5/HMAC-SHA256 in common
//! and institutional mode, APIv3 direct/partner/combined in public-key and certificate
//! mode. Both clients must give the expected result, hence the same one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use wxpay_core::v2::{CloseOrderV2, SignType};
use wxpay_core::v3::{CloseCombinedOrder, CloseGlobalOrder, CloseOrderV3, SubOrder};
use wxpay_core::{
    ClientConfig, CloseOrder, CloseOutcome, Error, ErrorKind, OrderEffect, RetryPolicy, VerifyError,
};
use wxpay_integration_tests::*;
use wxpay_sandbox::merchants::{MERCHANT_CERT_PEM, TLS_CA_PEM};
use wxpay_sandbox::{
    AnswerMode, Fault, FaultRule, OrderKey, OrderState, SandboxConfig, SandboxThread,
};

#[derive(Clone, Copy, Debug)]
enum Api {
    V2 {
        mch: &'static str,
        sign: SignType,
    },
    V3Direct(AnswerMode),
    V3Partner(AnswerMode),
    V3Combined(AnswerMode),
    /// APIv2 signed with a key that is not the merchant's: `return_code=FAIL`.
    V2WrongKey,
    /// Cross-border: by WeChat Pay's number or the merchant's, as an institution or not.
    V3Global {
        by_id: bool,
        institution: bool,
    },
}

#[derive(Clone, Copy, Debug)]
enum Order {
    Missing,
    Is(OrderState),
    Young,
}

struct Case {
    name: &'static str,
    api: Api,
    order: Order,
    fault: Option<(Fault, Option<u32>)>,
    /// Per-attempt timeout, when the case needs a short one.
    timeout: Option<Duration>,
    retries: bool,
    expect: &'static str,
}

const MD5: SignType = SignType::Md5;
const HMAC: SignType = SignType::HmacSha256;
const PK: AnswerMode = AnswerMode::PublicKey;
const PC: AnswerMode = AnswerMode::PlatformCertificate;
const UNPAID: Order = Order::Is(OrderState::Unpaid);
const CLOSED: Order = Order::Is(OrderState::Closed);
const PAID: Order = Order::Is(OrderState::Paid);

fn case(name: &'static str, api: Api, order: Order, expect: &'static str) -> Case {
    Case { name, api, order, fault: None, timeout: None, retries: true, expect }
}

fn faulty(
    name: &'static str,
    api: Api,
    fault: Fault,
    times: Option<u32>,
    expect: &'static str,
) -> Case {
    Case { fault: Some((fault, times)), ..case(name, api, UNPAID, expect) }
}

fn cases() -> Vec<Case> {
    let v2 = Api::V2 { mch: V2_MCH, sign: MD5 };
    let v2h = Api::V2 { mch: V2_MCH, sign: HMAC };
    let v2sp = Api::V2 { mch: V2_SP, sign: MD5 };
    let v2sph = Api::V2 { mch: V2_SP, sign: HMAC };
    let v3 = Api::V3Direct(PK);
    let gno = Api::V3Global { by_id: false, institution: false };
    let gid = Api::V3Global { by_id: true, institution: false };
    let gno_i = Api::V3Global { by_id: false, institution: true };
    let gid_i = Api::V3Global { by_id: true, institution: true };
    vec![
        // Outcomes, APIv2.
        case("v2 md5 unpaid", v2, UNPAID, "closed"),
        case("v2 md5 closed", v2, CLOSED, "already_closed"),
        case("v2 md5 paid", v2, PAID, "paid"),
        case("v2 md5 missing", v2, Order::Missing, "not_found"),
        case("v2 md5 young", v2, Order::Young, "refused:api:RULE_LIMIT"),
        case("v2 hmac unpaid", v2h, UNPAID, "closed"),
        case("v2 hmac paid", v2h, PAID, "paid"),
        case("v2 hmac missing", v2h, Order::Missing, "not_found"),
        case("v2 institutional md5 unpaid", v2sp, UNPAID, "closed"),
        case("v2 institutional hmac closed", v2sph, CLOSED, "already_closed"),
        case("v2 institutional hmac paid", v2sph, PAID, "paid"),
        // Outcomes, APIv3.
        case("v3 direct pk unpaid", v3, UNPAID, "closed"),
        case("v3 direct pk closed", v3, CLOSED, "already_closed"),
        case("v3 direct pk paid", v3, PAID, "paid"),
        case("v3 direct pk missing", v3, Order::Missing, "not_found"),
        case("v3 direct pk young", v3, Order::Young, "refused:api:RULE_LIMIT"),
        case("v3 direct cert unpaid", Api::V3Direct(PC), UNPAID, "closed"),
        case("v3 direct cert paid", Api::V3Direct(PC), PAID, "paid"),
        case("v3 partner pk unpaid", Api::V3Partner(PK), UNPAID, "closed"),
        case("v3 partner cert closed", Api::V3Partner(PC), CLOSED, "already_closed"),
        case("v3 partner pk missing", Api::V3Partner(PK), Order::Missing, "not_found"),
        case("v3 combined pk unpaid", Api::V3Combined(PK), UNPAID, "closed"),
        case("v3 combined cert paid", Api::V3Combined(PC), PAID, "paid"),
        // Faults, APIv3: retried where a retry can help, never past verification.
        faulty("v3 system error once", v3, Fault::SystemError, Some(1), "closed"),
        faulty(
            "v3 system error always",
            v3,
            Fault::SystemError,
            None,
            "unknown:api:SYSTEM_ERROR@3",
        ),
        faulty("v3 frequency limited once", v3, Fault::FrequencyLimited, Some(1), "closed"),
        faulty("v3 dropped before read", v3, Fault::DropBeforeRead, Some(1), "closed"),
        faulty("v3 dropped after read", v3, Fault::DropAfterRead, Some(1), "already_closed"),
        faulty("v3 truncated body", v3, Fault::TruncatedBody, Some(1), "already_closed"),
        faulty("v3 bad signature", v3, Fault::BadSignature, Some(1), "unknown:verify:BadSignature"),
        faulty(
            "v3 missing signature",
            v3,
            Fault::MissingSignature,
            Some(1),
            "unknown:verify:MissingHeader",
        ),
        faulty(
            "v3 signtest probe",
            v3,
            Fault::SignTestProbe,
            Some(1),
            "unknown:verify:SignTestProbe",
        ),
        faulty(
            "v3 stale timestamp",
            v3,
            Fault::StaleTimestamp,
            Some(1),
            "unknown:verify:StaleTimestamp",
        ),
        faulty("v3 malformed body", v3, Fault::MalformedBody, Some(1), "unknown:decode"),
        faulty(
            "v3 oversized body",
            v3,
            Fault::OversizedBody,
            Some(1),
            "unknown:transport:BodyTooLarge",
        ),
        faulty(
            "v3 probe on partner",
            Api::V3Partner(PC),
            Fault::SignTestProbe,
            None,
            "unknown:verify:SignTestProbe",
        ),
        Case {
            timeout: Some(Duration::from_millis(400)),
            ..faulty(
                "v3 delay past timeout, retried",
                v3,
                Fault::Delay(Duration::from_millis(1500)),
                Some(1),
                "closed",
            )
        },
        Case {
            timeout: Some(Duration::from_millis(300)),
            retries: false,
            ..faulty(
                "v3 delay past timeout, no retries",
                v3,
                Fault::Delay(Duration::from_millis(900)),
                Some(1),
                "unknown:transport:Timeout",
            )
        },
        // Faults, APIv2.
        faulty("v2 system error once", v2h, Fault::SystemError, Some(1), "closed"),
        faulty(
            "v2 system error always",
            v2,
            Fault::SystemError,
            None,
            "unknown:api:SYSTEM_ERROR@3",
        ),
        faulty("v2 frequency limited once", v2, Fault::FrequencyLimited, Some(1), "closed"),
        faulty("v2 dropped after read", v2, Fault::DropAfterRead, Some(1), "already_closed"),
        faulty("v2 truncated body", v2sp, Fault::TruncatedBody, Some(1), "already_closed"),
        faulty("v2 bad signature", v2, Fault::BadSignature, Some(1), "unknown:verify:BadSignature"),
        faulty(
            "v2 missing signature",
            v2h,
            Fault::MissingSignature,
            Some(1),
            "unknown:verify:MissingSign",
        ),
        faulty("v2 malformed body", v2, Fault::MalformedBody, Some(1), "unknown:decode"),
        faulty(
            "v2 oversized body",
            v2,
            Fault::OversizedBody,
            Some(1),
            "unknown:transport:BodyTooLarge",
        ),
        // Cross-border: every outcome, by either number, common and institutional mode.
        case("global no unpaid", gno, UNPAID, "closed"),
        case("global no closed", gno, CLOSED, "already_closed"),
        case("global no paid", gno, PAID, "paid"),
        case("global no missing", gno, Order::Missing, "not_found"),
        case("global no young", gno, Order::Young, "refused:api:RULE_LIMIT"),
        case("global id unpaid", gid, UNPAID, "closed"),
        case("global id closed", gid, CLOSED, "already_closed"),
        case("global id paid", gid, PAID, "paid"),
        case("global id missing", gid, Order::Missing, "not_found"),
        case("global institution no unpaid", gno_i, UNPAID, "closed"),
        case("global institution no paid", gno_i, PAID, "paid"),
        case("global institution id unpaid", gid_i, UNPAID, "closed"),
        case("global institution id closed", gid_i, CLOSED, "already_closed"),
        case("global institution id missing", gid_i, Order::Missing, "not_found"),
        faulty("global id system error once", gid, Fault::SystemError, Some(1), "closed"),
        faulty(
            "global no dropped after read",
            gno_i,
            Fault::DropAfterRead,
            Some(1),
            "already_closed",
        ),
        faulty(
            "global id bad signature",
            gid,
            Fault::BadSignature,
            Some(1),
            "unknown:verify:BadSignature",
        ),
        once(
            "global id once frequency limited",
            gid_i,
            Fault::FrequencyLimited,
            "refused:api:FREQUENCY_LIMITED",
        ),
        // What each error says about the order, for every fault, both generations, one
        // attempt: refused (verified refusals), or unknown (it may have been processed).
        // Not sent (refused connections, TLS failures, bad input) has tests of its own below.
        once("v3 once system error", v3, Fault::SystemError, "unknown:api:SYSTEM_ERROR"),
        once(
            "v3 once frequency limited",
            v3,
            Fault::FrequencyLimited,
            "refused:api:FREQUENCY_LIMITED",
        ),
        once("v3 once dropped before read", v3, Fault::DropBeforeRead, "unknown:transport:Io"),
        once("v3 once dropped after read", v3, Fault::DropAfterRead, "unknown:transport:Io"),
        once("v3 once truncated", v3, Fault::TruncatedBody, "unknown:transport:Io"),
        once("v3 once bad signature", v3, Fault::BadSignature, "unknown:verify:BadSignature"),
        once("v3 once stale", v3, Fault::StaleTimestamp, "unknown:verify:StaleTimestamp"),
        once("v3 once malformed", v3, Fault::MalformedBody, "unknown:decode"),
        once("v2 once system error", v2, Fault::SystemError, "unknown:api:SYSTEM_ERROR"),
        once(
            "v2 once frequency limited",
            v2,
            Fault::FrequencyLimited,
            "refused:api:FREQUENCY_LIMITED",
        ),
        once("v2 once dropped after read", v2, Fault::DropAfterRead, "unknown:transport:Io"),
        once("v2 once truncated", v2h, Fault::TruncatedBody, "unknown:transport:Io"),
        once("v2 once bad signature", v2, Fault::BadSignature, "unknown:verify:BadSignature"),
        once("v2 once probe", v2, Fault::SignTestProbe, "unknown:verify:BadSignature"),
        once(
            "v2 once missing signature",
            v2,
            Fault::MissingSignature,
            "unknown:verify:MissingSign",
        ),
        once("v2 once malformed", v2sph, Fault::MalformedBody, "unknown:decode"),
        once("v2 once stale (no timestamp in APIv2)", v2, Fault::StaleTimestamp, "closed"),
        Case {
            timeout: Some(Duration::from_millis(300)),
            ..once(
                "v2 once delay past timeout",
                v2,
                Fault::Delay(Duration::from_millis(900)),
                "unknown:transport:Timeout",
            )
        },
        // WeChat Pay refuses the request itself (unsigned return_code=FAIL): unchanged.
        case("v2 wrong key", Api::V2WrongKey, UNPAID, "refused:communication:SIGNERROR"),
        // The status line is not signed: a genuine answer under another status proves
        // nothing it did not prove before, and nothing false.
        Case {
            order: PAID,
            ..once(
                "v3 signed ORDER_PAID relabelled 200",
                v3,
                Fault::RelabelStatus(200),
                "unknown:decode",
            )
        },
        once(
            "v3 signed 204 relabelled 403",
            v3,
            Fault::RelabelStatus(403),
            "unknown:api:HTTP_STATUS",
        ),
        once("v3 signed 204 relabelled 200", v3, Fault::RelabelStatus(200), "unknown:decode"),
        Case {
            order: PAID,
            ..once(
                "v3 signed ORDER_PAID relabelled 403",
                v3,
                Fault::RelabelStatus(403),
                "refused:api:ORDERPAID",
            )
        },
        once("v3 signed 202 USER_PAYING", v3, Fault::UserPaying, "unknown:decode"),
        once(
            "global signed 204 relabelled 403",
            gid,
            Fault::RelabelStatus(403),
            "unknown:api:HTTP_STATUS",
        ),
        once(
            "v3 combined signed 204 relabelled 202",
            Api::V3Combined(PK),
            Fault::RelabelStatus(202),
            "unknown:decode",
        ),
        once("v2 relabelled 500", v2, Fault::RelabelStatus(500), "unknown:api:HTTP_STATUS"),
        once("v3 escape text", v3, Fault::EscapeText, "unknown:api:HTTP_STATUS"),
        // Retried to the end: a refusal stays a refusal, with the attempts alongside.
        faulty(
            "v3 always frequency limited",
            v3,
            Fault::FrequencyLimited,
            None,
            "refused:api:FREQUENCY_LIMITED@3",
        ),
        faulty(
            "v2 always frequency limited",
            v2h,
            Fault::FrequencyLimited,
            None,
            "refused:api:FREQUENCY_LIMITED@3",
        ),
    ]
}

/// A fault on every attempt, and no retries.
fn once(name: &'static str, api: Api, fault: Fault, expect: &'static str) -> Case {
    Case { retries: false, ..faulty(name, api, fault, None, expect) }
}

/// A result as a short, comparable string.
fn summary(result: &Result<CloseOutcome, Error>) -> String {
    match result {
        Ok(outcome) => outcome.as_str().to_owned(),
        Err(e) => error_summary(e),
    }
}

/// `effect:kind[:detail][@attempts]`, e.g. `unknown:api:SYSTEM_ERROR@3`.
fn error_summary(e: &Error) -> String {
    let kind = match e.kind() {
        ErrorKind::Api(a) => format!("api:{}", a.code.as_str()),
        ErrorKind::Communication { return_msg } => format!("communication:{return_msg}"),
        ErrorKind::Verify(v) => format!(
            "verify:{}",
            match v {
                VerifyError::MissingSign => "MissingSign",
                VerifyError::MissingHeader(_) => "MissingHeader",
                VerifyError::StaleTimestamp { .. } => "StaleTimestamp",
                VerifyError::SignTestProbe => "SignTestProbe",
                VerifyError::BadSignature => "BadSignature",
                VerifyError::Replayed => "Replayed",
                other => return format!("verify:{other:?}"),
            }
        ),
        ErrorKind::Decode(_) => "decode".into(),
        ErrorKind::Transport(t) => format!("transport:{:?}", t.kind),
        other => format!("other:{other}"),
    };
    let effect = e.order_effect().as_str();
    match e.attempts() {
        0 | 1 => format!("{effect}:{kind}"),
        n => format!("{effect}:{kind}@{n}"),
    }
}

/// A WeChat Pay order number (digits) for the case's order number (`blk-012` → `42…1012`).
fn transaction_id(no: &str) -> String {
    let client = if no.starts_with("blk") { '1' } else { '2' };
    let digits: String = no.chars().filter(char::is_ascii_digit).collect();
    format!("4200000000201811{client}{digits:0>11}")
}

/// The close a case runs.
type Op = CloseOrder;

fn setup(sandbox: &SandboxThread, case: &Case, no: &str) -> (Op, ClientConfig) {
    let state = sandbox.state();
    let put = |key: OrderKey| match case.order {
        Order::Missing => {}
        Order::Is(s) => state.put_order(key, s),
        Order::Young => state.put_order_created(
            key,
            OrderState::Unpaid,
            std::time::SystemTime::now() - Duration::from_secs(5),
        ),
    };
    let mut config = config(sandbox.base_url());
    if let Some(t) = case.timeout {
        config = config.timeout(t);
    }
    if !case.retries {
        config = config.retry(RetryPolicy::never());
    }
    let op = match case.api {
        Api::V2 { mch, sign } => {
            config = config.v2(v2_credentials(mch, sign));
            if mch == V2_SP {
                put(OrderKey::sub(V2_SP, V2_SUB, no));
                Op::V2(CloseOrderV2::new(no).for_sub_merchant(V2_SUB).with_sub_appid(V2_SUB_APPID))
            } else {
                put(OrderKey::new(V2_MCH, no));
                Op::V2(CloseOrderV2::new(no))
            }
        }
        Api::V2WrongKey => {
            let key = wxpay_core::ApiV2Key::new("0".repeat(32)).unwrap();
            let creds = wxpay_core::v2::V2Credentials::new("wx2421b1c4370ec43b", V2_MCH, key);
            config = config.v2(creds.unwrap());
            put(OrderKey::new(V2_MCH, no));
            Op::V2(CloseOrderV2::new(no))
        }
        Api::V3Direct(mode) => {
            config = config.v3(v3_credentials(V3_MCH, mode));
            put(OrderKey::new(V3_MCH, no));
            Op::V3(CloseOrderV3::new(no))
        }
        Api::V3Partner(mode) => {
            config = config.v3(v3_credentials(V3_SP, mode));
            put(OrderKey::sub(V3_SP, V3_SUB, no));
            Op::V3(CloseOrderV3::new(no).for_sub_merchant(V3_SUB))
        }
        Api::V3Global { by_id, institution } => {
            let (mch, key) = if institution {
                (V3_SP, OrderKey::sub(V3_SP, V3_SUB, no))
            } else {
                (V3_MCH, OrderKey::new(V3_MCH, no))
            };
            config = config.v3(v3_credentials(mch, AnswerMode::PublicKey));
            put(key.clone());
            let op = if by_id {
                let id = transaction_id(no);
                state.set_transaction_id(&key, &id);
                CloseGlobalOrder::by_transaction_id(id)
            } else {
                CloseGlobalOrder::by_out_trade_no(no)
            };
            Op::Global(if institution { op.for_sub_merchant(V3_SUB) } else { op })
        }
        Api::V3Combined(mode) => {
            config = config.v3(v3_credentials(V3_MCH, mode));
            let (a, b) = (format!("{no}-a"), format!("{no}-b"));
            put(OrderKey::new(V3_MCH, &a));
            // The second sub-order is always unpaid: a paid first one must still fail the whole.
            state.put_order(OrderKey::new(V3_SUB_ORDER, &b), OrderState::Unpaid);
            Op::Combined(CloseCombinedOrder::new(
                "wxd678efh567hg6787",
                no,
                vec![SubOrder::new(V3_MCH, a), SubOrder::new(V3_SUB_ORDER, b)],
            ))
        }
    };
    if let Some((fault, times)) = case.fault {
        // A fault on a close by transaction id is scoped by that id, as in its path.
        let scope = match case.api {
            Api::V3Global { by_id: true, .. } => transaction_id(no),
            _ => no.to_owned(),
        };
        state.add_fault(FaultRule { fault, endpoint: None, out_trade_no: Some(scope), times });
    }
    (op, config.build().unwrap())
}

fn close_blocking(config: ClientConfig, op: &Op) -> Result<CloseOutcome, Error> {
    wxpay_blocking::Client::new(config).unwrap().close(op.clone())
}

async fn close_async(config: ClientConfig, op: &Op) -> Result<CloseOutcome, Error> {
    wxpay_async::Client::new(config).unwrap().close(op.clone()).await
}

/// Through the blocking client, or the async one on a runtime of its own.
fn close_with(blocking: bool, config: ClientConfig, op: &Op) -> Result<CloseOutcome, Error> {
    if blocking {
        close_blocking(config, op)
    } else {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(close_async(config, op))
    }
}

fn run_blocking(sandbox: &SandboxThread, case: &Case, no: &str) -> String {
    let (op, config) = setup(sandbox, case, no);
    summary(&close_blocking(config, &op))
}

async fn run_async(sandbox: &SandboxThread, case: &Case, no: &str) -> String {
    let (op, config) = setup(sandbox, case, no);
    summary(&close_async(config, &op).await)
}

#[test]
fn the_case_table_through_both_clients() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut failures = Vec::new();
    for (i, case) in cases().iter().enumerate() {
        let blocking = run_blocking(&sandbox, case, &format!("blk-{i:03}"));
        let asynchronous = runtime.block_on(run_async(&sandbox, case, &format!("asy-{i:03}")));
        if blocking != case.expect || asynchronous != case.expect {
            failures.push(format!(
                "{}: expected {}, blocking gave {blocking}, async gave {asynchronous}",
                case.name, case.expect
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases().len(),
        failures.join("\n")
    );
}

/// A loopback port that refuses connections.
fn refusing_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}

#[test]
fn a_refused_primary_fails_over_to_the_backup() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let primary = format!("http://127.0.0.1:{}", refusing_port());
    for (i, blocking) in [true, false].into_iter().enumerate() {
        let op = v3_order(&sandbox, &format!("failover-{i}"));
        let config = ClientConfig::builder()
            .base_urls(&primary, sandbox.base_url())
            .retry(quick_retries())
            .v3(v3_credentials(V3_MCH, AnswerMode::PublicKey))
            .build()
            .unwrap();
        let before = sandbox.state().requests();
        let started = Instant::now();
        let result = close_with(blocking, config, &op);
        assert_eq!(result.unwrap(), CloseOutcome::Closed, "blocking={blocking}");
        assert_eq!(sandbox.state().requests(), before + 1, "one attempt reached the backup");
        // Fail-over is immediate: no back-off sleep before the backup.
        assert!(
            started.elapsed()
                < Duration::from_millis(quick_retries().base_delay.as_millis() as u64 / 2 + 500)
        );
    }

    // With no backup, a refused connection is reported as such after the retries: nothing sent.
    let config = ClientConfig::builder()
        .base_url(&primary)
        .retry(quick_retries())
        .v3(v3_credentials(V3_MCH, AnswerMode::PublicKey))
        .build()
        .unwrap();
    let err = wxpay_blocking::Client::new(config)
        .unwrap()
        .close(CloseOrderV3::new("nowhere-1"))
        .unwrap_err();
    assert_eq!(error_summary(&err), "not_sent:transport:Connect@3");
    assert!(!err.was_sent(), "{err}");
}

#[test]
fn a_host_that_does_not_resolve_is_not_sent_by_either_client_and_says_why() {
    // `.invalid` never resolves (RFC 6761): the lookup fails on this machine, nothing goes out.
    let base = "https://wxpay-test.invalid:1";
    for blocking in [true, false] {
        let config = ClientConfig::builder()
            .base_url(base)
            .retry(quick_retries())
            .v3(v3_credentials(V3_MCH, AnswerMode::PublicKey))
            .build()
            .unwrap();
        let op = Op::V3(CloseOrderV3::new("unresolved-1"));
        let err = close_with(blocking, config, &op).unwrap_err();
        let what = format!("blocking={blocking}: {}", error_chain(&err));
        assert_eq!(error_summary(&err), "not_sent:transport:Connect@3", "{what}");
        assert!(!err.was_sent(), "{what}");
        assert!(err.to_string().contains("could not connect"), "{what}");
        // The cause says it was the name lookup (reqwest: "dns error"; std: "failed to lookup
        // address information").
        let chain = error_chain(&err);
        assert!(chain.contains("dns error") || chain.contains("lookup address"), "{what}");
    }
}

fn tls_sandbox() -> SandboxThread {
    let sandbox = SandboxThread::start(SandboxConfig { tls: true, ..SandboxConfig::default() });
    let sandbox = sandbox.unwrap();
    assert!(sandbox.base_url().starts_with("https://127.0.0.1:"), "{}", sandbox.base_url());
    sandbox
}

/// An unpaid APIv3 order `no` in `sandbox` and the operation closing it.
fn v3_order(sandbox: &SandboxThread, no: &str) -> Op {
    sandbox.state().put_order(OrderKey::new(V3_MCH, no), OrderState::Unpaid);
    Op::V3(CloseOrderV3::new(no))
}

#[test]
fn both_clients_close_over_tls_trusting_the_given_roots() {
    let sandbox = tls_sandbox();
    for blocking in [true, false] {
        let tls = |b: wxpay_core::ClientConfigBuilder| b.tls_roots_pem(TLS_CA_PEM).build().unwrap();
        let v3 = config(sandbox.base_url()).v3(v3_credentials(V3_MCH, AnswerMode::PublicKey));
        let op = v3_order(&sandbox, &format!("tls-v3-{blocking}"));
        assert_eq!(close_with(blocking, tls(v3), &op).unwrap(), CloseOutcome::Closed);

        let no = format!("tls-v2-{blocking}");
        sandbox.state().put_order(OrderKey::new(V2_MCH, &no), OrderState::Unpaid);
        let v2 = config(sandbox.base_url()).v2(v2_credentials(V2_MCH, HMAC));
        let op = Op::V2(CloseOrderV2::new(no));
        assert_eq!(close_with(blocking, tls(v2), &op).unwrap(), CloseOutcome::Closed);
    }
    assert_eq!(sandbox.state().requests(), 4);
}

#[test]
fn an_untrusted_certificate_fails_at_once_sends_nothing_and_says_why() {
    let sandbox = tls_sandbox();
    // A plain sandbox as the backup: a certificate problem must not send the order there.
    let backup = SandboxThread::start(SandboxConfig::default()).unwrap();
    // The built-in Mozilla roots, then roots that did not issue the sandbox's certificate.
    let roots: [Option<&str>; 2] = [None, Some(MERCHANT_CERT_PEM)];
    for (i, root) in roots.into_iter().enumerate() {
        for blocking in [true, false] {
            let no = format!("untrusted-{i}-{blocking}");
            let op = v3_order(&sandbox, &no);
            backup.state().put_order(OrderKey::new(V3_MCH, &no), OrderState::Unpaid);
            let mut builder = config(sandbox.base_url())
                .base_urls(sandbox.base_url(), backup.base_url())
                .v3(v3_credentials(V3_MCH, AnswerMode::PublicKey));
            if let Some(pem) = root {
                builder = builder.tls_roots_pem(pem);
            }
            let err = close_with(blocking, builder.build().unwrap(), &op).unwrap_err();
            let what = format!("blocking={blocking} roots={i}: {err}");
            // One attempt, no fail-over, no back-off.
            assert_eq!(error_summary(&err), "not_sent:transport:Tls", "{what}");
            assert!(!err.was_sent(), "{what}");
            // Display says what happened; the cause below it says why.
            assert!(!err.to_string().contains("UnknownIssuer"), "{what}");
            assert!(error_chain(&err).contains("UnknownIssuer"), "{what}");
        }
    }
    assert_eq!(sandbox.state().requests(), 0);
    assert_eq!(backup.state().requests(), 0);
}

#[test]
fn both_clients_go_through_connect_and_socks5_proxies() {
    let sandbox = tls_sandbox();
    let authority = sandbox.base_url().trim_start_matches("https://").to_owned();
    for kind in [ProxyKind::Connect, ProxyKind::Socks5] {
        let proxy = TestProxy::start(kind);
        for blocking in [true, false] {
            let config = config(sandbox.base_url())
                .v3(v3_credentials(V3_MCH, AnswerMode::PublicKey))
                .tls_roots_pem(TLS_CA_PEM)
                .proxy(proxy.url())
                .build()
                .unwrap();
            let op = v3_order(&sandbox, &format!("proxied-{kind:?}-{blocking}"));
            let outcome = close_with(blocking, config, &op);
            assert_eq!(outcome.unwrap(), CloseOutcome::Closed, "{kind:?} blocking={blocking}");
        }
        // One tunnel per client, each to the sandbox: the proxy carried both closes.
        assert_eq!(proxy.targets(), [authority.clone(), authority.clone()], "{kind:?}");
    }
    assert_eq!(sandbox.state().requests(), 4);
}

#[test]
fn builder_and_client_errors_are_clear() {
    let err = ClientConfig::builder()
        .base_url("http://10.1.2.3:8080")
        .v2(v2_credentials(V2_MCH, MD5))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
    // A call for an API generation the client has no credentials for.
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let config = config(sandbox.base_url()).v2(v2_credentials(V2_MCH, MD5)).build().unwrap();
    let client = wxpay_blocking::Client::new(config).unwrap();
    let err = client.close(CloseOrderV3::new("order-123")).unwrap_err();
    assert!(err.to_string().contains("APIv3 credentials"), "{err}");
    assert!(!err.was_sent());
    assert_eq!(sandbox.state().requests(), 0);
}

#[test]
fn the_core_needs_no_transport_crate() {
    use wxpay_core::{Attempt, BaseUrl, Context, Operation};
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    sandbox.state().put_order(OrderKey::new(V3_MCH, "raw-tcp-1"), OrderState::Unpaid);
    sandbox.state().put_order(OrderKey::new(V2_MCH, "raw-tcp-2"), OrderState::Paid);
    let ctx = Context::new()
        .with_v2(v2_credentials(V2_MCH, MD5))
        .with_v3(v3_credentials(V3_MCH, AnswerMode::PlatformCertificate));
    let base = BaseUrl::parse(sandbox.base_url()).unwrap();
    let now = wxpay_core::unix_now();
    let attempt = Attempt::new(&base, now, "RAWTCP1");

    let v3 = CloseOrderV3::new("raw-tcp-1");
    let answer = raw_tcp_exchange(v3.build(&ctx, &attempt).unwrap()).unwrap();
    assert_eq!(
        v3.parse(&ctx, &wxpay_core::ReplayGuard::new(), now, answer).unwrap(),
        CloseOutcome::Closed
    );
    let v2 = CloseOrderV2::new("raw-tcp-2");
    let answer = raw_tcp_exchange(v2.build(&ctx, &attempt).unwrap()).unwrap();
    assert_eq!(
        v2.parse(&ctx, &wxpay_core::ReplayGuard::new(), now, answer).unwrap(),
        CloseOutcome::Paid
    );
}

/// A signer that works once and then fails, as a KMS that goes down mid-call would.
struct FlakyKms {
    inner: wxpay_core::v3::RsaSigner,
    calls: std::sync::atomic::AtomicU32,
}

impl wxpay_core::v3::Signer for FlakyKms {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, wxpay_core::SignError> {
        if self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            self.inner.sign(message)
        } else {
            Err(wxpay_core::SignError::from_source("kms: service unavailable"))
        }
    }
}

#[test]
fn a_signer_failing_on_the_retry_does_not_hide_that_the_first_attempt_may_have_closed() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    for blocking in [true, false] {
        let no = format!("kms-down-{blocking}");
        let op = v3_order(&sandbox, &no);
        // Attempt 1 closes the order, but the connection drops before the answer.
        sandbox.state().add_fault(FaultRule {
            fault: Fault::DropAfterRead,
            endpoint: None,
            out_trade_no: Some(no.clone()),
            times: Some(1),
        });
        let c = wxpay_sandbox::Credentials { base_url: String::new() };
        let signer = FlakyKms { inner: c.merchant_signer(), calls: Default::default() };
        let verifier = wxpay_core::v3::VerifierSet::new().with(c.public_key_verifier());
        let creds = wxpay_core::v3::V3Credentials::new(
            V3_MCH,
            wxpay_sandbox::merchants::MERCHANT_SERIAL_NO,
            signer,
            verifier,
        )
        .unwrap();
        let config = config(sandbox.base_url()).v3(creds).build().unwrap();
        let err = close_with(blocking, config, &op).unwrap_err();
        let what = format!("blocking={blocking}: {err}");
        // The last attempt's kind stays matchable: the signer failed.
        assert!(matches!(err.kind(), ErrorKind::Sign(_)), "{what}");
        assert_eq!(err.attempts(), 2, "{what}");
        // But the first attempt may have closed the order (it did): unknown, not "unchanged".
        assert_eq!(err.order_effect(), OrderEffect::Unknown, "{what}");
        assert!(err.was_sent(), "{what}");
        assert!(err.to_string().starts_with("order state unknown: signing failed"), "{what}");
        assert!(error_chain(&err).ends_with("kms: service unavailable"), "{what}");
        let closed = sandbox.state().order(&OrderKey::new(V3_MCH, &no)).map(|o| o.state);
        assert_eq!(closed, Some(OrderState::Closed), "{what}");
    }
}

#[test]
fn no_public_type_holding_a_secret_shows_it_in_debug() {
    use wxpay_sandbox::merchants::MERCHANT_KEY_PEM;
    let key_text = wxpay_sandbox::merchants::API_V2_KEY;
    // A run of the private key's base64, well inside the PEM.
    let key_body: String = MERCHANT_KEY_PEM.lines().nth(5).unwrap().chars().take(40).collect();
    let password = "pr0xy-s3cret";
    let builder = config("http://127.0.0.1:9")
        .v2(v2_credentials(V2_MCH, SignType::HmacSha256))
        .v3(v3_credentials(V3_MCH, AnswerMode::PublicKey))
        .proxy(format!("http://alice:{password}@proxy.internal:3128"))
        .tls_roots_pem(TLS_CA_PEM);
    let mut shown = vec![format!("{builder:?}")];
    let config = builder.build().unwrap();
    shown.push(format!("{config:?}"));
    shown.push(format!("{:?}", config.context()));
    shown.push(format!("{:?}", wxpay_core::ApiV2Key::new(key_text).unwrap()));
    shown.push(format!("{:?}", wxpay_core::v3::RsaSigner::from_pem(MERCHANT_KEY_PEM).unwrap()));
    shown.push(format!("{:?}", wxpay_blocking::Client::new(config.clone()).unwrap()));
    shown.push(format!("{:?}", wxpay_async::Client::new(config.clone()).unwrap()));
    // A signed request: the Authorization header is sensitive.
    let base = wxpay_core::BaseUrl::parse("http://127.0.0.1:9").unwrap();
    let attempt = wxpay_core::Attempt::new(&base, 1_700_000_000, "N0NCE");
    let request =
        wxpay_core::Operation::build(&CloseOrderV3::new("debug-0001"), config.context(), &attempt)
            .unwrap();
    let signature = request.headers()["authorization"].to_str().unwrap().to_owned();
    let signature = signature.split("signature=\"").nth(1).unwrap()[..40].to_owned();
    shown.push(format!("{request:?}"));
    for text in &shown {
        for secret in [key_text, key_body.as_str(), password, "alice", signature.as_str()] {
            assert!(!text.contains(secret), "{secret:?} shows in {text}");
        }
    }
    assert!(shown[1].contains("1 certificates"), "{}", shown[1]);
}

#[test]
fn a_transaction_id_with_letters_is_refused_before_sending_by_both_clients() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    for blocking in [true, false] {
        let config = config(sandbox.base_url())
            .v3(v3_credentials(V3_MCH, AnswerMode::PublicKey))
            .build()
            .unwrap();
        let op: Op = CloseGlobalOrder::by_transaction_id("4200000000201811201234567X90").into();
        let err = close_with(blocking, config, &op).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::InvalidInput(wxpay_core::InvalidInput::BadCharacter {
                    field: "transaction_id",
                    character: 'X',
                    ..
                })
            ),
            "{err:?}"
        );
        assert_eq!((err.order_effect(), err.attempts()), (OrderEffect::NotSent, 1));
    }
    assert_eq!(sandbox.state().requests(), 0, "nothing was sent");
}

/// Closes `orders` through one client of either kind (one replay guard for all).
fn close_all(blocking: bool, config: ClientConfig, ops: &[Op]) -> Vec<Result<CloseOutcome, Error>> {
    if blocking {
        let client = wxpay_blocking::Client::new(config).unwrap();
        ops.iter().map(|op| client.close(op.clone())).collect()
    } else {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let client = wxpay_async::Client::new(config).unwrap();
        runtime.block_on(async {
            let mut results = Vec::new();
            for op in ops {
                results.push(client.close(op.clone()).await);
            }
            results
        })
    }
}

#[test]
fn one_signed_paid_answer_replayed_for_four_orders_is_believed_once() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let state = sandbox.state();
    for (g, v3) in [(0, false), (1, true)] {
        for blocking in [true, false] {
            let tag = format!("replay-{g}-{}", u8::from(blocking));
            let key = |no: &str| {
                if v3 { OrderKey::new(V3_MCH, no) } else { OrderKey::new(V2_MCH, no) }
            };
            let op = |no: &str| {
                if v3 { Op::V3(CloseOrderV3::new(no)) } else { Op::V2(CloseOrderV2::new(no)) }
            };
            let paid = format!("{tag}-paid");
            state.put_order(key(&paid), OrderState::Paid);
            let unpaid: Vec<String> = (1..=4).map(|i| format!("{tag}-{i}")).collect();
            for no in &unpaid {
                state.put_order(key(no), OrderState::Unpaid);
                // The answer to the paid order's close, sent again for each of these.
                state.add_fault(FaultRule::next(Fault::Replay, 1).for_order(no.as_str()));
            }
            let mut config = config(sandbox.base_url());
            config = if v3 {
                config.v3(v3_credentials(V3_MCH, AnswerMode::PublicKey))
            } else {
                config.v2(v2_credentials(V2_MCH, SignType::Md5))
            };
            let ops: Vec<Op> = std::iter::once(&paid).chain(&unpaid).map(|no| op(no)).collect();
            let results = close_all(blocking, config.build().unwrap(), &ops);
            assert_eq!(results[0].as_ref().unwrap(), &CloseOutcome::Paid, "{tag}");
            for (no, result) in unpaid.iter().zip(&results[1..]) {
                let err = result.as_ref().expect_err("a replayed answer is not believed");
                assert_eq!(error_summary(err), "unknown:verify:Replayed", "{tag} {no}");
                // Nothing reached the order: it is still open, and nobody claimed it paid.
                assert_eq!(state.order(&key(no)).unwrap().state, OrderState::Unpaid, "{no}");
            }
        }
    }
}

#[test]
fn text_from_the_network_is_shown_escaped_never_obeyed() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let state = sandbox.state();
    for blocking in [true, false] {
        for v3 in [false, true] {
            let no = format!("escape-{}-{}", u8::from(blocking), u8::from(v3));
            let (op, config) = if v3 {
                state.put_order(OrderKey::new(V3_MCH, &no), OrderState::Unpaid);
                let c =
                    config(sandbox.base_url()).v3(v3_credentials(V3_MCH, AnswerMode::PublicKey));
                (Op::V3(CloseOrderV3::new(&no)), c)
            } else {
                state.put_order(OrderKey::new(V2_MCH, &no), OrderState::Unpaid);
                let c = config(sandbox.base_url()).v2(v2_credentials(V2_MCH, SignType::Md5));
                (Op::V2(CloseOrderV2::new(&no)), c)
            };
            state.add_fault(FaultRule::always(Fault::EscapeText).for_order(no.as_str()));
            let err = close_with(blocking, config.build().unwrap(), &op).unwrap_err();
            let shown = err.to_string();
            assert!(!shown.contains('\u{1b}'), "{shown:?}");
            assert!(shown.contains("\\u{1b}[2J"), "{shown:?}");
            // The raw text stays available to code that wants it.
            let raw = match err.kind() {
                ErrorKind::Communication { return_msg } => return_msg.clone(),
                ErrorKind::Api(a) => a.message.clone(),
                other => panic!("{other:?}"),
            };
            assert_eq!(raw, wxpay_sandbox::ESCAPE_TEXT);
            // Unsigned: never a refusal for APIv3, a communication failure for APIv2.
            let effect = if v3 { OrderEffect::Unknown } else { OrderEffect::Refused };
            assert_eq!(err.order_effect(), effect, "{shown}");
        }
    }
}

#[test]
fn an_asynchronous_signer_is_driven_by_the_async_client_and_refused_by_the_blocking_one() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let c = sandbox.credentials();
    let verifier = wxpay_core::v3::PublicKeyVerifier::from_pem(
        wxpay_sandbox::merchants::WECHATPAY_PUBLIC_KEY_ID,
        wxpay_sandbox::merchants::WECHATPAY_PUB_PEM,
    )
    .unwrap();
    // A KMS stand-in: only the asynchronous trait is offered to the credentials.
    let creds = wxpay_core::v3::V3Credentials::with_async_signer(
        V3_MCH,
        wxpay_sandbox::merchants::MERCHANT_SERIAL_NO,
        c.merchant_signer(),
        verifier,
    )
    .unwrap();
    let config = config(sandbox.base_url()).v3(creds).build().unwrap();
    // Refused when the blocking client is built: nothing is sent, no order is involved.
    let err = wxpay_blocking::Client::new(config.clone()).unwrap_err();
    assert!(matches!(err, wxpay_core::BuildError::AsyncSigner), "{err:?}");
    assert!(err.to_string().contains("wxpay-async"), "{err}");
    assert_eq!(sandbox.state().requests(), 0);
    // The async client asks the signer (Action::Sign) and closes.
    let op = v3_order(&sandbox, "async-signer-1");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = wxpay_async::Client::new(config).unwrap();
    assert_eq!(rt.block_on(client.close(op)).unwrap(), CloseOutcome::Closed);
}

#[test]
fn an_api_error_s_detail_type_is_reachable_from_one_client_crate() {
    // `ApiError::detail` is a `serde_json::Value`: a user depending on one client names it
    // through that client's re-exports.
    let detail: Option<wxpay_blocking::serde_json::Value> =
        Some(wxpay_blocking::serde_json::json!({"field": "mchid"}));
    let mut e = wxpay_blocking::ApiError::new(
        wxpay_blocking::ApiVersion::V3,
        400,
        wxpay_blocking::ApiCode::ParamError,
        "m",
        true,
    );
    e.detail = detail;
    assert_eq!(e.detail.unwrap()["field"], "mchid");
    let _: Option<wxpay_async::serde_json::Value> = None;
}
