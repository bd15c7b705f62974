//! Pins what a segment's header records about every type the crate ships:
//! fingerprint, type name, size and alignment, and the field map. These are
//! shared between processes: a program built from a newer shmsync must open
//! a segment created by an older one, so none of them may change without a
//! protocol version bump (and a note in the changelog). The expected values
//! were computed by the implementation they pin; a failure here means a
//! refactoring changed what two processes agree on. Sizes, and so
//! fingerprints, are those of a 64-bit target (x86-64 and aarch64 agree on
//! all of them); a 32-bit target would need its own table.
#![cfg(target_pointer_width = "64")]

use shmsync::layout::Layout;
use shmsync::{
    AtomicCounter, Broadcast, SeqLock, ShardedCounter, ShmBarrier, ShmCondvar, ShmEvent, ShmMutex,
    ShmRwLock, ShmSafe, ShmSemaphore, DEFAULT_SHARDS,
};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64};

#[derive(ShmSafe)]
#[repr(C)]
struct Book {
    lock: ShmMutex<[u64; 2]>,
    ready: ShmCondvar,
    hits: AtomicCounter,
    flags: [u8; 3],
}

/// One line per pinned type: name, size, alignment, fingerprint.
fn shape<T: ShmSafe>() -> String {
    format!(
        "{} size={} align={} fp={:#018x}",
        T::TYPE_NAME,
        core::mem::size_of::<T>(),
        core::mem::align_of::<T>(),
        T::FINGERPRINT
    )
}

/// The field map as text, depth first: kind, len, then each field's name,
/// offset, size and type name with its own layout indented.
fn field_map(layout: &Layout, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    writeln!(out, "{pad}{} len={}", layout.kind.as_str(), layout.len).unwrap();
    for f in layout.fields {
        writeln!(out, "{pad}- {:?} @{} size={} {}", f.name, f.offset, f.size, f.type_name).unwrap();
        field_map(f.layout, depth + 1, out);
    }
}

fn all_shapes() -> Vec<String> {
    vec![
        shape::<ShmMutex<u64>>(),
        shape::<ShmMutex<[u64; 2]>>(),
        shape::<ShmCondvar>(),
        shape::<SeqLock<u64>>(),
        shape::<SeqLock<[u64; 32]>>(),
        shape::<AtomicCounter>(),
        shape::<ShardedCounter<4>>(),
        shape::<ShardedCounter<DEFAULT_SHARDS>>(),
        shape::<Broadcast<u64, 8>>(),
        shape::<Broadcast<[u32; 5], 3>>(),
        shape::<ShmRwLock<u64>>(),
        shape::<ShmRwLock<[u8; 100]>>(),
        shape::<ShmSemaphore>(),
        shape::<ShmEvent>(),
        shape::<ShmBarrier>(),
        shape::<[u64; 4]>(),
        shape::<[[u8; 16]; 1000]>(),
        shape::<[ShmMutex<u32>; 2]>(),
        shape::<u8>(),
        shape::<i128>(),
        shape::<f64>(),
        shape::<()>(),
        shape::<AtomicU64>(),
        shape::<AtomicI32>(),
        shape::<AtomicBool>(),
        shape::<core::marker::PhantomData<u64>>(),
        shape::<Book>(),
    ]
}

#[test]
fn fingerprints_names_sizes_and_alignments_are_pinned() {
    let expected = [
        "ShmMutex size=16 align=8 fp=0x8da1035c9ea722da",
        "ShmMutex size=24 align=8 fp=0xdf817c3287299fbd",
        "ShmCondvar size=4 align=4 fp=0x606b142aca562300",
        "SeqLock size=256 align=64 fp=0x594112125a60fda6",
        "SeqLock size=640 align=64 fp=0x0dadde5c9c75578c",
        "AtomicCounter size=64 align=64 fp=0xf9b1533977d2238d",
        "ShardedCounter size=256 align=64 fp=0x8670bfa42e721801",
        "ShardedCounter size=2048 align=64 fp=0x2181aaad81e7c5b2",
        "Broadcast size=576 align=64 fp=0xcbdc6fa886fe9976",
        "Broadcast size=256 align=64 fp=0xb922055805023847",
        "ShmRwLock size=640 align=64 fp=0x651d781e6f3a9ff2",
        "ShmRwLock size=704 align=64 fp=0xccb0909da9ebfd86",
        "ShmSemaphore size=576 align=64 fp=0xf95a1b1192734314",
        "ShmEvent size=4 align=4 fp=0xee3073608d0ff7bd",
        "ShmBarrier size=528 align=8 fp=0xcd3013fcd778fac5",
        "[u64; 4] size=32 align=8 fp=0xe3c0cc9ee405f9a5",
        "[[u8; 16]; 1000] size=16000 align=1 fp=0xf88011122122181f",
        "[ShmMutex; 2] size=32 align=8 fp=0x380eaee8409bb747",
        "u8 size=1 align=1 fp=0x27b729848f3332ea",
        "i128 size=16 align=16 fp=0xcc7e92e4151ff979",
        "f64 size=8 align=8 fp=0x577eb113ee331b02",
        "() size=0 align=1 fp=0x0deefd51a7e32abd",
        "AtomicU64 size=8 align=8 fp=0xaf9ab00dbca49aea",
        "AtomicI32 size=4 align=4 fp=0xc64c3ff4383ec84d",
        "AtomicBool size=1 align=1 fp=0xb8fb51ca444aac16",
        "PhantomData size=0 align=1 fp=0xc1ad2e43b117fdde",
        "Book size=192 align=64 fp=0xf6fa978fba30f3b5",
    ];
    let found = all_shapes();
    assert_eq!(found.len(), expected.len());
    for (found, expected) in found.iter().zip(expected) {
        assert_eq!(found, expected);
    }
}

#[test]
fn field_maps_are_pinned() {
    let mut map = String::new();
    field_map(&<Book as ShmSafe>::LAYOUT, 0, &mut map);
    field_map(&<[ShmRwLock<[AtomicU64; 2]>; 3] as ShmSafe>::LAYOUT, 0, &mut map);
    field_map(&<Broadcast<u64, 8> as ShmSafe>::LAYOUT, 0, &mut map);
    field_map(&<ShardedCounter<4> as ShmSafe>::LAYOUT, 0, &mut map);
    field_map(&<SeqLock<u64> as ShmSafe>::LAYOUT, 0, &mut map);
    field_map(&<ShmSemaphore as ShmSafe>::LAYOUT, 0, &mut map);
    field_map(&<ShmEvent as ShmSafe>::LAYOUT, 0, &mut map);
    field_map(&<ShmBarrier as ShmSafe>::LAYOUT, 0, &mut map);
    let expected = "\
struct len=1
- \"lock\" @0 size=24 ShmMutex
  mutex len=1
  - \"data\" @8 size=16 [u64; 2]
    array len=2
    - \"\" @0 size=8 u64
      plain len=1
- \"ready\" @24 size=4 ShmCondvar
  condvar len=1
- \"hits\" @64 size=64 AtomicCounter
  atomic_counter len=1
- \"flags\" @128 size=3 [u8; 3]
  array len=3
  - \"\" @0 size=1 u8
    plain len=1
array len=3
- \"\" @0 size=640 ShmRwLock
  rwlock len=1
  - \"data\" @576 size=16 [AtomicU64; 2]
    array len=2
    - \"\" @0 size=8 AtomicU64
      atomic len=1
broadcast len=8
sharded_counter len=1
seqlock len=1
semaphore len=1
event len=1
barrier len=1
";
    assert_eq!(map, expected);
}
