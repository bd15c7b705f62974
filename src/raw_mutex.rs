//! The robust lock-word state machine shared by [`ShmMutex`](crate::ShmMutex)
//! and the seqlock's writer lock: no data, no `T`, only "who owns this word,
//! is anyone asleep on it, and did an owner die holding it".

use core::time::Duration;

use crate::sync::{
    arrival_probe_due, current_thread, futex_wait_low, futex_wake_low, thread_exists_quick,
    thread_liveness, yield_now, AtomicU64, FutexWait, Instant, Liveness, Ordering, ThreadIdentity,
    LIVENESS_RECHECK,
};

/// Set while threads may be asleep in `futex_wait` on the word: the owner
/// must wake one when it unlocks. (The kernel's `FUTEX_WAITERS`.)
pub(crate) const WAITERS: u64 = 1 << 31;
/// Set when an owner died holding the lock (or panicked): the data may be
/// half-updated. (The kernel's `FUTEX_OWNER_DIED`.)
pub(crate) const OWNER_DIED: u64 = 1 << 30;
/// The owner's kernel thread id (the kernel's `FUTEX_TID_MASK`).
pub(crate) const TID_MASK: u64 = (1 << 30) - 1;
/// Where the low 32 bits of the owner's start time sit.
const START_SHIFT: u32 = 32;
/// Who owns the word: TID and start time, without the two flags.
const OWNER_MASK: u64 = !(WAITERS | OWNER_DIED);
/// The TID field of a mutex that can never be locked again. Never a real
/// thread id: Linux thread ids are below `PID_MAX_LIMIT` = 2^22.
pub(crate) const NOT_RECOVERABLE: u64 = TID_MASK;

/// How many times the slow path gives up its CPU, re-reading a held word
/// that has no sleepers yet, before it sleeps in the kernel. A yield is no
/// spin: while the waiter is off its CPU the owner keeps the lock line and
/// runs uncontended; on a CPU the two share, the yield runs the owner at
/// once. 16 yields (~3.5 µs of CPU when nothing else wants it) gave the
/// best 2- and 4-process throughput here (64 was no better). Under loom the
/// extra re-reads only multiply interleavings, so there are none.
#[cfg(not(loom))]
const YIELDS_BEFORE_SLEEP: u32 = 16;
#[cfg(loom)]
const YIELDS_BEFORE_SLEEP: u32 = 0;

/// How a lock attempt succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Acquired {
    /// The previous owner unlocked normally: the data is consistent.
    Clean,
    /// The previous owner died (or panicked) holding the lock. The caller now
    /// owns it in the inconsistent state: it must repair the data and call
    /// [`RawMutex::make_consistent`] before unlocking, or the mutex becomes
    /// not recoverable.
    OwnerDied,
}

/// Why a lock attempt failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RawLockError {
    /// `try_lock` found the lock held by a live owner.
    WouldBlock,
    /// The deadline passed while the lock was held by a live owner.
    TimedOut,
    /// An owner gave up repairing after an owner death: nobody can ever lock
    /// this mutex again.
    NotRecoverable,
}

/// A snapshot of the lock word for diagnostics (`Debug`), never for logic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RawState {
    /// Free, consistent.
    Unlocked,
    /// Free, but the next locker gets `OwnerDied`.
    UnlockedOwnerDied,
    /// Held (consistent or not).
    Locked,
    /// Terminal.
    NotRecoverable,
}

