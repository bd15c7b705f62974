//! Checks the futex model itself: a correct check-then-sleep handshake never
//! loses a wakeup, and a broken one is caught by loom as a deadlock.
#![cfg(loom)]

use loom::sync::atomic::{AtomicU32, Ordering};
use loom::sync::Arc;
use loom::thread;
use shmsync::loom_hooks::{futex_wait, futex_wake};
use shmsync_loom_tests::{check, leak};

/// The waiter sleeps only while the flag is still 0; the waker sets the flag
/// *before* waking. Every interleaving terminates.
#[test]
fn check_then_sleep_never_loses_a_wakeup() {
    check("check_then_sleep_never_loses_a_wakeup", 3, || {
        let flag = Arc::new(AtomicU32::new(0));
        let waker = {
            let flag = flag.clone();
            thread::spawn(move || {
                flag.store(1, Ordering::Release);
                futex_wake(&flag, 1);
            })
        };
        while flag.load(Ordering::Acquire) == 0 {
            futex_wait(&flag, 0);
        }
        waker.join().unwrap();
    });
}

/// Broken on purpose: the waker wakes *before* publishing the flag, so a
/// waiter that checked the flag, then slept after the wake, sleeps forever.
/// loom must report that interleaving as a deadlock.
#[test]
#[should_panic(expected = "deadlock")]
fn wake_before_store_is_caught_as_lost_wakeup() {
    check("wake_before_store_is_caught_as_lost_wakeup", 3, || {
        // Leaked, not an `Arc` (see `shmsync_loom_tests::leak`): this
        // model must deadlock.
        let flag = leak(AtomicU32::new(0));
        let waker = thread::spawn(move || {
            futex_wake(flag, 1);
            flag.store(1, Ordering::Release);
        });
        // Sleeps on the *old* value it saw, whatever the flag is now: this
        // is the bug pattern (sleeping on a stale expectation with nobody
        // left to wake it) that the model must expose.
        if flag.load(Ordering::Acquire) == 0 {
            futex_wait(flag, 0);
        }
        waker.join().unwrap();
    });
}
