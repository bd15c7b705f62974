//! A process-global list of the segments this process has mapped, so that
//! the mutex can ask "does this lock word live in a non-robust segment?"
//! without knowing which segment it belongs to.

use std::sync::{PoisonError, RwLock};

use super::header::{Header, FLAG_NON_ROBUST};

struct Mapping {
    base: usize,
    len: usize,
}

/// Live mappings, keyed by base address. Entries are added after a segment
/// is mapped and validated and removed before it is unmapped, so the header
/// of every listed mapping may be read while the lock is held.
static MAPPINGS: RwLock<Vec<Mapping>> = RwLock::new(Vec::new());

/// Records a mapping of `len` bytes at `base`, which starts with a header.
pub(crate) fn register(base: *const u8, len: usize) {
    let mut list = MAPPINGS.write().unwrap_or_else(PoisonError::into_inner);
    list.push(Mapping { base: base as usize, len });
}

/// Forgets the mapping at `base`; call before unmapping it.
pub(crate) fn unregister(base: *const u8) {
    let mut list = MAPPINGS.write().unwrap_or_else(PoisonError::into_inner);
    if let Some(i) = list.iter().position(|m| m.base == base as usize) {
        list.swap_remove(i);
    }
}

/// See [`super::owner_death_detection_enabled`].
pub(crate) fn owner_death_detection_enabled(addr: usize) -> bool {
    let list = MAPPINGS.read().unwrap_or_else(PoisonError::into_inner);
    let Some(m) = list.iter().find(|m| addr >= m.base && addr - m.base < m.len) else {
        return true;
    };
    // SAFETY: the mapping is listed, so it is mapped (entries are removed
    // before unmapping, under the write lock we exclude by holding the read
    // lock); it starts with a page-aligned, fully mapped `Header` (checked
    // before registering), and `Header` is all atomics, so a shared
    // reference to it is valid however other processes write to it.
    let header = unsafe { &*(m.base as *const Header) };
    header.flags() & FLAG_NON_ROBUST == 0
}
