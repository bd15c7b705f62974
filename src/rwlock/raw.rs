//! The reader-writer lock's state machine, without `T`: a robust writer
//! lock, a holder table of readers, and two wake-up words. The state table
//! is in the docs of [`ShmRwLock`](crate::ShmRwLock) (module `rwlock`).

use crate::holders::Holders;
use crate::raw_mutex::word::{is_free, is_not_recoverable, owner_died, tid, token, TID_MASK};
use crate::raw_mutex::OWNER_DIED;
use crate::raw_mutex::{Acquired, OwnerOracle, RawLockError, RawMutex, SystemOracle, UnlockMode};
use crate::sync::{
    arrival_probe_due, fence, Backoff, Liveness, Ordering, SleepPlan, ThreadIdentity, LOCK_WAIT,
};
use crate::wake_seq::{Expired, Wait, WakeSeq};

/// See the state table in the docs of `ShmRwLock`, which keeps it
/// `CachePadded`: the writer word and the wake words share the first line,
/// the reader slots (`Holders`, itself line-aligned) start the second.
#[repr(C)]
pub(crate) struct RawRwLock {
    /// The writer lock: held by the writer, and by a writer waiting for
    /// the readers to leave. Its word is at offset 0 (inspection reads it).
    writer: RawMutex,
    /// Readers waiting for the writer lock to be released sleep here; the
    /// writer notifies after releasing it.
    readers_wait: WakeSeq,
    /// The writer waiting for the readers to leave (and readers waiting
    /// for a free slot) sleep here; leaving readers notify.
    drain: WakeSeq,
    /// The readers: one slot per reading process (at offset 64).
    readers: Holders,
}

/// How a read attempt ended well.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadAcquired {
    /// A shared read, counted in this holder slot (a hint for the release).
    Shared(usize),
    /// The writer lock's owner died (or panicked) holding it: the caller
    /// now holds the *writer* lock, inconsistent, with every reader gone.
    OwnerDied,
}

/// A snapshot of the writer lock for `Debug`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriterState {
    Unlocked,
    UnlockedOwnerDied,
    Locked,
    NotRecoverable,
}

impl RawRwLock {
    crate::sync::const_unless_loom! {
        /// Unlocked, no readers (the same as zeroed memory).
        pub(crate) const fn new() -> Self {
            RawRwLock {
                writer: RawMutex::new(),
                readers_wait: WakeSeq::new(),
                drain: WakeSeq::new(),
                readers: Holders::new(),
            }
        }
    }

    /// The liveness oracle of the segment this lock lives in. Inline and
    /// free, since every read builds it before its fast path: the lock's
    /// own address names the segment (it is the writer word's too).
    #[inline]
    pub(crate) fn oracle(&self) -> SystemOracle {
        SystemOracle { addr: core::ptr::from_ref(self) as usize }
    }

    // -----------------------------------------------------------------
    // readers
    // -----------------------------------------------------------------

    /// Takes a read share for the thread `me`, judging owners with
    /// `oracle`: every read form of `ShmRwLock`, and the unit tests'
    /// simulated processes, read through here. The uncontended read is the
    /// inline fast path; `wait` is asked for only when it fails, so a timed
    /// read reads the clock only when it may have to wait.
    ///
    /// # Errors
    ///
    /// As the slow path ([`read_slow`](Self::read_slow)): `WouldBlock`,
    /// `TimedOut` as `wait` allows, `NotRecoverable`.
    ///
    /// # Panics
    ///
    /// If `me` holds the write lock and `wait` lets it wait for itself.
    #[inline]
    pub(crate) fn read_with(
        &self,
        me: ThreadIdentity,
        wait: impl FnOnce() -> Wait,
        oracle: &impl OwnerOracle,
    ) -> Result<ReadAcquired, RawLockError> {
        if let Some(slot) = self.try_read_fast(me) {
            return Ok(ReadAcquired::Shared(slot));
        }
        self.read_slow(me, wait(), oracle)
    }

