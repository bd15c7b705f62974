//! [`ShmRwLock<T>`]: a robust, process-shared reader-writer lock around a
//! value, its guards and its errors. The state machine is in `raw.rs`, the
//! reader table in `holders.rs`.

use core::cell::UnsafeCell;
use core::fmt;
use core::time::Duration;

use crate::raw_mutex::{Acquired, RawLockError};
use crate::sync::{current_thread, Instant};
use crate::wake_seq::Wait;

mod error;
mod guard;
pub(crate) mod raw;

pub use error::{RwLockError, RwLockTimeoutError, TryRwLockError};
pub use guard::{ShmRwLockReadGuard, ShmRwLockWriteGuard};

use crate::CachePadded;
use error::RwLockOutcome;
use raw::{RawRwLock, ReadAcquired, WriterState};

/// A reader-writer lock that lives in shared memory and survives the death
/// of any process holding it, reading or writing.
///
/// Any number of threads, in any number of processes, may hold it for
/// reading ([`read`](Self::read)), or one thread for writing
/// ([`write`](Self::write)). Put it in a [`Segment`](crate::Segment) type.
///
/// * **A writer that dies** holding it (or waiting for readers to leave) is
///   reported to the next locker, reader or writer, as
///   [`RwLockError::OwnerDied`] with a *write* guard: the data may be
///   half-written, so a reader never gets to read it; repair it and call
///   [`ShmRwLockWriteGuard::make_consistent`]. A guard dropped without
///   that makes the lock [`NotRecoverable`](RwLockError::NotRecoverable)
///   (as [`ShmMutex`](crate::ShmMutex)). A write guard dropped while its
///   thread panics leaves the owner-died state for the next locker.
/// * **A reader that dies** holding it blocks writers only until its death
///   is proven: its share is then taken back (a waiting writer is woken
///   by the kernel's report of the death, or finds it on its next
///   re-check).
/// * **Writers are not starved** by a stream of readers: a writer takes the
///   writer lock first and then waits for the readers already in to leave;
///   readers arriving meanwhile wait for it. (Readers can be starved by a
///   stream of writers.)
///
/// `ShmRwLock` is `#[repr(C)]` and valid when zeroed (all-zero bytes are an
/// unlocked lock around a zeroed `T`). Its state takes 576 bytes in front of
/// the data and aligns the lock to 64 bytes.
///
/// # Reads are per process
///
/// The read side counts shares per *process*: a table of 64 slots, one per
/// process holding read guards at the moment (all its threads share it),
/// each updated with one atomic operation per `read` and per guard drop.
/// That is what makes a killed reader's share recoverable: its slot names
/// its process, whose death the kernel proves. At most 64 processes can
/// hold read guards at the same time; a 65th waits until a slot frees.
///
/// Like [`std::sync::RwLock`] with a writer preference, a thread that
/// already holds a read guard must not call `read` again while a writer
/// may be waiting, nor `write`: it would wait for itself.
///
/// # State
///
/// | offset | word | values | meaning |
/// |---:|---|---|---|
/// | 0 | `writer` (`u64`) | a [`ShmMutex`](crate::ShmMutex) lock word: `WAITERS \| OWNER_DIED \| TID`, the owner's process token in the high half | the writer lock, held by the writer and by a writer waiting for the readers to leave |
/// | 8 | `readers_wait` (`u32`) | `SLEEPERS` (bit 31) \| sequence | readers may be asleep until the writer lock is released |
/// | 12 | `drain` (`u32`) | `SLEEPERS` \| sequence | a writer may be asleep until the readers leave (or a reader until a slot frees) |
/// | 64 | `readers` (64 × `u64`) | `token << 32 \| n`, 0 = free | the process with that token holds `n` read shares |
/// | 576 | `data` | `T` | the value |
///
/// | writer lock | readers (Σ slots) | state |
/// |---|---|---|
/// | free | 0 | unlocked (the zeroed state) |
/// | free | n > 0 | read-locked by n shares |
/// | held by W | n > 0 | W waits for the readers to leave; new readers wait for W (a reader that counted itself a moment before W locked takes its share back) |
/// | held by W | 0 | write-locked by W |
/// | free, `OWNER_DIED` | any | a writer panicked: the next locker, reader or writer, gets `OwnerDied` |
/// | held, `OWNER_DIED` | 0 | taken over from a dead writer; inconsistent until `make_consistent` |
/// | `NOT_RECOVERABLE` | any | terminal: a repair was abandoned |
///
/// | operation | steps |
/// |---|---|
/// | `read` | +1 on its process's slot (one CAS), `fence(SeqCst)`, read the writer word: free and consistent → read; else −1 and wait on `readers_wait` (or take the writer lock over, below) |
/// | read guard drop | −1 on its slot (one CAS, release), `fence(SeqCst)`, wake `drain` if flagged |
/// | `write` | take the writer lock (the robust mutex), `fence(SeqCst)`, wait on `drain` until the slots sum to 0, reclaiming the slots of readers proven dead |
/// | write guard drop | release the writer lock (as the mutex does: `make_consistent`, panics and abandoned repairs included), `fence(SeqCst)`, wake `readers_wait` if flagged |
/// | a reader finds the writer proven dead, or `OWNER_DIED` | it takes the writer lock the robust way: `OwnerDied` (one locker per death), wait for the readers to leave, return the write guard in the error |
///
/// The two `fence(SeqCst)`s of `read` and `write` are a Dekker pair: of a
/// reader counting itself and a writer locking at the same moment, at least
/// one sees the other.
///
/// # Examples
///
/// ```
/// use shmsync::{RwLockError, ShmRwLock, ShmRwLockWriteGuard};
///
/// /// Two halves that must always be equal.
/// let pair = ShmRwLock::new([0u64; 2]);
///
/// {
///     let a = pair.read().expect("clean");
///     let b = pair.read().expect("readers share the lock");
///     assert_eq!(*a, *b);
/// }
///
/// // A writer dies half-way through an update (`panic` stands in for a kill).
/// std::thread::scope(|s| {
///     let died = s.spawn(|| {
///         let mut g = pair.write().expect("clean");
///         g[0] += 1;
///         panic!("killed before updating g[1]");
///     });
///     assert!(died.join().is_err());
/// });
///
/// // The next reader must not see the torn pair: it gets the write lock.
/// match pair.read() {
///     Ok(g) => assert_eq!(g[0], g[1]),
///     Err(RwLockError::OwnerDied(mut g)) => {
///         g[1] = g[0];
///         ShmRwLockWriteGuard::make_consistent(&mut g);
///     }
///     Err(RwLockError::NotRecoverable) => unreachable!("nobody gave up a repair"),
/// }
/// assert_eq!(*pair.read().expect("repaired"), [1, 1]);
/// ```
#[repr(C)]
pub struct ShmRwLock<T> {
    raw: CachePadded<RawRwLock>,
    data: UnsafeCell<T>,
}

