//! Counters that live in shared memory: [`AtomicCounter`], one cache-line
//! sized `u64`, and [`ShardedCounter`], one logical counter spread over
//! several cache lines so that writers on different CPUs never contend.
//!
//! Both are valid when zeroed (a zeroed counter reads 0) and hold no
//! process-local state, so they can sit directly in a segment's type.

mod atomic;
mod sharded;

pub use atomic::AtomicCounter;
pub use sharded::{ShardedCounter, DEFAULT_SHARDS};
