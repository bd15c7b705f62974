//! A sensor publishes its latest reading; analyzers read it whenever they
//! like and never wait for (or on) the publisher.
//!
//! A producer process publishes temperature readings at a fixed rate into a
//! `SeqLock<Reading>`; two analyzer processes — running statistics and
//! anomaly detection — read the latest value and the counters. Readers never
//! block the writer, and a dead writer never blocks the readers.
//!
//! ```text
//! cargo run --release --example latest_value -- --secs 3 --rate 1000
//! ```

#[path = "support/mod.rs"]
mod support;

use clap::{Parser, Subcommand, ValueEnum};
use shmsync::bytemuck::{Pod, Zeroable};
use shmsync::{AtomicCounter, Segment, SeqLock, ShmSafe};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A producer publishes sensor readings at a fixed rate into a SeqLock; a
/// statistics analyzer and an anomaly detector (separate processes) read the
/// latest value for a bounded time and print what they saw.
#[derive(Parser)]
#[command(name = "latest_value", disable_help_subcommand = true)]
struct Cli {
    /// How long the producer publishes, in seconds (1..=600)
    #[arg(long, value_name = "S", default_value_t = 3,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    secs: u64,
    /// Readings per second (1..=100000)
    #[arg(long, value_name = "HZ", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    rate: u64,
    // Set only in the analyzer processes the producer starts.
    #[command(subcommand)]
    analyzer: Option<Role>,
}

/// The analyzer side: this executable, re-run by the producer.
#[derive(Subcommand)]
enum Role {
    /// One analyzer process (started by the example itself, not by hand)
    #[command(hide = true)]
    Analyzer {
        #[arg(long)]
        role: Analysis,
        /// The producer's segment.
        #[arg(long)]
        segment: String,
    },
}

/// What an analyzer process does with the readings.
#[derive(Clone, Copy, ValueEnum)]
enum Analysis {
    /// Running statistics.
    Stats,
    /// Anomaly detection.
    Anomaly,
}

impl Analysis {
    fn name(self) -> &'static str {
        match self {
            Analysis::Stats => "stats",
            Analysis::Anomaly => "anomaly",
        }
    }
}

/// One sensor reading. `Pod`: no padding, every bit pattern valid, so a
/// `SeqLock` can copy it as plain words.
#[derive(Clone, Copy, Debug, Default, ShmSafe, Pod, Zeroable)]
#[bytemuck(crate = "shmsync::bytemuck")]
#[repr(C)]
struct Reading {
    /// Sequence number of the reading, from 1.
    seq: u64,
    /// Degrees Celsius.
    celsius: f64,
    /// Producer's CLOCK_MONOTONIC time of the reading, in nanoseconds.
    taken_ns: u64,
}

#[derive(ShmSafe)]
#[repr(C)]
struct Telemetry {
    latest: SeqLock<Reading>,
    published: AtomicCounter,
    /// Readings the producer injected as anomalies (ground truth).
    injected_anomalies: AtomicCounter,
    /// 1 once the producer has finished.
    done: AtomicU32,
}

fn main() {
    // Usage errors exit with status 2, `--help` with 0 (clap's convention).
    let cli = Cli::parse();
    if let Some(Role::Analyzer { role, segment }) = cli.analyzer {
        let telemetry = Segment::<Telemetry>::open(&segment).unwrap_or_else(|e| {
            eprintln!("{}: cannot open the segment: {e}", role.name());
            std::process::exit(2)
        });
        match role {
            Analysis::Stats => stats_analyzer(&telemetry),
            Analysis::Anomaly => anomaly_analyzer(&telemetry),
        }
        return;
    }
    let (secs, rate) = (cli.secs, cli.rate);
    support::catch_interrupts();

    let name = support::run_name("latest");
    let telemetry = match Segment::<Telemetry>::create(&name) {
        Ok(seg) => seg,
        Err(e) => {
            eprintln!("error: cannot create the segment: {e}");
            std::process::exit(2);
        }
    };
    println!("producer: {rate} readings/s for {secs} s into segment {name:?}");
    let mut analyzers = Vec::new();
    for role in [Analysis::Stats, Analysis::Anomaly] {
        let args = ["analyzer", "--role", role.name(), "--segment", &name].map(String::from);
        match support::spawn_self(&args) {
            Ok(child) => analyzers.push(child),
            Err(e) => {
                eprintln!("error: cannot start the {} analyzer: {e}", role.name());
                // `exit` runs no destructors: unlink the segment first.
                drop(telemetry);
                std::process::exit(2);
            }
        }
    }

    produce(&telemetry, secs, rate);
    let result = support::wait_all(&mut analyzers, Duration::from_secs(30), || {});
    let published = telemetry.published.get();
    println!(
        "producer: published {published} readings ({} injected anomalies), seqlock version {}",
        telemetry.injected_anomalies.get(),
        telemetry.latest.version()
    );
    if let Err(e) = result {
        eprintln!("error: analyzers did not finish cleanly: {e:?}");
        drop(telemetry);
        std::process::exit(1);
    }
}

