//! The loom models of the futex, the clock, the thread identity and the
//! owner-liveness proof (see the table in `sync/mod.rs`). A loom thread
//! stands for a process unless it joins another thread's process.

use super::*;
use core::cell::Cell;
use loom::sync::{Condvar, Mutex};

/// A fake monotonic clock, per thread, in nanoseconds. It only moves when
/// a timed futex wait "times out", which makes deadlines reachable in a
/// model without real time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Instant(u64);

loom::thread_local! {
    static FAKE_NOW: Cell<u64> = Cell::new(0);
    /// The set of dead threads this thread's last futex wait knew about.
    static SEEN_DEAD: Cell<u64> = Cell::new(0);
}

impl Instant {
    pub(crate) fn now() -> Instant {
        Instant(FAKE_NOW.with(Cell::get))
    }
    pub(crate) fn checked_add(self, d: Duration) -> Option<Instant> {
        let ns = u64::try_from(d.as_nanos()).ok()?;
        self.0.checked_add(ns).map(Instant)
    }
    pub(crate) fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
    pub(crate) fn elapsed(self) -> Duration {
        Instant::now().saturating_duration_since(self)
    }
}

impl core::ops::Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.checked_add(d).unwrap_or(Instant(u64::MAX))
    }
}

/// The kernel's futex hash bucket: who sleeps on which word, in order.
struct FutexModel {
    queue: Mutex<WaitQueue>,
    wakeups: Condvar,
}

struct WaitQueue {
    next_ticket: u64,
    /// Sleeping waiters as `(word address, ticket)`, oldest first. A
    /// waker removes the entries it wakes; a sleeper whose entry is gone
    /// has been woken.
    sleepers: Vec<(usize, u64)>,
}

/// Processes that "died" in the model (bit `token` set).
struct DeadSet {
    bits: AtomicU64,
}

loom::lazy_static! {
    static ref FUTEX: FutexModel = FutexModel {
        queue: Mutex::new(WaitQueue { next_ticket: 0, sleepers: Vec::new() }),
        wakeups: Condvar::new(),
    };
    static ref DEAD: DeadSet = DeadSet { bits: AtomicU64::new(0) };
}

pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> FutexWait {
    let addr = core::ptr::from_ref(word) as usize;
    wait_on(addr, || word.load(Ordering::SeqCst), expected, timeout)
}

pub(crate) fn futex_wake(word: &AtomicU32, count: u32) -> usize {
    wake_on(core::ptr::from_ref(word) as usize, count)
}

pub(crate) fn futex_wait_low(
    word: &AtomicU64,
    expected: u32,
    timeout: Option<Duration>,
) -> FutexWait {
    let addr = core::ptr::from_ref(word) as usize;
    #[allow(clippy::cast_possible_truncation)]
    let low = || word.load(Ordering::SeqCst) as u32;
    wait_on(addr, low, expected, timeout)
}

pub(crate) fn futex_wake_low(word: &AtomicU64, count: u32) -> usize {
    wake_on(core::ptr::from_ref(word) as usize, count)
}

/// The model of `FUTEX_WAIT` on the word at `addr`, whose current value
/// `current` reads (SeqCst: the kernel's check is a full barrier).
fn wait_on(
    addr: usize,
    current: impl Fn() -> u32,
    expected: u32,
    timeout: Option<Duration>,
) -> FutexWait {
    // The kernel compares and enqueues under the hash-bucket lock; the
    // model's mutex plays that lock. SeqCst: the kernel's check is a
    // full barrier on every architecture.
    let mut queue = FUTEX.queue.lock().unwrap();
    if current() != expected {
        return FutexWait::ValueChanged;
    }
    // A death this waiter has not yet been woken for: in a real run its
    // liveness timer would fire after the death even if the waiter went
    // to sleep only afterwards, so return at once (a spurious wakeup).
    // Without this, a waiter that checked liveness ("alive") just before
    // the death and slept just after it would sleep forever in the model
    // although the real timer wakes it.
    let dead = DEAD.bits.load(Ordering::SeqCst);
    if SEEN_DEAD.with(Cell::get) != dead {
        SEEN_DEAD.with(|c| c.set(dead));
        return FutexWait::Woken;
    }
    if let Some(t) = timeout {
        // Model "the timer fired before any wake".
        let ns = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
        FAKE_NOW.with(|c| c.set(c.get().saturating_add(ns.max(1))));
        return FutexWait::TimedOut;
    }
    let ticket = queue.next_ticket;
    queue.next_ticket += 1;
    queue.sleepers.push((addr, ticket));
    while queue.sleepers.iter().any(|&(_, t)| t == ticket) {
        queue = FUTEX.wakeups.wait(queue).unwrap();
    }
    FutexWait::Woken
}

