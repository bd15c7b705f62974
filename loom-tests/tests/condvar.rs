//! Loom models of `ShmCondvar`: no lost wakeup with `notify_one` and
//! `notify_all`, and a wait that wakes into a mutex whose owner died.
//!
//! The predicate lives in a `loom::cell::UnsafeCell` guarded by the mutex,
//! so loom also checks that the waiter sees the notifier's write.
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::thread;
use shmsync::loom_hooks::simulate_thread_death;
use shmsync::{LockError, ShmCondvar, ShmMutex, ShmMutexGuard};

/// A mutex, a condvar and the predicate they guard.
struct Shared {
    mutex: ShmMutex<()>,
    cv: ShmCondvar,
    ready: UnsafeCell<u32>,
}

// SAFETY: `ready` is only accessed while `mutex` is held (loom checks it).
unsafe impl Sync for Shared {}

impl Shared {
    /// Leaked, see `loom-tests/tests/mutex.rs`.
    fn new() -> &'static Self {
        Box::leak(Box::new(Shared {
            mutex: ShmMutex::new(()),
            cv: ShmCondvar::new(),
            ready: UnsafeCell::new(0),
        }))
    }

    fn ready(&self) -> u32 {
        // SAFETY: called with `mutex` held.
        self.ready.with(|p| unsafe { *p })
    }

    fn set_ready(&self, v: u32) {
        // SAFETY: called with `mutex` held.
        self.ready.with_mut(|p| unsafe { *p = v });
    }

    fn lock_clean(&self) -> ShmMutexGuard<'_, ()> {
        self.mutex.lock().unwrap_or_else(|e| panic!("expected a clean lock, got {e:?}"))
    }

    /// Waits until `ready() >= at_least`, on a clean mutex.
    fn wait_ready(&self, at_least: u32) {
        let mut g = self.lock_clean();
        while self.ready() < at_least {
            g = self.cv.wait(g).unwrap_or_else(|e| panic!("expected a clean relock, got {e:?}"));
        }
        drop(g);
    }
}

/// A model builder bounded to `preemptions` unless `LOOM_MAX_PREEMPTIONS`
/// says otherwise (loom reads it in `Builder::new`).
fn builder(preemptions: usize) -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(preemptions);
    }
    b
}

/// The notifier sets the predicate under the lock and calls `notify_one`
/// after unlocking; the waiter never sleeps through it (a lost wakeup is a
/// loom deadlock).
#[test]
fn notify_one_is_never_lost() {
    builder(3).check(|| {
        let s = Shared::new();
        let notifier = thread::spawn(move || {
            let g = s.lock_clean();
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
    builder(2).check(|| {
        let s = Shared::new();
        let waiter = thread::spawn(move || s.wait_ready(1));
        let notifier = thread::spawn(move || {
            let _g = s.lock_clean();
            s.set_ready(1);
            s.cv.notify_all();
        });
        s.wait_ready(1);
        waiter.join().unwrap();
        notifier.join().unwrap();
    });
}

/// The notifier sets the predicate, notifies, and dies holding the mutex.
/// The waiter ends up with `OwnerDied` (from the wait's relock, or from its
/// first lock if the notifier was faster) and sees the predicate set.
#[test]
fn wait_wakes_into_owner_died() {
    builder(3).check(|| {
        let s = Shared::new();
        let notifier = thread::spawn(move || {
            let g = s.lock_clean();
            s.set_ready(1);
            s.cv.notify_all();
            std::mem::forget(g);
            simulate_thread_death();
        });
        let mut g = match s.mutex.lock() {
            Ok(g) => {
                let mut g = g;
                loop {
                    if s.ready() == 1 {
                        panic!("a clean guard saw the dead notifier's write");
                    }
                    match s.cv.wait(g) {
                        Ok(next) => g = next,
                        Err(LockError::OwnerDied(died)) => break died,
                        Err(LockError::NotRecoverable) => panic!("not recoverable"),
                    }
                }
            }
            Err(LockError::OwnerDied(died)) => died,
            Err(LockError::NotRecoverable) => panic!("not recoverable"),
        };
        assert_eq!(s.ready(), 1, "the dead notifier's write is visible");
        ShmMutexGuard::make_consistent(&mut g);
        drop(g);
        notifier.join().unwrap();
        let _g = s.lock_clean();
    });
}
