//! Loom models of `Broadcast`: each thread stands for a process, and
//! `loom_send_then_die` for a sender SIGKILLed at a chosen point of a send.
//!
//! Values are `[u64; 2]` whose two words a correct sender always sets
//! equal, to the value's sequence number plus one (times a sender's tag in
//! the high half where several senders take part). A torn value shows up
//! as two different words, a value under the wrong number as a mismatch.
//!
//! Receivers block in `recv`, so a lost wake-up is a loom deadlock: the
//! futex model wakes only what `futex_wake` wakes (see `sync/mod.rs`).
//!
//! Every model counts the outcomes it exists for (a lag, a take-over) and
//! fails if loom never produced one: loom 0.7 does not explore every
//! interleaving (a spawned thread whose first operation is a load is never
//! run ahead of a load by the main thread; such a model reports 1
//! execution), so a model must show that it reached its case.
//!
//! # Injected bugs
//!
//! `src/broadcast/mutant.rs` can switch on one bug at a time in the loom
//! build (`SHMSYNC_LOOM_MUTANT=<name>`). Each must make at least one model
//! fail; `every_mutant_is_caught` re-runs this binary once per row and
//! checks the table:
//!
//! | mutant | caught by |
//! |---|---|
//! | `done-relaxed` | `one_sender_two_receivers_get_every_value_in_order_or_an_exact_lag` (a value read stale; every model with a receiver fails) |
//! | `no-begin-fence` | `a_receiver_lapped_while_reading_drops_the_torn_copy` |
//! | `no-read-fence` | `a_receiver_lapped_while_reading_drops_the_torn_copy` |
//! | `no-recheck` | `a_receiver_lapped_while_reading_drops_the_torn_copy` |
//! | `tail-relaxed` | `the_sequence_publishes_every_value_below_it` |
//! | `wake-relaxed` | `one_sender_two_receivers_get_every_value_in_order_or_an_exact_lag` (a lost wake-up: deadlock) |
//! | `no-wake` | `one_sender_two_receivers_get_every_value_in_order_or_an_exact_lag` (deadlock) |
//! | `no-repair` | `a_sender_dying_after_completing_a_value_is_counted_by_the_next` |
//! | `lag-from-tail` | `a_sender_dying_mid_write_is_taken_over_and_the_sequence_continues` (the drain's first lag is one short; also the "after completing" model) |
//! | `lag-one-more` | `one_sender_two_receivers_get_every_value_in_order_or_an_exact_lag` |
#![cfg(loom)]

use loom::thread;
use shmsync::loom_hooks::SendDeath;
use shmsync::{Broadcast, Receiver, RecvError, TryRecvError};
use shmsync_loom_tests::{check, check_capped, leak};
// Outside the model: counts explored executions by outcome, to show that
// the interesting ones were explored.
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

type Pair = [u64; 2];

/// The value sender `tag` sends as number `seq`.
fn value(tag: u64, seq: u64) -> Pair {
    let word = (tag << 32) | (seq + 1);
    [word, word]
}

/// Checks that `v` is whole and is the value numbered `seq`; returns the
/// tag of its sender.
fn check_value(v: Pair, seq: u64) -> u64 {
    assert_eq!(v[0], v[1], "torn value {v:x?} as number {seq}");
    assert_eq!(v[0] & 0xFFFF_FFFF, seq + 1, "value {v:x?} received as number {seq}");
    v[0] >> 32
}

/// Receives with `recv` until the receiver stands at `end`; checks every
/// value and every lag. Values numbered `safe_from` and above can never be
/// lost (no later value overwrites them). Returns how many values it got.
fn receive_until<const N: usize>(rx: &mut Receiver<'_, Pair, N>, end: u64, safe_from: u64) -> u64 {
    let mut got = 0;
    while rx.next_sequence() < end {
        let before = rx.next_sequence();
        match rx.recv() {
            Ok(v) => {
                check_value(v, before);
                assert_eq!(rx.next_sequence(), before + 1);
                got += 1;
            }
            Err(RecvError::Lagged(n)) => {
                assert!(n >= 1, "a lag of nothing");
                assert_eq!(rx.next_sequence(), before + n, "the lag moved the cursor by {n}");
                assert!(
                    rx.next_sequence() <= safe_from,
                    "lagged past value {safe_from}, which nothing overwrote"
                );
            }
            Err(e) => panic!("recv: {e:?}"),
        }
    }
    assert_eq!(rx.next_sequence(), end, "went past the values sent");
    got
}

