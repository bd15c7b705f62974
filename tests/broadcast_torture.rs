//! Sender kill torture: a sender process, two threads `send`ing 256-byte
//! stamped values as fast as they can, is SIGKILLed by the parent at random
//! moments (almost always inside a send, often holding the sender lock
//! half-way through a copy, often with the other thread waiting for the
//! lock) and replaced by a new sender process, which must take over. Two
//! receiver processes receive all along and check that no value is ever
//! torn, duplicated or out of order, that every value is received or
//! counted in a lag, and that no receive blocks for a second while senders
//! are at work.
//!
//! Before each kill the parent freezes the sender (SIGSTOP) and looks at
//! the sender lock's word to know whether the victim holds the lock; every
//! such death must be counted by exactly one take-over
//! (`sender_recoveries`). There is one sender process at a time, so a held
//! lock is the victim's. The word's place is `Broadcast`'s documented
//! layout: the first word of the ring, a `u64` whose low 30 bits are the
//! owner's thread id.
//!
//! `sender_kill_torture_short` (40 kills) runs with the normal tests. The
//! full torture is `#[ignore]`d; run it with
//! `SHMSYNC_TORTURE_KILLS=1000 cargo test --release --test broadcast_torture -- --ignored`
//! (the kill count defaults to 1000; `SHMSYNC_TORTURE_SEED` replays a run).

use shmsync::{AtomicCounter, Broadcast, RecvTimeoutError, Segment, ShmSafe};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmsync_support as support;

use support::Stamped;
use support::{freeze, kills_from_env, wait_until, Rng};

/// A receive that blocks this long while senders are at work is a stuck
/// receiver (a hang detector, far above a sender's respawn time).
const RECV_LIMIT: Duration = Duration::from_secs(1);
/// Bound for every "the system makes progress" wait.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(10);
const RECEIVERS: usize = 2;
/// Threads per sender process.
const SENDER_THREADS: usize = 2;
const CAPACITY: usize = 64;
const TID_MASK: u64 = (1 << 30) - 1;
/// A value is `Stamped::new(seq | generation << GENERATION_SHIFT)`: its
/// number, and which sender process sent it.
const GENERATION_SHIFT: u32 = 40;

#[derive(ShmSafe)]
#[repr(C)]
struct Torture {
    ring: Broadcast<Stamped, CAPACITY>,
    /// Per receiver: values received, values reported lost, the longest
    /// receive in microseconds, where it stands at the end.
    received: [AtomicCounter; RECEIVERS],
    lagged: [AtomicCounter; RECEIVERS],
    slowest_recv_us: [AtomicCounter; RECEIVERS],
    finished_at: [AtomicCounter; RECEIVERS],
    /// Receivers that subscribed.
    subscribed: AtomicCounter,
    /// Senders stop when set.
    stop: AtomicU32,
    /// Set (to 1 + the final sequence) once the last sender exited:
    /// receivers go on until they stand there.
    end: AtomicU64,
}

/// `SENDER_THREADS` threads sending until stopped.
fn send_until_stopped(t: &Torture, generation: u64) {
    support::reached("sending");
    std::thread::scope(|s| {
        for _ in 0..SENDER_THREADS {
            s.spawn(|| {
                while t.stop.load(Ordering::Relaxed) == 0 {
                    t.ring
                        .send_with(|seq| Stamped::new(seq | generation << GENERATION_SHIFT))
                        .expect("send");
                }
            });
        }
    });
}

/// Receives until the end is known and reached; checks every value.
fn receive_all(t: &Torture, slot: usize) {
    let mut rx = t.ring.subscribe();
    t.subscribed.incr();
    let (mut got, mut lost, mut last_generation) = (0u64, 0u64, 0u64);
    loop {
        let end = t.end.load(Ordering::Acquire);
        if end != 0 && rx.next_sequence() >= end - 1 {
            break;
        }
        let before = rx.next_sequence();
        let started = Instant::now();
        let outcome = rx.recv_timeout(RECV_LIMIT);
        let took = started.elapsed();
        match outcome {
            Ok(v) => {
                let n = v.number().unwrap_or_else(|| panic!("torn value at {before}"));
                assert_eq!(n & ((1 << GENERATION_SHIFT) - 1), before, "value {n:#x} as {before}");
                let generation = n >> GENERATION_SHIFT;
                assert!(
                    generation >= last_generation,
                    "a value of sender {generation} after one of sender {last_generation}"
                );
                last_generation = generation;
                got += 1;
            }
            Err(RecvTimeoutError::Lagged(n)) => {
                assert_eq!(rx.next_sequence(), before + n, "a lag moves by what it reports");
                lost += n;
            }
            Err(RecvTimeoutError::Timeout) => {
                // Only once the senders have stopped may nothing come.
                assert!(
                    t.stop.load(Ordering::Acquire) != 0,
                    "receiver {slot} blocked {took:?} at {before} with senders at work \
                     (sequence {})",
                    t.ring.sequence()
                );
                continue;
            }
            Err(e) => panic!("{e:?}"),
        }
        let took_us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        if took_us > t.slowest_recv_us[slot].get() {
            t.slowest_recv_us[slot].swap(took_us);
        }
    }
    t.received[slot].add(got);
    t.lagged[slot].add(lost);
    t.finished_at[slot].add(rx.next_sequence());
}

