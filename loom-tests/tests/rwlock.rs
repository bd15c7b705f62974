//! Loom models of `ShmRwLock`: readers and writers exclude each other (and
//! no wake-up is lost: a lost one is a loom deadlock), a writer whose
//! process dies is reported to the next reader as `OwnerDied` exactly once
//! and never read half-written, a reader whose process dies is reclaimed
//! so that a writer gets in, and the `try_` forms never wait for or rob a
//! live holder.
//!
//! Each loom thread is a process of its own; a "death" is
//! `simulate_process_death`. Exclusion is checked through a
//! `loom::cell::UnsafeCell` beside the lock, which loom reports if a write
//! is not ordered by happens-before with every other access.
//!
//! Mutants the models were checked against (edited into the library by
//! hand, one at a time, and reverted), and the models that failed:
//!
//! | mutant | models that failed, and how |
//! |---|---|
//! | no `fence(SeqCst)` in the read fast path | all four that read and write (data race) |
//! | no `fence(SeqCst)` before the writer counts readers | all four that read and write (data race) |
//! | the read fast path ignores `OWNER_DIED` | `a_panicking_writer_is_reported_to_the_next_reader` (a clean read of half-written data) |
//! | a leaving reader does not notify `drain` | `a_writer_and_two_readers_exclude`, `try_and_timeout_forms_never_rob_a_live_holder`, `two_writers_and_a_reader_exclude` (deadlock) |
//! | the writer's release does not notify `readers_wait` | six of the seven models (deadlock) |
//! | a share is given back with a relaxed CAS | every exclusion model (data race) |
//! | the writer never reclaims dead readers | `a_dead_readers_share_is_reclaimed_by_the_writer` (deadlock) |
//! | a reader never judges the writer | `a_dead_writer_is_reported_to_the_next_reader_once` (deadlock) |
//! | `WakeSeq::prepare` writes the flag only when it is clear | none: the lost wake-up needs a notifier that misses a flag another waiter already read, which loom's memory model does not produce |
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;
use shmsync::loom_hooks::simulate_process_death;
use shmsync::{RwLockError, RwLockTimeoutError, ShmRwLock, ShmRwLockWriteGuard, TryRwLockError};
use shmsync_loom_tests::{check, leak};
// Outside the model: counts explored executions by outcome.
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering::Relaxed};
use std::time::Duration;

/// The lock plus a loom-tracked cell: readers read it under a read guard,
/// writers write it under a write guard.
struct Guarded {
    lock: ShmRwLock<()>,
    cell: UnsafeCell<u64>,
}

// SAFETY: `cell` is only accessed under `lock` (that is what the models
// check; loom reports it if not).
unsafe impl Sync for Guarded {}

impl Guarded {
    fn new() -> &'static Self {
        leak(Guarded { lock: ShmRwLock::new(()), cell: UnsafeCell::new(0) })
    }

    /// Adds one, as the writer.
    fn bump(&self) {
        // SAFETY: called only under a write guard; loom checks it.
        self.cell.with_mut(|p| unsafe { *p += 1 });
    }

    /// Reads, as a reader or the writer.
    fn value(&self) -> u64 {
        // SAFETY: called only under a guard; loom checks it.
        self.cell.with(|p| unsafe { *p })
    }

    fn read_clean(&self) -> u64 {
        let g = self.lock.read().unwrap_or_else(|e| panic!("expected a clean read, got {e:?}"));
        let v = self.value();
        drop(g);
        v
    }

    fn write_clean(&self) {
        let g = self.lock.write().unwrap_or_else(|e| panic!("expected a clean write, got {e:?}"));
        self.bump();
        drop(g);
    }
}

