//! Loom models of `ShmSemaphore`: permits are conserved (never more
//! holders than permits, every permit back at the end), a permit whose
//! holder's process dies comes back, racing `try_acquire`s do not all fail
//! on a free permit, and no wake-up is lost (a lost one is a loom
//! deadlock).
//!
//! Each loom thread is a process of its own; a "death" is
//! `simulate_process_death`.
//!
//! Mutants the models were checked against (edited into the library by
//! hand, one at a time, and reverted), and the models that failed:
//!
//! | mutant | models that failed, and how |
//! |---|---|
//! | an acquirer accepts one permit too many (`in_use <= total + 1`) | `one_permit_is_mutual_exclusion`, `try_acquire_respects_a_live_holder`, `a_dead_holders_permit_comes_back` (data race), `racing_try_acquires_do_not_all_fail` (two winners), `two_permits_never_have_three_holders` |
//! | no `fence(SeqCst)` between counting in and summing | the same five, and `try_acquires_racing_a_sleeper_never_strand_it` (livelock: loom's branch limit) |
//! | a permit is given back with a relaxed CAS | `one_permit_is_mutual_exclusion`, `a_dead_holders_permit_comes_back`, `try_acquire_respects_a_live_holder` (data race) |
//! | a permit given back does not notify | `a_permit_given_back_wakes_a_sleeper` and five more (deadlock) |
//! | `release` does not notify | `release_wakes_a_sleeper` (deadlock) |
//! | a dead holder's slot is never reclaimed | `a_dead_holders_permit_comes_back` (deadlock), `try_acquire_takes_a_dead_holders_permit` |
//! | an acquirer that steps back does not notify (nor fence) | `try_acquires_racing_a_sleeper_never_strand_it` (the sleeper never gets the free permit: loom's branch limit) |
//! | `try_acquire` gives up without judging the holders | `try_acquire_takes_a_dead_holders_permit` |
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use shmsync::loom_hooks::simulate_process_death;
use shmsync::{ShmSemaphore, TryAcquireError};
use shmsync_loom_tests::{check, leak};

/// A semaphore and a loom-tracked cell written only by permit holders.
struct Guarded {
    sem: ShmSemaphore,
    cell: UnsafeCell<u64>,
}

// SAFETY: with one permit, `cell` is only accessed by its holder (that is
// what the models check; loom reports it if not).
unsafe impl Sync for Guarded {}

impl Guarded {
    fn new(permits: u64) -> &'static Self {
        leak(Guarded { sem: ShmSemaphore::new(permits), cell: UnsafeCell::new(0) })
    }

    fn bump(&self) {
        // SAFETY: called only while holding the only permit; loom checks it.
        self.cell.with_mut(|p| unsafe { *p += 1 });
    }

    fn value(&self) -> u64 {
        // SAFETY: as in `bump`.
        self.cell.with(|p| unsafe { *p })
    }
}

/// One permit, two acquirers: the permit is a lock (loom reports two
/// holders' accesses as a data race), and nobody sleeps forever.
#[test]
fn one_permit_is_mutual_exclusion() {
    check("one_permit_is_mutual_exclusion", 3, || {
        let g = Guarded::new(1);
        let other = thread::spawn(move || {
            let _p = g.sem.acquire();
            g.bump();
        });
        {
            let _p = g.sem.acquire();
            g.bump();
        }
        other.join().unwrap();
        let _p = g.sem.acquire();
        assert_eq!(g.value(), 2);
        assert_eq!(g.sem.available(), 0);
    });
}

/// One permit held by a blocking acquirer or taken by a `try_acquire`:
/// the `try_` form never lets in a second holder.
#[test]
fn try_acquire_respects_a_live_holder() {
    check("try_acquire_respects_a_live_holder", 3, || {
        let g = Guarded::new(1);
        let other = thread::spawn(move || {
            let _p = g.sem.acquire();
            g.bump();
        });
        match g.sem.try_acquire() {
            Ok(_p) => g.bump(),
            Err(TryAcquireError::WouldBlock) => {}
            Err(e) => panic!("{e}"),
        }
        other.join().unwrap();
        assert!((1..=2).contains(&g.value()));
        assert_eq!(g.sem.available(), 1);
    });
}

