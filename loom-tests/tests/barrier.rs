//! Loom models of `ShmBarrier`: a generation opens for every party with
//! exactly one leader and nobody passes early (each party writes a
//! loom-tracked cell before waiting and reads the others' after: loom
//! reports a read not ordered after the write); generations follow each
//! other; a party whose process dies before arriving breaks the barrier
//! instead of hanging the others; a timeout, an abort or a reset never
//! strands a waiter, and a waiter ended by a reset is told `Broken`.
//!
//! Each loom thread is a process of its own; `simulate_process_death` kills
//! the calling thread's process (and wakes every sleeper, standing for the
//! watcher and the re-check timer).
//!
//! Injected bugs, and the models that fail on them: the leader not waking
//! the waiters, or the leader condition off by one (the two generation
//! models); `Relaxed` arrivals, or a `Relaxed` load of the word by waiters
//! (the two generation models, through the cells); a reset taken for an
//! opened generation, or a break that wakes nobody
//! (`abort_and_reset_end_a_wait_with_broken`); a proven death ignored
//! (`a_party_dying_before_it_arrives_breaks_the_barrier`); a timeout that
//! does not break the barrier (`a_timeout_never_strands_the_other_party`),
//! or breaks it without waking the waiters
//! (`a_timeout_wakes_the_parties_already_waiting`);
//! an abort that breaks only the phase it read
//! (`an_abort_racing_a_generation_is_never_lost`).
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use shmsync::loom_hooks::simulate_process_death;
use shmsync::{BarrierError, BarrierParty, BarrierTimeoutError, ShmBarrier};
use shmsync_loom_tests::{check, leak};
use std::mem::ManuallyDrop;
use std::time::Duration;

/// Joins `gate`. The party is never dropped (so it never leaves): when
/// loom abandons a failing execution it unwinds the model threads, and a
/// party leaving then would touch loom atomics during the unwinding, which
/// aborts the whole test binary instead of failing one model.
fn party(gate: &ShmBarrier) -> ManuallyDrop<BarrierParty<'_>> {
    ManuallyDrop::new(gate.join().expect("a place is free"))
}

/// A barrier for two parties, a cell each, and the leaders counted.
struct Shared {
    gate: ShmBarrier,
    cells: [UnsafeCell<u64>; 2],
    leaders: AtomicUsize,
}

// SAFETY: party `i` writes `cells[i]` before a wait and reads the other
// cell after it; the barrier orders them (that is what the models check).
unsafe impl Sync for Shared {}

impl Shared {
    fn new() -> &'static Self {
        leak(Shared {
            gate: ShmBarrier::new(2),
            cells: [UnsafeCell::new(0), UnsafeCell::new(0)],
            leaders: AtomicUsize::new(0),
        })
    }

    /// Party `i`: `rounds` generations, writing its cell before each wait
    /// and checking the other's after it.
    fn party(&self, i: usize, rounds: u64) {
        let mut me = party(&self.gate);
        for round in 1..=rounds {
            // SAFETY: only party `i` writes `cells[i]`; the other reads it
            // after the barrier, and before its own next write it waits
            // again, which this party's next wait orders.
            self.cells[i].with_mut(|p| unsafe { *p = round });
            let r = me.wait().expect("nobody breaks it");
            // SAFETY: written by the other party before it arrived.
            let other = self.cells[1 - i].with(|p| unsafe { *p });
            assert!(other >= round, "passed round {round} before the other party arrived");
            if r.is_leader() {
                self.leaders.fetch_add(1, Ordering::SeqCst);
            }
            // The other party may be reading our cell until it arrives at
            // the next round: wait for it before writing again.
            if round < rounds {
                me.wait().expect("nobody breaks it");
            }
        }
    }
}

/// Two parties, one generation: both pass, after each other's arrival,
/// and exactly one is the leader.
#[test]
fn a_generation_opens_for_both_with_one_leader() {
    check("a_generation_opens_for_both_with_one_leader", 3, || {
        let s = Shared::new();
        let other = thread::spawn(move || s.party(1, 1));
        s.party(0, 1);
        other.join().unwrap();
        assert_eq!(s.leaders.load(Ordering::SeqCst), 1);
    });
}

