//! Share everything instead of copying everything: a large `f64` matrix lives
//! in one segment, N worker processes square it element-wise over disjoint
//! row ranges, and the memory cost is measured (PSS from
//! `/proc/<pid>/smaps_rollup`) next to what one copy per process would cost.
//!
//! ```text
//! cargo run --release --example matrix_square -- --size 2000 --procs 4
//! ```

use shmsync_support::workers as support;

use clap::builder::RangedU64ValueParser;
use clap::{Parser, Subcommand};
use shmsync::{Segment, ShmBarrier, ShmSafe};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A SIZE x SIZE f64 matrix in one shared segment, squared element-wise by N
/// processes over disjoint row ranges. Verifies the result and prints the
/// memory cost of sharing (PSS of every process, from
/// /proc/<pid>/smaps_rollup) next to the cost of one copy per process.
#[derive(Parser)]
#[command(name = "matrix_square", disable_help_subcommand = true)]
struct Cli {
    /// Rows and columns (1..=20000)
    #[arg(long, value_name = "N", default_value_t = 2000,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=20_000))]
    size: usize,
    /// Worker processes (1..=63)
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=MAX_PROCS as u64))]
    procs: usize,
    // Set only in the worker processes the example starts.
    #[command(subcommand)]
    worker: Option<Role>,
}

/// The worker side: this executable, re-run by the parent.
#[derive(Subcommand)]
enum Role {
    /// One worker process (started by the example itself, not by hand)
    #[command(hide = true)]
    Worker {
        /// The matrix segment (the control segment is `<segment>-control`).
        #[arg(long)]
        segment: String,
        /// This worker's slot in the control segment.
        #[arg(long, value_parser = RangedU64ValueParser::<usize>::new().range(0..MAX_PROCS as u64))]
        index: usize,
        /// The rows this worker squares, `A..B`.
        #[arg(long, value_parser = parse_rows)]
        rows: Range<usize>,
        #[arg(long)]
        size: usize,
    },
}

fn parse_rows(text: &str) -> Result<Range<usize>, String> {
    let (a, b) = text.split_once("..").ok_or("expected A..B")?;
    let parse = |n: &str| n.parse::<usize>().map_err(|e| e.to_string());
    Ok(parse(a)?..parse(b)?)
}

/// The workers and the parent meet at one barrier, so at most 63 workers.
const MAX_PROCS: usize = ShmBarrier::MAX_PARTIES - 1;

/// Coordination beside the matrix.
#[derive(ShmSafe)]
#[repr(C)]
struct Control {
    /// The workers and the parent, twice: once every worker has squared
    /// its rows (then every process measures its memory, all of them alive
    /// and mapping the whole matrix), and once every process has measured
    /// (then the workers exit). A worker that dies breaks it, and the
    /// parent reports that instead of waiting.
    gate: ShmBarrier,
    pss_kib: [AtomicU64; MAX_PROCS],
    pss_shmem_kib: [AtomicU64; MAX_PROCS],
}

/// `Pss` and `Pss_Shmem` of this process in KiB.
fn own_pss() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("Pss:"), field("Pss_Shmem:"))
}

fn value_at(index: usize) -> f64 {
    // Distinct, exactly representable inputs whose squares are exact too.
    (index % 1000) as f64 * 0.5 - 100.0
}

