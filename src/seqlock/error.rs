//! Why a [`SeqLock`](super::SeqLock) write did not happen: one error type
//! per kind of write operation, each holding only the failures that
//! operation can meet.

use crate::raw_mutex::FromRefusal;

const WRITER_LOCK_CORRUPT_MSG: &str = "the seqlock's writer lock is in a state no seqlock writer \
                                       leaves behind; the shared memory holding it was \
                                       overwritten by something else: recreate the segment";

/// Why a [`SeqLock::write`](super::SeqLock::write) or
/// [`update`](super::SeqLock::update) did not happen. The value is
/// unchanged when a write fails.
///
/// `write` and `update` wait for as long as a live writer holds the writer
/// lock, so they fail only on a corrupt segment (another process writing
/// garbage over the seqlock): the writer lock of a seqlock is always left
/// consistent by its own code, even when a writer dies. The `try_` and
/// `_timeout` forms also report a live writer that does not let go, each
/// through an error of its own ([`TrySeqLockError`],
/// [`SeqLockTimeoutError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SeqLockError {
    /// The writer lock's word holds a state no seqlock writer leaves behind
    /// (e.g. "not recoverable"), so mutual exclusion between writers cannot
    /// be guaranteed.
    #[error("{}", WRITER_LOCK_CORRUPT_MSG)]
    WriterLockCorrupt,
}

/// Why a [`SeqLock::try_write`](super::SeqLock::try_write) or
/// [`try_update`](super::SeqLock::try_update) did not happen. The value is
/// unchanged then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrySeqLockError {
    /// As [`SeqLockError::WriterLockCorrupt`].
    #[error("{}", WRITER_LOCK_CORRUPT_MSG)]
    WriterLockCorrupt,

    /// Another live writer holds the writer lock (or the calling thread
    /// does, inside an `update` closure).
    #[error("another writer holds the seqlock's writer lock")]
    WouldBlock,
}

/// Why a [`SeqLock::write_timeout`](super::SeqLock::write_timeout) or
/// [`update_timeout`](super::SeqLock::update_timeout) did not happen. The
/// value is unchanged then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SeqLockTimeoutError {
    /// As [`SeqLockError::WriterLockCorrupt`].
    #[error("{}", WRITER_LOCK_CORRUPT_MSG)]
    WriterLockCorrupt,

    /// A live writer held the writer lock for the whole timeout (or a
    /// broken peer left a live-looking owner in its word).
    #[error("timed out waiting for the seqlock's writer lock")]
    TimedOut,
}

impl From<SeqLockError> for TrySeqLockError {
    fn from(e: SeqLockError) -> Self {
        match e {
            SeqLockError::WriterLockCorrupt => TrySeqLockError::WriterLockCorrupt,
        }
    }
}

impl From<SeqLockError> for SeqLockTimeoutError {
    fn from(e: SeqLockError) -> Self {
        match e {
            SeqLockError::WriterLockCorrupt => SeqLockTimeoutError::WriterLockCorrupt,
        }
    }
}

impl FromRefusal for SeqLockError {
    const NOT_RECOVERABLE: Self = SeqLockError::WriterLockCorrupt;
    const WOULD_BLOCK: Option<Self> = None;
    const TIMED_OUT: Option<Self> = None;
}

impl FromRefusal for TrySeqLockError {
    const NOT_RECOVERABLE: Self = TrySeqLockError::WriterLockCorrupt;
    const WOULD_BLOCK: Option<Self> = Some(TrySeqLockError::WouldBlock);
    const TIMED_OUT: Option<Self> = None;
}

impl FromRefusal for SeqLockTimeoutError {
    const NOT_RECOVERABLE: Self = SeqLockTimeoutError::WriterLockCorrupt;
    const WOULD_BLOCK: Option<Self> = None;
    const TIMED_OUT: Option<Self> = Some(SeqLockTimeoutError::TimedOut);
}

#[cfg(test)]
mod tests {
    use super::{SeqLockError, SeqLockTimeoutError, TrySeqLockError};
    use crate::raw_mutex::{FromRefusal, RawLockError};

    /// The failure every write form can meet reads the same from each, and
    /// converts from `write`'s error to the same variant.
    #[test]
    fn the_shared_failure_reads_and_converts_alike() {
        let e = SeqLockError::WriterLockCorrupt;
        assert_eq!(TrySeqLockError::from(e), TrySeqLockError::WriterLockCorrupt);
        assert_eq!(SeqLockTimeoutError::from(e), SeqLockTimeoutError::WriterLockCorrupt);
        assert_eq!(TrySeqLockError::from(e).to_string(), e.to_string());
        assert_eq!(SeqLockTimeoutError::from(e).to_string(), e.to_string());
        assert_eq!(format!("{:?}", TrySeqLockError::from(e)), format!("{e:?}"));
        assert_eq!(format!("{:?}", SeqLockTimeoutError::from(e)), format!("{e:?}"));
        assert!(e.to_string().ends_with("recreate the segment"), "{e}");
    }

    /// Each operation's own failure, by name and in words.
    #[test]
    fn each_error_shows_the_failure_of_its_operation() {
        let e = TrySeqLockError::WouldBlock;
        assert_eq!(format!("{e:?}"), "WouldBlock");
        assert_eq!(e.to_string(), "another writer holds the seqlock's writer lock");
        let e = SeqLockTimeoutError::TimedOut;
        assert_eq!(format!("{e:?}"), "TimedOut");
        assert_eq!(e.to_string(), "timed out waiting for the seqlock's writer lock");
    }

    /// Each operation turns the raw lock's refusals it can meet into its
    /// own error.
    #[test]
    fn each_error_takes_the_refusals_of_its_operation() {
        assert_eq!(
            SeqLockError::refused(RawLockError::NotRecoverable),
            SeqLockError::WriterLockCorrupt
        );
        assert_eq!(
            TrySeqLockError::refused(RawLockError::NotRecoverable),
            TrySeqLockError::WriterLockCorrupt
        );
        assert_eq!(TrySeqLockError::refused(RawLockError::WouldBlock), TrySeqLockError::WouldBlock);
        assert_eq!(
            SeqLockTimeoutError::refused(RawLockError::NotRecoverable),
            SeqLockTimeoutError::WriterLockCorrupt
        );
        assert_eq!(
            SeqLockTimeoutError::refused(RawLockError::TimedOut),
            SeqLockTimeoutError::TimedOut
        );
    }
}
