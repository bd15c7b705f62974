//! [`ShmMutex<T>`]: a robust, process-shared mutex around a value, its guard
//! and its errors. The lock-word protocol lives in `raw_mutex.rs`.

use core::cell::UnsafeCell;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::time::Duration;

use crate::raw_mutex::{Acquired, FromRefusal, RawLockError, RawMutex, RawState};
use crate::sync::Instant;

/// A mutual-exclusion lock that lives in shared memory and survives the
/// death of the process holding it.
///
/// Put it in a [`Segment`](crate::Segment) type and lock it from any number
/// of processes. If a holder is killed, the next [`lock`](Self::lock)
/// returns [`LockError::OwnerDied`] with a guard: the data may be
/// half-updated, so repair it and call
/// [`ShmMutexGuard::make_consistent`]. A guard dropped without that makes
/// the mutex permanently [`NotRecoverable`](LockError::NotRecoverable) (the
/// semantics of POSIX robust mutexes).
///
/// A guard dropped while its thread panics also leaves the mutex in the
/// owner-died state: the panic may have interrupted an update, so the next
/// locker gets `OwnerDied` (this plays the role of `std`'s poisoning).
///
/// `ShmMutex` is `#[repr(C)]` and valid when zeroed (all-zero bytes are an
/// unlocked mutex around a zeroed `T`), so a freshly created segment needs no
/// initialization. The lock state is one 8-byte word in front of the data
/// (its low half is a Linux robust-futex word: owner TID and two flags; its
/// high half the owning process's token).
///
/// # When is an owner dead?
///
/// When no process that maps its guard remains: the owning process, and
/// every child it `fork`ed without `exec`, have exited (however: SIGKILL,
/// `abort`, `exit`) or `exec`'d. The kernel keeps the proof: every
/// [`Segment`](crate::Segment) handle holds its process's random *token* as
/// an open-file-description lock on the segment's object, which the kernel
/// drops when the process exits or execs, and a waiter tests the owner's
/// token with one `fcntl`. No PID, TID, `/proc` view or clock is involved,
/// so it works unchanged across PID and time namespaces (containers sharing
/// `/dev/shm`). While a waiter sleeps, a small watcher thread per owner
/// process it waits for blocks in the kernel until that owner's token is
/// released, and then wakes it: a dead owner is noticed within a fraction
/// of a millisecond, and a waiter blocked behind a live owner costs next to
/// no CPU. (On kernels before 5.16, which lack `futex_waitv`, waiters
/// re-test every 0.5 ms instead.)
///
/// A *thread* that exits while its guard is leaked (`mem::forget`,
/// `Box::leak`) leaves the mutex locked for as long as its process lives,
/// exactly like a leaked `std::sync::MutexGuard`: the leaked `&mut T` may
/// still be in use, so handing out another would be unsound. (The same
/// holds after the process drops its segment handle, for as long as the
/// segment still has a name: the process could open it again and lock
/// with the very same lock word.)
/// `lock_timeout` and `try_lock` see a live owner.
///
/// Robustness comes from a segment: a `ShmMutex` outside one (a `static`,
/// a `Box`, memory this crate did not map) never declares an owner dead.
///
/// # Examples
///
/// The recovery pattern (here within one process; across processes the
/// mutex lives in a segment and the dead owner is another process):
///
/// ```
/// use shmsync::{LockError, ShmMutex, ShmMutexGuard};
///
/// /// Two halves that must always be equal.
/// let pair = ShmMutex::new([0u64; 2]);
///
/// // A thread dies half-way through an update (`panic` stands in for a kill).
/// std::thread::scope(|s| {
///     let died = s.spawn(|| {
///         let mut g = pair.lock().expect("first lock is clean");
///         g[0] += 1;
///         panic!("killed before updating g[1]");
///     });
///     assert!(died.join().is_err());
/// });
///
/// match pair.lock() {
///     Ok(g) => assert_eq!(g[0], g[1]),
///     Err(LockError::OwnerDied(mut g)) => {
///         // Repair the invariant, then declare the data consistent.
///         g[1] = g[0];
///         ShmMutexGuard::make_consistent(&mut g);
///     }
///     Err(LockError::NotRecoverable) => unreachable!("nobody gave up a repair"),
/// }
/// assert_eq!(*pair.lock().expect("repaired"), [1, 1]);
/// ```
#[repr(C)]
pub struct ShmMutex<T> {
    raw: RawMutex,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands out `&mut T` to one thread at a time (the lock
// word's acquire/release orders those accesses), so sharing it only needs
// `T: Send`, exactly like `std::sync::Mutex`.
unsafe impl<T: Send> Sync for ShmMutex<T> {}
// SAFETY: owning the mutex is owning the `T`.
unsafe impl<T: Send> Send for ShmMutex<T> {}

/// The RAII guard of a locked [`ShmMutex`]: derefs to the data, unlocks on
/// drop.
///
/// It is `!Send`: the lock word records the locking thread, and only that
/// thread may unlock.
///
/// ```compile_fail
/// let m = shmsync::ShmMutex::new(0u32);
/// let g = m.lock().unwrap_or_else(|_| unreachable!());
/// std::thread::scope(|s| {
///     s.spawn(move || drop(g)); // error: the guard cannot be sent
/// });
/// ```
///
/// A guard obtained through [`LockError::OwnerDied`] (or
/// [`TryLockError::OwnerDied`], [`LockTimeoutError::OwnerDied`]) is *inconsistent* until
/// [`make_consistent`](Self::make_consistent) is called; dropping it before
/// makes the mutex not recoverable.
///
/// # Panics
///
/// Dropping the guard (or calling `make_consistent`) panics if the lock word
/// no longer names the calling thread as its owner. Safe code reaches this
/// only across `fork()`: the child is a new process with a new token and
/// its single thread has a new thread id, so a guard it inherited from the
/// parent is not its lock to release (the parent's thread still owns it).
/// Otherwise it means the shared memory was overwritten. While the thread
/// is already panicking, the check stays silent and leaves the word alone.
#[must_use = "the mutex is unlocked as soon as the guard is dropped"]
pub struct ShmMutexGuard<'a, T> {
    mutex: &'a ShmMutex<T>,
    consistent: bool,
    /// Whether the thread was already panicking when it locked: then a drop
    /// during that same panic is not a sign of an interrupted update.
    panicking_at_lock: bool,
    /// `!Send`: the lock must be released by the thread that took it.
    _not_send: PhantomData<*const ()>,
}

// SAFETY: sharing `&ShmMutexGuard` only gives `&T` to other threads.
unsafe impl<T: Sync> Sync for ShmMutexGuard<'_, T> {}

/// Why [`ShmMutex::lock`] did not return a plain guard.
///
/// It deliberately does not implement [`std::error::Error`]: an
/// `OwnerDied` carries the guard of a mutex whose data needs repair, and
/// passing it up with `?` (into a `Box<dyn Error>`) would drop that guard
/// unrepaired, which makes the mutex not recoverable for every process.
/// Handle it where you lock, or use
/// [`ShmMutex::lock_or_repair`], whose error is a plain
/// [`Error`](crate::Error).
pub enum LockError<'a, T> {
    /// The previous owner died (or panicked) while holding the lock. The
    /// caller holds the lock now, through this guard; the data may be
    /// inconsistent. Repair it and call [`ShmMutexGuard::make_consistent`],
    /// or drop the guard to make the mutex not recoverable.
    OwnerDied(ShmMutexGuard<'a, T>),
    /// A previous owner took the lock over from a dead owner and released it
    /// without calling `make_consistent`: the data is considered lost and
    /// the mutex can never be locked again.
    NotRecoverable,
}

/// Why [`ShmMutex::try_lock`] did not return a plain guard.
///
/// Like [`LockError`] it deliberately does not implement
/// [`std::error::Error`]: an `OwnerDied` carries a guard that `?` would drop
/// unrepaired. Handle it where you lock.
pub enum TryLockError<'a, T> {
    /// As [`LockError::OwnerDied`]: the caller holds the lock, inconsistent.
    OwnerDied(ShmMutexGuard<'a, T>),
    /// As [`LockError::NotRecoverable`].
    NotRecoverable,
    /// A live thread (possibly the caller) holds the lock.
    WouldBlock,
}

/// Why [`ShmMutex::lock_timeout`] did not return a plain guard.
///
/// Like [`LockError`] it deliberately does not implement
/// [`std::error::Error`]: an `OwnerDied` carries a guard that `?` would drop
/// unrepaired. Handle it where you lock, or use
/// [`ShmMutex::lock_timeout_or_repair`], whose error is a plain
/// [`Error`](crate::Error).
pub enum LockTimeoutError<'a, T> {
    /// As [`LockError::OwnerDied`]: the caller holds the lock, inconsistent.
    OwnerDied(ShmMutexGuard<'a, T>),
    /// As [`LockError::NotRecoverable`].
    NotRecoverable,
    /// The timeout elapsed while a live thread held the lock.
    TimedOut,
}

/// What one lock operation makes of the raw lock's outcomes other than a
/// clean lock: each operation's error type names only the failures that
/// operation can meet.
trait LockOutcome<'a, T>: FromRefusal {
    /// The lock was taken over from a dead owner and is held through
    /// `guard`, inconsistent.
    fn owner_died(guard: ShmMutexGuard<'a, T>) -> Self;
}

impl<T> ShmMutex<T> {
    crate::sync::const_unless_loom! {
        /// A new unlocked mutex around `value`.
        ///
        /// In shared memory you rarely call this: a zeroed `ShmMutex` in a new
        /// segment is already unlocked, and a `Segment::create_with` initializer
        /// can write the initial data through the guard.
        ///
        /// # Examples
        ///
        /// ```
        /// static COUNTER: shmsync::ShmMutex<u64> = shmsync::ShmMutex::new(0);
        /// *COUNTER.lock().unwrap_or_else(|_| unreachable!()) += 1;
        /// ```
        pub const fn new(value: T) -> Self {
            ShmMutex { raw: RawMutex::new(), data: UnsafeCell::new(value) }
        }
    }

