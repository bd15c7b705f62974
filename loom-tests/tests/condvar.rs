//! Loom models of `ShmCondvar`: no lost wakeup with `notify_one` and
//! `notify_all`, and a wait whose relock finds the mutex held by an owner
//! whose process died (`OwnerDied`), or by a guard leaked in a process that
//! lives (the relock keeps waiting: never `OwnerDied`).
//!
//! The predicate lives in a `loom::cell::UnsafeCell` guarded by the mutex,
//! so loom also checks that the waiter sees the notifier's write.
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use shmsync::loom_hooks::{join_process_of, simulate_process_death};
use shmsync::{LockError, ShmCondvar, ShmMutex, ShmMutexGuard};
use shmsync_loom_tests::{check, leak, lock_clean};

/// A mutex, a condvar and the predicate they guard.
struct Shared {
    mutex: ShmMutex<()>,
    cv: ShmCondvar,
    ready: UnsafeCell<u32>,
}

// SAFETY: `ready` is only accessed while `mutex` is held (loom checks it).
unsafe impl Sync for Shared {}

impl Shared {
    /// Leaked (see `shmsync_loom_tests::leak`).
    fn new() -> &'static Self {
        leak(Shared { mutex: ShmMutex::new(()), cv: ShmCondvar::new(), ready: UnsafeCell::new(0) })
    }

    fn ready(&self) -> u32 {
        // SAFETY: called with `mutex` held.
        self.ready.with(|p| unsafe { *p })
    }

    fn set_ready(&self, v: u32) {
        // SAFETY: called with `mutex` held.
        self.ready.with_mut(|p| unsafe { *p = v });
    }

    /// Waits until `ready() >= at_least`, on a clean mutex.
    fn wait_ready(&self, at_least: u32) {
        let mut g = lock_clean(&self.mutex);
        while self.ready() < at_least {
            g = self.cv.wait(g).unwrap_or_else(|e| panic!("expected a clean relock, got {e:?}"));
        }
        drop(g);
    }
}

/// The notifier sets the predicate under the lock and calls `notify_one`
/// after unlocking; the waiter never sleeps through it (a lost wakeup is a
/// loom deadlock).
#[test]
fn notify_one_is_never_lost() {
    check("notify_one_is_never_lost", 3, || {
        let s = Shared::new();
        let notifier = thread::spawn(move || {
            let g = lock_clean(&s.mutex);
            s.set_ready(1);
            drop(g);
            s.cv.notify_one();
        });
        s.wait_ready(1);
        notifier.join().unwrap();
    });
}

/// Two waiters, one `notify_all` (sent while holding the lock): both wake.
#[test]
fn notify_all_wakes_every_waiter() {
    check("notify_all_wakes_every_waiter", 2, || {
        let s = Shared::new();
        let waiter = thread::spawn(move || s.wait_ready(1));
        let notifier = thread::spawn(move || {
            let _g = lock_clean(&s.mutex);
            s.set_ready(1);
            s.cv.notify_all();
        });
        s.wait_ready(1);
        waiter.join().unwrap();
        notifier.join().unwrap();
    });
}

/// Waits until the predicate is set, on a mutex whose owner may die: the
/// wait (or the first lock, if the notifier was faster) ends in
/// `OwnerDied`, and only once `dead` is set (just before the owner's
/// process dies). A clean guard must never see the predicate: the notifier
/// set it and never unlocked.
fn wait_into_owner_died(s: &Shared, dead: &AtomicBool) {
    let mut g = match s.mutex.lock() {
        Ok(mut g) => loop {
            assert_eq!(s.ready(), 0, "a clean guard saw the dead notifier's write");
            match s.cv.wait(g) {
                Ok(next) => g = next,
                Err(LockError::OwnerDied(died)) => break died,
                Err(LockError::NotRecoverable) => panic!("not recoverable"),
            }
        },
        Err(LockError::OwnerDied(died)) => died,
        Err(LockError::NotRecoverable) => panic!("not recoverable"),
    };
    // SeqCst: `dead` is stored before the death's SeqCst mark, which the
    // relock's proof of death read, so it is visible here.
    assert!(dead.load(Ordering::SeqCst), "OwnerDied while the owner's process lives");
    assert_eq!(s.ready(), 1, "the dead notifier's write is visible");
    ShmMutexGuard::make_consistent(&mut g);
}

/// The notifier sets the predicate, notifies, and its process dies while
/// it holds the mutex. The waiter's relock reports `OwnerDied` and sees the
/// predicate set.
#[test]
fn wait_wakes_into_owner_died() {
    check("wait_wakes_into_owner_died", 3, || {
        let s = Shared::new();
        let dead = leak(AtomicBool::new(false));
        let notifier = thread::spawn(move || {
            let g = lock_clean(&s.mutex);
            s.set_ready(1);
            s.cv.notify_all();
            std::mem::forget(g);
            // SeqCst: before the death (see `wait_into_owner_died`).
            dead.store(true, Ordering::SeqCst);
            simulate_process_death();
        });
        wait_into_owner_died(s, dead);
        notifier.join().unwrap();
        let _g = lock_clean(&s.mutex);
    });
}

/// The notifier, a thread of process P, sets the predicate, notifies, leaks
/// its guard and exits; P lives on in a second thread, which then dies
/// with it. The waiter's relock must wait through the leaked guard (its
/// `&mut` may still be in use while P lives) and report `OwnerDied` only
/// after P's death.
#[test]
fn relock_waits_for_a_leaked_guard_until_its_process_dies() {
    check("relock_waits_for_a_leaked_guard_until_its_process_dies", 3, || {
        let s = Shared::new();
        let dead = leak(AtomicBool::new(false));
        // Model thread 1. It joins the process of model thread 2 (spawned
        // next), so its TID is not its process's token.
        let notifier = thread::spawn(move || {
            join_process_of(2);
            let g = lock_clean(&s.mutex);
            s.set_ready(1);
            s.cv.notify_all();
            std::mem::forget(g);
        });
        // Model thread 2: P's other thread; P dies once the notifier exited.
        let rest_of_process = thread::spawn(move || {
            notifier.join().unwrap();
            // SeqCst: before the death (see `wait_into_owner_died`).
            dead.store(true, Ordering::SeqCst);
            simulate_process_death();
        });
        wait_into_owner_died(s, dead);
        rest_of_process.join().unwrap();
        let _g = lock_clean(&s.mutex);
    });
}