/// A robust, process-shared lock: one 64-bit word.
///
/// # The lock word
///
/// The low 32 bits of `word` are a futex word with the layout of the
/// kernel's robust futexes: `WAITERS (bit 31) | OWNER_DIED (bit 30) | TID
/// (bits 0..30)`; `futex_wait` and `futex_wake` operate on that half. The
/// high 32 bits hold the low 32 bits of the owner thread's start time (0 =
/// unknown), the guard against TID reuse (see below). All-zero is
/// "unlocked, consistent", so zeroed shared memory is a valid mutex.
///
/// | TID | OWNER_DIED | WAITERS | meaning |
/// |---|---|---|---|
/// | 0 | 0 | 0 | unlocked, consistent (the zeroed state) |
/// | 0 | 0 | 1 | unlocked; a stale waiters bit (this protocol never leaves one, a foreign writer might); locking keeps the bit so nobody's wakeup is lost |
/// | 0 | 1 | 0/1 | unlocked, inconsistent: the last owner panicked; the next locker gets `OwnerDied` |
/// | t | 0 | 0 | locked by thread t, nobody asleep |
/// | t | 0 | 1 | locked by t, waiters may be asleep: t's unlock must wake one |
/// | t | 1 | 0/1 | locked by t, which took it over from a dead owner; inconsistent until t calls `make_consistent` |
/// | `NOT_RECOVERABLE` | any | any | terminal: every lock attempt fails with `NotRecoverable` |
///
/// (`NOT_RECOVERABLE` is the all-ones TID, which no Linux thread can have.)
/// Whenever the TID is non-zero, the high half is that owner's start time;
/// when it is 0 the high half is 0 (and ignored). A TID naming no live
/// thread (a dead owner, or garbage written by a broken peer) is recovered
/// from like any dead owner.
///
/// Transitions, and who may make them (`t` stands for TID and start time;
/// every transition is one CAS of the whole word):
///
/// | from | to | by | ordering |
/// |---|---|---|---|
/// | `0` | `t` | locker t (fast path) | acquire |
/// | `0\|W` | `t\|W` | locker t | acquire |
/// | `D[\|W]` | `t\|D[\|W]` | locker t, which gets `OwnerDied` | acquire |
/// | `t[\|D]` | `t[\|D]\|W` | any waiter, before it sleeps | relaxed |
/// | `t` | `0` | owner t: unlock (fast path) | release |
/// | `t\|W` | `0`, wake one | owner t: unlock | release |
/// | `t[\|D][\|W]` | `D`, wake one if W | owner t, unlocking while it panics | release |
/// | `t\|D[\|W]` | `t[\|W]` | owner t: `make_consistent` | relaxed |
/// | `t\|D[\|W]` | `NOT_RECOVERABLE`, wake all | owner t: unlock without `make_consistent`, or `abandon` | release |
/// | `t\|x` (t proven dead) | `u\|D\|x` | locker u, which gets `OwnerDied`; exactly one CAS wins per death | acquire |
/// | `NOT_RECOVERABLE` | — | nobody | — |
///
/// Only the owner clears its TID, so an unlock that finds another owner in
/// the word is a bug, reported by a panic (see [`RawMutex::unlock`]).
///
/// # Owner death and TID reuse
///
/// A waiter checks the owner when it arrives at a held lock (`kill` only,
/// and at most once per [`LIVENESS_RECHECK`] per thread: a contended lock
/// is entered over and over) and thoroughly after each sleep that timed
/// out, so a dead owner is found within one liveness interval either way.
/// A waiter proves the owner dead with `kill(tid, 0)` = `ESRCH`, a zombie
/// state in `/proc`, or a *different start time* of the thread that now has
/// that TID: Linux reuses thread ids (`pid_max` may be as low as 32768), and
/// without the start time a dead owner whose TID now names another running
/// thread would hold the lock forever. Because the TID and the start time
/// are one atomic word, a waiter always judges a TID by its own owner's
/// start time, never by another owner's (which could call a live thread
/// dead); and taking the lock and recording the owner is one CAS, so the
/// uncontended path costs one atomic operation each way.
#[repr(C)]
pub(crate) struct RawMutex {
    /// See the state table above.
    word: AtomicU64,
}

/// The owner bits of thread `me`: its TID and the low 32 bits of its start
/// time (the liveness check compares start times modulo 2^32 too).
#[inline]
fn owner_bits(me: ThreadIdentity) -> u64 {
    (me.start_time << START_SHIFT) | u64::from(me.tid)
}

/// The futex half of a lock word.
#[inline]
#[allow(clippy::cast_possible_truncation)]
fn futex_half(word: u64) -> u32 {
    word as u32
}

/// Answers "is the owner of this lock word still running?" for the slow
/// paths. Production code uses [`SystemOracle`]; unit tests inject a model.
pub(crate) trait OwnerOracle {
    /// Liveness of thread `tid` that recorded start time `start` (0 =
    /// unknown). `thorough == false` asks for the cheap check only (no TID
    /// reuse or zombie detection needed). Must answer `Dead` only on proof.
    fn liveness(&self, tid: u32, start: u64, thorough: bool) -> Liveness;

