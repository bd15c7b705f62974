//! Uncontended lock + unlock, one thread, for shmsync's `ShmMutex` and the
//! locks users would pick instead. The process-shared locks live in a real
//! `MAP_SHARED` mapping of a POSIX shared memory object (a shmsync `Segment`
//! for shmsync); `std` and `parking_lot` are in-process references.
//!
//! Run: `cargo bench --bench mutex`.

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::time::Duration;

#[path = "support/floor.rs"]
mod floor;
#[path = "support/pthread.rs"]
mod pthread;
#[path = "support/shm_region.rs"]
mod shm_region;

use floor::FloorLock;
use pthread::PthreadMutex;
use shm_region::{unique_name, ShmRegion};
use shmsync::{LockError, Segment, ShmMutex};

/// Each lock in its own cache line of one shared mapping.
#[repr(C, align(64))]
struct Slot([u8; 128]);

#[repr(C)]
struct Peers {
    floor: FloorLock,
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
        b.iter(|| {
            let f = black_box(&peers.floor);
            f.lock();
            f.unlock();
        })
    });

    let ours = Segment::<ShmMutex<u64>>::create(&unique_name("mutex")).expect("segment");
    g.bench_function("shmsync ShmMutex", |b| {
        b.iter(|| match black_box(&ours).lock() {
            Ok(guard) => drop(black_box(guard)),
            Err(LockError::OwnerDied(_) | LockError::NotRecoverable) => unreachable!("unshared"),
        })
    });

    // SAFETY: the slots are in the mapping, 64-byte aligned, large enough
    // for a pthread_mutex_t (40 bytes), and used by nobody else.
    let robust = unsafe { PthreadMutex::init(peers.robust.0.as_ptr() as *mut _, true) }
        .expect("robust mutex");
    g.bench_function("glibc robust pshared pthread_mutex", |b| {
        b.iter(|| {
            let m = black_box(&robust);
            m.lock();
            m.unlock();
        })
    });

    // SAFETY: as above, another slot.
    let plain = unsafe { PthreadMutex::init(peers.plain.0.as_ptr() as *mut _, false) }
        .expect("pshared mutex");
    g.bench_function("glibc pshared pthread_mutex (not robust)", |b| {
        b.iter(|| {
            let m = black_box(&plain);
            m.lock();
            m.unlock();
        })
    });

    // SAFETY: both pointers are inside the mapping, in slots nobody else
    // uses, and the mapping outlives the lock (dropped at the end of scope).
    let (raw_sync, _) = unsafe {
        <raw_sync::locks::Mutex as raw_sync::locks::LockInit>::new(
            peers.raw_sync_lock.0.as_ptr() as *mut u8,
            peers.raw_sync_data.0.as_ptr() as *mut u8,
        )
    }
    .expect("raw_sync mutex");
    g.bench_function("raw_sync::locks::Mutex", |b| {
        b.iter(|| {
            let guard = black_box(&raw_sync).lock().expect("raw_sync lock");
            drop(black_box(guard));
        })
    });

    let std_mutex = std::sync::Mutex::new(0u64);
    g.bench_function("std::sync::Mutex (in-process)", |b| {
        b.iter(|| drop(black_box(black_box(&std_mutex).lock())))
    });

    let pl_mutex = parking_lot::Mutex::new(0u64);
    g.bench_function("parking_lot::Mutex (in-process)", |b| {
        b.iter(|| drop(black_box(black_box(&pl_mutex).lock())))
    });

    g.finish();
}

fn config() -> Criterion {
    // Short windows: the machine is small and shared; criterion's outlier
    // analysis and the many samples carry the precision.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(60)
}

criterion_group! { name = benches; config = config(); targets = uncontended }
criterion_main!(benches);
