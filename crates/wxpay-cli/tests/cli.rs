//! The `wxpay` command driven as a process, against the sandbox on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wxpay_sandbox::{Fault, FaultRule, OrderKey, OrderState, SandboxConfig, SandboxThread};

mod common;
use common::*;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/close_order.json")).unwrap()
}

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/keys");

#[test]
fn demo_passes() {
    let out = wxpay().arg("demo").output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("108 closes, 108 as expected, 0 not"), "{stdout}");
    // "No such order" shown for every kind of close but the combined one, by both clients.
    for kind in ["v2 MD5 common", "v3 direct", "v3 partner", "v3 global common (by transaction_id)"]
    {
        let not_found = stdout
            .lines()
            .filter(|l| l.starts_with(kind) && l.contains("not_found       not_found  ok"));
        // v3 direct and partner: in both key modes.
        let per_client = if kind == "v3 direct" || kind == "v3 partner" { 2 } else { 1 };
        assert_eq!(not_found.count(), 2 * per_client, "{kind}");
    }
    // A confirmed close per kind, both clients: a lost answer proven closed by the query, a
    // payment during the close proven paid with its transaction id.
    assert!(stdout.contains("20 confirmed closes, 20 as expected, 0 not"), "{stdout}");
    for kind in ["v2", "v3 direct", "v3 partner", "v3 combined", "v3 global"] {
        let rows: Vec<&str> =
            stdout.lines().filter(|l| l.starts_with(&format!("confirmed {kind} "))).collect();
        assert_eq!(rows.len(), 4, "{kind}: {stdout}");
        assert!(
            rows.iter().any(|r| r.contains("drop_after_read") && r.contains("closed, proof query"))
        );
        assert!(rows.iter().any(|r| r.contains("pay_during_close")
            && r.contains("paid, proof query, transaction_id 4200")));
    }
    assert!(stdout.contains("v3 global institution (by transaction_id)"), "{stdout}");
    assert!(
        stdout.contains("v3 combined (certificate)")
            && stdout.contains("v2 HMAC-SHA256 institutional")
    );
}

#[test]
fn a_single_close_gives_each_outcome_its_exit_code() {
    for (api, state, code, says) in [
        ("v3", "unpaid", 0, "closed, the order can no longer be paid"),
        ("v3", "closed", 0, "already closed"),
        ("v3", "paid", 3, "PAID"),
        ("v3", "missing", 4, "no such order"),
        ("v2", "unpaid", 0, "closed, the order"),
        ("v2", "paid", 3, "PAID"),
        ("v2", "missing", 4, "no such order"),
    ] {
        let out = wxpay()
            .args(["close", "--sandbox", "--api", api, "--sandbox-state", state, "order-0001"])
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(code), "{api} {state}: {stdout} {stderr}");
        assert!(stdout.contains(says), "{api} {state}: {stdout}");
    }
    // Service provider and combined closes; JSON output.
    let out = wxpay()
        .args([
            "close",
            "--sandbox",
            "--api",
            "v3",
            "--sub-mch-id",
            "1900000209",
            "--json",
            "order-0002",
        ])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((out.status.code(), v["outcome"].as_str()), (Some(0), Some("closed")));
    let out = wxpay()
        .args([
            "close",
            "--sandbox",
            "--api",
            "v2",
            "--sub-mch-id",
            "1900000110",
            "--sub-appid",
            "wx9999999999999999",
            "--sandbox-state",
            "closed",
            "--json",
            "order-0003",
        ])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"], "already_closed", "{}", text(&out).1);
    let out = wxpay()
        .args([
            "close",
            "--sandbox",
            "--combined",
            "--combine-appid",
            "wxd678efh567hg6787",
            "--sub-order",
            "1900000001:sub-0001",
            "--sub-order",
            "1900000309:sub-0002",
            "combined-0001",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));

    // Bad input: refused before anything is sent, exit 2.
    let out = wxpay().args(["close", "--sandbox", "bad#order"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    // Positions count from 1: b, a, d, '#'.
    assert!(text(&out).1.contains("'#' at position 4 (counting from 1)"), "{:?}", text(&out));
    let out = wxpay().args(["close", "order-0001"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "no credentials: {:?}", text(&out));
}

/// The sandbox's credentials as environment variables for the command.
#[test]
fn bulk_close_survives_faults_and_a_kill_then_resumes_exactly_once() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let dir = temp_dir("bulk");
    let env = env_for(&sandbox, &dir);
    let mut input = String::from("# orders to close\n");
    for i in 0..1000 {
        let no = format!("bulk-{i:05}");
        sandbox.state().put_order(OrderKey::new("1900000001", &no), OrderState::Unpaid);
        input.push_str(&no);
        input.push('\n');
        if i == 10 {
            input.push_str("bad#line\n");
        }
    }
    let file = dir.join("orders.txt");
    std::fs::write(&file, input).unwrap();
    let journal = dir.join("journal.jsonl");
    // Faults a retry gets past, and a delay so that the run can be killed in the middle.
    let state = sandbox.state();
    state.add_fault(FaultRule::next(Fault::SystemError, 25));
    state.add_fault(FaultRule::next(Fault::FrequencyLimited, 25));
    state.add_fault(FaultRule::next(Fault::DropAfterRead, 10));
    state.add_fault(FaultRule::next(Fault::TruncatedBody, 10));
    state.add_fault(FaultRule::always(Fault::Delay(Duration::from_millis(15))));

    let mut first = wxpay_with(&env)
        .args(["close", "--api", "v3", "--concurrency", "8", "--json", "--from"])
        .arg(&file)
        .arg("--journal")
        .arg(&journal)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while journal_records_len(&journal) < 250 {
        assert!(Instant::now() < deadline, "the first run made no progress");
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first run ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill().unwrap();
    let _ = first.wait();
    let after_kill = journal_records(&journal).len();
    assert!(after_kill < 1000, "killed mid-run: {after_kill} records");

    state.clear_faults();
    state.add_fault(FaultRule::next(Fault::SystemError, 10));
    let out = wxpay_with(&env)
        .args(["close", "--api", "v3", "--concurrency", "16", "--from"])
        .arg(&file)
        .arg("--resume")
        .arg(&journal)
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(5), "bad lines make exit 5, all else done: {stderr}");
    assert!(stderr.contains("orders.txt:13:"), "the bad line is reported by number: {stderr}");
    assert!(stderr.contains("skipped (already in the journal)"), "{stderr}");

    // Every order has exactly one outcome in the journal, and was closed exactly once.
    let mut outcomes: HashMap<String, Vec<String>> = HashMap::new();
    for r in journal_records(&journal) {
        if let Some(o) = r["outcome"].as_str() {
            outcomes
                .entry(r["out_trade_no"].as_str().unwrap().to_owned())
                .or_default()
                .push(o.to_owned());
        }
    }
    assert_eq!(outcomes.len(), 1000);
    for i in 0..1000 {
        let no = format!("bulk-{i:05}");
        let got = &outcomes[&no];
        assert_eq!(got.len(), 1, "{no}: {got:?}");
        assert!(matches!(got[0].as_str(), "closed" | "already_closed"), "{no}: {got:?}");
        let order = state.order(&OrderKey::new("1900000001", &no)).unwrap();
        assert_eq!((order.state, order.closes), (OrderState::Closed, 1), "{no}");
    }
}

#[test]
fn sign_and_verify_reproduce_the_shared_vectors() {
    let all = vectors();
    let dir = temp_dir("sign");
    // APIv2: every request vector.
    for v in all["v2"]["requests"].as_array().unwrap() {
        let key = dir.join("v2key.txt");
        std::fs::write(&key, v["api_key"].as_str().unwrap()).unwrap();
        let mut cmd = wxpay();
        cmd.args(["sign", "v2", "--key-file"]).arg(&key);
        for (k, val) in v["params"].as_object().unwrap() {
            cmd.arg("--field").arg(format!("{k}={}", val.as_str().unwrap()));
        }
        let out = cmd.output().unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(
            stdout.contains(&format!("sign:           {}", v["sign"].as_str().unwrap())),
            "{}: {stdout}",
            v["name"]
        );
        let sts = v["string_to_sign"].as_str().unwrap();
        let (payload, _) = sts.rsplit_once("&key=").unwrap();
        assert!(stdout.contains(&format!("{payload}&key={}", "*".repeat(32))), "{stdout}");
        assert!(!stdout.contains(v["api_key"].as_str().unwrap()), "the key is never printed");
        // The merchant's HMAC setting does not change how fields without sign_type are
        // verified (MD5): the same sign, and a note saying why.
        let named = v["params"].as_object().unwrap().contains_key("sign_type");
        let out = cmd.env("WXPAY_SIGN_TYPE", "HMAC-SHA256").output().unwrap();
        let (again, stderr) = text(&out);
        assert_eq!(again, stdout, "{stderr}");
        assert_eq!(stderr.contains("verifies them with MD5"), !named, "{}: {stderr}", v["name"]);
    }
    // APIv3: every request vector.
    for v in all["v3"]["requests"].as_array().unwrap() {
        let out = wxpay()
            .args([
                "sign",
                "v3",
                "--url",
                v["path"].as_str().unwrap(),
                "--body",
                v["body"].as_str().unwrap(),
            ])
            .args([
                "--mchid",
                v["mchid"].as_str().unwrap(),
                "--serial-no",
                v["serial_no"].as_str().unwrap(),
            ])
            .args([
                "--timestamp",
                &v["timestamp"].to_string(),
                "--nonce",
                v["nonce"].as_str().unwrap(),
            ])
            .arg("--private-key-file")
            .arg(format!("{KEYS}/merchant_key.pem"))
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(
            stdout.contains(&format!("Authorization: {}", v["authorization"].as_str().unwrap())),
            "{stdout}"
        );
    }
    // Verify: every response vector's verdict.
    for v in all["v3"]["responses"].as_array().unwrap() {
        let mut cmd = wxpay();
        cmd.args([
            "verify",
            "v3",
            "--now",
            "1800000000",
            "--window",
            "999999999",
            "--body",
            v["body"].as_str().unwrap(),
        ]);
        for (k, val) in v["headers"].as_object().unwrap() {
            cmd.arg("--header").arg(format!("{k}: {}", val.as_str().unwrap()));
        }
        cmd.args(["--public-key-id", "PUB_KEY_ID_0114232134912410000000000000"])
            .arg("--public-key-file")
            .arg(format!("{KEYS}/wechatpay_pub.pem"))
            .arg("--platform-cert-file")
            .arg(format!("{KEYS}/wechatpay_cert.pem"));
        let out = cmd.output().unwrap();
        let (stdout, _) = text(&out);
        let valid = v["valid"].as_bool().unwrap();
        assert_eq!(out.status.code(), Some(if valid { 0 } else { 1 }), "{}: {stdout}", v["name"]);
        assert!(
            stdout.contains(if valid { "verdict: valid" } else { "verdict: INVALID" }),
            "{stdout}"
        );
        if v["name"] == "signtest_probe" {
            assert!(stdout.contains("SIGNTEST"), "{stdout}");
        }
    }
}

#[test]
fn settings_come_from_a_config_file() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    sandbox.state().put_order(OrderKey::new("10000100", "cfg-0001"), OrderState::Paid);
    let dir = temp_dir("config");
    let env = env_for(&sandbox, &dir);
    let get = |k: &str| env.iter().find(|(n, _)| n == k).unwrap().1.clone();
    let config = dir.join("wxpay.toml");
    std::fs::write(
        &config,
        format!(
            "base_url = \"{}\"\nappid = \"{}\"\nmch_id = \"{}\"\napi_v2_key_file = \"api_v2_key.txt\"\nsign_type = \"HMAC-SHA256\"\n",
            get("WXPAY_BASE_URL"),
            get("WXPAY_APPID"),
            get("WXPAY_MCH_ID")
        ),
    )
    .unwrap();
    let out = wxpay()
        .args(["close", "--api", "v2", "--config"])
        .arg(&config)
        .arg("cfg-0001")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
    // A flag beats the file.
    let out = wxpay()
        .args(["close", "--api", "v2", "--mch-id", "99999999", "--config"])
        .arg(&config)
        .arg("cfg-0001")
        .output()
        .unwrap();
    // WeChat Pay refused the request (return_code=FAIL): the order is unchanged, exit 6.
    assert_eq!(out.status.code(), Some(6), "an unknown merchant: {:?}", text(&out));
    assert!(
        text(&out).0.contains("refused by WeChat Pay, the order is unchanged"),
        "{:?}",
        text(&out)
    );
}

