//! Real processes: the harness re-executes its own binary with
//! `--role NAME ARGS...` (no `fork` in a multi-threaded process), and parent
//! and children meet in a small shared control segment.

use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use shmsync::{CachePadded, Segment, ShmBarrier, ShmSafe};
use shmsync_support::cpu::{cpu_for, CPU_ENV};
use shmsync_support::process::self_command;

use shmsync_support::bench::unique_name;

/// The argument that turns the harness binary into a child.
pub const ROLE_FLAG: &str = "--role";

/// The most processes one measurement uses.
pub const MAX_PROCS: usize = 8;

/// How long the parent waits for its children to reach the start.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The start gate, the stop signal and per-child results of one
/// measurement. Each word has a cache line of its own, so that per-child
/// results never share one, nor the stop flag the children poll.
///
/// | field | written by | read by |
/// |---|---|---|
/// | `start` | every child and the parent, once: they start together | — |
/// | `stop` | parent, 0 → 1 | children, inside the timed loop |
/// | `results[i]` | child `i`, once, after its loop | parent, after the child exited |
#[derive(ShmSafe)]
#[repr(C)]
pub struct Control {
    /// For the children and the parent.
    start: ShmBarrier,
    stop: CachePadded<AtomicU64>,
    /// Per-child figures (operation counts, or one figure per child).
    pub results: [CachePadded<AtomicU64>; MAX_PROCS],
    /// A word the parent and one child may use for a spin ping-pong.
    pub turn: CachePadded<AtomicU64>,
}

/// The parent's side: owns the control segment.
pub struct ControlRegion {
    segment: Segment<Control>,
    /// The segment's name, passed to children.
    pub name: String,
}

impl ControlRegion {
    /// A fresh control block for a measurement with `children` children.
    pub fn create(children: u32) -> Self {
        let name = unique_name("ctl");
        let segment = Segment::<Control>::create_with(&name, |c| {
            c.start = ShmBarrier::new(children as usize + 1);
        })
        .expect("control segment");
        ControlRegion { segment, name }
    }

    /// The block.
    pub fn get(&self) -> &Control {
        &self.segment
    }
}

/// A child's view of the control block, opened by name.
pub struct ControlView {
    segment: Segment<Control>,
}

impl ControlView {
    /// Opens the block the parent named.
    pub fn open(name: &str) -> Self {
        ControlView { segment: Segment::open(name).expect("open control segment") }
    }

    /// The block.
    pub fn get(&self) -> &Control {
        &self.segment
    }
}

impl Control {
    /// Child: wait (sleeping) at the start gate until every child and the
    /// parent are there.
    pub fn child_ready_then_wait_go(&self) {
        let mut me = self.start.join().expect("a place at the start gate");
        me.wait().expect("every process reached the start gate");
    }

    /// Child: whether the parent asked to stop (checked every iteration, a
    /// relaxed load of a line that is written once: it stays in cache).
    #[inline]
    pub fn should_stop(&self) -> bool {
        // relaxed: a stop flag orders nothing; the results travel through
        // `results` and process exit.
        self.stop.load(Ordering::Relaxed) != 0
    }

    /// Parent: wait until the `n` children joined the start gate (a child
    /// that fails before that is reported), then start with them.
    pub fn start(&self, n: u32, children: &mut [Child]) {
        assert_eq!(self.start.parties(), n as usize + 1, "the gate is for the children and us");
        let mut me = self.start.join().expect("a place at the start gate");
        let deadline = Instant::now() + START_TIMEOUT;
        while self.start.joined() < self.start.parties() {
            check_alive(children);
            assert!(Instant::now() < deadline, "children did not attach within 20 s");
            std::thread::sleep(Duration::from_micros(200));
        }
        // Every child has joined: one that dies now breaks the gate.
        me.wait_timeout(START_TIMEOUT).expect("every child reached the start gate");
    }

    /// Parent: ask the children to stop.
    pub fn stop(&self) {
        // relaxed: see `should_stop`.
        self.stop.store(1, Ordering::Relaxed);
    }

    /// Child `i`: publish its figure.
    pub fn put_result(&self, i: usize, v: u64) {
        // relaxed: the parent reads it after waiting for this process's
        // exit, which orders everything the child did before it.
        self.results[i].store(v, Ordering::Relaxed);
    }

    /// Parent, after the children exited: child `i`'s figure.
    pub fn result(&self, i: usize) -> u64 {
        // relaxed: see `put_result`.
        self.results[i].load(Ordering::Relaxed)
    }
}

/// Spawns this binary as a child playing `role` with `args`, pinned to
/// `cpu` if given.
pub fn spawn(
    role: &str,
    args: &[String],
    cpu: Option<usize>,
    stdin: Stdio,
    stdout: Stdio,
) -> Child {
    let mut cmd = self_command();
    if let Some(cpu) = cpu {
        cmd.env(CPU_ENV, cpu.to_string());
    }
    cmd.arg(ROLE_FLAG)
        .arg(role)
        .args(args)
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn a harness child")
}

/// Kills (SIGKILL) every child process of this process: the cleanup of an
/// interrupted run, whose children would otherwise keep waiting for a stop
/// signal that never comes. Children are found through each thread's
/// `/proc/self/task/<tid>/children`, since any thread may have spawned one.
pub fn kill_all_children() {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return };
    for task in tasks.flatten() {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for pid in children.split_whitespace().filter_map(|p| p.parse::<libc::pid_t>().ok()) {
            // SAFETY: `pid` is a child of this process that has not been
            // reaped (it is listed), so it names no other process.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Panics if any child already exited (it failed: its stderr says why).
pub fn check_alive(children: &mut [Child]) {
    for c in children.iter_mut() {
        if let Some(status) = c.try_wait().expect("try_wait") {
            panic!("child {} exited early: {status}", c.id());
        }
    }
}

/// Waits for every child to exit successfully, within `timeout`.
pub fn wait_all(children: Vec<Child>, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    for mut c in children {
        loop {
            if let Some(status) = c.try_wait().expect("try_wait") {
                assert!(status.success(), "child {} failed: {status}", c.id());
                break;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!("child {} did not finish within {timeout:?}", c.id());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Runs `n` children of `role` (each gets `args` plus its index) for
/// `window`, and returns the elapsed time between start and stop together
/// with each child's published figure.
pub fn timed_run(role: &str, args: &[String], n: u32, window: Duration) -> (Duration, Vec<u64>) {
    let ctl = ControlRegion::create(n);
    let mut children: Vec<Child> = (0..n)
        .map(|i| {
            let mut a = vec![ctl.name.clone(), i.to_string()];
            a.extend_from_slice(args);
            spawn(role, &a, Some(cpu_for(i as usize)), Stdio::null(), Stdio::null())
        })
        .collect();
    ctl.get().start(n, &mut children);
    let t0 = Instant::now();
    std::thread::sleep(window);
    ctl.get().stop();
    let elapsed = t0.elapsed();
    wait_all(children, Duration::from_secs(20));
    let results = (0..n as usize).map(|i| ctl.get().result(i)).collect();
    (elapsed, results)
}

/// The child side of [`timed_run`]: `args[0]` is the control block, `args[1]`
/// the child's index; the rest belongs to the role.
pub fn child_args(args: &[String]) -> (ControlView, usize, &[String]) {
    let ctl = ControlView::open(&args[0]);
    let index: usize = args[1].parse().expect("child index");
    assert!(index < MAX_PROCS, "child index out of range");
    (ctl, index, &args[2..])
}
