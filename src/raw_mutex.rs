//! The robust lock-word state machine shared by [`ShmMutex`](crate::ShmMutex)
//! and the seqlock's writer lock: no data, no `T`, only "who owns this word,
//! is anyone asleep on it, and did an owner die holding it".

use core::time::Duration;

use crate::sync::{
    arrival_probe_due, current_thread, futex_wait_low, futex_wake_low, owner_liveness, plan_sleep,
    sleep_watched, AtomicU64, Backoff, Instant, Liveness, Ordering, SleepPlan, ThreadIdentity,
    LIVENESS_RECHECK, LOCK_WAIT, WATCHED_RECHECK,
};

pub(crate) mod word;

use word::{
    has_waiters, is_free, is_not_recoverable, is_owned_by, low_half, owner_bits, owner_died, tid,
    token,
};
pub(crate) use word::{NOT_RECOVERABLE, OWNER_DIED, WAITERS};

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

/// What one lock operation makes of the raw lock's refusals: the typed
/// layers give each operation (untimed, `try_`, timed) an error naming only
/// the failures it can meet, and say here which those are. A refusal the
/// operation cannot meet is a bug in the raw lock, hence `unreachable!`.
///
/// | refusal | untimed (`lock`) | `try_lock` | `lock_timeout` |
/// |---|---|---|---|
/// | `NotRecoverable` | yes | yes | yes |
/// | `WouldBlock` | no | yes | no |
/// | `TimedOut` | no | no | yes |
pub(crate) trait FromRefusal: Sized {
    /// The lock is not recoverable: every operation can meet this.
    const NOT_RECOVERABLE: Self;
    /// A live owner holds the lock: only the `try_` forms refuse to wait.
    const WOULD_BLOCK: Option<Self>;
    /// The deadline passed: only the timed forms have one.
    const TIMED_OUT: Option<Self>;

    /// The operation's error for the raw refusal `e`.
    fn refused(e: RawLockError) -> Self {
        match e {
            RawLockError::NotRecoverable => Self::NOT_RECOVERABLE,
            RawLockError::WouldBlock => Self::WOULD_BLOCK
                .unwrap_or_else(|| unreachable!("only a try_ lock refuses to wait")),
            RawLockError::TimedOut => {
                Self::TIMED_OUT.unwrap_or_else(|| unreachable!("only a timed lock has a deadline"))
            }
        }
    }
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
/// high 32 bits hold the owning process's *token* (see `word.rs` and
/// `sys/token.rs`), which is what a waiter tests to prove the owner dead.
/// All-zero is "unlocked, consistent", so zeroed shared memory is a valid
/// mutex.
///
/// | TID | OWNER_DIED | WAITERS | meaning |
/// |---|---|---|---|
/// | 0 | 0 | 0 | unlocked, consistent (the zeroed state) |
/// | 0 | 0 | 1 | unlocked; a stale waiters bit (this protocol never leaves one, a foreign writer might); locking keeps the bit so nobody's wakeup is lost |
/// | 0 | 1 | 0/1 | unlocked, inconsistent: the last owner panicked; the next locker gets `OwnerDied` |
/// | t | 0 | 0 | locked by thread t of the process whose token is in the high half, nobody asleep |
/// | t | 0 | 1 | locked by t, waiters may be asleep: t's unlock must wake one |
/// | t | 1 | 0/1 | locked by t, which took it over from a dead owner; inconsistent until t calls `make_consistent` |
/// | `NOT_RECOVERABLE` | any | any | terminal: every lock attempt fails with `NotRecoverable` |
///
/// (`NOT_RECOVERABLE` is the all-ones TID, which no Linux thread can have.)
/// Whenever the TID is non-zero the high half is the owner's token; when it
/// is 0 the high half is 0 (and ignored). A token that no process holds (a
/// dead owner, or garbage written by a broken peer) is recovered from like
/// any dead owner.
///
/// Transitions, and who may make them (`t` stands for TID and token; every
/// transition is one CAS of the whole word):
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
/// | `t\|x` (t's process proven gone) | `u\|D\|x` | locker u, which gets `OwnerDied`; exactly one CAS wins per death | acquire |
/// | `NOT_RECOVERABLE` | — | nobody | — |
///
/// Only the owner clears its TID, so an unlock that finds another owner in
/// the word is a bug, reported by a panic (see [`RawMutex::unlock`]).
///
/// # Owner death
///
/// An owner is dead when no process that maps its guard remains: its
/// process and the children it forked without exec have all exited or
/// exec'd (see `sys/liveness.rs` for the rule and the kernel's part). A
/// thread that exits with a leaked guard in a live process keeps the lock
/// held, so a guard can never be handed out twice. A word whose token is the
/// caller's own is owned by a live thread of the caller's process (itself,
/// if the TID is its own: a self-deadlock). Any other token is tested with
/// one `F_OFD_GETLK` on the word's segment; a word outside every segment is
/// never declared dead.
///
/// A waiter tests when it arrives at a held lock (at most once per
/// [`LIVENESS_RECHECK`] per thread: a contended lock is entered over and
/// over) and then whenever [`LIVENESS_RECHECK`] has passed since its last
/// test, whatever woke it (an unlock, a signal, a timeout), so a dead owner
/// is found within one interval of its death.
#[repr(C)]
pub(crate) struct RawMutex {
    /// See the state table above.
    word: AtomicU64,
}

/// Answers "is the owner of this lock word still running?" for the slow
/// paths. Production code uses [`SystemOracle`]; unit tests inject a model.
pub(crate) trait OwnerOracle {
    /// Whether the process whose token is `token` still maps this lock
    /// word. Must answer `Dead` only on proof.
    fn process_liveness(&self, token: u32) -> Liveness;

