//! `ShmRwLock` public API within one process: threads stand in for
//! processes (a thread that panics holding the write lock plays a killed
//! writer). Killed readers and writers of other processes are in
//! `rwlock_multiprocess.rs` and `rwlock_torture.rs`.

use shmsync::inspect::{self, FieldState, LockState};
use shmsync::layout::Kind;
use shmsync::{
    Error, RwLockError, RwLockTimeoutError, Segment, ShmRwLock, ShmRwLockReadGuard,
    ShmRwLockWriteGuard, ShmSafe, TryRwLockError,
};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmsync_support as support;

use support::wait_until;
use support::{gettid, wait_until_blocked_in_futex};

const TIMEOUT: Duration = Duration::from_secs(10);

fn read_clean<T>(l: &ShmRwLock<T>) -> ShmRwLockReadGuard<'_, T> {
    match l.read() {
        Ok(g) => g,
        Err(e) => panic!("expected a clean read, got {e:?}"),
    }
}

fn write_clean<T>(l: &ShmRwLock<T>) -> ShmRwLockWriteGuard<'_, T> {
    match l.write() {
        Ok(g) => g,
        Err(e) => panic!("expected a clean write, got {e:?}"),
    }
}

#[test]
fn readers_share_and_a_live_holder_blocks_the_try_and_timeout_forms() {
    let l = ShmRwLock::new(5u32);
    let r1 = read_clean(&l);
    let r2 = l.try_read().expect("readers share");
    let r3 = l.read_timeout(Duration::ZERO).expect("readers share, zero timeout");
    assert_eq!((*r1, *r2, *r3), (5, 5, 5));
    std::thread::scope(|s| {
        s.spawn(|| {
            assert!(matches!(l.try_write(), Err(TryRwLockError::WouldBlock)));
            let t0 = Instant::now();
            let r = l.write_timeout(Duration::from_millis(30));
            assert!(matches!(r, Err(RwLockTimeoutError::TimedOut)), "{r:?}");
            assert!(t0.elapsed() >= Duration::from_millis(30));
        });
    });
    drop((r1, r2, r3));
    let w = l.try_write().expect("free again");
    std::thread::scope(|s| {
        s.spawn(|| {
            assert!(matches!(l.try_read(), Err(TryRwLockError::WouldBlock)));
            assert!(matches!(l.try_write(), Err(TryRwLockError::WouldBlock)));
            let r = l.read_timeout(Duration::from_millis(20));
            assert!(matches!(r, Err(RwLockTimeoutError::TimedOut)), "{r:?}");
        });
    });
    drop(w);
    assert_eq!(*l.write_timeout(Duration::ZERO).expect("free, zero timeout"), 5);
}

