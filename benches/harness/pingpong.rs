//! Wake-up latency: the parent hands a turn to a child process and times
//! how long until it comes back (one round trip = two wake-ups).
//!
//! Not pinned: where the scheduler puts a woken process is part of what a
//! program sees (pinned to a CPU that other work occupies, every wake-up
//! would wait for a time slice instead).

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::options::Options;
use crate::processes::{spawn, wait_all};
use crate::report::{Report, Row, Unit};
use crate::shm_region::unique_name;
use crate::stats;
use crate::systems::PingPong;

/// The child role for shared-memory ping-pongs.
pub const ROLE: &str = "pingpong";
/// The child role for the pipe ping-pong.
pub const PIPE_ROLE: &str = "pipe-pong";
/// The row label.
pub const BENCH: &str = "ping-pong round trip";

/// Untimed round trips first: both processes running, caches warm.
const WARMUP: usize = 200;

fn row(system: &str, samples_us: &[f64], reference: bool) -> Row {
    Row {
        bench: BENCH.to_owned(),
        system: system.to_owned(),
        procs: 2,
        unit: Unit::Micros,
        median: stats::median(samples_us),
        p99: Some(stats::p99(samples_us)),
        max: None,
        reference,
    }
}

fn time_round_trips(n: usize, mut round_trip: impl FnMut()) -> Vec<f64> {
    for _ in 0..WARMUP {
        round_trip();
    }
    (0..n)
        .map(|_| {
            let t = Instant::now();
            round_trip();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect()
}

/// Measures a shared-memory ping-pong `P`; `key` names it for the child.
pub fn measure<P: PingPong>(opts: &Options, report: &mut Report, key: &str, reference: bool) {
    let name = unique_name("pingpong");
    let pp = P::create(&name);
    let total = (WARMUP + opts.round_trips).to_string();
    let child = spawn(ROLE, &[key.to_owned(), name, total], None, Stdio::null(), Stdio::null());
    let samples = time_round_trips(opts.round_trips, || pp.ping());
    wait_all(vec![child], Duration::from_secs(20));
    report.push(row(P::NAME, &samples, reference));
}

/// The shared-memory child: answers pings.
pub fn child<P: PingPong>(args: &[String]) {
    let pp = P::open(&args[1]);
    pp.serve(args[2].parse().expect("round trips"));
}

/// Measures a ping-pong of one byte over two pipes (the child's stdin and
/// stdout): what a program without shared-memory sync would use.
pub fn measure_pipe(opts: &Options, report: &mut Report) {
    let total = WARMUP + opts.round_trips;
    let mut child = spawn(PIPE_ROLE, &[total.to_string()], None, Stdio::piped(), Stdio::piped());
    let mut to_child = child.stdin.take().expect("piped stdin");
    let mut from_child = child.stdout.take().expect("piped stdout");
    let samples = time_round_trips(opts.round_trips, || {
        let mut b = [0u8; 1];
        to_child.write_all(&b).expect("write to child");
        from_child.read_exact(&mut b).expect("read from child");
    });
    drop((to_child, from_child));
    wait_all(vec![child], Duration::from_secs(20));
    report.push(row("pipe (1 byte each way)", &samples, false));
}

/// The pipe child: echoes bytes from stdin to stdout, unbuffered.
pub fn pipe_child(args: &[String]) {
    let n: usize = args[0].parse().expect("round trips");
    let mut input = std::io::stdin().lock();
    // stdout is buffered: the flush makes every pong one write(2), as the
    // parent's side is.
    let mut output = std::io::stdout().lock();
    let mut b = [0u8; 1];
    for _ in 0..n {
        input.read_exact(&mut b).expect("read ping");
        output.write_all(&b).expect("write pong");
        output.flush().expect("flush pong");
    }
}
