//! The real-time analyzer: a producer process writes sensor readings into a
//! ring buffer, and analyzer processes consume *every* reading since their
//! last position.
//!
//! A producer samples a temperature sensor at a fixed rate and sends each
//! reading into a `Broadcast<Reading, 1024>` in a segment. Two analyzer
//! processes, started by the producer, subscribe and receive every reading
//! in order: one keeps running statistics, the other flags spikes. Each
//! says what it saw and how many readings it lost to lagging: none at the
//! default rate, some if `--work-us` makes the anomaly analyzer slower than
//! the sensor for longer than the ring's 1024 readings last. The last
//! reading carries an end-of-stream mark, so the stop travels in the same
//! ordered stream as the data and no reading can slip in after it.
//!
//! ```text
//! cargo run --release --example sensor_analyzer -- --secs 3 --rate 1000
//! cargo run --release --example sensor_analyzer -- --secs 2 --rate 5000 --work-us 500
//! ```

use shmsync_support::workers as support;

use clap::{Parser, Subcommand, ValueEnum};
use shmsync::bytemuck::{Pod, Zeroable};
use shmsync::{AtomicCounter, Broadcast, RecvTimeoutError, Segment, ShmSafe};
use std::time::{Duration, Instant};

/// Readings the ring holds: an analyzer may fall this far behind before it
/// loses any (about a second at the default rate).
const CAPACITY: usize = 1024;