/// One sender sends two values into one slot while two receivers (each its
/// own process) receive with `recv`: each gets every value in order, or a
/// `Lagged(n)` that moves it exactly past lost values and never past a
/// value still held (only value 0 can be overwritten); and nobody sleeps
/// through a value (a lost wake-up is a deadlock). One-word values keep
/// the model small; torn values are the next models' subject.
///
/// Capped at two preemptions (430 000 executions, ~35 s): three threads
/// of which two sleep on the futex model did not finish at three in 20
/// minutes. The two-thread models below run at three.
#[test]
fn one_sender_two_receivers_get_every_value_in_order_or_an_exact_lag() {
    let lagged = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&lagged);
    check_capped(
        "one_sender_two_receivers_get_every_value_in_order_or_an_exact_lag",
        2,
        move || {
            let ring = leak(Broadcast::<u64, 1>::new());
            let receivers: Vec<_> = (0..2)
                .map(|_| {
                    let mut rx = ring.subscribe();
                    thread::spawn(move || {
                        let mut got = 0;
                        while rx.next_sequence() < 2 {
                            let before = rx.next_sequence();
                            match rx.recv() {
                                Ok(v) => {
                                    assert_eq!(
                                        v,
                                        before + 1,
                                        "value {v} received as number {before}"
                                    );
                                    got += 1;
                                }
                                Err(RecvError::Lagged(n)) => {
                                    assert_eq!((before, n), (0, 1), "only value 0 can be lost");
                                    assert_eq!(rx.next_sequence(), 1);
                                }
                                Err(e) => panic!("recv: {e:?}"),
                            }
                        }
                        assert_eq!(rx.next_sequence(), 2, "went past the values sent");
                        got
                    })
                })
                .collect();
            for seq in 0..2 {
                assert_eq!(ring.send(seq + 1), Ok(seq));
            }
            for r in receivers {
                if r.join().unwrap() < 2 {
                    counter.fetch_add(1, Relaxed);
                }
            }
            assert_eq!(ring.sequence(), 2);
        },
    );
    assert!(lagged.load(Relaxed) > 0, "no execution lagged a receiver");
}

/// Two senders (two processes) send one value each with `send_with`: they
/// get the numbers 0 and 1, one each, and a receiver gets both values in
/// that order, each under its number.
#[test]
fn two_senders_are_serialized_and_numbered_without_gaps() {
    check("two_senders_are_serialized_and_numbered_without_gaps", 3, || {
        let ring = leak(Broadcast::<Pair, 2>::new());
        let mut rx = ring.subscribe();
        let senders: Vec<_> = (1..=2)
            .map(|tag| thread::spawn(move || ring.send_with(|seq| value(tag, seq)).unwrap()))
            .collect();
        let first = check_value(rx.recv().unwrap(), 0);
        let second = check_value(rx.recv().unwrap(), 1);
        let numbers: Vec<u64> = senders.into_iter().map(|s| s.join().unwrap()).collect();
        let mut sorted = numbers.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [0, 1], "{numbers:?}");
        // Sender `tag` got number numbers[tag - 1]; the receiver saw it there.
        assert_eq!(numbers[usize::try_from(first).unwrap() - 1], 0);
        assert_eq!(numbers[usize::try_from(second).unwrap() - 1], 1);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(ring.sender_recoveries(), 0);
    });
}

/// A receiver that sees the sequence at `n` finds every value below `n`
/// complete (`sequence` is an acquire load of a release store).
///
/// The receiver is the spawned thread: loom (0.7) explores no interleaving
/// in which a spawned thread that starts with a load runs before a load of
/// the main thread's, so the sender is the main thread.
#[test]
fn the_sequence_publishes_every_value_below_it() {
    let counted = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&counted);
    check("the_sequence_publishes_every_value_below_it", 3, move || {
        let ring = leak(Broadcast::<Pair, 2>::new());
        let mut rx = ring.subscribe();
        let counter = std::sync::Arc::clone(&counter);
        let receiver = thread::spawn(move || {
            if ring.sequence() == 1 {
                assert_eq!(rx.try_recv(), Ok(value(0, 0)), "value 0 counted but not visible");
                counter.fetch_add(1, Relaxed);
            }
        });
        ring.send(value(0, 0)).unwrap();
        receiver.join().unwrap();
    });
    assert!(counted.load(Relaxed) > 0, "no execution saw the value counted");
}

