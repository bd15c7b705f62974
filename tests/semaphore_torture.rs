//! Kill torture: 4 worker processes of 2 threads each take and give back
//! permits of a 2-permit `ShmSemaphore` (by `acquire`, `try_acquire` and
//! `acquire_timeout`) while the parent SIGKILLs one process at random
//! moments and replaces it. After every kill: never more holders than
//! permits, and no permit lost (with 2 permits and 8 threads, two permits
//! that a killed holder took with it would stop everyone: acquisitions
//! must go on). At the end every permit is back.
//!
//! `kill_torture_short` (10 kills) runs with the normal tests. The full
//! torture is `#[ignore]`d; run it with
//! `SHMSYNC_TORTURE_KILLS=1000 cargo test --release --test semaphore_torture -- --ignored`
//! (the kill count defaults to 1000; `SHMSYNC_TORTURE_SEED` replays a run).

use shmsync::{AcquireTimeoutError, Segment, ShmSafe, ShmSemaphore, TryAcquireError};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmsync_support as support;

use support::gettid;
use support::torture::{freeze_all, thaw_all_but};
use support::wait_until;

const WORKERS: usize = 4;
/// Threads per worker process.
const THREADS: usize = 2;
const PERMITS: u32 = 2;
/// Bound for every "the system makes progress" wait: a deadlock fails here.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(ShmSafe)]
#[repr(C)]
struct Torture {
    sem: ShmSemaphore,
    /// Bit `worker * THREADS + thread` is set while that thread holds a
    /// permit (set after acquiring, cleared before giving it back; the
    /// parent clears a killed worker's). One word, so that a holder counts
    /// the others in one atomic snapshot.
    inside: AtomicU64,
    /// Permits taken and given back.
    progress: AtomicU64,
    /// Set by a worker that found more holders than permits.
    failed: AtomicU32,
    stop: AtomicU32,
    worker_tids: [[AtomicU32; THREADS]; WORKERS],
}

fn work(t: &Torture, slot: usize) {
    std::thread::scope(|s| {
        for thread in 1..THREADS {
            s.spawn(move || work_thread(t, slot, thread));
        }
        work_thread(t, slot, 0);
    });
}

fn work_thread(t: &Torture, slot: usize, thread: usize) {
    t.worker_tids[slot][thread].store(gettid(), Ordering::SeqCst);
    let mut i = 0u64;
    while t.stop.load(Ordering::SeqCst) == 0 {
        i += 1;
        let permit = match i % 3 {
            0 => t.sem.acquire(),
            1 => match t.sem.try_acquire() {
                Ok(p) => p,
                Err(TryAcquireError::WouldBlock) => continue,
                Err(e) => panic!("{e}"),
            },
            _ => match t.sem.acquire_timeout(Duration::from_millis(1)) {
                Ok(p) => p,
                Err(AcquireTimeoutError::TimedOut) => continue,
                Err(e) => panic!("{e}"),
            },
        };
        let bit = 1u64 << (slot * THREADS + thread);
        let holders = (t.inside.fetch_or(bit, Ordering::SeqCst) | bit).count_ones();
        if holders > PERMITS {
            t.failed.store(1, Ordering::SeqCst);
            panic!("{holders} holders of {PERMITS} permits");
        }
        for k in 0..200u32 {
            std::hint::black_box(k);
        }
        t.inside.fetch_and(!bit, Ordering::SeqCst);
        drop(permit);
        t.progress.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn child_entry() {
    support::run_child(|role, args| {
        let seg = Segment::<Torture>::open(&args[0]).expect("open segment");
        match role {
            "worker" => work(&seg, args[1].parse().expect("slot")),
            other => panic!("unknown role {other}"),
        }
    });
}

fn spawn_worker(name: &str, t: &Torture, slot: usize) -> support::ChildProcess {
    for tid in &t.worker_tids[slot] {
        tid.store(0, Ordering::SeqCst);
    }
    let child = support::spawn("child_entry", "worker", &[name, &slot.to_string()]);
    wait_until("a new worker published its tids", PROGRESS_TIMEOUT, || {
        t.worker_tids[slot].iter().all(|tid| tid.load(Ordering::SeqCst) != 0)
    });
    child
}

fn torture(kills: u32) {
    let mut rng = support::Rng::from_env(&format!("semaphore kill torture, {kills} kills"));

    let name = support::unique_name("semaphore-torture");
    let seg = Segment::<Torture>::create_with(&name, |t| {
        t.sem = ShmSemaphore::new(u64::from(PERMITS));
    })
    .expect("create segment");
    let t: &Torture = &seg;
    let mut workers: Vec<_> = (0..WORKERS).map(|slot| spawn_worker(&name, t, slot)).collect();

    let mut holder_deaths = 0u64;
    let started = Instant::now();
    for _ in 0..kills {
        rng.pause_below(Duration::from_millis(3));
        freeze_all(&workers);
        let marks = |slot: usize| ((1u64 << THREADS) - 1) << (slot * THREADS);
        let holds = |slot: usize| t.inside.load(Ordering::SeqCst) & marks(slot) != 0;
        let holders: Vec<usize> = (0..WORKERS).filter(|&s| holds(s)).collect();
        // Half the kills target a permit holder (if any shows as one), the
        // rest a random worker (which may hold one it has not marked yet).
        let victim = rng.victim(&holders, WORKERS);
        holder_deaths += u64::from(holds(victim));
        // Killed (and reaped) while everyone is frozen, so its marks are
        // cleared before anyone can take its permits back: they are counted
        // in the dead process's slot until then. The replacement starts
        // only afterwards (it uses the same marks).
        workers[victim].kill_without_reaping();
        wait_until("the victim is dead", PROGRESS_TIMEOUT, || !workers[victim].is_running());
        t.inside.fetch_and(!marks(victim), Ordering::SeqCst);
        workers[victim] = spawn_worker(&name, t, victim);
        thaw_all_but(&workers, victim);
        let before = t.progress.load(Ordering::SeqCst);
        wait_until("the workers made progress after a kill", PROGRESS_TIMEOUT, || {
            t.progress.load(Ordering::SeqCst) > before + 2 * WORKERS as u64
        });
        assert_eq!(t.failed.load(Ordering::SeqCst), 0, "more holders than permits");
    }
    t.stop.store(1, Ordering::SeqCst);
    for w in workers {
        w.expect_success(PROGRESS_TIMEOUT);
    }
    // Every permit is back (a dead holder's taken back by these).
    let all: Vec<_> =
        (0..PERMITS).map(|_| t.sem.try_acquire().expect("every permit comes back")).collect();
    assert_eq!(t.sem.try_acquire().err(), Some(TryAcquireError::WouldBlock));
    drop(all);
    assert_eq!((t.sem.available(), t.sem.total()), (u64::from(PERMITS), u64::from(PERMITS)));
    assert!(holder_deaths > 0 || kills < 100, "no kill hit a holder: the torture tested little");
    eprintln!(
        "semaphore kill torture: {kills} kills ({holder_deaths} of a marked holder) in {:?}, {} \
         permits taken",
        started.elapsed(),
        t.progress.load(Ordering::SeqCst)
    );
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn kill_torture_short() {
    torture(10);
}

#[test]
#[ignore = "long: run with --ignored; SHMSYNC_TORTURE_KILLS sets the kill count (default 1000)"]
fn kill_torture() {
    torture(support::kills_from_env(1000));
}
