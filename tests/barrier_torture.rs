//! Kill torture: 3 worker processes wait at one `ShmBarrier`, generation
//! after generation, while the parent SIGKILLs one of them at random
//! moments — inside `wait`, between generations, at any instruction. After
//! every kill the two live workers must be told `Broken` within a second
//! (never hang, never get another error); the parent then resets the
//! barrier, which frees the dead worker's place, starts a replacement, and
//! the generations go on.
//!
//! `barrier_kill_torture_short` (10 kills) runs with the normal tests. The
//! full torture is `#[ignore]`d; run it with
//! `SHMSYNC_TORTURE_KILLS=1000 cargo test --release --test barrier_torture -- --ignored`
//! (the kill count defaults to 1000; `SHMSYNC_TORTURE_SEED` replays a run).

use shmsync::{BarrierTimeoutError, Segment, ShmBarrier, ShmSafe};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmsync_support as support;

const WORKERS: usize = 3;
/// The promise: the live parties learn of a death within a second.
const DEATH_BOUND: Duration = Duration::from_secs(1);
/// Bound for every "the system makes progress" wait: a hang fails here.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(ShmSafe)]
#[repr(C)]
struct Torture {
    gate: ShmBarrier,
    /// Successful waits, all workers together.
    passes: AtomicU64,
    /// `Broken` results, all workers together (one per worker per kill).
    broken: AtomicU64,
    /// Bumped by the parent once the barrier is reset and whole again.
    resumed: AtomicU64,
    /// Set by a worker that saw what must not happen.
    failed: AtomicU32,
    stop: AtomicU32,
}

/// One worker: waits at the gate until told to stop; after `Broken`, waits
/// for the parent to make the barrier whole again.
fn work(t: &Torture) {
    let mut me = t.gate.join().expect("a free place");
    let mut resumed = t.resumed.load(Ordering::SeqCst);
    while t.stop.load(Ordering::SeqCst) == 0 {
        match me.wait_timeout(PROGRESS_TIMEOUT) {
            Ok(_) => {
                t.passes.fetch_add(1, Ordering::SeqCst);
            }
            Err(BarrierTimeoutError::Broken) => {
                t.broken.fetch_add(1, Ordering::SeqCst);
                let deadline = Instant::now() + PROGRESS_TIMEOUT;
                while t.resumed.load(Ordering::SeqCst) == resumed
                    && t.stop.load(Ordering::SeqCst) == 0
                {
                    if Instant::now() > deadline {
                        t.failed.store(1, Ordering::SeqCst);
                        return;
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
                resumed = t.resumed.load(Ordering::SeqCst);
            }
            Err(e) => {
                eprintln!("worker: unexpected {e:?}");
                t.failed.store(1, Ordering::SeqCst);
                return;
            }
        }
    }
}

#[test]
fn child_entry() {
    support::run_child(|role, args| {
        let seg = Segment::<Torture>::open(&args[0]).expect("open segment");
        match role {
            "work" => work(&seg),
            other => panic!("unknown role {other}"),
        }
    });
}

fn torture(kills: u32) {
    let mut rng = support::Rng::from_env(&format!("barrier kill torture, {kills} kills"));
    let name = support::unique_name("barrier-torture");
    let t = Segment::<Torture>::create_with(&name, |t| t.gate = ShmBarrier::new(WORKERS))
        .expect("create segment");
    let spawn = || support::spawn("child_entry", "work", &[&name]);
    let mut workers: Vec<_> = (0..WORKERS).map(|_| spawn()).collect();
    let mut slowest = Duration::ZERO;
    for kill in 0..kills {
        // Let some generations pass, then kill one worker at a random
        // moment among them.
        let passes = t.passes.load(Ordering::SeqCst);
        support::wait_until("generations pass", PROGRESS_TIMEOUT, || {
            t.passes.load(Ordering::SeqCst) >= passes + WORKERS as u64
        });
        rng.pause_below(Duration::from_micros(2_000));
        let victim = rng.index_below(WORKERS);
        let broken = t.broken.load(Ordering::SeqCst);
        let killed = Instant::now();
        workers.remove(victim).kill();
        support::wait_until("every live worker is told Broken", PROGRESS_TIMEOUT, || {
            t.broken.load(Ordering::SeqCst) >= broken + (WORKERS as u64 - 1)
        });
        let took = killed.elapsed();
        slowest = slowest.max(took);
        assert!(took < DEATH_BOUND, "kill {kill}: the live workers learned it after {took:?}");
        assert_eq!(t.failed.load(Ordering::SeqCst), 0, "kill {kill}: a worker failed");
        assert_eq!(
            t.broken.load(Ordering::SeqCst),
            broken + (WORKERS as u64 - 1),
            "kill {kill}: one Broken per live worker"
        );
        // Whole again: the dead worker's place freed, a replacement joined.
        t.gate.reset();
        assert_eq!(t.gate.joined(), WORKERS - 1, "kill {kill}: the dead worker's place is free");
        // Resumed before the replacement starts, so that it takes the new
        // value as its own: the live workers wait for it at the gate.
        t.resumed.fetch_add(1, Ordering::SeqCst);
        workers.push(spawn());
        support::wait_until("the replacement joined", PROGRESS_TIMEOUT, || {
            t.gate.joined() == WORKERS
        });
    }
    eprintln!("{kills} kills: the slowest took {slowest:?} to reach every live worker");
    t.stop.store(1, Ordering::SeqCst);
    t.gate.abort();
    for w in workers {
        w.expect_success(PROGRESS_TIMEOUT);
    }
    assert_eq!(t.failed.load(Ordering::SeqCst), 0);
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn barrier_kill_torture_short() {
    torture(10);
}

#[test]
#[ignore = "long: run with --ignored; SHMSYNC_TORTURE_KILLS sets the kill count (default 1000)"]
fn barrier_kill_torture() {
    torture(support::kills_from_env(1000));
}
