//! `Broadcast`: one-way latency from a sender to a receiver in another
//! process on another CPU, against the floor (a bare `AtomicU64` spin
//! ping-pong), a pipe and a Unix datagram socket; and the throughput of
//! 8-byte values to 1 and to 2 receiver processes.
//!
//! Latency is measured as half of a round trip: the parent sends a value,
//! the child, blocked in `recv`, sends it back on a second ring, and the
//! parent, blocked in `recv` too, times the whole exchange. Every system
//! runs the same exchange, pinned to the same two CPUs.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::process::Stdio;
use std::time::{Duration, Instant};

use shmsync::{AtomicCounter, Broadcast, RecvTimeoutError, Segment, ShmSafe};

use crate::options::Options;
use crate::peers::SpinPingPong;
use crate::pingpong;
use crate::processes::{child_args, spawn, timed_run, wait_all};
use crate::report::{Report, Row, Unit};
use crate::stats;
use crate::systems::PingPong;
use shmsync_support::bench::round_trips::{self, WARMUP};
use shmsync_support::bench::unique_name;
use shmsync_support::cpu::{cpu_for, pinned_to};

/// The child role answering broadcast pings.
pub const PONG_ROLE: &str = "broadcast-pong";
/// The child role answering datagrams on its standard input.
pub const DGRAM_ROLE: &str = "dgram-pong";
/// The child role of the throughput runs (index 0 sends, the rest receive).
pub const THROUGHPUT_ROLE: &str = "broadcast-throughput";

/// The row label of the latency rows.
pub const ONE_WAY: &str = "one-way latency, two CPUs";
/// Slots of the rings measured.
const SLOTS: usize = 1024;

/// Two rings, one each way, in one segment.
#[derive(ShmSafe)]
#[repr(C)]
pub struct Exchange {
    ping: Broadcast<u64, SLOTS>,
    pong: Broadcast<u64, SLOTS>,
    /// The child subscribed to `ping` (it sees only what is sent after).
    ready: AtomicCounter,
}

fn row(system: &str, samples_ns: &[f64], reference: bool) -> Row {
    Row {
        bench: ONE_WAY.to_owned(),
        system: system.to_owned(),
        procs: 2,
        unit: Unit::NsPerOp,
        median: stats::median(samples_ns),
        p99: Some(stats::p99(samples_ns)),
        max: None,
        reference,
    }
}

/// Times `n` exchanges after the warm-up; each sample is half of one round
/// trip, in nanoseconds.
fn one_way_samples(n: usize, round_trip: impl FnMut()) -> Vec<f64> {
    round_trips::time_each(n, round_trip, |d| d.as_secs_f64() * 1e9 / 2.0)
}