#[test]
fn child_entry() {
    support::run_child(|role, args| {
        let seg = Segment::<Torture>::open(&args[0]).expect("open segment");
        match role {
            "sender" => send_until_stopped(&seg, args[1].parse().expect("generation")),
            "receiver" => receive_all(&seg, args[1].parse().expect("slot")),
            other => panic!("unknown role {other}"),
        }
    });
}

/// The sender lock's word (see the module docs for where it lives).
fn sender_lock_word(t: &Torture) -> u64 {
    let ring = std::ptr::from_ref(&t.ring).cast::<AtomicU64>();
    // SAFETY: the first word of a `Broadcast` is its sender lock word, an
    // `AtomicU64` (documented layout); `ring` is 64-aligned and inside the
    // segment; reading it atomically is sound.
    unsafe { &*ring }.load(Ordering::SeqCst)
}

fn spawn_sender(name: &str, generation: u64) -> support::ChildProcess {
    let mut s = support::spawn("child_entry", "sender", &[name, &generation.to_string()]);
    s.wait_for("sending", PROGRESS_TIMEOUT);
    s
}

fn torture(kills: u32) {
    let mut rng = Rng::from_env(&format!("broadcast sender kill torture, {kills} kills"));
    let name = support::unique_name("bcast-torture");
    let seg = Segment::<Torture>::create(&name).expect("create segment");
    let t: &Torture = &seg;
    let receivers: Vec<_> = (0..RECEIVERS)
        .map(|slot| support::spawn("child_entry", "receiver", &[&name, &slot.to_string()]))
        .collect();
    wait_until("the receivers subscribed", PROGRESS_TIMEOUT, || {
        t.subscribed.get() == RECEIVERS as u64
    });

    let started = Instant::now();
    let mut generation = 1;
    let mut sender = spawn_sender(&name, generation);
    let mut held_deaths = 0u64;
    for _ in 0..kills {
        // A new sender must make progress: one stuck behind its dead
        // predecessor fails here.
        let before = t.ring.sequence();
        let ahead = 1 + rng.below(200);
        wait_until("the new sender made progress", PROGRESS_TIMEOUT, || {
            t.ring.sequence() >= before + ahead
        });
        // The scenario: a random moment to kill at.
        rng.pause_below(Duration::from_micros(500));
        freeze(sender.pid());
        held_deaths += u64::from(sender_lock_word(t) & TID_MASK != 0);
        sender.kill();
        generation += 1;
        sender = spawn_sender(&name, generation);
        // Every death of a lock holder is taken over from, once.
        wait_until("the take-over was counted", PROGRESS_TIMEOUT, || {
            t.ring.sender_recoveries() == held_deaths
        });
    }
    let before = t.ring.sequence();
    wait_until("the last sender made progress", PROGRESS_TIMEOUT, || {
        t.ring.sequence() > before + 100
    });
    t.stop.store(1, Ordering::Release);
    sender.expect_success(PROGRESS_TIMEOUT);
    let sent = t.ring.sequence();
    t.end.store(sent + 1, Ordering::Release);
    for r in receivers {
        r.expect_success(PROGRESS_TIMEOUT);
    }

    let recoveries = t.ring.sender_recoveries();
    eprintln!(
        "{kills} kills in {:?}: {sent} values, {held_deaths} kills of a lock holder, \
         {recoveries} take-overs, received {:?}, lost to lagging {:?}, slowest receive {:?} us",
        started.elapsed(),
        t.received.iter().map(AtomicCounter::get).collect::<Vec<_>>(),
        t.lagged.iter().map(AtomicCounter::get).collect::<Vec<_>>(),
        t.slowest_recv_us.iter().map(AtomicCounter::get).collect::<Vec<_>>(),
    );
    assert_eq!(recoveries, held_deaths, "one take-over per death of a lock holder");
    for slot in 0..RECEIVERS {
        assert_eq!(t.finished_at[slot].get(), sent, "receiver {slot} went past the values");
        assert_eq!(
            t.received[slot].get() + t.lagged[slot].get(),
            sent,
            "receiver {slot}: received + lagged = sent"
        );
        assert!(t.received[slot].get() > 0, "receiver {slot} never received");
    }
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn sender_kill_torture_short() {
    torture(40);
}

#[test]
#[ignore = "long: SIGKILLs 1000 senders (SHMSYNC_TORTURE_KILLS to change)"]
fn sender_kill_torture() {
    torture(kills_from_env(1000));
}
