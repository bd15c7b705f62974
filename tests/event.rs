//! `ShmEvent` in one process: manual and auto reset, timeouts, what a set
//! publishes, zeroed memory, `Debug`.

use shmsync::{Segment, ShmEvent, ShmSafe};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use shmsync_support as support;

use support::{blocked_in_futex, gettid, wait_until_blocked_in_futex};

/// Bound for "the other threads get there".
const PROGRESS: Duration = Duration::from_secs(20);

/// Starts `n` threads in `scope` that each wait on `event` and then count
/// themselves in `returned`; returns their thread ids once every one of
/// them is asleep in the kernel.
fn start_waiters<'s>(
    scope: &'s std::thread::Scope<'s, '_>,
    event: &'s ShmEvent,
    returned: &'s AtomicU32,
    n: usize,
) -> Vec<u32> {
    let (tx, rx) = mpsc::channel();
    for _ in 0..n {
        let tx = tx.clone();
        scope.spawn(move || {
            tx.send(gettid()).expect("test alive");
            event.wait();
            returned.fetch_add(1, Ordering::SeqCst);
        });
    }
    let tids: Vec<u32> = (0..n).map(|_| rx.recv().expect("waiter started")).collect();
    for &tid in &tids {
        wait_until_blocked_in_futex(std::process::id(), tid, PROGRESS);
    }
    tids
}

#[test]
fn zeroed_memory_is_an_unset_manual_reset_event() {
    #[derive(ShmSafe)]
    #[repr(C)]
    struct Shared {
        event: ShmEvent,
    }
    let name = support::unique_name("event-zeroed");
    let seg = Segment::<Shared>::create(&name).expect("create");
    assert!(!seg.event.is_set());
    assert!(!seg.event.is_auto_reset());
    assert!(!seg.event.wait_timeout(Duration::ZERO));
    seg.event.set();
    assert!(seg.event.wait_timeout(Duration::ZERO));
    assert!(seg.event.is_set(), "a manual-reset wait does not consume the event");
}

#[test]
fn the_initializer_makes_an_auto_reset_event() {
    #[derive(ShmSafe)]
    #[repr(C)]
    struct Shared {
        event: ShmEvent,
    }
    let name = support::unique_name("event-auto-init");
    let seg = Segment::<Shared>::create_with(&name, |s| s.event = ShmEvent::new_auto_reset())
        .expect("create");
    assert!(seg.event.is_auto_reset());
    let other = Segment::<Shared>::open(&name).expect("open");
    assert!(other.event.is_auto_reset(), "every handle sees the mode");
    other.event.set();
    assert!(seg.event.wait_timeout(Duration::ZERO));
    assert!(!other.event.is_set(), "consumed");
}

#[test]
fn manual_reset_stays_set_until_reset() {
    let e = ShmEvent::new();
    e.set();
    e.set();
    for _ in 0..3 {
        e.wait();
        assert!(e.is_set());
    }
    e.reset();
    assert!(!e.is_set());
    assert!(!e.wait_timeout(Duration::from_millis(5)), "reset: waits block again");
    e.reset();
    assert!(!e.is_set(), "reset of an unset event changes nothing");
}

#[test]
fn auto_reset_is_consumed_by_one_wait_and_is_a_flag_not_a_counter() {
    let e = ShmEvent::new_auto_reset();
    assert!(!e.wait_timeout(Duration::ZERO));
    e.set();
    e.set();
    assert!(e.is_set(), "is_set does not consume");
    assert!(e.wait_timeout(Duration::ZERO));
    assert!(!e.wait_timeout(Duration::from_millis(5)), "two sets before a wait are one");
    e.set();
    e.reset();
    assert!(!e.wait_timeout(Duration::ZERO), "reset takes it back");
}

#[test]
fn wait_timeout_reports_a_timeout() {
    let e = ShmEvent::new();
    let t = std::time::Instant::now();
    assert!(!e.wait_timeout(Duration::from_millis(20)));
    assert!(t.elapsed() >= Duration::from_millis(20), "returned early: {:?}", t.elapsed());
    assert!(!e.wait_timeout(Duration::ZERO));
    // A timeout too large for the clock is no timeout at all.
    e.set();
    assert!(e.wait_timeout(Duration::MAX));
}

#[test]
fn a_manual_set_wakes_every_waiter() {
    let e = ShmEvent::new();
    let returned = AtomicU32::new(0);
    std::thread::scope(|s| {
        start_waiters(s, &e, &returned, 3);
        assert_eq!(returned.load(Ordering::SeqCst), 0, "nobody passes an unset event");
        e.set();
        support::wait_until("every waiter returned", PROGRESS, || {
            returned.load(Ordering::SeqCst) == 3
        });
    });
    let debug = format!("{e:?}");
    assert!(debug.contains("waiters: false"), "the set took the waiters bit: {debug}");
}

/// Python's `Event`: a thread waiting when `set` ran returns even if a
/// `reset` came before it was scheduled.
#[test]
fn set_then_reset_still_releases_every_thread_that_was_waiting() {
    let e = ShmEvent::new();
    let returned = AtomicU32::new(0);
    std::thread::scope(|s| {
        start_waiters(s, &e, &returned, 3);
        e.set();
        e.reset();
        support::wait_until("every waiter returned", PROGRESS, || {
            returned.load(Ordering::SeqCst) == 3
        });
    });
    assert!(!e.is_set());
}

