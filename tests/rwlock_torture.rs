//! Kill torture: 4 worker processes of 2 threads each read and write a
//! pair under a `ShmRwLock` (three reads to one write, some of them the
//! `try_` and `_timeout` forms) while the parent SIGKILLs one process at
//! random moments and replaces it. After every kill: no deadlock (reads
//! *and* writes go on, so a killed reader's share was taken back), no
//! reader ever sees a torn pair, and every death of the writer lock's
//! holder is reported exactly once (as `OwnerDied`, to a reader or a
//! writer).
//!
//! `kill_torture_short` (10 kills) runs with the normal tests. The full
//! torture is `#[ignore]`d; run it with
//! `SHMSYNC_TORTURE_KILLS=1000 cargo test --release --test rwlock_torture -- --ignored`
//! (the kill count defaults to 1000; `SHMSYNC_TORTURE_SEED` replays a run).
//!
//! To know whether a kill hit the writer lock's holder, the parent freezes
//! all workers (SIGSTOP) and reads the writer word before killing: the
//! first 8 bytes of `ShmRwLock`, laid out as a `ShmMutex` lock word (owner
//! thread id in bits 0..30, `OWNER_DIED` in bit 30, see its docs).

use shmsync::{
    RwLockTimeoutError, Segment, ShmRwLock, ShmRwLockWriteGuard, ShmSafe, TryRwLockError,
};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmsync_support as support;

use support::gettid;
use support::torture::{freeze_all, thaw_all_but};
use support::wait_until;

