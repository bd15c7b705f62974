//! `shmsync::inspect`: listing, inspecting and removing segments without
//! knowing their types, across processes.
//!
//! The tests clean up with `remove_stale_with_prefix` and this process's
//! name prefix: a host-wide `remove_stale` would remove whatever stale
//! segments the user running the tests keeps.

use shmsync_support as support;

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::time::Duration;

use shmsync::inspect::{self, FieldState, LockState, Removal, SegmentState};
use shmsync::layout::Kind;
use shmsync::{
    AtomicCounter, Error, Segment, SeqLock, ShardedCounter, ShmBarrier, ShmEvent, ShmMutex, ShmSafe,
};

const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(ShmSafe)]
#[repr(C)]
struct Slot {
    lock: ShmMutex<u64>,
    served: AtomicCounter,
}

#[derive(ShmSafe)]
#[repr(C)]
struct Board {
    book: ShmMutex<[u64; 2]>,
    hits: ShardedCounter<4>,
    latest: SeqLock<[u32; 4]>,
    temperature: AtomicI32,
    slots: [Slot; 3],
    notes: [u8; 64],
}

#[derive(ShmSafe)]
#[repr(C)]
struct Signals {
    ready: ShmEvent,
    work: ShmEvent,
    gate: ShmBarrier,
}

#[test]
fn child_entry() {
    support::run_child(|role, args| match role {
        // Creates the board, holds `slots[1].lock`, and waits to be killed.
        "create_and_hold" => {
            let seg =
                Segment::<Board>::options().unlink_on_drop(false).create(&args[0]).expect("create");
            let Ok(guard) = seg.slots[1].lock.lock() else { panic!("a fresh lock") };
            core::mem::forget(guard);
            support::reached("holding");
            support::park_forever();
        }
        // Opens the board and waits to be killed.
        "open_and_wait" => {
            let _seg = Segment::<Board>::open(&args[0]).expect("open");
            support::reached("open");
            support::park_forever();
        }
        // Joins the gate of a `Signals` segment and waits to be killed.
        "join_gate" => {
            let seg = Segment::<Signals>::open(&args[0]).expect("open");
            let party = seg.gate.join().expect("a place");
            core::mem::forget(party);
            support::reached("joined");
            support::park_forever();
        }
        // Creates a board and dies while initializing it.
        "die_initializing" => {
            let _ = Segment::<Board>::create_with(&args[0], |_| support::die_now());
        }
        other => panic!("unknown role {other}"),
    });
}

fn field<'a>(report: &'a inspect::Report, path: &str) -> &'a inspect::FieldReport {
    report
        .fields
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("no field {path:?} in {:#?}", report.fields))
}

