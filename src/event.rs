//! [`ShmEvent`]: a process-shared event flag, manual- or auto-reset.
//!
//! # The state word
//!
//! One `AtomicU32`, which is also the futex waiters sleep on:
//!
//! | bits | field | meaning |
//! |---|---|---|
//! | 0 | `SET` | the event is set |
//! | 1 | `WAITERS` | threads may be asleep in `futex_wait` on the word: a `set` must wake them |
//! | 2 | `AUTO_RESET` | auto-reset mode: a returning `wait` consumes `SET`. Written by the initializer ([`ShmEvent::new_auto_reset`]), never changed after |
//! | 3..32 | sets | bumped (wrapping) by every `set` that finds the event unset |
//!
//! All zero is a manual-reset event that is not set, so zeroed shared memory
//! is a valid event.
//!
//! | from | to | by | ordering |
//! |---|---|---|---|
//! | unset `[\|W]` | `SET`, sets + 1, `WAITERS` cleared; wake all if `W` | `set` | release |
//! | `SET` | `SET` (unchanged, but written) | `set` | release |
//! | any | `SET` cleared | `reset` | relaxed |
//! | unset | unset `\|W` | a waiter, before it sleeps | relaxed |
//! | `SET` (auto-reset) | unset | the one waiter whose CAS wins: its `wait` returns `true` | acquire |
//!
//! A manual-reset waiter returns when it sees `SET`, or when the set count
//! moved since it started waiting: a `set` immediately followed by a
//! `reset` still releases every thread that was waiting when `set` ran (as
//! Python's `Event` does). The count also changes the word, so a waiter
//! whose futex check comes after such a pulse does not sleep.
//!
//! `set` wakes *every* sleeper in both modes, and clears `WAITERS`: a woken
//! waiter that finds nothing to take announces itself again before it
//! sleeps. In auto-reset mode exactly one of them consumes `SET`, the
//! others sleep again. Waking only one would strand the rest if the woken
//! one were killed before it consumed `SET`: the flag would stay set with
//! sleepers nobody wakes. An event has no owner, so a killed waiter leaves
//! nothing behind (a stale `WAITERS` bit only costs the next `set` one
//! futex wake). A setter killed between its CAS and its futex wake leaves
//! the event set with sleepers nobody will wake: waiters therefore never
//! sleep longer than `SAFETY_RECHECK` (50 ms) without looking.

use core::fmt;
use core::time::Duration;

use crate::sync::{futex_wait, futex_wake, AtomicU32, Backoff, Instant, Ordering, HANDOFF};

const SET: u32 = 1;
const WAITERS: u32 = 1 << 1;
const AUTO_RESET: u32 = 1 << 2;
/// One unit of the set count (bits 3..32).
const SETS_ONE: u32 = 1 << 3;

/// The longest a waiter sleeps without looking at the word again: a setter
/// killed between the CAS that sets the event and its futex wake leaves the
/// event set and its sleepers unwoken, and nobody else will wake them (a
/// later `set` finds the event set and does nothing). Such a waiter then
/// returns within this interval instead of never; every other wakeup comes
/// from the futex, and a sleeping waiter costs one wakeup per interval.
/// Under loom a waiter sleeps untimed (timed waits return at once there).
#[cfg(not(loom))]
const SAFETY_RECHECK: Option<Duration> = Some(crate::sync::WATCHED_RECHECK);
#[cfg(loom)]
const SAFETY_RECHECK: Option<Duration> = None;

/// An event flag that lives in shared memory: threads of any process wait
/// until some thread of any process sets it.
///
/// * **Manual reset** (the default, and what zeroed memory is): like
///   Python's `threading.Event`. [`set`](Self::set) releases every waiter
///   and the event stays set, so later waits return at once, until
///   [`reset`](Self::reset).
/// * **Auto reset** ([`new_auto_reset`](Self::new_auto_reset), chosen by
///   the segment's initializer): each `set` releases exactly one waiter,
///   whose `wait` consumes it; with nobody waiting the event stays set until
///   the next waiter comes. It is a flag, not a counter: a `set` of an event
///   that is already set changes nothing (count with a semaphore).
///
/// Waiters sleep on a futex; `set` makes a system call only when a waiter
/// may be asleep. Nothing is owned, so a process killed while it waits or
/// sets leaves a usable event behind. `ShmEvent` is `#[repr(C)]`; all-zero
/// memory is an unset manual-reset event. The state table is in the source
/// (`src/event.rs`).
///
/// # Examples
///
/// One thread (it could be another process) waits for another to set the
/// event:
///
/// ```
/// use shmsync::ShmEvent;
///
/// let started = ShmEvent::new();
/// std::thread::scope(|s| {
///     s.spawn(|| started.set());
///     started.wait();
///     assert!(started.is_set());
/// });
/// ```
///
/// An auto-reset event in a segment; the initializer picks the mode:
///
/// ```
/// use shmsync::{Segment, ShmEvent, ShmSafe};
///
/// #[derive(ShmSafe)]
/// #[repr(C)]
/// struct Jobs {
///     work_ready: ShmEvent,
/// }
///
/// # let name = format!("doc-event-{}", std::process::id());
/// let seg = Segment::<Jobs>::create_with(&name, |j| j.work_ready = ShmEvent::new_auto_reset())?;
/// seg.work_ready.set();
/// assert!(seg.work_ready.wait_timeout(std::time::Duration::ZERO)); // consumes it
/// assert!(!seg.work_ready.is_set());
/// # Ok::<(), shmsync::Error>(())
/// ```
#[repr(C)]
pub struct ShmEvent {
    /// See the state table in the module docs.
    state: AtomicU32,
}

