//! The clients against the sandbox over keep-alive, each against a raw HTTP call of the same
//! library sending a pre-built request:
//!
//! - `blocking.v2_close`: a full close through the blocking client vs a raw ureq post;
//! - `async.v2_close`: the same through the async client vs raw reqwest;
//! - `async.v3_close_c32`: closes per second at concurrency 32 vs raw reqwest at the same
//!   concurrency posting requests signed before the clock starts.
//!
//! The sandbox runs as a separate process pinned to core 0 and this one to core 1 (when
//! `taskset` and `WXPAY_BIN` are there, as `cargo xtask bench` arranges), so the
//! client's own work, RSA signing above all, does not take the server's CPU: on one
//! machine, that is what a real deployment looks like from the client's side.
//!
//! At c32 both our client and the sandbox are bound by RSA (each signs once per close), so
//! the figure compares one core against the other, and on a shared host one core's speed
//! drifts against the other's by up to ±15 % from second to second. The c32 rounds therefore
//! swap the cores between sandbox and client every other round and take the median of many
//! rounds, and they print each side's CPU time per close (`cpu …` lines), which does not
//! depend on how the two sides' speeds happen to line up.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use wxpay_core::v2::{CloseOrderV2, SignType};
use wxpay_core::v3::CloseOrderV3;
use wxpay_core::{
    Attempt, BaseUrl, CloseOutcome, ConfirmPolicy, ConfirmSettings, Context, Operation, Request,
    RetryPolicy,
};
use wxpay_integration_tests::{V2_MCH, V3_MCH, config, v2_credentials, v3_credentials};
use wxpay_sandbox::AnswerMode;

#[path = "../../crates/wxpay-core/benches/paired.rs"]
mod paired;
use paired::{Timed, median, pair_with};

/// Rounds of a single-close pair: a close over loopback takes 0.2 to 1 ms, so the core
/// benches' 4 ms chunks held ~20 closes each and their medians moved by 10% between runs.
/// With 25 ms chunks the per-round ratios still spread over 0.92..1.22 (middle half) on a
/// shared host: 81 rounds put the median within about ±2.6%, too loose for two runs to
/// agree within 3%. Three quiet runs of 321 rounds spanned 3.1% (blocking) and 1.1%
/// (async); of 641 rounds, 2.1% and 1.7% (32 s a figure with `--quick`).
fn rounds(quick: bool) -> usize {
    if quick { 641 } else { 1281 }
}

/// Each round's time per side.
fn chunk(quick: bool) -> std::time::Duration {
    std::time::Duration::from_millis(if quick { 25 } else { 50 })
}

fn now() -> u64 {
    wxpay_core::unix_now()
}

/// The sandbox: a pinned process of its own, or (without the binary) a thread in this one.
enum Server {
    Process(Child, String),
    Thread(wxpay_sandbox::SandboxThread),
}

