//! What the benchmarks measure shmsync against, and where they put it:
//! the floor lock, glibc's process-shared pthread primitives, raw shared
//! memory regions, and the one-call lock+unlock pairs both the criterion
//! benchmarks and the harness time.
//!
//! Everything on a measured path is `#[inline]` (or deliberately
//! `#[inline(never)]`), so living in this crate rather than in each
//! benchmark binary costs no call.

pub mod floor;
pub mod pairs;
pub mod pthread;
pub mod round_trips;
pub mod shm_region;

use crate::names::{unique_name_with, unlink_names_of_this_process, BENCH_PREFIX};

/// A name no other run or process uses: `shmsync-bench-<tag>-<pid>-<n>`.
pub fn unique_name(tag: &str) -> String {
    unique_name_with(BENCH_PREFIX, tag)
}

/// Unlinks every object [`unique_name`] named in this process: the cleanup
/// of an interrupted run, whose regions and segments are never dropped.
/// Best effort: an object already gone is no error.
pub fn unlink_unique_names() {
    unlink_names_of_this_process(BENCH_PREFIX);
}
