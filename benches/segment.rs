//! A segment's life cycle, one thread: `create` + `drop` (the owner's drop
//! unlinks the name) of small segments and of a large slice segment, and
//! `open` + `drop` of an existing small one.
//!
//! Creation reserves every page of the object up front (so that a full
//! `/dev/shm` is an error rather than a SIGBUS later): for small segments
//! that is one more system call, for large ones it is the cost of taking
//! and zeroing every page at creation instead of on first touch, which the
//! large case shows.
//!
//! Run: `cargo bench --bench segment`. The large case is
//! `SHMSYNC_BENCH_LARGE_MIB` MiB (default 64); it is left out, with a
//! message, if `/dev/shm` cannot hold it.

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use shmsync_support::criterion::config;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use shmsync::{AtomicCounter, Error, Segment};
use shmsync_support::bench::unique_name;

/// A payload of exactly one page.
type Page = [AtomicU64; 512];

const DEFAULT_LARGE_MIB: usize = 64;

fn large_mib() -> usize {
    std::env::var("SHMSYNC_BENCH_LARGE_MIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_LARGE_MIB)
}

fn create_drop(c: &mut Criterion) {
    let mut g = c.benchmark_group("segment create+drop");

    // Each iteration's drop unlinks the name, so one name serves them all.
    let name = unique_name("create-counter");
    g.bench_function("Segment<AtomicCounter> (8 B)", |b| {
        b.iter(|| drop(black_box(Segment::<AtomicCounter>::create(&name).expect("create"))))
    });

    let name = unique_name("create-page");
    g.bench_function("Segment<[AtomicU64; 512]> (4 KiB)", |b| {
        b.iter(|| drop(black_box(Segment::<Page>::create(&name).expect("create"))))
    });
    g.finish();

    let mib = large_mib();
    let len = mib << 17; // 8-byte elements
    let name = unique_name("create-large");
    match Segment::<[AtomicU64]>::create_slice(&name, len) {
        Ok(seg) => drop(seg),
        Err(e @ Error::NoSpace { .. }) => {
            eprintln!("segment create+drop, {mib} MiB: left out: {e}");
            return;
        }
        Err(e) => panic!("create a {mib} MiB segment: {e}"),
    }
    let mut g = c.benchmark_group("segment create+drop (large)");
    // Milliseconds per iteration: fewer, longer samples.
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.bench_function(format!("Segment<[AtomicU64]> ({mib} MiB)"), |b| {
        b.iter(|| {
            drop(black_box(Segment::<[AtomicU64]>::create_slice(&name, len).expect("create")))
        })
    });
    g.finish();
}

fn open_drop(c: &mut Criterion) {
    let name = unique_name("open-counter");
    let _owner = Segment::<AtomicCounter>::create(&name).expect("create");
    let mut g = c.benchmark_group("segment open+drop");
    g.bench_function("Segment<AtomicCounter> (8 B)", |b| {
        b.iter(|| drop(black_box(Segment::<AtomicCounter>::open(&name).expect("open"))))
    });
    g.finish();
}

criterion_group! { name = benches; config = config(); targets = create_drop, open_drop }
criterion_main!(benches);