impl Server {
    fn start() -> Server {
        if let Ok(bin) = std::env::var("WXPAY_BIN") {
            let taskset =
                Command::new("taskset").arg("-V").output().is_ok_and(|o| o.status.success());
            let mut cmd = if taskset {
                let mut c = Command::new("taskset");
                c.args(["-c", "0"]).arg(&bin);
                c
            } else {
                Command::new(&bin)
            };
            let mut child = cmd
                .args(["sandbox", "--no-delay-rule"])
                .stdout(Stdio::piped())
                .spawn()
                .expect("start the sandbox");
            let mut first = String::new();
            BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut first).unwrap();
            let url = first
                .split_whitespace()
                .find(|w| w.starts_with("http://"))
                .expect("the sandbox prints its URL");
            return Server::Process(child, url.to_owned());
        }
        let config = wxpay_sandbox::SandboxConfig { min_close_delay_secs: 0, ..Default::default() };
        Server::Thread(wxpay_sandbox::SandboxThread::start(config).unwrap())
    }

    /// The sandbox's process id, when it runs as a process of its own.
    fn pid(&self) -> Option<u32> {
        match self {
            Server::Process(child, _) => Some(child.id()),
            Server::Thread(_) => None,
        }
    }

    fn url(&self) -> &str {
        match self {
            Server::Process(_, url) => url,
            Server::Thread(t) => t.base_url(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Server::Process(child, _) = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn orders(agent: &ureq::Agent, base: &str, mchid: &str, prefix: &str, count: u64, state: &str) {
    let body =
        serde_json::json!({"mchid": mchid, "out_trade_no": prefix, "count": count, "state": state});
    let req = http::Request::post(format!("{base}/__sandbox/orders"))
        .body(body.to_string().into_bytes())
        .unwrap();
    let status = agent.run(req).unwrap().status();
    assert_eq!(status, 201);
}

/// A request as parts, to send again and again.
#[derive(Clone)]
struct Prebuilt {
    uri: http::Uri,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Prebuilt {
    fn new(r: Request) -> Self {
        let (parts, body) = r.into_parts();
        Prebuilt { uri: parts.uri, headers: parts.headers, body }
    }

    fn request(&self) -> Request {
        let mut r = http::Request::new(self.body.clone());
        *r.method_mut() = http::Method::POST;
        *r.uri_mut() = self.uri.clone();
        *r.headers_mut() = self.headers.clone();
        r
    }
}

/// Pins every thread of process `pid` to `core` with `taskset`; false if that failed.
fn pin(pid: u32, core: usize) -> bool {
    Command::new("taskset")
        .args(["-a", "-p", "-c", &core.to_string(), &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// CPU time in nanoseconds spent so far by all live threads of process `pid` (Linux's
/// `/proc/<pid>/task/*/schedstat`); `None` where that cannot be read.
fn cpu_ns(pid: u32) -> Option<u64> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0;
    for task in dir {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// Closes per second of one c32 run, with the CPU microseconds per close that the client
/// (this process) and the sandbox process spent on it, when they can be read.
struct Run {
    rate: f64,
    client_us: Option<f64>,
    sandbox_us: Option<f64>,
}

impl Run {
    fn measure(server: Option<u32>, n: usize, f: impl FnOnce() -> f64) -> Run {
        let me = std::process::id();
        let before = (cpu_ns(me), server.and_then(cpu_ns));
        let rate = f();
        let per_close =
            |a: Option<u64>, b: Option<u64>| Some(b?.saturating_sub(a?) as f64 / 1e3 / n as f64);
        Run {
            rate,
            client_us: per_close(before.0, cpu_ns(me)),
            sandbox_us: per_close(before.1, server.and_then(cpu_ns)),
        }
    }
}

impl std::fmt::Display for Run {
    /// `1000/s (cpu µs/close: client 950, sandbox 940)`, the CPU part where known.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.0}/s", self.rate)?;
        if let (Some(c), Some(s)) = (self.client_us, self.sandbox_us) {
            write!(f, " (cpu µs/close: client {c:.0}, sandbox {s:.0})")?;
        }
        Ok(())
    }
}

/// Prints the median CPU per close of a series of runs: `cpu <name> client <µs> sandbox <µs>`.
fn print_cpu(name: &str, runs: &[Run]) {
    let mut client: Vec<f64> = runs.iter().filter_map(|r| r.client_us).collect();
    let mut sandbox: Vec<f64> = runs.iter().filter_map(|r| r.sandbox_us).collect();
    if !client.is_empty() && !sandbox.is_empty() {
        println!(
            "cpu {name} client {:.0} us/close sandbox {:.0} us/close",
            median(&mut client),
            median(&mut sandbox)
        );
    }
}

/// Runs `close(i)` for every `i` below `n` from 32 concurrent tasks; closes per second.
fn closes_per_sec<F, Fut>(rt: &tokio::runtime::Runtime, n: usize, close: F) -> f64
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    rt.block_on(async {
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let (next, close) = (next.clone(), close.clone());
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            break;
                        }
                        close(i).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        n as f64 / start.elapsed().as_secs_f64()
    })
}

/// Sends a request with raw reqwest and reads the (204) answer, unverified.
async fn send_raw(raw: &reqwest::Client, request: Request) {
    let resp = raw.execute(reqwest::Request::try_from(request).unwrap()).await.unwrap();
    assert_eq!(resp.status(), 204);
    std::hint::black_box(resp.bytes().await.unwrap());
}

/// A reqwest client with the async client's settings.
fn raw_reqwest(cfg: &wxpay_core::ClientConfig) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(cfg.connect_timeout())
        .timeout(cfg.timeout())
        .tcp_nodelay(true)
        .use_rustls_tls()
        .no_proxy()
        .build()
        .unwrap()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    // A figure's name (or part of it) runs that figure's section alone.
    let only = paired::only();
    let wants = |names: &[&str]| paired::wanted(only.as_deref(), names);
    let server = Server::start();
    let base = server.url().to_owned();
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).build().into();
    orders(&agent, &base, V2_MCH, "bench-v2-", 1, "closed");
    let v2_op = CloseOrderV2::new("bench-v2-000000");
    let v2_config = || {
        config(&base)
            .v2(v2_credentials(V2_MCH, SignType::Md5))
            .retry(RetryPolicy::never())
            .build()
            .unwrap()
    };
    let v2_ctx = Context::new().with_v2(v2_credentials(V2_MCH, SignType::Md5));
    let base_url = BaseUrl::parse(&base).unwrap();
    let prebuilt_v2 =
        Prebuilt::new(v2_op.build(&v2_ctx, &Attempt::new(&base_url, now(), "PREBUILT1")).unwrap());

    // blocking.v2_close
    if wants(&["blocking.v2_close"]) {
        let cfg = v2_config();
        let client = wxpay_blocking::Client::new(cfg.clone()).unwrap();
        let op = v2_op.clone();
        let measured: Timed = Box::new(move |n| {
            let start = Instant::now();
            for _ in 0..n {
                assert_eq!(client.execute(&op).unwrap(), CloseOutcome::AlreadyClosed);
            }
            start.elapsed()
        });
        // The same agent settings as the client's, so that the ratio is wxpay's own cost.
        let raw_agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(cfg.connect_timeout()))
            .timeout_global(Some(cfg.timeout()))
            .build()
            .into();
        let pre = prebuilt_v2.clone();
        let baseline: Timed = Box::new(move |n| {
            let start = Instant::now();
            for _ in 0..n {
                let mut resp = raw_agent.run(pre.request()).unwrap();
                std::hint::black_box(resp.body_mut().read_to_vec().unwrap());
            }
            start.elapsed()
        });
        let (mut m, mut b) = (measured, baseline);
        pair_with("blocking.v2_close", rounds(quick), chunk(quick), &mut m, &mut b);
    }

    // async.v2_close
    let rt = Arc::new(tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap());
    if wants(&["async.v2_close"]) {
        let client = wxpay_async::Client::new(v2_config()).unwrap();
        let (rt1, op) = (rt.clone(), v2_op.clone());
        let measured: Timed = Box::new(move |n| {
            rt1.block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    assert_eq!(client.execute(&op).await.unwrap(), CloseOutcome::AlreadyClosed);
                }
                start.elapsed()
            })
        });
        let raw = raw_reqwest(&v2_config());
        let (rt2, pre) = (rt.clone(), prebuilt_v2.clone());
        let baseline: Timed = Box::new(move |n| {
            rt2.block_on(async {
                let start = Instant::now();
                for _ in 0..n {
                    let resp = raw
                        .execute(reqwest::Request::try_from(pre.request()).unwrap())
                        .await
                        .unwrap();
                    std::hint::black_box(resp.bytes().await.unwrap());
                }
                start.elapsed()
            })
        });
        let (mut m, mut b) = (measured, baseline);
        pair_with("async.v2_close", rounds(quick), chunk(quick), &mut m, &mut b);
    }

    // async.v3_close_c32
    if !wants(&["async.v3_close_c32", "confirm.doubt_without_doubt", "confirm.always"]) {
        return;
    }
    let per_round: usize = if quick { 800 } else { 1500 };
    // A multiple of four: each (core arrangement, order) pair equally often.
    let rounds = if quick { 8 } else { 16 };
    // Swap cores between rounds only when both sides were pinned to begin with.
    let swap = server.pid().filter(|_| pin(std::process::id(), 1));
    let client = wxpay_async::Client::new(
        config(&base)
            .v3(v3_credentials(V3_MCH, AnswerMode::PublicKey))
            .retry(RetryPolicy::never())
            .build()
            .unwrap(),
    )
    .unwrap();
    let raw = raw_reqwest(client.config());
    let v3_ctx = Context::new().with_v3(v3_credentials(V3_MCH, AnswerMode::PublicKey));
    let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut doubt_costs, mut always_costs) = (Vec::new(), Vec::new());
    let mut signing_ratios = Vec::new();
    for round in 0..rounds {
        if let Some(sandbox) = swap {
            let sandbox_core = (round / 2) % 2;
            assert!(pin(sandbox, sandbox_core) && pin(std::process::id(), 1 - sandbox_core));
        }
        let ours_prefix = format!("c32-ours-{round}-");
        let raw_prefix = format!("c32-raw-{round}-");
        orders(&agent, &base, V3_MCH, &ours_prefix, per_round as u64, "unpaid");
        orders(&agent, &base, V3_MCH, &raw_prefix, per_round as u64, "unpaid");
        let presigned: Vec<Prebuilt> = (0..per_round)
            .map(|i| {
                let op = CloseOrderV3::new(format!("{raw_prefix}{i:06}"));
                let nonce = format!("PRESIGNED{round}{i:06}");
                Prebuilt::new(op.build(&v3_ctx, &Attempt::new(&base_url, now(), &nonce)).unwrap())
            })
            .collect();
        // Closes the orders `{prefix}000000`… (`n` of them, made beforehand) with our client,
        // plainly or confirmed under `policy`; closes per second.
        let close_all = |prefix: String, n: usize, policy: Option<ConfirmPolicy>| {
            let client = client.clone();
            closes_per_sec(&rt, n, move |i| {
                let (client, op) = (client.clone(), CloseOrderV3::new(format!("{prefix}{i:06}")));
                async move {
                    let outcome = match policy {
                        None => client.execute(&op).await.unwrap(),
                        Some(policy) => {
                            let settings = ConfirmSettings::default().with_policy(policy);
                            client.close_confirmed(op, settings).await.unwrap().outcome
                        }
                    };
                    assert_eq!(outcome, CloseOutcome::Closed);
                }
            })
        };
        let run_ours = || close_all(ours_prefix.clone(), per_round, None);
        let presigned = Arc::new(presigned);
        let run_raw = || {
            let (raw, presigned) = (raw.clone(), presigned.clone());
            closes_per_sec(&rt, per_round, move |i| {
                let (raw, request) = (raw.clone(), presigned[i].request());
                async move { send_raw(&raw, request).await }
            })
        };
        // For reference (no target): raw reqwest that signs each request as it goes, with
        // the core's builder, and reads the answer without verifying it. Against it, our
        // client's own overhead shows apart from the cost of RSA signing itself.
        let signing_prefix = format!("c32-signing-{round}-");
        orders(&agent, &base, V3_MCH, &signing_prefix, per_round as u64, "unpaid");
        let run_raw_signing = || {
            let (raw, ctx, prefix, base_url) =
                (raw.clone(), v3_ctx.clone(), signing_prefix.clone(), base_url.clone());
            closes_per_sec(&rt, per_round, move |i| {
                let op = CloseOrderV3::new(format!("{prefix}{i:06}"));
                let nonce = format!("SIGNING{i:06}");
                let attempt = Attempt::new(&base_url, now(), &nonce);
                let (raw, request) = (raw.clone(), op.build(&ctx, &attempt).unwrap());
                async move { send_raw(&raw, request).await }
            })
        };
        let pid = server.pid();
        let (o, r) = if round % 2 == 0 {
            let o = Run::measure(pid, per_round, run_ours);
            (o, Run::measure(pid, per_round, run_raw))
        } else {
            let r = Run::measure(pid, per_round, run_raw);
            (Run::measure(pid, per_round, run_ours), r)
        };
        ratios.push(o.rate / r.rate);
        // The confirmed close against the plain one (the same client): under `doubt` a
        // verified 204 needs no query; under `always` every close is proven by a query. Each
        // policy's round is eight pairs of short runs, a plain one and a confirmed one of a
        // hundred closes each, in alternating order: here two runs a few seconds apart differ
        // by up to ±30%, and against the round's first plain run a 1.00 cost read 0.95 to 1.05;
        // two runs a tenth of a second apart see much the same machine.
        const CHUNKS: usize = 8;
        let size = per_round / CHUNKS;
        let run = |prefix: String, policy: Option<ConfirmPolicy>| {
            orders(&agent, &base, V3_MCH, &prefix, size as u64, "unpaid");
            close_all(prefix, size, policy)
        };
        for (policy, name, costs) in [
            (ConfirmPolicy::Doubt, "doubt", &mut doubt_costs),
            (ConfirmPolicy::Always, "always", &mut always_costs),
        ] {
            let mut round_costs = Vec::new();
            for chunk in 0..CHUNKS {
                let plain = || run(format!("c32-plain-{name}-{round}-{chunk}-"), None);
                let confirmed =
                    || run(format!("c32-confirm-{name}-{round}-{chunk}-"), Some(policy));
                let (p, c) = if (round + chunk) % 2 == 0 {
                    let p = plain();
                    (p, confirmed())
                } else {
                    let c = confirmed();
                    (plain(), c)
                };
                round_costs.push(p / c);
            }
            eprintln!(
                "c32 round {round:2}: confirmed ({name}) cost {:.3}",
                median(&mut round_costs)
            );
            costs.extend(round_costs);
        }
        let rs = Run::measure(pid, per_round, run_raw_signing);
        eprintln!("c32 round {round:2}: ours {o}  raw {r}  raw+signing {rs}");
        signing_ratios.push(o.rate / rs.rate);
        ours.push(o);
        theirs.push(r);
    }
    let rates = |runs: &[Run]| median(&mut runs.iter().map(|r| r.rate).collect::<Vec<_>>());
    print_cpu("async.v3_close_c32", &ours);
    print_cpu("async.v3_close_c32.raw_presigned", &theirs);
    println!("rate async.v3_close_c32_vs_raw_signing_reqwest {:.4}", median(&mut signing_ratios));
    // Cost ratios (plain close rate over confirmed close rate): what confirming adds.
    let plain = rates(&ours);
    for (name, costs) in
        [("confirm.doubt_without_doubt", &mut doubt_costs), ("confirm.always", &mut always_costs)]
    {
        let cost = median(costs);
        println!("pair {name} {cost:.4} {:.1} {plain:.1} /s", plain / cost);
    }
    let c32 = median(&mut ratios);
    let (low, high) = (ratios[ratios.len() / 4], ratios[ratios.len() * 3 / 4]);
    println!(
        "pair async.v3_close_c32 {c32:.4} {:.1} {:.1} /s spread={low:.4}..{high:.4}",
        rates(&ours),
        rates(&theirs)
    );
}
