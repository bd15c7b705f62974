//! Readers under a writer: one process publishes a 64-byte value as fast as
//! it can while two reader processes copy it out. Each read is checked for
//! tearing (the writer always writes eight equal words).

use crate::options::Options;
use crate::processes::{child_args, timed_run};
use crate::report::{Report, Row, Unit};
use crate::stats;
use crate::systems::SharedSnapshot;
use shmsync_support::bench::unique_name;

/// The child role.
pub const ROLE: &str = "snapshot";
/// The row label for the readers' throughput.
pub const READS: &str = "64 B reads, 2 readers + 1 writer";
/// The row label for the writer's throughput meanwhile.
pub const WRITES: &str = "64 B writes, meanwhile";

/// Measures `S`; `key` names it for the children. Child 0 writes, 1 and 2 read.
pub fn measure<S: SharedSnapshot>(opts: &Options, report: &mut Report, key: &str, reference: bool) {
    let mut reads = Vec::with_capacity(opts.reps);
    let mut writes = Vec::with_capacity(opts.reps);
    for _ in 0..opts.reps {
        let name = unique_name("snapshot");
        let _snapshot = S::create(&name);
        let (elapsed, counts) = timed_run(ROLE, &[key.to_owned(), name], 3, opts.window);
        let secs = elapsed.as_secs_f64();
        writes.push(counts[0] as f64 / secs);
        reads.push((counts[1] + counts[2]) as f64 / secs);
    }
    for (bench, rates) in [(READS, &reads), (WRITES, &writes)] {
        report.push(Row {
            bench: bench.to_owned(),
            system: S::NAME.to_owned(),
            procs: 3,
            unit: Unit::OpsPerSec,
            median: stats::median(rates),
            p99: None,
            max: None,
            reference,
        });
    }
}

/// The child: writer (index 0) or reader.
pub fn child<S: SharedSnapshot>(args: &[String]) {
    let (ctl, index, rest) = child_args(args);
    let snapshot = S::open(&rest[1]);
    let ctl = ctl.get();
    ctl.child_ready_then_wait_go();
    let mut n = 0u64;
    if index == 0 {
        while !ctl.should_stop() {
            n += 1;
            snapshot.write(&[n; 8]);
        }
    } else {
        while !ctl.should_stop() {
            let v = snapshot.read();
            assert!(v.iter().all(|&w| w == v[0]), "{}: torn read {v:?}", S::NAME);
            n += 1;
        }
    }
    ctl.put_result(index, n);
}
