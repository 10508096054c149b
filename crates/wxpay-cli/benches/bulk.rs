//! Bulk close through the `wxpay` command against its embedded sandbox, at concurrency 32,
//! against the async client's own closes per second at the same concurrency against an
//! embedded sandbox, in the same run. Both include the sandbox's work on the same cores;
//! the command adds process start-up, reading the file, creating the orders and the journal.
//!
//! Prints `pair bulk.v3_vs_async_client <ratio> <command closes/s> <client closes/s> /s` and
//! `rate bulk.v3_closes_per_s <closes/s>`.

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
        sandbox.state().put_order(
            OrderKey::new("1900000001", format!("bulk-{i:06}")),
            OrderState::Unpaid,
            0,
        );
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
                        let op = CloseOrderV3::direct(format!("bulk-{i:06}"));
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
    let _ = std::fs::remove_dir_all(&dir);
}
