//! Shared plumbing for the examples: flag parsing, re-executing the example
//! as a worker process, and Ctrl-C handling. Nothing here is shmsync API.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Command-line flags: `--name value` pairs and bare `--switch`es.
pub struct Flags {
    args: Vec<String>,
}

impl Flags {
    /// Parses `std::env::args()`, printing `help` and exiting on `--help`/`-h`.
    pub fn parse(help: &str) -> Flags {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.iter().any(|a| a == "--help" || a == "-h") {
            println!("{help}");
            std::process::exit(0);
        }
        Flags { args }
    }

    /// Whether the bare switch `--name` is present.
    pub fn switch(&self, name: &str) -> bool {
        self.args.iter().any(|a| a == name)
    }

    /// The value after `--name`, if any.
    pub fn value(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}=");
        self.args.iter().enumerate().find_map(|(i, a)| {
            if a == name {
                self.args.get(i + 1).map(String::as_str)
            } else {
                a.strip_prefix(&prefix)
            }
        })
    }

    /// The value after `--name` parsed as `T`, or `default`; exits with a
    /// usage error if it does not parse or fails `valid`.
    pub fn parsed<T: std::str::FromStr>(
        &self,
        name: &str,
        default: T,
        valid: impl Fn(&T) -> bool,
    ) -> T {
        match self.value(name) {
            None => default,
            Some(text) => match text.parse::<T>() {
                Ok(v) if valid(&v) => v,
                _ => usage_error(&format!("invalid value {text:?} for {name}")),
            },
        }
    }

    /// Rejects flags not in `known` (each `--flag` or `--flag=value`).
    pub fn reject_unknown(&self, known: &[&str]) {
        for a in &self.args {
            if let Some(flag) = a.strip_prefix("--") {
                let flag = flag.split('=').next().unwrap_or(flag);
                if !known.iter().any(|k| k.trim_start_matches("--") == flag) {
                    usage_error(&format!("unknown flag --{flag}"));
                }
            }
        }
    }
}

/// Prints `message` and a hint, then exits with status 2.
pub fn usage_error(message: &str) -> ! {
    eprintln!("error: {message} (see --help)");
    std::process::exit(2);
}

/// Spawns this same executable with `args` (a worker role).
pub fn spawn_self(args: &[String]) -> std::io::Result<Child> {
    let exe = std::env::current_exe()?;
    Command::new(exe).args(args).stdin(Stdio::null()).spawn()
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// Makes Ctrl-C (SIGINT) and SIGTERM set a flag instead of killing the
/// process, so the example can stop its workers and unlink its segment.
pub fn catch_interrupts() {
    let handler: extern "C" fn(libc::c_int) = on_sigint;
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `on_sigint` is async-signal-safe (one atomic store) and
        // has the signature `signal` expects; replacing the default
        // disposition has no other effect on this process.
        unsafe { libc::signal(signal, handler as libc::sighandler_t) };
    }
}

/// Whether Ctrl-C or SIGTERM arrived since [`catch_interrupts`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// Why waiting for workers ended early.
#[derive(Debug)]
pub enum WaitError {
    /// Ctrl-C or SIGTERM.
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
                Ok(Some(status)) => failed = Some(format!("worker {i} exited with {status}")),
                Ok(None) => {}
                Err(e) => failed = Some(format!("worker {i}: {e}")),
            }
        }
        if let Some(why) = failed {
            break Err(WaitError::WorkerFailed(why));
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

/// A name unique to this run, so concurrent runs never share a segment.
pub fn run_name(example: &str) -> String {
    format!("shmsync-{example}-{}", std::process::id())
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
            break Err(WaitError::WorkerFailed(format!("worker {i} exited early with {status}")));
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
