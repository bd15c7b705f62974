//! A waiter whose thread is interrupted by a handled signal every
//! millisecond (a profiler's `SIGPROF`, a watchdog's `SIGALRM`, installed
//! without `SA_RESTART`) still re-checks its owner's liveness: when every
//! wake-up is an interrupted wait, never a timed-out one, a re-check that
//! waited for a timeout would never come. The same holds for signals faster
//! than the re-check interval itself.
//!
//! The signals come from a per-thread timer and the waiting thread runs at
//! a real-time priority when allowed, so that it handles each one at once:
//! a waiter kept off the CPU by a busy machine would otherwise see its
//! waits time out now and then, and re-check by luck.
//!
//! The bound is on the test's side: the waiter must report `OwnerDied`
//! within [`DETECTION_BOUND`] of the kill. Its own `lock_timeout` deadline
//! is far longer, because a waiter whose deadline nears re-checks anyway
//! (its last wait is shorter than the storm's period and times out): a
//! deadline of a few seconds would hide a waiter that only re-checks on
//! timeouts.

use shmsync::{LockError, LockTimeoutError, Segment, ShmMutex, ShmMutexGuard, ShmSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmsync_support as support;

#[derive(ShmSafe)]
#[repr(C)]
struct Shared {
    m: ShmMutex<u64>,
    /// Signals the waiting thread has handled since it started waiting.
    signals_in_wait: AtomicU64,
    /// How the waiter's lock call ended (one of the `OUTCOME_*`).
    outcome: AtomicU32,
}

const OUTCOME_PENDING: u32 = 0;
const OUTCOME_OWNER_DIED: u32 = 1;
const OUTCOME_OTHER: u32 = 2;

/// How soon after the kill the waiter must have the lock: a functional
/// bound, far above the detection latency (about a millisecond), far
/// below "never".
const DETECTION_BOUND: Duration = Duration::from_secs(3);
/// The deadline of the waiter's `lock_timeout`: ten times the detection
/// bound, so that it cannot be what ends the wait.
const WAITER_TIMEOUT: Duration = Duration::from_secs(30);
/// The storm's period in the case.
const EVERY_MILLISECOND: Duration = Duration::from_millis(1);
/// A storm faster than the shortest interval at which a waiter re-checks
/// its owner by itself (0.5 ms, when no watcher reports deaths), so that no
/// wait ever lasts until its own timeout: only a death reported as an event,
/// or a re-check due by elapsed time whatever ended the wait, notices it.
const FASTER_THAN_THE_RECHECK_INTERVAL: Duration = Duration::from_micros(100);
/// The holder is killed once the waiter has handled signals for this long
/// (counted in signals, so it is time spent under the storm)...
const STORM_BEFORE_KILL: Duration = Duration::from_millis(300);
/// ...or after this long, on a machine too busy to deliver them that fast.
const LONGEST_BEFORE_KILL: Duration = Duration::from_secs(1);
/// "Many": the handler must have run at least this often during the wait.
const MIN_SIGNALS_IN_WAIT: u64 = 50;

/// Signals handled by this process (the waiter role).
static HANDLED: AtomicU64 = AtomicU64::new(0);

extern "C" fn count_signal(_sig: libc::c_int) {
    // Relaxed: a count, read after the storm for a report; an atomic
    // add is async-signal-safe.
    HANDLED.fetch_add(1, Ordering::Relaxed);
}

/// Installs [`count_signal`] for `SIGALRM` without `SA_RESTART`, so a
/// blocking system call it interrupts fails with `EINTR`.
fn install_counting_handler() {
    // SAFETY: `sigaction` is a plain C struct for which all-zero bytes are
    // a valid (empty) value.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = count_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    action.sa_flags = 0;
    // SAFETY: `action.sa_mask` is a valid sigset_t to initialize.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: `action` is initialized and outlives the call; the handler
    // only touches an atomic, which is async-signal-safe.
    let r = unsafe { libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut()) };
    assert_eq!(r, 0, "sigaction: {}", std::io::Error::last_os_error());
}

