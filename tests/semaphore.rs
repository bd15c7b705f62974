//! `ShmSemaphore` public API within one process. Holders killed in other
//! processes are in `semaphore_multiprocess.rs` and `semaphore_torture.rs`.

use shmsync::inspect::{self, FieldState};
use shmsync::layout::Kind;
use shmsync::{
    AcquireTimeoutError, Segment, SemaphorePermit, ShmSafe, ShmSemaphore, TryAcquireError,
};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmsync_support as support;

use support::wait_until;
use support::{gettid, wait_until_blocked_in_futex};

const TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn permits_run_out_and_come_back() {
    let sem = ShmSemaphore::new(2);
    let a = sem.acquire();
    let b = sem.try_acquire().expect("a second permit");
    assert_eq!((sem.available(), sem.in_use(), sem.total()), (0, 2, 2));
    assert_eq!(sem.try_acquire().err(), Some(TryAcquireError::WouldBlock));
    let t0 = Instant::now();
    assert_eq!(
        sem.acquire_timeout(Duration::from_millis(30)).err(),
        Some(AcquireTimeoutError::TimedOut)
    );
    assert!(t0.elapsed() >= Duration::from_millis(30));
    assert_eq!(sem.acquire_timeout(Duration::ZERO).err(), Some(AcquireTimeoutError::TimedOut));
    drop(a);
    let c = sem.acquire_timeout(Duration::ZERO).expect("one back");
    drop((b, c));
    assert_eq!((sem.available(), sem.in_use(), sem.total()), (2, 0, 2));
}

#[test]
fn threads_never_hold_more_permits_than_there_are_and_use_them_all() {
    const PERMITS: u32 = 3;
    const THREADS: usize = 6;
    const ITERS: u32 = if cfg!(miri) { 30 } else { 5_000 };
    let sem = ShmSemaphore::new(u64::from(PERMITS));
    let inside = AtomicU32::new(0);
    let most = AtomicU32::new(0);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (sem, inside, most) = (&sem, &inside, &most);
            s.spawn(move || {
                for i in 0..ITERS {
                    let permit = match (i + t as u32) % 3 {
                        0 => sem.acquire(),
                        1 => sem.acquire_timeout(TIMEOUT).expect("a permit in time"),
                        _ => match sem.try_acquire() {
                            Ok(p) => p,
                            Err(_) => continue,
                        },
                    };
                    let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    assert!(n <= PERMITS, "{n} holders of {PERMITS} permits");
                    most.fetch_max(n, Ordering::SeqCst);
                    std::hint::black_box(i);
                    inside.fetch_sub(1, Ordering::SeqCst);
                    drop(permit);
                }
            });
        }
    });
    assert_eq!((sem.available(), sem.in_use()), (u64::from(PERMITS), 0));
    assert!(most.load(Ordering::SeqCst) >= 1);
}

#[test]
fn release_wakes_an_acquirer_blocked_on_an_empty_semaphore() {
    let sem = ShmSemaphore::new(0);
    let tid = AtomicU32::new(0);
    std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            tid.store(gettid(), Ordering::SeqCst);
            let permit = sem.acquire();
            permit.forget();
        });
        wait_until("the waiter published its tid", TIMEOUT, || tid.load(Ordering::SeqCst) != 0);
        wait_until_blocked_in_futex(std::process::id(), tid.load(Ordering::SeqCst), TIMEOUT);
        sem.release(1);
        waiter.join().expect("woken by release");
    });
    assert_eq!((sem.available(), sem.in_use(), sem.total()), (0, 0, 0));
}

#[test]
fn a_dropped_permit_wakes_every_blocked_acquirer_in_turn() {
    const WAITERS: usize = 3;
    let sem = ShmSemaphore::new(1);
    let tids: [AtomicU32; WAITERS] = Default::default();
    let served = AtomicU64::new(0);
    let held = sem.acquire();
    std::thread::scope(|s| {
        for tid in &tids {
            let (sem, served) = (&sem, &served);
            s.spawn(move || {
                tid.store(gettid(), Ordering::SeqCst);
                let _p = sem.acquire();
                served.fetch_add(1, Ordering::SeqCst);
            });
        }
        for tid in &tids {
            wait_until("a waiter published its tid", TIMEOUT, || tid.load(Ordering::SeqCst) != 0);
            wait_until_blocked_in_futex(std::process::id(), tid.load(Ordering::SeqCst), TIMEOUT);
        }
        drop(held);
    });
    assert_eq!(served.load(Ordering::SeqCst), WAITERS as u64);
}

#[test]
fn forget_hands_a_permit_over_and_release_puts_it_back() {
    let sem = ShmSemaphore::new(1);
    let permit: SemaphorePermit<'_> = sem.acquire();
    permit.forget();
    assert_eq!((sem.available(), sem.in_use(), sem.total()), (0, 0, 0));
    assert_eq!(sem.try_acquire().err(), Some(TryAcquireError::WouldBlock));
    sem.release(1);
    assert_eq!((sem.available(), sem.total()), (1, 1));
    sem.release(0);
    assert_eq!(sem.total(), 1);
    drop(sem.try_acquire().expect("the permit is back"));
}

#[test]
fn zeroed_and_default_have_no_permits_and_debug_shows_the_counts() {
    // SAFETY: ShmSemaphore is ShmSafe: all-zero bytes are a semaphore
    // with no permits.
    let zeroed: ShmSemaphore = unsafe { core::mem::zeroed() };
    assert_eq!(zeroed.try_acquire().err(), Some(TryAcquireError::WouldBlock));
    assert_eq!(ShmSemaphore::default().total(), 0);
    let sem = ShmSemaphore::new(3);
    let p = sem.acquire();
    assert_eq!(
        format!("{sem:?}"),
        "ShmSemaphore { available: 2, in_use: 1, total: 3, holder_processes: 1 }"
    );
    assert_eq!(format!("{p:?}"), "SemaphorePermit { .. }");
    assert_eq!(TryAcquireError::WouldBlock.to_string(), "no permit of the semaphore is available");
    assert!(AcquireTimeoutError::TimedOut.to_string().contains("timed out"));
}

#[derive(ShmSafe)]
#[repr(C)]
struct Pool {
    jobs: AtomicU64,
    slots: ShmSemaphore,
}

#[test]
fn in_a_segment_the_initializer_sets_the_permits_and_inspection_shows_them() {
    let name = support::unique_name("semaphore-seg");
    let seg = Segment::<Pool>::create_with(&name, |p| p.slots = ShmSemaphore::new(4))
        .expect("create segment");
    assert_eq!(seg.slots.available(), 4);
    assert_eq!(<ShmSemaphore as ShmSafe>::LAYOUT.kind, Kind::Semaphore);
    let opened = Segment::<Pool>::open(&name).expect("open");
    let a = opened.slots.acquire();
    let b = seg.slots.acquire();
    let report = inspect::inspect(&name).expect("inspect");
    let slots = report.fields.iter().find(|f| f.path == "slots").expect("slots listed");
    assert_eq!(slots.kind_name, "semaphore");
    match slots.state {
        FieldState::Semaphore {
            total,
            in_use,
            available,
            holder_processes,
            holder_processes_dead,
        } => {
            assert_eq!((total, in_use, available), (4, 2, 2));
            assert_eq!((holder_processes, holder_processes_dead), (1, 0));
        }
        ref other => panic!("slots: {other:?}"),
    }
    drop((a, b));
}