/// One slot, two values: the receiver's copy of value 0 may be overwritten
/// by value 1 while it copies. It must drop that copy (a lag of one) and
/// never return a mix of the two.
#[test]
fn a_receiver_lapped_while_reading_drops_the_torn_copy() {
    static LAPPED: AtomicUsize = AtomicUsize::new(0);
    check("a_receiver_lapped_while_reading_drops_the_torn_copy", 3, || {
        let ring = leak(Broadcast::<Pair, 1>::new());
        let mut rx = ring.subscribe();
        let sender = thread::spawn(move || {
            ring.send(value(0, 0)).unwrap();
            ring.send(value(0, 1)).unwrap();
        });
        if receive_until(&mut rx, 2, 1) < 2 {
            LAPPED.fetch_add(1, Relaxed);
        }
        sender.join().unwrap();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    });
    assert!(LAPPED.load(Relaxed) > 0, "no execution lapped the receiver");
}

/// Sender A (its own process) sends one value, then dies at `at` while
/// sending a second. The main thread is sender B, then a receiver: it
/// sends one value, and receives while A may still be at work. Whatever
/// the interleaving:
///
/// * every value received is whole and under its number, in order, and
///   every lag moves the receiver exactly;
/// * B waits for no dead sender: it takes over when A died holding the
///   lock;
/// * the sequence counts every completed value (A's second too if it
///   completed, unless nobody has taken over yet to count it), and the next
///   send continues it: no gap, no number twice;
/// * a receiver still at 0 is told exactly how many values it lost: with
///   one slot, all but the value in it, and all if a torn write is in it;
/// * after one more send from the main thread, exactly one take-over
///   happened.
///
/// Two threads: with a third (a receiver of its own) the model does not
/// finish at three preemptions in an hour; the receiver sleeping on a
/// dying sender has a model of its own
/// (`a_value_completed_by_a_dying_sender_reaches_a_sleeping_receiver`).
fn dying_sender_model(name: &'static str, at: SendDeath, a_completes_its_second: bool) {
    let take_overs_by_b = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&take_overs_by_b);
    check(name, 3, move || {
        let ring = leak(Broadcast::<Pair, 1>::new());
        let mut rx = ring.subscribe();
        let untouched = rx.clone();
        let a = thread::spawn(move || {
            ring.send_with(|seq| value(1, seq)).unwrap();
            ring.loom_send_then_die(|seq| value(1, seq), at);
        });
        ring.send_with(|seq| value(2, seq)).unwrap();
        let taken_over = ring.sender_recoveries() == 1;
        if taken_over {
            counter.fetch_add(1, Relaxed);
        }
        for _ in 0..2 {
            let before = rx.next_sequence();
            match rx.try_recv() {
                Ok(v) => {
                    check_value(v, before);
                }
                Err(TryRecvError::Lagged(n)) => assert_eq!(rx.next_sequence(), before + n),
                Err(TryRecvError::Empty) => assert_eq!(rx.next_sequence(), before),
                Err(e) => panic!("try_recv: {e:?}"),
            }
        }
        a.join().unwrap();

        // Quiescent now.
        assert_eq!(ring.sender_recoveries(), u64::from(taken_over), "take-overs without B");
        let uncounted = matches!(at, SendDeath::Uncounted) && !taken_over;
        let sequence = ring.sequence();
        let completed = 2 + u64::from(a_completes_its_second);
        assert_eq!(sequence, completed - u64::from(uncounted), "a gap or a number twice");
        // What the one slot holds, and so what a receiver at 0 lost.
        let torn_in_place = matches!(at, SendDeath::Torn { .. }) && !taken_over;
        let held = if torn_in_place {
            None
        } else if uncounted {
            Some(sequence)
        } else {
            Some(sequence - 1)
        };
        let mut drain = untouched;
        let lost = held.unwrap_or(sequence);
        assert_eq!(drain.try_recv(), Err(TryRecvError::Lagged(lost)), "the first lag is exact");
        if let Some(seq) = held {
            check_value(drain.try_recv().unwrap(), seq);
        }
        assert_eq!(drain.try_recv(), Err(TryRecvError::Empty));

        // One more send: it takes over if B did not.
        let last = ring.send_with(|seq| value(3, seq));
        assert_eq!(last, Ok(completed), "the sequence continues after every completed value");
        assert_eq!(ring.sender_recoveries(), 1, "one death, one take-over");
        while rx.next_sequence() <= completed {
            let before = rx.next_sequence();
            match rx.try_recv() {
                Ok(v) => {
                    check_value(v, before);
                }
                Err(TryRecvError::Lagged(n)) => assert_eq!(rx.next_sequence(), before + n),
                Err(TryRecvError::Empty) => panic!("value {before} was sent but is not there"),
                Err(e) => panic!("try_recv: {e:?}"),
            }
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    });
    assert!(take_overs_by_b.load(Relaxed) > 0, "{name}: B never took over from A");
}

