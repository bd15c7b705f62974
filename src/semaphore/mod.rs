//! [`ShmSemaphore`]: a counting semaphore in shared memory whose permits
//! come back when the process holding them dies. The holder table is in
//! `holders.rs`.

use core::fmt;
use core::marker::PhantomData;
use core::time::Duration;

use crate::holders::{Holders, Scan};
use crate::raw_mutex::OwnerOracle;
use crate::sync::{
    arrival_probe_due, current_thread, fence, yield_now, AtomicU64, Backoff, Instant, Liveness,
    Ordering, SleepPlan, ThreadIdentity, LOCK_WAIT,
};
use crate::wake_seq::{Expired, Wait, WakeSeq};

/// A counting semaphore that lives in shared memory: at most `permits`
/// threads, in any processes, hold a permit at once, and a permit held by
/// a process that dies comes back to the pool.
///
/// [`acquire`](Self::acquire) waits for a permit and returns a
/// [`SemaphorePermit`] guard, which gives it back when dropped;
/// [`try_acquire`](Self::try_acquire) and
/// [`acquire_timeout`](Self::acquire_timeout) do not wait, or not for
/// long. A permit can also leave the pool by hand
/// ([`SemaphorePermit::forget`]) and be put back, by any process, with
/// [`release`](Self::release), which is also how permits are added.
///
/// # Initialization
///
/// A zeroed `ShmSemaphore` (the state of a new segment) has **no
/// permits**: every `acquire` waits until someone calls `release`. Give it
/// its permits in the segment's initializer, which runs before any other
/// process can see the segment and gets `&mut` access:
///
/// ```
/// use shmsync::{Segment, ShmSafe, ShmSemaphore};
///
/// #[derive(ShmSafe)]
/// #[repr(C)]
/// struct Pool {
///     slots: ShmSemaphore,
/// }
///
/// # let name = format!("doc-semaphore-init-{}", std::process::id());
/// let seg = Segment::<Pool>::create_with(&name, |p| p.slots = ShmSemaphore::new(4))?;
/// assert_eq!(seg.slots.available(), 4);
/// # Ok::<(), shmsync::Error>(())
/// ```
///
/// (With `open_or_create_with` only the creator runs it, so the permits
/// are set exactly once.)
///
/// # Dead holders
///
/// Permits are counted per *process*: a table of 64 slots, one per process
/// holding permits at the moment (its threads share it), each updated with
/// one atomic operation per `acquire` and per permit given back. A process
/// killed at any instruction leaves its permits counted in its slot, and
/// the kernel proves its death (see [`ShmMutex`](crate::ShmMutex), "When
/// is an owner dead?"): a waiting `acquire` is woken by that proof and
/// takes the slot back, so the permits return within a fraction of a
/// millisecond (or, where the kernel cannot report deaths, the next
/// re-check, 0.5 ms). A `try_acquire` that finds no permit takes back the
/// permits of dead holders before it gives up. [`available`](Self::available)
/// and `Debug` count a dead holder's permits as in use until then. At most
/// 64 processes can hold permits at the same time; another waits until a
/// slot frees.
///
/// A thread that exits with a permit leaked (`mem::forget` of the guard)
/// keeps it for as long as its process lives, as a leaked lock guard does.
///
/// Waiters are not served in order of arrival.
///
/// # State
///
/// | offset | word | values | meaning |
/// |---:|---|---|---|
/// | 0 | `total` (`u64`) | permits in existence | `new(n)` sets `n`; `release(k)` adds `k`; `forget` takes one away |
/// | 8 | `wake` (`u32`) | `SLEEPERS` (bit 31) \| sequence | acquirers may be asleep until a permit comes back |
/// | 64 | `holders` (64 × `u64`) | `token << 32 \| n`, 0 = free | the process with that token holds `n` permits |
///
/// Permits in use are the sum of the slots, available ones `total` minus
/// that (0 if the slots add up to more, as they may for a moment after a
/// `forget`): there is no second counter that a kill could leave out of
/// step.
///
/// | operation | steps |
/// |---|---|
/// | `acquire` | if a permit looks available: +1 on its process's slot (one CAS), `fence(SeqCst)`, sum the slots: ≤ `total` → it holds a permit; else −1 again (and wake sleepers, whom the +1 may have turned away). If none looks available: reclaim dead holders' slots, flag a sleeper on `wake`, look again, sleep on `wake` (and on the kernel's report of a holder's death) |
/// | permit drop | −1 on its slot (one CAS, release), `fence(SeqCst)`, wake `wake`'s sleepers if flagged |
/// | `forget` | `total` −1, then −1 on its slot, then wake (a kill in between: the forget happened, the slot is reclaimed) |
/// | `release(k)` | `total` +k (saturating), wake |
/// | a holder proven dead | its slot CAS'd from the value judged to 0 by whoever proved it, then wake |
///
/// Of acquirers counting themselves at the same time, the one whose fence
/// comes last sees all the others: so never more than `total` succeed.
/// Two may both see too many and both step back; they retry at once, so
/// one of them gets the permit.
///
/// # Examples
///
/// ```
/// use shmsync::ShmSemaphore;
///
/// let sem = ShmSemaphore::new(2);
/// let a = sem.acquire();
/// let b = sem.try_acquire().expect("a second permit");
/// assert!(sem.try_acquire().is_err(), "both permits are out");
/// drop(a);
/// let _c = sem.acquire();
/// b.forget(); // handed over by hand: the pool has one permit fewer...
/// sem.release(1); // ...until someone puts it back
/// assert_eq!(sem.available(), 1);
/// ```
// `repr(C)`: `total` and `wake` share the first line; the holder table
// pads itself to lines of its own, so it starts the second (offset 64) and
// makes the semaphore 64-byte aligned and a whole number of lines.
#[repr(C)]
pub struct ShmSemaphore {
    /// Permits in existence.
    total: AtomicU64,
    /// Acquirers asleep until a permit comes back.
    wake: WakeSeq,
    /// Permits held, per process (at offset 64).
    holders: Holders,
}

