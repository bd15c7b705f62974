//! Lock holders SIGKILLed at chosen points: the next locker gets
//! `OwnerDied` (once per death), repairs, and the mutex works again; a repair
//! that is abandoned makes it `NotRecoverable` for every process.

use shmsync::{
    LockError, LockTimeoutError, Segment, ShmMutex, ShmMutexGuard, ShmSafe, TryLockError,
};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmsync_support as support;

use support::wait_until;
use support::{gettid, wait_until_blocked_in_futex};

const WAITERS: usize = 3;

#[derive(ShmSafe)]
#[repr(C)]
struct Shared {
    pair: ShmMutex<[u64; 2]>,
    owner_died: AtomicU64,
    clean: AtomicU64,
    waiter_tids: [AtomicU32; WAITERS],
}

/// Locks and starts an update it will never finish (`pair[0]` only).
fn lock_and_half_update(seg: &Shared) {
    let mut g = seg.pair.lock().unwrap_or_else(|e| panic!("first lock must be clean: {e:?}"));
    g[0] += 1;
    std::mem::forget(g);
    support::reached("locked");
}

#[test]
fn child_entry() {
    support::run_child(|role, args| {
        let seg = Segment::<Shared>::open(&args[0]).expect("open segment");
        match role {
            "lock_and_hang" => {
                lock_and_half_update(&seg);
                support::park_forever();
            }
            "lock_in_thread_and_hang" => {
                let name = args[0].clone();
                std::thread::spawn(move || {
                    let seg = Segment::<Shared>::open(&name).expect("open segment");
                    lock_and_half_update(&seg);
                    support::park_forever();
                });
                support::park_forever();
            }
            "waiter" => {
                let idx: usize = args[1].parse().expect("waiter index");
                seg.waiter_tids[idx].store(gettid(), Ordering::SeqCst);
                let mut g = match seg.pair.lock() {
                    Ok(g) => {
                        seg.clean.fetch_add(1, Ordering::SeqCst);
                        g
                    }
                    Err(LockError::OwnerDied(mut g)) => {
                        seg.owner_died.fetch_add(1, Ordering::SeqCst);
                        g[1] = g[0];
                        ShmMutexGuard::make_consistent(&mut g);
                        g
                    }
                    Err(LockError::NotRecoverable) => panic!("not recoverable"),
                };
                assert_eq!(g[0], g[1], "pair not repaired");
                g[0] += 1;
                g[1] += 1;
            }
            "recover_and_hang" => {
                let g = match seg.pair.lock() {
                    Err(LockError::OwnerDied(g)) => g,
                    other => panic!("expected OwnerDied, got {other:?}"),
                };
                std::mem::forget(g);
                support::reached("recovering");
                support::park_forever();
            }
            "expect_not_recoverable" => {
                assert!(matches!(seg.pair.lock(), Err(LockError::NotRecoverable)));
                assert!(matches!(seg.pair.try_lock(), Err(TryLockError::NotRecoverable)));
            }
            other => panic!("unknown role {other}"),
        }
    });
}

/// A generous bound for "the next lock notices the death": the protocol
/// needs at most one liveness interval (a few ms); the figure itself is
/// measured by the benchmarks, not asserted here.
const DETECTION_BOUND: Duration = Duration::from_secs(5);

fn create(tag: &str) -> (String, Segment<Shared>) {
    let name = support::unique_name(tag);
    let seg = Segment::<Shared>::create(&name).expect("create segment");
    (name, seg)
}

/// Locks, expecting `OwnerDied` within [`DETECTION_BOUND`].
fn lock_expect_owner_died(seg: &Shared) -> ShmMutexGuard<'_, [u64; 2]> {
    let t0 = Instant::now();
    let g = match seg.pair.lock() {
        Err(LockError::OwnerDied(g)) => g,
        other => panic!("expected OwnerDied, got {other:?}"),
    };
    let took = t0.elapsed();
    eprintln!("owner death noticed by the next lock() after {took:?}");
    assert!(took < DETECTION_BOUND, "owner death noticed only after {took:?}");
    g
}

fn repair(mut g: ShmMutexGuard<'_, [u64; 2]>) {
    assert_eq!(*g, [1, 0], "the dead holder's half update is visible");
    g[1] = g[0];
    ShmMutexGuard::make_consistent(&mut g);
}

