//! Multi-process behaviour of segments: the `open_or_create` race, a
//! creator killed while initializing, openers waiting for a slow creator,
//! and attachment liveness through OFD locks.

use shmsync_support as support;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmsync::{Error, Segment, ShmBarrier, ShmSafe};

/// Rounds of the `open_or_create` race; override with `SHMSYNC_RACE_ROUNDS`
/// (at most `MAX_ROUNDS`).
const DEFAULT_ROUNDS: usize = 200;
const MAX_ROUNDS: usize = 1024;
const RACERS: u32 = 4;

#[derive(ShmSafe)]
#[repr(C)]
struct Control {
    /// The racers meet here twice per round.
    gate: ShmBarrier,
    /// How many initializers ran, per round.
    inits: [AtomicU32; MAX_ROUNDS],
    /// How many handles reported `is_owner`, per round.
    owners: [AtomicU32; MAX_ROUNDS],
    /// How many processes saw the initializer's value, per round.
    saw_init: [AtomicU32; MAX_ROUNDS],
}

#[derive(ShmSafe)]
#[repr(C)]
struct Round {
    stamp: u64,
    hits: AtomicU64,
}

fn stamp(round: usize) -> u64 {
    0xC0FF_EE00_0000_0000 | round as u64
}

fn rounds() -> usize {
    std::env::var("SHMSYNC_RACE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_ROUNDS)
        .min(MAX_ROUNDS)
}

/// Waits until every racer arrived (what a racer did before arriving is
/// visible to every racer after).
fn meet(racer: &mut shmsync::BarrierParty<'_>, round: usize) {
    racer
        .wait_timeout(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("round {round}: the racers never all met: {e}"));
}

#[test]
fn child_entry() {
    support::run_child(|role, args| match role {
        "race" => {
            let control: Segment<Control> = Segment::open(&args[0]).expect("open control");
            let rounds: usize = args[2].parse().expect("rounds");
            let mut racer = control.gate.join().expect("a place at the gate");
            for r in 0..rounds {
                meet(&mut racer, r);
                let name = format!("{}-{r}", args[1]);
                let seg = Segment::<Round>::open_or_create_with(&name, |s| {
                    if r % 2 == 1 {
                        // The scenario in odd rounds: a slow initializer, so
                        // that the others arrive while it runs and must wait.
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    s.stamp = stamp(r);
                    control.inits[r].fetch_add(1, Ordering::Relaxed);
                })
                .unwrap_or_else(|e| panic!("round {r}: {e}"));
                if seg.stamp == stamp(r) {
                    control.saw_init[r].fetch_add(1, Ordering::Relaxed);
                }
                if seg.is_owner() {
                    control.owners[r].fetch_add(1, Ordering::Relaxed);
                }
                seg.hits.fetch_add(1, Ordering::Relaxed);
                // Everyone holds the segment before the owner's drop unlinks it.
                meet(&mut racer, r);
                drop(seg);
            }
        }
        "die_in_init" => {
            let _ = Segment::<Round>::create_with(&args[0], |s| {
                s.stamp = 1;
                support::reached("in-init");
                support::park_forever()
            });
        }
        "slow_init" => {
            let seg = Segment::<Round>::options()
                .unlink_on_drop(false)
                .create_with(&args[0], |s| {
                    support::reached("in-init");
                    // The scenario: initialization takes a while.
                    std::thread::sleep(Duration::from_millis(300));
                    s.stamp = 77;
                })
                .expect("create");
            drop(seg);
        }
        "attach_and_park" => {
            let _seg: Segment<Round> = Segment::open(&args[0]).expect("open");
            support::reached("attached");
            support::park_forever()
        }
        other => panic!("unknown role {other}"),
    });
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn open_or_create_race_has_exactly_one_creator_per_round() {
    let rounds = rounds();
    let control_name = support::unique_name("race-control");
    let base = support::unique_name("race");
    let control = Segment::<Control>::create_with(&control_name, |c| {
        c.gate = ShmBarrier::new(RACERS as usize);
    })
    .expect("control");
    let rounds_arg = rounds.to_string();
    let children: Vec<_> = (0..RACERS)
        .map(|_| support::spawn("child_entry", "race", &[&control_name, &base, &rounds_arg]))
        .collect();
    for child in children {
        child.expect_success(Duration::from_secs(120));
    }
    for r in 0..rounds {
        assert_eq!(control.inits[r].load(Ordering::Relaxed), 1, "round {r}: initializers");
        assert_eq!(control.owners[r].load(Ordering::Relaxed), 1, "round {r}: owners");
        assert_eq!(control.saw_init[r].load(Ordering::Relaxed), RACERS, "round {r}: saw init");
        // The owner's drop removed the round's name.
        let name = format!("{base}-{r}");
        assert!(matches!(Segment::<Round>::open(&name), Err(Error::NotFound { .. })), "round {r}");
    }
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn creator_killed_during_init_gives_creator_died_and_open_or_create_recovers() {
    let name = support::unique_name("killed-creator");
    let mut child = support::spawn("child_entry", "die_in_init", &[&name]);
    let child_pid = child.pid();
    child.wait_for("in-init", Duration::from_secs(20));

    // While the creator lives, openers wait, bounded by the timeout.
    let timeout = Duration::from_millis(300);
    match Segment::<Round>::options().open_timeout(timeout).open(&name) {
        Err(Error::InitTimeout { timeout: t, .. }) => assert_eq!(t, timeout),
        other => panic!("expected InitTimeout while the creator lives, got {other:?}"),
    }
    assert!(shmsync::is_attached(&name).expect("is_attached"));

    child.kill();
    let started = Instant::now();
    match Segment::<Round>::open(&name) {
        Err(Error::CreatorDied { pid, .. }) => assert_eq!(pid, child_pid),
        other => panic!("expected CreatorDied, got {other:?}"),
    }
    // Immediate, not after the 5 s default timeout (generous bound: a hang check).
    assert!(started.elapsed() < Duration::from_secs(4), "open waited {:?}", started.elapsed());

    let seg = Segment::<Round>::open_or_create_with(&name, |s| s.stamp = 42).expect("take over");
    assert!(seg.is_owner(), "the taker initialized it");
    assert_eq!(seg.stamp, 42);
    let other: Segment<Round> = Segment::open(&name).expect("open after recovery");
    assert_eq!(other.stamp, 42);
    drop(other);
    drop(seg);
    assert!(matches!(Segment::<Round>::open(&name), Err(Error::NotFound { .. })));
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn opener_waits_for_a_slow_creator() {
    let name = support::unique_name("slow-creator");
    let mut child = support::spawn("child_entry", "slow_init", &[&name]);
    child.wait_for("in-init", Duration::from_secs(20));
    let seg: Segment<Round> = Segment::open(&name).expect("open waits for the creator");
    assert_eq!(seg.stamp, 77, "the opener sees the finished initialization");
    child.expect_success(Duration::from_secs(20));
    drop(seg);
    shmsync::unlink(&name).expect("unlink");
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn attachment_liveness_follows_a_killed_process() {
    let name = support::unique_name("liveness");
    drop(Segment::<Round>::options().unlink_on_drop(false).create(&name).expect("create"));
    // Not a one-shot assert: another test of this process that is spawning
    // a child holds a copy of our descriptor until its exec (see
    // `is_attached`), so "detached" may take a moment.
    wait_until_detached(&name, "nobody attached yet");

    let mut child = support::spawn("child_entry", "attach_and_park", &[&name]);
    child.wait_for("attached", Duration::from_secs(20));
    assert!(shmsync::is_attached(&name).expect("is_attached"), "the child holds it");

    child.kill();
    wait_until_detached(&name, "still attached 1 s after SIGKILL");
    shmsync::unlink(&name).expect("unlink");
}

/// Polls `is_attached` until it says `false`; panics with `what` after 1 s.
fn wait_until_detached(name: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while shmsync::is_attached(name).expect("is_attached") {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn is_attached_counts_this_processes_handles() {
    let name = support::unique_name("own-handles");
    let owner = Segment::<Round>::options().unlink_on_drop(false).create(&name).expect("create");
    let opener: Segment<Round> = Segment::open(&name).expect("open");
    assert!(shmsync::is_attached(&name).expect("is_attached"));
    drop(owner);
    assert!(shmsync::is_attached(&name).expect("is_attached"), "the opener still holds it");
    drop(opener);
    wait_until_detached(&name, "attached after every handle was dropped");
    shmsync::unlink(&name).expect("unlink");
    assert!(matches!(shmsync::is_attached(&name), Err(Error::NotFound { .. })));
}
