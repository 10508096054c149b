//! Paired benchmarks: each figure is measured against its baseline in interleaved rounds
//! (measured, baseline, baseline, measured, …), and the ratio is the median of the
//! per-round ratios. On a small shared machine the clock speed drifts by tens of percent
//! over a run; interleaving makes both sides of a ratio see the same drift.
//!
//! Prints `pair <name> <ratio> <measured ns/op> <baseline ns/op>`; `cargo xtask bench`
//! checks each ratio against its target. `--quick` runs fewer, shorter rounds.

#![allow(missing_docs, clippy::unwrap_used)]

#[path = "fixtures.rs"]
mod fixtures;
#[path = "paired.rs"]
mod paired;
use fixtures::cases;
use paired::{only, pair, wanted};

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let only = only();
    for mut case in cases() {
        if wanted(only.as_deref(), &[case.name]) {
            pair(case.name, quick, &mut case.measured, &mut case.baseline);
        }
    }
}
