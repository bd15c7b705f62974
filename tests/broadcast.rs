//! `Broadcast` public API, in one process (threads stand in for processes;
//! the multi-process tests are in `broadcast_multiprocess.rs`).

use shmsync::bytemuck::{Pod, Zeroable};
use shmsync::{
    Broadcast, RecvError, RecvTimeoutError, Segment, SendError, SendTimeoutError, ShmSafe,
    TryRecvError, TrySendError,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use shmsync_support as support;

/// 32 bytes whose every word encodes one sequence number: a torn value
/// mixes two numbers, a value under the wrong number shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ShmSafe, Pod, Zeroable)]
#[bytemuck(crate = "shmsync::bytemuck")]
#[repr(C)]
struct Stamped {
    words: [u64; 4],
}

impl Stamped {
    fn new(n: u64) -> Self {
        let mut words = [0; 4];
        for (i, w) in words.iter_mut().enumerate() {
            *w = n.rotate_left(i as u32 * 16) ^ 0xA5A5_5A5A_C3C3_3C3C;
        }
        Stamped { words }
    }

    /// The number, if every word agrees on it.
    fn number(&self) -> Option<u64> {
        let n = self.words[0] ^ 0xA5A5_5A5A_C3C3_3C3C;
        (*self == Stamped::new(n)).then_some(n)
    }
}

#[test]
fn sequence_numbers_count_from_zero_and_values_arrive_in_order() {
    let ring = Broadcast::<u64, 8>::new();
    assert_eq!((ring.sequence(), ring.capacity()), (0, 8));
    let mut rx = ring.subscribe();
    assert_eq!(rx.next_sequence(), 0);
    for i in 0..5 {
        assert_eq!(ring.send(100 + i), Ok(i));
    }
    assert_eq!(ring.sequence(), 5);
    assert_eq!(rx.len(), 5);
    for i in 0..5 {
        assert_eq!(rx.try_recv(), Ok(100 + i));
        assert_eq!(rx.next_sequence(), i + 1);
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert!(rx.is_empty());
}

#[test]
fn a_receiver_starts_after_the_newest_value() {
    let ring = Broadcast::<u32, 4>::new();
    ring.send(1).unwrap();
    ring.send(2).unwrap();
    let mut late = ring.subscribe();
    assert_eq!(late.next_sequence(), 2);
    assert_eq!(late.try_recv(), Err(TryRecvError::Empty));
    ring.send(3).unwrap();
    assert_eq!(late.try_recv(), Ok(3));
    let again = late.resubscribe();
    assert_eq!(again.next_sequence(), 3);
}

/// For every capacity and every number of values sent behind a receiver's
/// back, the lag reported is exactly the values overwritten, and the
/// receiver then gets the oldest value held and everything after it.
#[test]
fn lag_counts_are_exact_for_every_capacity_and_distance() {
    fn check<const N: usize>() {
        for behind in 0..3 * N as u64 + 2 {
            let ring = Broadcast::<u64, N>::new();
            // Start somewhere other than 0 so slots are on a later lap.
            for v in 0..N as u64 + 1 {
                ring.send(v).unwrap();
            }
            let mut rx = ring.subscribe();
            let start = rx.next_sequence();
            for i in 0..behind {
                ring.send(start + i).unwrap();
            }
            let lost = behind.saturating_sub(N as u64);
            if lost > 0 {
                assert_eq!(
                    rx.try_recv(),
                    Err(TryRecvError::Lagged(lost)),
                    "N={N}, {behind} behind"
                );
            }
            for i in lost..behind {
                assert_eq!(rx.try_recv(), Ok(start + i), "N={N}, {behind} behind");
            }
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        }
    }
    check::<1>();
    check::<2>();
    check::<3>();
    check::<8>();
}

#[test]
fn recv_and_recv_timeout_report_lags_too() {
    let ring = Broadcast::<u8, 2>::new();
    let mut a = ring.subscribe();
    let mut b = a.clone();
    for v in 0..5 {
        ring.send(v).unwrap();
    }
    assert_eq!(a.recv(), Err(RecvError::Lagged(3)));
    assert_eq!(a.recv(), Ok(3));
    assert_eq!(b.recv_timeout(Duration::from_secs(1)), Err(RecvTimeoutError::Lagged(3)));
    assert_eq!(b.recv_timeout(Duration::from_secs(1)), Ok(3));
    assert_eq!(b.recv_timeout(Duration::from_secs(1)), Ok(4));
}

#[test]
fn recv_timeout_times_out_without_a_value_and_not_before() {
    let ring = Broadcast::<u64, 4>::new();
    let mut rx = ring.subscribe();
    let wait = Duration::from_millis(if cfg!(miri) { 5 } else { 30 });
    let started = Instant::now();
    assert_eq!(rx.recv_timeout(wait), Err(RecvTimeoutError::Timeout));
    assert!(started.elapsed() >= wait, "returned after {:?}", started.elapsed());
    assert_eq!(rx.recv_timeout(Duration::ZERO), Err(RecvTimeoutError::Timeout));
    assert_eq!(rx.next_sequence(), 0, "a timeout does not move the receiver");
}

/// A receiver waiting in `recv` (spinning, yielding, then asleep on the
/// futex, whichever it reached) gets a value another thread sends. That
/// the send wakes a sleeper rather than leaving it to its re-check is the
/// loom models' subject (a lost wake-up is a deadlock there).
#[test]
fn recv_returns_a_value_sent_while_it_waits() {
    let ring = Broadcast::<u64, 4>::new();
    let mut rx = ring.subscribe();
    std::thread::scope(|s| {
        let receiver = s.spawn(move || rx.recv());
        // Let the receiver get past spinning and yielding into the futex:
        // whenever it gets there, the send below must reach it.
        std::thread::sleep(Duration::from_millis(if cfg!(miri) { 1 } else { 20 }));
        ring.send(7).unwrap();
        assert_eq!(receiver.join().unwrap(), Ok(7));
    });
}

#[test]
fn send_with_sees_the_number_and_a_panic_sends_nothing() {
    let ring = Broadcast::<[u64; 2], 4>::new();
    let mut rx = ring.subscribe();
    assert_eq!(ring.send_with(|seq| [seq, seq * 10]), Ok(0));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ring.send_with(|_| panic!("building the value fails"))
    }));
    assert!(result.is_err());
    assert_eq!(ring.sequence(), 1, "nothing was sent");
    // The lock was released: this would block forever otherwise.
    assert_eq!(ring.send_with(|seq| [seq, seq * 10]), Ok(1));
    assert_eq!(rx.try_recv(), Ok([0, 0]));
    assert_eq!(rx.try_recv(), Ok([1, 10]));
    assert_eq!(ring.sender_recoveries(), 0, "a panic is not a dead sender");
}

