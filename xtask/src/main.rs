//! Repository tasks: `cargo xtask <ci|bench|fuzz|vectors|deps|doc-examples>`.
//!
//! Kept small and quick to compile: it shells out to cargo and reads criterion's output.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod doc_examples;
#[cfg(test)]
mod tidy;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  ci                  cargo fmt --check, clippy -D warnings, cargo test --workspace
  bench [--quick] [--criterion]
                      run the benchmarks, print `ratio <name> <value> <op> <target>` and
                      `allocs <name> <n> <= <budget>` lines; --criterion adds criterion's suite
  fuzz [TARGET] [--seconds N]
                      run a cargo-fuzz target (v2_response, the default, v3_response or v3_certificates; 60 s); installs cargo-fuzz
  vectors             check the crates' copies of the vectors against the core's, and
                      the core's against ../shared/vectors when that exists
  deps                how many crates each published crate builds (normal dependencies,
                      itself included), against a ceiling, so that growth is seen
  doc-examples [--build] [CRATE...]
                      check every Rust example a published crate shows (doc comments, its
                      README, the workspace README's blocks naming it alone) in a generated
                      crate under target/doc-examples/ that depends on that crate alone";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("bench") => {
            bench(args.iter().any(|a| a == "--quick"), args.iter().any(|a| a == "--criterion"))
        }
        Some("fuzz") => fuzz(&args[1..]),
        Some("vectors") => vectors(),
        Some("deps") => deps(),
        Some("doc-examples") => doc_examples::run(&args[1..]),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn run(cmd: &mut Command) -> Result<(), String> {
    eprintln!("$ {cmd:?}");
    let status = cmd.current_dir(root()).status().map_err(|e| format!("{cmd:?}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{cmd:?} failed: {status}")) }
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// `cargo`, pinned to one core when `taskset` is there: on a small machine, a benchmark
/// that migrates between cores varies by half again from run to run. Build first, unpinned.
fn pinned() -> Command {
    let has_taskset = Command::new("taskset").arg("-V").output().is_ok_and(|o| o.status.success());
    if has_taskset {
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", "1"]).arg(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd
    } else {
        cargo()
    }
}

fn ci() -> Result<(), String> {
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    run(cargo().args(["test", "--workspace"]))
}

/// A figure's target: the ratio of the measured side to its baseline.
struct Target {
    name: &'static str,
    /// true: the ratio must be at most `target`; false: at least.
    at_most: bool,
    target: f64,
}

const TARGETS: &[Target] = &[
    Target { name: "v2.build_md5", at_most: true, target: 3.0 },
    Target { name: "v2.build_hmac", at_most: true, target: 3.0 },
    Target { name: "v2.parse_verify", at_most: true, target: 4.0 },
    Target { name: "v3.build_sign", at_most: true, target: 1.05 },
    Target { name: "v3.verify", at_most: true, target: 1.10 },
    Target { name: "v3.verify_rotating", at_most: true, target: 1.10 },
    Target { name: "v3.query_parse_verify", at_most: true, target: 1.10 },
    Target { name: "refresh.steady_state", at_most: true, target: 1.02 },
    // One lock and a table lookup (about 15 ns) beside an APIv2 answer's ~800 ns of parsing
    // and MD5: 1.018-1.020, half of it the lock's atomic operations (see replay.rs).
    Target { name: "replay_guard.v2_share", at_most: true, target: 1.02 },
    Target { name: "replay_guard.v3_share", at_most: true, target: 1.02 },
    Target { name: "sandbox.v3_close_rate", at_most: false, target: 0.5 },
    Target { name: "blocking.v2_close", at_most: true, target: 1.10 },
    Target { name: "async.v2_close", at_most: true, target: 1.10 },
    Target { name: "async.v3_close_c32", at_most: false, target: 0.90 },
    Target { name: "bulk.v3_vs_async_client", at_most: false, target: 0.8 },
    // Cost of a confirmed close over a plain one (c32 against the sandbox).
    Target { name: "confirm.doubt_without_doubt", at_most: true, target: 1.02 },
    Target { name: "confirm.always", at_most: true, target: 2.1 },
];

/// Absolute limits: `rate <name> <value>` lines that must stay at most the limit.
const LIMITS: &[(&str, f64)] = &[("bulk.peak_rss_mb", 64.0), ("bulk.first_close_ms", 100.0)];

/// Allocation budgets: `allocs <name> <n>` lines printed by the `allocs` bench (issue #18's
/// figures: an APIv2 build 3, an APIv3 build at most 16).
const ALLOC_BUDGETS: &[(&str, u64)] = &[("v2.build", 3), ("v2.build_hmac", 3), ("v3.build", 16)];

