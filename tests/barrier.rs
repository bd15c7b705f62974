//! `ShmBarrier` in one process: generations and their leader, nobody passing
//! early, joining and leaving, abort, timeouts, reset, zeroed and corrupt
//! memory, `Debug`.

use shmsync::{BarrierError, BarrierJoinError, BarrierTimeoutError, Segment, ShmBarrier, ShmSafe};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use shmsync_support as support;

use support::{gettid, wait_until_blocked_in_futex};

/// Bound for "the other threads get there".
const PROGRESS: Duration = Duration::from_secs(20);

#[derive(ShmSafe)]
#[repr(C)]
struct Shared {
    gate: ShmBarrier,
}

fn create(tag: &str, parties: usize) -> Segment<Shared> {
    let name = support::unique_name(tag);
    Segment::<Shared>::create_with(&name, |s| s.gate = ShmBarrier::new(parties)).expect("create")
}

/// Spawns `n` threads that join `gate`, report their thread id, wait once
/// and send the result; returns the results' receiver once every one of
/// them is asleep in the barrier.
fn start_waiters<'s>(
    scope: &'s std::thread::Scope<'s, '_>,
    gate: &'s ShmBarrier,
    n: usize,
) -> mpsc::Receiver<Result<bool, BarrierError>> {
    let (tids_tx, tids) = mpsc::channel();
    let (results_tx, results) = mpsc::channel();
    for _ in 0..n {
        let (tids_tx, results_tx) = (tids_tx.clone(), results_tx.clone());
        scope.spawn(move || {
            let mut me = gate.join().expect("a place is free");
            tids_tx.send(gettid()).expect("test alive");
            let r = me.wait().map(|w| w.is_leader());
            results_tx.send(r).expect("test alive");
        });
    }
    for _ in 0..n {
        let tid = tids.recv().expect("a waiter started");
        wait_until_blocked_in_futex(std::process::id(), tid, PROGRESS);
    }
    results
}

fn results(
    rx: &mpsc::Receiver<Result<bool, BarrierError>>,
    n: usize,
) -> Vec<Result<bool, BarrierError>> {
    (0..n).map(|_| rx.recv_timeout(PROGRESS).expect("the waiter returned")).collect()
}

#[test]
fn a_zeroed_barrier_refuses_to_join() {
    let name = support::unique_name("barrier-zeroed");
    let seg = Segment::<Shared>::create(&name).expect("create");
    assert_eq!(seg.gate.parties(), 0);
    assert!(matches!(seg.gate.join(), Err(BarrierJoinError::InvalidParties(0))));
    let message = seg.gate.join().map(drop).unwrap_err().to_string();
    assert!(message.contains("ShmBarrier::new"), "the error says how to set it up: {message}");
    assert_eq!(seg.gate.joined(), 0);
}

#[test]
#[should_panic(expected = "1..=64 parties")]
fn a_barrier_for_no_party_is_refused() {
    let _ = ShmBarrier::new(0);
}

#[test]
#[should_panic(expected = "1..=64 parties")]
fn a_barrier_for_more_than_64_parties_is_refused() {
    let _ = ShmBarrier::new(ShmBarrier::MAX_PARTIES + 1);
}

#[test]
fn one_party_leads_every_generation_at_once() {
    let gate = ShmBarrier::new(1);
    let mut me = gate.join().expect("join");
    for _ in 0..3 {
        assert!(me.wait().expect("not broken").is_leader());
    }
    assert!(format!("{gate:?}").contains("generation: 3"), "{gate:?}");
}

