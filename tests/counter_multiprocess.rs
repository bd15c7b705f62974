//! Counters across real processes: 4 processes × 1 000 000 increments, on
//! one `AtomicCounter` and on one `ShardedCounter`, give exact totals.

use shmsync::{AtomicCounter, Segment, ShardedCounter, ShmBarrier, ShmSafe};
use std::time::Duration;

use shmsync_support as support;

const PROCESSES: u64 = 4;
const EACH: u64 = 1_000_000;
const TIMEOUT: Duration = Duration::from_secs(60);

#[derive(ShmSafe)]
#[repr(C)]
struct Counters {
    atomic: AtomicCounter,
    sharded: ShardedCounter,
    /// The children and the test start together, so they really overlap.
    start: ShmBarrier,
}

#[test]
fn child_entry() {
    support::run_child(|role, args| {
        let seg = Segment::<Counters>::open(&args[0]).expect("open segment");
        let n: u64 = args[1].parse().expect("count");
        support::start_together(&seg.start, TIMEOUT);
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
    let name = support::unique_name(&format!("counter-{role}"));
    let seg = Segment::<Counters>::create_with(&name, |c| {
        c.start = ShmBarrier::new(PROCESSES as usize + 1);
    })
    .expect("create segment");
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| support::spawn("child_entry", role, &[&name, &EACH.to_string()]))
        .collect();
    support::start_together(&seg.start, TIMEOUT);
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
