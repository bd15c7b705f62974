//! The crate's error type.

use std::io;
use std::time::Duration;

/// Everything that can go wrong creating, opening or validating a segment,
/// and the lock failures that carry no guard.
///
/// Each message says what happened and what to do about it. The enum is
/// `#[non_exhaustive]`: match the variants you handle and keep a `_` arm.
/// It is `'static`, so `?` moves it into a `Box<dyn Error>` or an
/// `anyhow::Error`.
///
/// A dead owner is not an error of this type, since it comes with a guard
/// to repair through: see [`LockError`](crate::LockError),
/// [`TryLockError`](crate::TryLockError) and
/// [`LockTimeoutError`](crate::LockTimeoutError), or let
/// [`ShmMutex::lock_or_repair`](crate::ShmMutex::lock_or_repair) run the
/// repair and return `Result<guard, Error>`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The segment name is not 1..=200 bytes of `[A-Za-z0-9._-]` with an
    /// optional leading `/`.
    #[error(
        "invalid segment name {name:?}: {reason}; use 1 to 200 bytes of \
         [A-Za-z0-9._-], optionally after one leading '/'"
    )]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// `create` found a segment with this name already.
    #[error(
        "shared memory segment {name:?} already exists; open it with Segment::open, \
         or remove a stale one with shmsync::unlink"
    )]
    AlreadyExists {
        /// The segment name.
        name: String,
    },

    /// `open` found no segment with this name.
    #[error("shared memory segment {name:?} does not exist; create it first (Segment::create or open_or_create)")]
    NotFound {
        /// The segment name.
        name: String,
    },

    /// The process may not open the segment with read-write access.
    #[error(
        "permission denied on shared memory segment {name:?}; it was created with a mode \
         that excludes this user (see SegmentOptions::mode)"
    )]
    PermissionDenied {
        /// The segment name.
        name: String,
    },

    /// The object exists but does not start with shmsync's header (another
    /// program made it, or it is corrupt).
    #[error(
        "{name:?} is not a shmsync segment ({reason}); it was made by another program or is \
         corrupt: pick another name, or unlink it if it is stale"
    )]
    NotASegment {
        /// The segment name.
        name: String,
        /// Which check failed, e.g. `"bad magic"`.
        reason: &'static str,
    },

    /// The segment was written by an incompatible version of shmsync.
    #[error(
        "segment {name:?} has format version {found}, this shmsync reads version {expected}; \
         use the same shmsync version in every process"
    )]
    VersionMismatch {
        /// The segment name.
        name: String,
        /// The version this build understands.
        expected: u32,
        /// The version found in the header.
        found: u32,
    },

    /// The segment holds a different type than the one asked for. The
    /// message says what differs: the type's name, its size, its
    /// alignment, or (when those agree) its fields.
    #[error(
        "segment {name:?} holds `{found}` but was opened as `{expected}`: {}; every process \
         must use the same type definition",
        layout_difference(expected, found, *expected_size, *found_size, *expected_align, *found_align)
    )]
    LayoutMismatch {
        /// The segment name.
        name: String,
        /// The type the caller asked for.
        expected: &'static str,
        /// The type name recorded by the creator.
        found: String,
        /// The caller's layout fingerprint.
        expected_fingerprint: u64,
        /// The fingerprint recorded by the creator.
        found_fingerprint: u64,
        /// `size_of` the caller's type (of one element, for a slice), bytes.
        expected_size: u64,
        /// The size recorded by the creator, bytes.
        found_size: u64,
        /// `align_of` the caller's type, bytes.
        expected_align: u64,
        /// The alignment recorded by the creator, bytes.
        found_align: u64,
    },

    /// The object's size disagrees with its header (truncated or corrupt).
    #[error(
        "segment {name:?} is {found} bytes but its header needs {expected}; it is truncated \
         or corrupt: unlink and recreate it"
    )]
    SizeMismatch {
        /// The segment name.
        name: String,
        /// The size the header (or the type) requires.
        expected: u64,
        /// The size actually found.
        found: u64,
    },

    /// `open_or_create` of a slice segment found one with another length.
    #[error(
        "segment {name:?} holds {found} elements but {expected} were asked for; open it with \
         Segment::open_slice to accept any length, or use another name"
    )]
    LengthMismatch {
        /// The segment name.
        name: String,
        /// The length the caller asked for.
        expected: usize,
        /// The length recorded by the creator.
        found: usize,
    },

    /// The creator did not finish initializing within the open timeout.
    #[error(
        "segment {name:?} was not initialized within {timeout:?}; its creator is still busy \
         or stuck (raise SegmentOptions::open_timeout if initialization is slow)"
    )]
    InitTimeout {
        /// The segment name.
        name: String,
        /// The timeout that elapsed.
        timeout: Duration,
    },

    /// The creator died before it finished initializing.
    #[error(
        "the process (pid {pid}) that created segment {name:?} died before initializing it; \
         use open_or_create to take it over, or unlink it"
    )]
    CreatorDied {
        /// The segment name.
        name: String,
        /// The creator's process id.
        pid: u32,
    },

    /// `/dev/shm` has no room for the segment. Its pages are reserved when
    /// it is created, so a full `/dev/shm` is this error, never a SIGBUS
    /// later; the half-made segment's name is removed.
    #[error("{}", no_space_message(name, *needed, *available))]
    NoSpace {
        /// The segment name.
        name: String,
        /// Bytes the segment needs (header and payload; 0 if even a new,
        /// empty object could not be made).
        needed: u64,
        /// Bytes `/dev/shm` had free for this user when it failed.
        available: u64,
    },

    /// A mutex is not recoverable: an earlier owner-died recovery was
    /// abandoned without `make_consistent`, so its data cannot be trusted.
    #[error(
        "the mutex is not recoverable: an earlier owner-died recovery was abandoned without \
         make_consistent, so nobody can lock it again; it cannot be reset: unlink the segment \
         (shmsync::unlink), create a new one and have every process open the new one"
    )]
    NotRecoverable,

    /// A lock was held by a live owner for the whole timeout.
    #[error("timed out after {timeout:?} waiting for a lock held by a live owner")]
    TimedOut {
        /// The timeout that elapsed.
        timeout: Duration,
    },

    /// The segment is in use: a process has it open, so it was not removed
    /// (see [`inspect::remove`](crate::inspect::remove)).
    #[error(
        "segment {name:?} is in use: a process has it open; stop that process first, or force \
         the removal (its users keep their mapping, but nobody else can open it by name)"
    )]
    InUse {
        /// The segment name.
        name: String,
    },

    /// A seqlock write failed (see [`SeqLockError`](crate::SeqLockError)).
    #[error(transparent)]
    SeqLock(#[from] crate::SeqLockError),

    /// A seqlock `try_write` or `try_update` failed (see
    /// [`TrySeqLockError`](crate::TrySeqLockError)).
    #[error(transparent)]
    TrySeqLock(#[from] crate::TrySeqLockError),

    /// A seqlock `write_timeout` or `update_timeout` failed (see
    /// [`SeqLockTimeoutError`](crate::SeqLockTimeoutError)).
    #[error(transparent)]
    SeqLockTimeout(#[from] crate::SeqLockTimeoutError),

    /// A broadcast send failed (see [`SendError`](crate::SendError)).
    #[error(transparent)]
    Broadcast(#[from] crate::SendError),

    /// A broadcast `try_send` failed (see
    /// [`TrySendError`](crate::TrySendError)).
    #[error(transparent)]
    TryBroadcast(#[from] crate::TrySendError),

    /// A broadcast `send_timeout` failed (see
    /// [`SendTimeoutError`](crate::SendTimeoutError)).
    #[error(transparent)]
    BroadcastTimeout(#[from] crate::SendTimeoutError),

    /// An argument the caller gave cannot be used, whatever the system's
    /// state (a mode with bits outside `0o777`, a slice length whose bytes
    /// do not fit the address space). Nothing was created.
    #[error("invalid {what} for segment {name:?}: {why}")]
    InvalidArgument {
        /// The segment name.
        name: String,
        /// Which argument, e.g. `"mode"`.
        what: &'static str,
        /// What is wrong with it and what is allowed.
        why: String,
    },

    /// An operating system call failed for another reason.
    #[error("{op} failed for segment {name:?}: {source}")]
    Io {
        /// The segment name (empty if none applies).
        name: String,
        /// The operation that failed, e.g. `"shm_open"`.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// A shorthand for `Result<T, shmsync::Error>`.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// What differs between two layouts, for [`Error::LayoutMismatch`].
fn layout_difference(
    expected: &str,
    found: &str,
    expected_size: u64,
    found_size: u64,
    expected_align: u64,
    found_align: u64,
) -> String {
    let mut parts = Vec::new();
    if expected != found {
        parts.push(format!("the type name differs (segment: `{found}`, yours: `{expected}`)"));
    }
    if expected_size != found_size {
        parts.push(format!(
            "the size differs (segment: {found_size} bytes, yours: {expected_size} bytes)"
        ));
    }
    if expected_align != found_align {
        parts.push(format!(
            "the alignment differs (segment: {found_align} bytes, yours: {expected_align} bytes)"
        ));
    }
    if parts.is_empty() {
        format!(
            "it holds a different definition of `{found}`: same name, size and alignment, but \
             other fields (names, types or offsets)"
        )
    } else {
        parts.join(", ")
    }
}

/// `n` bytes in a human unit (`12 B`, `64.0 KiB`, `8.0 MiB`, `1.5 GiB`).
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    #[allow(clippy::cast_precision_loss)]
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {} ({n} bytes)", UNITS[unit])
}

/// The message of [`Error::NoSpace`]: what was needed and free, and how to
/// make room.
fn no_space_message(name: &str, needed: u64, available: u64) -> String {
    const HOW: &str = "remove stale segments (shmsync::unlink), or make /dev/shm larger: \
                       `mount -o remount,size=2G /dev/shm` on a host, `docker run \
                       --shm-size=2g` in Docker, a larger `sizeLimit` on a Kubernetes \
                       memory-backed emptyDir";
    if needed == 0 {
        format!(
            "no room in /dev/shm for segment {name:?}: it cannot hold another object (out of \
             inodes, or full: {} free); {HOW}, or raise its `nr_inodes` mount option",
            bytes(available)
        )
    } else {
        format!(
            "no room in /dev/shm for segment {name:?}: it needs {} but only {} is free; {HOW}",
            bytes(needed),
            bytes(available)
        )
    }
}
