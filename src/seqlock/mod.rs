//! [`SeqLock<T>`]: a value many processes read without ever waiting, and a
//! few write, which survives a writer killed in the middle of a write.
//!
//! * [`latch`] — the publication protocol (sequence word, two copies,
//!   fences) and its state table.
//! * [`atomic_copy`] — how a `T` is copied as relaxed atomic words.
//! * [`writer`] — the robust writer lock and recovery from a dead writer.
//! * [`error`] — why a write did not happen, one error type per kind of
//!   write.

pub(crate) mod atomic_copy;
mod error;
mod latch;
mod writer;

use crate::sync::{spin_loop, Backoff, Instant, SEQLOCK_READ};
use crate::CachePadded;
use crate::ShmSafe;
use bytemuck::Pod;
use core::time::Duration;
use latch::Latch;
use writer::{WriterGuard, WriterLine};

pub use error::{SeqLockError, SeqLockTimeoutError, TrySeqLockError};

/// A sequence lock for a small `Copy` value in shared memory: readers never
/// block and never wait for a writer, writers take turns on a robust lock,
/// and a writer killed mid-write leaves nothing behind that readers or the
/// next writer must wait for or repair.
///
/// # What `T` may be
///
/// `T: ShmSafe + Pod`: a `#[repr(C)]` plain-data type **with no padding
/// bytes for which every bit pattern is valid** (integers, floats, arrays
/// and structs of them). Readers copy the value while a writer may be
/// changing it and discard torn copies afterwards, so a torn copy must
/// still be a valid `T`; and the value is copied as whole atomic words, so
/// there may be no uninitialized padding in it. [`bytemuck::Pod`] states
/// exactly this, and `#[derive(Pod)]` refuses a struct with padding at
/// compile time (so `SeqLock<PaddedType>` does not compile). `bool`, `char`,
/// enums and references are not `Pod`.
///
/// Derive both with `#[derive(Clone, Copy, ShmSafe, Pod, Zeroable)]`. The
/// `bytemuck` derives need the `bytemuck` crate as a dependency, or point
/// them at the copy shmsync re-exports with
/// `#[bytemuck(crate = "shmsync::bytemuck")]` (see the example).
///
/// Any size works: `T` is copied as 8-byte atomic words plus at most one
/// 4-, 2- and 1-byte atomic for the rest. A read costs about one `memcpy`
/// of `T`, so the type suits values up to a few hundred bytes; beyond that
/// prefer a [`ShmMutex`](crate::ShmMutex) or several seqlocks.
///
/// # Guarantees
///
/// * A read returns a value some write stored completely: never a mix of
///   two writes (a torn read).
/// * Successive reads by one thread never go backwards: each returns the
///   value of the same or a later write than the previous one.
/// * Reads never take a lock, never sleep, and never wait for a particular
///   writer: a read fails (and retries) only if a write *completed* while
///   it was copying. A writer that stalls or dies mid-write does not delay
///   readers at all; they keep returning the last complete value.
/// * Writers ([`write`](Self::write), [`update`](Self::update)) are
///   serialized by a robust process-shared lock, so `update`'s
///   read-modify-write is atomic with respect to other writers.
/// * If a writer dies holding the lock, the next writer takes over without
///   any repair (the last complete value is intact, see below) and counts
///   the event in [`writer_recoveries`](Self::writer_recoveries).
///
/// # How
///
/// Two copies of the value and a `u64` sequence number: a write fills the
/// copy readers are *not* reading, then advances the sequence, which
/// publishes it; readers read the copy the sequence names and check that
/// the sequence did not move meanwhile. The data is read and written as
/// relaxed atomic words ordered by fences (Boehm's seqlock), so a read
/// racing a write is not a data race. See the source of `latch.rs` for the
/// state table and the ordering argument.
///
/// # Layout
///
/// `#[repr(C)]`; the sequence word, each copy, and the writer lock sit on
/// separate cache lines, so readers of an idle seqlock only share
/// read-only lines, and a writer's lock traffic does not slow readers. A
/// zeroed `SeqLock<T>` is valid: version 0, value all zeros, unlocked.
/// In order: the sequence word's line, copy 0 and copy 1 (each rounded up
/// to whole 64-byte lines), and last the writer line, which starts with the
/// robust lock word: a `u64` whose low 30 bits are the owner's thread id
/// (its low half has the layout of the kernel's robust futexes). Diagnostic tools and crash tests may read that word;
/// the layout is covered by the segment's format version and fingerprint.
///
/// # Examples
///
/// ```
/// use shmsync::bytemuck::{Pod, Zeroable};
/// use shmsync::{SeqLock, ShmSafe};
///
/// #[derive(Clone, Copy, Debug, PartialEq, ShmSafe, Pod, Zeroable)]
/// #[bytemuck(crate = "shmsync::bytemuck")]
/// #[repr(C)]
/// struct Reading {
///     celsius: f64,
///     taken_at_ns: u64,
/// }
///
/// let latest = SeqLock::new(Reading { celsius: 0.0, taken_at_ns: 0 });
/// latest.write(Reading { celsius: 21.5, taken_at_ns: 1_000 })?;
/// latest.update(|r| r.celsius += 0.5)?;
///
/// assert_eq!(latest.read(), Reading { celsius: 22.0, taken_at_ns: 1_000 });
/// assert_eq!(latest.version(), 2);
/// assert_eq!(latest.try_read(1), Some(latest.read()));
/// assert_eq!(latest.writer_recoveries(), 0);
/// # Ok::<(), shmsync::SeqLockError>(())
/// ```
///
/// In a segment, a `SeqLock` is a field like any other:
///
/// ```
/// # use shmsync::bytemuck::{Pod, Zeroable};
/// # use shmsync::ShmSafe;
/// # #[derive(Clone, Copy, ShmSafe, Pod, Zeroable)]
/// # #[bytemuck(crate = "shmsync::bytemuck")]
/// # #[repr(C)]
/// # struct Reading { celsius: f64, taken_at_ns: u64 }
/// use shmsync::{AtomicCounter, SeqLock};
///
/// #[derive(ShmSafe)]
/// #[repr(C)]
/// struct Telemetry {
///     published: AtomicCounter,
///     latest: SeqLock<Reading>,
/// }
/// ```
#[repr(C)]
pub struct SeqLock<T: ShmSafe + Pod> {
    latch: Latch<T>,
    writer: CachePadded<WriterLine>,
}

