//! A holder in another time namespace or a child PID namespace, with the
//! waiter outside: the holder's thread id and `/proc` view mean nothing to
//! the waiter, yet a live holder is never robbed (and unlocks normally) and
//! a killed one is recovered.
//!
//! Each test first checks that `unshare` may create the namespace here (it
//! needs privileges); if not, it reports `SKIPPED: <test>: <why>` on stderr
//! and returns.

use shmsync::{LockTimeoutError, Segment, ShmEvent, ShmMutex, ShmMutexGuard, ShmSafe};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use shmsync_support as support;

/// The namespace the holder runs in.
#[derive(Clone, Copy)]
enum Namespace {
    /// A time namespace whose boot-time clock is 1000 s ahead of ours (no
    /// fork: `unshare` execs the holder, which enters the namespace at exec,
    /// under the same PID).
    Time,
    /// A new PID namespace: the holder is its PID 1, a child of `unshare`,
    /// and sees the outer `/proc` (no `--mount-proc`). `--kill-child` makes
    /// it die with `unshare`, so a failing test leaves nothing behind.
    Pid,
}

impl Namespace {
    /// The command that runs its arguments in the namespace.
    fn prefix(self) -> &'static [&'static str] {
        match self {
            Namespace::Time => &["unshare", "-T", "--boottime", "1000", "--"],
            Namespace::Pid => &["unshare", "-p", "-f", "--kill-child", "--"],
        }
    }
}

/// The boot-time clock offset of [`Namespace::Time`], in seconds.
const BOOTTIME_OFFSET_SECS: u64 = 1000;

#[derive(ShmSafe)]
#[repr(C)]
struct Shared {
    m: ShmMutex<u64>,
    /// Set by the test: the holder may unlock.
    go: ShmEvent,
    /// The holder's process id, as the holder sees it.
    holder_pid: AtomicU32,
    /// The holder's process id in the test's PID namespace (what `/proc/self`
    /// names in the `/proc` it shares with the test).
    holder_outer_pid: AtomicU32,
    /// The holder's `CLOCK_BOOTTIME`, in whole seconds, as it sees it.
    holder_boottime_secs: AtomicU64,
}

/// The exit status of a test process whose role panicked.
const PANIC_EXIT_CODE: i32 = 101;

/// The value the holder writes while it holds the lock.
const WRITTEN: u64 = 11;

#[test]
fn child_entry() {
    support::run_child(|role, args| {
        let seg = Segment::<Shared>::open(&args[0]).expect("open segment");
        match role {
            "hold_until_told" => {
                // SAFETY: getpid has no preconditions and cannot fail.
                let pid = unsafe { libc::getpid() };
                seg.holder_pid
                    .store(u32::try_from(pid).expect("pids are positive"), Ordering::SeqCst);
                seg.holder_outer_pid.store(outer_pid(), Ordering::SeqCst);
                seg.holder_boottime_secs.store(boottime_secs(), Ordering::SeqCst);
                let mut g =
                    seg.m.lock().unwrap_or_else(|e| panic!("the first lock must be clean: {e:?}"));
                *g = WRITTEN;
                support::reached("locked");
                match args[1].as_str() {
                    "unlock" => {
                        assert!(
                            seg.go.wait_timeout(Duration::from_secs(60)),
                            "the test never let the holder unlock"
                        );
                        // The unlock checks that this thread owns the word:
                        // it must not panic, so the process exits 0.
                        drop(g);
                    }
                    // The test SIGKILLs this process from outside: PID 1 of
                    // a PID namespace cannot SIGKILL itself (the kernel
                    // ignores it, as for every signal from inside the
                    // namespace that init has no handler for).
                    "be_killed" => support::park_forever(),
                    other => panic!("unknown ending {other}"),
                }
            }
            other => panic!("unknown role {other}"),
        }
    });
}

/// `CLOCK_BOOTTIME` of the calling process's time namespace, in seconds.
fn boottime_secs() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer for one timespec.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    assert_eq!(r, 0, "clock_gettime: {}", std::io::Error::last_os_error());
    u64::try_from(ts.tv_sec).expect("the boot-time clock is positive")
}

/// This process's id in the PID namespace of the `/proc` it sees: with a
/// new PID namespace but the old `/proc`, the id the test knows it by.
fn outer_pid() -> u32 {
    let link = std::fs::read_link("/proc/self").expect("read /proc/self");
    link.to_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("/proc/self -> {link:?}"))
}

/// The `NSpid` line of `/proc/<pid>/status`: the process's id in each PID
/// namespace it is in, outermost first.
fn namespace_pids(pid: u32) -> Vec<u32> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/<pid>/status");
    let line = status.lines().find_map(|l| l.strip_prefix("NSpid:")).expect("an NSpid line");
    line.split_whitespace().map(|n| n.parse().expect("a pid")).collect()
}

/// Whether `prefix` works here (it runs `true`); `Err` says why not.
fn probe(prefix: &[&str]) -> Result<(), String> {
    let (program, args) = prefix.split_first().expect("a prefix names a program");
    let shown = format!("{} true", prefix.join(" "));
    match Command::new(program).args(args).arg("true").output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "`{shown}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("cannot run `{shown}`: {e}")),
    }
}

/// Whether the test may run: reports `SKIPPED: <why>` on the real stderr
/// (a captured `println!` would make the skip look like a pass) if not.
fn namespace_available(ns: Namespace) -> bool {
    match probe(ns.prefix()) {
        Ok(()) => true,
        Err(why) => {
            let test = std::thread::current().name().unwrap_or("a namespace test").to_owned();
            support::report_skip(
                &test,
                &format!("this test needs `unshare` to create a namespace: {why}"),
            );
            false
        }
    }
}

