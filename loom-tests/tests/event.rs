//! Loom models of `ShmEvent`: no lost wakeup (manual and auto reset, one
//! waiter or two, and a set immediately reset while a thread waits), an
//! auto-reset set releases exactly one waiter, and what
//! the setter wrote before `set` is visible after `wait` (checked through a
//! `loom::cell::UnsafeCell`: loom reports an access not ordered by
//! happens-before).
//!
//! A lost wakeup is a loom deadlock: the futex model wakes only the
//! sleepers a wake names, and a timed wait never blocks in the model.
//!
//! Injected bugs, and the models that fail on them: `set` never waking
//! (all five); a waiter sleeping without announcing `WAITERS` (all five);
//! `set` waking one sleeper only (`manual_set_wakes_every_waiter`,
//! `auto_set_releases_exactly_one_waiter`); an auto-reset wait that does
//! not consume `SET` (`auto_set_is_never_lost`,
//! `auto_set_releases_exactly_one_waiter`); a `Relaxed` set (the four that
//! read the setter's write); a manual wait that ignores the set count
//! (`a_pulse_releases_a_thread_already_waiting`).
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use shmsync::ShmEvent;
use shmsync_loom_tests::{check, leak};

/// An event and a value the setter writes before setting it.
struct Shared {
    event: ShmEvent,
    data: UnsafeCell<u64>,
    returned: AtomicUsize,
}

// SAFETY: `data` is written before `set` and read after `wait` (that is
// what the models check).
unsafe impl Sync for Shared {}

impl Shared {
    fn new(event: ShmEvent) -> &'static Self {
        leak(Shared { event, data: UnsafeCell::new(0), returned: AtomicUsize::new(0) })
    }

    fn publish(&self) {
        // SAFETY: the only writer; readers read after `wait`.
        self.data.with_mut(|p| unsafe { *p = 7 });
        self.event.set();
    }

    fn wait_and_read(&self) {
        self.event.wait();
        // SAFETY: after `wait`, ordered after the write by the event.
        assert_eq!(self.data.with(|p| unsafe { *p }), 7, "the setter's write is visible");
        self.returned.fetch_add(1, Ordering::SeqCst);
    }
}

/// One waiter, one setter, manual reset: the waiter always returns and
/// sees the setter's write.
#[test]
fn manual_set_is_never_lost() {
    check("manual_set_is_never_lost", 3, || {
        let s = Shared::new(ShmEvent::new());
        let setter = thread::spawn(move || s.publish());
        s.wait_and_read();
        setter.join().unwrap();
    });
}

/// Two waiters, one set: both return (a set that woke one waiter only
/// would deadlock the other).
#[test]
fn manual_set_wakes_every_waiter() {
    check("manual_set_wakes_every_waiter", 2, || {
        let s = Shared::new(ShmEvent::new());
        let waiter = thread::spawn(move || s.wait_and_read());
        let setter = thread::spawn(move || s.publish());
        s.wait_and_read();
        waiter.join().unwrap();
        setter.join().unwrap();
        assert!(s.event.is_set(), "manual reset: still set");
    });
}

/// One waiter, one setter, auto reset: the waiter returns, consumes the
/// event and sees the setter's write.
#[test]
fn auto_set_is_never_lost() {
    check("auto_set_is_never_lost", 3, || {
        let s = Shared::new(ShmEvent::new_auto_reset());
        let setter = thread::spawn(move || s.publish());
        s.wait_and_read();
        setter.join().unwrap();
        assert!(!s.event.is_set(), "the wait consumed it");
    });
}

/// Two waiters, auto reset: the first set releases exactly one of them
/// (the other is still waiting, or returns only after the second set), and
/// the second set the other.
#[test]
fn auto_set_releases_exactly_one_waiter() {
    check("auto_set_releases_exactly_one_waiter", 2, || {
        let s = Shared::new(ShmEvent::new_auto_reset());
        let first = thread::spawn(move || s.wait_and_read());
        let second = thread::spawn(move || s.wait_and_read());
        s.publish();
        while s.returned.load(Ordering::SeqCst) == 0 {
            thread::yield_now();
        }
        assert_eq!(s.returned.load(Ordering::SeqCst), 1, "one set released two waiters");
        s.event.set();
        first.join().unwrap();
        second.join().unwrap();
        assert!(!s.event.is_set());
    });
}

/// A manual-reset set immediately followed by a reset (a pulse) still
/// releases a thread that was already waiting: it must not sleep through
/// it (Python's `Event`).
#[test]
fn a_pulse_releases_a_thread_already_waiting() {
    check("a_pulse_releases_a_thread_already_waiting", 3, || {
        let s = Shared::new(ShmEvent::new());
        let waiter = thread::spawn(move || s.event.wait());
        // Once it announced itself it is waiting (it read the word first).
        // `Debug` is the only public view of the waiters bit.
        while !format!("{:?}", s.event).contains("waiters: true") {
            thread::yield_now();
        }
        s.event.set();
        s.event.reset();
        waiter.join().unwrap();
        assert!(!s.event.is_set());
    });
}