    /// A mutable reference to the data, without locking: `&mut self` proves
    /// nobody else can reach this mutex (e.g. inside a `Segment::create_with`
    /// initializer, before any other process can see the segment).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut m = shmsync::ShmMutex::new([0u64; 2]);
    /// m.get_mut()[1] = 7;
    /// assert_eq!(m.lock().map(|g| g[1]).ok(), Some(7));
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// Locks the mutex, blocking until it is available.
    ///
    /// A holder that died is detected within a few milliseconds even while
    /// this thread sleeps; this thread then gets the lock with
    /// [`LockError::OwnerDied`]. Exactly one locker gets `OwnerDied` for
    /// each death.
    ///
    /// # Errors
    ///
    /// * [`LockError::OwnerDied`] — the previous owner died or panicked
    ///   holding the lock; the guard inside holds it now.
    /// * [`LockError::NotRecoverable`] — a repair was abandoned; the mutex is
    ///   unusable for good.
    ///
    /// # Panics
    ///
    /// If the calling thread already holds this mutex (a self-deadlock),
    /// when that can be proven. Otherwise such a call blocks forever.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmsync::{LockError, ShmMutex, ShmMutexGuard};
    ///
    /// let m = ShmMutex::new(0u32);
    /// let mut g = match m.lock() {
    ///     Ok(g) => g,
    ///     Err(LockError::OwnerDied(mut g)) => {
    ///         ShmMutexGuard::make_consistent(&mut g);
    ///         g
    ///     }
    ///     Err(LockError::NotRecoverable) => panic!("data lost"),
    /// };
    /// *g += 1;
    /// ```
    #[inline]
    pub fn lock(&self) -> Result<ShmMutexGuard<'_, T>, LockError<'_, T>> {
        self.outcome(self.raw.lock(None))
    }

