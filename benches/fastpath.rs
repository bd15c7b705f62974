//! Instruction counts of one uncontended lock + unlock and of one 64-byte
//! seqlock read, for profiling rather than timing: each system's operation
//! runs in its own `#[inline(never)]` function, so `valgrind --tool=callgrind` (deterministic, unlike time on a
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
//! instruction count divided by `N` is the cost of one operation.

use shmsync_support::bench::floor;
use shmsync_support::bench::pairs;
use shmsync_support::bench::pthread;
use shmsync_support::bench::shm_region;

use std::hint::black_box;

use floor::FloorLock;
use pairs::{floor_pair, pthread_pair, shmsync_pair};
use pthread::PthreadMutex;
use shm_region::ShmRegion;
use shmsync::{Segment, SeqLock, ShmMutex};
use shmsync_support::bench::unique_name;

#[inline(never)]
fn shmsync_read64(s: &SeqLock<[u64; 8]>) -> [u64; 8] {
    s.read()
}

#[inline(never)]
fn seqlock_crate_read64(s: &seqlock::SeqLock<[u64; 8]>) -> [u64; 8] {
    s.read()
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

    let ours_seq = Segment::<SeqLock<[u64; 8]>>::create(&unique_name("fastpath")).expect("segment");
    let theirs_seq = seqlock::SeqLock::new([0u64; 8]);

    for _ in 0..n {
        black_box(shmsync_read64(black_box(&ours_seq)));
        black_box(seqlock_crate_read64(black_box(&theirs_seq)));
        floor_pair(black_box(floor));
        shmsync_pair(black_box(&ours));
        pthread_pair(black_box(&robust));
    }
    println!("ran {n} lock+unlock pairs of each system");
}
