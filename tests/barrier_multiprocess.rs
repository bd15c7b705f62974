//! `ShmBarrier` across real processes: generations and their leaders, a
//! party SIGKILLed after joining and before arriving (the others get
//! `Broken` within a second), a party killed while it waits, and `reset`
//! freeing a dead party's place.

use shmsync::{BarrierError, BarrierJoinError, BarrierTimeoutError, Segment, ShmBarrier, ShmSafe};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmsync_support as support;

use support::{gettid, wait_until_blocked_in_futex};

const ROUNDS: usize = 200;
/// Bound for every "the other processes get there" wait.
const PROGRESS: Duration = Duration::from_secs(20);
/// The promise: the others learn of a death within a second.
const DEATH_BOUND: Duration = Duration::from_secs(1);

/// Outcomes a child reports.
const PASSED: u32 = 1;
const BROKEN: u32 = 2;

#[derive(ShmSafe)]
#[repr(C)]
struct Shared {
    gate: ShmBarrier,
    /// Per round: parties that arrived, and leaders.
    arrivals: [AtomicU32; ROUNDS],
    leaders: [AtomicU32; ROUNDS],
    /// The waiting child's thread id, its outcome, and when it returned
    /// (`CLOCK_MONOTONIC` ns, the same clock in every process here).
    waiter_tid: AtomicU32,
    outcome: AtomicU32,
    returned_ns: AtomicU64,
}

#[test]
fn child_entry() {
    support::run_child(|role, args| {
        let seg = Segment::<Shared>::open(&args[0]).expect("open segment");
        match role {
            "rounds" => {
                let parties = seg.gate.parties() as u32;
                let mut me = seg.gate.join().expect("a place is free");
                for round in 0..ROUNDS {
                    seg.arrivals[round].fetch_add(1, Ordering::Relaxed);
                    let r = me.wait_timeout(PROGRESS).expect("nobody breaks it");
                    // Relaxed: the barrier orders every arrival before every
                    // departure, across processes too.
                    assert_eq!(seg.arrivals[round].load(Ordering::Relaxed), parties);
                    if r.is_leader() {
                        seg.leaders[round].fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            "join_and_hang" => {
                let _me = seg.gate.join().expect("a place is free");
                support::reached("joined");
                support::park_forever();
            }
            "join_and_leave" => {
                let me = seg.gate.join().expect("a place is free");
                support::reached("joined");
                drop(me);
            }
            "wait_once" => {
                let mut me = seg.gate.join().expect("a place is free");
                seg.waiter_tid.store(gettid(), Ordering::SeqCst);
                support::reached("waiting");
                let outcome = match me.wait() {
                    Ok(_) => PASSED,
                    Err(BarrierError::Broken) => BROKEN,
                    Err(e) => panic!("unexpected {e:?}"),
                };
                seg.returned_ns.store(shmsync_support::clocks::monotonic_ns(), Ordering::SeqCst);
                seg.outcome.store(outcome, Ordering::SeqCst);
            }
            "wait_and_hang" => {
                let mut me = seg.gate.join().expect("a place is free");
                seg.waiter_tid.store(gettid(), Ordering::SeqCst);
                support::reached("waiting");
                let _ = me.wait();
                support::reached("passed");
                support::park_forever();
            }
            "fork_with_a_party" => fork_with_a_party(&seg),
            other => panic!("unknown role {other}"),
        }
    });
}

/// The forked copy's exit statuses.
const COPY_OK: i32 = 0;
const COPY_WAITED: i32 = 10;
const COPY_LEFT: i32 = 11;

/// Joins, forks; the forked process tries to wait with its copy of the
/// party (which must panic: it would arrive in our place) and drops it
/// (which must not free our place); then this process checks its place.
fn fork_with_a_party(seg: &Shared) {
    let me = seg.gate.join().expect("a free place");
    // What the forked process runs: its verdict is its exit status.
    let copy_verdict = || {
        // SAFETY: `fork` gave the forked process its own copy of `me`;
        // reading it out makes that copy an owned value the forked
        // process drops, and it never touches `me` again (it `_exit`s
        // after this closure).
        let mut copy = unsafe { core::ptr::read(&me) };
        // The panic below is expected: keep it off the output.
        std::panic::set_hook(Box::new(|_| {}));
        let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = copy.wait_timeout(Duration::ZERO);
        }));
        drop(copy);
        if waited.is_ok() {
            COPY_WAITED
        } else if seg.gate.joined() != 1 {
            COPY_LEFT
        } else {
            COPY_OK
        }
    };
    // SAFETY: this role process runs this one test (`--test-threads=1`),
    // so no other thread of ours holds a lock the forked process, which has
    // only the forking thread, would wait for. The forked process uses its
    // copy of the party and `_exit`s.
    let status = unsafe { support::exit_status_of_forked(copy_verdict) };
    match status {
        COPY_OK => {}
        COPY_WAITED => panic!("the forked copy of the party arrived in our place"),
        COPY_LEFT => panic!("dropping the forked copy freed our place"),
        other => panic!("the forked process exited with {other}"),
    }
    assert_eq!(seg.gate.joined(), 1, "our place is ours");
    assert!(!seg.gate.is_broken());
    drop(me);
    assert_eq!(seg.gate.joined(), 0, "our own drop leaves");
}

