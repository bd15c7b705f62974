//! `SeqLock` across real processes: torn reads, serialized updates, and a
//! writer SIGKILLed while it holds the writer lock.

use shmsync::bytemuck::Zeroable;
use shmsync::{AtomicCounter, Segment, SeqLock, ShmBarrier, ShmSafe};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use shmsync_support as support;

use support::Stamped;

/// How long the readers of the torn-read test read.
const READ_FOR: Duration = Duration::from_secs(2);
/// The children of a test that start together with it.
const CHILDREN: usize = 3;
/// Bound for every "the other processes get there" wait.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(ShmSafe)]
#[repr(C)]
struct Shared {
    latest: SeqLock<Stamped>,
    /// `update` results: a counter inside the value, plus a check word.
    tally: SeqLock<[u64; 4]>,
    /// Distinct values each reader saw.
    advances: [AtomicCounter; 2],
    /// Reads each reader made.
    reads: [AtomicCounter; 2],
    /// Where the three children of a test and the test itself start
    /// together.
    start: ShmBarrier,
    stop: AtomicU32,
}

fn open(name: &str) -> Segment<Shared> {
    Segment::<Shared>::open(name).expect("open segment")
}

fn create(tag: &str) -> (String, Segment<Shared>) {
    let name = support::unique_name(tag);
    let seg = Segment::<Shared>::create_with(&name, |s| {
        s.latest = SeqLock::new(Stamped::new(0));
        s.start = ShmBarrier::new(CHILDREN + 1);
    })
    .expect("create segment");
    (name, seg)
}

/// Writes stamps `n + 1, n + 2, …` as fast as it can until told to stop.
fn write_fast(s: &Shared) {
    support::start_together(&s.start, PROGRESS_TIMEOUT);
    let mut n = s.latest.read().number().expect("the initial value is a stamp");
    while s.stop.load(Ordering::Relaxed) == 0 {
        n += 1;
        s.latest.write(Stamped::new(n)).expect("write");
    }
}

/// Reads for `READ_FOR`: every value must be a whole stamp, whose number is
/// its version, and never smaller than the previous one.
fn read_and_check(s: &Shared, slot: usize) {
    support::start_together(&s.start, PROGRESS_TIMEOUT);
    let end = Instant::now() + READ_FOR;
    let mut last = 0;
    while Instant::now() < end {
        let (value, version) = s.latest.read_versioned();
        let n = value.number().unwrap_or_else(|| panic!("torn read at version {version}"));
        assert_eq!(n, version, "write n publishes version n");
        assert!(n >= last, "went backwards from {last} to {n}");
        if n != last {
            s.advances[slot].incr();
        }
        last = n;
        s.reads[slot].incr();
    }
}

fn update_many(s: &Shared, times: u64) {
    support::start_together(&s.start, PROGRESS_TIMEOUT);
    for _ in 0..times {
        s.tally
            .update(|v| {
                // A read-modify-write that is only exact if writers are
                // serialized, with a second field checked against the first.
                v[0] += 1;
                v[1] = v[0] * 3;
                v[2] += 2;
                v[3] = v[3].wrapping_add(v[0]);
            })
            .expect("update");
    }
}

#[test]
fn child_entry() {
    support::run_child(|role, args| {
        let seg = open(&args[0]);
        match role {
            "write_fast" => write_fast(&seg),
            "read" => read_and_check(&seg, args[1].parse().expect("slot")),
            "update" => update_many(&seg, args[1].parse().expect("count")),
            "die_in_update" => {
                seg.latest
                    .update(|v| {
                        // Half-written in the private copy; then die holding
                        // the writer lock.
                        v.words[0] = u64::MAX;
                        support::reached("holding_writer_lock");
                        support::park_forever()
                    })
                    .expect("update");
            }
            other => panic!("unknown role {other}"),
        }
    });
}

#[test]
fn stamps_detect_mixed_words() {
    let a = Stamped::new(41);
    let b = Stamped::new(42);
    assert_eq!(a.number(), Some(41));
    let mut torn = a;
    torn.words[5] = b.words[5];
    assert_eq!(torn.number(), None);
    torn = b;
    torn.words[31] = a.words[31];
    assert_eq!(torn.number(), None);
    assert_eq!(Stamped::zeroed().number(), None);
}

/// A writer process writes 256-byte stamps as fast as it can while two
/// reader processes read for 2 s: no torn value, no value older than the one
/// before, and each reader sees the value advance.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn readers_in_two_processes_never_see_a_torn_value() {
    let (name, seg) = create("seqlock-torn");
    let writer = support::spawn("child_entry", "write_fast", &[&name]);
    let readers: Vec<_> = (0..CHILDREN - 1)
        .map(|slot| support::spawn("child_entry", "read", &[&name, &slot.to_string()]))
        .collect();
    support::start_together(&seg.start, PROGRESS_TIMEOUT);
    for r in readers {
        r.expect_success(READ_FOR + PROGRESS_TIMEOUT);
    }
    seg.stop.store(1, Ordering::Relaxed);
    writer.expect_success(PROGRESS_TIMEOUT);

    let final_number = seg.latest.read().number().expect("whole stamp");
    assert_eq!(final_number, seg.latest.version());
    for slot in 0..2 {
        let (advances, reads) = (seg.advances[slot].get(), seg.reads[slot].get());
        eprintln!("reader {slot}: {reads} reads, {advances} advances; {final_number} writes");
        assert!(advances > 1, "reader {slot} never saw the value advance ({reads} reads)");
    }
}

