//! `Broadcast` across real processes: receivers in other processes account
//! for every value, senders in several processes share one sequence, and a
//! sender SIGKILLed holding the sender lock is taken over from.

use shmsync::{AtomicCounter, Broadcast, RecvTimeoutError, Segment, ShmEvent, ShmSafe};
use std::time::Duration;

use shmsync_support as support;

use support::wait_until;

/// Values per receiver in the big test.
const MILLION: u64 = 1_000_000;
/// A receive that waits this long means a stuck receiver (a hang
/// detector far above any real wait, not a performance bound).
const RECV_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound for every "the other processes get there" wait.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(30);
const CAPACITY: usize = 1024;

/// A value carries its sequence number and the sender's tag, twice, so a
/// torn or misnumbered value shows.
fn value(tag: u64, seq: u64) -> [u64; 2] {
    [seq, !seq ^ (tag << 56)]
}

/// The sender's tag of a whole value received as number `seq`.
fn tag_of(v: [u64; 2], seq: u64) -> u64 {
    assert_eq!(v[0], seq, "value {v:x?} received as number {seq}");
    let tag = (v[1] ^ !seq) >> 56;
    assert_eq!(v, value(tag, seq), "torn value {v:x?}");
    tag
}

#[derive(ShmSafe)]
#[repr(C)]
struct Shared {
    ring: Broadcast<[u64; 2], CAPACITY>,
    /// Processes subscribed and ready.
    ready: AtomicCounter,
    /// Set by the parent to start the senders (zeroed: manual reset,
    /// unset).
    go: ShmEvent,
    /// Per receiver: values received, values reported lost.
    received: [AtomicCounter; 2],
    lagged: [AtomicCounter; 2],
}

fn create(tag: &str) -> (String, Segment<Shared>) {
    let name = support::unique_name(tag);
    let seg = Segment::<Shared>::create(&name).expect("create segment");
    (name, seg)
}

/// Receives until the receiver stands at `total`: every value whole, under
/// its number, numbers strictly increasing; every lag moves it exactly.
/// Returns (received, lost).
fn receive_all(
    s: &Shared,
    mut rx: shmsync::Receiver<'_, [u64; 2], CAPACITY>,
    total: u64,
) -> (u64, u64) {
    let (mut got, mut lost) = (0u64, 0u64);
    let mut last = None;
    while rx.next_sequence() < total {
        let before = rx.next_sequence();
        match rx.recv_timeout(RECV_TIMEOUT) {
            Ok(v) => {
                tag_of(v, before);
                assert!(last.map_or(true, |l| before > l), "{before} after {last:?}");
                last = Some(before);
                got += 1;
            }
            Err(RecvTimeoutError::Lagged(n)) => {
                assert!(n >= 1);
                assert_eq!(rx.next_sequence(), before + n, "a lag moves by what it reports");
                lost += n;
            }
            Err(e) => panic!(
                "receiver stuck at {before} of {total} (sequence {}): {e:?}",
                s.ring.sequence()
            ),
        }
    }
    assert_eq!(rx.next_sequence(), total, "went past the values sent");
    (got, lost)
}

#[test]
fn child_entry() {
    support::run_child(|role, args| {
        let seg = Segment::<Shared>::open(&args[0]).expect("open segment");
        match role {
            "receiver" => {
                let slot: usize = args[1].parse().expect("slot");
                let total: u64 = args[2].parse().expect("total");
                let rx = seg.ring.subscribe();
                seg.ready.incr();
                let (got, lost) = receive_all(&seg, rx, total);
                seg.received[slot].add(got);
                seg.lagged[slot].add(lost);
            }
            "sender" => {
                let tag: u64 = args[1].parse().expect("tag");
                let count: u64 = args[2].parse().expect("count");
                seg.ready.incr();
                seg.go.wait();
                for _ in 0..count {
                    seg.ring.send_with(|seq| value(tag, seq)).expect("send");
                }
            }
            "hold" => {
                // Takes the sender lock and is killed holding it.
                seg.ring
                    .send_with(|_| {
                        support::reached("holding");
                        support::park_forever()
                    })
                    .expect("send");
            }
            other => panic!("unknown role {other}"),
        }
    });
}