fn main() {
    // Usage errors exit with status 2, `--help` with 0 (clap's convention).
    let cli = Cli::parse();
    if let Some(Role::Worker { segment, index, rows, size }) = cli.worker {
        worker(&segment, index, rows, size);
        return;
    }
    support::catch_interrupts();
    if let Err(message) = run(cli.size, cli.procs) {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

fn run(size: usize, procs: usize) -> Result<(), String> {
    let name = shmsync_support::names::run_name("matrix");
    let elements = size * size;
    let started = Instant::now();
    let matrix = Segment::<[f64]>::create_slice_with(&name, elements, |m| {
        for (i, x) in m.iter_mut().enumerate() {
            *x = value_at(i);
        }
    })
    .map_err(|e| format!("cannot create the matrix segment: {e}"))?;
    let control = Segment::<Control>::create_with(&format!("{name}-control"), |c| {
        c.gate = ShmBarrier::new(procs + 1);
    })
    .map_err(|e| format!("cannot create the control segment: {e}"))?;
    let mut me = control.gate.join().map_err(|e| format!("the control segment's gate: {e}"))?;
    let mib = (elements * 8) as f64 / (1 << 20) as f64;
    println!("matrix: {size} x {size} f64 = {mib:.1} MiB in one segment, {procs} worker processes");

    let mut workers = Vec::new();
    for index in 0..procs {
        let rows = index * size / procs..(index + 1) * size / procs;
        let args = [
            "worker".to_owned(),
            "--segment".into(),
            name.clone(),
            "--index".into(),
            index.to_string(),
            "--rows".into(),
            format!("{}..{}", rows.start, rows.end),
            "--size".into(),
            size.to_string(),
        ];
        workers.push(support::spawn_self(&args).map_err(|e| format!("spawn: {e}"))?);
    }
    // Until every worker has joined the gate, watch them (and Ctrl-C) here:
    // a worker that fails to start never joins. From then on a worker's
    // death breaks the gate.
    support::wait_until(&mut workers, Duration::from_secs(120), || {
        control.gate.joined() == procs + 1
    })
    .map_err(|e| format!("workers: {e:?}"))?;
    // A gate that breaks (a worker died, or this wait timed out) fails the
    // workers' waits too: they exit by themselves.
    let mut gate =
        || me.wait_timeout(Duration::from_secs(120)).map(drop).map_err(|e| format!("workers: {e}"));
    // Every worker has squared its rows.
    gate()?;
    let (parent_pss, parent_shmem) = own_pss();
    // Every process has measured; the workers exit.
    gate()?;
    support::wait_all(&mut workers, Duration::from_secs(30), || {})
        .map_err(|e| format!("workers: {e:?}"))?;
    let elapsed = started.elapsed();

    let wrong = matrix.iter().enumerate().filter(|&(i, &x)| x != value_at(i) * value_at(i)).count();
    if wrong != 0 {
        return Err(format!("{wrong} elements are not squared"));
    }
    println!("result: all {elements} elements squared correctly in {elapsed:.2?}");

    // Relaxed: written by the workers before they arrived at the gate the
    // second time, which orders them before the parent left it.
    let worker_pss: u64 = control.pss_kib[..procs].iter().map(|p| p.load(Ordering::Relaxed)).sum();
    let worker_shmem: u64 =
        control.pss_shmem_kib[..procs].iter().map(|p| p.load(Ordering::Relaxed)).sum();
    let total_pss = parent_pss + worker_pss;
    let total_shmem = parent_shmem + worker_shmem;
    let private = total_pss.saturating_sub(total_shmem);
    let copies = (procs as u64 + 1) * (elements as u64 * 8 / 1024);
    println!("\nmemory, measured while all {} processes were alive (PSS, KiB):", procs + 1);
    println!("  shared segment, summed over processes (Pss_Shmem): {total_shmem:>9}");
    println!("  everything else (code, stacks, heaps)             : {private:>9}");
    println!("  total PSS of all processes                        : {total_pss:>9}");
    println!("one private copy of the matrix per process would need {copies:>9} KiB for the matrix alone,");
    println!(
        "{:.1}x what the shared segment costs: sharing keeps one copy however many processes read it.",
        copies as f64 / total_shmem.max(1) as f64
    );
    Ok(())
}

fn worker(name: &str, index: usize, rows: Range<usize>, size: usize) {
    let open = || -> shmsync::Result<_> {
        Ok((
            Segment::<[f64]>::open_slice(name)?,
            Segment::<Control>::open(&format!("{name}-control"))?,
        ))
    };
    let (matrix, control) = open().unwrap_or_else(|e| {
        eprintln!("worker {index}: {e}");
        std::process::exit(2)
    });
    if matrix.len() != size * size || rows.end > size {
        eprintln!("worker {index}: the matrix does not have the expected shape");
        std::process::exit(2);
    }
    let mut me = control.gate.join().unwrap_or_else(|e| {
        eprintln!("worker {index}: cannot join the gate: {e}");
        std::process::exit(2)
    });
    let mut gate = || {
        if let Err(e) = me.wait() {
            eprintln!("worker {index}: {e}");
            std::process::exit(2);
        }
    };
    // SAFETY: the parent hands every worker a disjoint row range and nobody
    // else touches the matrix until all workers have exited, so this is the
    // only reference to these elements while it lives.
    let mine = unsafe { matrix.range_mut(rows.start * size..rows.end * size) };
    for x in mine.iter_mut() {
        *x *= *x;
    }
    // Measure only once every worker has touched its rows, so each process's
    // PSS reflects the whole shared matrix being mapped by all of them.
    gate();
    // Touch the whole matrix read-only, as a reader process would.
    let checksum: f64 = matrix.iter().step_by(512).sum();
    std::hint::black_box(checksum);
    let (pss, shmem) = own_pss();
    // Relaxed: published by the gate below.
    control.pss_kib[index].store(pss, Ordering::Relaxed);
    control.pss_shmem_kib[index].store(shmem, Ordering::Relaxed);
    // Stay alive (and mapped) until every process has measured, so all
    // measurements see the same sharing.
    gate();
}