/// One writer and two readers: the writer's write is ordered with both
/// reads (loom reports a data race otherwise), each reader sees 0 or 1,
/// and nobody sleeps forever (a lost wake-up of the writer waiting for a
/// reader, or of a reader waiting for the writer, is a deadlock).
#[test]
fn a_writer_and_two_readers_exclude() {
    check("a_writer_and_two_readers_exclude", 2, || {
        let g = Guarded::new();
        let writer = thread::spawn(move || g.write_clean());
        let reader = thread::spawn(move || g.read_clean());
        let mine = g.read_clean();
        let theirs = reader.join().unwrap();
        writer.join().unwrap();
        assert!(mine <= 1 && theirs <= 1);
        assert_eq!(g.read_clean(), 1);
    });
}

/// Two writers and a reader: writers exclude each other too.
#[test]
fn two_writers_and_a_reader_exclude() {
    check("two_writers_and_a_reader_exclude", 2, || {
        let g = Guarded::new();
        let writer = thread::spawn(move || g.write_clean());
        let reader = thread::spawn(move || g.read_clean());
        g.write_clean();
        assert!(reader.join().unwrap() <= 2);
        writer.join().unwrap();
        assert_eq!(g.read_clean(), 2);
    });
}

/// A writer's process dies half-way through an update (it leaks its guard
/// and dies). The main thread reads: a clean read only before the writer
/// locked (value 0); otherwise `OwnerDied` with the write guard, exactly
/// once, only after the death, seeing the dead writer's write; after the
/// repair reads are clean.
#[test]
fn a_dead_writer_is_reported_to_the_next_reader_once() {
    static RECOVERED: StdAtomicUsize = StdAtomicUsize::new(0);
    check("a_dead_writer_is_reported_to_the_next_reader_once", 3, || {
        let g = Guarded::new();
        let dead = leak(AtomicBool::new(false));
        let writer = thread::spawn(move || {
            let l = g.lock.write().unwrap_or_else(|e| panic!("a clean write, got {e:?}"));
            g.bump();
            std::mem::forget(l);
            // SeqCst: before the death, whose mark the proof reads.
            dead.store(true, Ordering::SeqCst);
            simulate_process_death();
        });
        let mut recovered = 0;
        loop {
            match g.lock.read() {
                Ok(_r) if g.value() == 0 => thread::yield_now(),
                Ok(_) => panic!("a clean read of what a dead writer half-wrote"),
                Err(RwLockError::OwnerDied(mut w)) => {
                    // SeqCst: stored before the death the proof saw.
                    assert!(dead.load(Ordering::SeqCst), "OwnerDied while the writer lives");
                    assert_eq!(g.value(), 1, "the dead writer's write is visible");
                    recovered += 1;
                    g.bump();
                    ShmRwLockWriteGuard::make_consistent(&mut w);
                    break;
                }
                Err(RwLockError::NotRecoverable) => panic!("not recoverable"),
            }
        }
        writer.join().unwrap();
        assert_eq!(recovered, 1);
        assert_eq!(g.read_clean(), 2);
        RECOVERED.fetch_add(1, Relaxed);
    });
    assert!(RECOVERED.load(Relaxed) > 0);
}

/// A writer panics half-way through an update: its guard leaves the lock
/// free but owner-died. The next reader must not read (not even through the
/// fast path): it gets `OwnerDied` and the write guard.
#[test]
fn a_panicking_writer_is_reported_to_the_next_reader() {
    quiet_interrupted_panics();
    check("a_panicking_writer_is_reported_to_the_next_reader", 3, || {
        let g = Guarded::new();
        let writer = thread::spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _w = g.lock.write().unwrap_or_else(|e| panic!("a clean write, got {e:?}"));
                g.bump();
                panic!("{INTERRUPTED}");
            }));
            assert!(r.is_err());
        });
        loop {
            match g.lock.read() {
                Ok(_r) if g.value() == 0 => thread::yield_now(),
                Ok(_) => panic!("a clean read of what a panicked writer half-wrote"),
                Err(RwLockError::OwnerDied(mut w)) => {
                    assert_eq!(g.value(), 1);
                    ShmRwLockWriteGuard::make_consistent(&mut w);
                    break;
                }
                Err(RwLockError::NotRecoverable) => panic!("not recoverable"),
            }
        }
        writer.join().unwrap();
        assert_eq!(g.read_clean(), 1);
    });
}