/// `cargo xtask bench`: the paired ratios (and their absolute medians) and the allocation
/// counts, each checked against its target. `--criterion` also runs the criterion suite.
fn bench(quick: bool, with_criterion: bool) -> Result<(), String> {
    let benches =
        ["--bench", "ratios", "--bench", "allocs", "--bench", "core", "--bench", "close_rate"];
    run(cargo()
        .args(["bench", "--no-run", "-q", "-p", "wxpay-core", "-p", "wxpay-sandbox"])
        .args(benches))?;
    if with_criterion {
        let mut args = vec!["--noplot"];
        if quick {
            args.extend(["--quick", "--warm-up-time", "0.5", "--measurement-time", "1"]);
        }
        run(pinned()
            .args(["bench", "-q", "-p", "wxpay-core", "--bench", "core", "--"])
            .args(&args))?;
    }

    let mut failures = Vec::new();
    let mut args = vec!["bench", "-q", "-p", "wxpay-core", "--bench", "ratios", "--"];
    if quick {
        args.push("--quick");
    }
    let mut text = output(pinned().args(&args))?;
    // End to end over loopback: the sandbox needs both cores, so this one is not pinned.
    args[3] = "wxpay-sandbox";
    args[5] = "close_rate";
    text += &output(cargo().args(&args))?;
    // The clients against a sandbox process on the other core (see tests/benches/clients.rs).
    args[3] = "wxpay-integration-tests";
    args[5] = "clients";
    // `wxpay sandbox`, built with the release profile.
    run(cargo().args(["build", "--release", "-q", "-p", "wxpay-cli", "--bin", "wxpay"]))?;
    let wxpay_bin = root().join("target/release/wxpay");
    text += &output(pinned().env("WXPAY_BIN", wxpay_bin).args(&args))?;
    // The command's bulk close against its embedded sandbox: both cores, unpinned.
    args[3] = "wxpay-cli";
    args[5] = "bulk";
    text += &output(cargo().args(&args))?;
    println!();
    for line in text.lines().filter(|l| l.starts_with("rate ") || l.starts_with("cpu ")) {
        println!("{line}");
    }
    for t in TARGETS {
        let fields: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("pair "))
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|f| f.first() == Some(&t.name))
            .ok_or_else(|| format!("the ratios bench printed nothing for {}", t.name))?;
        let num = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
        let (ratio, measured, baseline) = (num(1), num(2), num(3));
        let spread = fields.iter().find_map(|f| f.strip_prefix("spread=")).unwrap_or("-");
        if fields.get(4) == Some(&"/s") {
            println!(
                "median {} {measured:.0}/s (baseline {baseline:.0}/s; middle half {spread})",
                t.name
            );
        } else {
            println!(
                "median {} {} (baseline {}; ratios' middle half {spread})",
                t.name,
                fmt_ns(measured),
                fmt_ns(baseline)
            );
        }
        let ok = if t.at_most { ratio <= t.target } else { ratio >= t.target };
        let op = if t.at_most { "<=" } else { ">=" };
        verdict(format!("ratio {} {ratio:.3} {op} {}", t.name, t.target), ok, &mut failures);
    }

    for (name, limit) in LIMITS {
        let value = figure(&text, "rate", name)?;
        verdict(format!("limit {name} {value:.1} <= {limit}"), value <= *limit, &mut failures);
    }

    let text = output(pinned().args(["bench", "-q", "-p", "wxpay-core", "--bench", "allocs"]))?;
    for (name, budget) in ALLOC_BUDGETS {
        let n = figure(&text, "allocs", name)?;
        verdict(format!("allocs {name} {n} <= {budget}"), n <= *budget as f64, &mut failures);
    }

    if failures.is_empty() { Ok(()) } else { Err(format!("targets missed: {failures:?}")) }
}

/// The value of a `<kind> <name> <value>` line the benches printed.
fn figure(text: &str, kind: &str, name: &str) -> Result<f64, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix(kind).and_then(|r| r.strip_prefix(' ')))
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .ok_or_else(|| format!("the benches printed no `{kind} {name}` figure"))
}

/// Prints a checked figure, marking and keeping it when it missed.
fn verdict(line: String, ok: bool, failures: &mut Vec<String>) {
    println!("{line}{}", if ok { "" } else { "   FAIL" });
    if !ok {
        failures.push(line);
    }
}