    /// Whether thread ids in this lock word can be judged at all (false in
    /// a segment shared across PID namespaces: then nobody is ever declared
    /// dead, and a TID equal to ours may be another namespace's thread).
    fn detection_enabled(&self) -> bool;
}

/// The real liveness checks of [`crate::sync`], gated by the segment's
/// robustness option for the address of the lock word.
pub(crate) struct SystemOracle {
    /// Address of the lock word, to look up its segment's options.
    #[cfg_attr(loom, allow(dead_code))]
    addr: usize,
}

impl OwnerOracle for SystemOracle {
    fn liveness(&self, tid: u32, start: u64, thorough: bool) -> Liveness {
        let verdict = if thorough { thread_liveness(tid, start) } else { thread_exists_quick(tid) };
        if verdict == Liveness::Dead && !self.detection_enabled() {
            return Liveness::Alive;
        }
        verdict
    }

    fn detection_enabled(&self) -> bool {
        #[cfg(not(loom))]
        return crate::segment::owner_death_detection_enabled(self.addr);
        #[cfg(loom)]
        return true;
    }
}

/// What the slow path concluded about the current owner.
enum Owner {
    /// Alive (or not provably dead): wait.
    Alive,
    /// Proven dead: try to take over.
    Dead,
    /// It is the calling thread itself.
    Me,
}