    /// How to sleep behind the live owner `token` of another process (see
    /// [`SleepPlan`]). The default re-checks on the liveness timer.
    fn plan_sleep(&self, _token: u32) -> SleepPlan {
        SleepPlan::Poll
    }
}

/// The kernel-held proof of `crate::sync::owner_liveness`, for the lock
/// word at `addr`.
pub(crate) struct SystemOracle {
    /// Address of the lock word (or of anything else in its segment), to
    /// find the segment that holds it.
    pub(crate) addr: usize,
}

impl OwnerOracle for SystemOracle {
    fn process_liveness(&self, token: u32) -> Liveness {
        owner_liveness(self.addr, token)
    }

    fn plan_sleep(&self, token: u32) -> SleepPlan {
        plan_sleep(self.addr, token)
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
    crate::sync::const_unless_loom! {
        /// An unlocked, consistent mutex (the same as all-zero bytes).
        pub(crate) const fn new() -> Self {
            RawMutex { word: AtomicU64::new(0) }
        }
    }

    pub(crate) fn oracle(&self) -> SystemOracle {
        SystemOracle { addr: self.addr() }
    }

    /// The address of the lock word: names the segment for liveness proofs.
    pub(crate) fn addr(&self) -> usize {
        core::ptr::from_ref(&self.word) as usize
    }

    /// The lock word, for locks built on this one that read it (the
    /// rwlock's readers check for a writer with it).
    #[inline]
    pub(crate) fn load(&self, order: Ordering) -> u64 {
        self.word.load(order)
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
    /// If the calling thread already holds the lock (a self-deadlock). (A
    /// guard leaked by an exited thread of this process whose TID the kernel
    /// has since given to the caller looks the same: it is reported the
    /// same way rather than waited for forever.)
    #[inline]
    pub(crate) fn lock(&self, deadline: Option<Instant>) -> Result<Acquired, RawLockError> {
        self.lock_with(current_thread(), deadline, &self.oracle())
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
        self.try_lock_with(current_thread(), &self.oracle())
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
    /// that locked (e.g. a `fork`ed child, whose process has a new token,
    /// dropping a guard it inherited), or when shared memory was overwritten.
    /// While the thread is already panicking the check reports nothing and
    /// leaves the word alone.
    #[inline]
    pub(crate) fn unlock(&self) {
        self.release_as(current_thread(), UnlockMode::Normal);
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
        self.release_as(current_thread(), UnlockMode::Inconsistent);
    }

    /// Gives up on an inconsistent lock the caller owns: releases it and
    /// makes it not recoverable, waking every waiter to report that.
    ///
    /// # Panics
    ///
    /// As [`unlock`](Self::unlock), if the caller does not own the lock.
    #[cold]
    pub(crate) fn abandon(&self) {
        self.release_as(current_thread(), UnlockMode::Abandon);
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
    /// Tests only: every caller that can make a lock inconsistent
    /// (`ShmMutexGuard`, the seqlock's and broadcast's sender lock, the
    /// rwlock's write guard) tracks that itself.
    #[cfg(test)]
    pub(crate) fn is_inconsistent(&self) -> bool {
        // Relaxed: only the owner changes this bit while it owns the lock.
        owner_died(self.word.load(Ordering::Relaxed))
    }

    /// A snapshot of the state, for `Debug` output only.
    pub(crate) fn state(&self) -> RawState {
        // Relaxed: a diagnostic snapshot, stale the moment it is read.
        let w = self.word.load(Ordering::Relaxed);
        if is_not_recoverable(w) {
            RawState::NotRecoverable
        } else if is_free(w) && owner_died(w) {
            RawState::UnlockedOwnerDied
        } else if is_free(w) {
            RawState::Unlocked
        } else {
            RawState::Locked
        }
    }

    // -----------------------------------------------------------------
    // the state machine, for an explicit thread identity and oracle
    // -----------------------------------------------------------------

    /// [`lock`](Self::lock) for the thread `me`, judging owners with
    /// `oracle`: the rwlock's writer and the unit tests' simulated
    /// processes lock through here.
    ///
    /// # Errors
    ///
    /// As [`lock`](Self::lock).
    ///
    /// # Panics
    ///
    /// As [`lock`](Self::lock), if `me` already holds the lock.
    #[inline]
    pub(crate) fn lock_with(
        &self,
        me: ThreadIdentity,
        deadline: Option<Instant>,
        oracle: &impl OwnerOracle,
    ) -> Result<Acquired, RawLockError> {
        if self.try_lock_fast(me) {
            return Ok(Acquired::Clean);
        }
        self.lock_slow(me, deadline, oracle)
    }

    /// [`try_lock`](Self::try_lock) for the thread `me`, judging owners
    /// with `oracle`.
    ///
    /// # Errors
    ///
    /// As [`try_lock`](Self::try_lock).
    #[inline]
    pub(crate) fn try_lock_with(
        &self,
        me: ThreadIdentity,
        oracle: &impl OwnerOracle,
    ) -> Result<Acquired, RawLockError> {
        if self.try_lock_fast(me) {
            return Ok(Acquired::Clean);
        }
        self.try_lock_slow(me, oracle)
    }

    /// The uncontended acquire: `0 → me`.
    #[inline]
    pub(crate) fn try_lock_fast(&self, me: ThreadIdentity) -> bool {
        // acquire: pairs with the release CAS in `unlock`, so the previous
        // owner's writes to the data are visible to us.
        self.word.compare_exchange(0, owner_bits(me), Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    /// Releases the lock owned by `me` as `how` says.
    #[inline]
    pub(crate) fn release_as(&self, me: ThreadIdentity, how: UnlockMode) {
        // release: pairs with the acquire CAS of the next locker, publishing
        // the data written under the lock.
        if matches!(how, UnlockMode::Normal)
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
        Some(if owner_died(observed) { Acquired::OwnerDied } else { Acquired::Clean })
    }

    /// Judges the owner of the held word `observed`.
    fn judge_owner(me: ThreadIdentity, observed: u64, oracle: &impl OwnerOracle) -> Owner {
        if token(observed) == me.token {
            // A thread of our own process: alive, since we are. If it is
            // this very thread, the caller would wait for itself forever.
            return if tid(observed) == me.tid { Owner::Me } else { Owner::Alive };
        }
        match oracle.process_liveness(token(observed)) {
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
        // owner wrote itself is ordered by the death proof: the kernel drops
        // its token lock at exit, under the file-lock spinlock that our
        // `F_OFD_GETLK` then takes.)
        self.word.compare_exchange(observed, new, Ordering::Acquire, Ordering::Relaxed).is_ok()
    }

    /// The blocking slow path: judge the owner, yield a few times, sleep,
    /// re-judge whenever a liveness interval has passed, repeat.
    ///
    /// It does not spin. With two processes hammering one lock, a waiter
    /// that spins keeps taking the lock line away from the owner and wins
    /// every hand-off, one cross-CPU transfer per operation; one that
    /// yields or sleeps leaves the owner long uncontended runs. And a waiter
    /// sharing its CPU with the owner (a condition-variable waiter woken by
    /// a notifier that still holds the mutex) only burns the owner's time.
    #[cold]
    fn lock_slow(
        &self,
        me: ThreadIdentity,
        deadline: Option<Instant>,
        oracle: &impl OwnerOracle,
    ) -> Result<Acquired, RawLockError> {
        // Once we have slept, other sleepers may exist that only our unlock
        // will wake: acquire with WAITERS set (as std's futex mutex does).
        let mut keep_waiters = 0;
        let mut backoff = Backoff::new(LOCK_WAIT);
        // When the owner was last judged alive (or the arrival probe was
        // skipped): the next judgement is due one re-check interval later,
        // whatever wakes us in between. `None`: not judged yet.
        let mut last_judged: Option<Instant> = None;
        // The re-check interval of the current way of sleeping: the liveness
        // timer, or a long safety net while a watcher reports the owner's
        // death (`None`: loom, or no death can be proven).
        let mut recheck = LIVENESS_RECHECK;
        // Under loom there is no timer: every wakeup may stand for one.
        let mut slept_since_judged = false;
        loop {
            // Relaxed: only decides what to try; every acquisition is a CAS
            // with its own acquire ordering.
            let w = self.word.load(Ordering::Relaxed);
            if is_not_recoverable(w) {
                return Err(RawLockError::NotRecoverable);
            }
            if is_free(w) {
                match self.try_take_free(me, w, keep_waiters) {
                    Some(acquired) => return Ok(acquired),
                    None => continue,
                }
            }
            let due = match (last_judged, recheck) {
                // Our own token needs no syscall and catches a
                // self-deadlock, so it is always judged at once.
                (None, _) => token(w) == me.token || arrival_probe_due(),
                (Some(at), Some(interval)) => at.elapsed() >= interval,
                (Some(_), None) => slept_since_judged,
            };
            if due {
                match Self::judge_owner(me, w, oracle) {
                    Owner::Me => {
                        panic!(
                            "locking a shmsync lock (a ShmMutex, a ShmRwLock for writing, or a \
                             SeqLock's or Broadcast's sender lock) that this thread already \
                             holds (self-deadlock): drop the first guard, or finish the \
                             `update`, before locking again"
                        )
                    }
                    Owner::Dead => {
                        if self.try_recover(me, w, keep_waiters) {
                            return Ok(Acquired::OwnerDied);
                        }
                        continue;
                    }
                    Owner::Alive => {}
                }
            }
            if due || last_judged.is_none() {
                last_judged = Some(Instant::now());
                slept_since_judged = false;
            }
            // While nobody sleeps yet, give the CPU away a few times before
            // sleeping: re-reading the word once per yield costs the owner
            // at most one line transfer per yield, not one per spin.
            if !has_waiters(w) && !backoff.is_completed() {
                backoff.snooze();
                continue;
            }
            if !has_waiters(w) {
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
            // How to sleep behind this owner: an owner of our own process
            // cannot die while we live; another process's is watched (its
            // death wakes us) or, failing that, re-checked on the timer.
            let plan =
                if token(w) == me.token { SleepPlan::Never } else { oracle.plan_sleep(token(w)) };
            recheck = match plan {
                SleepPlan::Dead => {
                    if self.try_recover(me, w, keep_waiters) {
                        return Ok(Acquired::OwnerDied);
                    }
                    continue;
                }
                SleepPlan::Watched { .. } => LIVENESS_RECHECK.map(|_| WATCHED_RECHECK),
                SleepPlan::Poll => LIVENESS_RECHECK,
                SleepPlan::Never => None,
            };
            // Sleep until the next judgement is due (or the deadline).
            let until_judgement = match (last_judged, recheck) {
                (Some(at), Some(interval)) => Some(interval.saturating_sub(at.elapsed())),
                _ => None,
            };
            let timeout = match deadline {
                None => until_judgement,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left == Duration::ZERO {
                        return Err(RawLockError::TimedOut);
                    }
                    Some(until_judgement.map_or(left, |j| j.min(left)))
                }
            };
            if timeout != Some(Duration::ZERO) {
                let expected = low_half(w | WAITERS);
                match plan {
                    SleepPlan::Watched { epoch } => {
                        sleep_watched(&self.word, expected, epoch, timeout);
                    }
                    _ => {
                        futex_wait_low(&self.word, expected, timeout);
                    }
                }
            }
            keep_waiters = WAITERS;
            slept_since_judged = true;
        }
    }

    /// The non-blocking slow path.
    #[cold]
    fn try_lock_slow(
        &self,
        me: ThreadIdentity,
        oracle: &impl OwnerOracle,
    ) -> Result<Acquired, RawLockError> {
        // A few rounds only: try_lock must not spin on a busy word.
        for _ in 0..4 {
            // Relaxed: see `lock_slow`.
            let w = self.word.load(Ordering::Relaxed);
            if is_not_recoverable(w) {
                return Err(RawLockError::NotRecoverable);
            }
            if is_free(w) {
                match self.try_take_free(me, w, 0) {
                    Some(acquired) => return Ok(acquired),
                    None => continue,
                }
            }
            match Self::judge_owner(me, w, oracle) {
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
    fn unlock_slow(&self, me: ThreadIdentity, how: UnlockMode) {
        // Relaxed: the CAS below re-checks; we only need a starting value.
        let mut w = self.word.load(Ordering::Relaxed);
        let new = loop {
            if !is_owned_by(w, me) {
                not_owner_panic(w, me);
                return;
            }
            let new = match how {
                UnlockMode::Normal if !owner_died(w) => 0,
                UnlockMode::Normal | UnlockMode::Abandon => NOT_RECOVERABLE,
                UnlockMode::Inconsistent => OWNER_DIED,
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
        } else if has_waiters(w) {
            // One is enough: it acquires with WAITERS set, so its unlock
            // wakes the next.
            futex_wake_low(&self.word, 1);
        }
    }

    pub(crate) fn make_consistent_as(&self, me: ThreadIdentity) {
        // Relaxed: the repaired data is published by the release in unlock.
        let mut w = self.word.load(Ordering::Relaxed);
        loop {
            if !is_owned_by(w, me) {
                not_owner_panic(w, me);
                return;
            }
            if !owner_died(w) {
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

/// The state an owner's unlock leaves the lock in (see the transition
/// table of [`RawMutex`]). Not an atomic ordering: every unlock is a
/// release CAS whatever the mode.
#[derive(Clone, Copy)]
pub(crate) enum UnlockMode {
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
        "unlocking a shmsync lock (a ShmMutex, a ShmRwLock's write lock, or a SeqLock's or \
         Broadcast's sender lock) from thread {}, which does not own it (lock word \
         {word:#018x}): a guard was moved to another thread or inherited across fork(), or the \
         shared memory was overwritten; drop each guard in the thread that took it",
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