// The state table's offsets, which inspection and the fingerprint rely on.
#[cfg(not(loom))]
const _: () = assert!(core::mem::offset_of!(ShmSemaphore, holders) == 64);

/// A permit of a [`ShmSemaphore`], given back when dropped.
///
/// It is `!Send`: the permit is counted for the acquiring thread's
/// process, which must give it back.
///
/// ```compile_fail
/// let sem = shmsync::ShmSemaphore::new(1);
/// let p = sem.acquire();
/// std::thread::scope(|s| {
///     s.spawn(move || drop(p)); // error: the permit cannot be sent
/// });
/// ```
///
/// # Panics
///
/// Dropping it (or [`forget`](Self::forget)) panics if the calling process
/// holds no permit of the semaphore: safe code reaches this only across
/// `fork()`, whose child is a new process, or when the shared memory was
/// overwritten. While the thread is already panicking the check stays
/// silent.
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a ShmSemaphore,
    /// The holder slot the permit was counted in (where the drop looks
    /// first).
    slot: usize,
    /// `!Send`: the permit belongs to the acquiring thread's process.
    _not_send: PhantomData<*const ()>,
}

/// Why [`ShmSemaphore::try_acquire`] returned no permit.
///
/// It does not convert into [`Error`](crate::Error); `?` passes it up as a
/// `Box<dyn std::error::Error>` (or an `anyhow::Error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TryAcquireError {
    /// No permit is available (every permit is held by a live process, or
    /// no holder slot is free).
    #[error("no permit of the semaphore is available")]
    WouldBlock,
}

/// Why [`ShmSemaphore::acquire_timeout`] returned no permit.
///
/// It does not convert into [`Error`](crate::Error); `?` passes it up as a
/// `Box<dyn std::error::Error>` (or an `anyhow::Error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AcquireTimeoutError {
    /// No permit became available within the timeout.
    #[error("timed out waiting for a permit of the semaphore")]
    TimedOut,
}

/// Why the state machine ([`ShmSemaphore::acquire_as`]) gave no permit:
/// which of the two depends on how it was told to wait, and each public
/// operation turns the one it can meet into its own error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Told not to wait, and no permit was free.
    WouldBlock,
    /// The deadline passed with no permit free.
    TimedOut,
}

