//! One uncontended lock+unlock per call, for every lock both the criterion
//! benchmarks and the instruction counts time. Each is `#[inline(never)]` so
//! every system is timed as one call, as glibc's always is.

use super::floor::FloorLock;
use super::pthread::PthreadMutex;
use shmsync::{LockError, ShmMutex};
use std::hint::black_box;

/// The floor: CAS + swap on one `AtomicU32`.
#[inline(never)]
pub fn floor_pair(f: &FloorLock) {
    f.lock();
    f.unlock();
}

/// shmsync's `ShmMutex`.
#[inline(never)]
pub fn shmsync_pair(m: &ShmMutex<u64>) {
    match m.lock() {
        Ok(guard) => drop(black_box(guard)),
        Err(LockError::OwnerDied(_) | LockError::NotRecoverable) => unreachable!("unshared"),
    }
}

/// A glibc process-shared pthread mutex (robust or not).
#[inline(never)]
pub fn pthread_pair(m: &PthreadMutex) {
    m.lock();
    m.unlock();
}
