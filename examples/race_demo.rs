//! The lost-update race, side by side: N processes each increment one shared
//! counter K times, once per mode, and the table shows how many updates each
//! mode lost. Only the unsynchronized mode loses any.
//!
//! ```text
//! cargo run --release --example race_demo
//! cargo run --release --example race_demo -- --procs 2 --iters 100000 --modes unsync,mutex --json
//! ```

use shmsync_support::workers as support;

use clap::builder::RangedU64ValueParser;
use clap::{Parser, Subcommand, ValueEnum};
use shmsync::{
    AtomicCounter, LockError, Segment, SeqLock, ShardedCounter, ShmBarrier, ShmMutex, ShmSafe,
};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// N processes increment one shared counter K times each, once per
/// synchronization mode, and count the updates that were lost.
#[derive(Parser)]
#[command(name = "race_demo", after_help = AFTER_HELP, disable_help_subcommand = true)]
struct Cli {
    /// Worker processes (1..=64)
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=MAX_PROCS as u64))]
    procs: usize,
    /// Increments per process (1..=100000000)
    #[arg(long, value_name = "K", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    iters: u64,
    /// Comma-separated subset of the modes, run in the order given
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "unsync,mutex,atomic,sharded,seqlock"
    )]
    modes: Vec<Mode>,
    /// Print machine-readable results on stdout instead of the table
    #[arg(long)]
    json: bool,
    // Set only in the worker processes the demo starts.
    #[command(subcommand)]
    worker: Option<Role>,
}

const AFTER_HELP: &str = "\
Workers wait at a start gate in the segment and are pinned round robin to
the allowed CPUs, so they really run at the same time.

Exit status: 0 if no synchronized mode lost an update, 1 if one did, 2 on a
usage or runtime error, 130 when interrupted.";

/// The worker side of the demo: this executable, re-run by the parent.
#[derive(Subcommand)]
enum Role {
    /// One worker process (started by the demo itself, not by hand)
    #[command(hide = true)]
    Worker {
        /// The segment the parent created.
        #[arg(long)]
        segment: String,
        #[arg(long)]
        mode: Mode,
        #[arg(long)]
        iters: u64,
        /// This worker's progress slot and CPU.
        #[arg(long, value_parser = RangedU64ValueParser::<usize>::new().range(0..MAX_PROCS as u64))]
        index: usize,
    },
}

/// The most workers a run may use (one progress slot each).
const MAX_PROCS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Relaxed load, add 1, relaxed store: a lost-update race (no UB)
    Unsync,
    /// ShmMutex<u64>: lock, += 1
    Mutex,
    /// AtomicCounter::incr
    Atomic,
    /// ShardedCounter::incr (one cache line per shard)
    Sharded,
    /// SeqLock<u64>::update
    Seqlock,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Unsync => "unsync",
            Mode::Mutex => "mutex",
            Mode::Atomic => "atomic",
            Mode::Sharded => "sharded",
            Mode::Seqlock => "seqlock",
        }
    }

    fn synchronized(self) -> bool {
        self != Mode::Unsync
    }
}

/// Everything the workers share, in one segment.
#[derive(ShmSafe)]
#[repr(C)]
struct Arena {
    /// The workers of a mode start together here, so that their
    /// increments really overlap instead of running one process after
    /// another.
    start: ShmBarrier,
    /// Per-worker completed increments (progress display).
    progress: [AtomicU64; MAX_PROCS],
    /// Per-worker finish time, CLOCK_MONOTONIC nanoseconds.
    finished_ns: [AtomicU64; MAX_PROCS],
    /// Per-worker start time (leaving the gate), CLOCK_MONOTONIC nanoseconds.
    started_ns: [AtomicU64; MAX_PROCS],
    unsync: AtomicU64,
    mutex: ShmMutex<u64>,
    atomic: AtomicCounter,
    sharded: ShardedCounter,
    seqlock: SeqLock<u64>,
}

impl Arena {
    fn observed(&self, mode: Mode) -> u64 {
        match mode {
            Mode::Unsync => self.unsync.load(Ordering::Relaxed),
            Mode::Mutex => match self.mutex.lock() {
                Ok(g) => *g,
                Err(e) => panic!("mutex unusable after the run: {e}"),
            },
            Mode::Atomic => self.atomic.get(),
            Mode::Sharded => self.sharded.sum(),
            Mode::Seqlock => self.seqlock.read(),
        }
    }
}

struct Outcome {
    mode: Mode,
    expected: u64,
    observed: u64,
    ns_per_op: f64,
}

