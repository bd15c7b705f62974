//! What the workspace's tests, benchmarks and examples share: starting
//! their own binary again as child processes, CPU pinning, unique names,
//! kill tortures, skip reports, and the criterion configuration. Not part
//! of shmsync's API and never published.
//!
//! | module | concern | used by |
//! |---|---|---|
//! | [`process`] | re-executing the running binary | everything below |
//! | [`child`] | child roles announcing points, killed or awaited | tests, the command's tests |
//! | [`signals`] | dying at once, signalling and freezing children | tests |
//! | [`wait`] | bounded waiting for a condition | tests |
//! | [`names`] | names no other test or run uses | tests, benchmarks, examples |
//! | [`torture`] | kill counts and the seeded generator of tortures | kill tortures |
//! | [`skip`] | reporting a test the machine cannot run | tests |
//! | [`shm_file`] | a segment's bytes as another program sees them | validation tests |
//! | [`futex`] | whether a thread sleeps in a futex wait | blocking tests |
//! | [`stamped`] | a value that reveals torn reads | seqlock and broadcast tests |
//! | [`mutex`] | locking where no owner died | tests, benchmarks |
//! | [`clocks`] | clock readings that cross a process boundary | tests, benchmarks, the race demo |
//! | [`cpu`] | CPU pinning | benchmarks, the race demo |
//! | [`bench`](mod@bench) | the peers and floors benchmarks compare against | benchmarks |
//! | `workers` (feature `workers`) | examples' workers and Ctrl-C | examples |
//! | `criterion` (feature `criterion`) | the criterion configuration | in-process benchmarks |
//!
//! The items a test file uses most are also at the crate root, so a test
//! writes `use shmsync_support as support;` and then `support::spawn(..)`.

pub mod bench;
pub mod child;
pub mod clocks;
pub mod cpu;
#[cfg(feature = "criterion")]
pub mod criterion;
pub mod fork;
pub mod futex;
pub mod mutex;
pub mod names;
pub mod process;
pub mod shm_file;
pub mod signals;
pub mod skip;
pub mod stamped;
pub mod torture;
pub mod wait;
#[cfg(feature = "workers")]
pub mod workers;

pub use child::{
    assert_not_a_main_thread_role, park_forever, reached, run_child, run_main_thread_role, spawn,
    spawn_main_thread_role, spawn_under, ChildProcess,
};
pub use fork::exit_status_of_forked;
pub use futex::{blocked_in_futex, gettid, wait_until_blocked_in_futex};
pub use mutex::lock_clean;
pub use names::unique_name;
pub use process::command_succeeds;
pub use signals::{die_now, freeze, signal};
pub use skip::{report_skip, SKIP_STATUS};
pub use stamped::Stamped;
pub use torture::{kills_from_env, Rng};
pub use wait::{start_together, wait_until};
