//! Reader-writer mixes: N processes each loop over a fixed pattern of
//! reads (read-lock, read the value, unlock) and writes (write-lock,
//! increment, unlock) on one shared lock for a fixed window: 9 reads in 10
//! operations (read-mostly) or 5 (write-heavy). Afterwards the value must
//! equal the writes the children's counts imply (a lock that lost an update
//! is reported as broken, not as fast).

use crate::options::Options;
use crate::processes::{child_args, timed_run};
use crate::report::{Report, Row, Unit};
use crate::stats;
use crate::systems::SharedRwLock;
use shmsync_support::bench::unique_name;

/// The child role.
pub const ROLE: &str = "rwlock-mix";

/// The row label for `reads` reads in 10 operations.
pub fn bench(reads: u64) -> String {
    format!("rwlock {}% reads / {}% writes", reads * 10, 100 - reads * 10)
}

/// How many of the first `n` operations of the pattern are writes.
fn writes_in(n: u64, reads: u64) -> u64 {
    n / 10 * (10 - reads) + (n % 10).saturating_sub(reads)
}

/// Measures `L` with `procs` processes and `reads` reads in 10 operations;
/// `key` names `L` for the children.
pub fn measure<L: SharedRwLock>(
    opts: &Options,
    report: &mut Report,
    key: &str,
    procs: u32,
    reads: u64,
    reference: bool,
) {
    let mut rates = Vec::with_capacity(opts.reps);
    for _ in 0..opts.reps {
        let name = unique_name("rwlock-mix");
        let lock = L::create(&name);
        let args = [key.to_owned(), name, reads.to_string()];
        let (elapsed, counts) = timed_run(ROLE, &args, procs, opts.window);
        let total: u64 = counts.iter().sum();
        let writes: u64 = counts.iter().map(|&n| writes_in(n, reads)).sum();
        assert_eq!(lock.read(), writes, "{}: lost updates: exclusion broken", L::NAME);
        rates.push(total as f64 / elapsed.as_secs_f64());
    }
    report.push(Row {
        bench: bench(reads),
        system: L::NAME.to_owned(),
        procs,
        unit: Unit::OpsPerSec,
        median: stats::median(&rates),
        p99: None,
        max: None,
        reference,
    });
}

/// The child: opens the lock and runs the pattern until told to stop.
pub fn child<L: SharedRwLock>(args: &[String]) {
    let (ctl, index, rest) = child_args(args);
    let lock = L::open(&rest[1]);
    let reads: u64 = rest[2].parse().expect("reads in 10");
    let ctl = ctl.get();
    ctl.child_ready_then_wait_go();
    let mut n = 0u64;
    while !ctl.should_stop() {
        if n % 10 < reads {
            std::hint::black_box(lock.read());
        } else {
            lock.write_incr();
        }
        n += 1;
    }
    ctl.put_result(index, n);
}

#[cfg(test)]
mod tests {
    #[test]
    fn writes_follow_the_pattern() {
        assert_eq!(super::writes_in(10, 9), 1);
        assert_eq!(super::writes_in(19, 9), 1);
        assert_eq!(super::writes_in(20, 9), 2);
        assert_eq!(super::writes_in(7, 5), 2);
    }
}
