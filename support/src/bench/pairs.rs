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

/// `std::sync::Mutex`, the in-process reference.
#[inline(never)]
pub fn std_pair(m: &std::sync::Mutex<u64>) {
    drop(black_box(m.lock()));
}

/// `parking_lot::Mutex`, the other in-process reference.
#[inline(never)]
pub fn parking_lot_pair(m: &parking_lot::Mutex<u64>) {
    drop(black_box(m.lock()));
}