#[test]
fn child_entry() {
    support::run_child(|role, args| {
        let seg = Segment::<Shared>::open(&args[0]).expect("open segment");
        match role {
            "lock_and_hang" => {
                let mut g =
                    seg.m.lock().unwrap_or_else(|e| panic!("the first lock must be clean: {e:?}"));
                *g = 1;
                std::mem::forget(g);
                support::reached("locked");
                support::park_forever();
            }
            "wait_under_signal_storm" => {
                let period = Duration::from_micros(args[2].parse().expect("a period in µs"));
                wait_under_signal_storm(&seg, &args[1], period);
            }
            other => panic!("unknown role {other}"),
        }
    });
}

/// A per-thread timer that sends `SIGALRM` to the thread that started it
/// `period`, as a profiler's timer does: the kernel delivers
/// the signals on time whatever the scheduler does with other threads.
/// Deleted on drop.
struct SignalStorm(libc::timer_t);

impl SignalStorm {
    fn start(period: Duration) -> SignalStorm {
        // SAFETY: `sigevent` is a plain C struct for which all-zero bytes
        // are a valid value.
        let mut event: libc::sigevent = unsafe { std::mem::zeroed() };
        event.sigev_notify = libc::SIGEV_THREAD_ID;
        event.sigev_signo = libc::SIGALRM;
        // SAFETY: gettid has no preconditions and cannot fail.
        event.sigev_notify_thread_id = unsafe { libc::gettid() };
        let mut timer: libc::timer_t = std::ptr::null_mut();
        // SAFETY: `event` and `timer` are valid for the call; the target
        // thread (this one) is in this process.
        let r = unsafe { libc::timer_create(libc::CLOCK_MONOTONIC, &mut event, &mut timer) };
        assert_eq!(r, 0, "timer_create: {}", std::io::Error::last_os_error());
        let period = libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::c_long::try_from(period.as_nanos()).expect("a period below 1 s"),
        };
        let spec = libc::itimerspec { it_interval: period, it_value: period };
        // SAFETY: `timer` was just created; `spec` is valid for the call.
        let r = unsafe { libc::timer_settime(timer, 0, &spec, std::ptr::null_mut()) };
        assert_eq!(r, 0, "timer_settime: {}", std::io::Error::last_os_error());
        SignalStorm(timer)
    }
}

impl Drop for SignalStorm {
    fn drop(&mut self) {
        // SAFETY: the timer was created by `start` and is deleted once.
        unsafe { libc::timer_delete(self.0) };
    }
}

/// Gives the calling thread a real-time priority, if this process may
/// (it needs `CAP_SYS_NICE`): then each signal runs the waiter at once,
/// however busy the machine, so its futex waits end by the signal, never
/// by their own timeout. Without it, a waiter kept off the CPU for longer
/// than its wait's timeout sees the timeout too, and a waiter that only
/// re-checked on timeouts would pass by luck; with it, only a re-check
/// driven by elapsed time notices the death.
fn run_before_other_threads() {
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: `param` is valid for the call; the thread is the caller.
    let r = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
    if r != 0 {
        eprintln!(
            "note: the waiter runs at normal priority ({}): a busy machine may make this \
             test unable to tell a re-check on timeouts from one on elapsed time",
            std::io::Error::from_raw_os_error(r)
        );
    }
}

