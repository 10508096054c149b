//! The core's benchmarks under criterion, one entry per side of every figure
//! (`<figure>/measured`, `<figure>/baseline`), for the usual statistics and history.
//!
//! The ratios `cargo xtask bench` reports come from the `ratios` bench, which runs the
//! same cases interleaved; see there for why.

#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};

#[path = "fixtures.rs"]
mod fixtures;
#[path = "paired.rs"]
mod paired;

fn core(c: &mut Criterion) {
    for mut case in fixtures::cases() {
        let mut g = c.benchmark_group(case.name);
        g.bench_function("measured", |b| b.iter_custom(|n| (case.measured)(n)));
        g.bench_function("baseline", |b| b.iter_custom(|n| (case.baseline)(n)));
        g.finish();
    }
}

criterion_group!(benches, core);
criterion_main!(benches);