#[test]
fn an_auto_reset_set_releases_exactly_one_waiter() {
    let e = ShmEvent::new_auto_reset();
    let returned = AtomicU32::new(0);
    std::thread::scope(|s| {
        let tids = start_waiters(s, &e, &returned, 3);
        for released in 1..=3 {
            e.set();
            support::wait_until("one more waiter returned", PROGRESS, || {
                returned.load(Ordering::SeqCst) == released
            });
            // The others, woken too, went back to sleep without passing.
            support::wait_until("the others sleep again", PROGRESS, || {
                tids.iter().filter(|&&t| blocked_in_futex(std::process::id(), t)).count()
                    == 3 - released as usize
            });
            assert_eq!(returned.load(Ordering::SeqCst), released, "one set, one waiter");
            assert!(!e.is_set(), "the waiter consumed it");
        }
    });
}

/// What a setter wrote before `set` is visible to a waiter after `wait`
/// (Miri and ThreadSanitizer check the plain accesses).
#[test]
fn set_publishes_what_was_written_before() {
    struct Shared {
        event: ShmEvent,
        data: UnsafeCell<u64>,
    }
    // SAFETY: `data` is written before `set` and read after `wait`, which
    // the event orders (that is what the test checks).
    unsafe impl Sync for Shared {}
    for auto in [false, true] {
        let shared = Shared {
            event: if auto { ShmEvent::new_auto_reset() } else { ShmEvent::new() },
            data: UnsafeCell::new(0),
        };
        // The closures borrow the whole struct (which is `Sync`), not its
        // fields one by one.
        let shared = &shared;
        std::thread::scope(|s| {
            s.spawn(move || {
                // SAFETY: no reader before `set` (see above).
                unsafe { *shared.data.get() = 42 };
                shared.event.set();
            });
            shared.event.wait();
            // SAFETY: written before the `set` this wait returned for.
            assert_eq!(unsafe { *shared.data.get() }, 42);
        });
    }
}

#[test]
fn many_set_and_wait_rounds_between_two_threads() {
    let rounds = if cfg!(miri) { 50 } else { 20_000 };
    let (ping, pong) = (ShmEvent::new_auto_reset(), ShmEvent::new_auto_reset());
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..rounds {
                ping.wait();
                pong.set();
            }
        });
        for _ in 0..rounds {
            ping.set();
            assert!(pong.wait_timeout(PROGRESS), "the peer answers");
        }
    });
    assert!(!ping.is_set() && !pong.is_set());
}

#[test]
fn debug_shows_the_state() {
    let e = ShmEvent::new_auto_reset();
    assert_eq!(format!("{e:?}"), "ShmEvent { set: false, auto_reset: true, waiters: false }");
    e.set();
    assert_eq!(format!("{e:?}"), "ShmEvent { set: true, auto_reset: true, waiters: false }");
    assert_eq!(
        format!("{:?}", ShmEvent::default()),
        "ShmEvent { set: false, auto_reset: false, waiters: false }"
    );
}

#[test]
fn event_layout_is_one_word() {
    assert_eq!(core::mem::size_of::<ShmEvent>(), 4);
    assert_eq!(<ShmEvent as ShmSafe>::LAYOUT.kind, shmsync::layout::Kind::Event);
}

/// Where the payload starts in the object: the header's `payload_offset`
/// (byte 24, see the format table in `src/segment/header.rs`).
fn payload_offset(name: &str) -> u64 {
    let bytes = support::shm_file::read(name);
    u64::from_ne_bytes(bytes[24..32].try_into().expect("8 bytes"))
}

/// A setter SIGKILLed between the CAS that sets the event and its futex
/// wake leaves the event set and the sleepers unwoken (written here
/// straight into the segment: set, one set counted, no waiters bit). The
/// sleeper still returns, within the waiters' safety interval (50 ms).
#[test]
#[cfg_attr(
    miri,
    ignore = "writes the word as another process would: Miri, one process, sees a data race"
)]
fn a_set_whose_wake_up_was_lost_still_releases_a_sleeper_soon() {
    #[derive(ShmSafe)]
    #[repr(C)]
    struct Shared {
        event: ShmEvent,
    }
    let name = support::unique_name("event-lost-wake");
    let seg = Segment::<Shared>::create(&name).expect("create");
    let returned = AtomicU32::new(0);
    std::thread::scope(|s| {
        start_waiters(s, &seg.event, &returned, 1);
        let set_without_wake: u32 = 1 | (1 << 3);
        let written = std::time::Instant::now();
        support::shm_file::write_at(&name, payload_offset(&name), &set_without_wake.to_ne_bytes());
        support::wait_until("the sleeper returned", PROGRESS, || {
            returned.load(Ordering::SeqCst) == 1
        });
        let took = written.elapsed();
        eprintln!("a set without a wake-up reached the sleeper after {took:?}");
        assert!(took < Duration::from_secs(2), "the sleeper returned only after {took:?}");
    });
}