impl ShmSemaphore {
    crate::sync::const_unless_loom! {
        /// A semaphore with `permits` permits.
        ///
        /// A zeroed `ShmSemaphore` has none: in a segment, set it in the
        /// initializer (`create_with(name, |s| s.sem = ShmSemaphore::new(4))`,
        /// see the type's docs).
        ///
        /// # Examples
        ///
        /// ```
        /// static WORKERS: shmsync::ShmSemaphore = shmsync::ShmSemaphore::new(3);
        /// assert_eq!(WORKERS.available(), 3);
        /// ```
        #[must_use]
        pub const fn new(permits: u64) -> Self {
            ShmSemaphore {
                total: AtomicU64::new(permits),
                wake: WakeSeq::new(),
                holders: Holders::new(),
            }
        }
    }

    /// Takes a permit, waiting until one is available.
    ///
    /// A permit whose holder process died comes back within a fraction of
    /// a millisecond even while this thread sleeps. With no permits at all
    /// (a zeroed semaphore) this waits until [`release`](Self::release)
    /// adds some.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = shmsync::ShmSemaphore::new(1);
    /// let permit = sem.acquire();
    /// assert_eq!(sem.available(), 0);
    /// drop(permit);
    /// assert_eq!(sem.available(), 1);
    /// ```
    #[inline]
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        match self.acquire_as(current_thread(), Wait::Until(None), &self.oracle()) {
            Ok(slot) => self.permit(slot),
            Err(e) => unreachable!("an untimed acquire cannot fail: {e:?}"),
        }
    }

    /// Takes a permit if one is available now. Permits of holders proven
    /// dead are taken back first.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::WouldBlock`] if every permit is held by a live
    /// process (or no holder slot is free).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmsync::{ShmSemaphore, TryAcquireError};
    ///
    /// let sem = ShmSemaphore::new(1);
    /// let held = sem.try_acquire()?;
    /// assert_eq!(sem.try_acquire().err(), Some(TryAcquireError::WouldBlock));
    /// drop(held);
    /// # Ok::<(), TryAcquireError>(())
    /// ```
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        match self.acquire_as(current_thread(), Wait::No, &self.oracle()) {
            Ok(slot) => Ok(self.permit(slot)),
            Err(Refused::WouldBlock) => Err(TryAcquireError::WouldBlock),
            Err(Refused::TimedOut) => unreachable!("a try_acquire has no deadline to miss"),
        }
    }

    /// Takes a permit, waiting at most `timeout` for one.
    ///
    /// # Errors
    ///
    /// [`AcquireTimeoutError::TimedOut`] if no permit became available in
    /// time.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmsync::{AcquireTimeoutError, ShmSemaphore};
    /// use std::time::Duration;
    ///
    /// let sem = ShmSemaphore::new(0);
    /// let r = sem.acquire_timeout(Duration::from_millis(5));
    /// assert_eq!(r.err(), Some(AcquireTimeoutError::TimedOut));
    /// ```
    pub fn acquire_timeout(
        &self,
        timeout: Duration,
    ) -> Result<SemaphorePermit<'_>, AcquireTimeoutError> {
        let deadline = Instant::now().checked_add(timeout);
        match self.acquire_as(current_thread(), Wait::Until(deadline), &self.oracle()) {
            Ok(slot) => Ok(self.permit(slot)),
            Err(Refused::TimedOut) => Err(AcquireTimeoutError::TimedOut),
            Err(Refused::WouldBlock) => unreachable!("a timed acquire waits rather than refuse"),
        }
    }

    /// Adds `n` permits to the pool (saturating at `u64::MAX`) and wakes
    /// the waiters: the other half of [`SemaphorePermit::forget`], for a
    /// permit handed over by hand, or simply more permits.
    ///
    /// # Examples
    ///
    /// ```
    /// let sem = shmsync::ShmSemaphore::new(0);
    /// sem.release(2);
    /// assert_eq!(sem.available(), 2);
    /// ```
    pub fn release(&self, n: u64) {
        if n == 0 {
            return;
        }
        // Release: what the releasing thread did before handing the
        // permits over is visible to whoever counts them (acquire loads of
        // `total` in `acquire_as`).
        let _ = self
            .total
            .fetch_update(Ordering::Release, Ordering::Relaxed, |t| Some(t.saturating_add(n)));
        self.wake.notify();
    }

    /// Permits available now: the total minus those held (a snapshot,
    /// stale at once; permits of a dead holder count as held until an
    /// acquirer takes them back).
    #[must_use]
    pub fn available(&self) -> u64 {
        self.total().saturating_sub(self.in_use())
    }

    /// Permits held now, by every process (a snapshot, see
    /// [`available`](Self::available)).
    #[must_use]
    pub fn in_use(&self) -> u64 {
        self.holders.snapshot().sum
    }

    /// Permits in existence: those given to [`new`](Self::new), plus those
    /// [`release`](Self::release)d, minus those
    /// [`forget`](SemaphorePermit::forget)ten.
    #[must_use]
    pub fn total(&self) -> u64 {
        // Relaxed: a snapshot.
        self.total.load(Ordering::Relaxed)
    }

    fn oracle(&self) -> crate::raw_mutex::SystemOracle {
        crate::raw_mutex::SystemOracle { addr: self.holders.addr() }
    }

    #[inline(always)]
    fn permit(&self, slot: usize) -> SemaphorePermit<'_> {
        SemaphorePermit { sem: self, slot, _not_send: PhantomData }
    }

    // -----------------------------------------------------------------
    // the state machine, for an explicit identity and liveness oracle
    // -----------------------------------------------------------------

    /// Takes one permit for `me`; returns the holder slot it is counted in.
    pub(crate) fn acquire_as(
        &self,
        me: ThreadIdentity,
        wait: Wait,
        oracle: &impl OwnerOracle,
    ) -> Result<usize, Refused> {
        let mut judge = matches!(wait, Wait::No) || arrival_probe_due();
        let mut backoff = Backoff::new(LOCK_WAIT);
        loop {
            let scan = self.holders.scan();
            if self.looks_available(&scan, me) {
                if let Some(slot) = self.try_take(me) {
                    return Ok(slot);
                }
                continue;
            }
            if judge {
                judge = false;
                if self.reclaim_dead(&scan, me, oracle) {
                    continue;
                }
            }
            let Wait::Until(deadline) = wait else { return Err(Refused::WouldBlock) };
            if !backoff.is_completed() {
                backoff.snooze();
                continue;
            }
            let expected = self.wake.prepare();
            let scan = self.holders.scan();
            if self.looks_available(&scan, me) {
                continue;
            }
            let plan = match Self::plan_sleep(&scan, me, oracle) {
                Ok(plan) => plan,
                Err(dead) => {
                    self.holders.reclaim(dead);
                    self.wake.notify();
                    continue;
                }
            };
            match self.wake.sleep(expected, plan, deadline) {
                Ok(judge_next) => judge = judge_next,
                Err(Expired) => return Err(Refused::TimedOut),
            }
        }
    }

    /// Whether a permit and a slot for `me` look free in `scan`.
    fn looks_available(&self, scan: &Scan, me: ThreadIdentity) -> bool {
        // Acquire: pairs with the release in `release`.
        scan.sum < self.total.load(Ordering::Acquire) && scan.room_for(me.token)
    }

    /// Counts `me` in, then checks that it fits; steps back if not.
    fn try_take(&self, me: ThreadIdentity) -> Option<usize> {
        let slot = self.holders.claim(me.token)?;
        // SeqCst: the Dekker pair between acquirers counting themselves in:
        // of two, the one whose fence comes second sees the other's +1.
        fence(Ordering::SeqCst);
        // Acquire (in `sum`): a permit given back happens before the taking.
        let in_use = self.holders.sum();
        // Acquire: pairs with the release in `release`.
        if in_use <= self.total.load(Ordering::Acquire) {
            return Some(slot);
        }
        // Too many: step back, and wake whoever our +1 may have turned away.
        self.holders.release(me.token, slot);
        self.wake.notify();
        yield_now();
        None
    }

    /// Frees the slots of holders of other processes proven dead; true if
    /// any, and then wakes the waiters (their permits are back).
    fn reclaim_dead(&self, scan: &Scan, me: ThreadIdentity, oracle: &impl OwnerOracle) -> bool {
        let mut any = false;
        for t in scan.others(me.token) {
            if oracle.process_liveness(t) == Liveness::Dead {
                self.holders.reclaim(t);
                any = true;
            }
        }
        if any {
            self.wake.notify();
        }
        any
    }

    /// How to sleep behind the holders of `scan`: watched if every other
    /// process holding permits is watched (a death of any of them wakes
    /// the sleeper, as any of them may give the permit back), polled if
    /// one cannot be. `Err(token)`: that holder was just proven dead.
    fn plan_sleep(
        scan: &Scan,
        me: ThreadIdentity,
        oracle: &impl OwnerOracle,
    ) -> Result<SleepPlan, u32> {
        let mut plan = SleepPlan::Never;
        for t in scan.others(me.token) {
            match oracle.plan_sleep(t) {
                SleepPlan::Dead => return Err(t),
                SleepPlan::Poll => plan = SleepPlan::Poll,
                // The first epoch read is the oldest: sleeping on it, a
                // death after any of the later proofs still wakes us.
                SleepPlan::Watched { epoch } => {
                    if plan == SleepPlan::Never {
                        plan = SleepPlan::Watched { epoch };
                    }
                }
                SleepPlan::Never => {}
            }
        }
        Ok(plan)
    }

    /// Gives back the permit of `me` counted in `slot` (a hint).
    pub(crate) fn give_back_as(&self, me: ThreadIdentity, slot: usize) {
        if !self.holders.release(me.token, slot) {
            not_a_holder_panic();
            return;
        }
        self.wake.notify();
    }

    /// Takes the permit of `me` counted in `slot` out of the pool.
    pub(crate) fn forget_as(&self, me: ThreadIdentity, slot: usize) {
        // `total` first: a kill before the slot's −1 then leaves the
        // permit counted in a dead holder's slot, which is reclaimed: the
        // forget happened. (The other order could hand the permit to an
        // acquirer for a moment while it is also being handed over.)
        // Relaxed: the slot's release CAS below publishes.
        let _ = self
            .total
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| Some(t.saturating_sub(1)));
        self.give_back_as(me, slot);
    }
}