impl Outcome {
    fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.observed)
    }
    fn lost_pct(&self) -> f64 {
        100.0 * self.lost() as f64 / self.expected as f64
    }
    fn verdict(&self) -> String {
        match (self.mode.synchronized(), self.lost()) {
            (false, 0) => {
                "no update lost this time: the race is real but did not strike; try more --iters"
                    .into()
            }
            (false, n) => format!(
                "{n} increments overwrote each other: read-modify-write without a lock is a race"
            ),
            (true, 0) => "every increment counted".into(),
            (true, n) => format!("BUG: a synchronized mode lost {n} updates"),
        }
    }
}

fn main() {
    // Usage errors exit with status 2, `--help` with 0 (clap's convention).
    let cli = Cli::parse();
    if let Some(Role::Worker { segment, mode, iters, index }) = cli.worker {
        worker(&segment, mode, iters, index);
        return;
    }
    let (procs, iters, json) = (cli.procs, cli.iters, cli.json);
    // Each mode has its own counter in the segment, used once per run.
    let mut modes = Vec::new();
    for mode in cli.modes {
        if !modes.contains(&mode) {
            modes.push(mode);
        }
    }
    support::catch_interrupts();

    let name = shmsync_support::names::run_name("race");
    // The parent owns the segment: it is unlinked when `arena` drops, on
    // every path out of `run` (success, worker failure, Ctrl-C).
    // The start gate is for the workers of one mode at a time.
    let arena = match Segment::<Arena>::create_with(&name, |a| a.start = ShmBarrier::new(procs)) {
        Ok(seg) => seg,
        Err(e) => {
            eprintln!("error: cannot create the shared segment: {e}");
            std::process::exit(2);
        }
    };
    let live = !json && std::io::stdout().is_terminal();
    if !json {
        println!(
            "race_demo: {procs} processes x {iters} increments of one shared counter per mode\n"
        );
    }
    let mut outcomes = Vec::new();
    for mode in modes.iter().copied() {
        match run_mode(&arena, mode, procs, iters, live) {
            Ok(outcome) => outcomes.push(outcome),
            Err(support::WaitError::Interrupted) => {
                eprintln!("\ninterrupted: workers stopped, segment removed");
                drop(arena);
                std::process::exit(130);
            }
            Err(e) => {
                eprintln!(
                    "\nerror in mode {}: {e:?}; workers stopped, segment removed",
                    mode.name()
                );
                drop(arena);
                std::process::exit(2);
            }
        }
    }
    if json {
        print_json(procs, iters, &outcomes);
    } else {
        print_table(&outcomes);
    }
    let bad = outcomes.iter().any(|o| o.mode.synchronized() && o.lost() > 0);
    drop(arena);
    std::process::exit(i32::from(bad));
}