/// A producer sends sensor readings at a fixed rate into a Broadcast ring;
/// a statistics analyzer and an anomaly detector (separate processes)
/// receive every reading and report what they saw and what they lost.
#[derive(Parser)]
#[command(name = "sensor_analyzer", disable_help_subcommand = true)]
struct Cli {
    /// How long the producer samples, in seconds (1..=600)
    #[arg(long, value_name = "S", default_value_t = 3,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    secs: u64,
    /// Readings per second (1..=100000)
    #[arg(long, value_name = "HZ", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    rate: u64,
    /// Microseconds of work the anomaly analyzer spends on each reading
    /// (0..=100000): above the sensor's period it falls behind and lags
    #[arg(long, value_name = "US", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=100_000))]
    work_us: u64,
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
        /// Work per reading, in microseconds.
        #[arg(long, default_value_t = 0)]
        work_us: u64,
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

/// One sensor reading. `Pod`: no padding, every bit pattern valid, so the
/// ring can copy it as plain words.
#[derive(Clone, Copy, Debug, Default, ShmSafe, Pod, Zeroable)]
#[bytemuck(crate = "shmsync::bytemuck")]
#[repr(C)]
struct Reading {
    /// Degrees Celsius.
    celsius: f64,
    /// Producer's monotonic time of the reading, in nanoseconds since it
    /// started.
    taken_ns: u64,
    /// 1 on the end-of-stream mark (which is no reading), else 0.
    end: u64,
}

#[derive(ShmSafe)]
#[repr(C)]
struct Sensor {
    readings: Broadcast<Reading, CAPACITY>,
    /// Analyzers that have subscribed: the producer's first reading waits
    /// for both, since a receiver sees only what is sent after it exists.
    subscribed: AtomicCounter,
}

fn main() {
    // Usage errors exit with status 2, `--help` with 0 (clap's convention).
    let cli = Cli::parse();
    if let Some(Role::Analyzer { role, segment, work_us }) = cli.analyzer {
        let sensor = Segment::<Sensor>::open(&segment).unwrap_or_else(|e| {
            eprintln!("{}: cannot open the segment: {e}", role.name());
            std::process::exit(2)
        });
        let result = match role {
            Analysis::Stats => stats_analyzer(&sensor),
            Analysis::Anomaly => anomaly_analyzer(&sensor, Duration::from_micros(work_us)),
        };
        if let Err(why) = result {
            eprintln!("{}: {why}", role.name());
            std::process::exit(1);
        }
        return;
    }
    support::catch_interrupts();

    let name = shmsync_support::names::run_name("sensor");
    let sensor = match Segment::<Sensor>::create(&name) {
        Ok(seg) => seg,
        Err(e) => {
            eprintln!("error: cannot create the segment: {e}");
            std::process::exit(2);
        }
    };
    println!(
        "producer: {} readings/s for {} s into a ring of {CAPACITY} in segment {name:?}",
        cli.rate, cli.secs
    );
    let mut analyzers = Vec::new();
    for (role, work_us) in [(Analysis::Stats, 0), (Analysis::Anomaly, cli.work_us)] {
        let args = [
            "analyzer",
            "--role",
            role.name(),
            "--segment",
            &name,
            "--work-us",
            &work_us.to_string(),
        ]
        .map(String::from);
        match support::spawn_self(&args) {
            Ok(child) => analyzers.push(child),
            Err(e) => {
                eprintln!("error: cannot start the {} analyzer: {e}", role.name());
                // `exit` runs no destructors: unlink the segment first.
                drop(sensor);
                std::process::exit(2);
            }
        }
    }
    let subscribed = support::wait_until(&mut analyzers, Duration::from_secs(30), || {
        sensor.subscribed.get() == 2
    });
    if let Err(e) = subscribed {
        eprintln!("error: the analyzers did not start: {e:?}");
        drop(sensor);
        std::process::exit(1);
    }

    let (sent, spikes) = match produce(&sensor, cli.secs, cli.rate) {
        Ok(counts) => counts,
        Err(e) => {
            eprintln!("producer: cannot send: {e}");
            drop(sensor);
            std::process::exit(1);
        }
    };
    println!("producer: sent {sent} readings ({spikes} injected spikes), then the end mark");
    // Analyzers that lag far behind still finish: the end mark is the
    // newest value, which nothing overwrites.
    let result = support::wait_all(&mut analyzers, Duration::from_secs(60), || {});
    if let Err(e) = result {
        eprintln!("error: analyzers did not finish cleanly: {e:?}");
        drop(sensor);
        std::process::exit(1);
    }
}

/// Sends readings at `rate` for `secs` seconds (or until Ctrl-C), then the
/// end mark. Returns (readings sent, spikes among them).
fn produce(sensor: &Sensor, secs: u64, rate: u64) -> Result<(u64, u64), shmsync::SendError> {
    let period = Duration::from_nanos(1_000_000_000 / rate);
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let mut next = start;
    let (mut sent, mut spikes) = (0u64, 0u64);
    let mut noise = Lcg(0x5eed);
    while Instant::now() < end && !support::interrupted() {
        let t = start.elapsed().as_secs_f64();
        // A slow daily-cycle-like wave plus sensor noise...
        let mut celsius = 21.0 + 2.0 * (t * 0.5).sin() + 0.2 * noise.next_unit();
        // ...and every 997th reading a spike the anomaly detector should flag.
        if (sent + 1) % 997 == 0 {
            celsius += 15.0;
            spikes += 1;
        }
        let taken_ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        sensor.readings.send(Reading { celsius, taken_ns, end: 0 })?;
        sent += 1;
        next += period;
        // Pacing the producer is the scenario (a sensor's sample rate).
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    sensor.readings.send(Reading { end: 1, ..Reading::default() })?;
    Ok((sent, spikes))
}

/// Every reading until the end mark, through `on_reading(number, reading)`;
/// returns (received, lost to lagging).
fn consume(
    sensor: &Sensor,
    mut on_reading: impl FnMut(u64, &Reading),
) -> Result<(u64, u64), String> {
    let mut readings = sensor.readings.subscribe();
    sensor.subscribed.incr();
    let (mut received, mut lost) = (0u64, 0u64);
    loop {
        let number = readings.next_sequence();
        match readings.recv_timeout(Duration::from_secs(10)) {
            Ok(r) if r.end == 1 => return Ok((received, lost)),
            Ok(r) => {
                received += 1;
                on_reading(number, &r);
            }
            Err(RecvTimeoutError::Lagged(n)) => lost += n,
            Err(RecvTimeoutError::Timeout) => {
                return Err(format!("no reading for 10 s after #{number}: the producer is gone"))
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Count, min/mean/max of every reading.
fn stats_analyzer(sensor: &Sensor) -> Result<(), String> {
    let (mut min, mut max, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0.0);
    let (mut first_ns, mut last_ns) = (None, 0);
    let (received, lost) = consume(sensor, |_, r| {
        min = min.min(r.celsius);
        max = max.max(r.celsius);
        sum += r.celsius;
        first_ns.get_or_insert(r.taken_ns);
        last_ns = r.taken_ns;
    })?;
    let mean = if received > 0 { sum / received as f64 } else { f64::NAN };
    let span_s = last_ns.saturating_sub(first_ns.unwrap_or(0)) as f64 / 1e9;
    println!(
        "stats:    received {received} readings, lost {lost} to lagging; \
         min {min:.2} °C, mean {mean:.2} °C, max {max:.2} °C over {span_s:.1} s"
    );
    Ok(())
}

/// Flags readings more than 8 °C from an exponential moving average,
/// spending `work` on each reading.
fn anomaly_analyzer(sensor: &Sensor, work: Duration) -> Result<(), String> {
    let mut average: Option<f64> = None;
    let mut flagged = Vec::new();
    let (received, lost) = consume(sensor, |number, r| {
        match average {
            Some(avg) if (r.celsius - avg).abs() > 8.0 => flagged.push(number + 1),
            Some(avg) => average = Some(0.95 * avg + 0.05 * r.celsius),
            None => average = Some(r.celsius),
        }
        if !work.is_zero() {
            // The analysis this example leaves out, standing in as time.
            std::thread::sleep(work);
        }
    })?;
    let shown: Vec<String> = flagged.iter().take(8).map(|s| format!("#{s}")).collect();
    println!(
        "anomaly:  received {received} readings, lost {lost} to lagging; flagged {} spikes: {}{}",
        flagged.len(),
        shown.join(", "),
        if flagged.len() > shown.len() { ", ..." } else { "" }
    );
    Ok(())
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
