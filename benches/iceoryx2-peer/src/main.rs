//! One-way latency of iceoryx2's publish-subscribe between two processes
//! on two CPUs, measured as shmsync's harness measures `Broadcast`: half of
//! a round trip of one `u64` each way, after a warm-up, each side pinned.
//! Both sides busy-poll `receive()`, as iceoryx2's own benchmarks do.
//!
//! ```text
//! iceoryx2-peer --round-trips 20000 --cpus 0,1
//! ```
//!
//! prints `median_ns p99_ns` on one line; the harness reads it when
//! `SHMSYNC_BENCH_ICEORYX2` names this binary.

use iceoryx2::prelude::*;
use std::process::Command;
use std::time::Instant;

const WARMUP: usize = 200;

fn pin(cpu: usize) {
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { core::mem::zeroed() };
    // SAFETY: CPU_SET writes one bit of `set`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; 0 = this thread.
    unsafe { libc::sched_setaffinity(0, core::mem::size_of_val(&set), &set) };
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn main() -> Result<(), Box<dyn core::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let cpus = arg(&args, "--cpus").unwrap_or_else(|| "0,1".to_owned());
    let (a, b) = cpus.split_once(',').ok_or("--cpus A,B")?;
    let (a, b): (usize, usize) = (a.parse()?, b.parse()?);
    let round_trips: usize =
        arg(&args, "--round-trips").unwrap_or_else(|| "20000".into()).parse()?;
    let node = NodeBuilder::new().create::<ipc::Service>()?;

    if let Some(tag) = arg(&args, "--serve") {
        // The child: ping in, pong out.
        pin(b);
        let ping = node
            .service_builder(&format!("shmsync-bench/ping-{tag}").as_str().try_into()?)
            .publish_subscribe::<u64>()
            .open_or_create()?;
        let pong = node
            .service_builder(&format!("shmsync-bench/pong-{tag}").as_str().try_into()?)
            .publish_subscribe::<u64>()
            .open_or_create()?;
        let subscriber = ping.subscriber_builder().create()?;
        let publisher = pong.publisher_builder().create()?;
        println!("ready");
        for _ in 0..WARMUP + round_trips {
            let v = loop {
                if let Some(sample) = subscriber.receive()? {
                    break *sample;
                }
                core::hint::spin_loop();
            };
            publisher.loan_uninit()?.write_payload(v).send()?;
        }
        return Ok(());
    }

    pin(a);
    let tag = std::process::id().to_string();
    let ping = node
        .service_builder(&format!("shmsync-bench/ping-{tag}").as_str().try_into()?)
        .publish_subscribe::<u64>()
        .open_or_create()?;
    let pong = node
        .service_builder(&format!("shmsync-bench/pong-{tag}").as_str().try_into()?)
        .publish_subscribe::<u64>()
        .open_or_create()?;
    let publisher = ping.publisher_builder().create()?;
    let subscriber = pong.subscriber_builder().create()?;
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--serve", &tag, "--cpus", &cpus, "--round-trips", &round_trips.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    // Wait until the child's subscriber exists: a sample sent before is
    // not delivered to it.
    {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().ok_or("child stdout")?).read_line(&mut line)?;
        if line.trim() != "ready" {
            return Err(format!("child said {line:?}").into());
        }
    }
    let mut samples = Vec::with_capacity(round_trips);
    for i in 0..WARMUP + round_trips {
        let started = Instant::now();
        publisher.loan_uninit()?.write_payload(i as u64).send()?;
        let v = loop {
            if let Some(sample) = subscriber.receive()? {
                break *sample;
            }
            core::hint::spin_loop();
        };
        let ns = started.elapsed().as_secs_f64() * 1e9 / 2.0;
        assert_eq!(v, i as u64, "the pong is the ping");
        if i >= WARMUP {
            samples.push(ns);
        }
    }
    child.wait()?;
    samples.sort_by(f64::total_cmp);
    let q =
        |q: f64| samples[((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1];
    println!("{} {}", q(0.5), q(0.99));
    Ok(())
}
