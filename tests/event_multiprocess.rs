//! `ShmEvent` across real processes: a set by another process wakes every
//! waiter in several processes; an auto-reset set releases one waiter of
//! any process; a waiter killed while it sleeps leaves a usable event.

use shmsync::{Segment, ShmEvent, ShmSafe};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use shmsync_support as support;

use support::{gettid, wait_until_blocked_in_futex};

const PROCESSES: usize = 3;
const THREADS: usize = 2;
/// Bound for every "the other processes get there" wait.
const PROGRESS: Duration = Duration::from_secs(20);

#[derive(ShmSafe)]
#[repr(C)]
struct Shared {
    manual: ShmEvent,
    auto: ShmEvent,
    /// The waiting threads' ids, per process and thread.
    tids: [[AtomicU32; THREADS]; PROCESSES],
    /// Waits that returned.
    returned: AtomicU32,
}

#[test]
fn child_entry() {
    support::run_child(|role, args| {
        let seg = Segment::<Shared>::open(&args[0]).expect("open segment");
        match role {
            "wait" | "wait_auto" => {
                let index: usize = args[1].parse().expect("process index");
                let event = if role == "wait" { &seg.manual } else { &seg.auto };
                std::thread::scope(|s| {
                    for t in 0..THREADS {
                        let seg = &seg;
                        s.spawn(move || {
                            seg.tids[index][t].store(gettid(), Ordering::SeqCst);
                            event.wait();
                            seg.returned.fetch_add(1, Ordering::SeqCst);
                        });
                    }
                });
            }
            "set" => seg.manual.set(),
            other => panic!("unknown role {other}"),
        }
    });
}

fn create(tag: &str) -> (String, Segment<Shared>) {
    let name = support::unique_name(tag);
    let seg = Segment::<Shared>::create_with(&name, |s| s.auto = ShmEvent::new_auto_reset())
        .expect("create segment");
    (name, seg)
}

/// Starts `PROCESSES` children whose threads all wait on the event the
/// role names, and waits until every one of those threads is asleep.
fn start_waiting_processes(name: &str, seg: &Shared, role: &str) -> Vec<support::ChildProcess> {
    let children: Vec<_> = (0..PROCESSES)
        .map(|i| support::spawn("child_entry", role, &[name, &i.to_string()]))
        .collect();
    for (i, child) in children.iter().enumerate() {
        for t in 0..THREADS {
            support::wait_until("the waiter reports its thread id", PROGRESS, || {
                seg.tids[i][t].load(Ordering::SeqCst) != 0
            });
            wait_until_blocked_in_futex(
                child.pid(),
                seg.tids[i][t].load(Ordering::SeqCst),
                PROGRESS,
            );
        }
    }
    children
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn an_event_set_by_another_process_wakes_every_waiter_in_several_processes() {
    let (name, seg) = create("event-mp-manual");
    let waiters = start_waiting_processes(&name, &seg, "wait");
    assert_eq!(seg.returned.load(Ordering::SeqCst), 0, "nobody passes an unset event");
    support::spawn("child_entry", "set", &[&name]).expect_success(PROGRESS);
    for w in waiters {
        w.expect_success(PROGRESS);
    }
    assert_eq!(seg.returned.load(Ordering::SeqCst), (PROCESSES * THREADS) as u32);
    assert!(seg.manual.is_set());
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn an_auto_reset_set_releases_one_waiter_of_any_process() {
    let (name, seg) = create("event-mp-auto");
    let waiters = start_waiting_processes(&name, &seg, "wait_auto");
    let all = (PROCESSES * THREADS) as u32;
    for released in 1..=all {
        seg.auto.set();
        support::wait_until("one more waiter returned", PROGRESS, || {
            seg.returned.load(Ordering::SeqCst) == released
        });
        // The others, woken too, are asleep again without passing.
        let asleep = || {
            waiters
                .iter()
                .enumerate()
                .flat_map(|(i, c)| seg.tids[i].iter().map(move |t| (c.pid(), t)))
                .filter(|(pid, t)| support::blocked_in_futex(*pid, t.load(Ordering::SeqCst)))
                .count() as u32
        };
        support::wait_until("the others sleep again", PROGRESS, || asleep() == all - released);
        assert_eq!(seg.returned.load(Ordering::SeqCst), released, "one set, one waiter");
    }
    for w in waiters {
        w.expect_success(PROGRESS);
    }
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn a_waiter_killed_in_its_sleep_leaves_a_usable_event() {
    let (name, seg) = create("event-mp-kill");
    let mut waiters = start_waiting_processes(&name, &seg, "wait_auto");
    let killed = waiters.remove(0);
    killed.kill();
    // Every set still reaches a live waiter.
    for released in 1..=((PROCESSES - 1) * THREADS) as u32 {
        seg.auto.set();
        support::wait_until("a live waiter returned", PROGRESS, || {
            seg.returned.load(Ordering::SeqCst) == released
        });
    }
    for w in waiters {
        w.expect_success(PROGRESS);
    }
}