const WORKERS: usize = 4;
/// Threads per worker process.
const THREADS: usize = 2;
const OWNER_DIED: u64 = 1 << 30;
const TID_MASK: u64 = OWNER_DIED - 1;
/// Bound for every "the system makes progress" wait: a deadlock fails here.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(ShmSafe)]
#[repr(C)]
struct Torture {
    pair: ShmRwLock<[u64; 2]>,
    /// `OwnerDied` results, counted by the worker that got one.
    reports: AtomicU64,
    /// Completed reads and writes.
    reads: AtomicU64,
    writes: AtomicU64,
    /// Set by a worker that found the invariant broken.
    failed: AtomicU32,
    stop: AtomicU32,
    /// The thread ids of each worker process's threads (0: not started).
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

/// Repairs after a dead writer: it may have incremented only the first
/// half.
fn repair(t: &Torture, mut g: ShmRwLockWriteGuard<'_, [u64; 2]>) {
    t.reports.fetch_add(1, Ordering::SeqCst);
    g[1] = g[0];
    ShmRwLockWriteGuard::make_consistent(&mut g);
}

fn fail(t: &Torture, code: u32, what: &str) -> ! {
    t.failed.store(code, Ordering::SeqCst);
    panic!("{what}");
}

fn work_thread(t: &Torture, slot: usize, thread: usize) {
    t.worker_tids[slot][thread].store(gettid(), Ordering::SeqCst);
    let mut i = 0u64;
    while t.stop.load(Ordering::SeqCst) == 0 {
        i += 1;
        let kind = (i + slot as u64 + thread as u64) % 8;
        if kind < 2 {
            // Write.
            let r = if kind == 0 {
                t.pair.write().map_err(RwLockTimeoutError::from)
            } else {
                t.pair.write_timeout(Duration::from_millis(1))
            };
            let mut g = match r {
                Ok(g) => g,
                Err(RwLockTimeoutError::OwnerDied(g)) => {
                    repair(t, g);
                    continue;
                }
                Err(RwLockTimeoutError::TimedOut) => continue,
                Err(e) => fail(t, 1, &format!("write: {e:?}")),
            };
            if g[0] != g[1] {
                fail(t, 2, &format!("a writer found a torn pair {:?}", *g));
            }
            g[0] += 1;
            // A little work between the halves widens the window in which
            // a kill leaves the pair torn.
            for k in 0..200u32 {
                std::hint::black_box(k);
            }
            g[1] += 1;
            drop(g);
            t.writes.fetch_add(1, Ordering::SeqCst);
        } else {
            let r = if kind == 2 {
                t.pair.try_read()
            } else {
                t.pair.read().map_err(TryRwLockError::from)
            };
            let g = match r {
                Ok(g) => g,
                Err(TryRwLockError::OwnerDied(g)) => {
                    repair(t, g);
                    continue;
                }
                Err(TryRwLockError::WouldBlock) => continue,
                Err(e) => fail(t, 1, &format!("read: {e:?}")),
            };
            if g[0] != g[1] {
                fail(t, 3, &format!("a reader saw a torn pair {:?}", *g));
            }
            for k in 0..50u32 {
                std::hint::black_box(k);
            }
            drop(g);
            t.reads.fetch_add(1, Ordering::SeqCst);
        }
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

fn writer_word(t: &Torture) -> u64 {
    let word = std::ptr::from_ref(&t.pair).cast::<AtomicU64>();
    // SAFETY: `ShmRwLock` is `repr(C)` and starts with its writer's lock
    // word, an `AtomicU64` (see its docs); reading it atomically is sound.
    unsafe { &*word }.load(Ordering::SeqCst)
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

/// The worker process one of whose threads holds the writer word `word`.
fn holder_of(t: &Torture, word: u64) -> Option<usize> {
    (0..WORKERS).find(|&slot| {
        t.worker_tids[slot]
            .iter()
            .any(|tid| word & TID_MASK == u64::from(tid.load(Ordering::SeqCst)))
    })
}

fn torture(kills: u32) {
    let mut rng = support::Rng::from_env(&format!("rwlock kill torture, {kills} kills"));

    let name = support::unique_name("rwlock-torture");
    let seg = Segment::<Torture>::create(&name).expect("create segment");
    let t: &Torture = &seg;
    let mut workers: Vec<_> = (0..WORKERS).map(|slot| spawn_worker(&name, t, slot)).collect();

    let mut held_deaths = 0u64;
    let started = Instant::now();
    for _ in 0..kills {
        rng.pause_below(Duration::from_millis(3));
        freeze_all(&workers);
        let word = writer_word(t);
        let holder = holder_of(t, word);
        // Half the kills target the writer lock's holder (if a worker
        // holds it), the rest a random worker (often a reader).
        let mut victim = rng.victim(holder.as_slice(), WORKERS);
        if holder == Some(victim) && word & OWNER_DIED != 0 {
            // A repairer killed before it counted its report would make
            // "reported once" unobservable (rwlock_multiprocess.rs has
            // repeated deaths): kill someone else this round.
            victim = (victim + 1) % WORKERS;
        }
        held_deaths += u64::from(holder == Some(victim));
        // The replacement may start while the others are frozen: a frozen
        // holder is alive, so it just waits.
        let replacement = spawn_worker(&name, t, victim);
        std::mem::replace(&mut workers[victim], replacement).kill();
        thaw_all_but(&workers, victim);

        // No deadlock: reads and writes keep completing (a write needs every
        // dead reader's share taken back), and the death is reported
        // (exactly once: never more reports than deaths).
        let (reads, writes) = (t.reads.load(Ordering::SeqCst), t.writes.load(Ordering::SeqCst));
        wait_until("the workers made progress after a kill", PROGRESS_TIMEOUT, || {
            t.reads.load(Ordering::SeqCst) > reads + WORKERS as u64
                && t.writes.load(Ordering::SeqCst) > writes
                && t.reports.load(Ordering::SeqCst) >= held_deaths
        });
        assert_eq!(t.failed.load(Ordering::SeqCst), 0, "a worker found a broken invariant");
        assert_eq!(t.reports.load(Ordering::SeqCst), held_deaths, "a death reported twice");
    }
    t.stop.store(1, Ordering::SeqCst);
    for w in workers {
        w.expect_success(PROGRESS_TIMEOUT);
    }
    let g = match t.pair.try_write() {
        Ok(g) => g,
        Err(e) => panic!("the final write must be clean: {e:?}"),
    };
    assert_eq!(g[0], g[1]);
    assert_eq!(t.reports.load(Ordering::SeqCst), held_deaths);
    assert!(held_deaths > 0 || kills < 100, "no kill hit the writer: the torture tested little");
    eprintln!(
        "rwlock kill torture: {kills} kills ({held_deaths} of the writer lock's holder) in {:?}, \
         {} writes, {} reads",
        started.elapsed(),
        g[0],
        t.reads.load(Ordering::SeqCst)
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
