//! Contended throughput: N processes each loop lock + increment + unlock on
//! one shared lock for a fixed window. Afterwards the protected value must
//! equal the sum of the children's counts (a lock that lost an update is
//! reported as broken, not as fast).

use crate::options::Options;
use crate::processes::{child_args, timed_run};
use crate::report::{Report, Row, Unit};
use crate::stats;
use crate::systems::SharedLock;
use shmsync_support::bench::unique_name;

/// The child role.
pub const ROLE: &str = "contended";
/// The row label.
pub const BENCH: &str = "contended lock+increment";
/// The row label of the fairness figure: the slowest process's share of
/// the operations over its fair share (1.00 = all equal, 0.10 = it got a
/// tenth of what it would under perfect fairness).
pub const FAIRNESS: &str = "contended: slowest process's share ÷ fair share";

/// Measures `L` with `procs` processes; `key` names `L` for the children.
pub fn measure<L: SharedLock>(
    opts: &Options,
    report: &mut Report,
    key: &str,
    procs: u32,
    reference: bool,
) {
    let mut rates = Vec::with_capacity(opts.reps);
    let mut fairness = Vec::with_capacity(opts.reps);
    for _ in 0..opts.reps {
        let name = unique_name("contended");
        let lock = L::create(&name);
        let (elapsed, counts) = timed_run(ROLE, &[key.to_owned(), name], procs, opts.window);
        let total: u64 = counts.iter().sum();
        assert_eq!(lock.value(), total, "{}: lost updates: mutual exclusion broken", L::NAME);
        rates.push(total as f64 / elapsed.as_secs_f64());
        let slowest = counts.iter().copied().min().unwrap_or(0);
        fairness.push(slowest as f64 * f64::from(procs) / total.max(1) as f64);
    }
    for (bench, unit, samples) in
        [(BENCH, Unit::OpsPerSec, &rates), (FAIRNESS, Unit::Fraction, &fairness)]
    {
        report.push(Row {
            bench: bench.to_owned(),
            system: L::NAME.to_owned(),
            procs,
            unit,
            median: stats::median(samples),
            p99: None,
            max: None,
            reference,
        });
    }
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
