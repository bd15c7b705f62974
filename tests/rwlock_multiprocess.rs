//! `ShmRwLock` across processes: writers and readers SIGKILLed while they
//! hold the lock (or wait for it). A dead writer is reported to the next
//! locker, reader or writer, as `OwnerDied` with the write guard; a dead
//! reader's share is taken back so that writers get in.

use shmsync::inspect::{self, FieldState};
use shmsync::{RwLockError, Segment, ShmRwLock, ShmRwLockWriteGuard, ShmSafe, TryRwLockError};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmsync_support as support;

use support::wait_until;
use support::{gettid, wait_until_blocked_in_futex};

#[derive(ShmSafe)]
#[repr(C)]
struct Shared {
    pair: ShmRwLock<[u64; 2]>,
    /// The thread id of a child that is about to block.
    tid: AtomicU32,
    /// How a child's lock ended: 1 clean, 2 `OwnerDied`.
    outcome: AtomicU64,
}

const POINT_TIMEOUT: Duration = Duration::from_secs(10);
/// A generous bound for "the next locker notices the death": the protocol
/// needs at most one liveness interval (a few ms); the figure itself is
/// for the benchmarks, not asserted here.
const DETECTION_BOUND: Duration = Duration::from_secs(5);

#[test]
fn child_entry() {
    support::run_child(|role, args| {
        let seg = Segment::<Shared>::open(&args[0]).expect("open segment");
        match role {
            "write_half_and_hang" => {
                let Ok(mut g) = seg.pair.write() else { panic!("a clean write") };
                g[0] += 1;
                std::mem::forget(g);
                support::reached("writing");
                support::park_forever();
            }
            "read_and_hang" => {
                let Ok(g) = seg.pair.read() else { panic!("a clean read") };
                std::mem::forget(g);
                support::reached("reading");
                support::park_forever();
            }
            // Blocks in `write` behind the parent's read, then is killed.
            "wait_to_write" => {
                seg.tid.store(gettid(), Ordering::SeqCst);
                let _ = seg.pair.write();
                panic!("the parent holds a read share until it kills this writer");
            }
            // Reads (blocking), repairing if a writer died.
            "read_or_repair" => {
                seg.tid.store(gettid(), Ordering::SeqCst);
                match seg.pair.read() {
                    Ok(g) => {
                        assert_eq!(g[0], g[1], "a clean read of a consistent pair");
                        seg.outcome.store(1, Ordering::SeqCst);
                    }
                    Err(RwLockError::OwnerDied(mut g)) => {
                        assert_eq!(*g, [1, 0], "the dead writer's half update");
                        g[1] = g[0];
                        ShmRwLockWriteGuard::make_consistent(&mut g);
                        seg.outcome.store(2, Ordering::SeqCst);
                    }
                    Err(RwLockError::NotRecoverable) => panic!("not recoverable"),
                }
            }
            // Writes (blocking); expects a clean lock.
            "write_clean" => {
                seg.tid.store(gettid(), Ordering::SeqCst);
                let Ok(mut g) = seg.pair.write() else { panic!("a clean write") };
                g[0] += 1;
                g[1] += 1;
                seg.outcome.store(1, Ordering::SeqCst);
            }
            "expect_not_recoverable" => {
                assert!(matches!(seg.pair.read(), Err(RwLockError::NotRecoverable)));
                assert!(matches!(seg.pair.write(), Err(RwLockError::NotRecoverable)));
                assert!(matches!(seg.pair.try_read(), Err(TryRwLockError::NotRecoverable)));
            }
            other => panic!("unknown role {other}"),
        }
    });
}

fn create(tag: &str) -> (String, Segment<Shared>) {
    let name = support::unique_name(tag);
    let seg = Segment::<Shared>::create(&name).expect("create segment");
    (name, seg)
}

fn spawn_at(name: &str, role: &str, point: &str) -> support::ChildProcess {
    let mut child = support::spawn("child_entry", role, &[name]);
    child.wait_for(point, POINT_TIMEOUT);
    child
}

/// Spawns `role`, which publishes its thread id and then blocks in the
/// lock, and waits until it sleeps there.
fn spawn_blocked(seg: &Shared, name: &str, role: &str) -> support::ChildProcess {
    seg.tid.store(0, Ordering::SeqCst);
    let child = support::spawn("child_entry", role, &[name]);
    wait_until("the child published its thread id", POINT_TIMEOUT, || {
        seg.tid.load(Ordering::SeqCst) != 0
    });
    wait_until_blocked_in_futex(child.pid(), seg.tid.load(Ordering::SeqCst), POINT_TIMEOUT);
    child
}

fn expect_owner_died<'a, T>(
    r: Result<impl Sized, RwLockError<'a, T>>,
    t0: Instant,
) -> ShmRwLockWriteGuard<'a, T> {
    let g = match r {
        Err(RwLockError::OwnerDied(g)) => g,
        Err(e) => panic!("expected OwnerDied, got {e:?}"),
        Ok(_) => panic!("expected OwnerDied, got a clean lock"),
    };
    let took = t0.elapsed();
    eprintln!("writer death noticed after {took:?}");
    assert!(took < DETECTION_BOUND, "writer death noticed only after {took:?}");
    g
}

fn repair(mut g: ShmRwLockWriteGuard<'_, [u64; 2]>) {
    assert_eq!(*g, [1, 0], "the dead writer's half update is visible");
    g[1] = g[0];
    ShmRwLockWriteGuard::make_consistent(&mut g);
}

