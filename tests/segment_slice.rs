//! Runtime-length array segments (`Segment<[E]>`): the length lives in the
//! header; several processes write disjoint ranges of plain elements, or
//! any element of an atomic slice.

use shmsync_support as support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use shmsync::{Error, Segment};

#[test]
fn child_entry() {
    support::run_child(|role, args| match role {
        "square_rows" => {
            // args: name, first row, end row, columns
            let m = Segment::<[f64]>::open_slice(&args[0]).expect("open matrix");
            let (start, end, cols): (usize, usize, usize) =
                (args[1].parse().unwrap(), args[2].parse().unwrap(), args[3].parse().unwrap());
            // SAFETY: each child owns a disjoint row range; the parent reads
            // only after every child has exited and been waited for.
            let rows = unsafe { m.range_mut(start * cols..end * cols) };
            for x in rows {
                *x *= *x;
            }
        }
        "count" => {
            let counters = Segment::<[AtomicU64]>::open_slice(&args[0]).expect("open");
            for c in counters.iter() {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        other => panic!("unknown role {other}"),
    });
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn processes_write_disjoint_row_ranges() {
    let (rows, cols, workers) = (64usize, 50usize, 4usize);
    let name = support::unique_name("matrix");
    let m = Segment::<[f64]>::create_slice_with(&name, rows * cols, |v| {
        for (i, x) in v.iter_mut().enumerate() {
            *x = i as f64;
        }
    })
    .expect("create");
    assert_eq!(m.len(), rows * cols);
    let per = rows / workers;
    let children: Vec<_> = (0..workers)
        .map(|w| {
            let (s, e) = ((w * per).to_string(), ((w + 1) * per).to_string());
            support::spawn("child_entry", "square_rows", &[&name, &s, &e, &cols.to_string()])
        })
        .collect();
    for c in children {
        c.expect_success(Duration::from_secs(20));
    }
    for (i, x) in m.iter().enumerate() {
        assert_eq!(*x, (i as f64) * (i as f64), "element {i}");
    }
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn atomic_elements_are_shared_safely() {
    let name = support::unique_name("atomic-slice");
    let counters = Segment::<[AtomicU64]>::create_slice(&name, 10).expect("create");
    let children: Vec<_> =
        (0..3).map(|_| support::spawn("child_entry", "count", &[&name])).collect();
    for c in children {
        c.expect_success(Duration::from_secs(20));
    }
    assert!(counters.iter().all(|c| c.load(Ordering::Relaxed) == 3));
}

#[test]
fn length_comes_from_the_header() {
    let name = support::unique_name("slice-len");
    let created = Segment::<[u32]>::create_slice_with(&name, 1000, |v| v[999] = 7).expect("create");
    let opened = Segment::<[u32]>::open_slice(&name).expect("open");
    assert_eq!(opened.len(), 1000);
    assert_eq!(opened[999], 7);
    let same = Segment::<[u32]>::open_or_create_slice(&name, 1000).expect("same length");
    assert!(!same.is_owner());
    match Segment::<[u32]>::open_or_create_slice(&name, 10) {
        Err(Error::LengthMismatch { expected, found, .. }) => {
            assert_eq!((expected, found), (10, 1000));
        }
        other => panic!("expected LengthMismatch, got {other:?}"),
    }
    // Another element type is another layout, even with the same size.
    assert!(matches!(Segment::<[i32]>::open_slice(&name), Err(Error::LayoutMismatch { .. })));
    drop(created);
}

#[test]
fn forged_length_larger_than_the_object_is_size_mismatch() {
    use support::shm_file::write_at;
    const ELEMENT_COUNT_OFFSET: u64 = 56;
    const PAYLOAD_SIZE_OFFSET: u64 = 32;
    let name = support::unique_name("slice-forged");
    let _seg = Segment::<[u64]>::create_slice(&name, 4).expect("create");
    // The header, four elements and the field map.
    let object_size = support::shm_file::read(&name).len() as u64;
    assert!(object_size > 256 + 32);
    // A consistent forgery: count and payload size agree, the file is short.
    write_at(&name, ELEMENT_COUNT_OFFSET, &1_000_000u64.to_ne_bytes());
    write_at(&name, PAYLOAD_SIZE_OFFSET, &8_000_000u64.to_ne_bytes());
    match Segment::<[u64]>::open_slice(&name) {
        Err(Error::SizeMismatch { expected, found, .. }) => {
            assert_eq!(expected, 256 + 8_000_000);
            assert_eq!(found, object_size);
        }
        other => panic!("expected SizeMismatch, got {other:?}"),
    }
    // An overflowing one.
    write_at(&name, ELEMENT_COUNT_OFFSET, &u64::MAX.to_ne_bytes());
    assert!(Segment::<[u64]>::open_slice(&name).is_err());
}

#[test]
fn empty_and_huge_lengths() {
    let name = support::unique_name("slice-empty");
    let empty = Segment::<[u64]>::create_slice(&name, 0).expect("zero elements are fine");
    assert!(empty.is_empty());
    assert_eq!(Segment::<[u64]>::open_slice(&name).expect("open").len(), 0);
    let huge = support::unique_name("slice-huge");
    match Segment::<[u64]>::create_slice(&huge, usize::MAX / 2) {
        Err(e @ Error::InvalidArgument { what: "length", .. }) => {
            // It says what is allowed: a count below the one asked for.
            let msg = e.to_string();
            let max: usize = msg
                .split("at most ")
                .nth(1)
                .and_then(|rest| rest.strip_suffix(" elements of 8 bytes fit"))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no allowed length in {msg:?}"));
            assert!(0 < max && max < usize::MAX / 2, "{msg}");
            assert!(msg.contains(&format!("invalid length for segment {huge:?}")), "{msg}");
        }
        other => panic!("expected an invalid-argument error, got {other:?}"),
    }
    assert!(matches!(Segment::<[u64]>::open_slice(&huge), Err(Error::NotFound { .. })));
}

#[test]
fn a_unique_slice_too_long_names_the_pattern_not_a_random_name() {
    let prefix = support::unique_name("slice-huge-unique");
    match Segment::<[u64]>::create_slice_unique(&prefix, usize::MAX / 2) {
        Err(Error::InvalidArgument { name, what: "length", .. }) => {
            assert_eq!(name, format!("{prefix}_xxxxxxxx"));
        }
        other => panic!("expected an invalid-argument error, got {other:?}"),
    }
}

#[test]
#[should_panic(expected = "out of bounds")]
fn range_mut_checks_bounds() {
    let name = support::unique_name("slice-bounds");
    let v = Segment::<[u8]>::create_slice(&name, 4).expect("create");
    // SAFETY: nothing else accesses the segment; the call panics anyway.
    let _ = unsafe { v.range_mut(2..5) };
}
