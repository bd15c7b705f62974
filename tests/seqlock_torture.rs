//! Writer kill torture: a writer process, two threads `update`ing a 256-byte
//! stamp as fast as they can, is SIGKILLed by the parent at random moments
//! (almost always inside `update`, holding the writer lock, often half-way
//! through a copy, often with the other thread waiting for the lock) and
//! replaced by a new writer process, which must take over. The writer
//! lock's owner is dead when its process is: a writer thread never takes
//! the lock over from its live sibling. Two reader processes read all
//! along and check that no value is ever torn, no read ever blocks past
//! `READ_TIMEOUT`, and values never go backwards.
//!
//! Before each kill the parent freezes the writer (SIGSTOP) and looks at the
//! writer lock's word to know whether the victim holds the lock; every such
//! death must be counted by exactly one take-over (`writer_recoveries`).
//! There is one writer process at a time, so a held lock is the victim's.
//! The lock word's place is `SeqLock`'s documented layout: the writer lock
//! is the last cache line, and starts with the robust lock word, a `u64`
//! whose low 30 bits are the owner's thread id.
//!
//! `writer_kill_torture_short` (40 kills) runs with the normal tests. The
//! full torture is `#[ignore]`d; run it with
//! `SHMSYNC_TORTURE_KILLS=1000 cargo test --release --test seqlock_torture -- --ignored`
//! (the kill count defaults to 1000; `SHMSYNC_TORTURE_SEED` replays a run).

use shmsync::{AtomicCounter, Segment, SeqLock, ShmSafe};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmsync_support as support;

use support::Stamped;
use support::{freeze, kills_from_env, wait_until, Rng};

/// A read that takes longer than this is a reader blocked by a dead writer
/// (a hang detector, far above any real read time, not a performance bound).
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound for every "the system makes progress" wait: a stuck writer fails here.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(10);
const READERS: usize = 2;
/// Threads per writer process.
const WRITER_THREADS: usize = 2;
const TID_MASK: u64 = (1 << 30) - 1;

#[derive(ShmSafe)]
#[repr(C)]
struct Torture {
    latest: SeqLock<Stamped>,
    /// Reads made by each reader (also shows readers are alive).
    reads: [AtomicCounter; READERS],
    /// The longest single read each reader saw, in microseconds.
    slowest_read_us: [AtomicCounter; READERS],
    /// Readers that started reading.
    readers_started: AtomicCounter,
    stop: AtomicU32,
}

/// `WRITER_THREADS` threads writing until stopped.
fn write_forever(t: &Torture) {
    support::reached("writing");
    std::thread::scope(|s| {
        for _ in 1..WRITER_THREADS {
            s.spawn(|| write_until_stopped(t));
        }
        write_until_stopped(t);
    });
}

/// Continues the sequence from the last complete value: after a kill, the
/// new writer's first `update` sees the dead writer's last *complete* stamp.
fn write_until_stopped(t: &Torture) {
    while t.stop.load(Ordering::Relaxed) == 0 {
        t.latest
            .update(|v| {
                let n = v.number().expect("update starts from a whole stamp");
                *v = Stamped::new(n + 1);
            })
            .expect("update");
    }
}

fn read_until_stopped(t: &Torture, slot: usize) {
    t.readers_started.incr();
    let mut last = 0;
    while t.stop.load(Ordering::Relaxed) == 0 {
        let started = Instant::now();
        let (value, version) = t.latest.read_versioned();
        let took = started.elapsed();
        assert!(took < READ_TIMEOUT, "a read blocked for {took:?}");
        let n = value.number().unwrap_or_else(|| panic!("torn read at version {version}"));
        assert_eq!(n, version, "stamp n is published as version n");
        assert!(n >= last, "went backwards from {last} to {n}");
        last = n;
        let took_us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        if took_us > t.slowest_read_us[slot].get() {
            t.slowest_read_us[slot].swap(took_us);
        }
        t.reads[slot].incr();
    }
}

