//! Unit tests of the ring's states that a public-API test cannot reach: a
//! sender's death at each point of `head.rs`'s table (the take-over path
//! entered directly), and words overwritten by a broken peer.

use super::slot::writing;
use super::*;
use crate::raw_mutex::Acquired;

/// Takes the sender lock as the next sender after a death would: the lock
/// is held, and `lock` runs the repair (`Acquired::OwnerDied`).
fn take_over<T: ShmSafe + Pod, const N: usize>(ring: &Broadcast<T, N>) -> SenderGuard<'_> {
    assert_eq!(ring.head.lock(None), Ok(Acquired::Clean));
    ring.lock::<SendError>(Ok(Acquired::OwnerDied)).expect("a take-over")
}

#[test]
fn a_death_after_done_before_counting_is_repaired_by_counting_it() {
    let ring = Broadcast::<u64, 4>::new();
    let mut rx = ring.subscribe();
    ring.send(10).unwrap();
    // The dead sender completed value 1 but did not count it.
    ring.slot(1).write(1, &11);
    assert_eq!(ring.sequence(), 1);
    assert_eq!(rx.try_recv(), Ok(10));
    assert_eq!(rx.try_recv(), Ok(11), "a whole value is delivered");

    let guard = take_over(&ring);
    assert_eq!(ring.sequence(), 2, "the repair counted value 1");
    assert_eq!(ring.send_locked(guard, |_| 12), Ok(2), "the next value continues");
    assert_eq!(ring.sender_recoveries(), 1);
    assert_eq!(rx.try_recv(), Ok(12), "no number twice, none skipped");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn a_death_mid_write_leaves_the_number_to_the_next_sender() {
    let ring = Broadcast::<[u64; 4], 2>::new();
    let mut rx = ring.subscribe();
    ring.send([1; 4]).unwrap();
    ring.send([2; 4]).unwrap();
    assert_eq!(rx.try_recv(), Ok([1; 4]));
    // The dead sender marked slot 0 for value 2 and stored one word.
    ring.slot(2).set_stamp(writing(2));
    assert_eq!(rx.try_recv(), Ok([2; 4]));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "a torn value is never returned");

    let guard = take_over(&ring);
    assert_eq!(ring.sequence(), 2, "nothing to count");
    assert_eq!(ring.send_locked(guard, |_| [3; 4]), Ok(2));
    assert_eq!(rx.try_recv(), Ok([3; 4]));
}

#[test]
fn a_death_before_touching_the_ring_needs_nothing() {
    let ring = Broadcast::<u8, 3>::new();
    ring.send(1).unwrap();
    let guard = take_over(&ring);
    assert_eq!(ring.sequence(), 1);
    assert_eq!(ring.send_locked(guard, |_| 2), Ok(1));
    // A repair that is itself interrupted is repeated: idempotent.
    let guard = take_over(&ring);
    drop(guard);
    let guard = take_over(&ring);
    drop(guard);
    assert_eq!(ring.sequence(), 2);
    assert_eq!(ring.sender_recoveries(), 3);
}

#[test]
fn a_lagged_receiver_counts_a_write_in_progress_as_lost() {
    let ring = Broadcast::<u64, 2>::new();
    let mut rx = ring.subscribe();
    ring.send(0).unwrap();
    ring.send(1).unwrap();
    // A sender now writes value 2 into slot 0: value 0 is gone, 1 is held.
    ring.slot(2).set_stamp(writing(2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Lagged(1)));
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));

    // One slot: the value being written destroys the only one held.
    let ring = Broadcast::<u64, 1>::new();
    let mut rx = ring.subscribe();
    ring.send(0).unwrap();
    ring.send(1).unwrap();
    ring.slot(2).set_stamp(writing(2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Lagged(2)), "0 and 1 are both gone");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn a_corrupt_sequence_word_is_an_error_for_senders_and_nothing_for_receivers() {
    for tail in [MAX_SEQ, MAX_SEQ + 1, u64::MAX] {
        let ring = Broadcast::<u32, 4>::new();
        let mut before = ring.subscribe();
        ring.head.set_raw_tail(tail);
        assert_eq!(ring.send(1), Err(SendError::Corrupt));
        assert_eq!(ring.sequence(), tail, "shown as stored");
        // The lock was released: the error is repeatable, not a deadlock.
        assert_eq!(ring.try_send(1), Err(TrySendError::Corrupt));
        let mut after = ring.subscribe();
        assert_eq!(after.next_sequence(), MAX_SEQ);
        assert_eq!(after.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(before.len(), MAX_SEQ);
        assert_eq!(before.try_recv(), Err(TryRecvError::Empty), "slot 0 never written");
    }
}

#[test]
fn garbage_stamps_give_lags_or_nothing_never_a_panic_or_a_stuck_receiver() {
    let garbage = [1, 2, 3, 5, 1 << 40, u64::MAX - 1, u64::MAX, done(1 << 62), writing(100)];
    for &stamp in &garbage {
        let ring = Broadcast::<[u8; 5], 3>::new();
        let mut rx = ring.subscribe();
        for v in 0..4u8 {
            ring.send([v; 5]).unwrap();
        }
        for i in 0..3 {
            ring.slots[i].set_stamp(stamp);
        }
        // Every attempt moves the cursor forward or reports nothing new,
        // and never past the values sent.
        let mut seen = 0;
        for _ in 0..10 {
            let before = rx.next_sequence();
            match rx.try_recv() {
                Ok(_) => assert_eq!(rx.next_sequence(), before + 1),
                Err(TryRecvError::Lagged(n)) => {
                    assert!(n >= 1);
                    assert_eq!(rx.next_sequence(), before + n);
                }
                Err(TryRecvError::Empty) => assert_eq!(rx.next_sequence(), before),
            }
            assert!(rx.next_sequence() <= 4, "stamp {stamp:#x}: moved past the values sent");
            seen += 1;
        }
        assert_eq!(seen, 10);
        // The ring heals: the next lap stamps the slots again.
        for v in 4..7u8 {
            ring.send([v; 5]).unwrap();
        }
        let mut fresh = Broadcast::subscribe(&ring);
        ring.send([7; 5]).unwrap();
        assert_eq!(fresh.try_recv(), Ok([7; 5]), "stamp {stamp:#x}");
    }
}

#[test]
fn a_not_recoverable_sender_lock_is_an_error_not_a_hang() {
    let ring = Broadcast::<u8, 2>::new();
    assert_eq!(ring.head.lock(None), Ok(Acquired::Clean));
    // Unlocking an inconsistent lock without repair: the only way to
    // "not recoverable" (a peer could write the word directly).
    ring.head.abandon_lock();
    assert_eq!(ring.send(1), Err(SendError::NotRecoverable));
    assert_eq!(ring.try_send(1), Err(TrySendError::NotRecoverable));
    assert!(format!("{ring:?}").contains("not recoverable"), "{ring:?}");
}

#[test]
fn the_head_is_one_line_with_the_lock_word_first() {
    type B = Broadcast<u64, 8>;
    assert_eq!(core::mem::offset_of!(B, head), 0);
    assert_eq!(core::mem::offset_of!(B, slots), 64);
    assert_eq!(core::mem::size_of::<B>(), 64 + 8 * 64);
    // The head's words fit one line (checked at compile time in head.rs),
    // which `CachePadded` fills.
    assert_eq!(core::mem::size_of::<crate::CachePadded<Head>>(), 64);
}