impl ShmEvent {
    crate::sync::const_unless_loom! {
        /// A manual-reset event that is not set (the same as zeroed memory).
        #[must_use]
        pub const fn new() -> Self {
            ShmEvent { state: AtomicU32::new(0) }
        }

        /// An auto-reset event that is not set: each [`set`](Self::set)
        /// releases one waiter. Zeroed memory is a *manual*-reset event, so an
        /// auto-reset event in a segment is made by its initializer:
        /// `Segment::<T>::create_with(name, |t| t.event = ShmEvent::new_auto_reset())`.
        #[must_use]
        pub const fn new_auto_reset() -> Self {
            ShmEvent { state: AtomicU32::new(AUTO_RESET) }
        }
    }

    /// Whether this is an auto-reset event.
    #[must_use]
    pub fn is_auto_reset(&self) -> bool {
        // Relaxed: the mode is written once by the initializer, before the
        // segment is published.
        self.state.load(Ordering::Relaxed) & AUTO_RESET != 0
    }

    /// Sets the event, in every process that maps it.
    ///
    /// Manual reset: every waiter returns, and so does every later wait
    /// until [`reset`](Self::reset). Auto reset: one waiter returns (and
    /// consumes it); with no waiter, the next wait returns at once. Setting
    /// an event that is already set changes nothing. Writes made before
    /// `set` are visible to the waiters it releases.
    ///
    /// No system call unless a waiter may be asleep.
    #[inline]
    pub fn set(&self) {
        // Release: pairs with the acquire load (manual) or CAS (auto) of a
        // waiter, publishing what the setter wrote before. Written even when
        // the event is already set, so that a waiter who returns because of
        // an earlier set still sees this setter's writes.
        let prev = self
            .state
            .fetch_update(Ordering::Release, Ordering::Relaxed, |w| {
                Some(if w & SET != 0 { w } else { (w | SET).wrapping_add(SETS_ONE) & !WAITERS })
            })
            .unwrap_or_else(|w| w);
        if prev & (SET | WAITERS) == WAITERS {
            self.wake_all();
        }
    }

    #[cold]
    fn wake_all(&self) {
        futex_wake(&self.state, u32::MAX);
    }

    /// Clears the event: waits block again until the next
    /// [`set`](Self::set). A thread that was already waiting when the event
    /// was set still returns (the set released it, even if this reset came
    /// before it ran).
    #[inline]
    pub fn reset(&self) {
        // Relaxed: a reset publishes nothing. As an RMW it continues the
        // release sequence of the last `set`, so a waiter that reads a
        // later value still synchronizes with that set.
        self.state.fetch_and(!SET, Ordering::Relaxed);
    }

    /// Whether the event is set right now (a snapshot; it does not consume
    /// an auto-reset event). If it returns `true`, the writes made before
    /// the `set` are visible.
    #[inline]
    #[must_use]
    pub fn is_set(&self) -> bool {
        // Acquire: pairs with the release RMW in `set`.
        self.state.load(Ordering::Acquire) & SET != 0
    }

    /// Blocks until the event is set (see [`set`](Self::set)), and in
    /// auto-reset mode consumes it. Returns at once if it is set already.
    #[inline]
    pub fn wait(&self) {
        let returned = self.wait_until(None);
        debug_assert!(returned, "an untimed wait returns only when set");
    }