impl Default for ShmSemaphore {
    /// No permits (the same as zeroed memory).
    fn default() -> Self {
        Self::new(0)
    }
}

impl fmt::Debug for ShmSemaphore {
    /// A snapshot: permits available, in use (counting those of dead
    /// holders not yet taken back) and in existence.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.total();
        let scan = self.holders.snapshot();
        f.debug_struct("ShmSemaphore")
            .field("available", &total.saturating_sub(scan.sum))
            .field("in_use", &scan.sum)
            .field("total", &total)
            .field("holder_processes", &scan.processes())
            .finish()
    }
}

impl SemaphorePermit<'_> {
    /// Takes the permit out of the pool instead of giving it back: the
    /// semaphore has one permit fewer until someone calls
    /// [`ShmSemaphore::release`] (typically another process, to which this
    /// one handed the permit over).
    ///
    /// If this process dies during the call, the permit is forgotten all
    /// the same.
    ///
    /// # Panics
    ///
    /// As the drop, if the calling process holds no permit.
    ///
    /// # Examples
    ///
    /// See [`ShmSemaphore`].
    pub fn forget(self) {
        let me = core::mem::ManuallyDrop::new(self);
        me.sem.forget_as(current_thread(), me.slot);
    }
}

impl Drop for SemaphorePermit<'_> {
    #[inline]
    fn drop(&mut self) {
        self.sem.give_back_as(current_thread(), self.slot);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}

#[cold]
fn not_a_holder_panic() {
    if std::thread::panicking() {
        return;
    }
    panic!(
        "ShmSemaphore permit given back by a process that holds none (a permit inherited across \
         fork(), or the shared memory was overwritten)"
    );
}

#[cfg(not(loom))]
mod shm_safe_impl {
    use super::ShmSemaphore;
    use crate::layout::{Kind, Layout};
    use crate::shm_safe::{fingerprint, ShmSafe};

    // SAFETY: `ShmSemaphore` is `repr(C)` around atomics only (two words,
    // then the holder table's `CachePadded` slot words; valid for every bit
    // pattern; zero = no permits, nobody asleep, no holders; its padding is
    // never read), holds no process-local handle, has no Drop, and is
    // Send + Sync.
    unsafe impl ShmSafe for ShmSemaphore {
        const TYPE_NAME: &'static str = "ShmSemaphore";
        const FINGERPRINT: u64 = fingerprint::tagged(
            fingerprint::SEED,
            "shmsync::ShmSemaphore/holders-64-v1",
            &[core::mem::size_of::<ShmSemaphore>() as u64],
        );
        const LAYOUT: Layout = Layout::leaf(Kind::Semaphore);
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