// SAFETY: the lock hands out `&T` to any number of threads at once (so
// `T: Sync`) and `&mut T` to one at a time (so `T: Send`), ordered by the
// acquire/release of the writer word and the reader slots, exactly like
// `std::sync::RwLock`.
unsafe impl<T: Send + Sync> Sync for ShmRwLock<T> {}
// SAFETY: owning the lock is owning the `T`.
unsafe impl<T: Send> Send for ShmRwLock<T> {}

impl<T> ShmRwLock<T> {
    crate::sync::const_unless_loom! {
        /// A new unlocked lock around `value`.
        ///
        /// In shared memory you rarely call this: a zeroed `ShmRwLock` in a new
        /// segment is already unlocked, and a `Segment::create_with` initializer
        /// can set the data through [`get_mut`](Self::get_mut).
        ///
        /// # Examples
        ///
        /// ```
        /// static CONFIG: shmsync::ShmRwLock<[u32; 4]> = shmsync::ShmRwLock::new([0; 4]);
        /// assert_eq!(*CONFIG.read().expect("clean"), [0; 4]);
        /// ```
        pub const fn new(value: T) -> Self {
            ShmRwLock { raw: CachePadded::new(RawRwLock::new()), data: UnsafeCell::new(value) }
        }
    }

    /// A mutable reference to the data, without locking: `&mut self` proves
    /// nobody else can reach the lock (e.g. inside a `Segment::create_with`
    /// initializer, before any other process can see the segment).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut lock = shmsync::ShmRwLock::new([0u64; 2]);
    /// lock.get_mut()[1] = 7;
    /// assert_eq!(lock.read().map(|g| g[1]).ok(), Some(7));
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// Locks for reading, blocking while a writer holds the lock or waits
    /// for it.
    ///
    /// A writer that died holding the lock is detected within a few
    /// milliseconds even while this thread sleeps. Then this thread does
    /// not read: it takes the *write* lock over and returns it in
    /// [`RwLockError::OwnerDied`], so that it can repair the data.
    ///
    /// # Errors
    ///
    /// * [`RwLockError::OwnerDied`] — a writer died or panicked holding the
    ///   lock; the write guard inside holds the lock now.
    /// * [`RwLockError::NotRecoverable`] — a repair was abandoned; the lock
    ///   is unusable for good.
    ///
    /// # Panics
    ///
    /// If the calling thread holds the write lock (a self-deadlock).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmsync::{RwLockError, ShmRwLock, ShmRwLockWriteGuard};
    ///
    /// let lock = ShmRwLock::new(5u32);
    /// let value = match lock.read() {
    ///     Ok(g) => *g,
    ///     Err(RwLockError::OwnerDied(mut g)) => {
    ///         ShmRwLockWriteGuard::make_consistent(&mut g);
    ///         *g
    ///     }
    ///     Err(RwLockError::NotRecoverable) => panic!("data lost"),
    /// };
    /// assert_eq!(value, 5);
    /// ```
    #[inline]
    pub fn read(&self) -> Result<ShmRwLockReadGuard<'_, T>, RwLockError<'_, T>> {
        self.read_outcome(self.raw.read_with(
            current_thread(),
            || Wait::Until(None),
            &self.raw.oracle(),
        ))
    }

