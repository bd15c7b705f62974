//! Uncontended lock + unlock, one thread, for shmsync's `ShmMutex` and the
//! locks users would pick instead. The process-shared locks live in a real
//! `MAP_SHARED` mapping of a POSIX shared memory object (a shmsync `Segment`
//! for shmsync); `std` and `parking_lot` are in-process references.
//!
//! Every pair is one `#[inline(never)]` call, for every system alike:
//! glibc's lock is always a call into libc, and a pair inlined into
//! criterion's loop lets the compiler overlap iterations in ways real code
//! (work between lock and unlock) never sees. (Inlined, `ShmMutex` measured
//! 20–23 ns here against 14–15 ns as a call, while the floor stayed at
//! 12–14 ns: a layout effect of the tight loop, not of the lock.)
//!
//! Run: `cargo bench --bench mutex`.

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use shmsync_support::criterion::config;

use shmsync_support::bench::floor;
use shmsync_support::bench::pairs;
use shmsync_support::bench::pthread;
use shmsync_support::bench::shm_region;

use floor::FloorLock;
use pairs::{floor_pair, parking_lot_pair, pthread_pair, shmsync_pair, std_pair};
use pthread::PthreadMutex;
use shm_region::ShmRegion;
use shmsync::{CachePadded, Segment, ShmMutex};
use shmsync_support::bench::unique_name;

#[inline(never)]
fn raw_sync_pair(m: &dyn raw_sync::locks::LockImpl) {
    drop(black_box(m.lock().expect("raw_sync lock")));
}

/// Room for one peer's lock (a `pthread_mutex_t` is 40 bytes), on cache
/// lines of its own in one shared mapping.
type Slot = CachePadded<[u8; 128]>;

#[repr(C)]
struct Peers {
    floor: CachePadded<FloorLock>,
    robust: Slot,
    plain: Slot,
    raw_sync_lock: Slot,
    raw_sync_data: Slot,
}

fn uncontended(c: &mut Criterion) {
    let region = ShmRegion::create(&unique_name("mutex"), 4096).expect("shm region");
    // SAFETY: `Peers` is atomics and plain bytes, valid when zeroed (a fresh
    // region), and fits in one page.
    let peers: &Peers = unsafe { region.get() };

    let mut g = c.benchmark_group("uncontended lock+unlock");

    g.bench_function("floor: CAS + swap on one AtomicU32", |b| {
        b.iter(|| floor_pair(black_box(&peers.floor)))
    });

    let ours = Segment::<ShmMutex<u64>>::create(&unique_name("mutex")).expect("segment");
    g.bench_function("shmsync ShmMutex", |b| b.iter(|| shmsync_pair(black_box(&ours))));

    // SAFETY: the slots are in the mapping, 64-byte aligned, large enough
    // for a pthread_mutex_t (40 bytes), and used by nobody else.
    let robust =
        unsafe { PthreadMutex::init(peers.robust.as_ptr() as *mut _, true) }.expect("robust mutex");
    g.bench_function("glibc robust pshared pthread_mutex", |b| {
        b.iter(|| pthread_pair(black_box(&robust)))
    });

    // SAFETY: as above, another slot.
    let plain = unsafe { PthreadMutex::init(peers.plain.as_ptr() as *mut _, false) }
        .expect("pshared mutex");
    g.bench_function("glibc pshared pthread_mutex (not robust)", |b| {
        b.iter(|| pthread_pair(black_box(&plain)))
    });

    // SAFETY: both pointers are inside the mapping, in slots nobody else
    // uses, and the mapping outlives the lock (dropped at the end of scope).
    let (raw_sync, _) = unsafe {
        <raw_sync::locks::Mutex as raw_sync::locks::LockInit>::new(
            peers.raw_sync_lock.as_ptr() as *mut u8,
            peers.raw_sync_data.as_ptr() as *mut u8,
        )
    }
    .expect("raw_sync mutex");
    g.bench_function("raw_sync::locks::Mutex", |b| b.iter(|| raw_sync_pair(black_box(&*raw_sync))));

    let std_mutex = std::sync::Mutex::new(0u64);
    g.bench_function("std::sync::Mutex (in-process)", |b| {
        b.iter(|| std_pair(black_box(&std_mutex)))
    });

    let pl_mutex = parking_lot::Mutex::new(0u64);
    g.bench_function("parking_lot::Mutex (in-process)", |b| {
        b.iter(|| parking_lot_pair(black_box(&pl_mutex)))
    });

    g.finish();
}

criterion_group! { name = benches; config = config(); targets = uncontended }
criterion_main!(benches);