    /// Acquires the mutex, first repairing the data with `repair` if the
    /// previous owner died holding it (then the mutex is marked consistent
    /// again before the guard is returned). The `?`-friendly form of
    /// [`lock`](Self::lock): the error is a `'static` [`Error`](crate::Error).
    ///
    /// If `repair` panics, the mutex stays owner-died for the next locker.
    ///
    /// # Errors
    ///
    /// [`Error::NotRecoverable`](crate::Error::NotRecoverable) if an earlier
    /// repair was abandoned.
    ///
    /// # Panics
    ///
    /// As [`lock`](Self::lock), and if `repair` panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmsync::ShmMutex;
    ///
    /// fn transfer(accounts: &ShmMutex<[u64; 2]>) -> Result<(), Box<dyn std::error::Error>> {
    ///     // A dead owner may have taken money out of one account and not put
    ///     // it into the other: the total is always 100, so the repair
    ///     // restores it.
    ///     let mut a = accounts.lock_or_repair(|a| a[1] = 100 - a[0])?;
    ///     a[0] -= 10;
    ///     a[1] += 10;
    ///     Ok(())
    /// }
    ///
    /// let accounts = ShmMutex::new([100, 0]);
    /// transfer(&accounts)?;
    /// assert_eq!(*accounts.lock_or_repair(|_| {})?, [90, 10]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lock_or_repair(
        &self,
        repair: impl FnOnce(&mut T),
    ) -> Result<ShmMutexGuard<'_, T>, crate::Error> {
        match self.lock() {
            Ok(guard) => Ok(guard),
            Err(LockError::OwnerDied(mut guard)) => {
                repair(&mut guard);
                ShmMutexGuard::make_consistent(&mut guard);
                Ok(guard)
            }
            Err(LockError::NotRecoverable) => Err(crate::Error::NotRecoverable),
        }
    }

    /// As [`lock_or_repair`](Self::lock_or_repair), waiting at most
    /// `timeout` for a live owner.
    ///
    /// # Errors
    ///
    /// [`Error::TimedOut`](crate::Error::TimedOut), or as
    /// [`lock_or_repair`](Self::lock_or_repair).
    ///
    /// # Panics
    ///
    /// As [`lock_or_repair`](Self::lock_or_repair).
    pub fn lock_timeout_or_repair(
        &self,
        timeout: Duration,
        repair: impl FnOnce(&mut T),
    ) -> Result<ShmMutexGuard<'_, T>, crate::Error> {
        match self.lock_timeout(timeout) {
            Ok(guard) => Ok(guard),
            Err(LockTimeoutError::OwnerDied(mut guard)) => {
                repair(&mut guard);
                ShmMutexGuard::make_consistent(&mut guard);
                Ok(guard)
            }
            Err(LockTimeoutError::NotRecoverable) => Err(crate::Error::NotRecoverable),
            Err(LockTimeoutError::TimedOut) => Err(crate::Error::TimedOut { timeout }),
        }
    }

    /// Locks the mutex if that needs no waiting. A lock held by a dead owner
    /// is taken over (`OwnerDied`) without waiting.
    ///
    /// # Errors
    ///
    /// [`TryLockError::WouldBlock`] if a live thread holds the lock (this
    /// includes the caller), otherwise as [`lock`](Self::lock).
    #[inline]
    pub fn try_lock(&self) -> Result<ShmMutexGuard<'_, T>, TryLockError<'_, T>> {
        self.outcome(self.raw.try_lock())
    }

    /// Locks the mutex, waiting at most `timeout` for a live holder.
    ///
    /// # Errors
    ///
    /// [`LockTimeoutError::TimedOut`] if `timeout` elapsed while a live
    /// thread held the lock, otherwise as [`lock`](Self::lock).
    ///
    /// # Panics
    ///
    /// As [`lock`](Self::lock), on a provable self-deadlock.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmsync::{LockTimeoutError, ShmMutex};
    /// use std::time::Duration;
    ///
    /// let m = ShmMutex::new(0u32);
    /// let held = m.lock().unwrap_or_else(|_| unreachable!());
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let r = m.lock_timeout(Duration::from_millis(10));
    ///         assert!(matches!(r, Err(LockTimeoutError::TimedOut)));
    ///     });
    /// });
    /// drop(held);
    /// ```
    pub fn lock_timeout(
        &self,
        timeout: Duration,
    ) -> Result<ShmMutexGuard<'_, T>, LockTimeoutError<'_, T>> {
        // A timeout too long to represent is no timeout.
        let deadline = Instant::now().checked_add(timeout);
        self.outcome(self.raw.lock(deadline))
    }

    /// Locks the mutex only if it is free and consistent with no sleepers
    /// (the one-CAS fast path); anything else is left to [`lock`](Self::lock).
    #[inline]
    pub(crate) fn try_lock_uncontended(&self) -> Option<ShmMutexGuard<'_, T>> {
        self.raw.try_lock_fast(crate::sync::current_thread()).then(|| self.guard(true))
    }

    /// The guard, or the operation's error, for what the raw lock returned:
    /// the one place a raw outcome becomes a typed one.
    ///
    /// Always inlined, like [`guard`](Self::guard): it sits on the
    /// uncontended path of every lock operation.
    #[inline(always)]
    fn outcome<'a, E: LockOutcome<'a, T>>(
        &'a self,
        raw: Result<Acquired, RawLockError>,
    ) -> Result<ShmMutexGuard<'a, T>, E> {
        match raw {
            Ok(Acquired::Clean) => Ok(self.guard(true)),
            Ok(Acquired::OwnerDied) => Err(E::owner_died(self.guard(false))),
            Err(e) => Err(E::refused(e)),
        }
    }

    /// The guard of a lock this thread just took.
    ///
    /// Always inlined: it has several callers, and as a call of its own it
    /// cost the uncontended `lock` ~5 ns (13 → 18.6 ns in the harness).
    #[inline(always)]
    fn guard(&self, consistent: bool) -> ShmMutexGuard<'_, T> {
        ShmMutexGuard {
            mutex: self,
            consistent,
            panicking_at_lock: std::thread::panicking(),
            _not_send: PhantomData,
        }
    }
}

