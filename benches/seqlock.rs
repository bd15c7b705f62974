//! One thread reading or writing 8, 64 and 256 bytes through shmsync's
//! `SeqLock` (in a shared mapping) against Amanieu's `seqlock` crate and
//! `std::sync::RwLock` (both in-process only: the `seqlock` crate's writer
//! lock is a parking_lot mutex, `std`'s locks use private futexes).
//!
//! Run: `cargo bench --bench seqlock`.

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use criterion::measurement::WallTime;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkGroup, Criterion};
use shmsync_support::criterion::config;

use shmsync::{Segment, SeqLock, ShmSafe};
use shmsync_support::bench::unique_name;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    Write,
}

fn ours<const N: usize>(g: &mut BenchmarkGroup<'_, WallTime>, op: Op)
where
    [u64; N]: ShmSafe + shmsync::bytemuck::Pod,
{
    let bytes = N * 8;
    let value = [7u64; N];
    let seg = Segment::<SeqLock<[u64; N]>>::create(&unique_name("seqlock")).expect("segment");
    let id = format!("shmsync SeqLock, {bytes} B");
    match op {
        Op::Read => g.bench_function(id, |b| b.iter(|| black_box(&seg).read())),
        Op::Write => g.bench_function(id, |b| {
            b.iter(|| black_box(&seg).write(black_box(value)).expect("no writer died"))
        }),
    };
}

fn peers<const N: usize>(g: &mut BenchmarkGroup<'_, WallTime>, op: Op) {
    let bytes = N * 8;
    let value = [7u64; N];

    let theirs = seqlock::SeqLock::new([0u64; N]);
    let id = format!("seqlock crate, {bytes} B");
    match op {
        Op::Read => g.bench_function(id, |b| b.iter(|| black_box(&theirs).read())),
        Op::Write => {
            g.bench_function(id, |b| b.iter(|| *black_box(&theirs).lock_write() = black_box(value)))
        }
    };

    let rw = std::sync::RwLock::new([0u64; N]);
    let id = format!("std::sync::RwLock, {bytes} B");
    match op {
        Op::Read => {
            g.bench_function(id, |b| b.iter(|| *black_box(&rw).read().expect("unpoisoned")))
        }
        Op::Write => g.bench_function(id, |b| {
            b.iter(|| *black_box(&rw).write().expect("unpoisoned") = black_box(value))
        }),
    };
}

fn read_write(c: &mut Criterion) {
    for (op, name) in
        [(Op::Read, "seqlock read (1 thread)"), (Op::Write, "seqlock write (1 thread)")]
    {
        let mut g = c.benchmark_group(name);
        ours::<1>(&mut g, op);
        peers::<1>(&mut g, op);
        ours::<8>(&mut g, op);
        peers::<8>(&mut g, op);
        ours::<32>(&mut g, op);
        peers::<32>(&mut g, op);
        g.finish();
    }
}

criterion_group! { name = benches; config = config(); targets = read_write }
criterion_main!(benches);