    /// As [`wait`](Self::wait), but gives up after `timeout`: returns
    /// whether the event was set (and, in auto-reset mode, consumed by this
    /// call). `Duration::ZERO` tests (and consumes) without blocking.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmsync::ShmEvent;
    /// use std::time::Duration;
    ///
    /// let e = ShmEvent::new();
    /// assert!(!e.wait_timeout(Duration::from_millis(1)));
    /// e.set();
    /// assert!(e.wait_timeout(Duration::from_millis(1)));
    /// ```
    #[must_use = "the result says whether the event was set or the wait timed out"]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        // A deadline beyond the clock's range is no deadline.
        self.wait_until(Instant::now().checked_add(timeout))
    }

    /// Takes the event if it is set: `Some(true)` if this wait returns
    /// (consuming `SET` in auto-reset mode), `None` to keep waiting. `w` is
    /// the word just read with acquire ordering, `entry` the word read when
    /// the wait began.
    #[inline]
    fn take(&self, mut w: u32, entry: u32) -> Option<bool> {
        if w & AUTO_RESET == 0 {
            // Manual: set now, or set (and maybe reset) since we began.
            let sets_moved = (w ^ entry) & !(SETS_ONE - 1) != 0;
            return (w & SET != 0 || sets_moved).then_some(true);
        }
        while w & SET != 0 {
            // Acquire: pairs with the release RMW in `set`. Exactly one
            // waiter's CAS takes a given SET.
            match self.state.compare_exchange_weak(
                w,
                w & !SET,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(true),
                Err(actual) => w = actual,
            }
        }
        None
    }

    /// [`take`](Self::take) with a fresh read of the word.
    fn try_take(&self, entry: u32) -> Option<bool> {
        // Acquire: pairs with the release RMW in `set` (see `is_set`).
        self.take(self.state.load(Ordering::Acquire), entry)
    }

    #[inline]
    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        // Acquire: pairs with the release RMW in `set`.
        let entry = self.state.load(Ordering::Acquire);
        if let Some(taken) = self.take(entry, entry) {
            return taken;
        }
        self.wait_slow(entry, deadline)
    }

    #[cold]
    fn wait_slow(&self, entry: u32, deadline: Option<Instant>) -> bool {
        let expired = |deadline: Option<Instant>| {
            deadline.is_some_and(|d| d.saturating_duration_since(Instant::now()).is_zero())
        };
        // A `set` that comes within a few scheduler rounds needs no futex
        // wake-up and no sleep (`ShmCondvar`'s hand-off, for the same reason).
        let mut backoff = Backoff::new(HANDOFF);
        while !backoff.is_completed() {
            if expired(deadline) {
                return self.try_take(entry).unwrap_or(false);
            }
            backoff.snooze();
            if let Some(taken) = self.try_take(entry) {
                return taken;
            }
        }
        loop {
            if let Some(taken) = self.try_take(entry) {
                return taken;
            }
            // Relaxed: the futex compares the word itself, atomically with
            // going to sleep; `try_take` above did the ordering.
            let w = self.state.load(Ordering::Relaxed);
            if w & SET != 0 {
                continue;
            }
            if w & WAITERS == 0
                && self
                    .state
                    .compare_exchange(w, w | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            let timeout = match deadline {
                None => SAFETY_RECHECK,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return self.try_take(entry).unwrap_or(false);
                    }
                    Some(SAFETY_RECHECK.map_or(left, |r| r.min(left)))
                }
            };
            // Whatever ended the sleep (a set, a signal, the timeout, the
            // safety net, a changed word), the loop re-checks.
            futex_wait(&self.state, w | WAITERS, timeout);
        }
    }
}

impl Default for ShmEvent {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ShmEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relaxed: a diagnostic snapshot.
        let w = self.state.load(Ordering::Relaxed);
        f.debug_struct("ShmEvent")
            .field("set", &(w & SET != 0))
            .field("auto_reset", &(w & AUTO_RESET != 0))
            .field("waiters", &(w & WAITERS != 0))
            .finish()
    }
}

/// What inspection decodes from an event's word (see `inspect/fields.rs`).
#[cfg(not(loom))]
pub(crate) fn decode(w: u32) -> (bool, bool, bool) {
    (w & SET != 0, w & WAITERS != 0, w & AUTO_RESET != 0)
}

#[cfg(not(loom))]
mod shm_safe_impl {
    use super::ShmEvent;
    use crate::shm_safe::{fingerprint, ShmSafe};

    // SAFETY: `ShmEvent` is `repr(C)` around one `AtomicU32`: every bit
    // pattern is a valid value (unknown bits only take part in the futex
    // comparison), all-zero is an unset manual-reset event, no pointer, no
    // Drop, Send + Sync.
    unsafe impl ShmSafe for ShmEvent {
        const TYPE_NAME: &'static str = "ShmEvent";
        const FINGERPRINT: u64 =
            fingerprint::tagged(fingerprint::SEED, "shmsync::ShmEvent/futex-flag-v1", &[]);
        const LAYOUT: crate::layout::Layout =
            crate::layout::Layout::leaf(crate::layout::Kind::Event);
    }
}