impl<T: Default> Default for ShmMutex<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> fmt::Debug for ShmMutex<T> {
    /// Shows the lock state only: reading the data would need the lock, and
    /// taking a lock from a dead owner in `Debug` would change the state.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.raw.state() {
            RawState::Unlocked => "unlocked",
            RawState::UnlockedOwnerDied => "unlocked, owner died",
            RawState::Locked => "locked",
            RawState::NotRecoverable => "not recoverable",
        };
        f.debug_struct("ShmMutex").field("state", &state).finish_non_exhaustive()
    }
}

impl<'a, T> ShmMutexGuard<'a, T> {
    /// Declares the data consistent after an [`OwnerDied`](LockError::OwnerDied)
    /// recovery: the mutex is then unlocked normally when the guard drops.
    /// A no-op on a guard that is already consistent.
    ///
    /// An associated function (call it as
    /// `ShmMutexGuard::make_consistent(&mut g)`) so it never shadows a
    /// method of `T`.
    ///
    /// # Examples
    ///
    /// See [`ShmMutex`].
    pub fn make_consistent(guard: &mut Self) {
        if !guard.consistent {
            guard.mutex.raw.make_consistent();
            guard.consistent = true;
        }
    }

    /// Whether the data is consistent: `false` for a guard from an
    /// `OwnerDied` recovery until [`make_consistent`](Self::make_consistent).
    pub fn is_consistent(guard: &Self) -> bool {
        guard.consistent
    }