#[test]
fn the_sandbox_command_prints_credentials_serves_and_stops_on_ctrl_c() {
    use std::io::{BufRead, BufReader};
    let dir = temp_dir("sandbox-cmd");
    let mut child = wxpay()
        .args(["sandbox", "--no-delay-rule", "--key-dir"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut env = Vec::new();
    let mut line = String::new();
    while env.len() < 12 {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the sandbox printed too little");
        if let Some((k, v)) = line.trim().strip_prefix("export ").and_then(|l| l.split_once('=')) {
            env.push((k.to_owned(), v.to_owned()));
        }
    }
    assert!(env.iter().any(|(k, v)| k == "WXPAY_BASE_URL" && v.starts_with("http://127.0.0.1:")));
    assert!(!env.iter().any(|(_, v)| v.contains("BEGIN")), "key material stays in files");
    // The printed settings work as they are: this order does not exist there.
    let out = wxpay_with(&env).args(["close", "--api", "v2", "missing-1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{:?}", text(&out));
    // Ctrl-C (SIGINT) stops it cleanly.
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        assert!(Instant::now() < deadline, "the sandbox did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(0));
}

#[test]
fn close_over_tls_trusts_the_roots_file_and_goes_through_the_proxy_setting() {
    let sandbox =
        SandboxThread::start(SandboxConfig { tls: true, ..SandboxConfig::default() }).unwrap();
    let dir = temp_dir("tls");
    let env = env_for(&sandbox, &dir);
    assert!(env.iter().any(|(k, v)| k == "WXPAY_BASE_URL" && v.starts_with("https://")));
    let put = |no: &str| {
        let key = wxpay_sandbox::OrderKey::new("1900000001", no);
        sandbox.state().put_order(key, wxpay_sandbox::OrderState::Unpaid);
    };
    for no in ["tls-cli-1", "tls-cli-2", "tls-cli-3"] {
        put(no);
    }
    // With the sandbox's CA (WXPAY_TLS_ROOTS_FILE, as `wxpay sandbox --tls` prints it).
    let out = wxpay_with(&env).args(["close", "--api", "v3", "tls-cli-1"]).output();
    let out = out.unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    // Without it, the built-in roots refuse the test certificate: an error, nothing sent.
    let out = wxpay()
        .args(["close", "--api", "v3", "tls-cli-2"])
        .envs(env.iter().filter(|(k, _)| k != "WXPAY_TLS_ROOTS_FILE").cloned())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6), "not sent: the order is unchanged {:?}", text(&out));
    // The result line, on standard output like every close's.
    assert!(text(&out).0.contains("not sent, the order is unchanged"), "{:?}", text(&out));
    assert!(text(&out).0.contains("TLS handshake failed"), "{:?}", text(&out));
    assert!(text(&out).0.contains("UnknownIssuer"), "{:?}", text(&out));
    // A proxy that refuses connections: the close must fail to connect, so it used the proxy.
    let before = sandbox.state().requests();
    let refusing = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = format!("http://{}", refusing.local_addr().unwrap());
    drop(refusing);
    let out = wxpay_with(&env)
        .args(["close", "--api", "v3", "--proxy", &proxy, "tls-cli-3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6), "{:?}", text(&out));
    assert!(text(&out).0.contains("not sent, the order is unchanged"), "{:?}", text(&out));
    assert!(text(&out).0.contains("could not connect"), "{:?}", text(&out));
    assert_eq!(
        sandbox.state().requests(),
        before,
        "nothing reached the sandbox but through the proxy"
    );
}

/// `wxpay sandbox`'s output up to its last banner line, and the child still running.
fn start_sandbox_command(args: &[&str]) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    let mut child = wxpay()
        .arg("sandbox")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut text = String::new();
    loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "the sandbox stopped printing: {text}");
        text.push_str(&line);
        if line.starts_with("# Stop with Ctrl-C") {
            break;
        }
    }
    (child, text)
}

fn stop(child: &mut std::process::Child) {
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn the_readme_walkthrough_finds_the_wxpay_the_first_command_built() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    // The first command builds target/debug/wxpay; the walkthrough's shell must find it.
    let first = readme.split("```sh").nth(1).unwrap();
    assert!(first.contains("cargo run -p wxpay-cli -- demo"), "{first}");
    let block = readme.split("<!-- sandbox-walkthrough").nth(1).expect("the README's walkthrough");
    let block = block.split("```sh").nth(1).unwrap().split("```").next().unwrap();
    let setup: Vec<&str> = block.lines().take_while(|l| !l.starts_with("wxpay ")).collect();
    let script = format!("{}\nprintf %s \"$PATH\"", setup.join("\n"));
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(&root)
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let path = String::from_utf8(out.stdout).unwrap();
    let debug = root.join("target/debug");
    assert_eq!(path.split(':').next(), Some(debug.to_str().unwrap()), "{block}");
}

#[test]
fn a_newcomer_sources_the_sandbox_and_every_readme_close_line_succeeds() {
    // A key directory with a space in it: the exports must be quoted.
    let top = tempfile::tempdir().unwrap();
    let keys = top.path().join("my keys");
    let (mut child, banner) = start_sandbox_command(&["--key-dir", keys.to_str().unwrap()]);
    let env = top.path().join("sandbox.env");
    std::fs::write(&env, &banner).unwrap();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let block = readme.split("<!-- sandbox-walkthrough").nth(1).expect("the README's walkthrough");
    let block = block.split("```sh").nth(1).unwrap().split("```").next().unwrap();
    let lines: Vec<&str> = block.lines().filter(|l| l.starts_with("wxpay close")).collect();
    assert_eq!(lines.len(), 5, "v2 common, v2 institutional, v3 direct, v3 partner, combined");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_wxpay")).parent().unwrap().to_owned();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let shell = |line: &str| {
        let mut c = Command::new("bash");
        c.arg("-c").arg(format!(". {} && {line}", env.display())).env("PATH", &path);
        for (k, _) in std::env::vars() {
            if k.starts_with("WXPAY_") {
                c.env_remove(k);
            }
        }
        c.output().unwrap()
    };
    for line in &lines {
        let out = shell(line);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{line}\n{stdout}\n{stderr}");
        assert!(stdout.contains(": closed, the order can no longer be paid"), "{line}: {stdout}");
    }
    // With the exports in place, --sandbox still works: the environment's base URL is not a flag.
    let out = shell("wxpay close --sandbox --api v3 sandbox-flag-1");
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let out = shell("wxpay close --sandbox --base-url http://127.0.0.1:9 --api v3 sandbox-flag-2");
    assert_eq!(out.status.code(), Some(2), "a --base-url flag does conflict: {:?}", text(&out));
    stop(&mut child);
    assert!(keys.join("apiclient_key.pem").exists(), "--key-dir is kept");
    {
        use std::os::unix::fs::PermissionsExt;
        for secret in ["apiclient_key.pem", "api_v2_key.txt", "api_v3_key.txt"] {
            let mode = std::fs::metadata(keys.join(secret)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{secret} is for its owner only");
        }
    }

    // Without --key-dir: a private temporary directory, removed on Ctrl-C.
    let (mut child, banner) = start_sandbox_command(&[]);
    let key_file = banner
        .lines()
        .find_map(|l| l.strip_prefix("export WXPAY_PRIVATE_KEY_FILE="))
        .unwrap()
        .trim_matches('\'')
        .to_owned();
    let key_dir = Path::new(&key_file).parent().unwrap().to_owned();
    assert!(key_dir.exists());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key_dir).unwrap().permissions().mode() & 0o077, 0, "private");
    stop(&mut child);
    assert!(!key_dir.exists(), "{} is left behind", key_dir.display());

    // A port in use is named.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = wxpay().args(["sandbox", "--port", &port]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains(&format!("127.0.0.1:{port}")), "{:?}", text(&out));
}

