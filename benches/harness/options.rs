//! Command line of the harness.

use std::path::PathBuf;
use std::time::Duration;

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

const USAGE: &str =
    "usage: harness --bench [--quick] [--json FILE] [--svg FILE] [--only WORD[,WORD...]]";

impl Options {
    /// Parses `args` (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
        let mut quick = false;
        let mut json = None;
        let mut svg = None;
        let mut only = None;
        let mut bench_mode = false;
        let mut args = args.into_iter();
        while let Some(a) = args.next() {
            let mut value =
                |flag: &str| args.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
            match a.as_str() {
                "--quick" => quick = true,
                "--json" => json = Some(PathBuf::from(value("--json")?)),
                "--svg" => svg = Some(PathBuf::from(value("--svg")?)),
                "--only" => only = Some(value("--only")?),
                "--bench" => bench_mode = true,
                "-h" | "--help" => return Err(USAGE.to_owned()),
                other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
            }
        }
        Ok(Options {
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
            bench_mode,
        })
    }

    /// Whether the benchmark `key` is selected.
    pub fn wants(&self, key: &str) -> bool {
        self.only
            .as_deref()
            .map_or(true, |words| words.split(',').any(|w| !w.is_empty() && key.contains(w)))
    }
}