    /// Releases the lock for a condition-variable wait, the way a drop
    /// would but without the panic rule, and returns the mutex to relock.
    /// An inconsistent guard leaves the mutex inconsistent for the next
    /// locker (who gets `OwnerDied`) rather than making it not recoverable.
    pub(crate) fn unlock_for_wait(self) -> &'a ShmMutex<T> {
        let mutex = self.mutex;
        if self.consistent {
            mutex.raw.unlock();
        } else {
            mutex.raw.unlock_inconsistent();
        }
        core::mem::forget(self);
        mutex
    }
}

impl<T> Drop for ShmMutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if self.consistent && !std::thread::panicking() {
            self.mutex.raw.unlock();
        } else {
            self.drop_slow();
        }
    }
}

impl<T> ShmMutexGuard<'_, T> {
    #[cold]
    fn drop_slow(&mut self) {
        if std::thread::panicking() && !self.panicking_at_lock {
            // The panic may have interrupted an update: hand the next locker
            // `OwnerDied`, as if this owner had died.
            self.mutex.raw.unlock_inconsistent();
        } else if self.consistent {
            self.mutex.raw.unlock();
        } else {
            // Dropped without `make_consistent`: the repair was abandoned.
            self.mutex.raw.abandon();
        }
    }
}

impl<T> Deref for ShmMutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this thread holds the lock, so
        // no other thread or process accesses the data; the acquire in the
        // raw lock ordered the previous owner's writes before this read.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T> DerefMut for ShmMutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference
        // handed out by the guard.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: fmt::Debug> fmt::Debug for ShmMutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for ShmMutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<'a, T> LockError<'a, T> {
    /// The guard of an `OwnerDied` error, if this is one.
    pub fn into_guard(self) -> Option<ShmMutexGuard<'a, T>> {
        match self {
            LockError::OwnerDied(g) => Some(g),
            LockError::NotRecoverable => None,
        }
    }
}

