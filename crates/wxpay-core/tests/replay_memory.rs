//! What a replay guard takes from the heap: nothing until its first answer, then one small
//! table (counted with a counting global allocator; one test, so no other test allocates
//! beside it).

#![allow(missing_docs, clippy::unwrap_used)]

use std::alloc::System;

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn a_guard_takes_no_table_until_its_first_answer_then_a_small_one() {
    let region = Region::new(GLOBAL);
    let guard = wxpay_core::ReplayGuard::new();
    let made = region.change();
    assert_eq!(made.bytes_allocated, 0, "a new guard: {made:?}");
    guard.first_v2("nonce", "0123456789ABCDEF0123456789ABCDEF").unwrap();
    guard.first_v3(b"signature", 1_700_000_000, "nonce", 1_700_000_000, 300).unwrap();
    let first = region.change();
    // One table of 512 slots per API generation.
    assert_eq!(first.bytes_allocated, 2 * 512 * 8, "the first answers: {first:?}");
}