/// Three processes × 10 000 `update`s of a counter inside the value: the
/// total is exact, so writers really are serialized.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn updates_from_three_processes_are_exact() {
    const EACH: u64 = 10_000;
    let (name, seg) = create("seqlock-update");
    let children: Vec<_> = (0..CHILDREN)
        .map(|_| support::spawn("child_entry", "update", &[&name, &EACH.to_string()]))
        .collect();
    support::start_together(&seg.start, PROGRESS_TIMEOUT);
    for c in children {
        c.expect_success(PROGRESS_TIMEOUT);
    }
    let total = 3 * EACH;
    let expected_sum = total * (total + 1) / 2;
    assert_eq!(seg.tally.read(), [total, 3 * total, 2 * total, expected_sum]);
    assert_eq!(seg.tally.version(), total);
    assert_eq!(seg.tally.writer_recoveries(), 0);
}

/// A writer SIGKILLed inside `update`, holding the writer lock: readers go
/// on reading the last complete value without waiting, the next writer
/// takes over from that value, and the take-over is counted.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn writer_killed_holding_the_lock_is_replaced_and_counted() {
    let (name, seg) = create("seqlock-kill");
    seg.latest.write(Stamped::new(1)).expect("write");
    let mut child = support::spawn("child_entry", "die_in_update", &[&name]);
    child.wait_for("holding_writer_lock", PROGRESS_TIMEOUT);
    child.kill();

    // Readers: the last complete value, at once, not the dead writer's.
    assert_eq!(seg.latest.try_read(1).and_then(|v| v.number()), Some(1));
    assert_eq!(seg.latest.version(), 1);
    assert_eq!(seg.latest.writer_recoveries(), 0, "nobody has taken over yet");

    // The next writer takes over from the last complete value.
    let next = seg
        .latest
        .update(|v| {
            let n = v.number().expect("the dead writer's private copy is not visible");
            *v = Stamped::new(n + 1);
            n
        })
        .expect("take over");
    assert_eq!(next, 1);
    assert_eq!(seg.latest.read().number(), Some(2));
    assert_eq!(seg.latest.version(), 2);
    assert_eq!(seg.latest.writer_recoveries(), 1);

    // The lock is clean again: a normal write does not count another one.
    seg.latest.write(Stamped::new(3)).expect("write");
    assert_eq!(seg.latest.writer_recoveries(), 1);
}

/// A live writer that never lets go (here: parked inside `update`; equally a
/// broken peer that wrote a live-looking owner into the writer lock) makes
/// `write` wait, but `try_write`/`try_update` report `WouldBlock` and the
/// `_timeout` forms `TimedOut`, leaving the value unchanged; once the
/// writer dies, they take over.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn try_and_timeout_writes_report_a_live_writer_that_never_lets_go() {
    use shmsync::{SeqLockTimeoutError, TrySeqLockError};
    let (name, seg) = create("seqlock-try");
    seg.latest.write(Stamped::new(1)).expect("write");
    let mut child = support::spawn("child_entry", "die_in_update", &[&name]);
    child.wait_for("holding_writer_lock", PROGRESS_TIMEOUT);

    assert_eq!(seg.latest.try_write(Stamped::new(7)), Err(TrySeqLockError::WouldBlock));
    assert_eq!(
        seg.latest.try_update(|_| unreachable!("not called")),
        Err(TrySeqLockError::WouldBlock)
    );
    let started = Instant::now();
    assert_eq!(
        seg.latest.write_timeout(Stamped::new(7), Duration::from_millis(200)),
        Err(SeqLockTimeoutError::TimedOut)
    );
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(
        seg.latest.update_timeout(Duration::from_millis(50), |_| unreachable!("not called")),
        Err(SeqLockTimeoutError::TimedOut)
    );
    assert_eq!(seg.latest.read().number(), Some(1), "failed writes change nothing");
    assert!(SeqLockTimeoutError::TimedOut.to_string().contains("timed out"));

    child.kill();
    seg.latest
        .write_timeout(Stamped::new(2), PROGRESS_TIMEOUT)
        .expect("a dead writer is taken over within the timeout");
    assert_eq!(seg.latest.read().number(), Some(2));
    assert_eq!(seg.latest.writer_recoveries(), 1);
    assert_eq!(seg.latest.try_write(Stamped::new(3)), Ok(()));
}