    /// Locks for reading if that needs no waiting. A writer proven dead is
    /// taken over without waiting (`OwnerDied`) if no reader is left.
    ///
    /// # Errors
    ///
    /// [`TryRwLockError::WouldBlock`] if a live writer holds the lock or
    /// waits for it (this includes the caller), or no reader slot is free;
    /// otherwise as [`read`](Self::read).
    #[inline]
    pub fn try_read(&self) -> Result<ShmRwLockReadGuard<'_, T>, TryRwLockError<'_, T>> {
        self.read_outcome(self.raw.read_with(current_thread(), || Wait::No, &self.raw.oracle()))
    }

    /// Locks for reading, waiting at most `timeout` for a live writer.
    ///
    /// # Errors
    ///
    /// [`RwLockTimeoutError::TimedOut`] if `timeout` elapsed while a live
    /// writer held the lock (or, after a take-over from a dead writer, while
    /// live readers stayed); otherwise as [`read`](Self::read).
    ///
    /// # Panics
    ///
    /// As [`read`](Self::read).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmsync::{RwLockTimeoutError, ShmRwLock};
    /// use std::time::Duration;
    ///
    /// let lock = ShmRwLock::new(0u32);
    /// let w = lock.write().expect("clean");
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         let r = lock.read_timeout(Duration::from_millis(10));
    ///         assert!(matches!(r, Err(RwLockTimeoutError::TimedOut)));
    ///     });
    /// });
    /// drop(w);
    /// ```
    pub fn read_timeout(
        &self,
        timeout: Duration,
    ) -> Result<ShmRwLockReadGuard<'_, T>, RwLockTimeoutError<'_, T>> {
        // The clock is read only if the fast path fails (`read_with`).
        self.read_outcome(self.raw.read_with(
            current_thread(),
            || Wait::Until(Instant::now().checked_add(timeout)),
            &self.raw.oracle(),
        ))
    }