#[test]
fn try_send_and_send_timeout_do_not_wait_for_a_busy_sender() {
    let ring = Broadcast::<u32, 4>::new();
    let holding = AtomicBool::new(false);
    let release = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            ring.send_with(|_| {
                holding.store(true, Ordering::Release);
                while !release.load(Ordering::Acquire) {
                    std::thread::yield_now();
                }
                1
            })
            .unwrap();
        });
        while !holding.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        assert_eq!(ring.try_send(2), Err(TrySendError::WouldBlock));
        assert_eq!(ring.send_timeout(2, Duration::from_millis(5)), Err(SendTimeoutError::TimedOut));
        release.store(true, Ordering::Release);
    });
    assert_eq!(ring.try_send(3), Ok(1));
    assert_eq!(ring.send_timeout(4, Duration::from_millis(5)), Ok(2));
}

#[test]
fn debug_shows_sequence_capacity_and_the_sender_lock() {
    let ring = Broadcast::<u16, 16>::new();
    ring.send(1).unwrap();
    ring.send(2).unwrap();
    let text = format!("{ring:?}");
    assert_eq!(
        text,
        "Broadcast { sequence: 2, capacity: 16, sender_lock: \"unlocked\", sender_recoveries: 0 }"
    );
    let ring = &ring;
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        s.spawn(move || {
            ring.send_with(|_| {
                tx.send(()).unwrap();
                done_rx.recv().unwrap();
                3
            })
            .unwrap();
        });
        rx.recv().unwrap();
        assert!(format!("{ring:?}").contains("sender_lock: \"locked\""), "{ring:?}");
        done_tx.send(()).unwrap();
    });
    let mut receiver = ring.subscribe();
    assert_eq!(format!("{receiver:?}"), "Receiver { next_sequence: 3, capacity: 16, .. }");
    assert_eq!(receiver.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn zeroed_memory_is_an_empty_ring() {
    // SAFETY: a Broadcast of a Pod type is ShmSafe, hence valid when
    // zeroed; this checks that zeroed memory behaves as a new ring.
    let ring: Box<Broadcast<Stamped, 4>> = unsafe { Box::new(core::mem::zeroed()) };
    assert_eq!(ring.sequence(), 0);
    let mut rx = ring.subscribe();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(ring.send(Stamped::new(9)), Ok(0));
    assert_eq!(rx.try_recv().map(|v| v.number()), Ok(Some(9)));
    let default = Broadcast::<Stamped, 4>::default();
    assert_eq!(format!("{default:?}"), format!("{:?}", Broadcast::<Stamped, 4>::new()));
}

#[test]
fn odd_sizes_large_values_and_zero_sized_values_work() {
    let ring = Broadcast::<[u8; 13], 3>::new();
    let mut rx = ring.subscribe();
    ring.send(*b"hello, world!").unwrap();
    assert_eq!(&rx.recv().unwrap(), b"hello, world!");

    let ring = Broadcast::<[u8; 1031], 2>::new();
    let mut rx = ring.subscribe();
    let mut big = [0u8; 1031];
    for (i, b) in big.iter_mut().enumerate() {
        *b = (i * 7) as u8;
    }
    ring.send(big).unwrap();
    assert_eq!(rx.recv().unwrap(), big);

    let ring = Broadcast::<(), 2>::new();
    let mut rx = ring.subscribe();
    for _ in 0..3 {
        ring.send(()).unwrap();
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Lagged(1)), "numbers count even without bytes");
    assert_eq!(rx.try_recv(), Ok(()));
}