/// Runs a command and returns its standard output (its standard error passes through).
fn output(cmd: &mut Command) -> Result<String, String> {
    eprintln!("$ {cmd:?}");
    let out = cmd
        .current_dir(root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?} failed: {}", out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1_000_000.0 {
        format!("{:.3} ms", ns / 1_000_000.0)
    } else if ns >= 1_000.0 {
        format!("{:.3} µs", ns / 1_000.0)
    } else {
        format!("{ns:.1} ns")
    }
}

fn fuzz(args: &[String]) -> Result<(), String> {
    let mut target = "v2_response".to_string();
    let mut seconds = "60".to_string();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => seconds = it.next().cloned().ok_or("--seconds needs a number")?,
            t => target = t.to_string(),
        }
    }
    let has_fuzz = cargo().args(["fuzz", "--version"]).output().is_ok_and(|o| o.status.success());
    if !has_fuzz {
        run(cargo().args(["install", "cargo-fuzz", "--locked"]))?;
    }
    // cargo-fuzz needs nightly flags; the stable toolchain accepts them with RUSTC_BOOTSTRAP.
    run(cargo()
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["fuzz", "run", "--fuzz-dir", "crates/wxpay-core/fuzz", &target])
        .args(["--", &format!("-max_total_time={seconds}")]))
}

/// The core's vectors (`crates/wxpay-core/tests/vectors`) against `../shared/vectors`, when
/// that exists, and every crate's own copy (each crate's tests read only files inside the
/// crate, so that a packaged crate's tests run) against the core's.
fn vectors() -> Result<(), String> {
    let core = root().join(CORE_VECTORS);
    let mut differ = Vec::new();
    for (copy, files) in VECTOR_COPIES {
        for rel in *files {
            compare(&core.join(rel), &root().join(copy).join(rel), &mut differ)?;
        }
    }
    let shared = root().join("../shared/vectors");
    if shared.exists() {
        for rel in ["close_order.json", "keys"] {
            compare(&shared.join(rel), &core.join(rel), &mut differ)?;
        }
    } else {
        println!("no ../shared/vectors beside the repo: the core's copy is not compared");
    }
    if differ.is_empty() {
        println!("{CORE_VECTORS} and its copies match (and ../shared/vectors, when there)");
        Ok(())
    } else {
        Err(format!("vectors differ: {differ:?}"))
    }
}

/// Each published crate and the most crates its build may hold (its normal dependencies,
/// itself included, counted once each by name and version): a ceiling to raise on purpose.
const DEPENDENCY_CEILINGS: &[(&str, usize)] = &[
    ("wxpay-core", 60),
    // The core, and toml (with winnow, serde_spanned, toml_datetime, toml_parser).
    ("wxpay-settings", 65),
    ("wxpay-blocking", 75),
    ("wxpay-async", 130),
    ("wxpay-sandbox", 85),
    ("wxpay-cli", 170),
];

/// `cargo xtask deps`: `deps <crate> <n> <= <ceiling>` for each published crate.
fn deps() -> Result<(), String> {
    let mut over = Vec::new();
    for (krate, ceiling) in DEPENDENCY_CEILINGS {
        let text =
            output(cargo().args(["tree", "-q", "-e", "normal", "--prefix", "none", "-p", krate]))?;
        let mut seen: Vec<&str> = text
            .lines()
            .map(|l| l.trim_end_matches(" (*)").trim())
            .filter(|l| !l.is_empty())
            .collect();
        seen.sort_unstable();
        seen.dedup();
        let n = seen.len();
        println!("deps {krate} {n} <= {ceiling}");
        if n > *ceiling {
            over.push(format!("{krate}: {n} > {ceiling}"));
        }
    }
    if over.is_empty() {
        Ok(())
    } else {
        Err(format!("dependency trees over their ceiling: {over:?}"))
    }
}

/// Where the core keeps the known-answer vectors and test keys.
const CORE_VECTORS: &str = "crates/wxpay-core/tests/vectors";

/// Copies of the core's vectors inside other crates, and which files each holds.
const VECTOR_COPIES: &[(&str, &[&str])] = &[
    ("crates/wxpay-sandbox/tests/vectors", &["close_order.json"]),
    ("crates/wxpay-cli/tests/vectors", &["close_order.json", "keys"]),
];

fn compare(a: &Path, b: &Path, differ: &mut Vec<String>) -> Result<(), String> {
    if a.is_dir() {
        for entry in std::fs::read_dir(a).map_err(|e| e.to_string())? {
            let name = entry.map_err(|e| e.to_string())?.file_name();
            compare(&a.join(&name), &b.join(&name), differ)?;
        }
    } else if std::fs::read(a).ok() != std::fs::read(b).ok() {
        differ.push(b.display().to_string());
    }
    Ok(())
}
