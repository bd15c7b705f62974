//! What a waiter costs while it is blocked behind a live owner: a child
//! process holds the lock for `opts.hold`, a thread of the parent sleeps in
//! `lock` meanwhile, then the holder unlocks (it does not die) and the
//! waiter's `lock` returns normally. The figure is the CPU time the waiter
//! thread used from entering `lock` to leaving it, as a percentage of one
//! CPU over the same interval.
//!
//! A lock that re-checks its owner's liveness on a timer pays a wake-up, a
//! futex call and a liveness test per period; one that the kernel wakes at
//! a death (glibc's robust mutex) pays nothing while it waits. CPU time is
//! counted by the kernel for the waiter thread alone
//! (`CLOCK_THREAD_CPUTIME_ID`), so other work on the machine changes it
//! little, unlike a wall-clock figure.

use std::io::{Read, Write};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use crate::clocks;
use crate::options::Options;
use crate::owner_death::{spawn_holder, start_waiter};
use crate::processes::{wait_all, ControlView};
use crate::report::{Report, Row, Unit};
use crate::stats;
use crate::systems::{RobustLock, SharedLock};
use shmsync_support::bench::unique_name;

/// The child role: the live holder.
pub const ROLE: &str = "live-holder";
/// The row label.
pub const BENCH: &str = "waiter blocked behind a live owner: CPU";

/// Measures `L` over `opts.holds` waits of `opts.hold` each; `key` names it
/// for the children.
pub fn measure<L: RobustLock + SharedLock + Send + 'static>(
    opts: &Options,
    report: &mut Report,
    key: &str,
    reference: bool,
) {
    let name = unique_name("blocked");
    let lock = Arc::new(<L as RobustLock>::create(&name));
    let samples: Vec<Wait> =
        (0..opts.holds).map(|_| one_wait(&lock, key, &name, opts.hold)).collect();
    let samples_pct: Vec<f64> = samples.iter().map(Wait::cpu_percent).collect();
    // Not a row: the numbers that explain one (how often the waiter woke,
    // and what each wake-up cost), for the reader of the progress output.
    let wakeups: Vec<f64> = samples.iter().map(Wait::wakeups_per_sec).collect();
    let per_wakeup: Vec<f64> = samples.iter().filter_map(Wait::cpu_us_per_wakeup).collect();
    eprintln!(
        "    {}: {:.0} wake-ups/s, {:.1} µs of CPU each (medians)",
        <L as SharedLock>::NAME,
        stats::median(&wakeups),
        stats::median(&per_wakeup),
    );
    report.push(Row {
        bench: BENCH.to_owned(),
        system: <L as SharedLock>::NAME.to_owned(),
        procs: 2,
        unit: Unit::PercentCpu,
        median: stats::median(&samples_pct),
        // A handful of long samples: the largest is the figure to bound.
        p99: None,
        max: Some(stats::max(&samples_pct)),
        reference,
    });
}

/// What the waiter thread spent in one `lock`.
struct Wait {
    cpu_ns: u64,
    wall_ns: u64,
    /// Times it went to sleep (voluntary context switches).
    sleeps: u64,
}

impl Wait {
    fn cpu_percent(&self) -> f64 {
        self.cpu_ns as f64 / self.wall_ns as f64 * 100.0
    }

    fn wakeups_per_sec(&self) -> f64 {
        self.sleeps as f64 / (self.wall_ns as f64 / 1e9)
    }

    fn cpu_us_per_wakeup(&self) -> Option<f64> {
        (self.sleeps > 0).then(|| self.cpu_ns as f64 / self.sleeps as f64 / 1e3)
    }
}

/// Voluntary context switches of the calling thread so far.
fn thread_sleeps() -> u64 {
    // SAFETY: an all-zero rusage is valid; getrusage fills it in.
    let mut ru: libc::rusage = unsafe { core::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    let r = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    assert_eq!(r, 0, "getrusage(RUSAGE_THREAD)");
    u64::try_from(ru.ru_nvcsw).unwrap_or(0)
}

/// One wait of about `hold`.
fn one_wait<L: RobustLock + Send + 'static>(
    lock: &Arc<L>,
    key: &str,
    name: &str,
    hold: Duration,
) -> Wait {
    let (_ctl, mut holder) = spawn_holder(ROLE, key, name, Stdio::piped());
    let mut command = holder.stdin.take().expect("the holder's stdin");
    let waiter = start_waiter(lock, |lock| {
        let sleeps0 = thread_sleeps();
        let cpu0 = clocks::thread_cpu_ns();
        let t0 = clocks::monotonic_ns();
        let died = lock.lock_recover_unlock();
        let t1 = clocks::monotonic_ns();
        let cpu1 = clocks::thread_cpu_ns();
        let sleeps1 = thread_sleeps();
        let wait = Wait { cpu_ns: cpu1 - cpu0, wall_ns: t1 - t0, sleeps: sleeps1 - sleeps0 };
        (wait, died)
    });
    std::thread::sleep(hold);
    command.write_all(b"u").expect("command the holder to unlock");
    drop(command);
    let (wait, died) = waiter.join().expect("waiter thread");
    wait_all(vec![holder], Duration::from_secs(10));
    assert!(!died, "the waiter declared a live owner dead");
    assert!(
        wait.wall_ns >= u64::try_from(hold.as_nanos()).unwrap_or(u64::MAX),
        "the waiter left `lock` before the holder unlocked"
    );
    wait
}

/// The holder: takes the lock, says so, keeps it until the parent's byte
/// arrives on stdin, unlocks and exits.
pub fn child<L: RobustLock>(args: &[String]) {
    let ctl = ControlView::open(&args[0]);
    let lock = L::open(&args[2]);
    lock.lock_during(|| {
        ctl.get().child_ready_then_wait_go();
        let mut byte = [0u8];
        std::io::stdin().read_exact(&mut byte).expect("the parent's command");
    });
}