fn assert_consistent(seg: &Shared, expected: [u64; 2]) {
    assert_eq!(*seg.pair.read().expect("a clean read"), expected);
    assert_eq!(*seg.pair.try_write().expect("a clean write"), expected);
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn a_killed_writer_is_reported_to_the_next_reader_with_the_write_guard() {
    let (name, seg) = create("rw-kill-writer-read");
    spawn_at(&name, "write_half_and_hang", "writing").kill();
    repair(expect_owner_died(seg.pair.read(), Instant::now()));
    assert_consistent(&seg, [1, 1]);
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn a_killed_writer_is_reported_to_the_next_writer() {
    let (name, seg) = create("rw-kill-writer-write");
    spawn_at(&name, "write_half_and_hang", "writing").kill();
    repair(expect_owner_died(seg.pair.write(), Instant::now()));
    assert_consistent(&seg, [1, 1]);
}

/// A reader already asleep behind the writer when it is killed: nobody
/// will ever release the writer lock, yet the reader wakes, and repairs
/// instead of reading torn data.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn a_reader_blocked_behind_a_killed_writer_wakes_and_repairs() {
    let (name, seg) = create("rw-kill-writer-blocked");
    let writer = spawn_at(&name, "write_half_and_hang", "writing");
    let reader = spawn_blocked(&seg, &name, "read_or_repair");
    let t0 = Instant::now();
    writer.kill();
    reader.expect_success(DETECTION_BOUND);
    eprintln!("blocked reader woke after the writer's death in {:?}", t0.elapsed());
    assert_eq!(seg.outcome.load(Ordering::SeqCst), 2, "the reader got OwnerDied");
    assert_consistent(&seg, [1, 1]);
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn a_killed_readers_share_is_taken_back_and_a_writer_gets_in() {
    let (name, seg) = create("rw-kill-reader");
    let reader = spawn_at(&name, "read_and_hang", "reading");
    assert!(matches!(seg.pair.try_write(), Err(TryRwLockError::WouldBlock)));
    reader.kill();
    let t0 = Instant::now();
    let mut g = seg.pair.write().expect("a clean write: the reader wrote nothing");
    let took = t0.elapsed();
    eprintln!("reader death noticed by write() after {took:?}");
    assert!(took < DETECTION_BOUND);
    g[0] += 1;
    g[1] += 1;
    drop(g);
    assert_consistent(&seg, [1, 1]);
}

/// A writer already asleep waiting for a reader to leave, when the reader
/// is killed: it wakes and gets in, cleanly.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn a_writer_blocked_behind_a_killed_reader_wakes_and_gets_in() {
    let (name, seg) = create("rw-kill-reader-blocked");
    let reader = spawn_at(&name, "read_and_hang", "reading");
    let writer = spawn_blocked(&seg, &name, "write_clean");
    let t0 = Instant::now();
    reader.kill();
    writer.expect_success(DETECTION_BOUND);
    eprintln!("blocked writer got in after the reader's death in {:?}", t0.elapsed());
    assert_eq!(seg.outcome.load(Ordering::SeqCst), 1);
    assert_consistent(&seg, [1, 1]);
}

/// A writer killed while it waited for readers to leave held the writer
/// lock: it never touched the data, but the next locker cannot know that
/// and is told `OwnerDied` (a repair of consistent data is a no-op).
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn a_writer_killed_while_waiting_for_readers_is_reported_once_they_leave() {
    let (name, seg) = create("rw-kill-draining-writer");
    let read = seg.pair.read().expect("a clean read");
    spawn_blocked(&seg, &name, "wait_to_write").kill();
    assert!(matches!(seg.pair.try_write(), Err(TryRwLockError::WouldBlock)), "we still read");
    drop(read);
    let mut g = expect_owner_died(seg.pair.read(), Instant::now());
    assert_eq!(*g, [0, 0]);
    ShmRwLockWriteGuard::make_consistent(&mut g);
    drop(g);
    assert_consistent(&seg, [0, 0]);
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn an_abandoned_repair_is_not_recoverable_for_every_process() {
    let (name, seg) = create("rw-abandon");
    spawn_at(&name, "write_half_and_hang", "writing").kill();
    drop(expect_owner_died(seg.pair.read(), Instant::now())); // no make_consistent
    support::spawn("child_entry", "expect_not_recoverable", &[&name]).expect_success(POINT_TIMEOUT);
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn inspection_tells_a_killed_reader_from_a_live_one() {
    let (name, seg) = create("rw-inspect-dead-reader");
    let read = seg.pair.read().expect("a clean read");
    spawn_at(&name, "read_and_hang", "reading").kill();
    let state = |name: &str| {
        let report = inspect::inspect(name).expect("inspect");
        report.fields.into_iter().find(|f| f.path == "pair").expect("pair").state
    };
    match state(&name) {
        FieldState::RwLock { readers, reader_processes, reader_processes_dead, .. } => {
            assert_eq!((readers, reader_processes, reader_processes_dead), (2, 2, 1));
        }
        other => panic!("{other:?}"),
    }
    drop(read);
    drop(seg.pair.write().expect("a clean write takes the dead share back"));
    match state(&name) {
        FieldState::RwLock { readers, reader_processes, .. } => {
            assert_eq!((readers, reader_processes), (0, 0));
        }
        other => panic!("{other:?}"),
    }
}
