//! The floor every futex mutex is measured against: one `compare_exchange`
//! to take the word and one `swap` to release it (a swap, not a store,
//! because a mutex must learn on unlock whether someone waits).

use std::sync::atomic::{AtomicU32, Ordering};

/// The smallest lock a futex mutex can be: `0` free, `1` held, `2` held with
/// waiters. It never sleeps; contention spins, which is enough for a floor.
///
/// Just the word: where a benchmark puts it, it gets a cache line of its
/// own (a `CachePadded` field, or the start of a page) like the locks it
/// is measured against.
#[repr(C)]
pub struct FloorLock {
    word: AtomicU32,
}

impl FloorLock {
    /// Takes the word (spins while held).
    #[inline]
    pub fn lock(&self) {
        // acquire: pairs with the release swap in `unlock`, so the previous
        // holder's critical section happens-before ours.
        if self.word.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed).is_err() {
            self.lock_contended();
        }
    }

    #[cold]
    #[inline(never)]
    fn lock_contended(&self) {
        // acquire: as in `lock`.
        while self.word.compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed).is_err() {
            std::hint::spin_loop();
        }
    }

    /// Releases the word and looks at what it held.
    #[inline]
    pub fn unlock(&self) {
        // release: pairs with the acquire CAS in `lock`.
        if self.word.swap(0, Ordering::Release) != 1 {
            wake_nobody();
        }
    }
}

/// Where a real mutex would `futex_wake`; the floor has no sleepers.
#[cold]
#[inline(never)]
fn wake_nobody() {
    std::hint::black_box(());
}
