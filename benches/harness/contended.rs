//! Contended throughput: N processes each loop lock + increment + unlock on
//! one shared lock for a fixed window. Afterwards the protected value must
//! equal the sum of the children's counts (a lock that lost an update is
//! reported as broken, not as fast).

use crate::options::Options;
use crate::processes::{child_args, timed_run};
use crate::report::{Report, Row, Unit};
use crate::shm_region::unique_name;
use crate::stats;
use crate::systems::SharedLock;

/// The child role.
pub const ROLE: &str = "contended";
/// The row label.
pub const BENCH: &str = "contended lock+increment";

/// Measures `L` with `procs` processes; `key` names `L` for the children.
pub fn measure<L: SharedLock>(
    opts: &Options,
    report: &mut Report,
    key: &str,
    procs: u32,
    reference: bool,
) {
    let mut rates = Vec::with_capacity(opts.reps);
    for _ in 0..opts.reps {
        let name = unique_name("contended");
        let lock = L::create(&name);
        let (elapsed, counts) = timed_run(ROLE, &[key.to_owned(), name], procs, opts.window);
        let total: u64 = counts.iter().sum();
        assert_eq!(lock.value(), total, "{}: lost updates: mutual exclusion broken", L::NAME);
        rates.push(total as f64 / elapsed.as_secs_f64());
    }
    report.push(Row {
        bench: BENCH.to_owned(),
        system: L::NAME.to_owned(),
        procs,
        unit: Unit::OpsPerSec,
        median: stats::median(&rates),
        p99: None,
        max: None,
        reference,
    });
}

/// The child: opens the lock and loops until told to stop.
pub fn child<L: SharedLock>(args: &[String]) {
    let (ctl, index, rest) = child_args(args);
    let lock = L::open(&rest[1]);
    let ctl = ctl.get();
    ctl.child_ready_then_wait_go();
    let mut n = 0u64;
    while !ctl.should_stop() {
        lock.lock_incr();
        n += 1;
    }
    ctl.put_result(index, n);
}