fn create(tag: &str) -> (String, Segment<Shared>) {
    let name = support::unique_name(tag);
    let seg = Segment::<Shared>::create(&name).expect("create segment");
    (name, seg)
}

/// Checks that the holder that reported `locked` really runs in the
/// namespace the prefix made, so the test cannot pass vacuously.
fn assert_in_namespace(ns: Namespace, seg: &Shared) {
    if let Namespace::Time = ns {
        let ours = boottime_secs();
        let theirs = seg.holder_boottime_secs.load(Ordering::SeqCst);
        assert!(
            theirs >= ours + BOOTTIME_OFFSET_SECS / 2,
            "the holder's boot-time clock ({theirs} s) is not ahead of ours ({ours} s): \
             it does not run in the new time namespace"
        );
    } else {
        assert_eq!(
            seg.holder_pid.load(Ordering::SeqCst),
            1,
            "the holder must be PID 1 of the new PID namespace"
        );
        let outer = seg.holder_outer_pid.load(Ordering::SeqCst);
        assert_eq!(
            namespace_pids(outer),
            [outer, 1],
            "process {outer} must be the holder: PID 1 of a PID namespace nested in ours"
        );
    }
}

/// Round one: while the holder lives and holds, the waiter (this process)
/// times out and never robs it; the holder then unlocks normally.
fn live_holder_is_never_robbed_and_unlocks_cleanly(ns: Namespace, tag: &str) {
    let (name, seg) = create(tag);
    let mut holder =
        support::spawn_under(ns.prefix(), "child_entry", "hold_until_told", &[&name, "unlock"]);
    holder.wait_for("locked", Duration::from_secs(10));
    assert_in_namespace(ns, &seg);
    match seg.m.lock_timeout(Duration::from_millis(500)) {
        Err(LockTimeoutError::TimedOut) => {}
        other => panic!("the holder is alive and holds the lock: expected TimedOut, got {other:?}"),
    }
    assert!(holder.is_running(), "the holder must still be alive");
    seg.go.set();
    holder.expect_success(Duration::from_secs(10));
    let g = seg
        .m
        .try_lock()
        .unwrap_or_else(|e| panic!("the holder unlocked cleanly: expected Ok, got {e:?}"));
    assert_eq!(*g, WRITTEN, "the holder's write is visible");
}

/// Round two: the holder is SIGKILLed while it holds; the waiter (this
/// process) recovers the lock with `OwnerDied`.
fn killed_holder_is_recovered(ns: Namespace, tag: &str) {
    let (name, seg) = create(tag);
    let mut holder =
        support::spawn_under(ns.prefix(), "child_entry", "hold_until_told", &[&name, "be_killed"]);
    holder.wait_for("locked", Duration::from_secs(10));
    assert_in_namespace(ns, &seg);
    // With a PID namespace the holder is `unshare`'s child, the namespace's
    // init: killing it ends the namespace, and `unshare` then exits. The
    // signal comes from outside the namespace, so the kernel delivers it.
    support::signal(seg.holder_outer_pid.load(Ordering::SeqCst), libc::SIGKILL);
    let status = holder.wait_timeout(Duration::from_secs(10));
    // Not a panic's exit: a holder that unwound would have dropped its
    // guard while panicking, leaving `OwnerDied` without any death to detect.
    match ns {
        Namespace::Time => {
            assert_eq!(
                status.signal(),
                Some(libc::SIGKILL),
                "the holder must die by SIGKILL: {status:?}"
            );
        }
        // `unshare` cannot re-raise SIGKILL on itself: it exits with a
        // failure status instead (util-linux 2.38 prints "sigprocmask
        // unblock failed" and exits 1).
        Namespace::Pid => assert!(
            !status.success() && status.code() != Some(PANIC_EXIT_CODE),
            "the holder must die by SIGKILL: `unshare` exited with {status:?}"
        ),
    }
    match seg.m.lock_timeout(Duration::from_secs(5)) {
        Err(LockTimeoutError::OwnerDied(mut g)) => {
            assert_eq!(*g, WRITTEN, "the dead holder's write is visible");
            ShmMutexGuard::make_consistent(&mut g);
        }
        other => panic!("the holder was killed: expected OwnerDied, got {other:?}"),
    }
    assert!(seg.m.try_lock().is_ok(), "the repaired mutex works normally");
}

/// Issue case: the waiter's view of the holder's start time is shifted by
/// the holder's time namespace; that must not count as a death.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn holder_in_a_time_namespace_is_never_robbed_and_unlocks_cleanly() {
    if namespace_available(Namespace::Time) {
        live_holder_is_never_robbed_and_unlocks_cleanly(Namespace::Time, "timens-live");
    }
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn holder_in_a_time_namespace_killed_is_recovered_with_owner_died() {
    if namespace_available(Namespace::Time) {
        killed_holder_is_recovered(Namespace::Time, "timens-killed");
    }
}

/// Issue case: the holder's thread id (1) names another process in the
/// waiter's view; that must not count as a death.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn holder_in_a_child_pid_namespace_is_never_robbed_and_unlocks_cleanly() {
    if namespace_available(Namespace::Pid) {
        live_holder_is_never_robbed_and_unlocks_cleanly(Namespace::Pid, "pidns-live");
    }
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn holder_in_a_child_pid_namespace_killed_is_recovered_with_owner_died() {
    if namespace_available(Namespace::Pid) {
        killed_holder_is_recovered(Namespace::Pid, "pidns-killed");
    }
}
