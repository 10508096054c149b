//! An outside review's attacks on settings, `wxpay check` and the sandbox (session 5), each
//! kept as a test of the fixed behaviour.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, SystemTime};

use wxpay_sandbox::{
    Fault, FaultRule, KeyMode, OrderKey, OrderState, Route, SandboxConfig, SandboxThread,
};

mod common;
use common::*;

fn set_old(path: &Path, age: Duration) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
}

/// F1. A file named by WXPAY_CONFIG that names a base URL must not receive the environment's
/// credentials, which (with no WXPAY_BASE_URL) are meant for WeChat Pay: refused, as the same
/// file given as --config sets them aside.
#[test]
fn a_file_wxpay_config_names_takes_no_credentials_to_its_own_base_url() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // "Production" credentials in the environment, destination WeChat Pay (no base URL).
    let env = without(&env_for(&sandbox, dir.path()), &["WXPAY_BASE_URL"]);
    // A dev config file next to them, naming another destination (here: the sandbox).
    let dev = dir.path().join("dev.toml");
    std::fs::write(&dev, format!("base_url = \"{}\"\n", sandbox.base_url())).unwrap();
    sandbox.state().put_order(OrderKey::new("1900000001", "cfg-order-1"), OrderState::Unpaid);

    // --config dev.toml: the environment's credentials are set aside (nothing sent).
    let before = sandbox.state().requests();
    let out = wxpay_with(&env)
        .args(["close", "--api", "v3", "--config"])
        .arg(&dev)
        .arg("cfg-order-1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert_eq!(sandbox.state().requests(), before);

    // WXPAY_CONFIG=dev.toml: refused as well, and nothing sent.
    let out = wxpay_with(&env)
        .args(["close", "--api", "v3", "cfg-order-1"])
        .env("WXPAY_CONFIG", &dev)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("never go to another"), "{stderr}");
    assert_eq!(sandbox.state().requests(), before);
    let order = sandbox.state().order(&OrderKey::new("1900000001", "cfg-order-1")).unwrap();
    assert_eq!(order.state, OrderState::Unpaid);
}

/// F2. Sandbox exports sourced in a shell where WXPAY_CONFIG names the production file: the
/// file must not fill `platform_cert_dir` into the sandbox's APIv3 settings (it did: a close
/// against the sandbox then wrote the sandbox's certificate, whose private key is public,
/// into production's directory).
#[test]
fn sandbox_exports_over_a_production_wxpay_config_leave_its_certificates_alone() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sandbox_keys = dir.path().join("sandbox-keys");
    let env = env_for(&sandbox, &sandbox_keys);
    // Production: its own settings file, and its platform certificates on disk, written
    // by `wxpay certificates` a day ago.
    let prod = dir.path().join("prod");
    let certs = prod.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let (prod_serial, prod_pem, _) = wxpay_sandbox::merchants::PLATFORM_CERTIFICATES[2];
    let prod_cert = certs.join(format!("{prod_serial}.pem"));
    std::fs::write(&prod_cert, prod_pem).unwrap();
    set_old(&prod_cert, Duration::from_secs(24 * 3600));
    std::fs::write(
        prod.join("wxpay.toml"),
        "mchid = \"1999999999\"\nserial_no = \"AAAA\"\nprivate_key_file = \"apiclient_key.pem\"\napi_v3_key_file = \"api_v3_key.txt\"\nplatform_cert_dir = \"certs\"\n",
    )
    .unwrap();
    // The sandbox was started this morning (its exported certificate file is 7 h old).
    let exported_cert = env.iter().find(|(k, _)| k == "WXPAY_PLATFORM_CERT_FILE").unwrap();
    set_old(Path::new(&exported_cert.1), Duration::from_secs(7 * 3600));

    sandbox.state().put_order(OrderKey::new("1900000001", "mix-order-1"), OrderState::Unpaid);
    let out = wxpay_with(&env)
        .args(["close", "--api", "v3", "mix-order-1"])
        .env("WXPAY_CONFIG", prod.join("wxpay.toml"))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let held: Vec<String> = std::fs::read_dir(&certs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    // Production's directory is untouched: the sandbox's settings took nothing from its file.
    assert_eq!(held, [format!("{prod_serial}.pem")], "production's certificate dir holds {held:?}");
}