fn run_mode(
    arena: &Segment<Arena>,
    mode: Mode,
    procs: usize,
    iters: u64,
    live: bool,
) -> Result<Outcome, support::WaitError> {
    // Relaxed resets: the workers that read them are spawned afterwards
    // (process creation orders them).
    for slot in &arena.progress[..procs] {
        slot.store(0, Ordering::Relaxed);
    }
    let mut children = Vec::with_capacity(procs);
    for index in 0..procs {
        let args: Vec<String> = vec![
            "worker".into(),
            "--segment".into(),
            arena.name().to_owned(),
            "--mode".into(),
            mode.name().into(),
            "--iters".into(),
            iters.to_string(),
            "--index".into(),
            index.to_string(),
        ];
        match support::spawn_self(&args) {
            Ok(child) => children.push(child),
            Err(e) => {
                for mut c in children {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                return Err(support::WaitError::WorkerFailed(format!("spawn: {e}")));
            }
        }
    }
    let total = procs as u64 * iters;
    let mut stdout = std::io::stdout();
    support::wait_all(&mut children, Duration::from_secs(600), || {
        if live {
            let done: u64 = arena.progress[..procs].iter().map(|p| p.load(Ordering::Relaxed)).sum();
            let _ = write!(
                stdout,
                "\r  {:<8} {:>5.1}% ",
                mode.name(),
                100.0 * done as f64 / total as f64
            );
            let _ = stdout.flush();
        }
    })?;
    if live {
        let _ = write!(stdout, "\r{:40}\r", "");
        let _ = stdout.flush();
    }
    // Relaxed: every worker has exited (its stores are complete and were
    // made visible by the kernel before `waitpid` reported the exit).
    let finished =
        arena.finished_ns[..procs].iter().map(|f| f.load(Ordering::Relaxed)).max().unwrap_or(0);
    // From the first worker through the gate to the last one done.
    let started =
        arena.started_ns[..procs].iter().map(|f| f.load(Ordering::Relaxed)).min().unwrap_or(0);
    let elapsed = finished.saturating_sub(started);
    Ok(Outcome {
        mode,
        expected: total,
        observed: arena.observed(mode),
        ns_per_op: elapsed as f64 / total as f64,
    })
}

fn worker(name: &str, mode: Mode, iters: u64, index: usize) {
    let arena = match Segment::<Arena>::open(name) {
        Ok(seg) => seg,
        Err(e) => {
            eprintln!("worker {index}: cannot open the segment: {e}");
            std::process::exit(2);
        }
    };
    // Each worker on a CPU of its own, round robin: a run lasts
    // milliseconds, less than the scheduler takes to spread freshly started
    // processes over idle cores; pinned workers race on every core from the
    // first increment.
    shmsync_support::cpu::pin_round_robin(index);
    // The gate: every worker has mapped the segment and is pinned before
    // any starts. A worker that dies before it gets here breaks the gate
    // for the others (and the parent sees it exit).
    let mut me = arena.start.join().unwrap_or_else(|e| {
        eprintln!("worker {index}: cannot join the start gate: {e}");
        std::process::exit(2);
    });
    if let Err(e) = me.wait() {
        eprintln!("worker {index}: the start gate: {e}");
        std::process::exit(2);
    }
    // Relaxed: read by the parent only after this process has exited.
    arena.started_ns[index].store(shmsync_support::clocks::monotonic_ns(), Ordering::Relaxed);
    let progress = &arena.progress[index];
    for i in 0..iters {
        match mode {
            Mode::Unsync => {
                // Deliberately racy, but not UB: two separate atomic
                // operations, so another process's store between them is lost.
                let v = arena.unsync.load(Ordering::Relaxed);
                arena.unsync.store(v + 1, Ordering::Relaxed);
            }
            Mode::Mutex => match arena.mutex.lock() {
                Ok(mut g) => *g += 1,
                Err(LockError::OwnerDied(mut g)) => {
                    // No worker dies in this demo, but a robust program
                    // handles it: the counter is always consistent here.
                    *g += 1;
                    shmsync::ShmMutexGuard::make_consistent(&mut g);
                }
                Err(e) => panic!("worker {index}: {e}"),
            },
            Mode::Atomic => {
                arena.atomic.incr();
            }
            Mode::Sharded => arena.sharded.incr(),
            Mode::Seqlock => {
                if let Err(e) = arena.seqlock.update(|v| *v += 1) {
                    panic!("worker {index}: {e}");
                }
            }
        }
        if i % 4096 == 0 {
            // Relaxed: display only.
            progress.store(i, Ordering::Relaxed);
        }
    }
    progress.store(iters, Ordering::Relaxed);
    // Relaxed: read by the parent only after this process has exited.
    arena.finished_ns[index].store(shmsync_support::clocks::monotonic_ns(), Ordering::Relaxed);
}

fn print_table(outcomes: &[Outcome]) {
    println!("| mode    |   expected |   observed |       lost | lost % | ns/incr |");
    println!("|---------|-----------:|-----------:|-----------:|-------:|--------:|");
    for o in outcomes {
        println!(
            "| {:<7} | {:>10} | {:>10} | {:>10} | {:>5.1}% | {:>7.1} |",
            o.mode.name(),
            o.expected,
            o.observed,
            o.lost(),
            o.lost_pct(),
            o.ns_per_op
        );
    }
    println!();
    for o in outcomes {
        println!("{:<8} {}", o.mode.name(), o.verdict());
    }
    println!("\nns/incr is wall-clock time from the start gate to the last worker's finish,");
    println!("divided by all increments of all processes.");
}

fn print_json(procs: usize, iters: u64, outcomes: &[Outcome]) {
    let modes: Vec<String> = outcomes
        .iter()
        .map(|o| {
            format!(
                "{{\"mode\":\"{}\",\"expected\":{},\"observed\":{},\"lost\":{},\"ns_per_op\":{:.3}}}",
                o.mode.name(),
                o.expected,
                o.observed,
                o.lost(),
                o.ns_per_op
            )
        })
        .collect();
    println!("{{\"procs\":{procs},\"iters\":{iters},\"modes\":[{}]}}", modes.join(","));
}
