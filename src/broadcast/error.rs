//! The errors of [`Broadcast`](super::Broadcast) and its
//! [`Receiver`](super::Receiver), named after `tokio::sync::broadcast`'s.

/// Why a [`Broadcast`](super::Broadcast) send did not happen. Nothing was
/// sent then, and the sequence number was not used.
///
/// `send` waits for as long as a live sender holds the sender lock, and a
/// sender that died is taken over from, so `send` fails only on a corrupt
/// segment (another program writing over the ring). The `try_` and
/// `_timeout` forms also report a live sender that does not let go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The sender lock's word says "not recoverable", a state no sender of
    /// this crate leaves behind (a sender taken over from always repairs
    /// the ring and marks the lock consistent): mutual exclusion between
    /// senders can no longer be had.
    #[error(
        "the broadcast's sender lock is not recoverable, a state no sender leaves behind; the \
         shared memory holding it was overwritten by something else: recreate the segment"
    )]
    NotRecoverable,

    /// The sequence word holds a number no ring reaches (2^62 or more), so
    /// the shared memory was overwritten by something else.
    #[error(
        "the broadcast's sequence number is beyond any a ring reaches; the shared memory holding \
         it was overwritten by something else: recreate the segment"
    )]
    Corrupt,

    /// `try_send`: another live sender holds the sender lock.
    #[error("another sender holds the broadcast's sender lock")]
    WouldBlock,

    /// `send_timeout`: a live sender held the sender lock for the whole
    /// timeout.
    #[error("timed out waiting for the broadcast's sender lock")]
    TimedOut,
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
