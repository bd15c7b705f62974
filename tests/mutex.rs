//! `ShmMutex` public API within one process: threads stand in for processes
//! (a thread that panics holding the lock plays a killed holder), plus the
//! non-robust segment option. Multi-process behaviour is in
//! `mutex_multiprocess.rs`, `mutex_kill.rs` and `mutex_torture.rs`.

use shmsync::{
    LockError, LockTimeoutError, Segment, ShmMutex, ShmMutexGuard, ShmSafe, TryLockError,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use shmsync_support as support;
use support::lock_clean;

use support::{gettid, wait_until_blocked_in_futex};

#[test]
fn lock_try_lock_and_timeout_on_a_live_holder() {
    let m = ShmMutex::new(5u32);
    let g = lock_clean(&m);
    std::thread::scope(|s| {
        s.spawn(|| {
            assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
            let t0 = Instant::now();
            assert!(matches!(
                m.lock_timeout(Duration::from_millis(30)),
                Err(LockTimeoutError::TimedOut)
            ));
            assert!(t0.elapsed() >= Duration::from_millis(30));
        });
    });
    drop(g);
    assert_eq!(*m.try_lock().expect("free again"), 5);
    assert_eq!(*m.lock_timeout(Duration::ZERO).expect("free, zero timeout"), 5);
}

#[test]
fn threads_keep_a_pair_equal() {
    const THREADS: usize = 4;
    // Miri interprets every step: fewer rounds, still interleaved.
    const ITERS: u64 = if cfg!(miri) { 100 } else { 20_000 };
    let m = ShmMutex::new([0u64; 2]);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..ITERS {
                    let mut g = lock_clean(&m);
                    assert_eq!(g[0], g[1], "pair torn: mutual exclusion broken");
                    g[0] += 1;
                    std::hint::black_box(&mut *g);
                    g[1] += 1;
                }
            });
        }
    });
    assert_eq!(*lock_clean(&m), [THREADS as u64 * ITERS; 2]);
}

#[test]
fn panic_while_holding_hands_owner_died_to_the_next_locker() {
    let m = ShmMutex::new([0u64; 2]);
    std::thread::scope(|s| {
        let r = s.spawn(|| {
            let mut g = lock_clean(&m);
            g[0] = 1;
            panic!("interrupted update");
        });
        assert!(r.join().is_err());
    });
    let mut g = match m.lock() {
        Err(LockError::OwnerDied(g)) => g,
        other => panic!("expected OwnerDied, got {other:?}"),
    };
    assert!(!ShmMutexGuard::is_consistent(&g));
    assert_eq!(*g, [1, 0], "the interrupted update is visible to the repairer");
    g[1] = g[0];
    ShmMutexGuard::make_consistent(&mut g);
    assert!(ShmMutexGuard::is_consistent(&g));
    drop(g);
    // Reported once; afterwards the mutex is normal again.
    assert_eq!(*lock_clean(&m), [1, 1]);
    assert_eq!(*lock_clean(&m), [1, 1]);
}

/// Leaves `m` unlocked but inconsistent, as an owner whose update was
/// interrupted does: a thread locks it and panics. (A thread that merely
/// exits with its guard leaked keeps the lock held: see
/// `a_thread_exiting_with_a_leaked_guard_keeps_the_lock_in_this_process`.)
fn leave_owner_died<T: Send>(m: &ShmMutex<T>) {
    std::thread::scope(|s| {
        let r = s.spawn(|| {
            let _g = lock_clean(m);
            panic!("interrupted update");
        });
        assert!(r.join().is_err());
    });
}

#[test]
fn waiters_asleep_when_the_owner_panics_all_progress_once_reported() {
    let m = ShmMutex::new([0u64; 2]);
    let reports = AtomicU64::new(0);
    let (die_tx, die_rx) = mpsc::channel::<()>();
    let (m, reports) = (&m, &reports);
    std::thread::scope(|s| {
        let (locked_tx, locked_rx) = mpsc::channel();
        let owner = s.spawn(move || {
            let mut g = lock_clean(m);
            g[0] += 1;
            locked_tx.send(()).expect("parent waits");
            die_rx.recv().expect("told to die");
            // Unwinding drops the guard: the update counts as interrupted.
            let _g = g;
            panic!("interrupted update");
        });
        locked_rx.recv().expect("owner locked");
        let (tid_tx, tid_rx) = mpsc::channel();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let tid_tx = tid_tx.clone();
                s.spawn(move || {
                    tid_tx.send(gettid()).expect("parent listens");
                    drop(tid_tx);
                    let mut g = match m.lock() {
                        Ok(g) => g,
                        Err(LockError::OwnerDied(mut g)) => {
                            reports.fetch_add(1, Ordering::Relaxed);
                            g[1] = g[0];
                            ShmMutexGuard::make_consistent(&mut g);
                            g
                        }
                        Err(LockError::NotRecoverable) => panic!("not recoverable"),
                    };
                    assert_eq!(g[0], g[1]);
                    g[0] += 1;
                    g[1] += 1;
                })
            })
            .collect();
        for tid in tid_rx.iter().take(3) {
            wait_until_blocked_in_futex(std::process::id(), tid, Duration::from_secs(10));
        }
        die_tx.send(()).expect("owner waits");
        assert!(owner.join().is_err(), "the owner panicked");
        for w in waiters {
            w.join().expect("waiter made progress");
        }
    });
    assert_eq!(reports.load(Ordering::Relaxed), 1, "exactly one OwnerDied per death");
    assert_eq!(*lock_clean(m), [4, 4]);
}