#[test]
fn missing_settings_name_their_flag_variable_and_config_key() {
    let out = wxpay().args(["close", "--api", "v3", "order-0001"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out).1;
    for needed in
        ["--mchid", "WXPAY_MCHID", "`mchid` in --config", "--private-key-file", "--sandbox"]
    {
        assert!(stderr.contains(needed), "{needed}: {stderr}");
    }
    // Half an APIv2 setup is an error, not silently dropped; mch_id vs mchid is pointed out.
    let out = wxpay()
        .args(["close", "--api", "v3", "--mch-id", "1900000001", "order-0001"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("APIv3 reads `mchid`"), "{:?}", text(&out));
    let out = wxpay()
        .args(["close", "--api", "v2", "--appid", "wx2421b1c4370ec43b", "order-0001"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out).1;
    assert!(stderr.contains("--mch-id") && stderr.contains("--api-v2-key-file"), "{stderr}");
    // `wxpay sign v2` reads the sign type as `close` does, in any case.
    let key = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(key.path(), "192006250b4c09247ec02edce69f6a2d").unwrap();
    let out = wxpay()
        .args(["sign", "v2", "--sign-type", "hmac-sha256", "--field", "appid=wx1", "--key-file"])
        .arg(key.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(text(&out).0.contains("HMAC-SHA256"), "{:?}", text(&out));
    // Exit codes in the short help too.
    let out = wxpay().args(["close", "-h"]).output().unwrap();
    assert!(text(&out).0.contains("Exit codes"), "{:?}", text(&out));
}

#[test]
fn verbose_shows_retries_as_they_happen() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sandbox, dir.path());
    sandbox.state().put_order(OrderKey::new("1900000001", "verbose-1"), OrderState::Unpaid);
    sandbox.state().add_fault(FaultRule::next(Fault::SystemError, 1));
    let out = wxpay_with(&env).args(["close", "-v", "--api", "v3", "verbose-1"]).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stderr.contains("retrying") && stderr.contains("SYSTEM_ERROR"), "{stderr}");
    assert!(!stderr.contains("signature=\""), "no signature in the log: {stderr}");
}

#[test]
fn cross_border_closes_by_either_number_one_at_a_time_and_in_bulk() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sandbox, dir.path());
    let state = sandbox.state();
    let close = |args: &[&str]| {
        wxpay_with(&env).args(["close", "--api", "v3", "--global"]).args(args).output().unwrap()
    };
    // By WeChat Pay's number, common mode.
    let key = OrderKey::new("1900000001", "global-cli-1");
    state.put_order(key.clone(), OrderState::Unpaid);
    state.set_transaction_id(&key, "4200000000201811200000000001");
    let out = close(&["--transaction-id", "4200000000201811200000000001"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_eq!(state.order(&key).unwrap().state, OrderState::Closed);
    // By the merchant's number, an institution for its sub-merchant: paid.
    let key = OrderKey::sub("1230000109", "1900000209", "global-cli-2");
    state.put_order(key.clone(), OrderState::Paid);
    let out = wxpay_with(&env)
        .args([
            "close",
            "--api",
            "v3",
            "--global",
            "--mchid",
            "1230000109",
            "--sub-mch-id",
            "1900000209",
            "global-cli-2",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
    // Letters in a transaction id: refused before anything is sent.
    let before = state.requests();
    let out = close(&["--transaction-id", "42000000002018112000000000AB"]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(text(&out).1.contains("transaction_id"), "{:?}", text(&out));
    assert_eq!(state.requests(), before);
    // A file of transaction ids.
    let mut list = String::new();
    for i in 0..5 {
        let key = OrderKey::new("1900000001", format!("global-bulk-{i}"));
        state.put_order(key.clone(), OrderState::Unpaid);
        let id = format!("42000000002018112100000000{i:02}");
        state.set_transaction_id(&key, &id);
        list.push_str(&id);
        list.push('\n');
    }
    let file = dir.path().join("ids.txt");
    std::fs::write(&file, list).unwrap();
    let out = close(&["--ids", "transaction-id", "--from", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    for i in 0..5 {
        let order = state.order(&OrderKey::new("1900000001", format!("global-bulk-{i}"))).unwrap();
        assert_eq!((order.state, order.closes), (OrderState::Closed, 1), "{i}");
    }
    let journal = journal_records(&dir.path().join("ids.txt.journal.jsonl"));
    assert_eq!(
        journal[0]["call"], "v3_global_id",
        "the call by its CallKind name: {:?}",
        journal[0]
    );
}

#[test]
fn certificates_are_downloaded_written_and_kept_current_for_close() {
    use wxpay_sandbox::{AnswerMode, RotationStep};
    let sandbox = SandboxThread::start(SandboxConfig {
        answer_mode: AnswerMode::PlatformCertificate,
        ..SandboxConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sandbox, dir.path());
    let certs = dir.path().join("certs");
    let download = || {
        wxpay_with(&env).args(["certificates", "--out", certs.to_str().unwrap()]).output().unwrap()
    };
    let out = download();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let first = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
    assert!(
        stdout.contains(&format!("{first}  valid 2026-11-24T14:21:40Z to 2036-11-21T14:21:40Z")),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(certs.join(format!("{first}.pem"))).unwrap(),
        wxpay_sandbox::merchants::WECHATPAY_CERT_PEM
    );
    // A new certificate listed ahead of use: written beside the first.
    sandbox.state().rotate_certificate(RotationStep::Add).unwrap();
    assert_eq!(download().status.code(), Some(0));
    let second = wxpay_sandbox::merchants::PLATFORM_CERTIFICATES[1].0;
    assert!(certs.join(format!("{second}.pem")).exists());
    let names: Vec<String> = std::fs::read_dir(&certs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "no temporary file left behind: {names:?}");
    assert!(names.iter().any(|n| n == wxpay_settings::OWNER_FILE), "{names:?}");
    // `wxpay close` in certificate mode from the directory, no public key: it verifies with
    // the new certificate once WeChat Pay signs with it, and (with the APIv3 key) learns a
    // third one it has never seen.
    let close = |no: &str| {
        sandbox.state().put_order(OrderKey::new("1900000001", no), OrderState::Unpaid);
        wxpay()
            .args(["close", "--api", "v3", no])
            .envs(
                env.iter()
                    .filter(|(k, _)| {
                        !k.starts_with("WXPAY_PUBLIC_KEY") && k != "WXPAY_PLATFORM_CERT_FILE"
                    })
                    .cloned(),
            )
            .env("WXPAY_PLATFORM_CERT_DIR", &certs)
            .output()
            .unwrap()
    };
    sandbox.state().rotate_certificate(RotationStep::Switch).unwrap();
    let out = close("cert-dir-1");
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    sandbox.state().rotate_certificate(RotationStep::Add).unwrap();
    sandbox.state().rotate_certificate(RotationStep::Switch).unwrap();
    let out = close("cert-dir-2");
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    // What the close downloaded was written back to the directory.
    let third = wxpay_sandbox::merchants::PLATFORM_CERTIFICATES[2].0;
    assert!(certs.join(format!("{third}.pem")).exists(), "written back");
    // Without the APIv3 key the directory is all it trusts: a certificate it lacks is unknown.
    std::fs::remove_file(certs.join(format!("{third}.pem"))).unwrap();
    // The plain close says why; a confirmed one would end unproven (the core's Unproven
    // error does not carry the close's own error).
    let out = wxpay()
        .args(["close", "--confirm", "never", "--api", "v3", "cert-dir-3"])
        .envs(
            env.iter()
                .filter(|(k, _)| {
                    !k.starts_with("WXPAY_PUBLIC_KEY")
                        && k != "WXPAY_PLATFORM_CERT_FILE"
                        && k != "WXPAY_API_V3_KEY_FILE"
                })
                .cloned(),
        )
        .env("WXPAY_PLATFORM_CERT_DIR", &certs)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(text(&out).0.contains("no key held for serial"), "{:?}", text(&out));
    // No APIv3 key: a clear refusal.
    let out = wxpay()
        .args(["certificates", "--out", certs.to_str().unwrap()])
        .envs(env.iter().filter(|(k, _)| k != "WXPAY_API_V3_KEY_FILE").cloned())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("--api-v3-key-file"), "{:?}", text(&out));
}

#[test]
fn an_explicit_config_wins_over_the_environment_and_other_hosts_are_named() {
    // The environment is one sandbox's (as after sourcing `wxpay sandbox`); prod.toml names
    // another, standing in for production.
    let env_box = SandboxThread::start(SandboxConfig::default()).unwrap();
    let prod = SandboxThread::start(SandboxConfig::default()).unwrap();
    let env_dir = tempfile::tempdir().unwrap();
    let prod_dir = tempfile::tempdir().unwrap();
    let env = env_for(&env_box, env_dir.path());
    let prod_env = env_for(&prod, prod_dir.path());
    let get = |k: &str| prod_env.iter().find(|(n, _)| n == k).unwrap().1.clone();
    let config = prod_dir.path().join("prod.toml");
    std::fs::write(
        &config,
        format!(
            "base_url = \"{}\"\nmchid = \"{}\"\nserial_no = \"{}\"\nprivate_key_file = \"{}\"\npublic_key_id = \"{}\"\npublic_key_file = \"{}\"\n",
            get("WXPAY_BASE_URL"),
            get("WXPAY_MCHID"),
            get("WXPAY_SERIAL_NO"),
            get("WXPAY_PRIVATE_KEY_FILE"),
            get("WXPAY_PUBLIC_KEY_ID"),
            get("WXPAY_PUBLIC_KEY_FILE"),
        ),
    )
    .unwrap();
    let key = |no: &str| OrderKey::new("1900000001", no);
    let both = |no: &str| {
        env_box.state().put_order(key(no), OrderState::Unpaid);
        prod.state().put_order(key(no), OrderState::Unpaid);
    };
    let closes =
        |sandbox: &SandboxThread, no: &str| sandbox.state().order(&key(no)).unwrap().closes;
    both("prod-order-1");
    let out = wxpay_with(&env)
        .args(["close", "--api", "v3", "--json", "--config"])
        .arg(&config)
        .arg("prod-order-1")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert_eq!(closes(&prod, "prod-order-1"), 1, "closed where --config says");
    assert_eq!(closes(&env_box, "prod-order-1"), 0, "not in the environment's sandbox");
    let note = format!("note: sending to {}, which is not WeChat Pay", prod.base_url());
    assert_eq!(stderr.matches(&note).count(), 1, "said once: {stderr}");
    let record: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(record["base_url"], prod.base_url(), "{record}");
    // Nothing sent, nothing said about where it would have gone: a refused order number, an
    // order within its 5-minute rule, a resume the journal refuses.
    let orders = prod_dir.path().join("orders.txt");
    std::fs::write(&orders, "prod-order-9\n").unwrap();
    let journal = prod_dir.path().join("not-a-journal.jsonl");
    std::fs::write(&journal, "{}\n").unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let created = now.as_secs().to_string();
    let refused: [&[&str]; 3] = [
        &["xx"],
        &["--created-at", &created, "prod-order-9"],
        &["--from", orders.to_str().unwrap(), "--resume", journal.to_str().unwrap()],
    ];
    for args in refused {
        let out = wxpay_with(&env)
            .args(["close", "--api", "v3", "--config"])
            .arg(&config)
            .args(args)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stdout}{stderr}");
        assert!(!stderr.contains("which is not WeChat Pay"), "{args:?}: {stderr}");
    }
    // A flag still wins over the file.
    both("prod-order-2");
    let out = wxpay_with(&env)
        .args(["close", "--api", "v3", "--base-url", env_box.base_url(), "--config"])
        .arg(&config)
        .arg("prod-order-2")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_eq!((closes(&env_box, "prod-order-2"), closes(&prod, "prod-order-2")), (1, 0));
    // A file named by WXPAY_CONFIG (itself from the environment) only fills what is unset.
    both("prod-order-3");
    let out = wxpay_with(&env)
        .args(["close", "--api", "v3", "prod-order-3"])
        .env("WXPAY_CONFIG", &config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_eq!((closes(&env_box, "prod-order-3"), closes(&prod, "prod-order-3")), (1, 0));
    // Credentials without a base URL: WeChat Pay's hosts, not the environment's sandbox (a
    // proxy that refuses connections keeps the test off the internet).
    let creds_only = prod_dir.path().join("creds.toml");
    let creds: String = std::fs::read_to_string(&config)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("base_url"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&creds_only, creds).unwrap();
    let refusing = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = format!("http://{}", refusing.local_addr().unwrap());
    drop(refusing);
    both("prod-order-4");
    let before = env_box.state().requests();
    let out = wxpay_with(&env)
        .args(["close", "--api", "v3", "--proxy", &proxy, "--config"])
        .arg(&creds_only)
        .arg("prod-order-4")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(6), "{stdout}{stderr}");
    assert!(!stderr.contains("which is not WeChat Pay"), "{stderr}");
    assert_eq!(env_box.state().requests(), before, "nothing went to the environment's sandbox");
    // Documented in --help.
    let out = wxpay().args(["close", "--help"]).output().unwrap();
    assert!(text(&out).0.contains("then the TOML file given as --config"), "{:?}", text(&out));
}

#[test]
fn a_flag_of_the_other_api_generation_is_a_usage_error_naming_the_right_flag() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sandbox, dir.path());
    sandbox.state().put_order(OrderKey::new("1900000001", "gen-0001"), OrderState::Unpaid);
    sandbox.state().put_order(OrderKey::new("10000100", "gen-0001"), OrderState::Unpaid);
    let before = sandbox.state().requests();
    for (args, says) in [
        (&["--api", "v3", "--mch-id", "1900000009"][..], "use --mchid"),
        (&["--api", "v3", "--appid", "wx0000000000000000"][..], "--appid is an APIv2 setting"),
        (&["--api", "v2", "--mchid", "10000109"][..], "use --mch-id"),
        (&["--api", "v2", "--serial-no", "ABC"][..], "--serial-no is an APIv3 setting"),
    ] {
        let out = wxpay_with(&env).arg("close").args(args).arg("gen-0001").output();
        let out = out.unwrap();
        let stderr = text(&out).1;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says) && stderr.contains("nothing was sent"), "{stderr}");
    }
    assert_eq!(sandbox.state().requests(), before, "nothing was sent");
}

#[test]
fn certificate_mode_downloads_the_list_only_when_the_directory_is_stale() {
    use wxpay_sandbox::AnswerMode;
    let sandbox = SandboxThread::start(SandboxConfig {
        answer_mode: AnswerMode::PlatformCertificate,
        ..SandboxConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sandbox, dir.path());
    let certs = dir.path().join("certs");
    let state = sandbox.state();
    // `wxpay certificates`: one GET.
    let out =
        wxpay_with(&env).args(["certificates", "--out", certs.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_eq!(state.certificate_downloads(), 1, "one download: {:?}", text(&out));
    let cert_env: Vec<(String, String)> = env
        .iter()
        .filter(|(k, _)| !k.starts_with("WXPAY_PUBLIC_KEY") && k != "WXPAY_PLATFORM_CERT_FILE")
        .cloned()
        .chain([("WXPAY_PLATFORM_CERT_DIR".to_owned(), certs.display().to_string())])
        .collect();
    let close = |no: &str| {
        state.put_order(OrderKey::new("1900000001", no), OrderState::Unpaid);
        let out =
            wxpay().args(["close", "--api", "v3", no]).envs(cert_env.iter().cloned()).output();
        let out = out.unwrap();
        assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    };
    // Fresh certificates in the directory: the close downloads nothing.
    close("fresh-1");
    close("fresh-2");
    assert_eq!(state.certificate_downloads(), 1, "fresh files: no download");
    // Older than the refresh interval (6 h): downloaded once, and written back (fresh again).
    let old = std::time::SystemTime::now() - Duration::from_secs(7 * 3600);
    let pem = std::fs::read_dir(&certs).unwrap().next().unwrap().unwrap().path();
    std::fs::File::options().write(true).open(&pem).unwrap().set_modified(old).unwrap();
    close("stale-1");
    assert_eq!(state.certificate_downloads(), 2, "stale files: one download");
    let age = std::fs::metadata(&pem).unwrap().modified().unwrap().elapsed().unwrap();
    assert!(age < Duration::from_secs(600), "rewritten: {age:?}");
    close("fresh-3");
    assert_eq!(state.certificate_downloads(), 2);
    // An APIv2 close with the same APIv3 settings around downloads no APIv3 list.
    state.put_order(OrderKey::new("10000100", "v2-with-v3"), OrderState::Unpaid);
    std::fs::File::options().write(true).open(&pem).unwrap().set_modified(old).unwrap();
    let out = wxpay()
        .args(["close", "--api", "v2", "v2-with-v3"])
        .envs(cert_env.iter().cloned())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_eq!(state.certificate_downloads(), 2, "a v2 close downloads no v3 list");
    // `wxpay sandbox`'s exports as they are (public key, a fresh certificate file, the APIv3
    // key): nothing downloaded either.
    state.put_order(OrderKey::new("1900000001", "exports-1"), OrderState::Unpaid);
    let out = wxpay_with(&env).args(["close", "--api", "v3", "exports-1"]).output();
    assert_eq!(out.unwrap().status.code(), Some(0));
    assert_eq!(state.certificate_downloads(), 2, "a fresh certificate file: no download");
    // A cross-border close or query (no endpoint set) keeps the cross-border list current,
    // where a cross-border merchant's certificates are, not the mainland one.
    assert_eq!(state.global_certificate_downloads(), 0);
    // (A query's exit code for an unpaid order is 7.)
    for (command, no, code) in [("close", "global-stale-1", 0), ("query", "global-stale-2", 7)] {
        state.put_order(OrderKey::new("1900000001", no), OrderState::Unpaid);
        std::fs::File::options().write(true).open(&pem).unwrap().set_modified(old).unwrap();
        let out = wxpay()
            .args([command, "--api", "v3", "--global", no])
            .envs(cert_env.iter().cloned())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{command}: {:?}", text(&out));
        let downloads = (state.certificate_downloads(), state.global_certificate_downloads());
        assert_eq!(downloads.0 - downloads.1, 2, "{command}: no mainland list");
    }
    assert_eq!(state.global_certificate_downloads(), 2, "one cross-border list each");
}

#[test]
fn key_and_download_errors_name_the_right_key_file_and_no_order() {
    use wxpay_sandbox::AnswerMode;
    let sandbox = SandboxThread::start(SandboxConfig {
        answer_mode: AnswerMode::PlatformCertificate,
        ..SandboxConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sandbox, dir.path());
    let short = dir.path().join("short_v3_key.txt");
    std::fs::write(&short, "0123456789abcdef\n").unwrap();
    let out = wxpay_with(&env)
        .args(["certificates", "--out", dir.path().join("a").to_str().unwrap()])
        .env("WXPAY_API_V3_KEY_FILE", &short)
        .output()
        .unwrap();
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("APIv3 key must be 32 characters, got 16"), "{stderr}");
    assert!(stderr.contains("short_v3_key.txt") && !stderr.contains("API v2"), "{stderr}");
    let short_v2 = dir.path().join("short_v2_key.txt");
    std::fs::write(&short_v2, "0123456789").unwrap();
    let out = wxpay_with(&env)
        .args(["close", "--api", "v2", "x-000001"])
        .env("WXPAY_API_V2_KEY_FILE", &short_v2)
        .output()
        .unwrap();
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("short_v2_key.txt: the API v2 key must be 32"), "{stderr}");
    // A wrong APIv3 key: the list cannot be decrypted. No order is involved, and the --out
    // directory is not created.
    let wrong = dir.path().join("wrong_v3_key.txt");
    std::fs::write(&wrong, "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ").unwrap();
    let out_dir = dir.path().join("not-created");
    let out = wxpay_with(&env)
        .args(["certificates", "--out", out_dir.to_str().unwrap()])
        .env("WXPAY_API_V3_KEY_FILE", &wrong)
        .output()
        .unwrap();
    let stderr = text(&out).1;
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("wxpay: the certificate list could not be downloaded or verified: "),
        "{stderr}"
    );
    assert!(!stderr.contains("order"), "no order is involved: {stderr}");
    assert!(!out_dir.exists(), "nothing created on failure");
}

/// A forger on loopback: answers every request with `status` and `body`, unsigned.
fn forger(status: &str, content_type: &str, body: &'static [u8]) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // The head, then as many body bytes as it announces.
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if request.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body);
        }
    });
    url
}

