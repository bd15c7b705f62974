//! shmsync: robust, typed synchronization primitives for cross-process
//! shared memory on Linux.
#![cfg_attr(docsrs, feature(doc_auto_cfg))]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

#[cfg(not(target_os = "linux"))]
compile_error!(
    "shmsync supports Linux only: its robust mutex relies on Linux futexes, \
     thread ids and /proc. Other platforms are a non-goal for now."
);

mod error;
mod shm_safe;
mod sync;
mod sys;

mod condvar;
mod counter;
mod mutex;
mod raw_mutex;
#[cfg(not(loom))]
mod segment;
mod seqlock;

pub use error::{Error, Result};
pub use shm_safe::{fingerprint, ShmSafe};

#[cfg(feature = "derive")]
pub use shmsync_derive::ShmSafe;

// Segment exports (src/segment/).
#[cfg(not(loom))]
#[doc(hidden)]
pub use segment::__owner_death_detection_enabled;
#[cfg(not(loom))]
pub use segment::{is_attached, unlink, Segment, SegmentOptions, SegmentPayload};

// Mutex and condvar exports (src/mutex.rs, src/condvar.rs).
pub use condvar::{ShmCondvar, WaitTimeoutResult};
pub use mutex::{LockError, ShmMutex, ShmMutexGuard, TryLockError};

// Counter and seqlock exports (src/counter.rs, src/seqlock.rs).
/// The `bytemuck` crate, whose [`Pod`](bytemuck::Pod) bound a
/// [`SeqLock`]'s value type needs: derive it with
/// `#[derive(shmsync::bytemuck::Pod, shmsync::bytemuck::Zeroable)]` and
/// `#[bytemuck(crate = "shmsync::bytemuck")]`, or depend on `bytemuck`.
pub use bytemuck;
pub use counter::{AtomicCounter, ShardedCounter, DEFAULT_SHARDS};
pub use seqlock::{SeqLock, SeqLockError};

#[cfg(loom)]
pub use sync::loom_hooks;