fn create(tag: &str, parties: usize) -> (String, Segment<Shared>) {
    let name = support::unique_name(tag);
    let seg = Segment::<Shared>::create_with(&name, |s| s.gate = ShmBarrier::new(parties))
        .expect("create segment");
    (name, seg)
}

/// Three processes and this one, many generations: one leader each, and
/// nobody leaves one before all four arrived.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn generations_across_processes_have_one_leader_and_nobody_passes_early() {
    let (name, seg) = create("barrier-mp-rounds", 4);
    let children: Vec<_> =
        (0..3).map(|_| support::spawn("child_entry", "rounds", &[&name])).collect();
    let mut me = seg.gate.join().expect("a place is free");
    for round in 0..ROUNDS {
        seg.arrivals[round].fetch_add(1, Ordering::Relaxed);
        let r = me.wait_timeout(PROGRESS).expect("nobody breaks it");
        assert_eq!(seg.arrivals[round].load(Ordering::Relaxed), 4, "round {round}");
        if r.is_leader() {
            seg.leaders[round].fetch_add(1, Ordering::Relaxed);
        }
    }
    for c in children {
        c.expect_success(PROGRESS);
    }
    for (round, l) in seg.leaders.iter().enumerate() {
        assert_eq!(l.load(Ordering::Relaxed), 1, "round {round}: exactly one leader");
    }
    drop(me);
    assert_eq!(seg.gate.joined(), 0, "every party left");
}

/// The scenario: a party SIGKILLed after joining and before
/// arriving. The parties already waiting (a thread here, a thread in
/// another process) get `Broken` within a second of the kill.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn a_party_killed_after_joining_and_before_arriving_breaks_the_barrier_within_a_second() {
    let (name, seg) = create("barrier-mp-kill", 3);
    let mut doomed = support::spawn("child_entry", "join_and_hang", &[&name]);
    doomed.wait_for("joined", PROGRESS);
    let mut waiter = support::spawn("child_entry", "wait_once", &[&name]);
    waiter.wait_for("waiting", PROGRESS);
    let waiter_tid = seg.waiter_tid.load(Ordering::SeqCst);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        let seg = &seg;
        s.spawn(move || {
            let mut me = seg.gate.join().expect("a place is free");
            tx.send(gettid()).expect("test alive");
            let r = me.wait();
            tx.send(u32::from(r == Err(BarrierError::Broken))).expect("test alive");
        });
        let my_tid = rx.recv().expect("the thread started");
        // Both are asleep in the barrier before the kill.
        wait_until_blocked_in_futex(std::process::id(), my_tid, PROGRESS);
        wait_until_blocked_in_futex(waiter.pid(), waiter_tid, PROGRESS);
        assert!(!seg.gate.is_broken());
        let killed_ns = shmsync_support::clocks::monotonic_ns();
        let killed = Instant::now();
        doomed.kill();
        let broken = rx.recv_timeout(PROGRESS).expect("the waiting thread returned");
        let here = killed.elapsed();
        assert_eq!(broken, 1, "this process's waiter got Broken");
        eprintln!("a party's death broke the barrier for a waiter after {here:?}");
        assert!(here < DEATH_BOUND, "broken only after {here:?}");
        waiter.expect_success(PROGRESS);
        assert_eq!(seg.outcome.load(Ordering::SeqCst), BROKEN, "the other process got Broken");
        let there = Duration::from_nanos(seg.returned_ns.load(Ordering::SeqCst) - killed_ns);
        assert!(there < DEATH_BOUND, "the other process learned it after {there:?}");
    });
    assert!(seg.gate.is_broken());
}