/// Two permits, three holders at once at most two: counted inside with an
/// atomic, and every permit back at the end.
#[test]
fn two_permits_never_have_three_holders() {
    check("two_permits_never_have_three_holders", 2, || {
        let sem = leak(ShmSemaphore::new(2));
        let inside = leak(AtomicUsize::new(0));
        let take = move || {
            let p = sem.acquire();
            // SeqCst: a plain count of holders; nothing else pairs.
            let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
            assert!(n <= 2, "{n} holders of 2 permits");
            inside.fetch_sub(1, Ordering::SeqCst);
            drop(p);
        };
        let a = thread::spawn(take);
        let b = thread::spawn(take);
        take();
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!((sem.available(), sem.in_use()), (2, 0));
    });
}

/// A holder's process dies with the only permit (it leaks the permit and
/// dies); the main thread, which may already be asleep, gets the permit,
/// and its access is ordered after the dead holder's.
#[test]
fn a_dead_holders_permit_comes_back() {
    check("a_dead_holders_permit_comes_back", 3, || {
        let g = Guarded::new(1);
        let holder = thread::spawn(move || {
            let p = g.sem.acquire();
            g.bump();
            std::mem::forget(p);
            simulate_process_death();
        });
        {
            let _p = g.sem.acquire();
            g.bump();
        }
        holder.join().unwrap();
        let _p = g.sem.acquire();
        assert_eq!(g.value(), 2);
    });
}

/// A holder's process dies with the only permit: a `try_acquire` after
/// the death takes it back at once (it never waits, but a proven death is
/// no reason to refuse).
#[test]
fn try_acquire_takes_a_dead_holders_permit() {
    check("try_acquire_takes_a_dead_holders_permit", 3, || {
        let sem = leak(ShmSemaphore::new(1));
        let holder = thread::spawn(move || {
            std::mem::forget(sem.acquire());
            simulate_process_death();
        });
        holder.join().unwrap();
        drop(sem.try_acquire().unwrap_or_else(|e| panic!("the dead holder's permit: {e}")));
    });
}

/// Two `try_acquire`s race with a blocking acquirer for one free permit:
/// the tries may turn the sleeper away for a moment (their +1s), but each
/// that steps back wakes it, and not all three come away empty.
#[test]
fn try_acquires_racing_a_sleeper_never_strand_it() {
    check("try_acquires_racing_a_sleeper_never_strand_it", 2, || {
        let sem = leak(ShmSemaphore::new(1));
        let tries: Vec<_> =
            (0..2).map(|_| thread::spawn(move || sem.try_acquire().map(drop).is_ok())).collect();
        drop(sem.acquire());
        for t in tries {
            let _ = t.join().unwrap();
        }
        assert_eq!(sem.available(), 1);
    });
}

/// Two `try_acquire`s race for one free permit: they may step back from
/// each other, but not both give up (the last to step back sees the other
/// gone).
#[test]
fn racing_try_acquires_do_not_all_fail() {
    check("racing_try_acquires_do_not_all_fail", 3, || {
        let sem = leak(ShmSemaphore::new(1));
        let won = leak(AtomicUsize::new(0));
        let try_once = move || {
            if let Ok(p) = sem.try_acquire() {
                // SeqCst: a count read after the joins.
                won.fetch_add(1, Ordering::SeqCst);
                // Held until the end of the model: no second winner.
                std::mem::forget(p);
            }
        };
        let other = thread::spawn(try_once);
        try_once();
        other.join().unwrap();
        assert_eq!(won.load(Ordering::SeqCst), 1);
    });
}

/// An acquirer asleep on an empty semaphore is woken by `release`.
#[test]
fn release_wakes_a_sleeper() {
    check("release_wakes_a_sleeper", 3, || {
        let sem = leak(ShmSemaphore::new(0));
        let waiter = thread::spawn(move || sem.acquire().forget());
        sem.release(1);
        waiter.join().unwrap();
        assert_eq!((sem.available(), sem.total()), (0, 0));
    });
}

/// Acquirers asleep behind a holder are woken when it gives the permit
/// back, one after the other.
#[test]
fn a_permit_given_back_wakes_a_sleeper() {
    check("a_permit_given_back_wakes_a_sleeper", 2, || {
        let sem = leak(ShmSemaphore::new(1));
        let held = sem.acquire();
        let waiters: Vec<_> = (0..2).map(|_| thread::spawn(move || drop(sem.acquire()))).collect();
        drop(held);
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(sem.available(), 1);
    });
}