/// F3. `wxpay check`'s clock line took the time of an answer that failed verification (the
/// window is checked before the signature): every answer's signature bad, it stated this
/// machine's clock ~100000 s ahead as fact. Such a time is said not to be checked.
#[test]
fn check_states_no_skew_from_a_timestamp_no_signature_covers() {
    let sandbox = SandboxThread::start(SandboxConfig {
        clock_offset_secs: -100_000,
        ..SandboxConfig::default()
    })
    .unwrap();
    sandbox.state().add_fault(FaultRule::always(Fault::BadSignature));
    let c = check(&sandbox, &[]);
    let line = &c.clock;
    assert!(line.starts_with("clock: not checked: an answer carried a time 100000 s"), "{line}");
    assert!(!line.contains("WeChat Pay's"), "no skew stated as fact: {line}");
    assert_eq!(c.code, Some(1), "{}{}", c.stdout, c.stderr);
}

/// F3b. A replayed genuine answer (signed 10 minutes ago) on the query, while the certificate
/// list in the same run verifies with a skew of ~0: check reported the machine's clock 600 s
/// ahead. The freshest verified answer's time is the one that counts.
#[test]
fn check_takes_no_replay_s_age_for_clock_skew() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    sandbox.state().add_fault(FaultRule::always(Fault::StaleTimestamp).on(Route::V3Query));
    let c = check(&sandbox, &[]);
    assert!(
        c.stdout.contains("APIv3: ok: WeChat Pay's signed answer says it took"),
        "{}",
        c.stdout
    );
    assert!(c.clock.starts_with("clock: ok: within"), "{}", c.clock);
    // The replayed query answer itself fails the public key's check.
    assert_eq!(c.code, Some(1), "{}{}", c.stdout, c.stderr);
}

/// A forger in the path, as a plain-HTTP relay in front of the sandbox: it forwards each
/// request and keeps the last 404 answer to a query (`GET /v3/pay/...`), and once told to,
/// answers every query with that recorded answer instead of forwarding it.
struct Forger {
    url: String,
    replay: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

fn read_message(s: &mut std::net::TcpStream) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).ok()? == 0 {
            return None;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap()))
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    buf.extend(body);
    Some(buf)
}

impl Forger {
    fn start(upstream: &str) -> Forger {
        use std::io::Write;
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let replay = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let recorded = std::sync::Arc::new(std::sync::Mutex::new(None::<Vec<u8>>));
        let flag = replay.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { continue };
                let (flag, recorded, upstream) = (flag.clone(), recorded.clone(), upstream.clone());
                std::thread::spawn(move || {
                    let Some(request) = read_message(&mut client) else { return };
                    let is_query = request.starts_with(b"GET /v3/pay/");
                    let replaying = flag.load(std::sync::atomic::Ordering::SeqCst);
                    let old = recorded.lock().unwrap().clone();
                    let answer = match (is_query, replaying, old) {
                        (true, true, Some(old)) => old,
                        _ => {
                            let mut up = std::net::TcpStream::connect(&upstream).unwrap();
                            up.write_all(&request).unwrap();
                            let answer = read_message(&mut up).unwrap();
                            if is_query && answer.starts_with(b"HTTP/1.1 404") {
                                *recorded.lock().unwrap() = Some(answer.clone());
                            }
                            answer
                        }
                    };
                    let _ = client.write_all(&answer);
                    // One request per connection.
                });
            }
        });
        Forger { url, replay }
    }
}