    /// The uncontended read: one CAS on this process's slot, a fence, and
    /// a look at the writer word. `None` if a writer holds or waits for the
    /// lock, or left it inconsistent, or no slot is free: the slow path
    /// decides.
    #[inline]
    fn try_read_fast(&self, me: ThreadIdentity) -> Option<usize> {
        let slot = self.readers.claim(me.token)?;
        // SeqCst: the reader's half of the Dekker pair with a writer, which
        // takes the writer lock, fences (`drain`) and then counts the
        // readers: either it sees this share, or this load sees its lock.
        fence(Ordering::SeqCst);
        // Acquire: pairs with the release CAS that freed the writer lock,
        // so the last writer's writes to the data are visible.
        if self.writer.load(Ordering::Acquire) & KEEPS_READERS_OUT == 0 {
            return Some(slot);
        }
        self.leave(me, slot);
        None
    }

    /// The read slow path: waits for the writer (judging whether it died),
    /// or for a slot. A writer proven dead, or a writer lock left
    /// inconsistent, is taken over: the caller gets the writer lock with
    /// `OwnerDied` (after every reader left), never a read of half-written
    /// data.
    ///
    /// # Panics
    ///
    /// If the calling thread holds the write lock and would wait for itself.
    #[cold]
    fn read_slow(
        &self,
        me: ThreadIdentity,
        wait: Wait,
        oracle: &impl OwnerOracle,
    ) -> Result<ReadAcquired, RawLockError> {
        let mut judge = matches!(wait, Wait::No) || arrival_probe_due();
        let mut backoff = Backoff::new(LOCK_WAIT);
        loop {
            // Acquire: as in `try_read_fast` (the fast path below re-reads).
            let w = self.writer.load(Ordering::Acquire);
            if is_not_recoverable(w) {
                return Err(RawLockError::NotRecoverable);
            }
            if is_free(w) && owner_died(w) {
                // A writer panicked (or a dead one was taken over and
                // released unrepaired): the data may be half-written.
                match self.take_over(me, wait, oracle)? {
                    Some(acquired) => return Ok(acquired),
                    None => continue,
                }
            }
            if is_free(w) {
                if let Some(slot) = self.try_read_fast(me) {
                    return Ok(ReadAcquired::Shared(slot));
                }
                // Lost to a writer, or no slot is free.
                // Relaxed: only decides which wait; the loop re-checks.
                if !is_free(self.writer.load(Ordering::Relaxed)) {
                    continue;
                }
                judge = self.wait_for_slot(me, wait, judge, oracle)?;
                continue;
            }
            // A writer holds the lock or waits for readers to leave.
            let own_process = token(w) == me.token;
            if own_process && tid(w) == me.tid {
                if matches!(wait, Wait::No) {
                    return Err(RawLockError::WouldBlock);
                }
                panic!(
                    "reading a ShmRwLock whose write lock this thread holds (self-deadlock): drop \
                     the write guard first"
                );
            }
            if judge && !own_process && oracle.process_liveness(token(w)) == Liveness::Dead {
                match self.take_over(me, wait, oracle)? {
                    Some(acquired) => return Ok(acquired),
                    None => continue,
                }
            }
            judge = false;
            let Wait::Until(deadline) = wait else { return Err(RawLockError::WouldBlock) };
            if !backoff.is_completed() {
                backoff.snooze();
                continue;
            }
            let expected = self.readers_wait.prepare();
            // Relaxed: ordered after the flag by `prepare`'s fence; a
            // release of the writer lock since then is seen here, or its
            // notify sees the flag.
            if self.writer.load(Ordering::Relaxed) != w {
                continue;
            }
            let plan = if own_process { SleepPlan::Never } else { oracle.plan_sleep(token(w)) };
            if plan == SleepPlan::Dead {
                match self.take_over(me, wait, oracle)? {
                    Some(acquired) => return Ok(acquired),
                    None => continue,
                }
            }
            match self.readers_wait.sleep(expected, plan, deadline) {
                Ok(judge_next) => judge = judge_next,
                Err(Expired) => return Err(RawLockError::TimedOut),
            }
        }
    }