#[test]
fn layout_and_fingerprint_depend_on_t_and_n() {
    // A head line, then one line per slot for a value of up to 56 bytes.
    assert_eq!(core::mem::align_of::<Broadcast<u8, 1>>(), 64);
    assert_eq!(core::mem::size_of::<Broadcast<u64, 4>>(), 64 + 4 * 64);
    assert_eq!(core::mem::size_of::<Broadcast<[u64; 8], 2>>(), 64 + 2 * 128);
    let fp = |f: u64| f;
    assert_ne!(
        fp(<Broadcast<u64, 4> as ShmSafe>::FINGERPRINT),
        fp(<Broadcast<u64, 8> as ShmSafe>::FINGERPRINT)
    );
    assert_ne!(
        fp(<Broadcast<u64, 4> as ShmSafe>::FINGERPRINT),
        fp(<Broadcast<i64, 4> as ShmSafe>::FINGERPRINT)
    );
    assert_eq!(<Broadcast<u64, 4> as ShmSafe>::TYPE_NAME, "Broadcast");
}

/// Threads standing in for processes: two senders and three receivers,
/// one of them slow. Every value is received whole, in order, under its
/// number, or counted as lost; the senders' numbers are all distinct.
#[test]
fn concurrent_senders_and_receivers_account_for_every_value() {
    const EACH: u64 = if cfg!(miri) { 40 } else { 20_000 };
    const SENDERS: u64 = 2;
    let ring = Broadcast::<Stamped, 16>::new();
    let receivers: Vec<_> = (0..3).map(|_| ring.subscribe()).collect();
    let total = SENDERS * EACH;
    std::thread::scope(|s| {
        let senders: Vec<_> = (0..SENDERS)
            .map(|_| {
                s.spawn(|| {
                    (0..EACH).map(|_| ring.send_with(Stamped::new).unwrap()).collect::<Vec<u64>>()
                })
            })
            .collect();
        let handles: Vec<_> = receivers
            .into_iter()
            .enumerate()
            .map(|(i, mut rx)| {
                s.spawn(move || {
                    let (mut got, mut lost) = (0u64, 0u64);
                    while rx.next_sequence() < total {
                        let before = rx.next_sequence();
                        match rx.recv_timeout(Duration::from_secs(10)) {
                            Ok(v) => {
                                assert_eq!(v.number(), Some(before), "torn or misnumbered {v:?}");
                                got += 1;
                                if i == 2 && got % 64 == 0 {
                                    // The slow one: let the ring lap it.
                                    std::thread::yield_now();
                                }
                            }
                            Err(RecvTimeoutError::Lagged(n)) => {
                                assert_eq!(rx.next_sequence(), before + n);
                                lost += n;
                            }
                            Err(e) => panic!("receiver {i} at {before}: {e:?}"),
                        }
                    }
                    assert_eq!(rx.next_sequence(), total, "went past the values sent");
                    (got, lost)
                })
            })
            .collect();
        let mut numbers: Vec<u64> = senders.into_iter().flat_map(|h| h.join().unwrap()).collect();
        numbers.sort_unstable();
        assert_eq!(numbers, (0..total).collect::<Vec<_>>(), "numbers are 0..total, each once");
        for h in handles {
            let (got, lost) = h.join().unwrap();
            assert_eq!(got + lost, total, "received + lagged = sent");
            assert!(got > 0);
        }
    });
    assert_eq!(ring.sequence(), total);
}