// SAFETY: `SeqLock` is shared between threads (and processes) by design: the
// value's bytes sit in `UnsafeCell`s that are only ever accessed as atomics
// (`atomic_copy`), and values of `T` move between threads, which `T: Send`
// allows. The writer lock and the sequence are atomics.
unsafe impl<T: ShmSafe + Pod> Sync for SeqLock<T> {}

impl<T: ShmSafe + Pod> SeqLock<T> {
    crate::sync::const_unless_loom! {
        /// A seqlock holding `value` at version 0.
        #[must_use]
        pub const fn new(value: T) -> Self {
            Self { latch: Latch::new(value), writer: CachePadded::new(WriterLine::new()) }
        }
    }

    /// Returns the latest completely written value.
    ///
    /// Never blocks on the writer lock and never waits for a writer: it
    /// retries only while writes keep *completing* during its copy (after
    /// a few spins it yields the CPU between attempts). A writer that died
    /// or stalled mid-write does not delay it. Only writers that publish
    /// faster than one copy of `T` can be made could starve it; use
    /// [`try_read`](Self::try_read) to bound the attempts.
    #[inline]
    #[must_use]
    pub fn read(&self) -> T {
        let (value, s1, s2) = self.latch.read_attempt();
        if s1 == s2 {
            value
        } else {
            self.read_contended().0
        }
    }