/// `parties` threads, many generations: each generation has exactly one
/// leader, and nobody leaves a generation before every party arrived at
/// it.
#[test]
fn exactly_one_leader_per_generation_and_nobody_passes_early() {
    const PARTIES: usize = 4;
    let rounds = if cfg!(miri) { 4 } else { 300 };
    let seg = create("barrier-generations", PARTIES);
    let arrivals: Vec<AtomicU32> = (0..rounds).map(|_| AtomicU32::new(0)).collect();
    let leaders: Vec<AtomicU32> = (0..rounds).map(|_| AtomicU32::new(0)).collect();
    std::thread::scope(|s| {
        for _ in 0..PARTIES {
            s.spawn(|| {
                let mut me = seg.gate.join().expect("a place is free");
                for round in 0..rounds {
                    arrivals[round].fetch_add(1, Ordering::Relaxed);
                    let result = me.wait().expect("nobody breaks it");
                    // Relaxed: the barrier orders every arrival before
                    // every departure.
                    assert_eq!(
                        arrivals[round].load(Ordering::Relaxed),
                        PARTIES as u32,
                        "left round {round} before every party arrived"
                    );
                    if result.is_leader() {
                        leaders[round].fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    for (round, l) in leaders.iter().enumerate() {
        assert_eq!(l.load(Ordering::Relaxed), 1, "round {round}: one leader");
    }
    assert!(!seg.gate.is_broken());
    assert_eq!(seg.gate.joined(), 0, "every party left");
}

#[test]
fn joining_a_full_barrier_fails_until_a_party_leaves() {
    let gate = ShmBarrier::new(2);
    let a = gate.join().expect("first");
    let b = gate.join().expect("second");
    assert_eq!(gate.joined(), 2);
    assert_eq!(gate.join().map(drop), Err(BarrierJoinError::Full { parties: 2 }));
    drop(a);
    assert_eq!(gate.joined(), 1);
    let _c = gate.join().expect("a's place is free again");
    assert!(!gate.is_broken(), "leaving with nobody waiting breaks nothing");
    b.leave();
    assert_eq!(gate.joined(), 1);
}

#[test]
fn abort_breaks_every_waiter_and_every_later_wait_until_reset() {
    let gate = ShmBarrier::new(3);
    std::thread::scope(|s| {
        let rx = start_waiters(s, &gate, 2);
        gate.abort();
        assert_eq!(results(&rx, 2), [Err(BarrierError::Broken), Err(BarrierError::Broken)]);
    });
    assert!(gate.is_broken());
    let mut me = gate.join().expect("joining a broken barrier works");
    assert_eq!(me.wait(), Err(BarrierError::Broken));
    assert_eq!(me.wait_timeout(Duration::from_secs(1)), Err(BarrierTimeoutError::Broken));
    gate.abort();
    gate.reset();
    assert!(!gate.is_broken());
    std::thread::scope(|s| {
        let rx = start_waiters(s, &gate, 2);
        let mine = me.wait().expect("a new generation").is_leader();
        let theirs: Vec<_> = results(&rx, 2).into_iter().map(|r| r.expect("passes")).collect();
        assert_eq!(theirs.iter().filter(|&&l| l).count() + usize::from(mine), 1, "one leader");
    });
}

/// Python's rule: a wait that times out breaks the barrier for everyone.
#[test]
fn a_timed_out_wait_breaks_the_barrier_for_every_party() {
    let gate = ShmBarrier::new(3);
    std::thread::scope(|s| {
        let rx = start_waiters(s, &gate, 1);
        let mut me = gate.join().expect("join");
        let started = Instant::now();
        assert_eq!(me.wait_timeout(Duration::from_millis(30)), Err(BarrierTimeoutError::TimedOut));
        assert!(started.elapsed() >= Duration::from_millis(30), "{:?}", started.elapsed());
        assert_eq!(results(&rx, 1), [Err(BarrierError::Broken)]);
        assert_eq!(me.wait(), Err(BarrierError::Broken), "later waits fail too");
    });
    assert!(gate.is_broken());
}

#[test]
fn a_wait_with_time_to_spare_passes() {
    let gate = ShmBarrier::new(2);
    std::thread::scope(|s| {
        let rx = start_waiters(s, &gate, 1);
        let mut me = gate.join().expect("join");
        assert!(me.wait_timeout(PROGRESS).expect("opens").is_leader(), "the last one leads");
        assert_eq!(results(&rx, 1), [Ok(false)]);
    });
}

#[test]
fn reset_fails_the_parties_waiting_and_keeps_them_joined() {
    let gate = ShmBarrier::new(3);
    std::thread::scope(|s| {
        let rx = start_waiters(s, &gate, 2);
        gate.reset();
        assert_eq!(results(&rx, 2), [Err(BarrierError::Broken), Err(BarrierError::Broken)]);
    });
    assert!(!gate.is_broken(), "a reset barrier is usable");
    let mut parties: Vec<_> = (0..3).map(|_| gate.join().expect("places")).collect();
    let mut last = parties.pop().expect("three");
    std::thread::scope(|s| {
        for mut p in parties {
            s.spawn(move || p.wait().expect("opens"));
        }
        last.wait().expect("opens");
    });
}

#[test]
fn a_party_leaving_while_others_wait_for_it_breaks_the_barrier() {
    let gate = ShmBarrier::new(3);
    let leaver = gate.join().expect("join");
    std::thread::scope(|s| {
        let rx = start_waiters(s, &gate, 1);
        drop(leaver);
        assert_eq!(results(&rx, 1), [Err(BarrierError::Broken)]);
    });
}

#[test]
fn garbage_in_shared_memory_gives_errors_not_panics() {
    use support::shm_file;
    let name = support::unique_name("barrier-garbage");
    let seg =
        Segment::<Shared>::create_with(&name, |s| s.gate = ShmBarrier::new(2)).expect("create");
    let payload = payload_offset(&name);
    // A party count beyond 64.
    shm_file::write_at(&name, payload + 8, &1000u32.to_ne_bytes());
    assert_eq!(seg.gate.join().map(drop), Err(BarrierJoinError::InvalidParties(1000)));
    let _ = format!("{:?}", seg.gate);
    seg.gate.reset();
    seg.gate.abort();
    // A sane count, but an arrival count and slots full of garbage.
    shm_file::write_at(&name, payload + 8, &2u32.to_ne_bytes());
    shm_file::write_at(&name, payload, &[0xFF; 8]);
    shm_file::write_at(&name, payload + 16, &[0xAB; 16]);
    let _ = format!("{:?}", seg.gate);
    assert_eq!(seg.gate.join().map(drop), Err(BarrierJoinError::Full { parties: 2 }));
    seg.gate.reset(); // frees the slots of the (nonexistent, so dead) garbage tokens
    let mut me = seg.gate.join().expect("a freed place");
    // The arrival count was cleared by the reset: a wait needs a partner.
    assert_eq!(me.wait_timeout(Duration::from_millis(5)), Err(BarrierTimeoutError::TimedOut));
}

/// Where the payload starts in the object: the header's `payload_offset`
/// (byte 24, see the format table in `src/segment/header.rs`).
fn payload_offset(name: &str) -> u64 {
    let bytes = support::shm_file::read(name);
    u64::from_ne_bytes(bytes[24..32].try_into().expect("8 bytes"))
}

#[test]
fn debug_shows_parties_joined_arrived_generation_and_broken() {
    let gate = ShmBarrier::new(2);
    let _a = gate.join().expect("join");
    assert_eq!(
        format!("{gate:?}"),
        "ShmBarrier { parties: 2, joined: 1, arrived: 0, generation: 0, broken: false }"
    );
    gate.abort();
    assert!(format!("{gate:?}").ends_with("broken: true }"));
    assert_eq!(<ShmBarrier as ShmSafe>::LAYOUT.kind, shmsync::layout::Kind::Barrier);
}

/// A leader SIGKILLed between the CAS that opens the generation and its
/// futex wake leaves the waiters unwoken (written here straight into the
/// segment: the next phase, generation 1, no arrivals). They still pass,
/// within the waiters' safety interval (50 ms), even with nobody in another
/// process to watch.
#[test]
#[cfg_attr(
    miri,
    ignore = "writes the word as another process would: Miri, one process, sees a data race"
)]
fn a_generation_whose_wake_up_was_lost_still_opens_for_a_sleeper_soon() {
    let name = support::unique_name("barrier-lost-wake");
    let seg =
        Segment::<Shared>::create_with(&name, |s| s.gate = ShmBarrier::new(2)).expect("create");
    std::thread::scope(|s| {
        let rx = start_waiters(s, &seg.gate, 1);
        let opened_without_wake: u64 = 1 | (1 << 40);
        let written = Instant::now();
        support::shm_file::write_at(
            &name,
            payload_offset(&name),
            &opened_without_wake.to_ne_bytes(),
        );
        assert_eq!(results(&rx, 1), [Ok(false)]);
        let took = written.elapsed();
        eprintln!("an opened generation without a wake-up reached the sleeper after {took:?}");
        assert!(took < Duration::from_secs(2), "the sleeper passed only after {took:?}");
    });
}
