//! Repository tasks: `cargo xtask <ci|bench|fuzz|vectors>`.
//!
//! Kept small and quick to compile: it shells out to cargo and reads criterion's output.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  ci                  cargo fmt --check, clippy -D warnings, cargo test --workspace
  bench [--quick]     run the benchmarks, print `ratio <name> <value> <op> <target>` lines
  fuzz [TARGET] [--seconds N]
                      run a cargo-fuzz target (default v2_response, 60 s); installs cargo-fuzz
  vectors             check tests/vectors against ../shared/vectors, when that exists";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("bench") => bench(args.iter().any(|a| a == "--quick")),
        Some("fuzz") => fuzz(&args[1..]),
        Some("vectors") => vectors(),
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
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn run(cmd: &mut Command) -> Result<(), String> {
    eprintln!("$ {cmd:?}");
    let status = cmd
        .current_dir(root())
        .status()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {status}"))
    }
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// `cargo`, pinned to one core when `taskset` is there: on a small machine, a benchmark
/// that migrates between cores varies by half again from run to run. Build first, unpinned.
fn pinned() -> Command {
    let has_taskset = Command::new("taskset")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if has_taskset {
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", "1"])
            .arg(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd
    } else {
        cargo()
    }
}

fn ci() -> Result<(), String> {
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(cargo().args(["test", "--workspace"]))
}

/// A figure: a measured benchmark against a baseline from the same run.
struct Ratio {
    name: &'static str,
    measured: &'static str,
    baseline: &'static str,
    /// true: the ratio must be at most `target`; false: at least.
    at_most: bool,
    target: f64,
}

const RATIOS: &[Ratio] = &[
    Ratio {
        name: "v2.build_md5",
        measured: "v2/build_md5",
        baseline: "v2/raw_md5_request",
        at_most: true,
        target: 3.0,
    },
    Ratio {
        name: "v2.build_hmac",
        measured: "v2/build_hmac",
        baseline: "v2/raw_hmac_request",
        at_most: true,
        target: 3.0,
    },
    Ratio {
        name: "v2.parse_verify",
        measured: "v2/parse_verify",
        baseline: "v2/raw_md5_response",
        at_most: true,
        target: 4.0,
    },
];

/// Allocation budgets: `allocs <name> <n>` lines printed by the `allocs` bench.
const ALLOC_BUDGETS: &[(&str, u64)] = &[("v2.build", 12), ("v2.build_hmac", 12)];

fn bench(quick: bool) -> Result<(), String> {
    let mut criterion_args = vec!["--noplot"];
    if quick {
        criterion_args.extend([
            "--quick",
            "--warm-up-time",
            "0.5",
            "--measurement-time",
            "1",
        ]);
    }
    run(cargo().args([
        "bench",
        "--no-run",
        "-p",
        "wxpay-core",
        "--bench",
        "core",
        "--bench",
        "allocs",
    ]))?;
    run(pinned()
        .args(["bench", "-q", "-p", "wxpay-core", "--bench", "core", "--"])
        .args(&criterion_args))?;

    let mut failures = Vec::new();
    println!();
    for r in RATIOS {
        let m = median_ns(r.measured)?;
        let b = median_ns(r.baseline)?;
        println!(
            "median {} {} (baseline {} {})",
            r.measured,
            fmt_ns(m),
            r.baseline,
            fmt_ns(b)
        );
        let ratio = m / b;
        let ok = if r.at_most {
            ratio <= r.target
        } else {
            ratio >= r.target
        };
        let op = if r.at_most { "<=" } else { ">=" };
        let line = format!("ratio {} {ratio:.3} {op} {}", r.name, r.target);
        println!("{line}{}", if ok { "" } else { "   FAIL" });
        if !ok {
            failures.push(line);
        }
    }

    eprintln!("$ cargo bench -p wxpay-core --bench allocs");
    let out = pinned()
        .args(["bench", "-q", "-p", "wxpay-core", "--bench", "allocs"])
        .current_dir(root())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "allocs bench failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    for (name, budget) in ALLOC_BUDGETS {
        let n: u64 = text
            .lines()
            .filter_map(|l| l.strip_prefix("allocs "))
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| format!("the allocs bench printed no figure for {name}"))?;
        let line = format!("allocs {name} {n} <= {budget}");
        let ok = n <= *budget;
        println!("{line}{}", if ok { "" } else { "   FAIL" });
        if !ok {
            failures.push(line);
        }
    }

    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("targets missed: {failures:?}"))
    }
}

fn median_ns(id: &str) -> Result<f64, String> {
    let path = root()
        .join("target/criterion")
        .join(id)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    v["median"]["point_estimate"]
        .as_f64()
        .ok_or_else(|| format!("{}: no median", path.display()))
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
    let has_fuzz = cargo()
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_fuzz {
        run(cargo().args(["install", "cargo-fuzz", "--locked"]))?;
    }
    // cargo-fuzz needs nightly flags; the stable toolchain accepts them with RUSTC_BOOTSTRAP.
    run(cargo()
        .env("RUSTC_BOOTSTRAP", "1")
        .current_dir(root().join("crates/wxpay-core"))
        .args([
            "fuzz",
            "run",
            &target,
            "--",
            &format!("-max_total_time={seconds}"),
        ]))
}

fn vectors() -> Result<(), String> {
    let ours = root().join("tests/vectors");
    let shared = root().join("../shared/vectors");
    if !shared.exists() {
        println!("no ../shared/vectors beside the repo: nothing to compare");
        return Ok(());
    }
    let mut differ = Vec::new();
    for rel in ["close_order.json", "keys"] {
        compare(&shared.join(rel), &ours.join(rel), &mut differ)?;
    }
    if differ.is_empty() {
        println!("tests/vectors matches ../shared/vectors");
        Ok(())
    } else {
        Err(format!(
            "tests/vectors differs from ../shared/vectors: {differ:?}"
        ))
    }
}

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
