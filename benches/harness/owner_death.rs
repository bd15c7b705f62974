//! Owner-death recovery latency: a child process takes the lock and is
//! SIGKILLed while a thread of the parent sleeps in `lock`; the figure is
//! the time from the `kill` call to that `lock` returning "owner died".
//!
//! The kill comes at a random moment (0–8 ms after the waiter is seen
//! asleep), so a system that re-checks liveness on a timer is measured at
//! every phase of its timer, not at a lucky or an unlucky one.

use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::options::Options;
use crate::processes::{spawn, ControlRegion, ControlView};
use crate::report::{Report, Row, Unit};
use crate::stats;
use crate::systems::RobustLock;
use shmsync_support::bench::unique_name;

/// The child role: the holder that gets killed.
pub const ROLE: &str = "holder";
/// The row label.
pub const BENCH: &str = "owner-death recovery (SIGKILL → OwnerDied)";

/// Measures `L` over `opts.kills` kills; `key` names it for the children.
pub fn measure<L: RobustLock + Send + 'static>(
    opts: &Options,
    report: &mut Report,
    key: &str,
    reference: bool,
) {
    measure_recovery::<L>(opts, report, key, reference, BENCH, "death", one_kill::<L>);
}

/// One recovery row: `one` takes a sample (in the child `key` names, on
/// the segment `name`) `opts.kills` times; the row is their median, p99
/// and max, in milliseconds. Shared by the SIGKILL and the exec rows.
pub fn measure_recovery<L: RobustLock + Send + 'static>(
    opts: &Options,
    report: &mut Report,
    key: &str,
    reference: bool,
    bench: &str,
    tag: &str,
    mut one: impl FnMut(&Arc<L>, &str, &str, &mut XorShift) -> Duration,
) {
    let name = unique_name(tag);
    let lock = Arc::new(L::create(&name));
    let mut rng = XorShift::seeded();
    let mut samples_ms = Vec::with_capacity(opts.kills);
    for _ in 0..opts.kills {
        samples_ms.push(one(&lock, key, &name, &mut rng).as_secs_f64() * 1e3);
    }
    report.push(Row {
        bench: bench.to_owned(),
        system: L::NAME.to_owned(),
        procs: 2,
        unit: Unit::Millis,
        median: stats::median(&samples_ms),
        p99: Some(stats::p99(&samples_ms)),
        max: Some(stats::max(&samples_ms)),
        reference,
    });
}

fn one_kill<L: RobustLock + Send + 'static>(
    lock: &Arc<L>,
    key: &str,
    name: &str,
    rng: &mut XorShift,
) -> Duration {
    let (_ctl, mut holder) = spawn_holder(ROLE, key, name, Stdio::null());
    let waiter = start_waiter(lock, |lock| {
        let died = lock.lock_recover_unlock();
        (Instant::now(), died)
    });
    // The scenario: the holder dies at an arbitrary moment of the wait.
    std::thread::sleep(Duration::from_micros(rng.below(8_000)));
    let t0 = Instant::now();
    let pid = libc::pid_t::try_from(holder.id()).expect("pid fits pid_t");
    // SAFETY: `pid` is our own unreaped child; SIGKILL ends it.
    let r = unsafe { libc::kill(pid, libc::SIGKILL) };
    assert_eq!(r, 0, "kill holder");
    let (t1, died) = waiter.join().expect("waiter thread");
    // Reaped only now: recovery must not depend on the parent reaping.
    let _ = holder.wait();
    assert!(died, "the waiter acquired the lock without seeing the owner's death");
    t1.saturating_duration_since(t0)
}

/// Spawns a holder child playing `role` on the lock `name` of system `key`,
/// and returns once it holds the lock (with the control block it uses,
/// which must outlive it).
pub fn spawn_holder(role: &str, key: &str, name: &str, stdin: Stdio) -> (ControlRegion, Child) {
    let ctl = ControlRegion::create(1);
    let mut holder = spawn(
        role,
        &[ctl.name.clone(), key.to_owned(), name.to_owned()],
        None,
        stdin,
        Stdio::null(),
    );
    ctl.get().start(1, std::slice::from_mut(&mut holder));
    (ctl, holder)
}

/// Starts a thread of this process that runs `wait` (a `lock` the holder
/// blocks), and returns once that thread is asleep in the kernel.
pub fn start_waiter<L, R>(
    lock: &Arc<L>,
    wait: impl FnOnce(&L) -> R + Send + 'static,
) -> JoinHandle<R>
where
    L: Send + Sync + 'static,
    R: Send + 'static,
{
    let waiter_tid = Arc::new(AtomicI32::new(0));
    let waiter = {
        let lock = Arc::clone(lock);
        let waiter_tid = Arc::clone(&waiter_tid);
        std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            let tid = unsafe { libc::gettid() };
            // release: pairs with the acquire load in `wait_until_asleep`;
            // nothing else is published, the tid itself is the message.
            waiter_tid.store(tid, Ordering::Release);
            wait(&lock)
        })
    };
    wait_until_asleep(&waiter_tid);
    waiter
}

/// Waits until the waiter thread is asleep in the kernel (state `S`), i.e.
/// blocked inside `lock` (for a lock that re-checks on a timer, asleep
/// between two checks).
fn wait_until_asleep(tid: &AtomicI32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // acquire: pairs with the waiter's release store of its tid in
        // `start_waiter`.
        let t = tid.load(Ordering::Acquire);
        if t != 0 {
            let stat =
                std::fs::read_to_string(format!("/proc/self/task/{t}/stat")).unwrap_or_default();
            let state = stat.rsplit(')').next().and_then(|s| s.split_whitespace().next());
            if state == Some("S") {
                return;
            }
        }
        assert!(Instant::now() < deadline, "waiter never blocked in lock");
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// The holder: takes the lock, says so, and sleeps until killed.
pub fn child<L: RobustLock>(args: &[String]) {
    let ctl = ControlView::open(&args[0]);
    let lock = L::open(&args[2]);
    lock.lock_and_keep();
    ctl.get().child_ready_then_wait_go();
    loop {
        std::thread::park();
    }
}

/// A tiny PRNG for kill timing (no dependency needed for jitter).
pub struct XorShift(u64);

impl XorShift {
    /// Seeded from the wall clock.
    pub fn seeded() -> Self {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64);
        XorShift(t | 1)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}
