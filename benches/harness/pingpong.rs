//! Wake-up latency: the parent hands a turn to a child process and times
//! how long until it comes back (one round trip = two wake-ups).
//!
//! Measured twice, because the two cases differ by an order of magnitude
//! and an unpinned run lands in either at the scheduler's whim:
//!
//! * both processes on one CPU: a wake-up is a context switch;
//! * on two CPUs: a wake-up also crosses CPUs (an IPI, and on a VM whose
//!   other vCPU is idle, the hypervisor waking that vCPU).
//!
//! The spin ping-pong runs across CPUs only: on one CPU a spinner spins
//! until the scheduler preempts it.

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::Duration;

use crate::options::Options;
use crate::processes::{spawn, wait_all};
use crate::report::{Report, Row, Unit};
use crate::stats;
use crate::systems::PingPong;
use shmsync_support::bench::round_trips::{self, WARMUP};
use shmsync_support::bench::unique_name;
use shmsync_support::cpu::{cpu_for, pinned_to};

/// The child role for shared-memory ping-pongs.
pub const ROLE: &str = "pingpong";
/// The child role for the pipe ping-pong.
pub const PIPE_ROLE: &str = "pipe-pong";
/// Where the two processes run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Both pinned to one CPU.
    SameCpu,
    /// Pinned to two different CPUs.
    CrossCpu,
}

impl Placement {
    /// The row label.
    pub fn bench(self) -> &'static str {
        match self {
            Placement::SameCpu => BENCH_SAME,
            Placement::CrossCpu => BENCH_CROSS,
        }
    }

    fn child_cpu(self) -> usize {
        match self {
            Placement::SameCpu => cpu_for(0),
            Placement::CrossCpu => cpu_for(1),
        }
    }
}

/// The row label, one CPU.
pub const BENCH_SAME: &str = "ping-pong round trip, one CPU";
/// The row label, two CPUs.
pub const BENCH_CROSS: &str = "ping-pong round trip, two CPUs";

fn row(placement: Placement, system: &str, samples_us: &[f64], reference: bool) -> Row {
    Row {
        bench: placement.bench().to_owned(),
        system: system.to_owned(),
        procs: 2,
        unit: Unit::Micros,
        median: stats::median(samples_us),
        p99: Some(stats::p99(samples_us)),
        max: None,
        reference,
    }
}

/// Times `n` round trips after the warm-up, in microseconds each.
fn time_round_trips(n: usize, round_trip: impl FnMut()) -> Vec<f64> {
    round_trips::time_each(n, round_trip, |d| d.as_secs_f64() * 1e6)
}

/// Measures a shared-memory ping-pong `P`; `key` names it for the child.
pub fn measure<P: PingPong>(
    opts: &Options,
    report: &mut Report,
    placement: Placement,
    key: &str,
    reference: bool,
) {
    let name = unique_name("pingpong");
    let pp = P::create(&name);
    let total = (WARMUP + opts.round_trips).to_string();
    let cpu = Some(placement.child_cpu());
    let child = spawn(ROLE, &[key.to_owned(), name, total], cpu, Stdio::null(), Stdio::null());
    let samples = pinned_to(cpu_for(0), || time_round_trips(opts.round_trips, || pp.ping()));
    wait_all(vec![child], Duration::from_secs(60));
    report.push(row(placement, P::NAME, &samples, reference));
}

/// The shared-memory child: answers pings.
pub fn child<P: PingPong>(args: &[String]) {
    let pp = P::open(&args[1]);
    pp.serve(args[2].parse().expect("round trips"));
}

/// Measures a ping-pong of one byte over two pipes (the child's stdin and
/// stdout): what a program without shared-memory sync would use.
pub fn measure_pipe(opts: &Options, report: &mut Report, placement: Placement) {
    let total = WARMUP + opts.round_trips;
    let cpu = Some(placement.child_cpu());
    let mut child = spawn(PIPE_ROLE, &[total.to_string()], cpu, Stdio::piped(), Stdio::piped());
    let mut to_child = child.stdin.take().expect("piped stdin");
    let mut from_child = child.stdout.take().expect("piped stdout");
    let samples = pinned_to(cpu_for(0), || {
        time_round_trips(opts.round_trips, || {
            let mut b = [0u8; 1];
            to_child.write_all(&b).expect("write to child");
            from_child.read_exact(&mut b).expect("read from child");
        })
    });
    drop((to_child, from_child));
    wait_all(vec![child], Duration::from_secs(60));
    report.push(row(placement, "pipe (1 byte each way)", &samples, false));
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
