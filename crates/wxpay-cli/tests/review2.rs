//! Review 2: attacks on review 1's fixes through the command, each kept as a test: of the
//! fixed behaviour where it was fixed, of today's behaviour (its comment says so) where not.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use wxpay_sandbox::{Fault, FaultRule, Route, SandboxConfig, SandboxThread};

mod common;
use common::*;

/// `wxpay check` against a sandbox whose clock is 600 s ahead of this machine's and which
/// takes requests of any time, with `replay` (genuine answers signed 600 s ago: what someone
/// in the path replaying answers would send).
fn replayed_600_s_late(replay: FaultRule) -> Checked {
    let sandbox = SandboxThread::start(SandboxConfig {
        clock_offset_secs: 600,
        request_window_secs: None,
        ..SandboxConfig::default()
    })
    .unwrap();
    sandbox.state().add_fault(replay);
    check(&sandbox, &[])
}

// R2-2 (a destination flag did not win over WXPAY_BASE_URL) is fixed in the library's
// `resolve` and tested there (crates/wxpay-settings/tests/review2.rs): a test here would send
// to WeChat Pay's Hong Kong host.

/// R2-7. `wxpay check`'s clock line from replayed answers: this machine 600 s behind
/// WeChat Pay (whose requests it would refuse), and an in-path replayer answering with
/// genuine answers signed 600 s ago (modelled by the sandbox's clock offset, no request
/// window, and its stale-timestamp fault: a genuine signature over an old time). Every
/// answer verifies and check says "clock: ok: within 0 s", exit 0. The note "a replayed
/// answer would show an older time" is true, but an older time hides a clock that is behind.
#[test]
fn check_s_clock_ok_hides_a_clock_600_s_behind_from_replays() {
    let c = replayed_600_s_late(FaultRule::always(Fault::StaleTimestamp));
    let line = &c.clock;
    // Not fixable (every answer a genuine replay: nothing contradicts them); the line says
    // that a replay can hide a clock that is behind.
    assert!(line.starts_with("clock: ok: within 0 s"), "{line}");
    assert!(line.contains("a replay can hide a clock that is behind"), "{line}");
    assert_eq!(c.code, Some(0), "{}{}", c.stdout, c.stderr);
}

/// R2-7b. Only the query's answer replayed: the certificate list's fresh answer says the
/// clock is 600 s off (refused as out of the window), the replayed query's verifies at "0 s";
/// the clock line takes the verified one and drops the contradicting evidence.
#[test]
fn check_s_clock_line_keeps_a_fresh_answer_600_s_ahead() {
    let c = replayed_600_s_late(FaultRule::always(Fault::StaleTimestamp).on(Route::V3Query));
    let line = &c.clock;
    // Fixed: the fresh answer's later time is not dropped.
    assert!(line.starts_with("clock: not checked: the verified answers show"), "{line}");
    assert!(line.contains("600 s ahead"), "{line}");
    assert_eq!(c.code, Some(1), "{}{}", c.stdout, c.stderr);
}

/// R2-8. With the public key and the APIv3 key but no certificate file or directory, the
/// only verifier is the public key, and requests name it (`Wechatpay-Serial: PUB_KEY_ID_…`),
/// so a `both` merchant's certificate list answer is signed with the public key. Check says
/// "this answer is signed with a certificate": not so.
#[test]
fn check_claims_no_certificate_signature_where_none_could_verify() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let c = check(&sandbox, &["WXPAY_PLATFORM_CERT_FILE"]);
    let stdout = &c.stdout;
    // Fixed: no claim about which key signed the list.
    assert!(!stdout.contains("signed with a certificate"), "{stdout}");
    assert!(stdout.contains("APIv3: key mode: both"), "{stdout}");
    assert_eq!(c.code, Some(0), "{stdout}{}", c.stderr);
}

/// R2-6 (legitimate setup refused). The README's walkthrough (`wxpay certificates --out
/// certs/` against the sandbox, then `wxpay close --platform-cert-dir certs/`), run again
/// after the sandbox restarted: `wxpay sandbox` picks a free port by default, so the same
/// test merchant with the same fixed test certificates is "another" owner; the directory is
/// refused to verify with and to download into (no way to re-claim it but deleting it).
#[test]
fn a_restarted_sandbox_s_own_certificate_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let first = SandboxThread::start(SandboxConfig::default()).unwrap();
    let env = without(&env_for(&first, &dir.path().join("k1")), &["WXPAY_PLATFORM_CERT_FILE"]);
    let out = wxpay_with(&env).args(["certificates", "--out"]).arg(&certs).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_eq!(text(&out).1.matches("which is not WeChat Pay").count(), 1, "{:?}", text(&out));
    drop(first);
    let second = SandboxThread::start(SandboxConfig::default()).unwrap();
    let env = without(&env_for(&second, &dir.path().join("k2")), &["WXPAY_PLATFORM_CERT_FILE"]);
    let out = wxpay_with(&env).args(["certificates", "--out"]).arg(&certs).output().unwrap();
    let (stdout, stderr) = text(&out);
    eprintln!("{stdout}{stderr}");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("holds the platform certificates of"), "{stderr}");
    assert!(!stderr.contains("which is not WeChat Pay"), "nothing sent, nothing said: {stderr}");
}

/// R2-9. `wxpay certificates` wrote to `--out .` by default and the mirror removed every
/// `*.pem` that parsed as a certificate and was not listed: run in the merchant's key
/// directory, it deleted the merchant's own API certificate. `--out` is required now, and only
/// files of wxpay's own making (`<SERIAL>.pem`, named by their own serial) are removed.
#[test]
fn certificates_leave_the_merchant_s_own_api_certificate_alone() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sandbox, &dir.path().join("keys"));
    let home = dir.path().join("merchant");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(home.join("apiclient_cert.pem"), wxpay_sandbox::merchants::MERCHANT_CERT_PEM)
        .unwrap();
    let out = wxpay_with(&env).arg("certificates").current_dir(&home).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "--out is required: {:?}", text(&out));
    assert!(text(&out).1.contains("--out"), "{:?}", text(&out));
    let out =
        wxpay_with(&env).args(["certificates", "--out", "."]).current_dir(&home).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(!stdout.contains("removed"), "{stdout}");
    assert!(home.join("apiclient_cert.pem").exists());
    // A retired certificate of wxpay's own making still goes.
    let (retired, pem, _) = wxpay_sandbox::merchants::PLATFORM_CERTIFICATES[2];
    std::fs::write(home.join(format!("{retired}.pem")), pem).unwrap();
    let out =
        wxpay_with(&env).args(["certificates", "--out", "."]).current_dir(&home).output().unwrap();
    assert!(text(&out).0.contains(&format!("removed ./{retired}.pem")), "{:?}", text(&out));
    assert!(home.join("apiclient_cert.pem").exists());
}