    /// Locks for writing, blocking until the writer before it and every
    /// reader have left.
    ///
    /// A holder that died, writer or reader, is detected within a few
    /// milliseconds even while this thread sleeps: a dead reader's share is
    /// taken back; after a dead writer this thread gets the lock with
    /// [`RwLockError::OwnerDied`]. Exactly one locker gets `OwnerDied` for
    /// each writer death.
    ///
    /// # Errors
    ///
    /// As [`read`](Self::read).
    ///
    /// # Panics
    ///
    /// If the calling thread already holds the write lock (a
    /// self-deadlock). A thread that holds a *read* guard and calls `write`
    /// waits for itself forever (the lock cannot tell its read share from
    /// another thread's of the same process): drop the read guard first, or
    /// use [`try_write`](Self::try_write) / [`write_timeout`](Self::write_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmsync::ShmRwLock;
    ///
    /// let lock = ShmRwLock::new(Vec::<u32>::new());
    /// lock.write().expect("clean").push(7);
    /// assert_eq!(lock.read().expect("clean").as_slice(), [7]);
    /// ```
    #[inline]
    pub fn write(&self) -> Result<ShmRwLockWriteGuard<'_, T>, RwLockError<'_, T>> {
        self.write_outcome(self.raw.write(current_thread(), Wait::Until(None), &self.raw.oracle()))
    }

    /// Locks for writing if that needs no waiting: no live writer holds
    /// the lock and no live reader does. Dead holders are taken over
    /// without waiting.
    ///
    /// # Errors
    ///
    /// [`TryRwLockError::WouldBlock`] if a live thread (possibly the
    /// caller) holds the lock, for reading or writing; otherwise as
    /// [`write`](Self::write).
    pub fn try_write(&self) -> Result<ShmRwLockWriteGuard<'_, T>, TryRwLockError<'_, T>> {
        self.write_outcome(self.raw.write(current_thread(), Wait::No, &self.raw.oracle()))
    }

    /// Locks for writing, waiting at most `timeout` for live holders.
    ///
    /// # Errors
    ///
    /// [`RwLockTimeoutError::TimedOut`] if `timeout` elapsed while a live
    /// writer or reader held the lock; otherwise as [`write`](Self::write).
    ///
    /// # Panics
    ///
    /// As [`write`](Self::write).
    pub fn write_timeout(
        &self,
        timeout: Duration,
    ) -> Result<ShmRwLockWriteGuard<'_, T>, RwLockTimeoutError<'_, T>> {
        let deadline = Instant::now().checked_add(timeout);
        self.write_outcome(self.raw.write(
            current_thread(),
            Wait::Until(deadline),
            &self.raw.oracle(),
        ))
    }