#[test]
fn readers_never_see_a_write_in_progress() {
    const THREADS: usize = 4;
    const ITERS: u64 = if cfg!(miri) { 60 } else { 10_000 };
    let l = ShmRwLock::new([0u64; 2]);
    let reads = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (l, reads) = (&l, &reads);
            s.spawn(move || {
                for i in 0..ITERS {
                    if (i + t as u64) % 4 == 0 {
                        let mut g = write_clean(l);
                        assert_eq!(g[0], g[1], "pair torn: a writer overlapped another");
                        g[0] += 1;
                        std::hint::black_box(&mut *g);
                        g[1] += 1;
                    } else {
                        let g = read_clean(l);
                        assert_eq!(g[0], g[1], "a reader saw a write in progress");
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let g = read_clean(&l);
    assert_eq!(g[0], g[1]);
    assert_eq!(g[0] + reads.load(Ordering::Relaxed), THREADS as u64 * ITERS);
}

/// A writer waiting for a reader keeps new readers out, so readers cannot
/// starve it; when the reader leaves, the writer gets in first.
#[test]
fn a_waiting_writer_keeps_new_readers_out() {
    let l = ShmRwLock::new(0u32);
    let writer_tid = AtomicU32::new(0);
    let first = read_clean(&l);
    std::thread::scope(|s| {
        let w = s.spawn(|| {
            writer_tid.store(gettid(), Ordering::SeqCst);
            let mut g = write_clean(&l);
            *g += 1;
        });
        wait_until("the writer published its tid", TIMEOUT, || {
            writer_tid.load(Ordering::SeqCst) != 0
        });
        wait_until_blocked_in_futex(std::process::id(), writer_tid.load(Ordering::SeqCst), TIMEOUT);
        // The writer holds the writer lock and waits: readers stay out.
        s.spawn(|| {
            assert!(matches!(l.try_read(), Err(TryRwLockError::WouldBlock)));
            let r = l.read_timeout(Duration::from_millis(20));
            assert!(matches!(r, Err(RwLockTimeoutError::TimedOut)), "{r:?}");
        })
        .join()
        .expect("a reader thread");
        assert!(format!("{l:?}").contains("writer: \"locked\""), "{l:?}");
        drop(first);
        w.join().expect("the writer got in once the reader left");
    });
    assert_eq!(*read_clean(&l), 1);
}

/// Readers blocked behind a writer all get in when it releases.
#[test]
fn every_reader_blocked_behind_a_writer_is_woken() {
    const READERS: usize = 3;
    let l = ShmRwLock::new(0u32);
    let tids: [AtomicU32; READERS] = Default::default();
    let w = write_clean(&l);
    std::thread::scope(|s| {
        for tid in &tids {
            let l = &l;
            s.spawn(move || {
                tid.store(gettid(), Ordering::SeqCst);
                assert_eq!(*read_clean(l), 7);
            });
        }
        for tid in &tids {
            wait_until("a reader published its tid", TIMEOUT, || tid.load(Ordering::SeqCst) != 0);
            wait_until_blocked_in_futex(std::process::id(), tid.load(Ordering::SeqCst), TIMEOUT);
        }
        let mut w = w;
        *w = 7;
        drop(w);
    });
}

#[test]
fn a_panicking_writer_hands_owner_died_to_the_next_reader_which_repairs() {
    let l = ShmRwLock::new([0u64; 2]);
    std::thread::scope(|s| {
        let r = s.spawn(|| {
            let mut g = write_clean(&l);
            g[0] = 1;
            panic!("interrupted update");
        });
        assert!(r.join().is_err());
    });
    assert!(format!("{l:?}").contains("owner died"), "{l:?}");
    let mut g = match l.read() {
        Err(RwLockError::OwnerDied(g)) => g,
        other => panic!("expected OwnerDied, got {other:?}"),
    };
    assert!(!ShmRwLockWriteGuard::is_consistent(&g));
    assert_eq!(*g, [1, 0], "the half update is visible to the repairer");
    g[1] = g[0];
    ShmRwLockWriteGuard::make_consistent(&mut g);
    assert!(ShmRwLockWriteGuard::is_consistent(&g));
    drop(g);
    assert_eq!(*read_clean(&l), [1, 1]);
    assert_eq!(*write_clean(&l), [1, 1]);
}

#[test]
fn a_panicking_writer_hands_owner_died_to_the_try_and_timeout_forms() {
    for form in 0..4 {
        let l = ShmRwLock::new(0u32);
        std::thread::scope(|s| {
            assert!(s
                .spawn(|| {
                    let _g = write_clean(&l);
                    panic!("interrupted update");
                })
                .join()
                .is_err());
        });
        let r = match form {
            0 => l.try_read().map(drop).map_err(TryRwLockError::into_guard),
            1 => l.read_timeout(TIMEOUT).map(drop).map_err(RwLockTimeoutError::into_guard),
            2 => l.try_write().map(drop).map_err(TryRwLockError::into_guard),
            _ => l.write_timeout(TIMEOUT).map(drop).map_err(RwLockTimeoutError::into_guard),
        };
        let mut g = match r {
            Err(Some(g)) => g,
            other => panic!("form {form}: expected OwnerDied, got {other:?}"),
        };
        ShmRwLockWriteGuard::make_consistent(&mut g);
    }
}

#[test]
fn an_abandoned_repair_is_not_recoverable_for_every_form() {
    let l = ShmRwLock::new(0u32);
    std::thread::scope(|s| {
        assert!(s
            .spawn(|| {
                let _g = write_clean(&l);
                panic!("interrupted update");
            })
            .join()
            .is_err());
    });
    drop(l.write().err().and_then(RwLockError::into_guard).expect("OwnerDied"));
    assert!(matches!(l.read(), Err(RwLockError::NotRecoverable)));
    assert!(matches!(l.write(), Err(RwLockError::NotRecoverable)));
    assert!(matches!(l.try_read(), Err(TryRwLockError::NotRecoverable)));
    assert!(matches!(l.try_write(), Err(TryRwLockError::NotRecoverable)));
    assert!(matches!(l.read_timeout(TIMEOUT), Err(RwLockTimeoutError::NotRecoverable)));
    assert!(matches!(l.write_timeout(TIMEOUT), Err(RwLockTimeoutError::NotRecoverable)));
    assert!(matches!(l.read_or_repair(|_| {}), Err(Error::NotRecoverable)));
    assert!(matches!(l.write_or_repair(|_| {}), Err(Error::NotRecoverable)));
    assert!(format!("{l:?}").contains("not recoverable"));
    assert!(RwLockError::<u32>::NotRecoverable.to_string().contains("not recoverable"));
}

#[test]
fn read_or_repair_and_write_or_repair_repair_once() {
    let l = ShmRwLock::new([0u64; 2]);
    let tear = || {
        std::thread::scope(|s| {
            assert!(s
                .spawn(|| {
                    let mut g = write_clean(&l);
                    g[0] += 5;
                    panic!("interrupted update");
                })
                .join()
                .is_err());
        });
    };
    tear();
    let mut repairs = 0;
    let g = l
        .read_or_repair(|p| {
            repairs += 1;
            p[1] = p[0];
        })
        .expect("repaired");
    assert_eq!((*g, repairs), ([5, 5], 1));
    drop(g);
    tear();
    let g = l.write_or_repair(|p| p[1] = p[0]).expect("repaired");
    assert_eq!(*g, [10, 10]);
}

#[test]
#[should_panic(expected = "self-deadlock")]
fn reading_while_holding_the_write_lock_panics() {
    let l = ShmRwLock::new(0u32);
    let _w = write_clean(&l);
    assert!(matches!(l.try_read(), Err(TryRwLockError::WouldBlock)));
    let _ = l.read();
}

#[test]
#[should_panic(expected = "self-deadlock")]
fn writing_while_holding_the_write_lock_panics() {
    let l = ShmRwLock::new(0u32);
    let _w = write_clean(&l);
    assert!(matches!(l.try_write(), Err(TryRwLockError::WouldBlock)));
    let _ = l.write();
}

#[test]
fn zeroed_memory_is_an_unlocked_rwlock_and_debug_shows_the_state() {
    // SAFETY: ShmRwLock<[u64; 2]> is ShmSafe: all-zero bytes are an
    // unlocked lock around [0, 0].
    let mut l: ShmRwLock<[u64; 2]> = unsafe { core::mem::zeroed() };
    l.get_mut()[1] = 3;
    assert_eq!(format!("{l:?}"), "ShmRwLock { writer: \"unlocked\", readers: 0, .. }");
    let r = read_clean(&l);
    assert_eq!(format!("{r:?}"), "[0, 3]");
    assert_eq!(format!("{l:?}"), "ShmRwLock { writer: \"unlocked\", readers: 1, .. }");
    drop(r);
    let w = write_clean(&l);
    assert_eq!(format!("{l:?}"), "ShmRwLock { writer: \"locked\", readers: 0, .. }");
    assert_eq!(format!("{w:?}"), "[0, 3]");
    drop(w);
    let d: ShmRwLock<u8> = ShmRwLock::default();
    assert_eq!(*read_clean(&d), 0);
    assert_eq!(core::mem::align_of::<ShmRwLock<u8>>(), 64);
    assert_eq!(core::mem::size_of::<ShmRwLock<[u64; 2]>>(), 576 + 64);
}

#[derive(ShmSafe)]
#[repr(C)]
struct Config {
    hits: AtomicU64,
    table: ShmRwLock<[u32; 4]>,
}

#[test]
fn in_a_segment_it_is_typed_laid_out_and_inspected() {
    let name = support::unique_name("rwlock-seg");
    let seg = Segment::<Config>::create_with(&name, |c| c.table.get_mut()[0] = 42)
        .expect("create segment");
    assert_eq!(read_clean(&seg.table)[0], 42);
    let layout = &<ShmRwLock<[u32; 4]> as ShmSafe>::LAYOUT;
    assert_eq!(layout.kind, Kind::RwLock);
    assert_eq!(layout.fields[0].name, "data");
    assert_eq!(layout.fields[0].offset, 576);
    assert_ne!(<ShmRwLock<u64> as ShmSafe>::FINGERPRINT, <ShmRwLock<i64> as ShmSafe>::FINGERPRINT);

    let r1 = read_clean(&seg.table);
    let r2 = read_clean(&seg.table);
    let report = inspect::inspect(&name).expect("inspect");
    let table = report.fields.iter().find(|f| f.path == "table").expect("table listed");
    assert_eq!(table.kind, Some(Kind::RwLock));
    assert_eq!(table.kind_name, "rwlock");
    match &table.state {
        FieldState::RwLock { writer, readers, reader_processes, reader_processes_dead } => {
            assert_eq!(writer.state, LockState::Unlocked);
            assert_eq!((*readers, *reader_processes, *reader_processes_dead), (2, 1, 0));
        }
        other => panic!("table: {other:?}"),
    }
    assert!(report.fields.iter().any(|f| f.path == "table.data"), "the data is listed under it");
    drop((r1, r2));
    let w = write_clean(&seg.table);
    let report = inspect::inspect(&name).expect("inspect");
    let table = report.fields.iter().find(|f| f.path == "table").expect("table listed");
    match &table.state {
        FieldState::RwLock { writer, readers, .. } => {
            assert_eq!(writer.state, LockState::Locked);
            assert_eq!(writer.owner_alive, Some(true));
            assert_eq!(*readers, 0);
        }
        other => panic!("table: {other:?}"),
    }
    drop(w);
}