/// Two rounds (four generations): every one opens, one leader each.
#[test]
fn generations_follow_each_other() {
    check("generations_follow_each_other", 2, || {
        let s = Shared::new();
        let other = thread::spawn(move || s.party(1, 2));
        s.party(0, 2);
        other.join().unwrap();
        // Two counted generations (the in-between waits are not counted).
        assert_eq!(s.leaders.load(Ordering::SeqCst), 2);
    });
}

/// A party joins and its process dies before it arrives: the other party's
/// wait returns `Broken` (never a deadlock), whenever the death happens.
#[test]
fn a_party_dying_before_it_arrives_breaks_the_barrier() {
    check("a_party_dying_before_it_arrives_breaks_the_barrier", 3, || {
        let s = Shared::new();
        let doomed = thread::spawn(move || {
            // Killed: no destructor runs, the place stays taken.
            let _me = party(&s.gate);
            simulate_process_death();
        });
        let mut me = party(&s.gate);
        assert_eq!(me.wait(), Err(BarrierError::Broken));
        doomed.join().unwrap();
        assert!(s.gate.is_broken());
    });
}

/// One party waits with a timeout (which, in the model, may fire at any
/// point), the other without: either both pass, or the timed one reports
/// `TimedOut` and the other `Broken`. Nobody hangs.
#[test]
fn a_timeout_never_strands_the_other_party() {
    check("a_timeout_never_strands_the_other_party", 3, || {
        let s = Shared::new();
        let timed = thread::spawn(move || {
            let mut me = party(&s.gate);
            me.wait_timeout(Duration::from_secs(1)).map(|r| r.is_leader())
        });
        let mut me = party(&s.gate);
        let mine = me.wait().map(|r| r.is_leader());
        let theirs = timed.join().unwrap();
        match (mine, theirs) {
            (Ok(a), Ok(b)) => assert!(a != b, "one leader"),
            (Err(BarrierError::Broken), Err(BarrierTimeoutError::TimedOut)) => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    });
}

/// A party waits; another aborts, or resets, the barrier. The waiter is
/// told `Broken` (a reset ends its generation without opening it), and
/// never hangs.
#[test]
fn abort_and_reset_end_a_wait_with_broken() {
    for reset in [false, true] {
        let name = if reset { "reset_ends_a_wait_with_broken" } else { "abort_ends_a_wait" };
        check(name, 3, move || {
            let s = Shared::new();
            let waiter = thread::spawn(move || {
                let mut me = party(&s.gate);
                me.wait()
            });
            // Only once the waiter has arrived: a reset before its arrival
            // would leave it alone in a fresh generation. (`Debug` is the
            // only public view of the arrivals.)
            while !format!("{:?}", s.gate).contains("arrived: 1") {
                thread::yield_now();
            }
            if reset {
                s.gate.reset();
            } else {
                s.gate.abort();
            }
            assert_eq!(waiter.join().unwrap(), Err(BarrierError::Broken));
        });
    }
}

/// An abort racing with the arrival that opens a generation: the waits
/// either both pass (the generation opened first) or both fail, and the
/// barrier is broken afterwards either way (an abort is never lost to a
/// generation that opened meanwhile).
#[test]
fn an_abort_racing_a_generation_is_never_lost() {
    check("an_abort_racing_a_generation_is_never_lost", 2, || {
        let s = Shared::new();
        let other = thread::spawn(move || party(&s.gate).wait().is_ok());
        let aborter = thread::spawn(move || s.gate.abort());
        let mine = party(&s.gate).wait().is_ok();
        let theirs = other.join().unwrap();
        aborter.join().unwrap();
        assert_eq!(mine, theirs, "one party passed and the other did not");
        assert!(s.gate.is_broken(), "the abort was lost");
    });
}

/// Three parties, one of which never arrives: a party waits untimed, and
/// another's timed wait runs out and breaks the barrier. The untimed one,
/// asleep or not yet, is told `Broken`: a break wakes the parties already
/// waiting.
#[test]
fn a_timeout_wakes_the_parties_already_waiting() {
    check("a_timeout_wakes_the_parties_already_waiting", 3, || {
        let gate = leak(ShmBarrier::new(3));
        let _absent = party(gate);
        let timed = thread::spawn(move || party(gate).wait_timeout(Duration::from_secs(1)));
        assert_eq!(party(gate).wait(), Err(BarrierError::Broken));
        assert_eq!(timed.join().unwrap(), Err(BarrierTimeoutError::TimedOut));
    });
}
