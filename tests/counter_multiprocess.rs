//! Counters across real processes: 4 processes × 1 000 000 increments, on
//! one `AtomicCounter` and on one `ShardedCounter`, give exact totals.

use shmsync::{AtomicCounter, Segment, ShardedCounter, ShmSafe};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

mod common;

const PROCESSES: u64 = 4;
const EACH: u64 = 1_000_000;
const TIMEOUT: Duration = Duration::from_secs(60);

#[derive(ShmSafe)]
#[repr(C)]
struct Counters {
    atomic: AtomicCounter,
    sharded: ShardedCounter,
    /// Children ready to start (a start barrier, so they really overlap).
    ready: AtomicCounter,
    go: AtomicU32,
}

fn start_together(c: &Counters) {
    c.ready.incr();
    while c.go.load(Ordering::Acquire) == 0 {
        std::thread::yield_now();
    }
}

#[test]
fn child_entry() {
    common::run_child(|role, args| {
        let seg = Segment::<Counters>::open(&args[0]).expect("open segment");
        let n: u64 = args[1].parse().expect("count");
        start_together(&seg);
        match role {
            "atomic" => {
                for _ in 0..n {
                    seg.atomic.incr();
                }
            }
            "sharded" => {
                for _ in 0..n {
                    seg.sharded.incr();
                }
            }
            other => panic!("unknown role {other}"),
        }
    });
}

fn run(role: &str) -> Segment<Counters> {
    let name = common::unique_name(&format!("counter-{role}"));
    let seg = Segment::<Counters>::create(&name).expect("create segment");
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| common::spawn("child_entry", role, &[&name, &EACH.to_string()]))
        .collect();
    let deadline = Instant::now() + TIMEOUT;
    while seg.ready.get() < PROCESSES {
        assert!(Instant::now() < deadline, "children did not start");
        std::thread::sleep(Duration::from_millis(1));
    }
    seg.go.store(1, Ordering::Release);
    for c in children {
        c.expect_success(TIMEOUT);
    }
    seg
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn four_processes_atomic_counter_is_exact() {
    let seg = run("atomic");
    assert_eq!(seg.atomic.get(), PROCESSES * EACH);
    assert_eq!(seg.sharded.sum(), 0, "the other counter is untouched");
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn four_processes_sharded_counter_sum_is_exact_after_join() {
    let seg = run("sharded");
    assert_eq!(seg.sharded.sum(), PROCESSES * EACH);
    assert_eq!(seg.atomic.get(), 0, "the other counter is untouched");
}
