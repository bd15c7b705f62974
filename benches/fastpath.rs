//! Instruction counts of one uncontended lock + unlock, for profiling
//! rather than timing: each system's pair runs in its own `#[inline(never)]`
//! function, so `valgrind --tool=callgrind` (deterministic, unlike time on a
//! shared machine) reports instructions per call directly.
//!
//! ```text
//! cargo bench --bench fastpath --no-run
//! valgrind --tool=callgrind --callgrind-out-file=cg.out \
//!     target/release/deps/fastpath-<hash> --bench 100000
//! callgrind_annotate cg.out | grep fastpath::
//! ```
//!
//! Each function is called `N` times (default 100 000): its inclusive
//! instruction count divided by `N` is the cost of one lock + unlock.

#[path = "support/floor.rs"]
mod floor;
#[path = "support/pthread.rs"]
mod pthread;
#[path = "support/shm_region.rs"]
mod shm_region;

use std::hint::black_box;

use floor::FloorLock;
use pthread::PthreadMutex;
use shm_region::{unique_name, ShmRegion};
use shmsync::{Segment, ShmMutex};

#[inline(never)]
fn floor_pair(f: &FloorLock) {
    f.lock();
    f.unlock();
}

#[inline(never)]
fn shmsync_pair(m: &ShmMutex<u64>) {
    match m.lock() {
        Ok(g) => drop(black_box(g)),
        Err(_) => unreachable!("nobody else uses this mutex"),
    }
}

#[inline(never)]
fn glibc_pair(m: &PthreadMutex) {
    m.lock();
    m.unlock();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        eprintln!("fastpath: not run outside `cargo bench` (pass --bench to run it directly)");
        return;
    }
    let n: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(100_000);

    let region = ShmRegion::create(&unique_name("fastpath"), 4096).expect("shm region");
    // SAFETY: a FloorLock is one AtomicU32, valid zeroed, at the page start.
    let floor: &FloorLock = unsafe { region.get() };
    // SAFETY: offset 512 of the fresh page is aligned, unused, and the
    // region outlives the handle (both live until the end of `main`).
    let robust =
        unsafe { PthreadMutex::init(region.as_ptr().add(512).cast(), true) }.expect("robust mutex");
    let ours = Segment::<ShmMutex<u64>>::create(&unique_name("fastpath")).expect("segment");

    for _ in 0..n {
        floor_pair(black_box(floor));
        shmsync_pair(black_box(&ours));
        glibc_pair(black_box(&robust));
    }
    println!("ran {n} lock+unlock pairs of each system");
}
