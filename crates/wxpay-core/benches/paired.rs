//! Paired measurement: a figure and its baseline in interleaved rounds (measured, baseline,
//! baseline, measured, …); the ratio is the median of the per-round ratios. On a small shared
//! machine the clock speed drifts by tens of percent over a run; interleaving makes both
//! sides of a ratio see the same drift. Shared by every crate's benchmarks.

#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Runs `n` operations and returns the time they took; setup happens before the clock starts.
pub type Timed = Box<dyn FnMut(u64) -> Duration>;

pub fn simple<T>(mut f: impl FnMut() -> T + 'static) -> Timed {
    Box::new(move |n| {
        let start = Instant::now();
        for _ in 0..n {
            black_box(f());
        }
        start.elapsed()
    })
}

/// Ops whose input is consumed: the inputs are made before the clock starts.
pub fn consuming<I, T>(
    mut make: impl FnMut() -> I + 'static,
    mut f: impl FnMut(I) -> T + 'static,
) -> Timed {
    Box::new(move |n| {
        let inputs: Vec<I> = (0..n).map(|_| make()).collect();
        let start = Instant::now();
        for input in inputs {
            black_box(f(input));
        }
        start.elapsed()
    })
}

/// The figure names asked for on the command line (its first argument not starting with
/// `--`), if any.
pub fn only() -> Option<String> {
    std::env::args().skip(1).find(|a| !a.starts_with("--"))
}

/// Whether a section measuring the figures `names` runs: every section without
/// [`only`]; with it, those with a name containing it.
pub fn wanted(only: Option<&str>, names: &[&str]) -> bool {
    only.is_none_or(|o| names.iter().any(|name| name.contains(o)))
}

pub fn ns_per_op(d: Duration, n: u64) -> f64 {
    d.as_secs_f64() * 1e9 / n as f64
}

/// The median (the mean of the middle two for an even count).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let mid = v.len() / 2;
    if v.len() % 2 == 0 { (v[mid - 1] + v[mid]) / 2.0 } else { v[mid] }
}

/// Measures `measured` against `baseline` and prints
/// `pair <name> <ratio> <measured ns/op> <baseline ns/op>`.
pub fn pair(name: &str, quick: bool, measured: &mut Timed, baseline: &mut Timed) {
    // Many short rounds: a figure of a few percent (the replay guard's share) held within half
    // a percent over three runs with 401 rounds of 2 ms, and within 3% with 21 of 4 ms; 4 ms
    // rounds: a fresh client per round costs a 25 µs verification more in a short one. The
    // APIv3 figures' rounds spread over ±5% (middle half): 101 rounds read a 0.5% share as
    // 1.020 once; 401 put the median within about ±0.5%.
    let rounds = if quick { 401 } else { 1201 };
    pair_with(name, rounds, Duration::from_millis(4), measured, baseline);
}

/// [`pair`] with `rounds` rounds of `chunk` each: operations of a millisecond or more (a
/// close over loopback) need longer chunks and more rounds for the median to hold still.
pub fn pair_with(
    name: &str,
    rounds: usize,
    chunk: Duration,
    measured: &mut Timed,
    baseline: &mut Timed,
) {
    // Calibrate: operations per chunk, from the baseline (the cheaper side).
    let mut n = 1u64;
    loop {
        let t = baseline(n);
        if t >= chunk / 4 || n >= 1 << 24 {
            n = ((n as f64) * chunk.as_secs_f64() / t.as_secs_f64().max(1e-9)).ceil().max(1.0)
                as u64;
            break;
        }
        n *= 4;
    }
    let _ = (measured(n), baseline(n)); // warm-up
    let (mut ratios, mut ms, mut bs) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (m, b) = if round % 2 == 0 {
            let m = measured(n);
            (m, baseline(n))
        } else {
            let b = baseline(n);
            (measured(n), b)
        };
        let (m, b) = (ns_per_op(m, n), ns_per_op(b, n));
        ratios.push(m / b);
        ms.push(m);
        bs.push(b);
    }
    // The spread of the per-round ratios: the middle half (25th to 75th percentile).
    let ratio = median(&mut ratios);
    let (low, high) = (ratios[ratios.len() / 4], ratios[ratios.len() * 3 / 4]);
    println!(
        "pair {name} {ratio:.4} {:.1} {:.1} spread={low:.4}..{high:.4}",
        median(&mut ms),
        median(&mut bs)
    );
}
