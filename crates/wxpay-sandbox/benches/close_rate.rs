//! APIv3 closes per second against the sandbox from a local client at concurrency 16,
//! against the rate the sandbox's own RSA signing allows here (signatures per second,
//! measured in the same run with one signing thread per sandbox worker).
//!
//! Requests are signed before the clock starts, so that the client's own RSA signing does
//! not compete with the sandbox for the machine's cores; answers are verified as they come.
//! Prints `pair sandbox.v3_close_rate <ratio> <closes/s> <signatures/s × workers>`.

#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wxpay_core::v3::{CloseOrderV3, Signer, V3Credentials};
use wxpay_core::{Attempt, BaseUrl, CloseOutcome, Context, Operation};
use wxpay_sandbox::{OrderKey, OrderState, SandboxConfig, SandboxThread};

const CONCURRENCY: usize = 16;
const WORKERS: f64 = 2.0;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let orders = if quick { 1_500 } else { 6_000 };
    let started = Instant::now();
    let sandbox =
        SandboxThread::start(SandboxConfig { min_close_delay_secs: 0, ..SandboxConfig::default() })
            .unwrap();
    println!("rate sandbox.start_ms {:.1}", started.elapsed().as_secs_f64() * 1000.0);
    let creds = sandbox.credentials();
    let ctx = Arc::new(
        Context::new().with_v3(
            V3Credentials::new(
                "1900000001",
                wxpay_sandbox::merchants::MERCHANT_SERIAL_NO,
                creds.merchant_signer(),
                creds.public_key_verifier(),
            )
            .unwrap(),
        ),
    );
    let base = BaseUrl::parse(sandbox.base_url()).unwrap();
    let now = wxpay_core::unix_now();
    let requests: Vec<_> = (0..orders)
        .map(|i| {
            let no = format!("rate-{i:06}");
            sandbox.state().put_order(OrderKey::new("1900000001", &no), OrderState::Unpaid);
            let nonce = format!("NONCE{i:06}");
            let op = CloseOrderV3::new(no);
            let req = op.build(&ctx, &Attempt::new(&base, now, &nonce)).unwrap();
            (op, req)
        })
        .collect();

    // Baseline: the sandbox's signing key, on this machine, in this run: one signing thread
    // per sandbox worker, all at once, as the workers sign under load (a lone thread would
    // enjoy a turbo clock that two busy cores do not get).
    let window = Duration::from_millis(if quick { 500 } else { 2_000 });
    let start = Instant::now();
    let signers: Vec<_> = (0..WORKERS as usize)
        .map(|_| {
            std::thread::spawn(move || {
                let signer = wxpay_core::v3::RsaSigner::from_pem(
                    wxpay_sandbox::merchants::WECHATPAY_KEY_PEM,
                )
                .unwrap();
                let mut n = 0u32;
                while start.elapsed() < window {
                    std::hint::black_box(signer.sign(b"1700000000\nNONCE\n\n").unwrap());
                    n += 1;
                }
                n
            })
        })
        .collect();
    let signatures: u32 = signers.into_iter().map(|t| t.join().unwrap()).sum();
    let sign_rate = f64::from(signatures) / start.elapsed().as_secs_f64();

    let queue = Arc::new(std::sync::Mutex::new(requests));
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (queue, done, ctx) = (queue.clone(), done.clone(), ctx.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent =
                    ureq::Agent::config_builder().http_status_as_error(false).build().into();
                loop {
                    let Some((op, req)) = queue.lock().unwrap().pop() else { break };
                    let (parts, mut body) = agent.run(req).unwrap().into_parts();
                    let resp = http::Response::from_parts(parts, body.read_to_vec().unwrap());
                    let now = wxpay_core::unix_now();
                    assert_eq!(
                        op.parse(&ctx, &wxpay_core::ReplayGuard::new(), now, resp).unwrap(),
                        CloseOutcome::Closed
                    );
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let rate = done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    println!("pair sandbox.v3_close_rate {:.4} {rate:.1} {sign_rate:.1} /s", rate / sign_rate);
}