/// A party that died before anyone waited: the first wait finds it dead
/// and breaks at once; `reset` frees its place, and a new party completes
/// the generation.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn reset_frees_the_place_of_a_dead_party_for_a_new_one() {
    let (name, seg) = create("barrier-mp-reset", 2);
    let mut doomed = support::spawn("child_entry", "join_and_hang", &[&name]);
    doomed.wait_for("joined", PROGRESS);
    doomed.kill();
    let mut me = seg.gate.join().expect("a place is free");
    assert_eq!(seg.gate.join().map(drop), Err(BarrierJoinError::Full { parties: 2 }));
    let started = Instant::now();
    assert_eq!(me.wait_timeout(PROGRESS), Err(BarrierTimeoutError::Broken));
    assert!(started.elapsed() < DEATH_BOUND, "{:?}", started.elapsed());
    seg.gate.reset();
    assert_eq!(seg.gate.joined(), 1, "the dead party's place is free, ours is kept");
    let mut waiter = support::spawn("child_entry", "wait_once", &[&name]);
    waiter.wait_for("waiting", PROGRESS);
    me.wait_timeout(PROGRESS).expect("the new party completes the generation");
    waiter.expect_success(PROGRESS);
    assert_eq!(seg.outcome.load(Ordering::SeqCst), PASSED);
}

/// A party killed while it waits had arrived: its generation still opens
/// (the others do not need it any more), and the next one breaks.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn a_party_killed_while_waiting_lets_its_generation_open_and_breaks_the_next() {
    let (name, seg) = create("barrier-mp-kill-waiting", 2);
    let mut doomed = support::spawn("child_entry", "wait_and_hang", &[&name]);
    doomed.wait_for("waiting", PROGRESS);
    let tid = seg.waiter_tid.load(Ordering::SeqCst);
    wait_until_blocked_in_futex(doomed.pid(), tid, PROGRESS);
    doomed.kill();
    let mut me = seg.gate.join().expect("a place is free");
    assert!(me.wait_timeout(PROGRESS).expect("it had arrived").is_leader());
    assert_eq!(me.wait_timeout(PROGRESS), Err(BarrierTimeoutError::Broken));
}

/// A party that leaves (drops its handle) before anyone waits frees its
/// place and breaks nothing.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn a_party_that_exits_normally_leaves_its_place() {
    let (name, seg) = create("barrier-mp-leave", 2);
    let leaver = support::spawn("child_entry", "join_and_leave", &[&name]);
    leaver.expect_success(PROGRESS);
    assert_eq!(seg.gate.joined(), 0);
    assert!(!seg.gate.is_broken());
}

/// A party inherited across `fork` is not the forked process's: waiting
/// with it panics, dropping it leaves the joined process's place alone.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn a_party_copied_by_fork_is_not_a_party_of_the_child() {
    let (name, _seg) = create("barrier-mp-fork", 2);
    support::spawn("child_entry", "fork_with_a_party", &[&name]).expect_success(PROGRESS);
}
