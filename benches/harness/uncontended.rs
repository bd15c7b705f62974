//! Uncontended lock + unlock in one thread, in shared memory (a quick
//! companion of `benches/mutex.rs`, so the one table holds the ratio to the
//! floor): timed batches, median and p99 of the per-batch ns/op.

use std::hint::black_box;
use std::time::Instant;

use crate::options::Options;
use crate::report::{Report, Row, Unit};
use crate::stats;
use crate::systems::SharedLock;
use shmsync_support::bench::pairs::{parking_lot_pair, std_pair};
use shmsync_support::bench::unique_name;

/// Operations per timed batch: long enough to dwarf the clock reads
/// (~20 ns), short enough that a preemption spoils one batch, not the run.
const BATCH: u32 = 20_000;

/// The row label of this benchmark.
pub const BENCH: &str = "uncontended lock+unlock";

/// Times `op` in batches; returns per-batch ns/op.
pub fn time_batches(batches: usize, mut op: impl FnMut()) -> Vec<f64> {
    for _ in 0..BATCH {
        op(); // warm up: caches, TLB, lazily cached thread id
    }
    (0..batches)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..BATCH {
                op();
            }
            t.elapsed().as_nanos() as f64 / f64::from(BATCH)
        })
        .collect()
}

fn row(system: &str, samples: &[f64], reference: bool) -> Row {
    Row {
        bench: BENCH.to_owned(),
        system: system.to_owned(),
        procs: 1,
        unit: Unit::NsPerOp,
        median: stats::median(samples),
        p99: Some(stats::p99(samples)),
        max: None,
        reference,
    }
}

/// One lock + unlock as one function call, for every system alike: glibc's
/// is always a call into libc, and a pair inlined into the timing loop lets
/// the compiler overlap iterations in ways real code (with work between
/// lock and unlock) never sees.
#[inline(never)]
fn pair<L: SharedLock>(lock: &L) {
    lock.lock_unlock();
}

/// Measures one shared-memory lock.
pub fn measure<L: SharedLock>(opts: &Options, report: &mut Report, reference: bool) {
    let lock = L::create(&unique_name("uncontended"));
    let samples = time_batches(opts.batches, || pair(black_box(&lock)));
    report.push(row(L::NAME, &samples, reference));
}

/// Measures the in-process references, `std` and `parking_lot`.
pub fn measure_in_process(opts: &Options, report: &mut Report) {
    let m = std::sync::Mutex::new(0u64);
    let samples = time_batches(opts.batches, || std_pair(black_box(&m)));
    report.push(row("std::sync::Mutex (in-process)", &samples, false));
    let m = parking_lot::Mutex::new(0u64);
    let samples = time_batches(opts.batches, || parking_lot_pair(black_box(&m)));
    report.push(row("parking_lot::Mutex (in-process)", &samples, false));
}
