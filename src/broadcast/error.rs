//! The errors of [`Broadcast`](super::Broadcast) and its
//! [`Receiver`](super::Receiver), named after `tokio::sync::broadcast`'s.

use crate::raw_mutex::FromRefusal;

const NOT_RECOVERABLE_MSG: &str = "the broadcast's sender lock is not recoverable, a state no \
                                   sender leaves behind; the shared memory holding it was \
                                   overwritten by something else: recreate the segment";
const CORRUPT_MSG: &str = "the broadcast's sequence number is beyond any a ring reaches; the \
                           shared memory holding it was overwritten by something else: \
                           recreate the segment";

/// Why a [`Broadcast::send`](super::Broadcast::send) (or `send_with`) did
/// not happen. Nothing was sent then, and the sequence number was not used.
///
/// `send` waits for as long as a live sender holds the sender lock, and a
/// sender that died is taken over from, so `send` fails only on a corrupt
/// segment (another program writing over the ring). The `try_` and
/// `_timeout` forms also report a live sender that does not let go, each
/// through an error of its own ([`TrySendError`], [`SendTimeoutError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The sender lock's word says "not recoverable", a state no sender of
    /// this crate leaves behind (a sender taken over from always repairs
    /// the ring and marks the lock consistent): mutual exclusion between
    /// senders can no longer be had.
    #[error("{}", NOT_RECOVERABLE_MSG)]
    NotRecoverable,

    /// The sequence word holds a number no ring reaches (2^62 or more), so
    /// the shared memory was overwritten by something else.
    #[error("{}", CORRUPT_MSG)]
    Corrupt,
}

/// Why a [`Broadcast::try_send`](super::Broadcast::try_send) did not
/// happen. Nothing was sent then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrySendError {
    /// As [`SendError::NotRecoverable`].
    #[error("{}", NOT_RECOVERABLE_MSG)]
    NotRecoverable,

    /// As [`SendError::Corrupt`].
    #[error("{}", CORRUPT_MSG)]
    Corrupt,

    /// Another live sender holds the sender lock.
    #[error("another sender holds the broadcast's sender lock")]
    WouldBlock,
}

/// Why a [`Broadcast::send_timeout`](super::Broadcast::send_timeout) did
/// not happen. Nothing was sent then.
///
/// Its timeout is `TimedOut`, as for every lock of the crate; the
/// receiver's [`RecvTimeoutError::Timeout`] keeps `tokio`'s name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendTimeoutError {
    /// As [`SendError::NotRecoverable`].
    #[error("{}", NOT_RECOVERABLE_MSG)]
    NotRecoverable,

    /// As [`SendError::Corrupt`].
    #[error("{}", CORRUPT_MSG)]
    Corrupt,

    /// A live sender held the sender lock for the whole timeout.
    #[error("timed out waiting for the broadcast's sender lock")]
    TimedOut,
}

impl From<SendError> for TrySendError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::NotRecoverable => TrySendError::NotRecoverable,
            SendError::Corrupt => TrySendError::Corrupt,
        }
    }
}

impl From<SendError> for SendTimeoutError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::NotRecoverable => SendTimeoutError::NotRecoverable,
            SendError::Corrupt => SendTimeoutError::Corrupt,
        }
    }
}

impl FromRefusal for SendError {
    const NOT_RECOVERABLE: Self = SendError::NotRecoverable;
    const WOULD_BLOCK: Option<Self> = None;
    const TIMED_OUT: Option<Self> = None;
}

impl FromRefusal for TrySendError {
    const NOT_RECOVERABLE: Self = TrySendError::NotRecoverable;
    const WOULD_BLOCK: Option<Self> = Some(TrySendError::WouldBlock);
    const TIMED_OUT: Option<Self> = None;
}

impl FromRefusal for SendTimeoutError {
    const NOT_RECOVERABLE: Self = SendTimeoutError::NotRecoverable;
    const WOULD_BLOCK: Option<Self> = None;
    const TIMED_OUT: Option<Self> = Some(SendTimeoutError::TimedOut);
}

/// Why [`Receiver::recv`](super::Receiver::recv) returned no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecvError {
    /// The receiver fell behind: this many values were overwritten before
    /// it read them. It now continues from the oldest value the ring still
    /// holds, so the next call returns that one.
    #[error("the receiver lagged behind and missed {0} values")]
    Lagged(u64),
}

/// Why [`Receiver::try_recv`](super::Receiver::try_recv) returned no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TryRecvError {
    /// No value has been sent since the last one this receiver got.
    #[error("no value to receive yet")]
    Empty,
    /// As [`RecvError::Lagged`].
    #[error("the receiver lagged behind and missed {0} values")]
    Lagged(u64),
}

/// Why [`Receiver::recv_timeout`](super::Receiver::recv_timeout) returned
/// no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecvTimeoutError {
    /// No value was sent within the timeout.
    #[error("timed out waiting for a value")]
    Timeout,
    /// As [`RecvError::Lagged`].
    #[error("the receiver lagged behind and missed {0} values")]
    Lagged(u64),
}

#[cfg(test)]
mod tests {
    use super::{SendError, SendTimeoutError, TrySendError};

    /// A failure every send form can meet reads the same from each, and
    /// converts from `send`'s error to the same variant.
    #[test]
    fn shared_failures_read_and_convert_alike() {
        for e in [SendError::NotRecoverable, SendError::Corrupt] {
            assert_eq!(TrySendError::from(e).to_string(), e.to_string());
            assert_eq!(SendTimeoutError::from(e).to_string(), e.to_string());
            assert_eq!(format!("{:?}", TrySendError::from(e)), format!("{e:?}"));
            assert_eq!(format!("{:?}", SendTimeoutError::from(e)), format!("{e:?}"));
        }
        assert!(SendError::Corrupt.to_string().contains("recreate the segment"));
        assert!(SendTimeoutError::TimedOut.to_string().contains("timed out"));
        assert!(TrySendError::WouldBlock.to_string().contains("another sender"));
    }
}
