//! The cross-process benchmark harness: shmsync against the systems its
//! users would pick instead, measured side by side in one run, with real
//! processes (this binary re-executed with `--role`, never `fork`).
//!
//! ```text
//! cargo bench --bench harness -- [--quick] [--json FILE] [--svg FILE] [--only WORD[,WORD...]]
//! ```
//!
//! Prints one markdown table on stdout (progress goes to stderr), writes the
//! same figures as JSON with `--json`, and an SVG chart of the main
//! comparison (default `benchmarks.svg` beside `BENCHMARKS.md`). `--quick` takes well under a
//! minute on two cores; the full run a few minutes.
//!
//! `--only` runs the families whose key contains one of the words:
//!
//! | key | rows |
//! |---|---|
//! | `uncontended` | lock+unlock, one thread |
//! | `contended` | lock+increment, 2 and 4 processes (`uncontended` contains it too) |
//! | `counter` | counter increments |
//! | `pingpong` | condvar, event, pipe and spin round trips |
//! | `death-kill` | owner SIGKILLed → owner died |
//! | `death-exec` | owner execs → owner died |
//! | `death-blocked-cpu` | CPU of a waiter blocked behind a live owner |
//! | `seqlock` | snapshot reads under a writer |
//! | `rwlock` | read-mostly and write-heavy rwlock mixes, 2 and 4 processes |
//! | `broadcast-latency` | one-way latency: `Broadcast` vs the spin floor, a pipe, a Unix datagram socket |
//! | `broadcast-throughput` | 8-byte values to 1 and 2 receiver processes |
//!
//! so `--only death` runs the three owner-liveness families and nothing else.
//!
//! Ctrl-C (or SIGTERM) stops the children, removes the run's shared memory
//! objects and exits with 130, writing no results.

mod blocked_waiter;
mod broadcast;
use shmsync_support::bench::floor;
use shmsync_support::bench::pthread;
use shmsync_support::bench::shm_region;
use shmsync_support::clocks;

mod contended;
mod counters;
mod machine;
mod options;
mod ours;
mod owner_death;
mod owner_exec;
mod peers;
mod pingpong;
mod processes;
mod report;
mod rwlock_mix;
mod snapshot;
mod stats;
mod svg;
mod systems;
mod uncontended;

use options::Options;
use ours::{CondvarTurn, EventTurn};
use peers::{
    FetchAdd, FloorShared, GlibcCondvarPingPong, GlibcLock, GlibcRobust, GlibcRwLock, RawSyncLock,
    RawSyncRwLock, SpinPingPong,
};
use report::Report;
use shmsync::{AtomicCounter, Segment, SeqLock, ShardedCounter, ShmMutex, ShmRwLock};

/// shmsync's mutex as the harness uses it.
type OurMutex = Segment<ShmMutex<u64>>;
/// shmsync's rwlock as the harness uses it.
type OurRwLock = Segment<ShmRwLock<u64>>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(processes::ROLE_FLAG) {
        shmsync_support::cpu::pin_child_if_asked();
        run_child(&args[1], &args[2..]);
        return;
    }
    let opts = Options::from_args();
    if !opts.bench_mode {
        eprintln!("harness: not run outside `cargo bench` (pass --bench to run it directly)");
        return;
    }
    clean_up_on_interrupt();
    let probe = machine::LoadProbe::start();
    let report = run_all(&opts);
    print!("{}", report.markdown());
    let others = probe.others_cores();
    eprintln!("other work kept {others:.2} of {} cores busy on average during the run", cores());
    if let Some(path) = &opts.json {
        std::fs::write(path, report.json()).expect("write JSON");
        eprintln!("wrote {}", path.display());
    }
    let panels = svg::main_panels(&report);
    if !panels.is_empty() {
        let mode = if opts.quick { "quick run" } else { "full run" };
        let caption = format!(
            "shmsync vs peers ({mode}, {} cores, {others:.2} of them busy with other work)",
            cores()
        );
        let chart = svg::render(&panels, &caption).expect("draw the SVG chart");
        std::fs::write(&opts.svg, chart).expect("write SVG");
        eprintln!("wrote {}", opts.svg.display());
    }
}