#[test]
fn not_recoverable_is_forever_and_wakes_every_waiter() {
    let m = ShmMutex::new(0u32);
    leave_owner_died(&m);
    let g = match m.lock() {
        Err(LockError::OwnerDied(g)) => g,
        other => panic!("expected OwnerDied, got {other:?}"),
    };
    let m = &m;
    std::thread::scope(|s| {
        let (tid_tx, tid_rx) = mpsc::channel();
        let waiter = s.spawn(move || {
            tid_tx.send(gettid()).expect("parent listens");
            matches!(m.lock(), Err(LockError::NotRecoverable))
        });
        let tid = tid_rx.recv().expect("waiter tid");
        wait_until_blocked_in_futex(std::process::id(), tid, Duration::from_secs(10));
        drop(g); // abandon the repair
        assert!(waiter.join().expect("waiter woke"), "waiter must see NotRecoverable");
    });
    for _ in 0..3 {
        assert!(matches!(m.lock(), Err(LockError::NotRecoverable)));
        assert!(matches!(m.try_lock(), Err(TryLockError::NotRecoverable)));
        assert!(matches!(m.lock_timeout(Duration::ZERO), Err(LockTimeoutError::NotRecoverable)));
    }
}

#[test]
fn dropping_a_guard_while_already_panicking_is_not_a_death() {
    struct LocksInDrop<'a>(&'a ShmMutex<u32>);
    impl Drop for LocksInDrop<'_> {
        fn drop(&mut self) {
            // Locks and unlocks normally during unwinding: no interrupted
            // update, so no OwnerDied for the next locker.
            *lock_clean(self.0) += 1;
        }
    }
    let m = ShmMutex::new(0u32);
    std::thread::scope(|s| {
        let r = s.spawn(|| {
            let _d = LocksInDrop(&m);
            panic!("unwinding");
        });
        assert!(r.join().is_err());
    });
    assert_eq!(*lock_clean(&m), 1);
}

#[test]
fn relocking_in_the_same_thread_panics_instead_of_deadlocking() {
    let m = ShmMutex::new(0u32);
    let _g = lock_clean(&m);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = m.lock();
    }));
    let msg = r.expect_err("second lock must panic");
    let msg = msg.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.contains("self-deadlock"), "{msg}");
    assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
}

#[test]
fn debug_and_display_say_what_happened() {
    let m = ShmMutex::new(0u32);
    assert_eq!(format!("{m:?}"), "ShmMutex { state: \"unlocked\", .. }");
    let g = lock_clean(&m);
    assert_eq!(format!("{m:?}"), "ShmMutex { state: \"locked\", .. }");
    assert_eq!(format!("{g:?} {g}"), "0 0");
    drop(g);
    leave_owner_died(&m);
    let e = m.lock().expect_err("owner died");
    assert_eq!(format!("{e:?}"), "OwnerDied(..)");
    assert!(e.to_string().contains("make_consistent"), "{e}");
    drop(e); // drops the guard: not recoverable
    assert_eq!(format!("{m:?}"), "ShmMutex { state: \"not recoverable\", .. }");
    let e = m.lock().expect_err("not recoverable");
    assert!(e.to_string().contains("not recoverable"), "{e}");
    let e = LockTimeoutError::<u32>::TimedOut;
    assert_eq!(format!("{e:?}"), "TimedOut");
    assert!(e.to_string().contains("timed out"));
}

#[test]
fn zeroed_memory_is_an_unlocked_mutex() {
    // SAFETY: ShmMutex<[u64; 4]> is ShmSafe, hence valid when zeroed.
    let m: ShmMutex<[u64; 4]> = unsafe { std::mem::zeroed() };
    assert_eq!(*lock_clean(&m), [0; 4]);
}

// ---------------------------------------------------------------------------
// non-robust segments (PID namespace option)
// ---------------------------------------------------------------------------

#[derive(ShmSafe)]
#[repr(C)]
struct Shared {
    value: ShmMutex<u64>,
}

/// A thread that exits with its guard leaked, in a live process, keeps the
/// lock held, in a segment as outside one: the leaked `&mut` may still be in
/// use, so nobody may get `OwnerDied`. (Issue: owner liveness by process.)
#[test]
fn a_thread_exiting_with_a_leaked_guard_keeps_the_lock_in_this_process() {
    let name = support::unique_name("mutex-leak");
    let seg = Segment::<Shared>::create(&name).expect("create segment");
    std::thread::scope(|s| {
        s.spawn(|| std::mem::forget(lock_clean(&seg.value)));
    });
    assert!(matches!(seg.value.try_lock(), Err(TryLockError::WouldBlock)));
    assert!(matches!(
        seg.value.lock_timeout(Duration::from_millis(500)),
        Err(LockTimeoutError::TimedOut)
    ));

    // Box::leak: the `&'static mut` outlives its thread and stays usable.
    static M: ShmMutex<Vec<u64>> = ShmMutex::new(Vec::new());
    // The leaked guard stays reachable from a static, so that a leak
    // checker (Miri's) sees a deliberate leak, not a lost allocation.
    static LEAKED_GUARD: std::sync::atomic::AtomicPtr<()> =
        std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());
    let leaked: &'static mut Vec<u64> = std::thread::spawn(|| {
        let guard = Box::leak(Box::new(lock_clean(&M)));
        LEAKED_GUARD.store(std::ptr::from_mut(guard).cast(), Ordering::Relaxed);
        &mut **guard
    })
    .join()
    .expect("leaker");
    leaked.push(1);
    assert!(matches!(M.try_lock(), Err(TryLockError::WouldBlock)));
    assert!(matches!(M.lock_timeout(Duration::from_millis(50)), Err(LockTimeoutError::TimedOut)));
    leaked.push(2);
    assert_eq!(leaked.len(), 2);
}
