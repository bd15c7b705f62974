//! The seqlock's writer lock: a robust [`RawMutex`] (so a writer that dies
//! holding it is detected and replaced), and the count of such take-overs.
//!
//! # Recovery needs no repair
//!
//! The lock protects only the *spare* copy and the sequence word (see
//! `latch.rs`). A writer that dies at any point leaves the published copy
//! and the sequence consistent: either it died before publishing (the spare
//! copy may be torn, and the next write overwrites it whole) or after (its
//! write is complete). So when [`RawMutex::lock`] reports that the previous
//! owner died, the new owner marks the lock consistent at once, counts the
//! event in `recoveries`, and writes as usual.
//!
//! # State
//!
//! | field | meaning | written by |
//! |---|---|---|
//! | `lock` | the [`RawMutex`] lock word and its owner's identity (its own state table) | writers, via `RawMutex` |
//! | `recoveries` (`u64`) | take-overs from a dead writer since creation (wrapping) | the writer that took over, while holding `lock` |

use crate::raw_mutex::{Acquired, RawLockError, RawMutex};
use crate::sync::{AtomicU64, Instant, Ordering};

/// Why a [`SeqLock`](crate::SeqLock) write did not happen. The value is
/// unchanged when a write fails.
///
/// `write` and `update` wait for as long as a live writer holds the writer
/// lock, so they fail only on a corrupt segment (another process writing
/// garbage over the seqlock): the writer lock of a seqlock is always left
/// consistent by its own code, even when a writer dies. The `try_` and
/// `_timeout` forms also report a live writer that does not let go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SeqLockError {
    /// The writer lock's word holds a state no seqlock writer leaves behind
    /// (e.g. "not recoverable"), so mutual exclusion between writers cannot
    /// be guaranteed.
    #[error(
        "the seqlock's writer lock is in a state no seqlock writer leaves behind; the shared \
         memory holding it was overwritten by something else: recreate the segment"
    )]
    WriterLockCorrupt,

    /// `try_write`/`try_update`: another live writer holds the writer lock.
    #[error("another writer holds the seqlock's writer lock")]
    WouldBlock,

    /// `write_timeout`/`update_timeout`: a live writer held the writer lock
    /// for the whole timeout (or a broken peer left a live-looking owner in
    /// its word).
    #[error("timed out waiting for the seqlock's writer lock")]
    TimedOut,
}

/// The writer lock and the recovery count. `SeqLock` keeps them on their own
/// cache line (a `CachePadded<WriterLine>`). The lock (whose first field is
/// its lock word) comes first: `SeqLock`'s docs promise where the word is.
#[repr(C)]
pub(crate) struct WriterLine {
    lock: RawMutex,
    recoveries: AtomicU64,
}

impl WriterLine {
    crate::sync::const_unless_loom! {
        /// An unlocked writer line with no recoveries (the same as zeroed).
        pub(crate) const fn new() -> Self {
            Self { lock: RawMutex::new(), recoveries: AtomicU64::new(0) }
        }
    }

    /// Takes the writer lock, waiting until `deadline` (forever if `None`)
    /// while a live writer holds it, and taking over from a dead one.
    pub(crate) fn lock(&self, deadline: Option<Instant>) -> Result<WriterGuard<'_>, SeqLockError> {
        self.acquired(self.lock.lock(deadline))
    }

    /// Takes the writer lock if no live writer holds it.
    pub(crate) fn try_lock(&self) -> Result<WriterGuard<'_>, SeqLockError> {
        self.acquired(self.lock.try_lock())
    }

    fn acquired(
        &self,
        attempt: Result<Acquired, RawLockError>,
    ) -> Result<WriterGuard<'_>, SeqLockError> {
        match attempt {
            Ok(Acquired::Clean) => {}
            Ok(Acquired::OwnerDied) => self.recover(),
            Err(RawLockError::WouldBlock) => return Err(SeqLockError::WouldBlock),
            Err(RawLockError::TimedOut) => return Err(SeqLockError::TimedOut),
            Err(RawLockError::NotRecoverable) => return Err(SeqLockError::WriterLockCorrupt),
        }
        Ok(WriterGuard { line: self })
    }

    #[cold]
    fn recover(&self) {
        // Nothing to repair (module docs): make the lock consistent again and
        // count the take-over.
        self.lock.make_consistent();
        // relaxed: a statistic, written only under the lock (whose own
        // orderings serialize the writers); readers infer nothing from it.
        self.recoveries.fetch_add(1, Ordering::Relaxed);
    }

    /// Take-overs from a dead writer so far.
    pub(crate) fn recoveries(&self) -> u64 {
        // relaxed: a statistic (see `recover`).
        self.recoveries.load(Ordering::Relaxed)
    }
}

/// Holds the writer lock; releases it when dropped (also when an `update`
/// closure panics: the shared copies are untouched until the closure has
/// returned, so a clean unlock is correct).
pub(crate) struct WriterGuard<'a> {
    line: &'a WriterLine,
}

impl Drop for WriterGuard<'_> {
    fn drop(&mut self) {
        self.line.lock.unlock();
    }
}