impl RawMutex {
    /// An unlocked, consistent mutex (the same as all-zero bytes).
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        RawMutex { word: AtomicU64::new(0) }
    }

    /// An unlocked, consistent mutex (loom atomics have no `const` `new`).
    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        RawMutex { word: AtomicU64::new(0) }
    }

    fn oracle(&self) -> SystemOracle {
        SystemOracle { addr: core::ptr::from_ref(&self.word) as usize }
    }

    // -----------------------------------------------------------------
    // public (crate) operations on the calling thread
    // -----------------------------------------------------------------

    /// Acquires the lock, blocking until `deadline` (forever if `None`).
    ///
    /// Returns `OwnerDied` if the previous owner died or panicked holding it;
    /// the caller then owns the lock in the inconsistent state.
    ///
    /// # Errors
    ///
    /// `TimedOut` if `deadline` passed while a live thread held the lock;
    /// `NotRecoverable` if the mutex was abandoned after an owner death.
    ///
    /// # Panics
    ///
    /// If the calling thread already holds the lock (a self-deadlock), when
    /// that can be proven (the thread's start time is known).
    #[inline]
    pub(crate) fn lock(&self, deadline: Option<Instant>) -> Result<Acquired, RawLockError> {
        let me = current_thread();
        if self.try_lock_fast(me) {
            return Ok(Acquired::Clean);
        }
        self.lock_slow(me, deadline, &self.oracle())
    }

    /// Acquires the lock if that needs no waiting. A lock held by a dead
    /// owner is taken over (`OwnerDied`) without waiting.
    ///
    /// # Errors
    ///
    /// `WouldBlock` if a live thread (possibly the caller) holds the lock;
    /// `NotRecoverable` as for [`lock`](Self::lock).
    #[inline]
    pub(crate) fn try_lock(&self) -> Result<Acquired, RawLockError> {
        let me = current_thread();
        if self.try_lock_fast(me) {
            return Ok(Acquired::Clean);
        }
        self.try_lock_slow(me, &self.oracle())
    }

    /// Releases the lock held by the calling thread.
    ///
    /// If the lock is still inconsistent (acquired with `OwnerDied` and not
    /// made consistent), it becomes not recoverable instead (pthread
    /// semantics): the data was left half-repaired.
    ///
    /// # Panics
    ///
    /// If the calling thread does not own the lock. Correct code cannot get
    /// here; it happens when a guard is used in a thread other than the one
    /// that locked (e.g. a `fork`ed child, whose only thread has a new TID,
    /// dropping a guard it inherited), when shared memory was overwritten,
    /// or when the owner was wrongly declared dead (a segment shared across
    /// PID namespaces without the non-robust option). While the thread is
    /// already panicking the check reports nothing and leaves the word alone.
    #[inline]
    pub(crate) fn unlock(&self) {
        self.release_as(current_thread(), Release::Normal);
    }

    /// Releases the lock but leaves it inconsistent: the next locker gets
    /// `OwnerDied`, as if this owner had died. Used when a guard is dropped
    /// during a panic, which may have left the data half-updated.
    ///
    /// # Panics
    ///
    /// As [`unlock`](Self::unlock), if the caller does not own the lock.
    #[cold]
    pub(crate) fn unlock_inconsistent(&self) {
        self.release_as(current_thread(), Release::Inconsistent);
    }

    /// Gives up on an inconsistent lock the caller owns: releases it and
    /// makes it not recoverable, waking every waiter to report that.
    ///
    /// # Panics
    ///
    /// As [`unlock`](Self::unlock), if the caller does not own the lock.
    #[cold]
    pub(crate) fn abandon(&self) {
        self.release_as(current_thread(), Release::Abandon);
    }

    /// Marks the lock the caller owns consistent again (clears
    /// `OWNER_DIED`): the data has been repaired. A no-op on a consistent lock.
    ///
    /// # Panics
    ///
    /// If the calling thread does not own the lock.
    #[cold]
    pub(crate) fn make_consistent(&self) {
        self.make_consistent_as(current_thread());
    }

    /// Whether the lock the caller owns is inconsistent (`OWNER_DIED` set).
    /// (`ShmMutexGuard` tracks this itself; raw users such as the seqlock's
    /// writer lock may not.)
    #[allow(dead_code)]
    pub(crate) fn is_inconsistent(&self) -> bool {
        // Relaxed: only the owner changes this bit while it owns the lock.
        self.word.load(Ordering::Relaxed) & OWNER_DIED != 0
    }

    /// A snapshot of the state, for `Debug` output only.
    pub(crate) fn state(&self) -> RawState {
        // Relaxed: a diagnostic snapshot, stale the moment it is read.
        let w = self.word.load(Ordering::Relaxed);
        match w & TID_MASK {
            NOT_RECOVERABLE => RawState::NotRecoverable,
            0 if w & OWNER_DIED != 0 => RawState::UnlockedOwnerDied,
            0 => RawState::Unlocked,
            _ => RawState::Locked,
        }
    }

    // -----------------------------------------------------------------
    // the state machine, for an explicit thread identity and oracle
    // -----------------------------------------------------------------

    /// The uncontended acquire: `0 → me`.
    #[inline]
    pub(crate) fn try_lock_fast(&self, me: ThreadIdentity) -> bool {
        // acquire: pairs with the release CAS in `unlock`, so the previous
        // owner's writes to the data are visible to us.
        self.word.compare_exchange(0, owner_bits(me), Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    /// Releases the lock owned by `me` as `how` says.
    #[inline]
    pub(crate) fn release_as(&self, me: ThreadIdentity, how: Release) {
        // release: pairs with the acquire CAS of the next locker, publishing
        // the data written under the lock.
        if matches!(how, Release::Normal)
            && self
                .word
                .compare_exchange(owner_bits(me), 0, Ordering::Release, Ordering::Relaxed)
                .is_ok()
        {
            return;
        }
        self.unlock_slow(me, how);
    }

    /// Takes the free word `observed` (TID 0): keeps `OWNER_DIED` (reported
    /// as `OwnerDied`) and `WAITERS`, and sets `WAITERS` if `keep_waiters`.
    fn try_take_free(
        &self,
        me: ThreadIdentity,
        observed: u64,
        keep_waiters: u64,
    ) -> Option<Acquired> {
        let new = owner_bits(me) | (observed & (OWNER_DIED | WAITERS)) | keep_waiters;
        // acquire: pairs with the release CAS in `unlock`/`unlock_slow`.
        self.word.compare_exchange(observed, new, Ordering::Acquire, Ordering::Relaxed).ok()?;
        Some(if observed & OWNER_DIED != 0 { Acquired::OwnerDied } else { Acquired::Clean })
    }

    /// Judges the owner of the held word `observed`.
    fn judge_owner(
        me: ThreadIdentity,
        observed: u64,
        thorough: bool,
        oracle: &impl OwnerOracle,
    ) -> Owner {
        #[allow(clippy::cast_possible_truncation)]
        let tid = (observed & TID_MASK) as u32;
        let start = observed >> START_SHIFT;
        if tid == me.tid {
            // Our own TID: either we hold it (self-deadlock), or a dead
            // thread that had our TID before us does (TID reuse), or a
            // thread of another PID namespace does.
            if !oracle.detection_enabled() {
                return Owner::Alive;
            }
            if start != 0 && observed & OWNER_MASK == owner_bits(me) {
                return Owner::Me;
            }
            // A quick check would see ourselves alive: only the start time
            // can tell.
            return match oracle.liveness(tid, start, true) {
                Liveness::Dead => Owner::Dead,
                Liveness::Alive => Owner::Alive,
            };
        }
        match oracle.liveness(tid, start, thorough) {
            Liveness::Dead => Owner::Dead,
            Liveness::Alive => Owner::Alive,
        }
    }

    /// Takes over `observed`, whose owner was proven dead: `→ me|D|W…`.
    /// Exactly one competing recoverer's CAS wins.
    fn try_recover(&self, me: ThreadIdentity, observed: u64, keep_waiters: u64) -> bool {
        let new = owner_bits(me) | OWNER_DIED | (observed & WAITERS) | keep_waiters;
        // acquire: `observed` was written by the dead owner's acquiring CAS,
        // which continues the release sequence of the last unlock before it,
        // so the data up to that unlock is visible to us. (What the dead
        // owner wrote itself is ordered by the death proof: its process is
        // gone before `kill`/`/proc` say so.)
        self.word.compare_exchange(observed, new, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    /// The blocking slow path: judge the owner, yield a few times, sleep,
    /// repeat.
    ///
    /// It does not spin. With two processes hammering one lock, a waiter
    /// that spins keeps taking the lock line away from the owner and wins
    /// every hand-off, one cross-CPU transfer per operation; one that
    /// yields or sleeps leaves the owner long uncontended runs. And a waiter sharing
    /// its CPU with the owner (a condition-variable waiter woken by a
    /// notifier that still holds the mutex) only burns the owner's time:
    /// one `pause` is ~140 cycles on recent Intel cores, so the 100 spins
    /// this path once did cost ~5 µs.
    #[cold]
    pub(crate) fn lock_slow(
        &self,
        me: ThreadIdentity,
        deadline: Option<Instant>,
        oracle: &impl OwnerOracle,
    ) -> Result<Acquired, RawLockError> {
        // Once we have slept, other sleepers may exist that only our unlock
        // will wake: acquire with WAITERS set (as std's futex mutex does).
        let mut keep_waiters = 0;
        let mut yields = YIELDS_BEFORE_SLEEP;
        // The first judgement is cheap (`kill` only), and skipped if this
        // thread probed within the last liveness interval (see
        // `arrival_probe_due`: the sleep's timer bounds detection anyway);
        // after a wait that timed out with the lock still held, judge
        // thoroughly.
        let mut judged = false;
        let mut thorough = false;
        loop {
            // Relaxed: only decides what to try; every acquisition is a CAS
            // with its own acquire ordering.
            let w = self.word.load(Ordering::Relaxed);
            let tid = w & TID_MASK;
            if tid == NOT_RECOVERABLE {
                return Err(RawLockError::NotRecoverable);
            }
            if tid == 0 {
                match self.try_take_free(me, w, keep_waiters) {
                    Some(acquired) => return Ok(acquired),
                    None => continue,
                }
            }
            // Our own TID is always judged at once: that needs no syscall
            // unless the TID was reused, and it catches a self-deadlock.
            if thorough || (!judged && (tid == u64::from(me.tid) || arrival_probe_due())) {
                match Self::judge_owner(me, w, thorough, oracle) {
                    Owner::Me => {
                        panic!("ShmMutex::lock: this thread already holds the lock (self-deadlock)")
                    }
                    Owner::Dead => {
                        if self.try_recover(me, w, keep_waiters) {
                            return Ok(Acquired::OwnerDied);
                        }
                        continue;
                    }
                    Owner::Alive => thorough = false,
                }
            }
            judged = true;
            // While nobody sleeps yet, give the CPU away a few times before
            // sleeping: re-reading the word once per yield costs the owner
            // at most one line transfer per yield, not one per spin.
            if yields > 0 && w & WAITERS == 0 {
                yields -= 1;
                yield_now();
                continue;
            }
            if w & WAITERS == 0 {
                // Relaxed: only announces a sleeper; the futex syscall
                // re-checks the word atomically with going to sleep.
                if self
                    .word
                    .compare_exchange(w, w | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
                {
                    continue;
                }
            }
            let timeout = match deadline {
                None => LIVENESS_RECHECK,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left == Duration::ZERO {
                        return Err(RawLockError::TimedOut);
                    }
                    Some(LIVENESS_RECHECK.map_or(left, |recheck| recheck.min(left)))
                }
            };
            let woke = futex_wait_low(&self.word, futex_half(w | WAITERS), timeout);
            keep_waiters = WAITERS;
            // A timeout means the owner held the lock a whole interval
            // without unlocking: check it properly. Without a liveness timer
            // (loom) every wakeup may stand for one.
            thorough = woke == FutexWait::TimedOut || LIVENESS_RECHECK.is_none();
        }
    }

    /// The non-blocking slow path.
    #[cold]
    pub(crate) fn try_lock_slow(
        &self,
        me: ThreadIdentity,
        oracle: &impl OwnerOracle,
    ) -> Result<Acquired, RawLockError> {
        // A few rounds only: try_lock must not spin on a busy word.
        for _ in 0..4 {
            // Relaxed: see `lock_slow`.
            let w = self.word.load(Ordering::Relaxed);
            let tid = w & TID_MASK;
            if tid == NOT_RECOVERABLE {
                return Err(RawLockError::NotRecoverable);
            }
            if tid == 0 {
                match self.try_take_free(me, w, 0) {
                    Some(acquired) => return Ok(acquired),
                    None => continue,
                }
            }
            match Self::judge_owner(me, w, true, oracle) {
                Owner::Me | Owner::Alive => return Err(RawLockError::WouldBlock),
                Owner::Dead => {
                    if self.try_recover(me, w, 0) {
                        return Ok(Acquired::OwnerDied);
                    }
                }
            }
        }
        Err(RawLockError::WouldBlock)
    }

    /// The unlock slow path: waiters to wake, an inconsistent lock, or a
    /// caller that does not own the lock.
    #[cold]
    fn unlock_slow(&self, me: ThreadIdentity, how: Release) {
        // Relaxed: the CAS below re-checks; we only need a starting value.
        let mut w = self.word.load(Ordering::Relaxed);
        let new = loop {
            if w & OWNER_MASK != owner_bits(me) {
                not_owner_panic(w, me);
                return;
            }
            let new = match how {
                Release::Normal if w & OWNER_DIED == 0 => 0,
                Release::Normal | Release::Abandon => NOT_RECOVERABLE,
                Release::Inconsistent => OWNER_DIED,
            };
            // release: pairs with the acquire CAS of the next locker.
            match self.word.compare_exchange(w, new, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => break new,
                Err(actual) => w = actual,
            }
        };
        if new == NOT_RECOVERABLE {
            // Every waiter must learn that it will never get the lock.
            futex_wake_low(&self.word, u32::MAX);
        } else if w & WAITERS != 0 {
            // One is enough: it acquires with WAITERS set, so its unlock
            // wakes the next.
            futex_wake_low(&self.word, 1);
        }
    }

    pub(crate) fn make_consistent_as(&self, me: ThreadIdentity) {
        // Relaxed: the repaired data is published by the release in unlock.
        let mut w = self.word.load(Ordering::Relaxed);
        loop {
            if w & OWNER_MASK != owner_bits(me) {
                not_owner_panic(w, me);
                return;
            }
            if w & OWNER_DIED == 0 {
                return;
            }
            // Relaxed: as above. A CAS, not a store: waiters may be setting
            // WAITERS concurrently.
            match self.word.compare_exchange(
                w,
                w & !OWNER_DIED,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => w = actual,
            }
        }
    }
}

/// How `unlock_slow` releases.
#[derive(Clone, Copy)]
pub(crate) enum Release {
    /// Unlock; an inconsistent lock becomes not recoverable.
    Normal,
    /// Unlock, leaving (or making) it inconsistent for the next locker.
    Inconsistent,
    /// Make it not recoverable.
    Abandon,
}

#[cold]
fn not_owner_panic(word: u64, me: ThreadIdentity) {
    if std::thread::panicking() {
        // A second panic would abort; the first one already reports a bug.
        return;
    }
    panic!(
        "ShmMutex unlocked by thread {} which does not own it (lock word {word:#018x}): a guard \
         was moved to another thread or inherited across fork(), the shared memory was \
         overwritten, or the owner was wrongly taken for dead",
        me.tid
    );
}

impl Default for RawMutex {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for RawMutex {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RawMutex").field("state", &self.state()).finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