/// Two receiver processes and a sender (this process) of a million values
/// into 1024 slots: each receiver accounts for every value, received or
/// reported lost, with strictly increasing numbers and no torn value.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn two_receiver_processes_account_for_a_million_values() {
    let (name, seg) = create("bcast-million");
    let receivers: Vec<_> = (0..2)
        .map(|slot| {
            support::spawn(
                "child_entry",
                "receiver",
                &[&name, &slot.to_string(), &MILLION.to_string()],
            )
        })
        .collect();
    wait_until("the receivers subscribed", PROGRESS_TIMEOUT, || seg.ready.get() == 2);
    for seq in 0..MILLION {
        assert_eq!(seg.ring.send(value(0, seq)), Ok(seq));
    }
    for r in receivers {
        r.expect_success(PROGRESS_TIMEOUT);
    }
    for slot in 0..2 {
        let (got, lost) = (seg.received[slot].get(), seg.lagged[slot].get());
        eprintln!("receiver {slot}: {got} received, {lost} lost to lagging");
        assert_eq!(got + lost, MILLION, "receiver {slot}: received + lagged = sent");
        assert!(got >= CAPACITY as u64, "receiver {slot} received almost nothing");
    }
    assert_eq!(seg.ring.sequence(), MILLION);
    assert_eq!(seg.ring.sender_recoveries(), 0);
}

/// Two sender processes share one sequence: this process, receiving, gets
/// numbers 0, 1, 2, … from both, each value under its own number, and each
/// sender's values in the order it sent them.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn sender_processes_share_one_sequence() {
    const EACH: u64 = 50_000;
    let (name, seg) = create("bcast-senders");
    let rx = seg.ring.subscribe();
    let senders: Vec<_> = (1..=2)
        .map(|tag| {
            support::spawn("child_entry", "sender", &[&name, &tag.to_string(), &EACH.to_string()])
        })
        .collect();
    wait_until("the senders are ready", PROGRESS_TIMEOUT, || seg.ready.get() == 2);
    seg.go.set();
    let (got, lost) = receive_all(&seg, rx, 2 * EACH);
    for s in senders {
        s.expect_success(PROGRESS_TIMEOUT);
    }
    assert_eq!(got + lost, 2 * EACH);
    assert_eq!(seg.ring.sequence(), 2 * EACH, "every send got a number, none twice");
}

/// A sender SIGKILLed while it holds the sender lock: the next send, here,
/// takes over at once, counts the take-over and continues the sequence; a
/// receiver sees the values before and after and nothing of the dead one.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn a_sender_killed_holding_the_lock_is_taken_over() {
    let (name, seg) = create("bcast-kill");
    let mut rx = seg.ring.subscribe();
    assert_eq!(seg.ring.send(value(0, 0)), Ok(0));
    let mut holder = support::spawn("child_entry", "hold", &[&name]);
    holder.wait_for("holding", PROGRESS_TIMEOUT);
    assert!(format!("{:?}", seg.ring).contains("\"locked\""), "{:?}", seg.ring);
    holder.kill();
    assert_eq!(seg.ring.send(value(0, 1)), Ok(1), "the sequence continues");
    assert_eq!(seg.ring.sender_recoveries(), 1);
    assert_eq!(rx.try_recv().map(|v| tag_of(v, 0)), Ok(0));
    assert_eq!(rx.try_recv().map(|v| tag_of(v, 1)), Ok(0));
    assert_eq!(rx.try_recv(), Err(shmsync::TryRecvError::Empty));
    assert!(format!("{:?}", seg.ring).contains("sender_recoveries: 1"));
}