/// F4. Certificates from files only (no APIv3 key, no public key): check's query took "the
/// private key matches its serial" from a verified 404 ORDER_NOT_EXIST, which names no
/// request and no order, so a replay of an earlier run's 404 (within 5 minutes) makes it say
/// so for a wrong serial. The protocol allows no proof: check says what the answer says, and
/// that a replay would read the same.
#[test]
fn check_says_a_replayed_answer_would_vouch_for_a_wrong_serial_too() {
    let sandbox = SandboxThread::start(SandboxConfig {
        keys: KeyMode::Certificates,
        ..SandboxConfig::default()
    })
    .unwrap();
    let forger = Forger::start(sandbox.base_url());
    let dir = tempfile::tempdir().unwrap();
    let mut env =
        without(&env_for(&sandbox, dir.path()), &["WXPAY_API_V3_KEY_FILE", "WXPAY_BASE_URL"]);
    env.push(("WXPAY_BASE_URL".into(), forger.url.clone()));
    let check = |extra: &[(&str, &str)]| {
        let out = wxpay()
            .arg("check")
            .envs(without(&env, &["WXPAY_APPID", "WXPAY_MCH_ID", "WXPAY_API_V2_KEY_FILE"]))
            .envs(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        (out.status.code(), format!("{stdout}{stderr}"))
    };
    let wrong = [("WXPAY_SERIAL_NO", "0123456789ABCDEF0123456789ABCDEF01234567")];
    // A first, honest run (its 404 is what the forger records).
    let (code, text1) = check(&[]);
    assert_eq!(code, Some(0), "{text1}");
    // The wrong serial, honestly answered: refused.
    let (code, text2) = check(&wrong);
    assert_eq!(code, Some(1), "{text2}");
    assert!(text2.contains("refused the request's signature"), "{text2}");
    // The wrong serial, the first run's 404 replayed by the forger.
    forger.replay.store(true, std::sync::atomic::Ordering::SeqCst);
    let (code, text3) = check(&wrong);
    eprintln!("{text3}");
    assert_eq!(code, Some(0), "{text3}");
    assert!(
        text3.contains("unless someone in the path replays an answer of the last 5 minutes"),
        "{text3}"
    );
    assert!(text3.contains("a replayed answer shows an older time"), "{text3}");
}

/// F5. The sandbox accepted the APIv2 service provider's id (1900000109) as an APIv3
/// sub-merchant of 1230000109 from any client (not only the shared vectors'): a client that
/// mixes up WXPAY_SANDBOX_V2_SP_MCH_ID and WXPAY_SANDBOX_V3_SUB_MCHID passed the sandbox and
/// would fail at WeChat Pay. Refused now, as WeChat Pay refuses it.
#[test]
fn the_sandbox_refuses_the_v2_service_provider_as_a_v3_sub_merchant() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sandbox, dir.path());
    let key = OrderKey::sub("1230000109", "1900000109", "lax-sub-1");
    sandbox.state().put_order(key.clone(), OrderState::Unpaid);
    let out = wxpay_with(&env)
        .args(["close", "--api", "v3", "--mchid", "1230000109", "--sub-mch-id", "1900000109"])
        .arg("lax-sub-1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6), "{:?}", text(&out));
    assert_eq!(sandbox.state().order(&key).unwrap().state, OrderState::Unpaid);
}

/// HELD. A forger rewrites Wechatpay-Serial (unsigned) on every answer: the bulk run stops
/// after 3 orders in a row, journals them as errors with effect unknown (never an outcome),
/// and the resume closes every order, those 3 included, proving each by a query.
#[test]
fn forged_serials_stop_a_bulk_run_and_the_resume_skips_nothing() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sandbox, dir.path());
    let state = sandbox.state();
    let file = unpaid_orders_file(&sandbox, dir.path(), "forged", 40);
    let journal = dir.path().join("journal.jsonl");
    state.add_fault(FaultRule::always(Fault::ForgedSerial));
    let out = wxpay_with(&env)
        .args(["close", "--api", "v3", "--concurrency", "1", "--from"])
        .arg(&file)
        .arg("--journal")
        .arg(&journal)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    eprintln!("{stdout}{stderr}");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("F0F0F0F0"), "{stderr}");
    let records = journal_records(&journal);
    let results: Vec<_> = records.iter().filter(|r| r.get("out_trade_no").is_some()).collect();
    // Three in a row stop it; one more may have started before the third was counted.
    assert!((3..=4).contains(&results.len()), "{records:?}");
    for r in &results {
        assert!(r["outcome"].is_null(), "{r}");
        assert_eq!(r["effect"].as_str(), Some("unknown"), "{r}");
    }
    state.clear_faults();
    let out = wxpay_with(&env)
        .args(["close", "--api", "v3", "--concurrency", "1", "--from"])
        .arg(&file)
        .arg("--resume")
        .arg(&journal)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    for i in 0..40 {
        let no = format!("forged-{i:04}");
        let order = state.order(&OrderKey::new("1900000001", &no)).unwrap();
        assert_eq!(order.state, OrderState::Closed, "{no}");
    }
    assert!(stdout.lines().filter(|l| l.contains("forged-000")).count() >= 3, "{stdout}");
}

/// F6. `--help` of every settings command printed the environment's values (clap's default),
/// WXPAY_PROXY's user and password included.
#[test]
fn help_prints_no_proxy_password_from_the_environment() {
    for sub in ["close", "query", "check", "certificates"] {
        let out = wxpay()
            .args([sub, "--help"])
            .env("WXPAY_PROXY", "http://user:s3cretPW@127.0.0.1:1")
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(stdout.contains("WXPAY_PROXY"), "{sub}: {stdout}");
        assert!(!stdout.contains("s3cretPW") && !stderr.contains("s3cretPW"), "{sub}: {stdout}");
    }
}