    /// A reader found the writer dead or the data inconsistent: takes the
    /// writer lock the robust way. `OwnerDied` (exactly one locker per
    /// death gets it): waits for the readers to leave and returns it. A
    /// clean lock (someone repaired meanwhile): reads through it. `None`:
    /// start over.
    fn take_over(
        &self,
        me: ThreadIdentity,
        wait: Wait,
        oracle: &impl OwnerOracle,
    ) -> Result<Option<ReadAcquired>, RawLockError> {
        match self.lock_writer(me, wait, oracle)? {
            Acquired::OwnerDied => match self.drain_readers(me, wait, oracle) {
                Ok(()) => Ok(Some(ReadAcquired::OwnerDied)),
                Err(e) => {
                    // Still unrepaired: the next locker is told.
                    self.write_unlock(me, UnlockMode::Inconsistent);
                    Err(e)
                }
            },
            Acquired::Clean => {
                // No writer can be draining while we hold the writer lock,
                // so this share needs no fence; the next writer's locking
                // CAS reads our release, which is ordered after it.
                let slot = self.readers.claim(me.token);
                self.write_unlock(me, UnlockMode::Normal);
                Ok(slot.map(ReadAcquired::Shared))
            }
        }
    }

    /// Every slot belongs to another process: reclaims dead readers' slots,
    /// or waits until a reader leaves. Returns whether to judge next time.
    fn wait_for_slot(
        &self,
        me: ThreadIdentity,
        wait: Wait,
        judge: bool,
        oracle: &impl OwnerOracle,
    ) -> Result<bool, RawLockError> {
        if self.readers.scan().room_for(me.token) {
            // The fast path lost to something else (the writer word turned
            // owner-died in between): look again.
            return Ok(judge);
        }
        if judge && self.reclaim_dead(me, oracle) {
            return Ok(false);
        }
        let Wait::Until(deadline) = wait else { return Err(RawLockError::WouldBlock) };
        let expected = self.drain.prepare();
        if self.readers.scan().room_for(me.token) {
            return Ok(false);
        }
        // Poll: a reader that leaves notifies, a dead one is found by the
        // judgement after the (short) re-check interval.
        match self.drain.sleep(expected, SleepPlan::Poll, deadline) {
            Ok(judge_next) => Ok(judge_next),
            Err(Expired) => Err(RawLockError::TimedOut),
        }
    }

    /// Gives back the share in `slot` (a hint) of process `me`, and wakes
    /// a writer waiting for the readers to leave.
    ///
    /// # Panics
    ///
    /// If `me`'s process holds no share (a guard inherited across `fork`,
    /// or shared memory overwritten); silent while the thread panics.
    #[inline]
    pub(crate) fn read_unlock(&self, me: ThreadIdentity, slot: usize) {
        if !self.readers.release(me.token, slot) {
            not_a_reader_panic();
            return;
        }
        self.drain.notify();
    }

    /// `read_unlock` of a share taken a moment ago (the fast path lost).
    #[inline]
    fn leave(&self, me: ThreadIdentity, slot: usize) {
        self.readers.release(me.token, slot);
        self.drain.notify();
    }

    // -----------------------------------------------------------------
    // the writer
    // -----------------------------------------------------------------

    /// Takes the write lock: the writer lock, then waits until every
    /// reader left (reclaiming dead readers' shares).
    ///
    /// # Errors
    ///
    /// As `RawMutex::lock` / `try_lock`; `WouldBlock` / `TimedOut` also if
    /// live readers stay. A failed attempt leaves the lock as it found it.
    ///
    /// # Panics
    ///
    /// As `RawMutex::lock`, if this thread holds the write lock.
    pub(crate) fn write(
        &self,
        me: ThreadIdentity,
        wait: Wait,
        oracle: &impl OwnerOracle,
    ) -> Result<Acquired, RawLockError> {
        let acquired = self.lock_writer(me, wait, oracle)?;
        match self.drain_readers(me, wait, oracle) {
            Ok(()) => Ok(acquired),
            Err(e) => {
                let how = match acquired {
                    Acquired::Clean => UnlockMode::Normal,
                    Acquired::OwnerDied => UnlockMode::Inconsistent,
                };
                self.write_unlock(me, how);
                Err(e)
            }
        }
    }

    /// The writer lock alone.
    fn lock_writer(
        &self,
        me: ThreadIdentity,
        wait: Wait,
        oracle: &impl OwnerOracle,
    ) -> Result<Acquired, RawLockError> {
        match wait {
            Wait::No => self.writer.try_lock_with(me, oracle),
            Wait::Until(deadline) => self.writer.lock_with(me, deadline, oracle),
        }
    }

