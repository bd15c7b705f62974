//! One thread incrementing a counter in a shmsync `Segment`: shmsync's
//! `AtomicCounter::incr` and `ShardedCounter::incr` against the floor, a
//! bare `fetch_add` on an `AtomicU64` in the same kind of memory.
//!
//! Run: `cargo bench --bench counter`.

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use shmsync_support::criterion::config;
use std::sync::atomic::{AtomicU64, Ordering};

use shmsync::{AtomicCounter, CachePadded, Segment, ShardedCounter, ShmSafe};
use shmsync_support::bench::unique_name;

/// Each counter on lines of its own, as shmsync's counters pad themselves:
/// the floor gets the same treatment.
#[derive(ShmSafe)]
#[repr(C)]
struct Counters {
    bare: CachePadded<AtomicU64>,
    ours: AtomicCounter,
    sharded: ShardedCounter,
}

fn increment(c: &mut Criterion) {
    let counters = Segment::<Counters>::create(&unique_name("counter")).expect("segment");

    let mut g = c.benchmark_group("counter increment (1 thread)");
    g.bench_function("floor: fetch_add on one AtomicU64", |b| {
        // relaxed: the cheapest ordering; on x86-64 every RMW is a full
        // barrier anyway, so the floor and AcqRel compile alike.
        b.iter(|| black_box(&counters.bare).fetch_add(1, Ordering::Relaxed))
    });
    g.bench_function("shmsync AtomicCounter::incr", |b| {
        b.iter(|| black_box(&counters.ours).incr())
    });
    g.bench_function("shmsync ShardedCounter::incr", |b| {
        b.iter(|| black_box(&counters.sharded).incr())
    });
    g.finish();

    let mut g = c.benchmark_group("counter read (1 thread)");
    // relaxed: a plain load, the floor of any read.
    g.bench_function("floor: load of one AtomicU64", |b| {
        b.iter(|| black_box(&counters.bare).load(Ordering::Relaxed))
    });
    g.bench_function("shmsync AtomicCounter::get", |b| b.iter(|| black_box(&counters.ours).get()));
    g.bench_function("shmsync ShardedCounter::sum", |b| {
        b.iter(|| black_box(&counters.sharded).sum())
    });
    g.finish();
}

criterion_group! { name = benches; config = config(); targets = increment }
criterion_main!(benches);