fn mutex_state(report: &inspect::Report, path: &str) -> inspect::MutexReport {
    match &field(report, path).state {
        FieldState::Mutex(m) => *m,
        other => panic!("{path}: expected a mutex, got {other:?}"),
    }
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn a_segment_made_by_another_process_is_listed_and_inspected_by_path() {
    let name = support::unique_name("inspect");
    let mut child = support::spawn("child_entry", "create_and_hold", &[&name]);
    child.wait_for("holding", TIMEOUT);
    let _cleanup = RemoveOnDrop(name.clone());

    let listed = inspect::list().expect("list");
    let info = listed.iter().find(|s| s.name == name).expect("the child's segment is listed");
    assert_eq!(info.type_name, "Board");
    assert_eq!(info.state, SegmentState::Ready);
    assert!(info.attached);
    assert_eq!(info.creator_pid, child.pid());
    assert_eq!(info.mode, 0o600);
    assert_eq!(info.element_count, 1);
    assert!(info.age().is_some_and(|age| age < Duration::from_secs(600)));

    let seg = Segment::<Board>::open(&name).expect("open");
    seg.slots[2].served.add(5);
    seg.hits.add(7);
    seg.temperature.store(-12, Ordering::Relaxed);
    seg.latest.write([1, 2, 3, 4]).expect("write");
    seg.latest.write([5, 6, 7, 8]).expect("write");

    let report = inspect::inspect(&name).expect("inspect");
    assert_eq!(report.field_map_problem, None);
    let paths: Vec<&str> = report.fields.iter().map(|f| f.path.as_str()).collect();
    for expected in [
        "book",
        "book.data",
        "hits",
        "latest",
        "temperature",
        "slots",
        "slots[0]",
        "slots[0].lock",
        "slots[0].lock.data",
        "slots[2].served",
        "notes",
    ] {
        assert!(paths.contains(&expected), "{expected} missing from {paths:?}");
    }
    assert!(!paths.iter().any(|p| p.starts_with("notes[")), "plain arrays are not expanded");
    assert_eq!(field(&report, "book").kind, Some(Kind::Mutex));
    assert_eq!(field(&report, "slots").len, 3);

    let held = mutex_state(&report, "slots[1].lock");
    assert_eq!(held.state, LockState::Locked);
    assert_eq!(held.owner_alive, Some(true));
    let free = mutex_state(&report, "slots[0].lock");
    assert_eq!(free.state, LockState::Unlocked);
    assert_eq!(free.owner_alive, None);
    assert!(matches!(field(&report, "slots[2].served").state, FieldState::Counter { value: 5 }));
    assert!(matches!(field(&report, "hits").state, FieldState::Counter { value: 7 }));
    assert!(matches!(field(&report, "temperature").state, FieldState::Atomic { value: -12 }));
    match &field(&report, "latest").state {
        FieldState::SeqLock { version, writer } => {
            assert_eq!(*version, seg.latest.version());
            assert_eq!(writer.state, LockState::Unlocked);
        }
        other => panic!("latest: {other:?}"),
    }

    child.kill();
    let report = inspect::inspect(&name).expect("inspect after the kill");
    let held = mutex_state(&report, "slots[1].lock");
    assert_eq!(held.state, LockState::Locked, "nobody has taken it over yet");
    assert_eq!(held.owner_alive, Some(false), "its owner was killed");
}

#[test]
#[cfg_attr(miri, ignore = "writes /dev/shm directly")]
fn list_and_remove_never_touch_another_programs_object() {
    let plain = support::unique_name("foreign");
    // Starts with shmsync's magic, then garbage: still someone else's.
    let magic_only = support::unique_name("foreign-magic");
    let mut forged = b"SHMSYNC\0".to_vec();
    forged.extend((0..248u32).map(|i| (i * 37 % 251) as u8));
    // A named pipe: opening it for reading would block.
    let fifo = support::unique_name("foreign-fifo");
    let mut cleanup = Vec::new();
    for (name, bytes) in [(&plain, b"not a segment".to_vec()), (&magic_only, forged)] {
        let path = format!("/dev/shm/{name}");
        std::fs::write(&path, bytes).expect("write");
        cleanup.push(RemoveFileOnDrop(path));
    }
    let fifo_path = std::ffi::CString::new(format!("/dev/shm/{fifo}")).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo has no other preconditions.
    assert_eq!(unsafe { libc::mkfifo(fifo_path.as_ptr(), 0o600) }, 0, "mkfifo");
    cleanup.push(RemoveFileOnDrop(format!("/dev/shm/{fifo}")));

    let listed = inspect::list().expect("list");
    for name in [&plain, &magic_only, &fifo] {
        assert!(!listed.iter().any(|s| &s.name == name), "{name} listed");
        assert!(matches!(inspect::inspect(name), Err(Error::NotASegment { .. })), "{name}");
        assert!(
            matches!(inspect::remove(name, Removal::Force), Err(Error::NotASegment { .. })),
            "{name}"
        );
    }
    let removed = inspect::remove_stale_with_prefix("shmsync-test-foreign", false).expect("gc");
    for name in [&plain, &magic_only, &fifo] {
        assert!(!removed.contains(name), "{name} removed");
        assert!(std::path::Path::new(&format!("/dev/shm/{name}")).exists(), "{name} is gone");
    }
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn remove_stale_takes_exactly_the_unattached_and_the_half_made() {
    // One prefix for this test's names only: `remove_stale_with_prefix`
    // must not touch anything else on the host.
    let prefix = format!("{}-", support::unique_name("stale"));
    let killed = format!("{prefix}killed");
    let half_made = format!("{prefix}half");
    let live = format!("{prefix}live");

    let mut creator = support::spawn("child_entry", "create_and_hold", &[&killed]);
    creator.wait_for("holding", TIMEOUT);
    creator.kill();
    support::spawn("child_entry", "die_initializing", &[&half_made]).wait_timeout(TIMEOUT);
    let live_seg = Segment::<Board>::options().unlink_on_drop(false).create(&live).expect("create");
    let mut opener = support::spawn("child_entry", "open_and_wait", &[&live]);
    opener.wait_for("open", TIMEOUT);
    drop(live_seg); // the opener still holds it
    let _cleanup =
        [RemoveOnDrop(killed.clone()), RemoveOnDrop(half_made.clone()), RemoveOnDrop(live.clone())];

    let states: Vec<_> = inspect::list()
        .expect("list")
        .into_iter()
        .filter(|s| [&killed, &half_made, &live].contains(&&s.name))
        .map(|s| (s.name, s.state, s.attached))
        .collect();
    assert!(states.contains(&(half_made.clone(), SegmentState::CreatorDied, false)), "{states:?}");
    assert!(states.contains(&(killed.clone(), SegmentState::Ready, false)), "{states:?}");
    assert!(states.contains(&(live.clone(), SegmentState::Ready, true)), "{states:?}");

    let would = inspect::remove_stale_with_prefix(&prefix, true).expect("dry run");
    assert!(would.contains(&killed) && would.contains(&half_made), "{would:?}");
    assert!(!would.contains(&live), "{would:?}");
    assert!(Segment::<Board>::open(&killed).is_ok(), "a dry run removes nothing");

    let removed = inspect::remove_stale_with_prefix(&prefix, false).expect("gc");
    assert!(removed.contains(&killed) && removed.contains(&half_made), "{removed:?}");
    assert!(!removed.contains(&live), "{removed:?}");
    for gone in [&killed, &half_made] {
        assert!(matches!(Segment::<Board>::open(gone), Err(Error::NotFound { .. })), "{gone}");
    }
    assert!(Segment::<Board>::open(&live).is_ok(), "the attached segment stays");
    opener.kill();
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn remove_refuses_an_attached_segment_unless_forced() {
    let name = support::unique_name("rm");
    let seg = Segment::<Board>::options().unlink_on_drop(false).create(&name).expect("create");
    let mut opener = support::spawn("child_entry", "open_and_wait", &[&name]);
    opener.wait_for("open", TIMEOUT);
    drop(seg);
    let _cleanup = RemoveOnDrop(name.clone());

    match inspect::remove(&name, Removal::IfUnused) {
        Err(Error::InUse { name: n }) => assert_eq!(n, name),
        other => panic!("expected InUse, got {other:?}"),
    }
    assert!(Segment::<Board>::open(&name).is_ok(), "refused means not removed");
    inspect::remove(&name, Removal::Force).expect("forced");
    assert!(matches!(Segment::<Board>::open(&name), Err(Error::NotFound { .. })));
    assert!(matches!(inspect::remove(&name, Removal::Force), Err(Error::NotFound { .. })));
    opener.kill();
}

#[test]
fn a_slice_segment_shows_its_element_type_and_length() {
    let name = support::unique_name("inspect-slice");
    let seg = Segment::<[Slot]>::create_slice(&name, 1000).expect("create");
    seg[999].served.add(3);
    let report = inspect::inspect(&name).expect("inspect");
    assert_eq!(report.info.type_name, "[Slot]");
    assert_eq!(report.info.element_count, 1000);
    assert_eq!(report.info.element_size, core::mem::size_of::<Slot>() as u64);
    let root = field(&report, "");
    assert_eq!((root.kind, root.len), (Some(Kind::Array), 1000));
    assert_eq!(root.type_name, "[Slot]");
    assert_eq!(field(&report, "[1]").type_name, "Slot");
    // Elements holding locks are expanded, up to a bound per array.
    assert!(report.fields.iter().any(|f| f.path == "[0].lock"));
    assert!(report.fields_left_out > 0);
    drop(seg);
}

#[test]
fn a_single_value_segment_is_one_field() {
    let name = support::unique_name("inspect-single");
    let seg = Segment::<AtomicU64>::create(&name).expect("create");
    seg.store(41, Ordering::Relaxed);
    let report = inspect::inspect(&name).expect("inspect");
    assert_eq!(report.fields.len(), 1);
    assert!(matches!(report.fields[0].state, FieldState::Atomic { value: 41 }));
}

#[test]
fn a_corrupt_field_map_is_reported_not_trusted() {
    let name = support::unique_name("inspect-corrupt");
    let seg = Segment::<Board>::create(&name).expect("create");
    // Claim a field far outside the payload, and an unknown kind.
    let file = support::shm_file::read(&name);
    let map_at = u64::from_ne_bytes(file[240..248].try_into().unwrap()) as usize;
    let map_len = u64::from_ne_bytes(file[248..256].try_into().unwrap()) as usize;
    let forged = "shmsync-field-map 1\n0 struct 0 8 1 . Board\n1 mutex 99999999 16 1 far ShmMutex\n1 hologram 0 8 1 odd Future\n";
    let mut bytes = forged.as_bytes().to_vec();
    bytes.resize(map_len, b'\n');
    assert!(forged.len() <= map_len, "the forged map fits the old one's space");
    support::shm_file::write_at(&name, map_at as u64, &bytes);
    let report = inspect::inspect(&name).expect("inspect");
    assert!(matches!(field(&report, "far").state, FieldState::Invalid(_)));
    assert_eq!(field(&report, "odd").kind, None);
    assert_eq!(field(&report, "odd").kind_name, "hologram");

    // A length beyond the object: the map is not read at all.
    support::shm_file::write_at(&name, 248, &u64::MAX.to_ne_bytes());
    let report = inspect::inspect(&name).expect("inspect");
    assert!(report.fields.is_empty());
    assert!(report.field_map_problem.is_some());
    drop(seg);
}

struct RemoveOnDrop(String);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = shmsync::unlink(&self.0);
    }
}

struct RemoveFileOnDrop(String);

impl Drop for RemoveFileOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Events and barriers show their state: set or not, the mode; parties,
/// joined, arrived, generation, broken, and joined parties whose process
/// is gone.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn events_and_barriers_are_inspected() {
    let name = support::unique_name("inspect-signals");
    let seg = Segment::<Signals>::create_with(&name, |s| {
        s.work = ShmEvent::new_auto_reset();
        s.gate = ShmBarrier::new(3);
    })
    .expect("create");
    seg.ready.set();
    let mut me = seg.gate.join().expect("a place");
    let mut child = support::spawn("child_entry", "join_gate", &[&name]);
    child.wait_for("joined", TIMEOUT);

    let report = inspect::inspect(&name).expect("inspect");
    let ready = field(&report, "ready");
    assert_eq!(ready.kind, Some(Kind::Event));
    match &ready.state {
        FieldState::Event(e) => assert!(e.set && !e.auto_reset && !e.waiters, "{e:?}"),
        other => panic!("{other:?}"),
    }
    match &field(&report, "work").state {
        FieldState::Event(e) => assert!(!e.set && e.auto_reset, "{e:?}"),
        other => panic!("{other:?}"),
    }
    let gate = field(&report, "gate");
    assert_eq!((gate.kind, gate.kind_name.as_str()), (Some(Kind::Barrier), "barrier"));
    match &gate.state {
        FieldState::Barrier(b) => {
            assert_eq!((b.parties, b.joined, b.arrived, b.generation), (3, 2, 0, 0), "{b:?}");
            assert!(!b.broken && b.dead == 0, "{b:?}");
        }
        other => panic!("{other:?}"),
    }

    child.kill();
    assert_eq!(me.wait_timeout(TIMEOUT), Err(shmsync::BarrierTimeoutError::Broken));
    let report = inspect::inspect(&name).expect("inspect");
    match &field(&report, "gate").state {
        FieldState::Barrier(b) => assert!(b.broken && b.dead == 1 && b.joined == 2, "{b:?}"),
        other => panic!("{other:?}"),
    }
}
