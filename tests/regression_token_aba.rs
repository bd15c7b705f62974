//! Regression: a live owner robbed through ABA on the death proof.
//!
//! A process that let go of its last handle of a segment used to release
//! its token there. A waiter that tested the token in that window took the
//! owner for dead; the owner then re-opened the segment and locked again
//! with the very same lock word, and the waiter's recovery CAS (judged on
//! the old word) succeeded: two processes inside the lock, and an
//! `OwnerDied` with nobody dead. A process now keeps its token on every
//! object it has mapped, for as long as it lives and the object has a name.
//!
//! Nobody dies in this test, so every `OwnerDied` and every overlap is a
//! live owner robbed.

use shmsync_support as support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmsync::{LockError, Segment, ShmMutex, ShmSafe};

#[derive(ShmSafe)]
#[repr(C)]
struct Shared {
    lock: ShmMutex<u64>,
    /// Set by the cycling process while it is inside the lock.
    inside: AtomicU64,
    /// `OwnerDied` reports and overlaps seen by the waiters.
    robbed: AtomicU64,
    /// Waiter acquisitions and cycles of the reopening process.
    acquisitions: AtomicU64,
    cycles: AtomicU64,
    stop: AtomicU64,
}

/// How long the processes race. The bug showed ~10 robberies a second on a
/// 2-core machine; a fixed duration, not a sleep papering over a race.
const RACE_FOR: Duration = Duration::from_secs(3);

#[test]
fn child_entry() {
    support::run_child(|role, args| {
        let name = &args[0];
        match role {
            // Opens, locks, stays inside ~20 µs, unlocks and drops the
            // handle, over and over: the window where it holds no handle.
            "reopen_and_lock" => loop {
                // No other handle in this process: between two cycles it
                // maps nothing, which is the window the bug needed.
                let seg = Segment::<Shared>::open(name).expect("open never fails here");
                if seg.stop.load(Ordering::SeqCst) != 0 {
                    break;
                }
                let mut g = seg.lock.lock().unwrap_or_else(|e| {
                    panic!("the cycling process was robbed or reported: {e:?}")
                });
                seg.inside.store(1, Ordering::SeqCst);
                *g += 1;
                let t = Instant::now();
                while t.elapsed() < Duration::from_micros(20) {}
                seg.inside.store(0, Ordering::SeqCst);
                drop(g);
                seg.cycles.fetch_add(1, Ordering::SeqCst);
            },
            "wait_and_lock" => {
                let seg = Segment::<Shared>::open(name).expect("open");
                while seg.stop.load(Ordering::SeqCst) == 0 {
                    let g = match seg.lock.lock() {
                        Ok(g) => g,
                        Err(LockError::OwnerDied(mut g)) => {
                            seg.robbed.fetch_add(1, Ordering::SeqCst);
                            shmsync::ShmMutexGuard::make_consistent(&mut g);
                            g
                        }
                        Err(LockError::NotRecoverable) => panic!("not recoverable"),
                    };
                    if seg.inside.load(Ordering::SeqCst) == 1 {
                        seg.robbed.fetch_add(1, Ordering::SeqCst);
                    }
                    seg.acquisitions.fetch_add(1, Ordering::SeqCst);
                    drop(g);
                }
            }
            // In a private mount namespace: the object stays reachable under
            // a second name (a bind mount) after its own name is unlinked.
            "open_after_unlink_through_a_bind_mount" => {
                let second = format!("{name}-bound");
                let (from, to) = (format!("/dev/shm/{name}"), format!("/dev/shm/{second}"));
                std::fs::write(&to, b"").expect("mount point");
                if !support::command_succeeds("mount", &["--bind", &from, &to]) {
                    let _ = std::fs::remove_file(&to);
                    std::process::exit(support::SKIP_STATUS);
                }
                shmsync::unlink(name).expect("unlink the first name");
                // The object is still there, by the second name; but it has
                // no name of its own left, so a process that let go of its
                // token on it must not be able to hold that token again.
                match Segment::<Shared>::open(&second) {
                    Err(shmsync::Error::NotFound { .. }) => {}
                    other => panic!("an unlinked object was attached again: {other:?}"),
                }
            }
            other => panic!("unknown role {other}"),
        }
    });
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn an_owner_that_reopens_the_segment_is_never_taken_for_dead() {
    let name = support::unique_name("aba");
    let seg = Segment::<Shared>::create(&name).expect("create");
    let children = [
        support::spawn("child_entry", "reopen_and_lock", &[&name]),
        support::spawn("child_entry", "wait_and_lock", &[&name]),
        support::spawn("child_entry", "wait_and_lock", &[&name]),
    ];
    std::thread::sleep(RACE_FOR);
    seg.stop.store(1, Ordering::SeqCst);
    for child in children {
        child.expect_success(Duration::from_secs(30));
    }
    let cycles = seg.cycles.load(Ordering::SeqCst);
    let acquisitions = seg.acquisitions.load(Ordering::SeqCst);
    assert!(cycles > 100 && acquisitions > 100, "too little contention: {cycles}, {acquisitions}");
    assert_eq!(seg.robbed.load(Ordering::SeqCst), 0, "a live owner was taken for dead");
}

/// The same ABA through a path that outlives the name: a bind mount (as
/// `docker run -v /dev/shm/a:/dev/shm/b` makes). Attaching an object that
/// has no name left is refused, since this process may have let go of its
/// token on it.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn an_object_whose_name_is_gone_is_not_attached_again() {
    const TEST: &str = "an_object_whose_name_is_gone_is_not_attached_again";
    if !support::command_succeeds("unshare", &["-m", "--propagation", "private", "true"]) {
        support::report_skip(TEST, "unshare -m is refused here (needs root or user namespaces)");
        return;
    }
    let name = support::unique_name("bound");
    let seg = Segment::<Shared>::options().unlink_on_drop(false).create(&name).expect("create");
    let child = support::spawn_under(
        &["unshare", "-m", "--propagation", "private", "--"],
        "child_entry",
        "open_after_unlink_through_a_bind_mount",
        &[&name],
    );
    let status = child.wait_timeout(Duration::from_secs(30));
    drop(seg);
    let _ = shmsync::unlink(&name);
    // The child's mount point (an empty file in the shared /dev/shm).
    let _ = std::fs::remove_file(format!("/dev/shm/{name}-bound"));
    if status.code() == Some(support::SKIP_STATUS) {
        support::report_skip(TEST, "mount --bind is refused in the new mount namespace");
        return;
    }
    assert!(status.success(), "the child attached an unlinked object: {status:?}");
}