/// In a segment, bytes overwritten by another program (every stamp and the
/// sequence word set to garbage) give senders an error or receivers a lag
/// or nothing new: never a panic, never undefined behavior, never a hang.
#[test]
fn garbage_written_over_a_ring_in_a_segment_is_survived() {
    type Ring = Broadcast<[u64; 3], 4>;
    for (garbage, sequence_too) in [(0xFFu8, false), (0x5A, false), (0x01, true), (0xFF, true)] {
        let seg = Segment::<Ring>::create_unique("bcast-garbage").expect("segment");
        let mut rx = seg.subscribe();
        for v in 0..6u64 {
            seg.send([v; 3]).unwrap();
        }
        let payload = {
            let bytes = support::shm_file::read(seg.name());
            u64::from_ne_bytes(bytes[24..32].try_into().unwrap())
        };
        // The slots: 64 bytes each after the 64-byte head; the stamp is a
        // slot's first word. The sequence word is the head's second word.
        for slot in 0..4u64 {
            support::shm_file::write_at(seg.name(), payload + 64 + 64 * slot, &[garbage; 8]);
        }
        if sequence_too {
            support::shm_file::write_at(seg.name(), payload + 8, &[garbage; 8]);
        }
        for _ in 0..12 {
            let before = rx.next_sequence();
            match rx.try_recv() {
                Ok(_) => assert_eq!(rx.next_sequence(), before + 1),
                Err(TryRecvError::Lagged(n)) => assert_eq!(rx.next_sequence(), before + n),
                Err(TryRecvError::Empty) => assert_eq!(rx.next_sequence(), before),
                Err(e) => panic!("{e:?}"),
            }
        }
        let _ = rx.recv_timeout(Duration::from_millis(1));
        let sent = seg.send([7; 3]);
        match (sequence_too, garbage) {
            // 0x0101… is a sequence number a ring could reach: it goes on.
            (true, 0x01) => assert_eq!(sent, Ok(0x0101_0101_0101_0101)),
            (true, _) => assert_eq!(sent, Err(SendError::Corrupt)),
            (false, _) => assert_eq!(sent, Ok(6), "stamps alone do not stop senders"),
        }
        let _ = format!("{:?}", *seg);
    }
}

/// A `Broadcast` shared through a segment: a second handle (as another
/// process would open it) receives what the first sends.
#[test]
fn a_ring_in_a_segment_is_shared_by_name() {
    let name = support::unique_name("bcast-shared");
    let owner = Segment::<Broadcast<u64, 32>>::create(&name).expect("create");
    let other = Segment::<Broadcast<u64, 32>>::open(&name).expect("open");
    let mut rx = other.subscribe();
    assert_eq!(owner.send(42), Ok(0));
    assert_eq!(rx.recv(), Ok(42));
    assert_eq!(other.sequence(), 1);
    assert!(Segment::<Broadcast<u64, 16>>::open(&name).is_err(), "another N is another type");
}

/// `?` turns a `SendError` into the crate's `Error`, message unchanged.
#[test]
fn send_errors_convert_into_error() {
    fn send_all(errors: &[SendError]) -> Result<(), shmsync::Error> {
        for e in errors {
            Err(*e)?;
        }
        Ok(())
    }
    let e = send_all(&[SendError::Corrupt]).expect_err("converted");
    assert!(matches!(e, shmsync::Error::Broadcast(SendError::Corrupt)), "{e:?}");
    assert_eq!(e.to_string(), SendError::Corrupt.to_string());
}

/// `shmsync::inspect` (and so `shmsync inspect`) shows a ring in a segment
/// by its field path: values sent, capacity and the sender lock, held or
/// not, read from the segment without attaching.
#[test]
fn inspection_shows_the_sequence_the_capacity_and_the_sender_lock() {
    use shmsync::inspect::{self, FieldState, LockState};
    use shmsync::layout::Kind;

    #[derive(ShmSafe)]
    #[repr(C)]
    struct Sensor {
        sent: shmsync::AtomicCounter,
        readings: Broadcast<[u64; 2], 8>,
    }

    let name = support::unique_name("bcast-inspect");
    let seg = Segment::<Sensor>::create(&name).expect("create");
    for v in 0..3 {
        seg.readings.send([v, v]).unwrap();
    }
    let readings = |state: &str| {
        let report = inspect::inspect(&name).expect("inspect");
        let field = report.fields.into_iter().find(|f| f.path == "readings").expect("the ring");
        assert_eq!((field.kind, field.kind_name.as_str()), (Some(Kind::Broadcast), "broadcast"));
        match field.state {
            FieldState::Broadcast { sequence, capacity, sender } => (sequence, capacity, sender),
            other => panic!("{state}: {other:?}"),
        }
    };
    let (sequence, capacity, sender) = readings("idle");
    assert_eq!((sequence, capacity), (3, 8));
    assert_eq!(sender.state, LockState::Unlocked);

    let seg = &seg;
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        s.spawn(move || {
            seg.readings
                .send_with(|seq| {
                    tx.send(()).unwrap();
                    done_rx.recv().unwrap();
                    [seq, seq]
                })
                .unwrap();
        });
        rx.recv().unwrap();
        let (sequence, _, sender) = readings("sending");
        assert_eq!(sequence, 3, "a send in progress is not counted");
        assert_eq!(sender.state, LockState::Locked);
        assert_eq!(sender.owner_alive, Some(true));
        done_tx.send(()).unwrap();
    });
    assert_eq!(readings("after").0, 4);
}
