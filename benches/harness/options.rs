//! Command line of the harness, parsed by `clap`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// The flags as given.
#[derive(Parser)]
#[command(
    name = "harness",
    bin_name = "harness",
    about = "shmsync against its peers, in real processes, side by side",
    after_help = "Run it through `cargo bench --bench harness -- [OPTIONS]`.",
    disable_help_subcommand = true
)]
struct Flags {
    /// Short windows and few repetitions (under a minute)
    #[arg(long)]
    quick: bool,
    /// Also write the figures as JSON to FILE
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Write the chart to FILE [default: benchmarks.svg at the package root]
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Run only the benchmarks whose key contains one of the words: uncontended,
    /// contended, counter, pingpong, death-kill, death-exec, death-blocked-cpu,
    /// seqlock, rwlock, broadcast-latency, broadcast-throughput (so `death`
    /// runs the three owner-liveness families, `broadcast` both broadcast
    /// ones)
    #[arg(long, value_name = "WORD[,WORD...]")]
    only: Option<String>,
    /// Given by `cargo bench`, not by `cargo test --benches`: the harness
    /// measures only when it is set
    #[arg(long)]
    bench: bool,
}

/// How much to measure and where to write.
pub struct Options {
    /// `--quick`: short windows and few repetitions (under a minute).
    pub quick: bool,
    /// `--json FILE`.
    pub json: Option<PathBuf>,
    /// `--svg FILE` (default `benchmarks.svg` beside `BENCHMARKS.md`, at the
    /// package root).
    pub svg: PathBuf,
    /// `--only WORD[,WORD...]`: run only the benchmarks whose key contains
    /// one of the words.
    pub only: Option<String>,
    /// How long one throughput window lasts.
    pub window: Duration,
    /// Repetitions of each throughput window (the median is reported).
    pub reps: usize,
    /// Timed batches of the uncontended loop.
    pub batches: usize,
    /// Round trips per ping-pong.
    pub round_trips: usize,
    /// Kills per owner-death measurement (and execs per owner-exec one).
    pub kills: usize,
    /// How long a waiter stays blocked behind a live owner per sample.
    pub hold: Duration,
    /// Samples of the blocked-waiter measurement.
    pub holds: usize,
    /// Whether `--bench` was given: `cargo bench` passes it, `cargo test
    /// --benches` does not, and a benchmark must not run inside a test run.
    pub bench_mode: bool,
}

impl Options {
    /// Parses the process's arguments; a usage error exits with status 2,
    /// `--help` with 0.
    pub fn from_args() -> Options {
        let Flags { quick, json, svg, only, bench } = Flags::parse();
        Options {
            quick,
            json,
            svg: svg.unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benchmarks.svg")
            }),
            only,
            window: if quick { Duration::from_millis(250) } else { Duration::from_secs(1) },
            reps: if quick { 3 } else { 9 },
            batches: if quick { 31 } else { 201 },
            round_trips: if quick { 2_000 } else { 20_000 },
            kills: if quick { 50 } else { 200 },
            hold: if quick { Duration::from_millis(500) } else { Duration::from_secs(2) },
            holds: if quick { 3 } else { 5 },
            bench_mode: bench,
        }
    }

    /// Whether the benchmark `key` is selected.
    pub fn wants(&self, key: &str) -> bool {
        self.only
            .as_deref()
            .map_or(true, |words| words.split(',').any(|w| !w.is_empty() && key.contains(w)))
    }
}
