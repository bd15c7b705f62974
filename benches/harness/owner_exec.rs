//! Owner-exec recovery latency: a child process takes the lock and then
//! `execve`s another program (`sleep 30`) while a thread of the parent
//! sleeps in `lock`. The exec'd program no longer maps the lock, so the
//! owner is gone although its process lives on; glibc's robust mutex
//! reports `EOWNERDEAD` (the kernel walks the robust list at exec), shmsync
//! `OwnerDied` (the token's close-on-exec descriptor closes).
//!
//! The figure is the time from the holder's last moment before `execve`
//! (a `CLOCK_MONOTONIC` reading it leaves in shared memory) to the waiter's
//! `lock` returning "owner died": the parent's command reaches the holder
//! through a pipe, and that wake-up is not the lock's cost. The command
//! comes at a random moment, as the kill row's `kill` does.

use std::ffi::CString;
use std::io::{Read, Write};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use crate::clocks;
use crate::options::Options;
use crate::owner_death::{measure_recovery, spawn_holder, start_waiter, XorShift};
use crate::processes::ControlView;
use crate::report::Report;
use crate::systems::RobustLock;

/// The child role: the holder that execs.
pub const ROLE: &str = "exec-holder";
/// The row label.
pub const BENCH: &str = "owner-death recovery (exec → OwnerDied)";

/// The program the holder becomes, and its argument: long-lived and
/// harmless; the parent kills it once the sample is taken.
const PROGRAM: &str = "sleep";
const PROGRAM_ARG: &str = "30";

/// Measures `L` over `opts.kills` execs (as many samples as the kill row);
/// `key` names it for the children.
pub fn measure<L: RobustLock + Send + 'static>(
    opts: &Options,
    report: &mut Report,
    key: &str,
    reference: bool,
) {
    measure_recovery::<L>(opts, report, key, reference, BENCH, "exec", one_exec::<L>);
}

fn one_exec<L: RobustLock + Send + 'static>(
    lock: &Arc<L>,
    key: &str,
    name: &str,
    rng: &mut XorShift,
) -> Duration {
    let (ctl, mut holder) = spawn_holder(ROLE, key, name, Stdio::piped());
    let mut command = holder.stdin.take().expect("the holder's stdin");
    let waiter = start_waiter(lock, |lock| {
        let died = lock.lock_recover_unlock();
        (clocks::monotonic_ns(), died)
    });
    // The scenario: the holder execs at an arbitrary moment of the wait.
    std::thread::sleep(Duration::from_micros(rng.below(8_000)));
    command.write_all(b"x").expect("command the holder to exec");
    drop(command);
    let (t1, died) = waiter.join().expect("waiter thread");
    // The holder is now `sleep`: still running, or it did not exec.
    if let Some(status) = holder.try_wait().expect("try_wait") {
        panic!("the holder exited ({status}) instead of exec'ing");
    }
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(died, "the waiter acquired the lock without seeing the owner's exec");
    // Read after the holder was reaped, which orders its store before.
    let t0 = ctl.get().result(0);
    assert!(t0 != 0, "the holder left no time before exec");
    Duration::from_nanos(t1.checked_sub(t0).expect("recovered before the exec"))
}

/// The holder: takes the lock, says so, waits for the parent's byte on
/// stdin, notes the time and execs [`PROGRAM`].
pub fn child<L: RobustLock>(args: &[String]) {
    let ctl = ControlView::open(&args[0]);
    let lock = L::open(&args[2]);
    // Everything exec needs is built first, so that nothing but a store
    // lies between the timestamp and the system call.
    let program = shmsync_support::process::find_program(PROGRAM);
    let arg = CString::new(PROGRAM_ARG).expect("no NUL in the argument");
    let argv = [program.as_ptr(), arg.as_ptr(), core::ptr::null()];
    lock.lock_and_keep();
    ctl.get().child_ready_then_wait_go();
    let mut byte = [0u8];
    std::io::stdin().read_exact(&mut byte).expect("the parent's command");
    ctl.get().put_result(0, clocks::monotonic_ns());
    // SAFETY: `program` and `arg` are NUL-terminated strings alive for the
    // call, and `argv` is the null-terminated array of them execv expects.
    unsafe { libc::execv(program.as_ptr(), argv.as_ptr()) };
    panic!("execv {program:?}: {}", std::io::Error::last_os_error());
}