fn assert_works_normally(seg: &Shared, expected: [u64; 2]) {
    for _ in 0..3 {
        let g = seg.pair.lock().unwrap_or_else(|e| panic!("expected a clean lock, got {e:?}"));
        assert_eq!(*g, expected);
    }
    assert!(seg.pair.try_lock().is_ok());
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn killed_holder_next_lock_reports_owner_died_then_works() {
    let (name, seg) = create("kill-holder");
    let mut holder = support::spawn("child_entry", "lock_and_hang", &[&name]);
    holder.wait_for("locked", Duration::from_secs(10));
    holder.kill();
    repair(lock_expect_owner_died(&seg));
    assert_works_normally(&seg, [1, 1]);
}

/// The holder's process is killed but not reaped: its main thread stays a
/// zombie, which `kill(tid, 0)` still finds. The `/proc` state proves death.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn killed_holder_left_a_zombie_is_still_detected() {
    let (name, seg) = create("kill-zombie");
    let mut holder = support::spawn("child_entry", "lock_and_hang", &[&name]);
    holder.wait_for("locked", Duration::from_secs(10));
    holder.kill_without_reaping();
    repair(lock_expect_owner_died(&seg));
    assert_works_normally(&seg, [1, 1]);
    holder.kill();
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn holder_in_a_non_main_thread_is_detected() {
    let (name, seg) = create("kill-thread");
    let mut holder = support::spawn("child_entry", "lock_in_thread_and_hang", &[&name]);
    holder.wait_for("locked", Duration::from_secs(10));
    holder.kill();
    repair(lock_expect_owner_died(&seg));
    assert_works_normally(&seg, [1, 1]);
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn abandoned_repair_is_not_recoverable_for_every_process() {
    let (name, seg) = create("kill-abandon");
    let mut holder = support::spawn("child_entry", "lock_and_hang", &[&name]);
    holder.wait_for("locked", Duration::from_secs(10));
    holder.kill();
    drop(lock_expect_owner_died(&seg)); // no make_consistent
    for _ in 0..3 {
        assert!(matches!(seg.pair.lock(), Err(LockError::NotRecoverable)));
        assert!(matches!(seg.pair.try_lock(), Err(TryLockError::NotRecoverable)));
        assert!(matches!(
            seg.pair.lock_timeout(Duration::from_millis(10)),
            Err(LockTimeoutError::NotRecoverable)
        ));
    }
    support::spawn("child_entry", "expect_not_recoverable", &[&name])
        .expect_success(Duration::from_secs(10));
}

/// A repairer killed before `make_consistent` is a second death: the next
/// locker gets `OwnerDied` again and still sees the unrepaired data.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn repairer_killed_before_make_consistent_reports_again() {
    let (name, seg) = create("kill-repairer");
    let mut holder = support::spawn("child_entry", "lock_and_hang", &[&name]);
    holder.wait_for("locked", Duration::from_secs(10));
    holder.kill();
    let mut repairer = support::spawn("child_entry", "recover_and_hang", &[&name]);
    repairer.wait_for("recovering", Duration::from_secs(10));
    repairer.kill();
    repair(lock_expect_owner_died(&seg));
    assert_works_normally(&seg, [1, 1]);
}

/// Waiters already asleep in `futex_wait` when the holder dies (nobody will
/// ever wake them by unlocking): all of them get the lock, exactly one with
/// `OwnerDied`.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn waiters_blocked_in_futex_when_the_holder_dies_all_progress() {
    let (name, seg) = create("kill-waiters");
    let mut holder = support::spawn("child_entry", "lock_and_hang", &[&name]);
    holder.wait_for("locked", Duration::from_secs(10));
    let waiters: Vec<_> = (0..WAITERS)
        .map(|i| support::spawn("child_entry", "waiter", &[&name, &i.to_string()]))
        .collect();
    for (i, w) in waiters.iter().enumerate() {
        wait_until("the waiter published its thread id", Duration::from_secs(10), || {
            seg.waiter_tids[i].load(Ordering::SeqCst) != 0
        });
        let tid = seg.waiter_tids[i].load(Ordering::SeqCst);
        wait_until_blocked_in_futex(w.pid(), tid, Duration::from_secs(10));
    }
    holder.kill();
    for w in waiters {
        w.expect_success(Duration::from_secs(10));
    }
    assert_eq!(seg.owner_died.load(Ordering::SeqCst), 1, "exactly one OwnerDied per death");
    assert_eq!(seg.clean.load(Ordering::SeqCst), WAITERS as u64 - 1);
    assert_works_normally(&seg, [1 + WAITERS as u64; 2]);
}