impl<'a, T> TryLockError<'a, T> {
    /// The guard of an `OwnerDied` error, if this is one.
    pub fn into_guard(self) -> Option<ShmMutexGuard<'a, T>> {
        match self {
            TryLockError::OwnerDied(g) => Some(g),
            TryLockError::NotRecoverable | TryLockError::WouldBlock => None,
        }
    }
}

impl<'a, T> LockTimeoutError<'a, T> {
    /// The guard of an `OwnerDied` error, if this is one.
    pub fn into_guard(self) -> Option<ShmMutexGuard<'a, T>> {
        match self {
            LockTimeoutError::OwnerDied(g) => Some(g),
            LockTimeoutError::NotRecoverable | LockTimeoutError::TimedOut => None,
        }
    }
}

impl<'a, T> From<LockError<'a, T>> for TryLockError<'a, T> {
    fn from(e: LockError<'a, T>) -> Self {
        match e {
            LockError::OwnerDied(g) => TryLockError::OwnerDied(g),
            LockError::NotRecoverable => TryLockError::NotRecoverable,
        }
    }
}

impl<'a, T> From<LockError<'a, T>> for LockTimeoutError<'a, T> {
    fn from(e: LockError<'a, T>) -> Self {
        match e {
            LockError::OwnerDied(g) => LockTimeoutError::OwnerDied(g),
            LockError::NotRecoverable => LockTimeoutError::NotRecoverable,
        }
    }
}

impl<'a, T> FromRefusal for LockError<'a, T> {
    const NOT_RECOVERABLE: Self = LockError::NotRecoverable;
    const WOULD_BLOCK: Option<Self> = None;
    const TIMED_OUT: Option<Self> = None;
}

impl<'a, T> LockOutcome<'a, T> for LockError<'a, T> {
    fn owner_died(guard: ShmMutexGuard<'a, T>) -> Self {
        LockError::OwnerDied(guard)
    }
}

impl<'a, T> FromRefusal for TryLockError<'a, T> {
    const NOT_RECOVERABLE: Self = TryLockError::NotRecoverable;
    const WOULD_BLOCK: Option<Self> = Some(TryLockError::WouldBlock);
    const TIMED_OUT: Option<Self> = None;
}

impl<'a, T> LockOutcome<'a, T> for TryLockError<'a, T> {
    fn owner_died(guard: ShmMutexGuard<'a, T>) -> Self {
        TryLockError::OwnerDied(guard)
    }
}

impl<'a, T> FromRefusal for LockTimeoutError<'a, T> {
    const NOT_RECOVERABLE: Self = LockTimeoutError::NotRecoverable;
    const WOULD_BLOCK: Option<Self> = None;
    const TIMED_OUT: Option<Self> = Some(LockTimeoutError::TimedOut);
}

impl<'a, T> LockOutcome<'a, T> for LockTimeoutError<'a, T> {
    fn owner_died(guard: ShmMutexGuard<'a, T>) -> Self {
        LockTimeoutError::OwnerDied(guard)
    }
}

const OWNER_DIED_MSG: &str = "the previous owner of the mutex died while holding it; the data \
                              may be inconsistent: repair it and call \
                              ShmMutexGuard::make_consistent";
const NOT_RECOVERABLE_MSG: &str = "the mutex is not recoverable: an earlier owner-died recovery \
                                   was abandoned without make_consistent";