/// All latency rows, the floor first (the reference).
pub fn measure_latency(opts: &Options, report: &mut Report) {
    let total = WARMUP + opts.round_trips;
    let child_cpu = Some(cpu_for(1));

    // The floor: both sides spin on one shared word.
    let name = unique_name("oneway-spin");
    let spin = <SpinPingPong as PingPong>::create(&name);
    let child = spawn(
        pingpong::ROLE,
        &["spin".to_owned(), name, total.to_string()],
        child_cpu,
        Stdio::null(),
        Stdio::null(),
    );
    let samples = pinned_to(cpu_for(0), || one_way_samples(opts.round_trips, || spin.ping()));
    wait_all(vec![child], Duration::from_secs(60));
    report.push(row("floor: spin on a shared AtomicU64", &samples, true));

    // shmsync: a value each way through a Broadcast, both sides in `recv`.
    let name = unique_name("oneway-bcast");
    let seg = Segment::<Exchange>::create(&name).expect("create segment");
    let mut pongs = seg.pong.subscribe();
    let child =
        spawn(PONG_ROLE, &[name, total.to_string()], child_cpu, Stdio::null(), Stdio::null());
    let deadline = Instant::now() + Duration::from_secs(20);
    while seg.ready.get() == 0 {
        assert!(Instant::now() < deadline, "the broadcast child did not subscribe");
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut next = 0u64;
    let samples = pinned_to(cpu_for(0), || {
        one_way_samples(opts.round_trips, || {
            seg.ping.send(next).expect("send");
            assert_eq!(pongs.recv(), Ok(next), "the pong is the ping");
            next += 1;
        })
    });
    wait_all(vec![child], Duration::from_secs(60));
    report.push(row("shmsync Broadcast (recv blocks)", &samples, false));

    // A pipe each way (the child's stdin and stdout), one byte.
    let mut child =
        spawn(pingpong::PIPE_ROLE, &[total.to_string()], child_cpu, Stdio::piped(), Stdio::piped());
    let mut to_child = child.stdin.take().expect("piped stdin");
    let mut from_child = child.stdout.take().expect("piped stdout");
    let samples = pinned_to(cpu_for(0), || {
        one_way_samples(opts.round_trips, || {
            let mut b = [0u8; 1];
            to_child.write_all(&b).expect("write to child");
            from_child.read_exact(&mut b).expect("read from child");
        })
    });
    drop((to_child, from_child));
    wait_all(vec![child], Duration::from_secs(60));
    report.push(row("pipe (1 byte each way)", &samples, false));

    // A connected pair of Unix datagram sockets, 8 bytes each way.
    let (mine, theirs) = UnixDatagram::pair().expect("socketpair");
    let child = spawn(
        DGRAM_ROLE,
        &[total.to_string()],
        child_cpu,
        Stdio::from(OwnedFd::from(theirs)),
        Stdio::null(),
    );
    let mut n = 0u64;
    let samples = pinned_to(cpu_for(0), || {
        one_way_samples(opts.round_trips, || {
            mine.send(&n.to_ne_bytes()).expect("send datagram");
            let mut b = [0u8; 8];
            assert_eq!(mine.recv(&mut b).expect("recv datagram"), 8);
            assert_eq!(u64::from_ne_bytes(b), n);
            n += 1;
        })
    });
    wait_all(vec![child], Duration::from_secs(60));
    report.push(row("Unix datagram socket (8 bytes each way)", &samples, false));

    iceoryx2(opts, report);
}

/// iceoryx2's publish-subscribe, if `SHMSYNC_BENCH_ICEORYX2` names the
/// peer binary of `benches/iceoryx2-peer` (built on its own: see
/// BENCHMARKS.md). It runs the same exchange on the same two CPUs and
/// prints its median and p99.
fn iceoryx2(opts: &Options, report: &mut Report) {
    let Some(peer) = std::env::var_os("SHMSYNC_BENCH_ICEORYX2") else {
        eprintln!("  (no iceoryx2 row: set SHMSYNC_BENCH_ICEORYX2, see BENCHMARKS.md)");
        return;
    };
    let output = std::process::Command::new(&peer)
        .args(["--round-trips", &opts.round_trips.to_string()])
        .args(["--cpus", &format!("{},{}", cpu_for(0), cpu_for(1))])
        .stderr(Stdio::inherit())
        .output()
        .expect("run the iceoryx2 peer");
    assert!(output.status.success(), "the iceoryx2 peer failed: {}", output.status);
    let text = String::from_utf8_lossy(&output.stdout);
    let figures: Vec<f64> = text
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .map(|f| f.parse().expect("a figure"))
        .collect();
    assert_eq!(figures.len(), 2, "the iceoryx2 peer printed {text:?}");
    report.push(Row {
        bench: ONE_WAY.to_owned(),
        system: "iceoryx2 publish-subscribe (both sides busy-poll)".to_owned(),
        procs: 2,
        unit: Unit::NsPerOp,
        median: figures[0],
        p99: Some(figures[1]),
        max: None,
        reference: false,
    });
}

/// The broadcast child: subscribes, then returns every ping as a pong.
pub fn pong_child(args: &[String]) {
    let seg = Segment::<Exchange>::open(&args[0]).expect("open segment");
    let n: usize = args[1].parse().expect("exchanges");
    let mut pings = seg.ping.subscribe();
    seg.ready.incr();
    for _ in 0..n {
        let v = pings.recv().expect("a ping (the ring never laps here)");
        seg.pong.send(v).expect("send");
    }
}

/// The datagram child: echoes datagrams on its standard input, a socket.
pub fn dgram_child(args: &[String]) {
    let n: usize = args[0].parse().expect("exchanges");
    // SAFETY: the parent made this process's standard input one end of a
    // Unix datagram socket pair (`measure_latency`); nothing else uses fd 0.
    let sock = UnixDatagram::from(unsafe { OwnedFd::from_raw_fd(0) });
    let mut b = [0u8; 8];
    for _ in 0..n {
        let len = sock.recv(&mut b).expect("recv datagram");
        sock.send(&b[..len]).expect("send datagram");
    }
}

/// Throughput of 8-byte values from one sender process to `receivers`
/// receiver processes, each pinned to a CPU of its own (round robin: on two
/// CPUs, the second receiver shares one with the sender).
pub fn measure_throughput(opts: &Options, report: &mut Report, receivers: u32) {
    let procs = receivers + 1;
    let mut sent = Vec::with_capacity(opts.reps);
    let mut received = Vec::with_capacity(opts.reps);
    for _ in 0..opts.reps {
        let name = unique_name("bcast-tput");
        let _ring = Segment::<Broadcast<u64, SLOTS>>::create(&name).expect("create segment");
        let (elapsed, counts) = timed_run(THROUGHPUT_ROLE, &[name], procs, opts.window);
        let secs = elapsed.as_secs_f64();
        sent.push(counts[0] as f64 / secs);
        // Per receiver, so 1 and 2 receivers compare.
        let each = counts[1..].iter().sum::<u64>() as f64 / f64::from(receivers);
        received.push(each / secs);
    }
    let what = if receivers == 1 { "1 receiver" } else { "2 receivers" };
    for (bench, rates, reference) in [
        (format!("8 B broadcast to {what}: sent"), &sent, true),
        (format!("8 B broadcast to {what}: received, per receiver"), &received, false),
    ] {
        report.push(Row {
            bench,
            system: "shmsync Broadcast".to_owned(),
            procs,
            unit: Unit::OpsPerSec,
            median: stats::median(rates),
            p99: None,
            max: None,
            reference,
        });
    }
}

/// A throughput child: index 0 sends as fast as it can; the others receive
/// and check every value (its number is its value), counting the received.
pub fn throughput_child(args: &[String]) {
    let (ctl, index, rest) = child_args(args);
    let ring = Segment::<Broadcast<u64, SLOTS>>::open(&rest[0]).expect("open segment");
    let ctl = ctl.get();
    // Receivers subscribe before the start, so they see the first value.
    let mut rx = ring.subscribe();
    ctl.child_ready_then_wait_go();
    let mut n = 0u64;
    if index == 0 {
        while !ctl.should_stop() {
            ring.send(n).expect("send");
            n += 1;
        }
    } else {
        while !ctl.should_stop() {
            let before = rx.next_sequence();
            match rx.recv_timeout(Duration::from_millis(10)) {
                Ok(v) => {
                    assert_eq!(v, before, "value {v} received as number {before}");
                    n += 1;
                }
                Err(RecvTimeoutError::Lagged(lost)) => {
                    assert_eq!(rx.next_sequence(), before + lost);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
    }
    ctl.put_result(index, n);
}