    /// Locks for reading, first repairing the data with `repair` (through
    /// the write lock, which is then marked consistent and released) if a
    /// writer died holding it. The `?`-friendly form of
    /// [`read`](Self::read): the error is a `'static` [`Error`](crate::Error).
    ///
    /// If `repair` panics, the lock stays owner-died for the next locker.
    ///
    /// # Errors
    ///
    /// [`Error::NotRecoverable`](crate::Error::NotRecoverable) if an earlier
    /// repair was abandoned.
    ///
    /// # Panics
    ///
    /// As [`read`](Self::read), and if `repair` panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmsync::ShmRwLock;
    ///
    /// fn total(accounts: &ShmRwLock<[u64; 2]>) -> Result<u64, Box<dyn std::error::Error>> {
    ///     // The total is always 100: a repair restores it.
    ///     let a = accounts.read_or_repair(|a| a[1] = 100 - a[0])?;
    ///     Ok(a[0] + a[1])
    /// }
    ///
    /// assert_eq!(total(&ShmRwLock::new([60, 40]))?, 100);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_or_repair(
        &self,
        mut repair: impl FnMut(&mut T),
    ) -> Result<ShmRwLockReadGuard<'_, T>, crate::Error> {
        loop {
            match self.read() {
                Ok(guard) => return Ok(guard),
                Err(RwLockError::OwnerDied(mut guard)) => {
                    repair(&mut guard);
                    ShmRwLockWriteGuard::make_consistent(&mut guard);
                }
                Err(RwLockError::NotRecoverable) => return Err(crate::Error::NotRecoverable),
            }
        }
    }

    /// Locks for writing, first repairing the data with `repair` if a
    /// writer died holding it (then the lock is marked consistent again
    /// before the guard is returned). The `?`-friendly form of
    /// [`write`](Self::write).
    ///
    /// If `repair` panics, the lock stays owner-died for the next locker.
    ///
    /// # Errors
    ///
    /// [`Error::NotRecoverable`](crate::Error::NotRecoverable) if an earlier
    /// repair was abandoned.
    ///
    /// # Panics
    ///
    /// As [`write`](Self::write), and if `repair` panics.
    pub fn write_or_repair(
        &self,
        repair: impl FnOnce(&mut T),
    ) -> Result<ShmRwLockWriteGuard<'_, T>, crate::Error> {
        match self.write() {
            Ok(guard) => Ok(guard),
            Err(RwLockError::OwnerDied(mut guard)) => {
                repair(&mut guard);
                ShmRwLockWriteGuard::make_consistent(&mut guard);
                Ok(guard)
            }
            Err(RwLockError::NotRecoverable) => Err(crate::Error::NotRecoverable),
        }
    }

    /// The read guard, or the operation's error, for what the raw read
    /// returned: the one place a raw read outcome becomes a typed one.
    #[inline(always)]
    fn read_outcome<'a, E: RwLockOutcome<'a, T>>(
        &'a self,
        raw: Result<ReadAcquired, RawLockError>,
    ) -> Result<ShmRwLockReadGuard<'a, T>, E> {
        match raw {
            Ok(ReadAcquired::Shared(slot)) => Ok(ShmRwLockReadGuard::new(self, slot)),
            Ok(ReadAcquired::OwnerDied) => Err(E::owner_died(self.write_guard(false))),
            Err(e) => Err(E::refused(e)),
        }
    }

    /// The write guard, or the operation's error, for what the raw write
    /// returned: the one place a raw write outcome becomes a typed one.
    #[inline(always)]
    fn write_outcome<'a, E: RwLockOutcome<'a, T>>(
        &'a self,
        raw: Result<Acquired, RawLockError>,
    ) -> Result<ShmRwLockWriteGuard<'a, T>, E> {
        match raw {
            Ok(Acquired::Clean) => Ok(self.write_guard(true)),
            Ok(Acquired::OwnerDied) => Err(E::owner_died(self.write_guard(false))),
            Err(e) => Err(E::refused(e)),
        }
    }

    /// The guard of a write lock this thread just took.
    #[inline(always)]
    fn write_guard(&self, consistent: bool) -> ShmRwLockWriteGuard<'_, T> {
        ShmRwLockWriteGuard::new(self, consistent)
    }
}

impl<T: Default> Default for ShmRwLock<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> fmt::Debug for ShmRwLock<T> {
    /// Shows the writer lock's state and the read shares held (a snapshot,
    /// counting readers that died and are not yet reclaimed), not the
    /// data: reading it would need the lock.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let writer = match self.raw.writer_state() {
            WriterState::Unlocked => "unlocked",
            WriterState::UnlockedOwnerDied => "unlocked, owner died",
            WriterState::Locked => "locked",
            WriterState::NotRecoverable => "not recoverable",
        };
        f.debug_struct("ShmRwLock")
            .field("writer", &writer)
            .field("readers", &self.raw.readers())
            .finish_non_exhaustive()
    }
}

#[cfg(not(loom))]
mod shm_safe_impl {
    use super::ShmRwLock;
    use crate::layout::{Field, Kind, Layout};
    use crate::shm_safe::{fingerprint, ShmSafe};

    // SAFETY: `ShmRwLock<T>` is `repr(C)`: a `CachePadded<RawRwLock>`
    // (repr(C, align(64)) around atomics only, all valid for every bit
    // pattern, zero = unlocked with no readers; its padding is never read)
    // followed by `T`, which is `ShmSafe` (fixed
    // layout, no pointers, valid when zeroed, no Drop). It holds no
    // process-local handle and is `Send + Sync` because `T` is.
    unsafe impl<T: ShmSafe> ShmSafe for ShmRwLock<T> {
        const TYPE_NAME: &'static str = "ShmRwLock";
        const FINGERPRINT: u64 = fingerprint::tagged(
            fingerprint::SEED,
            "shmsync::ShmRwLock/holders-64-v1",
            &[T::FINGERPRINT, core::mem::size_of::<ShmRwLock<T>>() as u64],
        );
        const LAYOUT: Layout = Layout {
            kind: Kind::RwLock,
            fields: &[Field::guarded::<T>(core::mem::offset_of!(ShmRwLock<T>, data))],
            len: 1,
        };
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
