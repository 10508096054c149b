//! Bulk close through the `wxpay` command against its embedded sandbox, at concurrency 32,
//! against the async client's own closes per second at the same concurrency against an
//! embedded sandbox, in the same run. Both include the sandbox's work on the same cores;
//! the command adds process start-up, reading the file, creating the orders and the journal.
//!
//! Prints `pair bulk.v3_vs_async_client <ratio> <command closes/s> <client closes/s> /s` and
//! `rate bulk.v3_closes_per_s <closes/s>`.
//!
//! Then a 1,000,000-line file against the embedded sandbox (APIv2, order numbers that do not
//! exist, concurrency 64), streamed: `rate bulk.peak_rss_mb` (the process's high-water mark,
//! `VmHWM`, sampled every 5 ms) and `rate bulk.first_close_ms` (from start to the first
//! result in the journal).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use wxpay_core::v3::{CloseOrderV3, V3Credentials};
use wxpay_core::{ClientConfig, CloseOutcome};
use wxpay_sandbox::merchants::MERCHANT_SERIAL_NO;
use wxpay_sandbox::{OrderKey, OrderState, SandboxConfig, SandboxThread};

const CONCURRENCY: usize = 32;

fn command_rate(orders: usize, dir: &std::path::Path) -> f64 {
    let file = dir.join("orders.txt");
    let list: String = (0..orders).map(|i| format!("bulk-{i:06}\n")).collect();
    std::fs::write(&file, list).unwrap();
    let journal = dir.join("journal.jsonl");
    let _ = std::fs::remove_file(&journal);
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_wxpay"))
        .args([
            "close",
            "--sandbox",
            "--api",
            "v3",
            "--concurrency",
            &CONCURRENCY.to_string(),
            "--from",
        ])
        .arg(&file)
        .arg("--journal")
        .arg(&journal)
        .output()
        .unwrap();
    let elapsed = start.elapsed();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let closed = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"outcome\":\"closed\""))
        .count();
    assert_eq!(closed, orders);
    orders as f64 / elapsed.as_secs_f64()
}

fn client_rate(orders: usize) -> f64 {
    let sandbox =
        SandboxThread::start(SandboxConfig { min_close_delay_secs: 0, ..SandboxConfig::default() })
            .unwrap();
    for i in 0..orders {
        sandbox
            .state()
            .put_order(OrderKey::new("1900000001", format!("bulk-{i:06}")), OrderState::Unpaid);
    }
    let creds = sandbox.credentials();
    let v3 = V3Credentials::new(
        "1900000001",
        MERCHANT_SERIAL_NO,
        creds.merchant_signer(),
        creds.public_key_verifier(),
    )
    .unwrap();
    let client = wxpay_async::Client::new(
        ClientConfig::builder().base_url(sandbox.base_url()).v3(v3).build().unwrap(),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let tasks: Vec<_> = (0..CONCURRENCY)
            .map(|_| {
                let (client, next) = (client.clone(), next.clone());
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= orders {
                            break;
                        }
                        let op = CloseOrderV3::new(format!("bulk-{i:06}"));
                        assert_eq!(client.execute(&op).await.unwrap(), CloseOutcome::Closed);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        orders as f64 / start.elapsed().as_secs_f64()
    })
}

/// Peak memory and time to the first close of a million-line bulk run.
fn million(dir: &std::path::Path) -> (f64, f64) {
    use std::io::Write;
    let file = dir.join("million.txt");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    for i in 0..1_000_000 {
        writeln!(out, "missing-{i:07}").unwrap();
    }
    out.flush().unwrap();
    drop(out);
    let journal = dir.join("million.journal");
    let _ = std::fs::remove_file(&journal);
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wxpay"))
        .args(["close", "--sandbox", "--sandbox-state", "missing", "--api", "v2"])
        .args(["--concurrency", "64", "--from"])
        .arg(&file)
        .arg("--journal")
        .arg(&journal)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let (mut peak_kb, mut first) = (0u64, None);
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_file) {
            let hwm = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
            peak_kb = peak_kb.max(hwm.unwrap_or(0));
        }
        if first.is_none() {
            // The header, then the first result.
            let lines =
                std::fs::read(&journal).map_or(0, |b| b.iter().filter(|c| **c == b'\n').count());
            if lines >= 2 {
                first = Some(start.elapsed());
            }
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(if first.is_none() { 1 } else { 5 }));
    }
    // Every order was looked up: exit 4 (not found), one result each.
    assert_eq!(child.wait().unwrap().code(), Some(4));
    let results =
        std::io::BufRead::lines(std::io::BufReader::new(std::fs::File::open(&journal).unwrap()))
            .filter(|l| l.as_ref().is_ok_and(|l| l.contains("\"outcome\":\"not_found\"")))
            .count();
    assert_eq!(results, 1_000_000);
    let first = first.expect("a first close").as_secs_f64() * 1000.0;
    (peak_kb as f64 / 1024.0, first)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let orders = if quick { 2_000 } else { 10_000 };
    let dir = std::env::temp_dir().join(format!("wxpay-bulk-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Interleaved: client, command, command, client.
    let c1 = client_rate(orders);
    let m1 = command_rate(orders, &dir);
    let m2 = command_rate(orders, &dir);
    let c2 = client_rate(orders);
    let (ours, theirs) = ((m1 + m2) / 2.0, (c1 + c2) / 2.0);
    println!("rate bulk.v3_closes_per_s {ours:.1}");
    println!("pair bulk.v3_vs_async_client {:.4} {ours:.1} {theirs:.1} /s", ours / theirs);
    let (peak_mb, first_ms) = million(&dir);
    println!("rate bulk.peak_rss_mb {peak_mb:.1}");
    println!("rate bulk.first_close_ms {first_ms:.1}");
    let _ = std::fs::remove_dir_all(&dir);
}
