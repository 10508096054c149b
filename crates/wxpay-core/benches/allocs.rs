//! Heap allocations per request build, counted with a counting global allocator.
//! Prints `allocs <name> <n>`; `cargo xtask bench` checks each against its target.

#![allow(missing_docs, clippy::unwrap_used)]

use std::alloc::System;

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use wxpay_core::v2::SignType;
use wxpay_core::{Attempt, Operation};

#[path = "fixtures.rs"]
mod fixtures;
use fixtures::*;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations made by one call of `f`, after a warm-up call (lazy statics, first-use caches).
fn count<T>(mut f: impl FnMut() -> T) -> usize {
    drop(f());
    let region = Region::new(GLOBAL);
    let out = f();
    let n = region.change().allocations;
    drop(out);
    n
}

fn main() {
    let base = base();
    let attempt = Attempt {
        base_url: &base,
        timestamp: TIMESTAMP,
        nonce: NONCE,
    };
    let close = close();
    for (name, st) in [
        ("v2.build", SignType::Md5),
        ("v2.build_hmac", SignType::HmacSha256),
    ] {
        let ctx = v2_ctx(st);
        println!(
            "allocs {name} {}",
            count(|| close.build(&ctx, &attempt).unwrap())
        );
    }
}
