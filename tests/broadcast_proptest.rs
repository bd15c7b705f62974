//! Property tests of `Broadcast`: random interleavings of sends, subscribes
//! and receives by several receivers against a sequential model of the
//! ring, for several capacities; and random bytes written over a ring in a
//! segment, after which every call still returns.

use proptest::prelude::*;
use shmsync::{Broadcast, RecvTimeoutError, Segment, TryRecvError, TrySendError};
use std::time::Duration;

use shmsync_support as support;

#[derive(Clone, Debug)]
enum Op {
    /// Send this value.
    Send(u64),
    /// Send this many values in a row (a burst that laps slow receivers).
    Burst(u8),
    /// A new receiver (at most a few are kept).
    Subscribe,
    /// `try_recv` on receiver `i % receivers`.
    TryRecv(usize),
    /// `recv_timeout(0)` on receiver `i % receivers`: as `try_recv`, with
    /// `Timeout` for `Empty`.
    RecvNow(usize),
    /// `recv` on receiver `i % receivers`, only when the model says a value
    /// or a lag is there (it would block otherwise).
    Recv(usize),
    /// `len` and `next_sequence` of receiver `i % receivers`.
    Len(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u64>().prop_map(Op::Send),
        1 => (1u8..12).prop_map(Op::Burst),
        1 => Just(Op::Subscribe),
        3 => any::<usize>().prop_map(Op::TryRecv),
        1 => any::<usize>().prop_map(Op::RecvNow),
        2 => any::<usize>().prop_map(Op::Recv),
        1 => any::<usize>().prop_map(Op::Len),
    ]
}

/// What `try_recv` must return for a receiver at `*cursor`, moving it as
/// the ring would: the ring holds the last `n` of `sent`.
fn model_recv(sent: &[u64], n: usize, cursor: &mut u64) -> Result<u64, TryRecvError> {
    let tail = sent.len() as u64;
    let oldest = tail.saturating_sub(n as u64);
    if *cursor >= tail {
        Err(TryRecvError::Empty)
    } else if *cursor < oldest {
        let lost = oldest - *cursor;
        *cursor = oldest;
        Err(TryRecvError::Lagged(lost))
    } else {
        let v = sent[*cursor as usize];
        *cursor += 1;
        Ok(v)
    }
}

fn run<const N: usize>(ops: &[Op]) -> Result<(), TestCaseError> {
    let ring = Broadcast::<u64, N>::new();
    let mut sent: Vec<u64> = Vec::new();
    let mut receivers = vec![ring.subscribe()];
    let mut cursors = vec![0u64];
    let mut next_value = 1u64;
    for op in ops {
        match *op {
            Op::Send(v) => {
                prop_assert_eq!(ring.send(v), Ok(sent.len() as u64));
                sent.push(v);
            }
            Op::Burst(k) => {
                for _ in 0..k {
                    let v = next_value;
                    next_value += 1;
                    prop_assert_eq!(ring.send_with(|_| v), Ok(sent.len() as u64));
                    sent.push(v);
                }
            }
            Op::Subscribe => {
                if receivers.len() < 4 {
                    receivers.push(ring.subscribe());
                    cursors.push(sent.len() as u64);
                }
            }
            Op::TryRecv(i) => {
                let i = i % receivers.len();
                let expected = model_recv(&sent, N, &mut cursors[i]);
                prop_assert_eq!(receivers[i].try_recv(), expected);
            }
            Op::RecvNow(i) => {
                let i = i % receivers.len();
                let expected = model_recv(&sent, N, &mut cursors[i]).map_err(|e| match e {
                    TryRecvError::Lagged(n) => RecvTimeoutError::Lagged(n),
                    _ => RecvTimeoutError::Timeout,
                });
                prop_assert_eq!(receivers[i].recv_timeout(Duration::ZERO), expected);
            }
            Op::Recv(i) => {
                let i = i % receivers.len();
                if cursors[i] < sent.len() as u64 {
                    let expected = model_recv(&sent, N, &mut cursors[i]).map_err(|e| match e {
                        TryRecvError::Lagged(n) => shmsync::RecvError::Lagged(n),
                        other => panic!("the model said a value is there: {other:?}"),
                    });
                    prop_assert_eq!(receivers[i].recv(), expected);
                }
            }
            Op::Len(i) => {
                let i = i % receivers.len();
                prop_assert_eq!(receivers[i].next_sequence(), cursors[i]);
                prop_assert_eq!(receivers[i].len(), sent.len() as u64 - cursors[i]);
            }
        }
        prop_assert_eq!(ring.sequence(), sent.len() as u64);
    }
    // Drain every receiver: everything is accounted for.
    for (rx, cursor) in receivers.iter_mut().zip(cursors) {
        let (mut got, mut lost) = (0u64, 0u64);
        loop {
            match rx.try_recv() {
                Ok(_) => got += 1,
                Err(TryRecvError::Lagged(n)) => lost += n,
                Err(TryRecvError::Empty) => break,
                Err(e) => return Err(TestCaseError::fail(format!("{e:?}"))),
            }
        }
        prop_assert_eq!(got + lost, sent.len() as u64 - cursor);
        prop_assert!(got <= N as u64);
    }
    Ok(())
}

