//! Loom models of `SeqLock`: each thread stands for a process (unless it
//! joins another's), and `loom_write_torn_then_die` for a writer whose
//! process is SIGKILLed half-way through a copy.
//!
//! The value is `[u64; 2]` whose two words a correct writer always sets
//! equal, so a torn read shows up as two different words.
#![cfg(loom)]

use loom::thread;
use shmsync::loom_hooks::join_process_of;
use shmsync::{SeqLock, SeqLockTimeoutError, TrySeqLockError};
use shmsync_loom_tests::{check, leak};
// Outside the model: counts explored executions by outcome, to show that
// the interesting ones (a take-over from a dead writer) were explored.
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

type Pair = [u64; 2];

/// Reads once, checks the invariant inside the value, and returns the
/// value's word and its version.
fn read_checked(lock: &SeqLock<Pair>) -> (u64, u64) {
    let (v, version) = lock.read_versioned();
    assert_eq!(v[0], v[1], "torn read {v:?} at version {version}");
    (v[0], version)
}

/// One writer publishes two values (so the second overwrites the copy the
/// first read of a slow reader may be on) while two readers each read
/// twice: no torn value, and no reader goes backwards.
#[test]
fn one_writer_two_readers_never_tear_or_go_back() {
    check("one_writer_two_readers_never_tear_or_go_back", 3, || {
        let lock = leak(SeqLock::new([0u64; 2]));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                thread::spawn(move || {
                    // Here write n stores n, so values and versions agree.
                    let (first, v1) = read_checked(lock);
                    let (second, v2) = read_checked(lock);
                    assert_eq!((first, second), (v1, v2));
                    assert!(second >= first, "went back from {first} to {second}");
                })
            })
            .collect();
        lock.write([1, 1]).unwrap();
        lock.write([2, 2]).unwrap();
        for r in readers {
            r.join().unwrap();
        }
        assert_eq!(lock.read(), [2, 2]);
        assert_eq!(lock.version(), 2);
    });
}

/// Two writers' read-modify-writes are serialized (no lost update), and a
/// concurrent reader never sees a torn value.
#[test]
fn two_writers_updates_are_serialized() {
    check("two_writers_updates_are_serialized", 3, || {
        let lock = leak(SeqLock::new([0u64; 2]));
        let writers: Vec<_> = (0..2)
            .map(|_| {
                thread::spawn(move || {
                    lock.update(|v| {
                        v[0] += 1;
                        v[1] += 1;
                    })
                    .unwrap();
                })
            })
            .collect();
        let (seen, version) = read_checked(lock);
        assert_eq!(seen, version, "each update adds one");
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(lock.read(), [2, 2]);
        assert_eq!(lock.version(), 2);
        assert_eq!(lock.writer_recoveries(), 0);
    });
}

/// Writer A publishes `[1, 1]`, then dies after storing one word of
/// `[2, 2]`, holding the writer lock. Writer B, concurrently, adds 10 to
/// both words. A reader reads meanwhile. Whatever the interleaving:
///
/// * the reader never sees a torn value (no `[2, 1]`, no `[12, 11]`), its
///   versions never go backwards, and it is never stuck (loom would report
///   a livelock);
/// * B is never stuck behind the dead A: it takes over, counts one
///   recovery, and starts from A's last *complete* value;
/// * afterwards the lock is usable.
#[test]
fn writer_dying_mid_write_never_blocks_readers_or_the_next_writer() {
    static TAKE_OVERS: AtomicUsize = AtomicUsize::new(0);
    static NO_TAKE_OVER: AtomicUsize = AtomicUsize::new(0);
    check("writer_dying_mid_write_never_blocks_readers_or_the_next_writer", 3, || {
        let lock = leak(SeqLock::new([0u64; 2]));
        let a = thread::spawn(move || {
            lock.write([1, 1]).unwrap();
            lock.loom_write_torn_then_die([2, 2], 1);
        });
        let b = thread::spawn(move || {
            lock.update(|v| {
                v[0] += 10;
                v[1] += 10;
            })
            .unwrap();
        });
        let (_, v1) = read_checked(lock);
        let (second, v2) = read_checked(lock);
        assert!(v2 >= v1, "went back from version {v1} to {v2}");
        assert!([0, 1, 10, 11].contains(&second), "{second}");
        a.join().unwrap();
        b.join().unwrap();

        let (value, version) = lock.read_versioned();
        match lock.writer_recoveries() {
            // B ran after A died: it took over from A's last *complete*
            // value, `[1, 1]`, not the torn `[2, 1]` A left in the spare.
            1 => {
                assert_eq!((value, version), ([11, 11], 2));
                TAKE_OVERS.fetch_add(1, Relaxed);
            }
            // B ran before A's first write (A then overwrote B's value) or
            // between A's two writes (B then saw `[1, 1]`).
            0 => {
                assert!((value == [1, 1] || value == [11, 11]) && version == 2, "{value:?}");
                NO_TAKE_OVER.fetch_add(1, Relaxed);
            }
            n => panic!("{n} recoveries from one death"),
        }
        lock.write([5, 5]).unwrap();
        assert_eq!(lock.read(), [5, 5]);
    });
    assert!(TAKE_OVERS.load(Relaxed) > 0, "no execution took over from the dead writer");
    assert!(NO_TAKE_OVER.load(Relaxed) > 0, "no execution ran B before A's death");
}