/// A dies half-way through its second value's words: its number goes to the next
/// sender, and no receiver ever gets the torn value.
#[test]
fn a_sender_dying_mid_write_is_taken_over_and_the_sequence_continues() {
    dying_sender_model(
        "a_sender_dying_mid_write_is_taken_over_and_the_sequence_continues",
        SendDeath::Torn { words: 1 },
        false,
    );
}

/// A dies after completing its second value but before counting it: the next sender
/// counts it (it may already have been received), so no number is used
/// twice.
#[test]
fn a_sender_dying_after_completing_a_value_is_counted_by_the_next() {
    dying_sender_model(
        "a_sender_dying_after_completing_a_value_is_counted_by_the_next",
        SendDeath::Uncounted,
        true,
    );
}

/// A dies holding the lock before touching the ring, and (another run)
/// after a complete send but before waking anyone.
#[test]
fn a_sender_dying_before_writing_or_before_waking_leaves_nothing_to_repair() {
    dying_sender_model(
        "a_sender_dying_before_writing_leaves_nothing_to_repair",
        SendDeath::Locked,
        false,
    );
    dying_sender_model(
        "a_sender_dying_before_waking_leaves_nothing_to_repair",
        SendDeath::Unwoken,
        true,
    );
}

/// The only sender completes a value and dies before counting it or before
/// waking anyone: a receiver asleep in `recv` still gets it (in a real run
/// its bounded sleep ends; the model's death wakes every sleeper).
#[test]
fn a_value_completed_by_a_dying_sender_reaches_a_sleeping_receiver() {
    for at in [SendDeath::Uncounted, SendDeath::Unwoken] {
        check("a_value_completed_by_a_dying_sender_reaches_a_sleeping_receiver", 3, move || {
            let ring = leak(Broadcast::<Pair, 2>::new());
            let mut rx = ring.subscribe();
            let sender = thread::spawn(move || ring.loom_send_then_die(|seq| value(0, seq), at));
            assert_eq!(rx.recv(), Ok(value(0, 0)));
            sender.join().unwrap();
        });
    }
}

/// Runs the model the table names once per injected bug, in a child
/// process each (the bug is chosen by an environment variable read once
/// per process), and checks that it fails. Each is caught within its
/// first executions, so this takes about a second; a bug that survives
/// costs a full run of its model.
#[test]
fn every_mutant_is_caught() {
    const TABLE: [(&str, &str); 10] = [
        ("done-relaxed", "one_sender_two_receivers_get_every_value_in_order_or_an_exact_lag"),
        ("no-begin-fence", "a_receiver_lapped_while_reading_drops_the_torn_copy"),
        ("no-read-fence", "a_receiver_lapped_while_reading_drops_the_torn_copy"),
        ("no-recheck", "a_receiver_lapped_while_reading_drops_the_torn_copy"),
        ("tail-relaxed", "the_sequence_publishes_every_value_below_it"),
        ("wake-relaxed", "one_sender_two_receivers_get_every_value_in_order_or_an_exact_lag"),
        ("no-wake", "one_sender_two_receivers_get_every_value_in_order_or_an_exact_lag"),
        ("no-repair", "a_sender_dying_after_completing_a_value_is_counted_by_the_next"),
        ("lag-from-tail", "a_sender_dying_mid_write_is_taken_over_and_the_sequence_continues"),
        ("lag-one-more", "one_sender_two_receivers_get_every_value_in_order_or_an_exact_lag"),
    ];
    let exe = std::env::current_exe().expect("this test binary");
    let mut survivors = Vec::new();
    for (mutant, model) in TABLE {
        let output = std::process::Command::new(&exe)
            .args([model, "--exact", "--test-threads=1"])
            .env("SHMSYNC_LOOM_MUTANT", mutant)
            .output()
            .expect("run the model");
        let verdict = if output.status.success() { "SURVIVED" } else { "caught" };
        eprintln!("mutant {mutant}: {verdict} by {model}");
        if output.status.success() {
            survivors.push(mutant);
        }
    }
    assert!(survivors.is_empty(), "mutants no model caught: {survivors:?}");
}
