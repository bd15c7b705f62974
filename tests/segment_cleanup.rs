//! The "last one out" rule (`SegmentOptions::unlink_when_unused`): the last
//! handle to close, in any process, removes the name; processes that crash
//! leave it to whoever closes last; a concurrent opener never attaches to a
//! removed object.

use shmsync_support as support;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::Duration;

use shmsync::{AtomicCounter, Error, Segment, ShmSafe};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Taken by every test: a process starting a child holds copies of all its
/// descriptors until the child's `exec`, and with them their locks, which
/// makes a last handle closing at that instant keep the name (documented
/// on `unlink_when_unused`). The race test must not see other tests'
/// spawns.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(ShmSafe)]
#[repr(C)]
struct Group {
    members: AtomicCounter,
    marker: AtomicU64,
}

fn exists(name: &str) -> bool {
    Path::new(&format!("/dev/shm/{name}")).exists()
}

#[test]
fn child_entry() {
    support::run_child(|role, args| match role {
        // Joins the group (the first one creates it), then waits: to be
        // killed, or for a line on stdin to leave normally.
        "join_then_wait" => {
            let seg = Segment::<Group>::options()
                .unlink_when_unused(true)
                .open_or_create(&args[0])
                .expect("join");
            seg.members.incr();
            support::reached("joined");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).expect("stdin");
            drop(seg);
            support::reached("left");
        }
        other => panic!("unknown role {other}"),
    });
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn when_all_but_the_last_member_are_killed_the_last_one_out_removes_the_name() {
    let _serial = one_at_a_time();
    let name = support::unique_name("last-out");
    let mut members: Vec<_> = (0..3)
        .map(|_| {
            let mut child = support::spawn("child_entry", "join_then_wait", &[&name]);
            child.wait_for("joined", TIMEOUT);
            child
        })
        .collect();
    let last = members.pop().expect("three members");
    for killed in members {
        killed.kill();
    }
    assert!(exists(&name), "a member is still attached");
    let mut last = last;
    last.send_line("leave");
    last.wait_for("left", TIMEOUT);
    last.expect_success(TIMEOUT);
    assert!(!exists(&name), "the last member out removed the name");
    assert!(matches!(Segment::<Group>::open(&name), Err(Error::NotFound { .. })));
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn a_killed_last_member_leaves_the_name_for_gc() {
    let _serial = one_at_a_time();
    let name = support::unique_name("last-killed");
    let child = {
        let mut c = support::spawn("child_entry", "join_then_wait", &[&name]);
        c.wait_for("joined", TIMEOUT);
        c
    };
    child.kill();
    // Nobody closed it: the rule cannot run, the name stays, and it is
    // stale for `remove_stale`.
    assert!(exists(&name));
    let stale = shmsync::inspect::list().expect("list").into_iter().find(|s| s.name == name);
    let stale = stale.expect("listed");
    assert!(!stale.attached && stale.unlink_when_unused);
    shmsync::inspect::remove(&name, shmsync::inspect::Removal::IfUnused).expect("remove");
}

#[test]
fn the_rule_is_in_the_header_so_plain_openers_follow_it() {
    let _serial = one_at_a_time();
    let name = support::unique_name("last-out-plain");
    let creator =
        Segment::<Group>::options().unlink_when_unused(true).create(&name).expect("create");
    // Opened without the option, and the creator (which would unlink on
    // drop by default) leaves first: the opener is the last one out.
    let opener = Segment::<Group>::open(&name).expect("open");
    drop(creator);
    assert!(Segment::<Group>::open(&name).is_ok(), "still in use: the owner did not unlink");
    drop(opener);
    assert!(matches!(Segment::<Group>::open(&name), Err(Error::NotFound { .. })));
}

/// One handle closes while another thread opens the name: the opener gets
/// either the old segment (which it then keeps, name and all) or a new
/// one, and the name always leads to the segment it holds; once both are
/// closed the name is gone.
#[test]
fn an_opener_racing_the_last_close_never_holds_a_removed_segment() {
    let _serial = one_at_a_time();
    let rounds = if cfg!(miri) { 5 } else { 300 };
    let name = support::unique_name("last-out-race");
    let options = Segment::<Group>::options().unlink_when_unused(true);
    let start = Barrier::new(2);
    let (mut reused, mut recreated) = (0, 0);
    for round in 1..=rounds {
        let leaving = options.open_or_create(&name).expect("first handle");
        leaving.marker.store(round, Ordering::Relaxed);
        let outcome = std::thread::scope(|s| {
            s.spawn(|| {
                start.wait();
                drop(leaving);
            });
            start.wait();
            let joining = options.open_or_create(&name).expect("second handle");
            let old = joining.marker.load(Ordering::Relaxed) == round;
            // Mark what we hold, then check the name leads to it.
            joining.marker.store(u64::MAX - round, Ordering::Relaxed);
            let again = Segment::<Group>::open(&name).expect("the name must lead to our segment");
            assert_eq!(again.marker.load(Ordering::Relaxed), u64::MAX - round, "round {round}");
            old
        });
        if outcome {
            reused += 1;
        } else {
            recreated += 1;
        }
        let after = Segment::<Group>::open(&name).map(|_| ());
        assert!(
            matches!(after, Err(Error::NotFound { .. })),
            "round {round}: every handle closed, the name must be gone (reused: {outcome}): {after:?}"
        );
    }
    println!("{rounds} rounds: {reused} reused the old segment, {recreated} made a new one");
}
