//! `SeqLock` public API, in one process (threads stand in for processes;
//! the multi-process tests are in `seqlock_multiprocess.rs`).

use shmsync::bytemuck::{Pod, Zeroable};
use shmsync::{SeqLock, ShmSafe};
use std::time::{Duration, Instant};

/// 256 bytes whose every word encodes one write number; a torn read mixes
/// two numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ShmSafe, Pod, Zeroable)]
#[bytemuck(crate = "shmsync::bytemuck")]
#[repr(C)]
struct Stamped {
    words: [u64; 32],
}

impl Stamped {
    fn new(n: u64) -> Self {
        let mut words = [0; 32];
        for (i, w) in words.iter_mut().enumerate() {
            *w = n.rotate_left(i as u32) ^ 0x5DEE_CE66_D1CE_5EED;
        }
        Stamped { words }
    }

    /// The write number, if every word agrees on it.
    fn number(&self) -> Option<u64> {
        let n = self.words[0] ^ 0x5DEE_CE66_D1CE_5EED;
        (*self == Stamped::new(n)).then_some(n)
    }
}

#[test]
fn new_reads_back_with_version_zero() {
    let lock = SeqLock::new(Stamped::new(7));
    assert_eq!(lock.read().number(), Some(7));
    assert_eq!(lock.version(), 0);
    assert_eq!(lock.read_versioned().1, 0);
    assert_eq!(lock.writer_recoveries(), 0);
}

#[test]
fn default_and_zeroed_are_the_zero_value() {
    let lock: SeqLock<[u32; 5]> = SeqLock::default();
    assert_eq!(lock.read(), [0; 5]);
    // SAFETY: a SeqLock of a Pod type is ShmSafe, hence valid when zeroed;
    // this checks that zeroed memory is an unlocked lock holding zeros.
    let zeroed: SeqLock<[u32; 5]> = unsafe { core::mem::zeroed() };
    assert_eq!(zeroed.read(), [0; 5]);
    zeroed.write([1; 5]).unwrap();
    assert_eq!(zeroed.read(), [1; 5]);
}

#[test]
fn write_then_read_and_version_counts_writes() {
    let lock = SeqLock::new(0u64);
    for i in 1..=5 {
        lock.write(i * 10).unwrap();
        assert_eq!(lock.read(), i * 10);
        assert_eq!(lock.version(), i);
        assert_eq!(lock.read_versioned(), (i * 10, i));
    }
}

#[test]
fn update_sees_the_current_value_and_returns_the_closures_result() {
    let lock = SeqLock::new([1u16, 2, 3]);
    let old_sum = lock
        .update(|v| {
            let sum: u16 = v.iter().sum();
            v.reverse();
            sum
        })
        .unwrap();
    assert_eq!(old_sum, 6);
    assert_eq!(lock.read(), [3, 2, 1]);
    assert_eq!(lock.version(), 1);
}

#[test]
fn a_panicking_update_publishes_nothing_and_releases_the_lock() {
    let lock = SeqLock::new(5u32);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lock.update(|v| {
            *v = 99;
            panic!("closure fails half-way");
        })
    }));
    assert!(result.is_err());
    assert_eq!(lock.read(), 5);
    assert_eq!(lock.version(), 0);
    // The writer lock was released: this would block forever otherwise.
    lock.write(6).unwrap();
    assert_eq!(lock.read(), 6);
    assert_eq!(lock.writer_recoveries(), 0, "a panic is not a dead writer");
}

#[test]
fn try_read_with_zero_attempts_is_none_and_otherwise_reads() {
    let lock = SeqLock::new(3i64);
    assert_eq!(lock.try_read(0), None);
    assert_eq!(lock.try_read(1), Some(3));
}

#[test]
fn odd_sizes_and_large_values_work() {
    let lock = SeqLock::new([0u8; 13]);
    lock.write(*b"hello, world!").unwrap();
    assert_eq!(&lock.read(), b"hello, world!");

    let lock = SeqLock::new([0u8; 1031]);
    let mut big = [0u8; 1031];
    for (i, b) in big.iter_mut().enumerate() {
        *b = (i * 7) as u8;
    }
    lock.write(big).unwrap();
    assert_eq!(lock.read(), big);
}

#[test]
fn layout_keeps_lines_apart_and_fingerprint_depends_on_t() {
    assert_eq!(core::mem::align_of::<SeqLock<u8>>(), 64);
    // sequence line + two copies + writer line, each a cache line.
    assert_eq!(core::mem::size_of::<SeqLock<u8>>(), 4 * 64);
    assert_eq!(core::mem::size_of::<SeqLock<Stamped>>(), 64 + 2 * 256 + 64);
    assert_ne!(
        <SeqLock<[u64; 2]> as ShmSafe>::FINGERPRINT,
        <SeqLock<[u32; 4]> as ShmSafe>::FINGERPRINT
    );
}

/// Threads standing in for processes: one writer as fast as it can, three
/// readers. No read is torn, and each reader's values never go backwards.
#[test]
fn concurrent_readers_never_see_torn_or_older_values() {
    let lock = SeqLock::new(Stamped::new(0));
    let deadline = Instant::now() + Duration::from_millis(300);
    std::thread::scope(|s| {
        // Every thread stops at the deadline, so a failing reader cannot
        // leave the writer running forever.
        s.spawn(|| {
            let mut n = 0;
            while Instant::now() < deadline {
                n += 1;
                lock.write(Stamped::new(n)).unwrap();
            }
        });
        let readers: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    let mut last = 0;
                    let mut distinct = 0u64;
                    while Instant::now() < deadline {
                        let (value, version) = lock.read_versioned();
                        let n = value.number().unwrap_or_else(|| panic!("torn read {value:?}"));
                        assert_eq!(n, version, "write n publishes version n");
                        assert!(n >= last, "went backwards: {n} after {last}");
                        distinct += u64::from(n != last);
                        last = n;
                    }
                    distinct
                })
            })
            .collect();
        let seen: Vec<u64> = readers.into_iter().map(|r| r.join().unwrap()).collect();
        for distinct in seen {
            assert!(distinct > 0, "a reader never saw the value advance");
        }
    });
}

/// `update` is a read-modify-write that excludes other writers.
#[test]
fn concurrent_updates_lose_nothing() {
    const THREADS: u64 = 3;
    // Miri interprets every step: fewer rounds, still interleaved.
    const EACH: u64 = if cfg!(miri) { 50 } else { 2_000 };
    let lock = SeqLock::new([0u64; 4]);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..EACH {
                    lock.update(|v| {
                        for w in v.iter_mut() {
                            *w += 1;
                        }
                    })
                    .unwrap();
                }
            });
        }
    });
    assert_eq!(lock.read(), [THREADS * EACH; 4]);
    assert_eq!(lock.version(), THREADS * EACH);
}