    /// Like [`read`](Self::read), and also returns the version of the value
    /// (see [`version`](Self::version)): the value was published by write
    /// number `version`.
    #[inline]
    #[must_use]
    pub fn read_versioned(&self) -> (T, u64) {
        let (value, s1, s2) = self.latch.read_attempt();
        if s1 == s2 {
            (value, s1)
        } else {
            self.read_contended()
        }
    }

    #[cold]
    #[inline(never)]
    fn read_contended(&self) -> (T, u64) {
        // Spins a little, then yields to let a writer on this CPU finish.
        let mut backoff = Backoff::new(SEQLOCK_READ);
        loop {
            backoff.snooze();
            if let Some(read) = self.latch.try_read() {
                return read;
            }
        }
    }

    /// Makes at most `max_attempts` read attempts (spinning briefly between
    /// them) and returns the value, or `None` if a write completed during
    /// each of them (or `max_attempts` is 0).
    ///
    /// Each attempt costs about one copy of `T`; use this where a read must
    /// finish in bounded time even under a flood of writes.
    #[inline]
    #[must_use]
    pub fn try_read(&self, max_attempts: u32) -> Option<T> {
        for attempt in 0..max_attempts {
            if attempt > 0 {
                spin_loop();
            }
            let (value, s1, s2) = self.latch.read_attempt();
            if s1 == s2 {
                return Some(value);
            }
        }
        None
    }

    /// The number of writes completed since the seqlock was created (0 for
    /// a new or zeroed one), wrapping at `u64::MAX` (after centuries of
    /// writes). It only grows: if it differs from an earlier call, the value
    /// has been written since. A write in progress is not counted, nor is
    /// one whose writer died before finishing.
    ///
    /// It is an acquire load: after seeing version `n` a reader also sees
    /// everything the writer of write `n` wrote before it.
    #[inline]
    #[must_use]
    pub fn version(&self) -> u64 {
        self.latch.version()
    }

    /// Replaces the value.
    ///
    /// Waits for the writer lock (readers are never blocked). If the
    /// previous writer died holding it, this call takes over (the value it
    /// was writing is lost, the last complete one is kept) and increments
    /// [`writer_recoveries`](Self::writer_recoveries).
    ///
    /// # Errors
    ///
    /// [`SeqLockError::WriterLockCorrupt`] if the writer lock's word holds
    /// a state that only a corrupt segment can produce. The value is
    /// unchanged then.
    ///
    /// # Panics
    ///
    /// If called from inside an [`update`](Self::update) closure on the same
    /// seqlock (the thread already holds the writer lock; when the thread's
    /// identity cannot be proven this deadlocks instead). Also if another
    /// process overwrote the writer lock's word while this thread held it
    /// (the robust lock's ownership check).
    pub fn write(&self, value: T) -> Result<(), SeqLockError> {
        let guard = self.writer.lock::<SeqLockError>(None)?;
        self.latch.publish(&value);
        drop(guard);
        Ok(())
    }