/// A writer that dies mid-write while readers are the only other threads:
/// readers return the last complete value at once (they never wait for
/// the dead writer), and `try_read` with one attempt succeeds.
#[test]
fn dead_writer_leaves_last_complete_value_readable() {
    check("dead_writer_leaves_last_complete_value_readable", 3, || {
        let lock = leak(SeqLock::new([3u64; 2]));
        let a = thread::spawn(move || lock.loom_write_torn_then_die([4, 4], 1));
        let seen = read_checked(lock);
        assert_eq!(seen, (3, 0), "a write that never completed was published");
        a.join().unwrap();
        assert_eq!(lock.try_read(1), Some([3, 3]));
        assert_eq!(lock.version(), 0);
    });
}

/// The dead writer is a thread that joined another thread's process, so
/// its TID is not its process's token, and it is that process which dies:
/// the next writer takes over from the last complete value exactly once
/// (a judge that tested the TID would wait for the writer forever), and
/// the lock works normally afterwards.
#[test]
fn writer_lock_is_taken_over_when_the_writers_process_dies() {
    check("writer_lock_is_taken_over_when_the_writers_process_dies", 3, || {
        let lock = leak(SeqLock::new([3u64; 2]));
        // Model thread 1: the first thread of the writer's process, which
        // touches nothing shared.
        let first = thread::spawn(|| {});
        let writer = thread::spawn(move || {
            join_process_of(1);
            lock.loom_write_torn_then_die([4, 4], 1);
        });
        let seen = read_checked(lock);
        assert_eq!(seen, (3, 0), "a write that never completed was published");
        writer.join().unwrap();
        first.join().unwrap();
        lock.update(|v| {
            assert_eq!(*v, [3, 3], "the take-over starts from the last complete value");
            *v = [5, 5];
        })
        .unwrap();
        assert_eq!(lock.writer_recoveries(), 1);
        assert_eq!(lock.read_versioned(), ([5, 5], 1));
        // The take-over left the writer lock consistent: writes go on.
        lock.write([6, 6]).unwrap();
        assert_eq!(lock.writer_recoveries(), 1);
    });
}

/// `try_write` and `write_timeout` against a writer that holds the writer
/// lock and then dies mid-write: while the writer lives they report
/// `WouldBlock` / `TimedOut` (never a take-over, never a corrupt lock), and
/// once it is dead the first of them to find its lock takes over, exactly
/// once, without waiting.
#[test]
fn try_and_timed_writes_wait_for_no_live_writer_and_take_over_from_a_dead_one() {
    static WOULD_BLOCK: AtomicUsize = AtomicUsize::new(0);
    static TIMED_OUT: AtomicUsize = AtomicUsize::new(0);
    check("try_and_timed_writes_wait_for_no_live_writer_and_take_over_from_a_dead_one", 3, || {
        let lock = leak(SeqLock::new([0u64; 2]));
        let writer = thread::spawn(move || lock.loom_write_torn_then_die([1, 1], 1));
        match lock.try_write([2, 2]) {
            Ok(()) => {}
            Err(TrySeqLockError::WouldBlock) => {
                WOULD_BLOCK.fetch_add(1, Relaxed);
            }
            Err(e) => panic!("try_write: {e:?}"),
        }
        match lock.write_timeout([3, 3], Duration::from_millis(1)) {
            Ok(()) => {}
            Err(SeqLockTimeoutError::TimedOut) => {
                TIMED_OUT.fetch_add(1, Relaxed);
            }
            Err(e) => panic!("write_timeout: {e:?}"),
        }
        writer.join().unwrap();
        // The writer has locked and died by now: if nobody took over yet,
        // this must, at once.
        lock.try_update(|v| {
            assert_eq!(v[0], v[1], "the take-over starts from a complete value");
            *v = [4, 4];
        })
        .unwrap();
        assert_eq!(lock.writer_recoveries(), 1, "one death, one take-over");
        assert_eq!(lock.read(), [4, 4]);
    });
    assert!(WOULD_BLOCK.load(Relaxed) > 0, "no try_write met the live writer");
    assert!(TIMED_OUT.load(Relaxed) > 0, "no write_timeout met the live writer");
}
