//! Heap allocations per request build, counted with a counting global allocator.
//! Prints `allocs <name> <n>`; `cargo xtask bench` checks each against its target.

#![allow(missing_docs, clippy::unwrap_used)]

use std::alloc::System;

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use wxpay_core::v2::SignType;
use wxpay_core::{Attempt, Operation};

#[path = "fixtures.rs"]
mod fixtures;
#[path = "paired.rs"]
mod paired;
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
    let attempt = Attempt::new(&base, TIMESTAMP, NONCE);
    let close = close();
    for (name, st) in [("v2.build", SignType::Md5), ("v2.build_hmac", SignType::HmacSha256)] {
        let ctx = v2_ctx(st);
        println!("allocs {name} {}", count(|| close.build(&ctx, &attempt).unwrap()));
    }
    let ctx = v3_ctx();
    let v3 = v3_close();
    let attempt = Attempt::new(&base, 1_554_208_460, V3_NONCE);
    println!("allocs v3.build {}", count(|| v3.build(&ctx, &attempt).unwrap()));
    // For reference: what ring's own signing allocates (part of the figure above).
    let key = ring::signature::RsaKeyPair::from_pkcs8(&pem_der(MERCHANT_KEY)).unwrap();
    let rng = ring::rand::SystemRandom::new();
    let ring_sign = count(|| {
        let mut sig = vec![0u8; key.public().modulus_len()];
        key.sign(&ring::signature::RSA_PKCS1_SHA256, &rng, V3_MESSAGE.as_bytes(), &mut sig)
            .unwrap();
        sig
    });
    println!("allocs ring.sign {ring_sign}");
    let prepared = count(|| v3.prepare(&ctx, &attempt).unwrap());
    println!("allocs v3.prepare {prepared}");
}