impl<T> fmt::Debug for LockError<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::OwnerDied(_) => f.write_str("OwnerDied(..)"),
            LockError::NotRecoverable => f.write_str("NotRecoverable"),
        }
    }
}

impl<T> fmt::Display for LockError<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LockError::OwnerDied(_) => OWNER_DIED_MSG,
            LockError::NotRecoverable => NOT_RECOVERABLE_MSG,
        })
    }
}

impl<T> fmt::Debug for TryLockError<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryLockError::OwnerDied(_) => f.write_str("OwnerDied(..)"),
            TryLockError::NotRecoverable => f.write_str("NotRecoverable"),
            TryLockError::WouldBlock => f.write_str("WouldBlock"),
        }
    }
}

impl<T> fmt::Display for TryLockError<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryLockError::OwnerDied(_) => OWNER_DIED_MSG,
            TryLockError::NotRecoverable => NOT_RECOVERABLE_MSG,
            TryLockError::WouldBlock => "the mutex is held by a live thread",
        })
    }
}

impl<T> fmt::Debug for LockTimeoutError<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockTimeoutError::OwnerDied(_) => f.write_str("OwnerDied(..)"),
            LockTimeoutError::NotRecoverable => f.write_str("NotRecoverable"),
            LockTimeoutError::TimedOut => f.write_str("TimedOut"),
        }
    }
}

impl<T> fmt::Display for LockTimeoutError<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LockTimeoutError::OwnerDied(_) => OWNER_DIED_MSG,
            LockTimeoutError::NotRecoverable => NOT_RECOVERABLE_MSG,
            LockTimeoutError::TimedOut => "timed out waiting for a mutex held by a live thread",
        })
    }
}

#[cfg(not(loom))]
mod shm_safe_impl {
    use super::ShmMutex;
    use crate::layout::{Field, Kind, Layout};
    use crate::shm_safe::{fingerprint, ShmSafe};

    // SAFETY: `ShmMutex<T>` is `repr(C)`: a `RawMutex` (one `AtomicU64`
    // lock word, low 32 bits WAITERS|OWNER_DIED|TID, high 32 bits the owning
    // process's token; every bit pattern is a state it handles, and zero is
    // unlocked and consistent) followed by `T`, which is `ShmSafe` (fixed
    // layout, no pointers, valid when zeroed, no Drop).
    // It holds no process-local handle and is `Send + Sync` because `T` is.
    unsafe impl<T: ShmSafe> ShmSafe for ShmMutex<T> {
        const TYPE_NAME: &'static str = "ShmMutex";
        const FINGERPRINT: u64 = fingerprint::tagged(
            fingerprint::SEED,
            "shmsync::ShmMutex/robust-futex-v1",
            &[T::FINGERPRINT, core::mem::size_of::<ShmMutex<T>>() as u64],
        );
        const LAYOUT: Layout = Layout {
            kind: Kind::Mutex,
            fields: &[Field::guarded::<T>(core::mem::offset_of!(ShmMutex<T>, data))],
            len: 1,
        };
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::shm_safe::ShmSafe;

    #[test]
    fn layout_is_stable_and_zero_is_unlocked() {
        assert_eq!(core::mem::size_of::<ShmMutex<[u64; 2]>>(), 24);
        assert_eq!(core::mem::align_of::<ShmMutex<u8>>(), 8);
        // SAFETY: ShmMutex<[u64; 2]> is valid when zeroed (RawMutex zero =
        // unlocked, [u64; 2] zero = [0, 0]).
        let m: ShmMutex<[u64; 2]> = unsafe { core::mem::zeroed() };
        assert_eq!(*m.try_lock().expect("zeroed is unlocked"), [0, 0]);
    }

    #[test]
    fn fingerprint_depends_on_the_data_type() {
        assert_ne!(
            <ShmMutex<u64> as ShmSafe>::FINGERPRINT,
            <ShmMutex<i64> as ShmSafe>::FINGERPRINT
        );
        assert_ne!(<ShmMutex<u64> as ShmSafe>::FINGERPRINT, <u64 as ShmSafe>::FINGERPRINT);
    }
}
