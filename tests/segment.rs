//! Public-API tests of `Segment<T>`: create, open, ownership, and two
//! processes sharing one segment.

use shmsync_support as support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use shmsync::{Error, Segment, ShmSafe};

#[derive(ShmSafe)]
#[repr(C)]
struct Shared {
    from_parent: AtomicU64,
    from_child: AtomicU64,
    config: u64,
}

#[test]
fn child_entry() {
    support::run_child(|role, args| match role {
        "write_and_wait" => {
            let seg: Segment<Shared> = Segment::open(&args[0]).expect("child opens");
            assert_eq!(seg.config, 42, "child sees the creator's initializer");
            seg.from_child.store(7, Ordering::Release);
            // Wait (bounded) for the parent's write.
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while seg.from_parent.load(Ordering::Acquire) != 9 {
                assert!(std::time::Instant::now() < deadline, "parent's write never arrived");
                std::thread::yield_now();
            }
            support::reached("saw-parent");
        }
        other => panic!("unknown role {other}"),
    });
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn two_processes_see_each_others_writes() {
    let name = support::unique_name("two-proc");
    let seg = Segment::<Shared>::create_with(&name, |s| s.config = 42).expect("create");
    let mut child = support::spawn("child_entry", "write_and_wait", &[&name]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while seg.from_child.load(Ordering::Acquire) != 7 {
        assert!(std::time::Instant::now() < deadline, "child's write never arrived");
        std::thread::yield_now();
    }
    seg.from_parent.store(9, Ordering::Release);
    child.wait_for("saw-parent", Duration::from_secs(10));
    child.expect_success(Duration::from_secs(10));
}

#[test]
fn create_on_existing_name_is_already_exists() {
    let name = support::unique_name("exists");
    let _seg = Segment::<AtomicU64>::create(&name).expect("create");
    match Segment::<AtomicU64>::create(&name) {
        Err(Error::AlreadyExists { name: n }) => assert_eq!(n, name),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
}

#[test]
fn open_of_missing_name_is_not_found() {
    let name = support::unique_name("missing");
    match Segment::<AtomicU64>::open(&name) {
        Err(Error::NotFound { name: n }) => assert_eq!(n, name),
        other => panic!("expected NotFound, got {other:?}"),
    }
}

#[test]
fn owner_drop_unlinks_opener_drop_does_not() {
    let name = support::unique_name("owner-drop");
    let owner = Segment::<AtomicU64>::create(&name).expect("create");
    assert!(owner.is_owner());
    let opener = Segment::<AtomicU64>::open(&name).expect("open");
    assert!(!opener.is_owner());
    assert_eq!(opener.name(), name);
    drop(opener);
    // Still there after the opener's drop.
    let again = Segment::<AtomicU64>::open(&name).expect("still exists after opener drop");
    drop(again);
    drop(owner);
    assert!(matches!(Segment::<AtomicU64>::open(&name), Err(Error::NotFound { .. })));
}

#[test]
fn unlink_on_drop_false_keeps_the_name() {
    let name = support::unique_name("keep");
    let owner =
        Segment::<AtomicU64>::options().unlink_on_drop(false).create(&name).expect("create");
    owner.store(5, Ordering::Relaxed);
    drop(owner);
    let seg = Segment::<AtomicU64>::open(&name).expect("kept");
    assert_eq!(seg.load(Ordering::Relaxed), 5);
    drop(seg);
    shmsync::unlink(&name).expect("unlink");
    assert!(matches!(shmsync::unlink(&name), Err(Error::NotFound { .. })));
}

#[test]
fn panicking_initializer_removes_the_name() {
    let name = support::unique_name("init-panic");
    let result = std::panic::catch_unwind(|| {
        let _ = Segment::<Shared>::create_with(&name, |_| panic!("initializer failed"));
    });
    assert!(result.is_err(), "the panic propagates");
    assert!(matches!(Segment::<Shared>::open(&name), Err(Error::NotFound { .. })));
    let seg = Segment::<Shared>::create_with(&name, |s| s.config = 1).expect("create again");
    assert_eq!(seg.config, 1);
}

#[test]
fn open_or_create_creates_once_then_opens() {
    let name = support::unique_name("ooc");
    let first = Segment::<Shared>::open_or_create_with(&name, |s| s.config = 3).expect("create");
    assert!(first.is_owner());
    let mut ran = false;
    let second = Segment::<Shared>::open_or_create_with(&name, |_| ran = true).expect("open");
    assert!(!ran, "the initializer runs only in the creator");
    assert!(!second.is_owner());
    assert_eq!(second.config, 3);
}

#[test]
fn segment_is_send_and_sync_and_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Segment<Shared>>();
    assert_send_sync::<Segment<[AtomicU64]>>();
    let name = support::unique_name("threads");
    let seg = Segment::<Shared>::create(&name).expect("create");
    // Miri interprets every step: fewer rounds, still interleaved.
    const EACH: u64 = if cfg!(miri) { 100 } else { 1000 };
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..EACH {
                    seg.from_child.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(seg.from_child.load(Ordering::Relaxed), 4 * EACH);
    let moved = std::thread::spawn(move || seg.from_child.load(Ordering::Relaxed)).join();
    assert_eq!(moved.expect("thread"), 4 * EACH);
}

#[test]
fn debug_names_the_segment_and_type() {
    let name = support::unique_name("debug");
    let seg = Segment::<Shared>::create(&name).expect("create");
    let text = format!("{seg:?}");
    assert!(
        text.contains(&name) && text.contains("Shared") && text.contains("owner: true"),
        "{text}"
    );
}

#[test]
fn owner_drop_leaves_a_newer_segment_with_the_same_name_alone() {
    let name = support::unique_name("reused-name");
    let old = Segment::<Shared>::create(&name).expect("create");
    shmsync::unlink(&name).expect("unlink");
    let new = Segment::<Shared>::create_with(&name, |s| s.config = 2).expect("re-create");
    drop(old);
    let seen: Segment<Shared> = Segment::open(&name).expect("the newer segment survives");
    assert_eq!(seen.config, 2);
    drop(seen);
    drop(new);
    assert!(matches!(Segment::<Shared>::open(&name), Err(Error::NotFound { .. })));
}
