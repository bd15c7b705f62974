//! Loom models of `ShmMutex`: mutual exclusion under contention, a holder
//! that dies and exactly one recovery, and try_lock / timeouts.
//!
//! Mutual exclusion is checked through a `loom::cell::UnsafeCell` beside the
//! mutex: loom reports any two accesses to it that are not ordered by
//! happens-before, so a lock that lets two threads in, or an unlock whose
//! writes the next owner might not see, fails the model.
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use shmsync::loom_hooks::simulate_thread_death;
use shmsync::{LockError, ShmMutex, ShmMutexGuard, TryLockError};
use std::time::Duration;

/// The mutex plus a loom-tracked cell that only the lock holder touches.
struct Guarded {
    mutex: ShmMutex<()>,
    cell: UnsafeCell<u64>,
}

// SAFETY: `cell` is only accessed while `mutex` is held (that is what the
// models check; loom reports it if not).
unsafe impl Sync for Guarded {}

impl Guarded {
    /// Leaked rather than shared through a loom `Arc`: when loom unwinds a
    /// deadlocked model, an `Arc` dropped on the stack would panic again
    /// and abort the process instead of failing the one model.
    fn new() -> &'static Self {
        Box::leak(Box::new(Guarded { mutex: ShmMutex::new(()), cell: UnsafeCell::new(0) }))
    }

    /// Adds one to the cell, as the lock holder.
    fn bump(&self) {
        // SAFETY: called only while holding `mutex`; loom checks that no
        // other access races with this one.
        self.cell.with_mut(|p| unsafe { *p += 1 });
    }

    fn value(&self) -> u64 {
        // SAFETY: as in `bump`.
        self.cell.with(|p| unsafe { *p })
    }

    fn lock_clean(&self) -> ShmMutexGuard<'_, ()> {
        self.mutex.lock().unwrap_or_else(|e| panic!("expected a clean lock, got {e:?}"))
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

/// Two threads lock, bump, unlock. Catches a missing acquire/release (the
/// bumps race) and lost wakeups (deadlock).
#[test]
fn two_threads_mutual_exclusion() {
    builder(3).check(|| {
        let g = Guarded::new();
        let other = {
            thread::spawn(move || {
                let _l = g.lock_clean();
                g.bump();
            })
        };
        {
            let _l = g.lock_clean();
            g.bump();
        }
        other.join().unwrap();
        let _l = g.lock_clean();
        assert_eq!(g.value(), 2);
    });
}

/// Three threads contend, so two can be asleep at once: the one woken first
/// must leave WAITERS set when it acquires, or the third sleeps forever.
#[test]
fn three_threads_contention() {
    builder(2).check(|| {
        let g = Guarded::new();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                thread::spawn(move || {
                    let _l = g.lock_clean();
                    g.bump();
                })
            })
            .collect();
        {
            let _l = g.lock_clean();
            g.bump();
        }
        for t in threads {
            t.join().unwrap();
        }
        let _l = g.lock_clean();
        assert_eq!(g.value(), 3);
    });
}

/// A holder "dies" (leaks its guard and exits) after a half update; the
/// main thread, which may already be waiting, gets `OwnerDied` exactly once,
/// sees the dead holder's write, repairs, and the mutex is normal again.
#[test]
fn dead_holder_is_recovered() {
    builder(3).check(|| {
        let g = Guarded::new();
        let holder = {
            thread::spawn(move || {
                let l = g.lock_clean();
                g.bump();
                std::mem::forget(l);
                simulate_thread_death();
            })
        };
        let mut recovered = 0;
        loop {
            match g.mutex.lock() {
                // The holder has not locked yet (or not at all): let it run.
                Ok(l) if g.value() == 0 => {
                    drop(l);
                    thread::yield_now();
                }
                Ok(_) => break,
                Err(LockError::OwnerDied(mut l)) => {
                    recovered += 1;
                    assert_eq!(g.value(), 1, "the dead holder's write is visible");
                    g.bump();
                    ShmMutexGuard::make_consistent(&mut l);
                }
                Err(LockError::NotRecoverable) => panic!("not recoverable"),
            }
        }
        holder.join().unwrap();
        assert_eq!(recovered, 1);
        assert_eq!(g.value(), 2);
    });
}

/// Two waiters race to recover from one death: exactly one gets
/// `OwnerDied`, the other a clean lock after the repair.
#[test]
fn exactly_one_recoverer_per_death() {
    builder(2).check(|| {
        let g = Guarded::new();
        let reports: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
        let owner = {
            thread::spawn(move || {
                let l = g.lock_clean();
                g.bump();
                std::mem::forget(l);
                simulate_thread_death();
            })
        };
        owner.join().unwrap();
        let racers: Vec<_> = (0..2)
            .map(|_| {
                thread::spawn(move || match g.mutex.lock() {
                    Ok(_) => {}
                    Err(LockError::OwnerDied(mut l)) => {
                        reports.fetch_add(1, Ordering::SeqCst);
                        g.bump();
                        ShmMutexGuard::make_consistent(&mut l);
                    }
                    Err(LockError::NotRecoverable) => panic!("not recoverable"),
                })
            })
            .collect();
        for r in racers {
            r.join().unwrap();
        }
        assert_eq!(reports.load(Ordering::SeqCst), 1);
        assert_eq!(g.value(), 2);
    });
}

/// try_lock and lock_timeout against a holder: each either gets the lock
/// (with exclusive access) or reports WouldBlock / TimedOut; neither breaks
/// the lock for later.
#[test]
fn try_lock_and_timeout() {
    builder(3).check(|| {
        let g = Guarded::new();
        let holder = {
            thread::spawn(move || {
                let _l = g.lock_clean();
                g.bump();
            })
        };
        match g.mutex.try_lock() {
            Ok(_l) => g.bump(),
            Err(TryLockError::WouldBlock) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
        match g.mutex.lock_timeout(Duration::from_millis(1)) {
            Ok(_l) => g.bump(),
            Err(TryLockError::TimedOut) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
        holder.join().unwrap();
        let _l = g.lock_clean();
        let v = g.value();
        assert!((1..=3).contains(&v), "{v}");
    });
}
