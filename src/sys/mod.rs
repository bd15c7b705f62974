//! Operating-system specific code: the only place that makes system calls.
//! Only Linux is supported; other targets fail to compile with a clear
//! message (see `lib.rs`). One file per kernel facility:
//!
//! * `futex.rs` — shared futex wait/wake
//! * `thread.rs` — the calling thread's identity (TID + process token)
//! * `token.rs` — the process token
//! * `liveness.rs` — the kernel-held proof that a token's process is gone
//! * `watch.rs` — the same proof as an event: watcher threads wake waiters
//! * `shm.rs` — POSIX shared memory objects and OFD locks
//! * `process.rs` — diagnostics about the calling process
//!
//! Under `--cfg loom` the models in `sync/loom_model.rs` replace the futex,
//! the identity and the liveness proof; only their types are used.
//!
//! Under Miri, which models neither named shared memory nor OFD locks, nor
//! `futex_waitv`, `sched_getcpu` or `/proc`, those calls get stand-ins in
//! the file that makes them (`cfg(miri)`); `shm_model.rs` keeps the
//! objects, descriptions, locks and mappings of `shm.rs` in memory.

// Under loom only the types are used.
#![cfg_attr(loom, allow(dead_code))]

pub(crate) mod futex;
pub(crate) mod liveness;
#[cfg(not(loom))]
pub(crate) mod process;
#[cfg(not(loom))]
pub(crate) mod shm;
#[cfg(all(miri, not(loom)))]
pub(crate) mod shm_model;
pub(crate) mod thread;
#[cfg(not(loom))]
pub(crate) mod token;
#[cfg(not(loom))]
pub(crate) mod watch;
