//! Timing benchmarks of the core. `cargo xtask bench` runs them and turns the medians into
//! ratios against the raw-crypto baselines measured in the same run.

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;
use wxpay_core::v2::SignType;
use wxpay_core::{Attempt, CloseOutcome, Operation};

#[path = "fixtures.rs"]
mod fixtures;
use fixtures::*;

fn v2(c: &mut Criterion) {
    let mut g = c.benchmark_group("v2");
    let base = base();
    let attempt = Attempt {
        base_url: &base,
        timestamp: TIMESTAMP,
        nonce: NONCE,
    };
    let close = close();

    let md5_ctx = v2_ctx(SignType::Md5);
    let md5_input = v2_request_string_to_sign(SignType::Md5);
    g.bench_function("build_md5", |b| {
        b.iter(|| close.build(black_box(&md5_ctx), &attempt).unwrap())
    });
    g.bench_function("raw_md5_request", |b| {
        b.iter(|| Md5::digest(black_box(&md5_input)))
    });

    let hmac_ctx = v2_ctx(SignType::HmacSha256);
    let hmac_input = v2_request_string_to_sign(SignType::HmacSha256);
    g.bench_function("build_hmac", |b| {
        b.iter(|| close.build(black_box(&hmac_ctx), &attempt).unwrap())
    });
    g.bench_function("raw_hmac_request", |b| {
        b.iter(|| {
            let mut m = <Hmac<Sha256> as Mac>::new_from_slice(KEY.as_bytes()).unwrap();
            m.update(black_box(&hmac_input));
            m.finalize().into_bytes()
        })
    });

    g.bench_function("parse_verify", |b| {
        b.iter_batched(
            v2_success_response,
            |resp| {
                let outcome = close.parse(&md5_ctx, TIMESTAMP, resp).unwrap();
                assert_eq!(outcome, CloseOutcome::Closed);
            },
            criterion::BatchSize::SmallInput,
        )
    });
    g.bench_function("raw_md5_response", |b| {
        b.iter(|| Md5::digest(black_box(V2_SUCCESS_STRING_TO_SIGN.as_bytes())))
    });
    g.finish();
}

criterion_group!(benches, v2);
criterion_main!(benches);