    /// As [`write`](Self::write), but fails with
    /// [`TrySeqLockError::WouldBlock`] instead of waiting if a live writer
    /// holds the writer lock. (A dead writer is still taken over.)
    ///
    /// # Errors
    ///
    /// [`TrySeqLockError::WouldBlock`], or
    /// [`TrySeqLockError::WriterLockCorrupt`] as [`write`](Self::write).
    ///
    /// # Panics
    ///
    /// As [`write`](Self::write), except that the calling thread's own
    /// writer lock is `WouldBlock`, not a panic.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmsync::{SeqLock, TrySeqLockError};
    ///
    /// let count = SeqLock::new(0u64);
    /// count.update(|n| {
    ///     // This thread holds the writer lock: a nested write cannot have it.
    ///     assert_eq!(count.try_write(7), Err(TrySeqLockError::WouldBlock));
    ///     *n += 1;
    /// })?;
    /// count.try_write(5)?;
    /// assert_eq!(count.read(), 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_write(&self, value: T) -> Result<(), TrySeqLockError> {
        let guard = self.writer.try_lock()?;
        self.latch.publish(&value);
        drop(guard);
        Ok(())
    }

    /// As [`write`](Self::write), waiting at most `timeout` for a live
    /// writer to release the writer lock.
    ///
    /// # Errors
    ///
    /// [`SeqLockTimeoutError::TimedOut`], or
    /// [`SeqLockTimeoutError::WriterLockCorrupt`] as [`write`](Self::write).
    ///
    /// # Panics
    ///
    /// As [`write`](Self::write).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmsync::{SeqLock, SeqLockTimeoutError};
    /// use std::time::Duration;
    ///
    /// let latest = SeqLock::new([0u32; 4]);
    /// latest.write_timeout([1, 2, 3, 4], Duration::from_millis(10))?;
    /// assert_eq!(latest.read(), [1, 2, 3, 4]);
    /// # Ok::<(), SeqLockTimeoutError>(())
    /// ```
    pub fn write_timeout(&self, value: T, timeout: Duration) -> Result<(), SeqLockTimeoutError> {
        let guard = self.writer.lock::<SeqLockTimeoutError>(Instant::now().checked_add(timeout))?;
        self.latch.publish(&value);
        drop(guard);
        Ok(())
    }

    /// Atomically (with respect to other writers) applies `f` to the current
    /// value and publishes the result; returns what `f` returns.
    ///
    /// `f` runs on a private copy while the writer lock is held: readers keep
    /// reading the previous value meanwhile, and see the new one only once
    /// `f` has returned and the copy is published. If `f` panics, nothing is
    /// published and the lock is released. If the process dies inside `f`,
    /// the next writer takes over from the previous value, as in
    /// [`write`](Self::write).
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write); `f` is not called then.
    ///
    /// # Panics
    ///
    /// If `f` panics (the panic is propagated after the lock is released),
    /// and in the cases listed under [`write`](Self::write).
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R, SeqLockError> {
        let guard = self.writer.lock::<SeqLockError>(None)?;
        Ok(self.update_locked(guard, f))
    }

    /// As [`update`](Self::update), but fails with
    /// [`TrySeqLockError::WouldBlock`] (without calling `f`) instead of
    /// waiting if a live writer holds the writer lock.
    ///
    /// # Errors
    ///
    /// [`TrySeqLockError::WouldBlock`], or
    /// [`TrySeqLockError::WriterLockCorrupt`] as [`update`](Self::update).
    ///
    /// # Panics
    ///
    /// As [`update`](Self::update), except that the calling thread's own
    /// writer lock (a `try_update` nested in an `update` closure) is
    /// `WouldBlock`, not a panic.
    pub fn try_update<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R, TrySeqLockError> {
        let guard = self.writer.try_lock()?;
        Ok(self.update_locked(guard, f))
    }

    /// As [`update`](Self::update), waiting at most `timeout` for a live
    /// writer to release the writer lock (`f` is not called if it does not).
    ///
    /// # Errors
    ///
    /// [`SeqLockTimeoutError::TimedOut`], or
    /// [`SeqLockTimeoutError::WriterLockCorrupt`] as
    /// [`update`](Self::update).
    ///
    /// # Panics
    ///
    /// As [`update`](Self::update).
    pub fn update_timeout<R>(
        &self,
        timeout: Duration,
        f: impl FnOnce(&mut T) -> R,
    ) -> Result<R, SeqLockTimeoutError> {
        let guard = self.writer.lock::<SeqLockTimeoutError>(Instant::now().checked_add(timeout))?;
        Ok(self.update_locked(guard, f))
    }

    /// The body of every `update` form, with the writer lock held.
    fn update_locked<R>(&self, guard: WriterGuard<'_>, f: impl FnOnce(&mut T) -> R) -> R {
        let mut value = self.latch.current_for_writer();
        let result = f(&mut value);
        self.latch.publish(&value);
        drop(guard);
        result
    }

    /// How many times a writer has taken over the writer lock from a writer
    /// that died holding it (since the seqlock was created). Each such
    /// event means one write was lost — the dead writer's — and nothing
    /// else: readers were never affected.
    ///
    /// A statistic: it has no ordering with respect to the value.
    #[must_use]
    pub fn writer_recoveries(&self) -> u64 {
        self.writer.recoveries()
    }

    /// Loom death models: a writer that takes the lock, stores the first
    /// `words` words of `value` into the spare copy and dies. The calling
    /// thread must return right after.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn loom_write_torn_then_die(&self, value: T, words: usize) {
        let guard =
            self.writer.lock::<SeqLockError>(None).expect("a model's lock is never corrupt");
        self.latch.publish_torn(&value, words);
        core::mem::forget(guard);
        crate::sync::loom_hooks::simulate_process_death();
    }
}