    /// With the writer lock held: waits until the readers' slots sum to 0.
    /// New readers see the writer lock and stay out (writer preference).
    /// Dead readers are judged on arrival and after every re-check
    /// interval; while it sleeps, the death of one live reader of another
    /// process is watched at a time (the writer has to wait for every live
    /// reader anyway), and every leaving reader wakes it to count again.
    fn drain_readers(
        &self,
        me: ThreadIdentity,
        wait: Wait,
        oracle: &impl OwnerOracle,
    ) -> Result<(), RawLockError> {
        // SeqCst: the writer's half of the Dekker pair with
        // `try_read_fast` (our locking CAS came before it).
        fence(Ordering::SeqCst);
        let mut judge = matches!(wait, Wait::No) || arrival_probe_due();
        let mut backoff = Backoff::new(LOCK_WAIT);
        loop {
            if self.readers.sum() == 0 {
                return Ok(());
            }
            if judge {
                judge = false;
                if self.reclaim_dead(me, oracle) {
                    continue;
                }
            }
            let Wait::Until(deadline) = wait else { return Err(RawLockError::WouldBlock) };
            if !backoff.is_completed() {
                backoff.snooze();
                continue;
            }
            let expected = self.drain.prepare();
            let scan = self.readers.scan();
            if scan.sum == 0 {
                return Ok(());
            }
            let watched = scan.others(me.token).next();
            let plan = match watched {
                Some(t) => oracle.plan_sleep(t),
                None => SleepPlan::Never,
            };
            if let (SleepPlan::Dead, Some(t)) = (plan, watched) {
                self.readers.reclaim(t);
                self.drain.notify();
                continue;
            }
            match self.drain.sleep(expected, plan, deadline) {
                Ok(judge_next) => judge = judge_next,
                Err(Expired) => return Err(RawLockError::TimedOut),
            }
        }
    }

    /// Frees the slots of every reader process of another process proven
    /// dead; true if it freed any. Wakes readers waiting for a slot.
    fn reclaim_dead(&self, me: ThreadIdentity, oracle: &impl OwnerOracle) -> bool {
        let scan = self.readers.scan();
        let mut any = false;
        for t in scan.others(me.token) {
            if oracle.process_liveness(t) == Liveness::Dead {
                self.readers.reclaim(t);
                any = true;
            }
        }
        if any {
            self.drain.notify();
        }
        any
    }

    /// Releases the writer lock as `how` says and wakes the readers
    /// waiting for it.
    ///
    /// # Panics
    ///
    /// As `RawMutex::unlock`, if `me` does not hold the writer lock.
    #[inline]
    pub(crate) fn write_unlock(&self, me: ThreadIdentity, how: UnlockMode) {
        self.writer.release_as(me, how);
        self.readers_wait.notify();
    }

    /// Clears the writer lock's `OWNER_DIED` (the data was repaired).
    pub(crate) fn make_consistent_as(&self, me: ThreadIdentity) {
        self.writer.make_consistent_as(me);
    }

    // -----------------------------------------------------------------
    // diagnostics
    // -----------------------------------------------------------------

    /// The writer lock's state, for `Debug`.
    pub(crate) fn writer_state(&self) -> WriterState {
        // Relaxed: a diagnostic snapshot.
        let w = self.writer.load(Ordering::Relaxed);
        if is_not_recoverable(w) {
            WriterState::NotRecoverable
        } else if is_free(w) && owner_died(w) {
            WriterState::UnlockedOwnerDied
        } else if is_free(w) {
            WriterState::Unlocked
        } else {
            WriterState::Locked
        }
    }

    /// The writer lock itself, for tests that hold it without draining.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn writer(&self) -> &RawMutex {
        &self.writer
    }

    /// Read shares held now (a snapshot, counting dead readers not yet
    /// reclaimed), for `Debug`.
    pub(crate) fn readers(&self) -> u64 {
        self.readers.snapshot().sum
    }
}

/// The bits of a writer word that keep readers out: an owner (a non-zero
/// TID, which includes `NOT_RECOVERABLE`) and `OWNER_DIED` (a writer
/// left the data possibly half-written).
const KEEPS_READERS_OUT: u64 = TID_MASK | OWNER_DIED;

#[cold]
fn not_a_reader_panic() {
    if std::thread::panicking() {
        return;
    }
    panic!(
        "ShmRwLock read guard dropped by a process that holds no read share (a guard inherited \
         across fork(), or the shared memory was overwritten)"
    );
}
