//! Regression: a live owner robbed through ABA on the death proof.
//!
//! A process that let go of its last handle of a segment used to release
//! its token there. A waiter that tested the token in that window took the
//! owner for dead; the owner then re-opened the segment and locked again
//! with the very same lock word, and the waiter's recovery CAS (judged on
//! the old word) succeeded: two processes inside the lock, and an
//! `OwnerDied` with nobody dead. A process now keeps its token on every
//! object it has mapped, for as long as it lives and the object has a name.
//!
//! Nobody dies in this test, so every `OwnerDied` and every overlap is a
//! live owner robbed.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmsync::{LockError, Segment, ShmMutex, ShmSafe};

#[derive(ShmSafe)]
#[repr(C)]
struct Shared {
    lock: ShmMutex<u64>,
    /// Set by the cycling process while it is inside the lock.
    inside: AtomicU64,
    /// `OwnerDied` reports and overlaps seen by the waiters.
    robbed: AtomicU64,
    /// Waiter acquisitions and cycles of the reopening process.
    acquisitions: AtomicU64,
    cycles: AtomicU64,
    stop: AtomicU64,
}

/// How long the processes race. The bug showed ~10 robberies a second on a
/// 2-core machine; a fixed duration, not a sleep papering over a race.
const RACE_FOR: Duration = Duration::from_secs(3);

#[test]
fn child_entry() {
    common::run_child(|role, args| {
        let name = &args[0];
        match role {
            // Opens, locks, stays inside ~20 µs, unlocks and drops the
            // handle, over and over: the window where it holds no handle.
            "reopen_and_lock" => loop {
                // No other handle in this process: between two cycles it
                // maps nothing, which is the window the bug needed.
                let seg = Segment::<Shared>::open(name).expect("open never fails here");
                if seg.stop.load(Ordering::SeqCst) != 0 {
                    break;
                }
                let mut g = seg.lock.lock().unwrap_or_else(|e| {
                    panic!("the cycling process was robbed or reported: {e:?}")
                });
                seg.inside.store(1, Ordering::SeqCst);
                *g += 1;
                let t = Instant::now();
                while t.elapsed() < Duration::from_micros(20) {}
                seg.inside.store(0, Ordering::SeqCst);
                drop(g);
                seg.cycles.fetch_add(1, Ordering::SeqCst);
            },
            "wait_and_lock" => {
                let seg = Segment::<Shared>::open(name).expect("open");
                while seg.stop.load(Ordering::SeqCst) == 0 {
                    let g = match seg.lock.lock() {
                        Ok(g) => g,
                        Err(LockError::OwnerDied(mut g)) => {
                            seg.robbed.fetch_add(1, Ordering::SeqCst);
                            shmsync::ShmMutexGuard::make_consistent(&mut g);
                            g
                        }
                        Err(LockError::NotRecoverable) => panic!("not recoverable"),
                    };
                    if seg.inside.load(Ordering::SeqCst) == 1 {
                        seg.robbed.fetch_add(1, Ordering::SeqCst);
                    }
                    seg.acquisitions.fetch_add(1, Ordering::SeqCst);
                    drop(g);
                }
            }
            other => panic!("unknown role {other}"),
        }
    });
}

#[test]
fn an_owner_that_reopens_the_segment_is_never_taken_for_dead() {
    let name = common::unique_name("aba");
    let seg = Segment::<Shared>::create(&name).expect("create");
    let children = [
        common::spawn("child_entry", "reopen_and_lock", &[&name]),
        common::spawn("child_entry", "wait_and_lock", &[&name]),
        common::spawn("child_entry", "wait_and_lock", &[&name]),
    ];
    std::thread::sleep(RACE_FOR);
    seg.stop.store(1, Ordering::SeqCst);
    for child in children {
        child.expect_success(Duration::from_secs(30));
    }
    let cycles = seg.cycles.load(Ordering::SeqCst);
    let acquisitions = seg.acquisitions.load(Ordering::SeqCst);
    assert!(cycles > 100 && acquisitions > 100, "too little contention: {cycles}, {acquisitions}");
    assert_eq!(seg.robbed.load(Ordering::SeqCst), 0, "a live owner was taken for dead");
}