/// Whether `bytes` hold a control character a terminal acts on (ESC, BEL, CR, C1), raw.
fn raw_controls(bytes: &[u8]) -> Vec<char> {
    String::from_utf8_lossy(bytes).chars().filter(|c| c.is_control() && *c != '\n').collect()
}

#[test]
fn network_text_never_reaches_the_terminal_or_the_journal_raw() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sandbox, dir.path());
    // An unsigned APIv2 refusal whose message clears the screen, retitles the terminal,
    // recolours (with a one-character C1 CSI) and forges a line of its own.
    let v2 = forger(
        "200 OK",
        "text/xml",
        b"<xml><return_code>FAIL</return_code><return_msg>\x1b[2J\x1b]0;pwned\x07\xc2\x9b31m\rx\nwxpay: closed</return_msg></xml>",
    );
    // An APIv3 5xx with such a body: retried, and logged with -v.
    let v3 = forger(
        "500 Internal Server Error",
        "application/json",
        b"{\"code\":\"SYSTEM_ERROR\",\"message\":\"\x1b[31mred\xc2\x9b\"}",
    );
    for (api, url, args) in [
        ("v2", &v2, &[][..]),
        ("v2", &v2, &["--json"][..]),
        ("v3", &v3, &["-v"][..]),
        ("v3", &v3, &["-v", "--json"][..]),
    ] {
        let out = wxpay_with(&env)
            .args(["close", "--confirm", "never", "--api", api, "--base-url", url])
            .args(args)
            .arg("forged-0001")
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(raw_controls(&out.stdout), [] as [char; 0], "{args:?}: {stdout:?}");
        assert_eq!(raw_controls(&out.stderr), [] as [char; 0], "{args:?}: {stderr:?}");
        assert!(!stdout.lines().any(|l| l.starts_with("wxpay: closed")), "{stdout:?}");
    }
    // In bulk: the journal holds no raw control character either.
    let file = dir.path().join("forged.txt");
    std::fs::write(&file, "forged-0001\nforged-0002\n").unwrap();
    let out = wxpay_with(&env)
        .args(["close", "--confirm", "never", "--api", "v2", "--base-url", &v2, "--from"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(raw_controls(&out.stdout), [] as [char; 0], "{:?}", text(&out));
    assert_eq!(raw_controls(&out.stderr), [] as [char; 0], "{:?}", text(&out));
    let journal = std::fs::read(dir.path().join("forged.txt.journal.jsonl")).unwrap();
    assert_eq!(raw_controls(&journal), [] as [char; 0], "{}", String::from_utf8_lossy(&journal));
    // Still there, shown escaped (the core's `Display`): nothing is lost for diagnosis.
    let records = journal_records(&dir.path().join("forged.txt.journal.jsonl"));
    let error = records.iter().find_map(|r| r["error"].as_str()).unwrap();
    assert!(error.contains("\\u{1b}]0;pwned\\u{7}\\u{9b}31m"), "{error:?}");
}

/// Review finding: after a rotation (add, switch, retire) the directory kept the retired
/// certificate, and a close trusts every `*.pem` in it. It mirrors the verified list now:
/// `wxpay certificates` and a close that refreshed the list both remove what is no longer
/// listed (and leave files that are not certificates alone).
#[test]
fn the_certificate_directory_forgets_a_retired_certificate() {
    use wxpay_sandbox::merchants::PLATFORM_CERTIFICATES;
    use wxpay_sandbox::{AnswerMode, RotationStep};
    let sandbox = SandboxThread::start(SandboxConfig {
        answer_mode: AnswerMode::PlatformCertificate,
        ..SandboxConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sandbox, dir.path());
    let certs = dir.path().join("certs");
    let pem = |i: usize| certs.join(format!("{}.pem", PLATFORM_CERTIFICATES[i].0));
    let download = || {
        let out = wxpay_with(&env)
            .args(["certificates", "--out", certs.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
        text(&out).0
    };
    download();
    std::fs::write(certs.join("notes.pem"), "not a certificate\n").unwrap();
    let state = sandbox.state();
    for step in [RotationStep::Add, RotationStep::Switch, RotationStep::Retire] {
        state.rotate_certificate(step).unwrap();
    }
    let stdout = download();
    assert!(pem(1).exists(), "the listed one is written");
    assert!(!pem(0).exists(), "the retired one is removed: {stdout}");
    assert!(stdout.contains("removed") && stdout.contains(PLATFORM_CERTIFICATES[0].0), "{stdout}");
    assert!(certs.join("notes.pem").exists(), "a file that is no certificate is left alone");
    std::fs::remove_file(certs.join("notes.pem")).unwrap();
    // A close that learns of a rotation from an answer: the list it downloads is mirrored.
    for step in [RotationStep::Add, RotationStep::Switch, RotationStep::Retire] {
        state.rotate_certificate(step).unwrap();
    }
    state.put_order(OrderKey::new("1900000001", "mirror-0001"), OrderState::Unpaid);
    let out = wxpay()
        .args(["close", "--api", "v3", "mirror-0001"])
        .envs(
            env.iter()
                .filter(|(k, _)| {
                    !k.starts_with("WXPAY_PUBLIC_KEY") && k != "WXPAY_PLATFORM_CERT_FILE"
                })
                .cloned(),
        )
        .env("WXPAY_PLATFORM_CERT_DIR", &certs)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(pem(2).exists(), "the new one is written");
    assert!(!pem(1).exists(), "the retired one is removed");
}

/// Review finding: in a shell that sourced `wxpay sandbox`'s exports, a `--config` holding
/// only APIv2 settings kept the environment's APIv3 credentials and sent them to WeChat Pay.
/// A config file that moves the destination takes no credentials from the environment: a
/// missing one is a usage error naming its flag, variable and config key (a proxy that
/// refuses connections keeps the test off the internet).
#[test]
fn a_config_that_moves_the_destination_takes_no_credentials_from_the_environment() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sandbox, dir.path());
    let config = dir.path().join("prod.toml");
    std::fs::write(
        &config,
        "appid = \"wx2421b1c4370ec43b\"\nmch_id = \"10000100\"\napi_v2_key_file = \"api_v2_key.txt\"\n",
    )
    .unwrap();
    let refusing = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = format!("http://{}", refusing.local_addr().unwrap());
    drop(refusing);
    let before = sandbox.state().requests();
    let close = |extra: &[&str]| {
        wxpay_with(&env)
            .args(["close", "--proxy", &proxy, "--config"])
            .arg(&config)
            .args(extra)
            .arg("order-123")
            .output()
            .unwrap()
    };
    let out = close(&["--api", "v3"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "a usage error, nothing sent: {stdout}{stderr}");
    for setting in [
        "--mchid (WXPAY_MCHID, or `mchid` in --config)",
        "--serial-no (WXPAY_SERIAL_NO, or `serial_no` in --config)",
        "--private-key-file (WXPAY_PRIVATE_KEY_FILE, or `private_key_file` in --config)",
    ] {
        assert!(stderr.contains(setting), "{setting}: {stderr}");
    }
    // A flag is still the user's own word, and the file's APIv2 close still goes (to
    // WeChat Pay: refused by the proxy, so nothing was sent).
    let out = close(&["--api", "v2"]);
    assert_eq!(out.status.code(), Some(6), "{:?}", text(&out));
    assert_eq!(sandbox.state().requests(), before, "nothing went to the environment's sandbox");
}

/// Review finding: the command's escaping knew no bidirectional marks, and `--json` records
/// and the journal carried an answer's `code` raw (U+202E, U+2066 reached the journal). The
/// core's one rule (`wxpay_core::is_hidden`) decides, and every text from the network is
/// escaped in records too: parsed back, no value holds a hidden character.
#[test]
fn bidi_and_invisible_characters_from_the_network_are_escaped_everywhere() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sandbox, dir.path());
    let forged = forger(
        "400 Bad Request",
        "application/json",
        "{\"code\":\"PARAM\u{202e}RORRE\u{2066}\",\"message\":\"closed\u{200b}\u{2028}ok\u{feff}\"}"
            .as_bytes(),
    );
    let hidden = |text: &str| {
        text.chars().filter(|c| wxpay_core::is_hidden(*c) && *c != '\n').collect::<Vec<_>>()
    };
    fn strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
            Value::Object(o) => o.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    for args in [&[][..], &["--json"][..]] {
        let out = wxpay_with(&env)
            .args(["close", "--confirm", "never", "--api", "v3", "--base-url", &forged])
            .args(args)
            .arg("forged-0001")
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(hidden(&stdout), [] as [char; 0], "{args:?}: {stdout:?}");
        assert_eq!(hidden(&stderr), [] as [char; 0], "{args:?}: {stderr:?}");
        if !args.is_empty() {
            let record: Value = serde_json::from_str(stdout.trim()).unwrap();
            let mut values = Vec::new();
            strings(&record, &mut values);
            assert_eq!(hidden(&values.concat()), [] as [char; 0], "{record}");
            assert_eq!(record["code"], "PARAM\\u{202e}RORRE\\u{2066}", "shown, escaped: {record}");
        }
    }
    let file = dir.path().join("forged.txt");
    std::fs::write(&file, "forged-0001\nforged-0002\n").unwrap();
    let out = wxpay_with(&env)
        .args(["close", "--confirm", "never", "--api", "v3", "--json", "--base-url", &forged])
        .arg("--from")
        .arg(&file)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(hidden(&stdout), [] as [char; 0], "{stdout:?}");
    assert_eq!(hidden(&stderr), [] as [char; 0], "{stderr:?}");
    let journal = dir.path().join("forged.txt.journal.jsonl");
    let bytes = std::fs::read_to_string(&journal).unwrap();
    assert_eq!(hidden(&bytes), [] as [char; 0], "{bytes}");
    let mut values = Vec::new();
    for record in journal_records(&journal).iter().chain(
        stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect::<Vec<_>>()
            .iter(),
    ) {
        strings(record, &mut values);
    }
    assert_eq!(hidden(&values.concat()), [] as [char; 0], "{bytes}\n{stdout}");
}

/// `wxpay sandbox --keys MODE`: every APIv3 merchant in that key mode, and the exports say
/// only what the mode has (a certificate-mode merchant has no public key to verify with).
#[test]
fn the_sandbox_command_runs_each_key_mode_and_exports_only_its_keys() {
    for (mode, public_key, certificate) in
        [("public-key", true, false), ("certificates", false, true), ("both", true, true)]
    {
        let dir = temp_dir(&format!("keys-{mode}"));
        let (mut child, text) =
            start_sandbox_command(&["--keys", mode, "--key-dir", dir.to_str().unwrap()]);
        assert_eq!(text.contains("WXPAY_PUBLIC_KEY_FILE="), public_key, "{mode}: {text}");
        assert_eq!(text.contains("WXPAY_PLATFORM_CERT_FILE="), certificate, "{mode}: {text}");
        assert!(text.contains(&format!("WXPAY_SANDBOX_V3_KEY_MODE={mode}")), "{mode}: {text}");
        stop(&mut child);
    }
    // An unknown mode is a usage error naming the modes.
    let out = wxpay().args(["sandbox", "--keys", "pgp"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("public-key"), "{:?}", text(&out));
}

/// `wxpay sandbox order|fault|rotate|list` talk to a running sandbox: no second HTTP client.
#[test]
fn the_sandbox_subcommands_drive_a_running_sandbox() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let url = sandbox.base_url().to_owned();
    let run = |args: &[&str]| {
        let out = wxpay().arg("sandbox").args(args).env("WXPAY_BASE_URL", &url).output().unwrap();
        let (stdout, stderr) = text(&out);
        (out.status.code(), stdout, stderr)
    };
    let (code, out, err) =
        run(&["order", "add", "ctl-order-0001", "--mchid", "1900000001", "--state", "paid"]);
    assert_eq!(code, Some(0), "{out} {err}");
    let order = sandbox.state().order(&OrderKey::new("1900000001", "ctl-order-0001")).unwrap();
    assert_eq!(order.state, OrderState::Paid);
    let (code, out, _) = run(&["order", "show", "ctl-order-0001", "--mchid", "1900000001"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("\"trade_state\":\"SUCCESS\""), "{out}");
    let (code, out, _) = run(&["fault", "system_error", "--endpoint", "v3_direct", "--times", "1"]);
    assert_eq!(code, Some(0), "{out}");
    // A name the sandbox does not know: refused, with what it accepts.
    let (code, out, _) = run(&["fault", "nonsense"]);
    assert_eq!(code, Some(2));
    assert!(out.contains("relabel_status"), "{out}");
    let (code, _, _) = run(&["fault", "--clear"]);
    assert_eq!(code, Some(0));
    let (code, _, _) = run(&["rotate", "add"]);
    assert_eq!(code, Some(0));
    assert_eq!(sandbox.state().platform_certificates().0.len(), 2);
    let (code, out, _) = run(&["list"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("pay_during_close") && out.contains("key_modes"), "{out}");
    // No sandbox there: said so, exit 1.
    let out = wxpay().args(["sandbox", "list", "--url", "http://127.0.0.1:9"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
}

/// `wxpay sandbox order add|show` say whose order it is, take `--api v2` as `wxpay close`
/// does (the APIv2 merchant, `WXPAY_MCH_ID`), and refuse a number the clients would refuse.
#[test]
fn sandbox_orders_name_their_merchant_and_follow_the_api_generation() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let url = sandbox.base_url().to_owned();
    let run = |args: &[&str]| {
        let out = wxpay()
            .arg("sandbox")
            .args(args)
            .env("WXPAY_BASE_URL", &url)
            .env("WXPAY_MCHID", "1900000001")
            .env("WXPAY_MCH_ID", "1900000002")
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        (out.status.code(), format!("{stdout}{stderr}"))
    };
    let (code, all) = run(&["order", "add", "nc-v2-1", "--api", "v2"]);
    assert_eq!(code, Some(0), "{all}");
    assert!(all.contains("merchant 1900000002"), "{all}");
    assert!(sandbox.state().order(&OrderKey::new("1900000002", "nc-v2-1")).is_some());
    let (code, all) = run(&["order", "show", "nc-v2-1", "--api", "v2"]);
    assert_eq!(code, Some(0), "{all}");
    assert!(all.contains("merchant 1900000002"), "{all}");
    // APIv3 by default, as `wxpay close`; the sub-merchant is named too.
    let (code, all) = run(&["order", "add", "nc-v3-1"]);
    assert_eq!(code, Some(0), "{all}");
    assert!(all.contains("merchant 1900000001"), "{all}");
    let (code, all) =
        run(&["order", "add", "nc-v3-2", "--mchid", "1900000100", "--sub-mchid", "1900000109"]);
    assert_eq!(code, Some(0), "{all}");
    assert!(
        all.contains("merchant 1900000100") && all.contains("sub-merchant 1900000109"),
        "{all}"
    );
    // A number the clients would refuse to close: refused here, in the same words.
    for (api, no) in [("v3", "abc12"), ("v3", "bad order"), ("v2", "bad order")] {
        let (code, all) = run(&["order", "add", no, "--api", api]);
        assert_eq!(code, Some(2), "{api} {no}: {all}");
        let close = wxpay().args(["close", "--sandbox", "--api", api, no]).output().unwrap();
        assert_eq!(close.status.code(), Some(2), "{:?}", text(&close));
        // (`wxpay close --sandbox` first notes where it sends.)
        assert_eq!(
            Some(all.as_str()),
            text(&close).1.lines().last().map(|l| format!("{l}\n")).as_deref(),
            "{api} {no}"
        );
    }
    // Five characters are enough for APIv2.
    let (code, all) = run(&["order", "add", "abc12", "--api", "v2"]);
    assert_eq!(code, Some(0), "{all}");
}

#[test]
fn check_names_the_key_mode_and_a_wrong_key_without_touching_an_order() {
    use wxpay_sandbox::KeyMode;
    for (mode, expect) in [
        (KeyMode::PublicKey, "key mode: public key only"),
        (KeyMode::Certificates, "key mode: platform certificates"),
        (
            KeyMode::Both,
            "APIv3: key mode: both (the certificate list and the public key each verified an answer)",
        ),
    ] {
        let sandbox =
            SandboxThread::start(SandboxConfig { keys: mode, ..SandboxConfig::default() }).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let env = env_for(&sandbox, dir.path());
        let orders = sandbox.state().order_count();
        let out = wxpay_with(&env).arg("check").output().unwrap();
        let (stdout, stderr) = text(&out);
        let all = format!("{stdout}{stderr}");
        assert_eq!(out.status.code(), Some(0), "{mode:?}: {all}");
        assert!(all.contains("APIv3: ok") && all.contains(expect), "{mode:?}: {all}");
        assert!(all.contains("APIv2: ok"), "{mode:?}: {all}");
        // Nothing about any order was changed or made.
        assert_eq!(sandbox.state().order_count(), orders, "{mode:?}");
        if mode == KeyMode::Certificates {
            // A wrong APIv3 key is named as such, and the command fails.
            let wrong = dir.path().join("wrong_v3_key.txt");
            std::fs::write(&wrong, "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ").unwrap();
            let out = wxpay_with(&env)
                .arg("check")
                .env("WXPAY_API_V3_KEY_FILE", &wrong)
                .output()
                .unwrap();
            let (stdout, stderr) = text(&out);
            let all = format!("{stdout}{stderr}");
            assert_eq!(out.status.code(), Some(1), "{all}");
            assert!(all.contains("wrong APIv3 key"), "{all}");
            // A wrong API v2 key is named too.
            let wrong2 = dir.path().join("wrong_v2_key.txt");
            std::fs::write(&wrong2, "YYYYYYYYYYYYYYYYYYYYYYYYYYYYYYYY").unwrap();
            let out = wxpay_with(&env)
                .arg("check")
                .env("WXPAY_API_V2_KEY_FILE", &wrong2)
                .output()
                .unwrap();
            let all = format!("{}{}", text(&out).0, text(&out).1);
            assert_eq!(out.status.code(), Some(1), "{all}");
            assert!(
                all.contains("APIv3: ok") && all.contains("APIv2: WeChat Pay refused"),
                "{all}"
            );
        }
    }
}

#[test]
fn check_believes_no_unsigned_answer() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sandbox, dir.path());
    for (status, body) in [
        ("401 Unauthorized", &br#"{"code":"SIGN_ERROR","message":"forged"}"#[..]),
        ("404 Not Found", &br#"{"code":"RESOURCE_NOT_EXISTS","message":"forged"}"#[..]),
    ] {
        let url = forger(status, "application/json", body);
        let out = wxpay_with(&env).arg("check").env("WXPAY_BASE_URL", &url).output().unwrap();
        let all = format!("{}{}", text(&out).0, text(&out).1);
        assert_eq!(out.status.code(), Some(1), "{all}");
        assert!(!all.contains("APIv3: ok"), "{all}");
        assert!(!all.contains("refused the request's signature"), "an unsigned claim: {all}");
        assert!(all.contains("APIv2: ") && !all.contains("APIv2: ok"), "{all}");
    }
}

#[test]
fn check_refuses_a_public_key_wechat_pay_does_not_sign_with() {
    use wxpay_sandbox::KeyMode;
    // The public key settings of a merchant in both modes, given to a certificate-only one.
    let both =
        SandboxThread::start(SandboxConfig { keys: KeyMode::Both, ..SandboxConfig::default() })
            .unwrap();
    let both_dir = tempfile::tempdir().unwrap();
    let public: Vec<(String, String)> = env_for(&both, both_dir.path())
        .into_iter()
        .filter(|(k, _)| k == "WXPAY_PUBLIC_KEY_ID" || k == "WXPAY_PUBLIC_KEY_FILE")
        .collect();
    assert_eq!(public.len(), 2, "{public:?}");
    let sandbox = SandboxThread::start(SandboxConfig {
        keys: KeyMode::Certificates,
        ..SandboxConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sandbox, dir.path());
    let out = wxpay_with(&env).arg("check").envs(public.iter().cloned()).output().unwrap();
    let all = format!("{}{}", text(&out).0, text(&out).1);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("key mode: platform certificates (the public key given is checked next"),
        "{all}"
    );
    assert!(all.contains("WeChat Pay does not sign with the public key given"), "{all}");
    assert!(!all.contains("key mode: both"), "{all}");
}

/// A bulk close (`wxpay close --from`, 4 at a time, each answer 10 ms late) of 300 unpaid
/// orders `{prefix}-0000`… of the direct APIv3 merchant, with `env`, journaled in `dir`:
/// the run going on once its journal holds `records` lines, the input file and the journal.
fn bulk_run_until(
    sandbox: &SandboxThread,
    dir: &Path,
    env: &[(String, String)],
    prefix: &str,
    records: usize,
) -> (std::process::Child, std::path::PathBuf, std::path::PathBuf) {
    let file = unpaid_orders_file(sandbox, dir, prefix, 300);
    let journal = dir.join("journal.jsonl");
    sandbox.state().add_fault(FaultRule::always(Fault::Delay(Duration::from_millis(10))));
    let mut run = wxpay_with(env)
        .args(["close", "--api", "v3", "--concurrency", "4", "--from"])
        .arg(&file)
        .arg("--journal")
        .arg(&journal)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while journal_records_len(&journal) < records {
        assert!(Instant::now() < deadline, "the run made no progress");
        assert!(run.try_wait().unwrap().is_none(), "the run ended before the move");
        std::thread::sleep(Duration::from_millis(5));
    }
    (run, file, journal)
}

#[test]
fn a_bulk_close_survives_the_move_from_certificates_to_the_public_key_mid_run() {
    use wxpay_sandbox::KeyMode;
    // The merchant's settings hold both kinds of key (as while migrating); WeChat Pay signs
    // with certificates, then moves the merchant to the public key in the middle of the run.
    let sandbox =
        SandboxThread::start(SandboxConfig { keys: KeyMode::Both, ..SandboxConfig::default() })
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sandbox, dir.path());
    let state = sandbox.state();
    state.set_all_key_modes(KeyMode::Certificates);
    let (run, _, journal) = bulk_run_until(&sandbox, dir.path(), &env, "move", 100);
    state.set_all_key_modes(KeyMode::PublicKey);
    let at_move = journal_records_len(&journal);
    let out = run.wait_with_output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let closed = journal_records(&journal)
        .iter()
        .filter(|r| r["outcome"].as_str() == Some("closed"))
        .count();
    assert_eq!(closed, 300, "{stderr}");
    assert!(at_move < 250, "the move came mid-run: {at_move} records by then");
    assert_each_closed_once(&sandbox, "move", 300);
}

#[test]
fn a_bulk_close_whose_answers_name_a_key_it_does_not_hold_stops_says_why_once_and_resumes() {
    use wxpay_sandbox::KeyMode;
    // The settings hold certificates only (downloaded with the APIv3 key); WeChat Pay moves
    // the merchant to the public key mid-run. From then on no answer can be verified: each
    // close is sent and its effect unknown. The run must stop soon (not try every order until
    // its own deadline), say once which key it lacks and what to set, and resume once set.
    let sandbox =
        SandboxThread::start(SandboxConfig { keys: KeyMode::Both, ..SandboxConfig::default() })
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sandbox, dir.path());
    let without_public_key: Vec<(String, String)> =
        env.iter().filter(|(k, _)| !k.starts_with("WXPAY_PUBLIC_KEY")).cloned().collect();
    assert!(without_public_key.len() + 2 == env.len());
    let state = sandbox.state();
    state.set_all_key_modes(KeyMode::Certificates);
    let (mut run, file, journal) =
        bulk_run_until(&sandbox, dir.path(), &without_public_key, "lost-key", 30);
    state.set_all_key_modes(KeyMode::PublicKey);
    let moved = Instant::now();
    let deadline = moved + Duration::from_secs(60);
    while run.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            run.kill().unwrap();
            panic!("the run did not stop within 60 s of the move");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = run.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    // Said once, with the key's id and what to set.
    let said = stderr.lines().filter(|l| l.contains("hold no key")).collect::<Vec<_>>();
    assert_eq!(said.len(), 1, "{stderr}");
    assert!(said[0].contains("PUB_KEY_ID_"), "{}", said[0]);
    assert!(said[0].contains("--public-key-file"), "{}", said[0]);
    assert!(stderr.contains("--resume"), "{stderr}");
    // Few orders were sent after the move; none is claimed closed without a verified answer.
    let records = journal_records(&journal);
    let errors: Vec<&Value> = records.iter().filter(|r| r["error"].is_string()).collect();
    assert!(!errors.is_empty() && errors.len() <= 12, "{} errors: {stderr}", errors.len());
    for e in &errors {
        assert_eq!(e["effect"].as_str(), Some("unknown"), "{e}");
    }
    let untouched = (0..300)
        .filter(|i| {
            let no = format!("lost-key-{i:04}");
            state.order(&OrderKey::new("1900000001", &no)).unwrap().close_calls == 0
        })
        .count();
    assert!(untouched >= 200, "only {untouched} orders were left unsent");
    // With the public key set, the resume finishes the run: every order closed, once.
    let out = wxpay_with(&env)
        .args(["close", "--api", "v3", "--concurrency", "4", "--from"])
        .arg(&file)
        .arg("--resume")
        .arg(&journal)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_each_closed_once(&sandbox, "lost-key", 300);
}

#[test]
fn check_says_how_far_this_machine_s_clock_is_from_wechat_pay_s() {
    // WeChat Pay's clock against this machine's, as its signed answers show it: close, off
    // but within the 5-minute window (a warning), and out of it (the check fails).
    let seconds = |line: &str| -> u64 {
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "s" || *w == "s,").unwrap();
        words[at - 1].parse().unwrap()
    };
    for (offset, code, says) in [
        (20i64, 0, "clock: ok: within"),
        (200, 0, "s behind WeChat Pay's, as WeChat Pay's signed answer times show"),
        // Out of the window an answer's signature is not checked: its time is no proof.
        (-700, 1, "clock: not checked: an answer carried a time 700 s behind this machine's"),
    ] {
        let sandbox = SandboxThread::start(SandboxConfig {
            clock_offset_secs: offset,
            ..SandboxConfig::default()
        })
        .unwrap();
        let c = check(&sandbox, &[]);
        assert_eq!(c.code, Some(code), "{offset}: {}{}", c.stdout, c.stderr);
        let line = c.clock.as_str();
        assert!(line.contains(says), "{offset}: {}", c.stdout);
        // To the second, give or take the answer's time on the way.
        assert!(seconds(line).abs_diff(offset.unsigned_abs()) <= 2, "{offset}: {line}");
    }
}

#[test]
fn check_without_an_apiv3_key_checks_what_the_settings_verify_with() {
    use wxpay_sandbox::KeyMode;
    // A public-key merchant needs no APIv3 key to close, and a certificate-mode merchant may
    // give the certificate file instead: neither is a failed check. What they verify with is
    // proven by a query's signed answer; the certificate list (and the key mode it tells) is
    // said not to be checked.
    for (mode, verifies) in [
        (KeyMode::PublicKey, "the public key verifies WeChat Pay's answers"),
        (KeyMode::Certificates, "the platform certificates given verify WeChat Pay's answers"),
    ] {
        let sandbox =
            SandboxThread::start(SandboxConfig { keys: mode, ..SandboxConfig::default() }).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let env: Vec<(String, String)> = env_for(&sandbox, dir.path())
            .into_iter()
            .filter(|(k, _)| k != "WXPAY_API_V3_KEY_FILE")
            .collect();
        let out = wxpay_with(&env).arg("check").output().unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{mode:?}: {stdout}{stderr}");
        assert!(stdout.contains(verifies), "{mode:?}: {stdout}");
        assert!(stdout.contains("no APIv3 key"), "{mode:?}: {stdout}");
        assert!(stdout.contains("clock: ok"), "{mode:?}: {stdout}");
        // The wrong certificate is named: a certificate-mode merchant given another's.
        if mode == KeyMode::Certificates {
            let other = dir.path().join("other.pem");
            let pem = wxpay_sandbox::merchants::PLATFORM_CERTIFICATES[1].1;
            std::fs::write(&other, pem).unwrap();
            let out = wxpay_with(&env)
                .arg("check")
                .env("WXPAY_PLATFORM_CERT_FILE", &other)
                .output()
                .unwrap();
            let (stdout, stderr) = text(&out);
            assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
            assert!(
                stdout.contains("which the platform certificates given do not hold"),
                "{stdout}"
            );
        }
    }
}

#[test]
fn an_empty_or_misspelt_variable_is_refused_as_the_library_refuses_it() {
    // `WXPAY_BASE_URL=` or a misspelt `WXPAY_BASE_ULR` left the destination unset: WeChat Pay
    // itself, with the sandbox's (or a staging) merchant. Both are refused before anything
    // is read or sent, by the command and the library alike.
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> =
        env_for(&sandbox, dir.path()).into_iter().filter(|(k, _)| k != "WXPAY_BASE_URL").collect();
    sandbox.state().put_order(OrderKey::new("10000100", "empty-var-1"), OrderState::Unpaid);
    for (name, value, says) in [
        ("WXPAY_BASE_URL", String::new(), "WXPAY_BASE_URL is set but empty"),
        (
            "WXPAY_BASE_ULR",
            sandbox.base_url().to_owned(),
            "WXPAY_BASE_ULR is not a wxpay setting (did you mean WXPAY_BASE_URL?)",
        ),
    ] {
        // `sign` and `verify` read the key and id variables too. In the misspelt round the key
        // file's variable is absent as well, so clap itself refuses `sign` (--key-file
        // missing): the misspelt variable is still what is said.
        let sign = ["sign", "v2", "--field", "appid=wx2421b1c4370ec43b"];
        let verify = ["verify", "v3", "--header", "Wechatpay-Nonce: n"];
        let env = if name == "WXPAY_BASE_ULR" {
            without(&env, &["WXPAY_API_V2_KEY_FILE"])
        } else {
            env.clone()
        };
        let commands = [&["close", "--api", "v2", "empty-var-1"][..], &["check"], &sign, &verify];
        for command in commands {
            let out = wxpay_with(&env).args(command).env(name, &value).output().unwrap();
            let (stdout, stderr) = text(&out);
            assert_eq!(out.status.code(), Some(2), "{command:?} {name}: {stdout}{stderr}");
            assert!(stderr.contains(says), "{stderr}");
        }
        let vars = env.iter().cloned().chain([(name.to_owned(), value.clone())]);
        let e = wxpay_settings::Settings::from_vars(vars).unwrap_err();
        assert!(e.to_string().contains(says), "{e}");
    }
    assert_eq!(sandbox.state().requests(), 0, "nothing was sent anywhere");
}

/// A client that takes the APIv2 service provider's id (`WXPAY_SANDBOX_V2_SP_MCH_ID`, the
/// shared vectors' `1900000109`) for its APIv3 sub-merchant (`WXPAY_SANDBOX_V3_SUB_MCHID`) is
/// refused, as WeChat Pay refuses a sub-merchant that is not the service provider's: exit 6,
/// the order unpaid. Only a sandbox told to accept the vectors' ids closes it.
#[test]
fn a_close_for_the_vectors_sub_merchant_is_refused() {
    let close = |config: SandboxConfig| {
        let sandbox = SandboxThread::start(config).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let env = env_for(&sandbox, dir.path());
        let key = OrderKey::sub("1230000109", "1900000109", "lax-sub-1");
        sandbox.state().put_order(key.clone(), OrderState::Unpaid);
        let out = wxpay_with(&env)
            .args([
                "close",
                "--api",
                "v3",
                "--mchid",
                "1230000109",
                "--sub-mch-id",
                "1900000109",
                "lax-sub-1",
            ])
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        (out.status.code(), format!("{stdout}{stderr}"), sandbox.state().order(&key).unwrap())
    };
    let (code, out, order) = close(SandboxConfig::default());
    assert_eq!(code, Some(6), "{out}");
    assert!(out.contains("refused by WeChat Pay, the order is unchanged"), "{out}");
    assert!(out.contains("INVALID_REQUEST"), "{out}");
    assert_eq!((order.state, order.close_calls), (OrderState::Unpaid, 0));

    let (code, out, order) =
        close(SandboxConfig { accept_vector_ids: true, ..SandboxConfig::default() });
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(order.state, OrderState::Closed);
}

#[test]
fn a_certificate_directory_serves_the_merchant_and_destination_it_was_written_for() {
    // Certificates written for one merchant at one destination (here a sandbox, whose
    // certificate keys are public) are never trusted for, or mixed into, another's: the
    // directory says whose it is.
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let other = SandboxThread::start(SandboxConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sandbox, dir.path());
    let certs = dir.path().join("certs");
    let out =
        wxpay_with(&env).args(["certificates", "--out", certs.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let owner = std::fs::read_to_string(certs.join(wxpay_settings::OWNER_FILE)).unwrap();
    assert!(owner.contains("1900000001") && owner.contains(sandbox.base_url()), "{owner}");
    // The same directory for another destination: refused, to download into or to close with.
    let elsewhere: Vec<(String, String)> = env
        .iter()
        .cloned()
        .map(|(k, v)| if k == "WXPAY_BASE_URL" { (k, other.base_url().to_owned()) } else { (k, v) })
        .collect();
    other.state().put_order(OrderKey::new("1900000001", "owner-order-1"), OrderState::Unpaid);
    for args in [
        &["certificates", "--out", certs.to_str().unwrap()][..],
        &["close", "--api", "v3", "--platform-cert-dir", certs.to_str().unwrap(), "owner-order-1"],
    ] {
        let out = wxpay().args(args).envs(elsewhere.iter().cloned()).output().unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stdout}{stderr}");
        assert!(stderr.contains("holds the platform certificates of mchid 1900000001"), "{stderr}");
    }
    assert_eq!(other.state().requests(), 0, "nothing was asked of the other destination");
}

/// A `--config` file that gives part of a merchant's credentials sets the environment's
/// aside (credentials come from one place): the error names the variables that are set but
/// were not read, instead of calling them "not set" (a newcomer's report).
#[test]
fn settings_set_aside_by_config_are_named_as_such() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = env_for(&sandbox, dir.path());
    let partial = dir.path().join("v3partial.toml");
    std::fs::write(&partial, "mchid = \"1900000001\"\n").unwrap();
    let out = wxpay_with(&env)
        .args(["close", "--api", "v3", "--config"])
        .arg(&partial)
        .arg("aside-0001")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("needs settings that are not set"), "{stderr}");
    assert!(stderr.contains("Set but set aside: "), "{stderr}");
    assert!(stderr.contains("WXPAY_SERIAL_NO"), "{stderr}");
    assert!(stderr.contains(&format!("--config {}", partial.display())), "{stderr}");
    // Only what the error asks for: not the APIv2 variables, set aside too.
    assert!(!stderr.contains("WXPAY_APPID"), "{stderr}");
    // `wxpay certificates`, whose first question is the APIv3 key.
    let out = wxpay_with(&env)
        .args(["certificates", "--out"])
        .arg(dir.path().join("certs"))
        .arg("--config")
        .arg(&partial)
        .output()
        .unwrap();
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("Set but set aside: WXPAY_API_V3_KEY_FILE ("), "{stderr}");
    assert_eq!(sandbox.state().requests(), 0, "nothing sent");
    // Without --config, nothing is set aside and nothing is said about it.
    let out = wxpay_with(&without(&env, &["WXPAY_SERIAL_NO"]))
        .args(["close", "--api", "v3", "aside-0001"])
        .output()
        .unwrap();
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("WXPAY_SERIAL_NO") && !stderr.contains("set aside"), "{stderr}");
}

/// `wxpay check` with APIv2 settings alone still says, once, that its query goes somewhere
/// that is not WeChat Pay (the note was printed only on the APIv3 path: review).
#[test]
fn check_with_apiv2_settings_only_says_where_it_sends() {
    let sandbox = SandboxThread::start(SandboxConfig::default()).unwrap();
    let v3 = [
        "WXPAY_MCHID",
        "WXPAY_SERIAL_NO",
        "WXPAY_PRIVATE_KEY_FILE",
        "WXPAY_PUBLIC_KEY_ID",
        "WXPAY_PUBLIC_KEY_FILE",
        "WXPAY_PLATFORM_CERT_FILE",
        "WXPAY_API_V3_KEY_FILE",
    ];
    for leave_out in [&v3[..], &[]] {
        let c = check(&sandbox, leave_out);
        assert!(c.stdout.contains("APIv2: ok"), "{}{}", c.stdout, c.stderr);
        assert_eq!(c.stderr.matches("which is not WeChat Pay").count(), 1, "{}", c.stderr);
    }
}