/// The waiter: `how` (`lock` or `lock_timeout`) on the calling thread while
/// a timer sends it `SIGALRM` every `period`; another thread publishes how
/// many it has handled.
fn wait_under_signal_storm(seg: &Shared, how: &str, period: Duration) {
    install_counting_handler();
    let stop = AtomicBool::new(false);
    support::reached("waiting");
    let start = HANDLED.load(Ordering::Relaxed);
    let outcome = std::thread::scope(|s| {
        s.spawn(|| {
            // Relaxed: a stop flag; no data is published through it.
            while !stop.load(Ordering::Relaxed) {
                seg.signals_in_wait
                    .store(HANDLED.load(Ordering::Relaxed) - start, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        let storm = SignalStorm::start(period);
        run_before_other_threads();
        let outcome = match how {
            "lock" => match seg.m.lock() {
                Err(LockError::OwnerDied(mut g)) => {
                    ShmMutexGuard::make_consistent(&mut g);
                    OUTCOME_OWNER_DIED
                }
                other => {
                    eprintln!("waiter: expected OwnerDied, got {other:?}");
                    OUTCOME_OTHER
                }
            },
            "lock_timeout" => match seg.m.lock_timeout(WAITER_TIMEOUT) {
                Err(LockTimeoutError::OwnerDied(mut g)) => {
                    ShmMutexGuard::make_consistent(&mut g);
                    OUTCOME_OWNER_DIED
                }
                other => {
                    eprintln!("waiter: expected OwnerDied, got {other:?}");
                    OUTCOME_OTHER
                }
            },
            other => panic!("unknown way to wait: {other}"),
        };
        drop(storm);
        // Relaxed: see the publishing thread's load.
        stop.store(true, Ordering::Relaxed);
        outcome
    });
    let handled = HANDLED.load(Ordering::Relaxed) - start;
    seg.signals_in_wait.store(handled, Ordering::SeqCst);
    seg.outcome.store(outcome, Ordering::SeqCst);
    assert_eq!(outcome, OUTCOME_OWNER_DIED, "the waiter must notice the holder's death");
}

/// The holder is SIGKILLed about 300 ms into the wait of a thread that
/// handles a signal every `period`; the waiter, waiting with `how`, must
/// get `OwnerDied` within [`DETECTION_BOUND`].
fn waiter_under_signal_storm_notices_the_owner_died(how: &str, period: Duration) {
    let name = support::unique_name("signal-storm");
    let seg = Segment::<Shared>::create(&name).expect("create segment");
    let mut holder = support::spawn("child_entry", "lock_and_hang", &[&name]);
    holder.wait_for("locked", Duration::from_secs(10));
    let period_us = period.as_micros().to_string();
    let mut waiter =
        support::spawn("child_entry", "wait_under_signal_storm", &[&name, how, &period_us]);
    waiter.wait_for("waiting", Duration::from_secs(10));
    let waiting_since = Instant::now();
    let signals_before_kill =
        u64::try_from(STORM_BEFORE_KILL.as_micros() / period.as_micros()).expect("a small count");
    support::wait_until(
        "the waiter has waited under the storm for a while",
        Duration::from_secs(10),
        || {
            seg.signals_in_wait.load(Ordering::SeqCst) >= signals_before_kill
                || waiting_since.elapsed() >= LONGEST_BEFORE_KILL
        },
    );
    assert_eq!(
        seg.outcome.load(Ordering::SeqCst),
        OUTCOME_PENDING,
        "the waiter stopped waiting while the holder was alive"
    );
    holder.kill();
    support::wait_until(
        "the waiter, interrupted by signals, notices the holder's death",
        DETECTION_BOUND,
        || seg.outcome.load(Ordering::SeqCst) != OUTCOME_PENDING,
    );
    waiter.expect_success(Duration::from_secs(10));
    assert_eq!(seg.outcome.load(Ordering::SeqCst), OUTCOME_OWNER_DIED);
    let handled = seg.signals_in_wait.load(Ordering::SeqCst);
    eprintln!("the waiting thread handled {handled} signals while it waited");
    assert!(
        handled >= MIN_SIGNALS_IN_WAIT,
        "the storm must really interrupt the wait: only {handled} signals were handled"
    );
    assert!(seg.m.try_lock().is_ok(), "the repaired mutex works normally");
}

/// Issue case: `lock()` could block forever under the storm.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn waiter_in_lock_interrupted_by_a_signal_every_millisecond_notices_the_owner_died() {
    waiter_under_signal_storm_notices_the_owner_died("lock", EVERY_MILLISECOND);
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn waiter_in_lock_timeout_interrupted_by_a_signal_every_millisecond_notices_the_owner_died() {
    waiter_under_signal_storm_notices_the_owner_died("lock_timeout", EVERY_MILLISECOND);
}

/// Every wait ends by a signal before its timeout: a waiter that restarted
/// its re-check interval at each interrupted wait, and had no other news of
/// the death, would never re-check.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn waiter_interrupted_faster_than_its_recheck_interval_notices_the_owner_died() {
    waiter_under_signal_storm_notices_the_owner_died("lock", FASTER_THAN_THE_RECHECK_INTERVAL);
}