fn produce(telemetry: &Telemetry, secs: u64, rate: u64) {
    let period = Duration::from_nanos(1_000_000_000 / rate);
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let mut next = start;
    let mut seq = 0u64;
    let mut noise = Lcg(0x5eed);
    while Instant::now() < end && !support::interrupted() {
        seq += 1;
        let t = start.elapsed().as_secs_f64();
        // A slow daily-cycle-like wave plus sensor noise...
        let mut celsius = 21.0 + 2.0 * (t * 0.5).sin() + 0.2 * noise.next_unit();
        // ...and every 997th reading a spike the anomaly detector should flag.
        if seq % 997 == 0 {
            celsius += 15.0;
            telemetry.injected_anomalies.incr();
        }
        let reading = Reading { seq, celsius, taken_ns: start.elapsed().as_nanos() as u64 };
        if let Err(e) = telemetry.latest.write(reading) {
            eprintln!("producer: cannot publish: {e}");
            break;
        }
        telemetry.published.incr();
        next += period;
        // Pacing the producer is the scenario (a sensor's sample rate).
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    // Release: pairs with the analyzers' acquire load; they see every write.
    telemetry.done.store(1, Ordering::Release);
}

/// Reads the latest value about every 200 µs until the producer is done:
/// count, distinct readings seen, min/mean/max.
fn stats_analyzer(telemetry: &Telemetry) {
    let mut polls = 0u64;
    let mut distinct = 0u64;
    let mut last_seq = 0u64;
    let (mut min, mut max, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
    loop {
        let finished = telemetry.done.load(Ordering::Acquire) == 1;
        let r = telemetry.latest.read();
        polls += 1;
        assert!(r.seq >= last_seq, "readings went backwards: {} after {last_seq}", r.seq);
        if r.seq > last_seq {
            last_seq = r.seq;
            distinct += 1;
            min = min.min(r.celsius);
            max = max.max(r.celsius);
            sum += r.celsius;
        }
        if finished {
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let mean = if distinct > 0 { sum / distinct as f64 } else { f64::NAN };
    println!(
        "stats:    {polls} polls, {distinct} distinct readings (last #{last_seq}), \
         min {min:.2} °C, mean {mean:.2} °C, max {max:.2} °C"
    );
}

/// Flags readings more than 8 °C from an exponential moving average.
fn anomaly_analyzer(telemetry: &Telemetry) {
    let mut last_seq = 0u64;
    let mut average: Option<f64> = None;
    let mut flagged = Vec::new();
    loop {
        let finished = telemetry.done.load(Ordering::Acquire) == 1;
        let r = telemetry.latest.read();
        if r.seq > last_seq {
            last_seq = r.seq;
            match average {
                Some(avg) if (r.celsius - avg).abs() > 8.0 => flagged.push(r.seq),
                Some(avg) => average = Some(0.95 * avg + 0.05 * r.celsius),
                None => average = Some(r.celsius),
            }
        }
        if finished {
            break;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    let shown: Vec<String> = flagged.iter().take(8).map(|s| format!("#{s}")).collect();
    println!(
        "anomaly:  flagged {} readings as spikes: {}{}",
        flagged.len(),
        shown.join(", "),
        if flagged.len() > shown.len() { ", ..." } else { "" }
    );
}

/// A tiny deterministic noise source (no dependency needed for a demo).
struct Lcg(u64);

impl Lcg {
    /// A value in [-1, 1).
    fn next_unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
}