#[test]
fn child_entry() {
    support::run_child(|role, args| {
        let seg = Segment::<Torture>::open(&args[0]).expect("open segment");
        match role {
            "writer" => write_forever(&seg),
            "reader" => read_until_stopped(&seg, args[1].parse().expect("slot")),
            other => panic!("unknown role {other}"),
        }
    });
}

/// The writer lock's word (see the module docs for where it lives).
fn writer_lock_word(t: &Torture) -> u64 {
    let lock = std::ptr::from_ref(&t.latest).cast::<u8>();
    let offset = core::mem::size_of::<SeqLock<Stamped>>() - 64;
    // SAFETY: the last 64 bytes of a `SeqLock` are its writer line, which
    // starts with the lock word, an `AtomicU64` (documented layout); the
    // address is inside `t.latest` and 64-aligned; reading it atomically is
    // sound.
    let word = unsafe { &*lock.add(offset).cast::<AtomicU64>() };
    word.load(Ordering::SeqCst)
}

fn spawn_writer(name: &str) -> support::ChildProcess {
    let mut w = support::spawn("child_entry", "writer", &[name]);
    w.wait_for("writing", PROGRESS_TIMEOUT);
    w
}

fn torture(kills: u32) {
    let mut rng = Rng::from_env(&format!("seqlock kill torture, {kills} kills"));
    let name = support::unique_name("seqlock-torture");
    let seg = Segment::<Torture>::create_with(&name, |t| {
        t.latest = SeqLock::new(Stamped::new(0));
    })
    .expect("create segment");
    let t: &Torture = &seg;
    let readers: Vec<_> = (0..READERS)
        .map(|slot| support::spawn("child_entry", "reader", &[&name, &slot.to_string()]))
        .collect();
    wait_until("the readers started", PROGRESS_TIMEOUT, || {
        t.readers_started.get() == READERS as u64
    });

    let started = Instant::now();
    let mut writer = spawn_writer(&name);
    let mut held_deaths = 0u64;
    for _ in 0..kills {
        // A new writer must make progress: a writer stuck behind its dead
        // predecessor fails here.
        let before = t.latest.version();
        let ahead = 1 + rng.below(200);
        wait_until("the new writer made progress", PROGRESS_TIMEOUT, || {
            t.latest.version() >= before + ahead
        });
        // The scenario: a random moment to kill at.
        rng.pause_below(Duration::from_micros(500));
        freeze(writer.pid());
        held_deaths += u64::from(writer_lock_word(t) & TID_MASK != 0);
        writer.kill();
        writer = spawn_writer(&name);
        // Every death of a lock holder is taken over from, once.
        wait_until("the take-over was counted", PROGRESS_TIMEOUT, || {
            t.latest.writer_recoveries() == held_deaths
        });
    }
    let before = t.latest.version();
    wait_until("the last writer made progress", PROGRESS_TIMEOUT, || {
        t.latest.version() > before + 100
    });
    t.stop.store(1, Ordering::Relaxed);
    writer.expect_success(PROGRESS_TIMEOUT);
    for r in readers {
        r.expect_success(PROGRESS_TIMEOUT);
    }

    let (value, version) = t.latest.read_versioned();
    assert_eq!(value.number(), Some(version), "the final value is a whole stamp");
    let recoveries = t.latest.writer_recoveries();
    eprintln!(
        "{kills} kills in {:?}: {version} writes, {held_deaths} kills of a lock holder, \
         {recoveries} take-overs, reads {:?}, slowest read {:?} us",
        started.elapsed(),
        t.reads.iter().map(AtomicCounter::get).collect::<Vec<_>>(),
        t.slowest_read_us.iter().map(AtomicCounter::get).collect::<Vec<_>>(),
    );
    assert_eq!(recoveries, held_deaths, "one take-over per death of a lock holder");
    for slot in 0..READERS {
        assert!(t.reads[slot].get() > 0, "reader {slot} never read");
    }
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn writer_kill_torture_short() {
    torture(40);
}

#[test]
#[ignore = "long: SIGKILLs 1000 writers (SHMSYNC_TORTURE_KILLS to change)"]
fn writer_kill_torture() {
    torture(kills_from_env(1000));
}