/// The panic message of the writes the models interrupt on purpose.
const INTERRUPTED: &str = "interrupted write";

/// Keeps the interrupted writes' panic messages out of the output (every
/// execution prints one otherwise); any other panic is reported as usual.
fn quiet_interrupted_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let quiet = info.payload().downcast_ref::<String>().is_some_and(|m| m == INTERRUPTED);
        if !quiet {
            default(info);
        }
    }));
}

/// Two readers asleep behind the writer (both flagged on the same wake-up
/// word): the writer's release wakes both.
#[test]
fn readers_asleep_behind_a_writer_are_all_woken() {
    check("readers_asleep_behind_a_writer_are_all_woken", 3, || {
        let g = Guarded::new();
        let w = g.lock.write().unwrap_or_else(|e| panic!("a clean write, got {e:?}"));
        let readers: Vec<_> = (0..2).map(|_| thread::spawn(move || g.read_clean())).collect();
        g.bump();
        drop(w);
        for r in readers {
            assert_eq!(r.join().unwrap(), 1);
        }
    });
}

/// A reader's process dies holding a read share: a writer, which may
/// already be waiting for it, gets in (cleanly: readers write nothing), and
/// its write is ordered after the dead reader's read.
#[test]
fn a_dead_readers_share_is_reclaimed_by_the_writer() {
    check("a_dead_readers_share_is_reclaimed_by_the_writer", 3, || {
        let g = Guarded::new();
        let reader = thread::spawn(move || {
            let r = g.lock.read().unwrap_or_else(|e| panic!("a clean read, got {e:?}"));
            let _ = g.value();
            std::mem::forget(r);
            simulate_process_death();
        });
        g.write_clean();
        reader.join().unwrap();
        assert_eq!(g.read_clean(), 1);
    });
}

/// `try_read`, `try_write`, `read_timeout` and `write_timeout` against a
/// live writer and a live reader: each gets the lock (exclusively: loom
/// checks the accesses) or reports `WouldBlock` / `TimedOut`, and nothing
/// is left held or broken.
#[test]
fn try_and_timeout_forms_never_rob_a_live_holder() {
    static OUTCOMES: [StdAtomicUsize; 2] = [const { StdAtomicUsize::new(0) }; 2];
    check("try_and_timeout_forms_never_rob_a_live_holder", 2, || {
        let g = Guarded::new();
        let writer = thread::spawn(move || g.write_clean());
        let reader = thread::spawn(move || g.read_clean());
        let got = leak(AtomicUsize::new(0));
        match g.lock.try_write() {
            Ok(_w) => {
                g.bump();
                got.fetch_add(1, Ordering::Relaxed);
            }
            Err(TryRwLockError::WouldBlock) => {}
            Err(e) => panic!("try_write: {e:?}"),
        }
        match g.lock.read_timeout(Duration::from_millis(1)) {
            Ok(_r) => {
                let _ = g.value();
            }
            Err(RwLockTimeoutError::TimedOut) => {}
            Err(e) => panic!("read_timeout: {e:?}"),
        }
        writer.join().unwrap();
        reader.join().unwrap();
        let total = g.read_clean();
        assert_eq!(total, 1 + got.load(Ordering::Relaxed) as u64);
        OUTCOMES[got.load(Ordering::Relaxed)].fetch_add(1, Relaxed);
        drop(g.lock.try_write().unwrap_or_else(|e| panic!("free at the end, got {e:?}")));
    });
    assert!(OUTCOMES.iter().all(|n| n.load(Relaxed) > 0), "try_write never both won and lost");
}