/// The model of `FUTEX_WAKE`: wakes at most `count` sleepers of the
/// word at `addr` (the oldest first), as the kernel does: a caller that
/// wakes too few leaves the others asleep, and loom reports the deadlock.
fn wake_on(addr: usize, count: u32) -> usize {
    let mut queue = FUTEX.queue.lock().unwrap();
    let mut woken = 0;
    queue.sleepers.retain(|&(a, _)| {
        if a == addr && woken < count {
            woken += 1;
            false
        } else {
            true
        }
    });
    if woken > 0 {
        FUTEX.wakeups.notify_all();
    }
    usize::try_from(woken).unwrap_or(usize::MAX)
}

loom::thread_local! {
    /// The simulated process of the calling thread: 0 for its own (its
    /// `tid`), else the one it joined with [`join_process`].
    static PROCESS: Cell<u32> = Cell::new(0);
}

pub(crate) fn current_thread() -> ThreadIdentity {
    // loom numbers its threads 0, 1, 2, … deterministically per
    // execution; its `Debug` output is the only public way to read it.
    let text = format!("{:?}", loom::thread::current().id());
    let n: u32 = text
        .trim_start_matches("ThreadId(")
        .trim_end_matches(')')
        .parse()
        .expect("loom ThreadId formats as ThreadId(n)");
    let tid = n + 1;
    let token = match PROCESS.with(Cell::get) {
        0 => tid,
        p => p,
    };
    ThreadIdentity { tid, token }
}

/// Makes the calling thread a thread of `process` (the token of another
/// model thread's process, i.e. that thread's `tid`), so that models can
/// have several threads in one process.
pub(crate) fn join_process(process: u32) {
    PROCESS.with(|p| p.set(process));
}

/// Every arrival probes: the model has no liveness timer to fall back
/// on for a waiter that sleeps after a death it was already woken for.
pub(crate) fn arrival_probe_due() -> bool {
    true
}

/// The model's proof of death: the token's simulated process died. (The
/// model has no "word outside a segment": every word is robust.)
pub(crate) fn owner_liveness(_addr: usize, token: u32) -> Liveness {
    let dead = token < 64 && DEAD.bits.load(Ordering::SeqCst) & (1 << token) != 0;
    if dead {
        Liveness::Dead
    } else {
        Liveness::Alive
    }
}

/// Marks the calling thread's process dead (as if SIGKILLed) and wakes
/// every futex waiter, standing for the liveness re-check timer that would
/// fire in a real run. The caller, and every other thread of its process,
/// must then return without touching shared state again.
pub(crate) fn simulate_process_death() {
    let token = current_thread().token;
    assert!(token < 64, "loom models use few threads");
    // Set under the model's futex lock, so that every waiter either sees
    // the new bit in its pre-sleep check or is asleep and woken here.
    let mut queue = FUTEX.queue.lock().unwrap();
    DEAD.bits.fetch_or(1 << token, Ordering::SeqCst);
    queue.sleepers.clear();
    FUTEX.wakeups.notify_all();
}

/// The model has no watcher threads: waiters re-judge after every wakeup,
/// and a simulated death wakes them all.
pub(crate) fn plan_sleep(_addr: usize, _token: u32) -> SleepPlan {
    SleepPlan::Poll
}

/// The model of waiting for several processes at once: `Dead` if one of
/// them died, else `Poll` (no watchers in the model; a simulated death
/// wakes every sleeper), `Never` for none.
pub(crate) fn plan_sleep_many(addr: usize, tokens: &[u32]) -> SleepPlan {
    if tokens.is_empty() {
        SleepPlan::Never
    } else if tokens.iter().any(|&t| owner_liveness(addr, t) == Liveness::Dead) {
        SleepPlan::Dead
    } else {
        SleepPlan::Poll
    }
}

/// Never called under loom (no plan is `Watched`).
pub(crate) fn sleep_watched(
    word: &AtomicU64,
    expected: u32,
    _epoch: u32,
    timeout: Option<Duration>,
) -> FutexWait {
    futex_wait_low(word, expected, timeout)
}
