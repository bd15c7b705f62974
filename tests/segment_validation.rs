//! `open` validates everything it reads: the wrong type, somebody else's
//! shared memory object, a truncated or corrupted segment, another format
//! version, an empty object, invalid names. Every case is an `Error`, never
//! a panic, a SIGBUS or a hang.

use shmsync_support as support;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use shmsync::{AtomicCounter, Error, Segment, ShmSafe};
use support::shm_file::{self, write_at, RemoveOnDrop};

#[derive(ShmSafe)]
#[repr(C)]
struct Telemetry {
    seq: AtomicU64,
    values: [u64; 8],
}

#[derive(ShmSafe)]
#[repr(C)]
struct Other {
    flag: AtomicU32,
}

/// Two types with the same fields: still two types.
#[derive(ShmSafe)]
#[repr(C)]
struct Meters {
    v: AtomicCounter,
}

#[derive(ShmSafe)]
#[repr(C)]
struct Seconds {
    v: AtomicCounter,
}

/// Header offsets (see the format table in `src/segment/header.rs`).
const VERSION_OFFSET: u64 = 8;
const STATE_OFFSET: u64 = 12;
const PID_NAMESPACE_OFFSET: u64 = 88;
const HEADER_SIZE: usize = 256;

fn read_header(name: &str) -> Vec<u8> {
    let mut bytes = shm_file::read(name);
    assert!(bytes.len() >= HEADER_SIZE, "a segment holds a header");
    bytes.truncate(HEADER_SIZE);
    bytes
}

