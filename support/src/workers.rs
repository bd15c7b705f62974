//! The examples' workers: re-executing the example as a worker process,
//! waiting for the workers, and Ctrl-C handling. Nothing here is shmsync
//! API. Flags are parsed by `clap` in each example, signals caught by
//! `ctrlc`.

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::process::try_self_exe;

/// Spawns this same executable with `args` (a worker role).
///
/// # Errors
///
/// If the process cannot be started.
pub fn spawn_self(args: &[String]) -> std::io::Result<Child> {
    Command::new(try_self_exe()?).args(args).stdin(Stdio::null()).spawn()
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Makes Ctrl-C (SIGINT), SIGTERM and SIGHUP set a flag instead of killing
/// the process, so the example can stop its workers and unlink its segment.
/// The workers keep the default dispositions (a handler does not survive
/// `exec`): a terminal's Ctrl-C reaches them too and simply ends them.
pub fn catch_interrupts() {
    // Relaxed: the flag publishes nothing else; the waiting loops poll it.
    if let Err(e) = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::Relaxed)) {
        // Not fatal: the example still runs, only an interruption would
        // leave the segment behind.
        eprintln!("warning: cannot catch Ctrl-C: {e}");
    }
}

/// Whether Ctrl-C, SIGTERM or SIGHUP arrived since [`catch_interrupts`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// Whether a worker's exit `status` is the interruption itself: a terminal's
/// Ctrl-C (or a signal to the process group) ends the workers at the same
/// moment it reaches this process, and `ctrlc` sets the flag from its own
/// thread a moment later, so the workers' deaths may be seen first.
fn ended_by_interruption(status: ExitStatus) -> bool {
    matches!(status.signal(), Some(libc::SIGINT | libc::SIGTERM | libc::SIGHUP))
}

/// Why waiting for workers ended early.
#[derive(Debug)]
pub enum WaitError {
    /// Ctrl-C, SIGTERM or SIGHUP.
    Interrupted,
    /// A worker exited unsuccessfully.
    WorkerFailed(String),
    /// Workers did not finish in time.
    TimedOut,
}

/// Waits for all `children` to exit successfully, calling `tick` about every
/// 100 ms (for progress output). On interruption, a failed worker or the
/// timeout, kills the remaining workers and returns the reason.
pub fn wait_all(
    children: &mut [Child],
    timeout: Duration,
    mut tick: impl FnMut(),
) -> Result<(), WaitError> {
    let deadline = Instant::now() + timeout;
    let mut done = vec![false; children.len()];
    let result = loop {
        if interrupted() {
            break Err(WaitError::Interrupted);
        }
        let mut failed = None;
        for (i, child) in children.iter_mut().enumerate() {
            if done[i] {
                continue;
            }
            match child.try_wait() {
                Ok(Some(status)) if status.success() => done[i] = true,
                Ok(Some(status)) if ended_by_interruption(status) => {
                    failed = Some(WaitError::Interrupted);
                }
                Ok(Some(status)) => {
                    failed =
                        Some(WaitError::WorkerFailed(format!("worker {i} exited with {status}")));
                }
                Ok(None) => {}
                Err(e) => failed = Some(WaitError::WorkerFailed(format!("worker {i}: {e}"))),
            }
        }
        if let Some(why) = failed {
            break Err(why);
        }
        if done.iter().all(|d| *d) {
            break Ok(());
        }
        if Instant::now() >= deadline {
            break Err(WaitError::TimedOut);
        }
        tick();
        // Polling child exit status: there is no portable "wait for any of
        // these children with a timeout"; 10 ms keeps the timing error small.
        std::thread::sleep(Duration::from_millis(10));
    };
    if result.is_err() {
        for child in children.iter_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
    result
}

/// Waits until `ready()` holds, while watching `children` for early exits
/// and Ctrl-C; kills them all on failure.
pub fn wait_until(
    children: &mut [Child],
    timeout: Duration,
    mut ready: impl FnMut() -> bool,
) -> Result<(), WaitError> {
    let deadline = Instant::now() + timeout;
    let result = loop {
        if ready() {
            break Ok(());
        }
        if interrupted() {
            break Err(WaitError::Interrupted);
        }
        if let Some((i, status)) = children
            .iter_mut()
            .enumerate()
            .find_map(|(i, c)| c.try_wait().ok().flatten().map(|s| (i, s)))
        {
            break Err(if ended_by_interruption(status) {
                WaitError::Interrupted
            } else {
                WaitError::WorkerFailed(format!("worker {i} exited early with {status}"))
            });
        }
        if Instant::now() >= deadline {
            break Err(WaitError::TimedOut);
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    if result.is_err() {
        for child in children.iter_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
    result
}