/// On Ctrl-C, SIGTERM or SIGHUP, stops the children and removes this run's
/// shared memory objects (`exit` runs none of the destructors that would),
/// then exits with 130 as a shell does for an interrupted command. Nothing
/// is printed on stdout or written to the output files: a partial table
/// would look like a complete one.
fn clean_up_on_interrupt() {
    let on_signal = || {
        shmsync_support::bench::unlink_unique_names();
        processes::kill_all_children();
        eprintln!("\nharness: interrupted; child processes stopped, shared memory removed");
        std::process::exit(130);
    };
    if let Err(e) = ctrlc::set_handler(on_signal) {
        eprintln!("harness: cannot catch Ctrl-C ({e}); an interrupted run leaves /dev/shm objects");
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Every measurement, in table order. Each group's reference row (the floor,
/// or shmsync) comes first.
fn run_all(opts: &Options) -> Report {
    let mut r = Report::default();
    if opts.wants("uncontended") {
        eprintln!("uncontended lock+unlock (1 thread, shared memory)");
        uncontended::measure::<FloorShared>(opts, &mut r, true);
        uncontended::measure::<OurMutex>(opts, &mut r, false);
        uncontended::measure::<GlibcRobust>(opts, &mut r, false);
        uncontended::measure::<GlibcLock<false>>(opts, &mut r, false);
        uncontended::measure::<RawSyncLock>(opts, &mut r, false);
        uncontended::measure_in_process(opts, &mut r);
    }
    if opts.wants("contended") {
        for procs in [2, 4] {
            eprintln!("contended lock+increment, {procs} processes");
            contended::measure::<OurMutex>(opts, &mut r, "shmsync", procs, true);
            contended::measure::<GlibcRobust>(opts, &mut r, "glibc-robust", procs, false);
            contended::measure::<RawSyncLock>(opts, &mut r, "raw_sync", procs, false);
        }
    }
    if opts.wants("counter") {
        for procs in [2, 4] {
            eprintln!("counter increment, {procs} processes");
            counters::measure::<Segment<AtomicCounter>>(opts, &mut r, "atomic", procs, true);
            counters::measure::<Segment<ShardedCounter>>(opts, &mut r, "sharded", procs, false);
            counters::measure::<FetchAdd>(opts, &mut r, "fetch_add", procs, false);
        }
    }
    if opts.wants("pingpong") {
        use pingpong::Placement::{CrossCpu, SameCpu};
        for placement in [SameCpu, CrossCpu] {
            let where_ = if placement == SameCpu { "one CPU" } else { "two CPUs" };
            eprintln!("ping-pong between 2 processes on {where_}");
            pingpong::measure::<Segment<CondvarTurn>>(
                opts,
                &mut r,
                placement,
                "shmsync-cond",
                true,
            );
            pingpong::measure::<Segment<EventTurn>>(
                opts,
                &mut r,
                placement,
                "shmsync-event",
                false,
            );
            pingpong::measure::<GlibcCondvarPingPong>(opts, &mut r, placement, "glibc-cond", false);
            pingpong::measure_pipe(opts, &mut r, placement);
            if placement == CrossCpu {
                pingpong::measure::<SpinPingPong>(opts, &mut r, placement, "spin", false);
            }
        }
    }
    if opts.wants("death-kill") {
        eprintln!("owner-death recovery, {} kills each", opts.kills);
        owner_death::measure::<OurMutex>(opts, &mut r, "shmsync", true);
        owner_death::measure::<GlibcRobust>(opts, &mut r, "glibc-robust", false);
    }
    if opts.wants("death-exec") {
        eprintln!("owner-exec recovery, {} execs each", opts.kills);
        owner_exec::measure::<OurMutex>(opts, &mut r, "shmsync", true);
        owner_exec::measure::<GlibcRobust>(opts, &mut r, "glibc-robust", false);
    }
    if opts.wants("death-blocked-cpu") {
        eprintln!(
            "waiter blocked behind a live owner, {} waits of {:?} each",
            opts.holds, opts.hold
        );
        blocked_waiter::measure::<OurMutex>(opts, &mut r, "shmsync", true);
        blocked_waiter::measure::<GlibcRobust>(opts, &mut r, "glibc-robust", false);
    }
    if opts.wants("seqlock") {
        eprintln!("snapshot reads under a writer, 3 processes");
        snapshot::measure::<Segment<SeqLock<[u64; 8]>>>(opts, &mut r, "shmsync-seqlock", true);
        snapshot::measure::<RawSyncRwLock>(opts, &mut r, "raw_sync-rw", false);
        snapshot::measure::<GlibcRobust>(opts, &mut r, "glibc-robust", false);
    }
    if opts.wants("rwlock") {
        for reads in [9, 5] {
            for procs in [2, 4] {
                eprintln!("{}, {procs} processes", rwlock_mix::bench(reads));
                rwlock_mix::measure::<OurRwLock>(opts, &mut r, "shmsync", procs, reads, true);
                rwlock_mix::measure::<GlibcRwLock>(opts, &mut r, "glibc-rw", procs, reads, false);
                rwlock_mix::measure::<RawSyncRwLock>(
                    opts,
                    &mut r,
                    "raw_sync-rw",
                    procs,
                    reads,
                    false,
                );
            }
        }
    }
    if opts.wants("broadcast-latency") {
        eprintln!("one-way latency between 2 processes on two CPUs");
        broadcast::measure_latency(opts, &mut r);
    }
    if opts.wants("broadcast-throughput") {
        for receivers in [1, 2] {
            eprintln!("broadcast of 8-byte values to {receivers} receiver processes");
            broadcast::measure_throughput(opts, &mut r, receivers);
        }
    }
    r
}

/// A child process: `role` names the scenario, `args[..]` its arguments
/// (for the shared-memory roles, `args[2]` is the system key).
fn run_child(role: &str, args: &[String]) {
    let key = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
    match (role, key(2)) {
        (contended::ROLE, "shmsync") => contended::child::<OurMutex>(args),
        (contended::ROLE, "glibc-robust") => contended::child::<GlibcRobust>(args),
        (contended::ROLE, "raw_sync") => contended::child::<RawSyncLock>(args),
        (counters::ROLE, "atomic") => counters::child::<Segment<AtomicCounter>>(args),
        (counters::ROLE, "sharded") => counters::child::<Segment<ShardedCounter>>(args),
        (counters::ROLE, "fetch_add") => counters::child::<FetchAdd>(args),
        (snapshot::ROLE, "shmsync-seqlock") => {
            snapshot::child::<Segment<SeqLock<[u64; 8]>>>(args);
        }
        (snapshot::ROLE, "raw_sync-rw") => snapshot::child::<RawSyncRwLock>(args),
        (snapshot::ROLE, "glibc-robust") => snapshot::child::<GlibcRobust>(args),
        (rwlock_mix::ROLE, "shmsync") => rwlock_mix::child::<OurRwLock>(args),
        (rwlock_mix::ROLE, "glibc-rw") => rwlock_mix::child::<GlibcRwLock>(args),
        (rwlock_mix::ROLE, "raw_sync-rw") => rwlock_mix::child::<RawSyncRwLock>(args),
        _ => match (role, key(0), key(1)) {
            (pingpong::ROLE, "shmsync-cond", _) => pingpong::child::<Segment<CondvarTurn>>(args),
            (pingpong::ROLE, "shmsync-event", _) => pingpong::child::<Segment<EventTurn>>(args),
            (pingpong::ROLE, "glibc-cond", _) => pingpong::child::<GlibcCondvarPingPong>(args),
            (pingpong::ROLE, "spin", _) => pingpong::child::<SpinPingPong>(args),
            (pingpong::PIPE_ROLE, _, _) => pingpong::pipe_child(args),
            (broadcast::PONG_ROLE, _, _) => broadcast::pong_child(args),
            (broadcast::DGRAM_ROLE, _, _) => broadcast::dgram_child(args),
            (broadcast::THROUGHPUT_ROLE, _, _) => broadcast::throughput_child(args),
            (owner_death::ROLE, _, "shmsync") => owner_death::child::<OurMutex>(args),
            (owner_death::ROLE, _, "glibc-robust") => owner_death::child::<GlibcRobust>(args),
            (owner_exec::ROLE, _, "shmsync") => owner_exec::child::<OurMutex>(args),
            (owner_exec::ROLE, _, "glibc-robust") => owner_exec::child::<GlibcRobust>(args),
            (blocked_waiter::ROLE, _, "shmsync") => blocked_waiter::child::<OurMutex>(args),
            (blocked_waiter::ROLE, _, "glibc-robust") => {
                blocked_waiter::child::<GlibcRobust>(args);
            }
            _ => panic!("unknown child role {role:?} with {args:?}"),
        },
    }
}