#[test]
fn open_with_another_type_is_layout_mismatch_naming_both() {
    let name = support::unique_name("layout");
    let _seg = Segment::<Telemetry>::create(&name).expect("create");
    let err = Segment::<Other>::open(&name).expect_err("wrong type must not open");
    match &err {
        Error::LayoutMismatch {
            expected, found, expected_fingerprint, found_fingerprint, ..
        } => {
            assert_eq!(*expected, "Other");
            assert_eq!(found, "Telemetry");
            assert_ne!(expected_fingerprint, found_fingerprint);
        }
        other => panic!("expected LayoutMismatch, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("Other") && msg.contains("Telemetry"), "{msg}");
    // A slice of the right element type is still another layout.
    assert!(matches!(Segment::<[u64]>::open_slice(&name), Err(Error::LayoutMismatch { .. })));
}

#[test]
fn same_fields_under_another_type_name_is_a_layout_mismatch() {
    let name = support::unique_name("meters");
    let _seg = Segment::<Meters>::create(&name).expect("create");
    let err = Segment::<Seconds>::open(&name).expect_err("Seconds is not Meters");
    assert!(matches!(&err, Error::LayoutMismatch { found, .. } if found == "Meters"), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("type name differs"), "{msg}");
    assert!(!msg.contains("size differs") && !msg.contains("alignment differs"), "{msg}");
    drop(Segment::<Meters>::open(&name).expect("the same type opens"));
}

#[test]
fn layout_mismatch_says_what_differs() {
    let name = support::unique_name("differs");
    let _seg = Segment::<Telemetry>::create(&name).expect("create");
    // Telemetry is 72 bytes, 8-aligned; Other is 4 bytes, 4-aligned: the
    // name, the size and the alignment all differ.
    let msg = Segment::<Other>::open(&name).expect_err("wrong type").to_string();
    assert!(msg.contains("type name differs"), "{msg}");
    assert!(msg.contains("size differs (segment: 72 bytes, yours: 4 bytes)"), "{msg}");
    assert!(msg.contains("alignment differs (segment: 8 bytes, yours: 4 bytes)"), "{msg}");

    let name = support::unique_name("renamed-field");
    let _seg = Segment::<Other>::create(&name).expect("create");
    // A struct named like the stored type but with another field name: only
    // the fields can differ. (Same Rust name, different module.)
    mod shadow {
        use super::*;
        #[derive(ShmSafe)]
        #[repr(C)]
        pub struct Other {
            pub raised: AtomicU32,
        }
    }
    let err = Segment::<shadow::Other>::open(&name).expect_err("another field name");
    assert!(err.to_string().contains("a different definition of `Other`"), "{err}");
}

#[test]
fn hand_made_object_is_not_a_segment() {
    let name = support::unique_name("by-hand");
    let _cleanup = RemoveOnDrop(name.clone());
    shm_file::write(&name, &[0x5au8; 4096]);
    match Segment::<Telemetry>::open(&name) {
        Err(Error::NotASegment { name: n, reason }) => {
            assert_eq!(n, name);
            assert_eq!(reason, "bad magic");
        }
        other => panic!("expected NotASegment, got {other:?}"),
    }
    // open_or_create must not take over somebody else's object either.
    assert!(matches!(Segment::<Telemetry>::open_or_create(&name), Err(Error::NotASegment { .. })));
    assert_eq!(shm_file::read(&name), vec![0x5au8; 4096], "still there, untouched");
}

#[test]
fn tiny_hand_made_object_is_not_a_segment() {
    let name = support::unique_name("tiny");
    let _cleanup = RemoveOnDrop(name.clone());
    shm_file::write(&name, b"hello world");
    assert!(matches!(Segment::<Telemetry>::open(&name), Err(Error::NotASegment { .. })));
    shm_file::write(&name, b"abc");
    assert!(matches!(Segment::<Telemetry>::open(&name), Err(Error::NotASegment { .. })));
}

#[test]
#[cfg_attr(miri, ignore = "runs python3")]
fn python_shared_memory_is_not_a_segment() {
    let name = support::unique_name("python");
    let _cleanup = RemoveOnDrop(name.clone());
    // The resource tracker would unlink the object when Python exits;
    // unregister it so that it outlives the interpreter like a real one.
    let script = format!(
        "from multiprocessing import shared_memory, resource_tracker\n\
         s = shared_memory.SharedMemory(name={name:?}, create=True, size=4096)\n\
         s.buf[:5] = b'numpy'\n\
         resource_tracker.unregister(s._name, 'shared_memory')\n\
         s.close()\n"
    );
    let status = match std::process::Command::new("python3").args(["-c", &script]).status() {
        Ok(status) => status,
        Err(e) => {
            println!("note: python3 is not available ({e}); skipping the Python case");
            return;
        }
    };
    if !status.success() {
        println!("note: python3 could not create shared memory ({status}); skipping");
        return;
    }
    assert!(std::fs::metadata(format!("/dev/shm/{name}")).is_ok(), "python created the object");
    match Segment::<Telemetry>::open(&name) {
        Err(Error::NotASegment { reason, .. }) => assert_eq!(reason, "bad magic"),
        other => panic!("expected NotASegment, got {other:?}"),
    }
}

#[test]
fn truncated_segment_is_size_mismatch_not_sigbus() {
    let name = support::unique_name("truncated");
    let owner =
        Segment::<[u64; 1024]>::options().unlink_on_drop(false).create(&name).expect("create");
    // The owner's own mapping would fault after truncation: drop it first.
    drop(owner);
    let _cleanup = RemoveOnDrop(name.clone());
    let full = HEADER_SIZE as u64 + 8 * 1024;
    shm_file::set_len(&name, full - 1);
    match Segment::<[u64; 1024]>::open(&name) {
        Err(Error::SizeMismatch { expected, found, .. }) => {
            assert_eq!(expected, full);
            assert_eq!(found, full - 1);
        }
        other => panic!("expected SizeMismatch, got {other:?}"),
    }
    // Cut inside the header: still detected from the magic.
    shm_file::set_len(&name, 100);
    match Segment::<[u64; 1024]>::open(&name) {
        Err(Error::SizeMismatch { expected, found, .. }) => {
            assert_eq!(expected, HEADER_SIZE as u64);
            assert_eq!(found, 100);
        }
        other => panic!("expected SizeMismatch, got {other:?}"),
    }
}

#[test]
fn other_format_version_is_version_mismatch() {
    let name = support::unique_name("version");
    let _owner = Segment::<Telemetry>::create(&name).expect("create");
    write_at(&name, VERSION_OFFSET, &99u32.to_ne_bytes());
    match Segment::<Telemetry>::open(&name) {
        Err(Error::VersionMismatch { expected, found, .. }) => {
            assert_eq!(expected, 3);
            assert_eq!(found, 99);
        }
        other => panic!("expected VersionMismatch, got {other:?}"),
    }
}

#[test]
fn invalid_names_are_rejected_everywhere() {
    let long = "a".repeat(201);
    let cases: &[(&str, &str)] = &[
        ("", "empty"),
        ("/", "only a slash"),
        (&long, "longer than 200 bytes"),
        ("a/b", "slash inside"),
        ("//a", "two leading slashes"),
        ("a\0b", "NUL"),
        ("a b", "space"),
        ("tab\tname", "tab"),
        ("..", "dot-dot"),
        ("a..b", "dot-dot inside"),
        (".", "single dot"),
        ("naïve", "non-ASCII"),
        ("semi;colon", "punctuation"),
    ];
    for (name, why) in cases {
        let check = |r: Result<(), Error>, op: &str| match r {
            Err(Error::InvalidName { name: n, .. }) => assert_eq!(&n, name, "{op} {why}"),
            other => panic!("{op} of {name:?} ({why}): expected InvalidName, got {other:?}"),
        };
        check(Segment::<AtomicU64>::create(name).map(drop), "create");
        check(Segment::<AtomicU64>::open(name).map(drop), "open");
        check(Segment::<AtomicU64>::open_or_create(name).map(drop), "open_or_create");
        check(shmsync::unlink(name), "unlink");
        check(shmsync::is_attached(name).map(drop), "is_attached");
    }
    // The limits themselves are accepted.
    let max = support::unique_name("max");
    let max = format!("{max}{}", "x".repeat(200 - max.len()));
    assert_eq!(max.len(), 200);
    drop(Segment::<AtomicU64>::create(&max).expect("200 bytes is fine"));
    let slashed = format!("/{}", support::unique_name("slashed"));
    let seg = Segment::<AtomicU64>::create(&slashed).expect("one leading slash is fine");
    assert_eq!(seg.name(), slashed);
    drop(Segment::<AtomicU64>::open(&slashed[1..]).expect("same object without the slash"));
}

/// A segment made in another PID namespace (a container sharing
/// `/dev/shm`) opens like any other and stays robust: owner liveness is
/// proven by process tokens, which no namespace changes.
#[test]
fn segment_from_another_pid_namespace_opens_and_stays_robust() {
    let name = support::unique_name("pidns");
    let owner = Segment::<Telemetry>::create(&name).expect("create");
    let addr_in_owner = &owner.seq as *const AtomicU64 as *const u8;
    assert!(shmsync::__owner_death_detection_enabled(addr_in_owner));
    // Forge a creator from another PID namespace.
    write_at(&name, PID_NAMESPACE_OFFSET, &0xdead_beefu64.to_ne_bytes());
    let seg = Segment::<Telemetry>::open(&name).expect("opens from any namespace");
    let inside = &seg.values[3] as *const u64 as *const u8;
    assert!(shmsync::__owner_death_detection_enabled(inside));
    assert!(shmsync::__owner_death_detection_enabled(addr_in_owner));
    // Memory outside any segment has no proof of death.
    let local = AtomicU64::new(0);
    assert!(!shmsync::__owner_death_detection_enabled(&local as *const AtomicU64 as *const u8));
    seg.seq.store(3, Ordering::Relaxed);
    assert_eq!(owner.seq.load(Ordering::Relaxed), 3);
    let addr = inside;
    drop(seg);
    drop(owner);
    // Unmapped: the address is no longer in this process's registry.
    assert!(!shmsync::__owner_death_detection_enabled(addr));
}

#[test]
fn empty_object_is_reported_at_once_and_taken_over_by_open_or_create() {
    // A zero-length object nobody locks: a creator that died before sizing
    // it, or a truncated object. A live creator holds its exclusive lock
    // from before its object has a name, so there is nothing to wait for:
    // even with the default 5 s open timeout the answer comes at once.
    let name = support::unique_name("empty");
    let _cleanup = RemoveOnDrop(name.clone());
    shm_file::write(&name, b"");
    let started = Instant::now();
    match Segment::<Telemetry>::open(&name) {
        Err(Error::NotASegment { reason, .. }) => assert!(reason.contains("empty"), "{reason}"),
        other => panic!("expected NotASegment (empty), got {other:?}"),
    }
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(5), "waited the whole open timeout: {waited:?}");
    let seg =
        Segment::<Telemetry>::open_or_create_with(&name, |t| t.values[0] = 5).expect("take over");
    assert!(seg.is_owner());
    assert_eq!(seg.values[0], 5);
    drop(Segment::<Telemetry>::open(&name).expect("now a valid segment"));
}

#[test]
fn creator_state_without_live_creator_is_creator_died() {
    let name = support::unique_name("state");
    let owner = Segment::<Telemetry>::create(&name).expect("create");
    write_at(&name, STATE_OFFSET, &1u32.to_ne_bytes());
    match Segment::<Telemetry>::open(&name) {
        Err(Error::CreatorDied { pid, .. }) => assert_eq!(pid, std::process::id()),
        other => panic!("expected CreatorDied, got {other:?}"),
    }
    write_at(&name, STATE_OFFSET, &7u32.to_ne_bytes());
    assert!(matches!(Segment::<Telemetry>::open(&name), Err(Error::NotASegment { .. })));
    drop(owner);
}

/// Deterministic companion to the proptest below: every header byte, one at
/// a time, with all its bits flipped.
#[test]
fn every_single_header_byte_flip_is_handled() {
    let name = support::unique_name("flip");
    let _seg = Segment::<Telemetry>::create_with(&name, |t| t.values = [4; 8]).expect("create");
    let pristine = read_header(&name);
    let mut rejected = Vec::new();
    for (offset, &byte) in pristine.iter().enumerate() {
        write_at(&name, offset as u64, &[!byte]);
        let result =
            Segment::<Telemetry>::options().open_timeout(Duration::from_millis(200)).open(&name);
        write_at(&name, offset as u64, &[byte]);
        match result {
            Ok(seg) => assert_eq!(seg.values, [4; 8], "offset {offset}"),
            Err(Error::InitTimeout { .. }) | Err(Error::Io { .. }) => {
                panic!("offset {offset}: unexpected {result:?}")
            }
            Err(_) => rejected.push(offset),
        }
    }
    // Checked: everything before the creator fields (0..72), and where the
    // field map lies (240..256). Diagnostics only: creator pid, thread,
    // token, PID namespace, creation time, type name. (A segment from
    // another PID namespace opens like any other.) The map's length is
    // checked against the object's size only: a flip of its low byte that
    // shrinks it is harmless (handles never read the map; inspectors
    // validate what they read), so byte 248 may go either way.
    let map_len_low_byte = 248;
    rejected.retain(|&offset| offset != map_len_low_byte);
    let expected: Vec<usize> = (0..72).chain(240..256).filter(|&o| o != map_len_low_byte).collect();
    assert_eq!(rejected, expected);
}

proptest! {
    #![proptest_config(ProptestConfig {
        // Fewer by default under Miri, which interprets every open.
        cases: std::env::var("SHMSYNC_PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if cfg!(miri) { 16 } else { 256 }),
        // Miri has no file system for the regressions file.
        #[cfg(miri)]
        failure_persistence: None,
        .. ProptestConfig::default()
    })]

    /// Any corruption of any header bytes gives an `Error` or, if the bytes
    /// do not matter (type name, creation time), a usable segment: never a
    /// panic, never a wait past the open timeout.
    #[test]
    fn corrupted_header_never_panics_or_hangs(
        edits in proptest::collection::vec((0usize..HEADER_SIZE, any::<u8>()), 1..8)
    ) {
        thread_local! {
            static FIXTURE: (Segment<Telemetry>, String, Vec<u8>) = {
                let name = support::unique_name("corrupt");
                let seg = Segment::<Telemetry>::create_with(&name, |t| t.values = [9; 8])
                    .expect("create");
                let pristine = read_header(&name);
                (seg, name, pristine)
            };
        }
        FIXTURE.with(|(_seg, name, pristine)| {
            let mut header = pristine.clone();
            for (offset, value) in &edits {
                header[*offset] = *value;
            }
            write_at(name, 0, &header);
            let timeout = Duration::from_millis(200);
            let started = Instant::now();
            let result = Segment::<Telemetry>::options().open_timeout(timeout).open(name);
            let elapsed = started.elapsed();
            write_at(name, 0, pristine);
            // Generous slack: this catches hangs, not slowness.
            prop_assert!(elapsed < timeout + Duration::from_secs(5), "open took {elapsed:?}");
            match result {
                Ok(seg) => {
                    // Only harmless bytes may have changed.
                    prop_assert_eq!(seg.values, [9; 8]);
                }
                Err(e) => {
                    // Only the header checks can fail: nobody holds the
                    // exclusive lock, so there is nothing to wait for.
                    prop_assert!(
                        matches!(
                            e,
                            Error::NotASegment { .. }
                                | Error::VersionMismatch { .. }
                                | Error::LayoutMismatch { .. }
                                | Error::SizeMismatch { .. }
                                | Error::CreatorDied { .. }
                        ),
                        "unexpected error {:?}",
                        e
                    );
                }
            }
            Ok(())
        })?;
    }
}
