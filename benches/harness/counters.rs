//! Counter throughput: N processes each loop `incr` on one shared counter
//! for a fixed window; the counter's sum must equal the children's counts.

use crate::options::Options;
use crate::processes::{child_args, timed_run};
use crate::report::{Report, Row, Unit};
use crate::stats;
use crate::systems::SharedCounter;
use shmsync_support::bench::unique_name;

/// The child role.
pub const ROLE: &str = "counter";
/// The row label.
pub const BENCH: &str = "counter increment";

/// Measures `C` with `procs` processes; `key` names `C` for the children.
pub fn measure<C: SharedCounter>(
    opts: &Options,
    report: &mut Report,
    key: &str,
    procs: u32,
    reference: bool,
) {
    let mut rates = Vec::with_capacity(opts.reps);
    for _ in 0..opts.reps {
        let name = unique_name("counter");
        let counter = C::create(&name);
        let (elapsed, counts) = timed_run(ROLE, &[key.to_owned(), name], procs, opts.window);
        let total: u64 = counts.iter().sum();
        assert_eq!(counter.sum(), total, "{}: lost increments", C::NAME);
        rates.push(total as f64 / elapsed.as_secs_f64());
    }
    report.push(Row {
        bench: BENCH.to_owned(),
        system: C::NAME.to_owned(),
        procs,
        unit: Unit::OpsPerSec,
        median: stats::median(&rates),
        p99: None,
        max: None,
        reference,
    });
}

/// The child: opens the counter and increments until told to stop.
pub fn child<C: SharedCounter>(args: &[String]) {
    let (ctl, index, rest) = child_args(args);
    let counter = C::open(&rest[1]);
    let ctl = ctl.get();
    ctl.child_ready_then_wait_go();
    let mut n = 0u64;
    while !ctl.should_stop() {
        counter.incr();
        n += 1;
    }
    ctl.put_result(index, n);
}
