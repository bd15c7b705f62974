//! A forked child's copy of an owner's handle is not the owner: dropping it
//! must leave the segment's name alone. Otherwise the parent's segment
//! vanishes under it (`open` gives `NotFound`) and the next
//! `open_or_create` makes a second object, silently splitting the
//! processes.
//!
//! The test harness runs tests on several threads, where `fork` is unsound;
//! so the test re-executes this binary as a child role, which forks.

use shmsync_support as support;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use shmsync::{AtomicCounter, Segment, ShmSafe};

const TIMEOUT: Duration = Duration::from_secs(30);

/// The forked copy's exit statuses.
const COPY_OK: i32 = 0;
const COPY_CLAIMED_OWNERSHIP: i32 = 10;
const COPY_PANICKED: i32 = 11;

#[derive(ShmSafe)]
#[repr(C)]
struct Shared {
    seq: AtomicU64,
    hits: AtomicCounter,
}

#[test]
fn child_entry() {
    support::run_child(|role, args| match role {
        "fork_and_drop_copy" => fork_and_drop_copy(&args[0]),
        other => panic!("unknown role {other}"),
    });
}

/// Creates `name`, forks; the forked process drops its copy of the handle
/// and exits; then this process checks it still owns a segment everyone can
/// find.
fn fork_and_drop_copy(name: &str) {
    let seg = Segment::<Shared>::create(name).expect("create");
    assert!(seg.is_owner());
    seg.seq.store(1, Ordering::Relaxed);

    // What the forked process runs: its verdict is its exit status.
    let copy_verdict = || {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: `fork` gave the forked process its own copy of
            // `seg`; reading it out makes that copy an owned value the
            // forked process drops, and the forked process never
            // touches `seg` again (it `_exit`s after this closure).
            let copy = unsafe { core::ptr::read(&seg) };
            copy.hits.incr();
            copy.is_owner()
            // The copy leaves scope here.
        })) {
            Ok(false) => COPY_OK,
            Ok(true) => COPY_CLAIMED_OWNERSHIP,
            Err(_) => COPY_PANICKED,
        }
    };
    // SAFETY: this role process runs this one test (`--test-threads=1`),
    // so no other thread of ours can hold a lock (the allocator's, the
    // segment registry's) that the forked process, which has only the
    // forking thread, would wait for forever. The forked process only uses
    // its copy of the handle, drops it and `_exit`s.
    let status = unsafe { support::exit_status_of_forked(copy_verdict) };
    match status {
        COPY_OK => {}
        COPY_CLAIMED_OWNERSHIP => panic!("the forked copy of the handle says it is the owner"),
        COPY_PANICKED => panic!("the forked process panicked"),
        other => panic!("the forked process exited with {other}"),
    }

    assert!(seg.is_owner(), "the creating process still owns the segment");
    assert!(Path::new(&support::shm_file::path(name)).exists(), "the name is still there");
    let view = Segment::<Shared>::open(name).expect("open after the copy dropped");
    assert_eq!(view.seq.load(Ordering::Relaxed), 1);
    assert_eq!(view.hits.get(), 1, "the same object the forked process wrote to");
    let other = Segment::<Shared>::open_or_create(name).expect("open_or_create");
    assert!(!other.is_owner(), "open_or_create opened the segment, it did not make another");
    other.seq.store(2, Ordering::Relaxed);
    assert_eq!(seg.seq.load(Ordering::Relaxed), 2, "one object for every handle");
    drop((view, other));

    // The real owner still removes the name.
    drop(seg);
    assert!(
        !Path::new(&support::shm_file::path(name)).exists(),
        "the owner's drop removed the name"
    );
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn forked_copy_of_owner_handle_does_not_unlink_on_drop() {
    let name = support::unique_name("fork-owner");
    let child = support::spawn("child_entry", "fork_and_drop_copy", &[&name]);
    let status = child.wait_timeout(TIMEOUT);
    // Whatever happened, leave no object behind.
    let _ = shmsync::unlink(&name);
    assert!(status.success(), "role fork_and_drop_copy failed: {status}");
}