/// The words of a `Broadcast<[u64; 2], 4>` as (offset, length): the head's
/// lock word, sequence word, take-over count and wake word, then each
/// slot's stamp and two value words. The padding between them is never
/// read, and writing it would only trouble Miri's model of a segment (a
/// write behind a shared reference to bytes outside any atomic).
const RING_WORDS: [(u64, usize); 4 + 4 * 3] = {
    let mut words = [
        (0, 8),
        (8, 8),
        (16, 8),
        (24, 4),
        (0, 0),
        (0, 0),
        (0, 0),
        (0, 0),
        (0, 0),
        (0, 0),
        (0, 0),
        (0, 0),
        (0, 0),
        (0, 0),
        (0, 0),
        (0, 0),
    ];
    let mut slot = 0;
    while slot < 4 {
        let start = 64 + 64 * slot as u64;
        words[4 + 3 * slot] = (start, 8);
        words[5 + 3 * slot] = (start + 8, 8);
        words[6 + 3 * slot] = (start + 16, 8);
        slot += 1;
    }
    words
};

proptest! {
    #![proptest_config(ProptestConfig {
        // Miri interprets every step: two cases (with shorter sequences).
        cases: if cfg!(miri) { 2 } else { ProptestConfig::default().cases },
        // Miri has no file system for the regressions file.
        #[cfg(miri)]
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn operation_sequences_match_a_sequential_model(
        ops in proptest::collection::vec(op(), 0..if cfg!(miri) { 32 } else { 96 }),
    ) {
        run::<1>(&ops)?;
        run::<3>(&ops)?;
        run::<4>(&ops)?;
        run::<16>(&ops)?;
    }

    /// Random bytes over the words of a ring in a segment (as another
    /// program could write them), then sends and receives: every call
    /// returns, a send fails only with a corruption error (or finds the
    /// garbage lock word held), and every receive moves the receiver by
    /// exactly what it reports.
    #[test]
    fn random_bytes_over_a_ring_never_panic_or_hang(
        writes in proptest::collection::vec((0usize..RING_WORDS.len(), any::<[u8; 8]>()), 1..8),
        sends in 0u8..10,
    ) {
        type Ring = Broadcast<[u64; 2], 4>;
        let seg = Segment::<Ring>::create_unique("bcast-fuzz").expect("segment");
        let mut rx = seg.subscribe();
        for v in 0..5u64 {
            seg.send([v, v]).unwrap();
        }
        let payload = {
            let bytes = support::shm_file::read(seg.name());
            u64::from_ne_bytes(bytes[24..32].try_into().unwrap())
        };
        for &(word, bytes) in &writes {
            let (offset, len) = RING_WORDS[word];
            support::shm_file::write_at(seg.name(), payload + offset, &bytes[..len]);
        }
        for i in 0..sends {
            // try_send: a garbage lock word may name a live owner.
            match seg.try_send([u64::from(i); 2]) {
                Ok(_)
                | Err(
                    TrySendError::Corrupt | TrySendError::NotRecoverable | TrySendError::WouldBlock,
                ) => {}
                Err(e) => return Err(TestCaseError::fail(format!("{e:?}"))),
            }
        }
        for _ in 0..12 {
            let before = rx.next_sequence();
            match rx.try_recv() {
                Ok(_) => prop_assert_eq!(rx.next_sequence(), before + 1),
                Err(TryRecvError::Lagged(n)) => {
                    prop_assert!(n >= 1);
                    prop_assert_eq!(rx.next_sequence(), before + n);
                }
                Err(TryRecvError::Empty) => prop_assert_eq!(rx.next_sequence(), before),
                Err(e) => return Err(TestCaseError::fail(format!("{e:?}"))),
            }
        }
        let _ = rx.recv_timeout(Duration::ZERO);
        let _ = format!("{:?} {:?}", *seg, rx);
    }
}
