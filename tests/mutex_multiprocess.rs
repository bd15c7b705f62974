//! `ShmMutex` across real processes: mutual exclusion under contention, and
//! a live holder that is never taken for dead.

use shmsync::{LockTimeoutError, Segment, ShmMutex, ShmSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use shmsync_support as support;

#[derive(ShmSafe)]
#[repr(C)]
struct Shared {
    pair: ShmMutex<[u64; 2]>,
    /// Lock attempts by contenders that timed out / reported a dead owner.
    timeouts: AtomicU64,
    owner_died: AtomicU64,
    /// Set by the holder just before it unlocks.
    released: AtomicU64,
}

#[test]
fn child_entry() {
    support::run_child(|role, args| {
        let seg = Segment::<Shared>::open(&args[0]).expect("open segment");
        match role {
            "increment" => {
                let iters: u64 = args[1].parse().expect("iteration count");
                for _ in 0..iters {
                    let mut g = match seg.pair.lock() {
                        Ok(g) => g,
                        Err(e) => panic!("unexpected {e:?}"),
                    };
                    assert_eq!(g[0], g[1], "pair torn: mutual exclusion broken");
                    g[0] += 1;
                    std::hint::black_box(&mut *g);
                    g[1] += 1;
                }
            }
            "hold_for_2s" => {
                let mut g = seg.pair.lock().expect("first lock is clean");
                support::reached("locked");
                // The scenario: a live owner holding the lock for 2 s.
                std::thread::sleep(Duration::from_secs(2));
                g[0] += 1;
                g[1] += 1;
                seg.released.store(1, Ordering::SeqCst);
            }
            "contend_with_timeouts" => loop {
                match seg.pair.lock_timeout(Duration::from_millis(50)) {
                    Ok(g) => {
                        assert_eq!(*g, [1, 1], "got the lock before the holder released it");
                        assert_eq!(seg.released.load(Ordering::SeqCst), 1);
                        break;
                    }
                    Err(LockTimeoutError::TimedOut) => {
                        seg.timeouts.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(LockTimeoutError::OwnerDied(_)) => {
                        seg.owner_died.fetch_add(1, Ordering::SeqCst);
                        panic!("a live holder was declared dead");
                    }
                    Err(e) => panic!("unexpected {e:?}"),
                }
            },
            other => panic!("unknown role {other}"),
        }
    });
}

/// 4 processes × 100k locked increments of both halves of a pair: the
/// halves are equal inside every critical section and exact at the end.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn four_processes_increment_a_pair_exactly() {
    const PROCS: u64 = 4;
    let iters: u64 = 100_000;
    let name = support::unique_name("mutex-incr");
    let seg = Segment::<Shared>::create(&name).expect("create");
    let children: Vec<_> = (0..PROCS)
        .map(|_| support::spawn("child_entry", "increment", &[&name, &iters.to_string()]))
        .collect();
    for c in children {
        c.expect_success(Duration::from_secs(60));
    }
    let g = match seg.pair.lock() {
        Ok(g) => g,
        Err(e) => panic!("unexpected {e:?}"),
    };
    assert_eq!(*g, [PROCS * iters; 2]);
}

/// A process holds the lock for 2 s while others (two processes and this
/// one) keep trying with timeouts: nobody gets `OwnerDied`, the attempts time
/// out, and the contenders get the lock once it is released.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn live_holder_is_never_declared_dead() {
    let name = support::unique_name("mutex-live");
    let seg = Segment::<Shared>::create(&name).expect("create");
    let mut holder = support::spawn("child_entry", "hold_for_2s", &[&name]);
    holder.wait_for("locked", Duration::from_secs(10));
    let contenders: Vec<_> =
        (0..2).map(|_| support::spawn("child_entry", "contend_with_timeouts", &[&name])).collect();
    let mut own_timeouts = 0;
    loop {
        match seg.pair.lock_timeout(Duration::from_millis(100)) {
            Ok(g) => {
                assert_eq!(seg.released.load(Ordering::SeqCst), 1);
                assert_eq!(*g, [1, 1]);
                break;
            }
            Err(LockTimeoutError::TimedOut) => own_timeouts += 1,
            Err(e) => panic!("a live holder must only cause timeouts, got {e:?}"),
        }
    }
    holder.expect_success(Duration::from_secs(10));
    for c in contenders {
        c.expect_success(Duration::from_secs(10));
    }
    assert_eq!(seg.owner_died.load(Ordering::SeqCst), 0);
    assert!(own_timeouts >= 5, "the parent should have timed out repeatedly: {own_timeouts}");
    assert!(seg.timeouts.load(Ordering::SeqCst) >= 10, "contenders should have timed out");
}