impl<T: ShmSafe + Pod> Default for SeqLock<T> {
    /// A seqlock holding `T`'s all-zero value at version 0 (the same as a
    /// zeroed one).
    fn default() -> Self {
        Self::new(T::zeroed())
    }
}

impl<T: ShmSafe + Pod + core::fmt::Debug> core::fmt::Debug for SeqLock<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (value, version) = self.read_versioned();
        f.debug_struct("SeqLock").field("value", &value).field("version", &version).finish()
    }
}

// SAFETY: repr(C) of a latch (an AtomicU64 line and two copies of a
// `T: ShmSafe + Pod`, each `CachePadded`, i.e. repr(C, align(64))) and a
// padded writer line (a RawMutex and an AtomicU64): a fixed layout, no
// pointers (T is ShmSafe), valid when zeroed (sequence 0 publishes copy 0,
// whose all-zero bytes are a valid `T` because `T: Pod`; a zeroed RawMutex
// is unlocked), no Drop (T: Copy), Send + Sync (T: ShmSafe, and the Sync
// impl above).
#[cfg(not(loom))]
unsafe impl<T: ShmSafe + Pod> ShmSafe for SeqLock<T> {
    const TYPE_NAME: &'static str = "SeqLock";
    const FINGERPRINT: u64 = crate::fingerprint::tagged(
        T::FINGERPRINT,
        "shmsync::SeqLock/1",
        &[crate::fingerprint::primitive(
            "SeqLock",
            core::mem::size_of::<Self>(),
            core::mem::align_of::<Self>(),
        )],
    );
    // A leaf: the value is read only through the seqlock protocol, which an
    // inspector does not run; it shows the version and the writer lock.
    const LAYOUT: crate::layout::Layout = crate::layout::Layout::leaf(crate::layout::Kind::SeqLock);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn the_writer_line_is_the_last_cache_line() {
        type S = SeqLock<[u64; 32]>;
        assert_eq!(offset_of!(S, writer), size_of::<S>() - 64);
        assert_eq!(size_of::<S>(), 64 + 2 * 256 + 64);
        assert_eq!(size_of::<CachePadded<WriterLine>>(), 64);
    }

    /// A writer lock left not recoverable (only a broken peer leaves it so)
    /// fails every write form with its own error's `WriterLockCorrupt`,
    /// without touching the value and without waiting.
    #[test]
    fn a_corrupt_writer_lock_fails_every_write_form_with_its_own_error() {
        let s = SeqLock::new(1u64);
        s.writer.break_lock();
        let long = Duration::from_secs(60);
        assert_eq!(s.write(2), Err(SeqLockError::WriterLockCorrupt));
        assert_eq!(s.update(|_| unreachable!("not called")), Err(SeqLockError::WriterLockCorrupt));
        assert_eq!(s.try_write(2), Err(TrySeqLockError::WriterLockCorrupt));
        assert_eq!(
            s.try_update(|_| unreachable!("not called")),
            Err(TrySeqLockError::WriterLockCorrupt)
        );
        assert_eq!(s.write_timeout(2, long), Err(SeqLockTimeoutError::WriterLockCorrupt));
        assert_eq!(
            s.update_timeout(long, |_| unreachable!("not called")),
            Err(SeqLockTimeoutError::WriterLockCorrupt)
        );
        assert_eq!((s.read(), s.version()), (1, 0), "failed writes change nothing");
    }
}
