//! A lock's owner is a process, not a thread. A thread that exits with its
//! guard leaked leaves the lock held for as long as its process lives (the
//! leaked `&mut` may still be in use); a holder whose process `exec`s is dead
//! at once, although its PID (and, for the main thread, its thread id and
//! start time) lives on in the new program, which cannot reach the guard.

use shmsync::{LockTimeoutError, Segment, ShmMutex, ShmMutexGuard, ShmSafe};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use shmsync_support as support;
use support::lock_clean;

#[derive(ShmSafe)]
#[repr(C)]
struct Shared {
    m: ShmMutex<u64>,
}

/// The value a holder writes before it leaks or abandons its guard: the
/// next owner must see it.
const WRITTEN: u64 = 7;

#[test]
fn child_entry() {
    support::run_child(|role, args| {
        let seg = Segment::<Shared>::open(&args[0]).expect("open segment");
        match role {
            "leak_in_exited_thread" => {
                std::thread::scope(|s| {
                    s.spawn(|| {
                        let mut g = lock_clean(&seg.m);
                        *g = WRITTEN;
                        std::mem::forget(g);
                    })
                    .join()
                    .expect("the locking thread");
                });
                // The locking thread is gone (joined); its process lives on.
                support::reached("leaked");
                support::park_forever();
            }
            other => panic!("unknown role {other}"),
        }
    });
}

/// Roles that must run on the process's main thread, the thread-group
/// leader: its thread id is the process id, and `exec` (by itself or by a
/// sibling thread) keeps that id and the leader's start time, so nothing
/// about the thread shows that the program holding the guard is gone.
#[used]
#[link_section = ".init_array"]
static MAIN_THREAD_ROLES: extern "C" fn() = main_thread_roles;

extern "C" fn main_thread_roles() {
    support::run_main_thread_role(|role, args| {
        assert_is_main_thread();
        let seg = Segment::<Shared>::open(&args[0]).expect("open segment");
        match role {
            "lock_then_exec" => {
                let mut g = lock_clean(&seg.m);
                *g = WRITTEN;
                support::reached("locked");
                let err = Command::new("sleep").arg("30").exec();
                panic!("exec sleep: {err}");
            }
            "lock_then_sibling_thread_execs" => {
                let mut g = lock_clean(&seg.m);
                *g = WRITTEN;
                support::reached("locked");
                // This thread keeps its guard; the sibling's exec ends it.
                let sibling = std::thread::spawn(|| {
                    let err = Command::new("sleep").arg("30").exec();
                    panic!("exec sleep: {err}");
                });
                let outcome = sibling.join();
                panic!("the sibling thread returned from exec: {outcome:?}");
            }
            other => panic!("unknown main-thread role {other}"),
        }
    });
}

/// The entry named when spawning a main-thread role: reached only if the
/// constructor above did not take the process over.
#[test]
fn main_thread_role_entry() {
    support::assert_not_a_main_thread_role();
}

fn assert_is_main_thread() {
    // SAFETY: getpid and gettid have no preconditions and cannot fail.
    let (pid, tid) = unsafe { (libc::getpid(), libc::gettid()) };
    assert_eq!(pid, tid, "a main-thread role runs on the thread-group leader");
}

fn create(tag: &str) -> (String, Segment<Shared>) {
    let name = support::unique_name(tag);
    let seg = Segment::<Shared>::create(&name).expect("create segment");
    (name, seg)
}

/// `lock_timeout(wait)` must time out: a live process holds the lock.
fn expect_timed_out(seg: &Shared, wait: Duration, why: &str) {
    match seg.m.lock_timeout(wait) {
        Err(LockTimeoutError::TimedOut) => {}
        other => panic!("{why}: expected TimedOut, got {other:?}"),
    }
}

/// `lock_timeout(wait)` must report the holder dead; repairs and unlocks.
fn expect_owner_died(seg: &Shared, wait: Duration, why: &str) {
    match seg.m.lock_timeout(wait) {
        Err(LockTimeoutError::OwnerDied(mut g)) => {
            assert_eq!(*g, WRITTEN, "the dead holder's write is visible");
            ShmMutexGuard::make_consistent(&mut g);
        }
        other => panic!("{why}: expected OwnerDied, got {other:?}"),
    }
}

/// The command name (`/proc/<pid>/comm`) of process `pid`, if it exists.
fn command_name(pid: u32) -> Option<String> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(comm.trim_end().to_owned())
}

/// Issue case: a thread of another process locks, leaks the guard and exits.
/// Its process still maps the guard, so the lock stays held; only the
/// process's death frees it.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn leaked_guard_of_an_exited_thread_stays_held_until_its_process_dies() {
    let (name, seg) = create("leak-thread-exit");
    let mut holder = support::spawn("child_entry", "leak_in_exited_thread", &[&name]);
    holder.wait_for("leaked", Duration::from_secs(10));
    expect_timed_out(
        &seg,
        Duration::from_millis(500),
        "the locking thread exited but its process, which may use the leaked guard, lives",
    );
    assert!(holder.is_running(), "the leaking process must still be alive");
    holder.kill();
    expect_owner_died(&seg, Duration::from_secs(5), "the leaking process was killed");
    assert!(seg.m.try_lock().is_ok(), "the repaired mutex works normally");
}

/// After the holder has exec'd, the lock must be reported dead while the new
/// program (same PID) still runs.
fn expect_dead_while_exec_program_runs(seg: &Shared, mut holder: support::ChildProcess) {
    expect_owner_died(seg, Duration::from_secs(3), "the holder's process exec'd `sleep`");
    assert!(holder.is_running(), "the exec'd process must still be alive");
    support::wait_until("the holder's process runs `sleep`", Duration::from_secs(10), || {
        command_name(holder.pid()).as_deref() == Some("sleep")
    });
    assert!(holder.is_running(), "the exec'd `sleep` must still be alive");
    holder.kill();
    assert!(seg.m.try_lock().is_ok(), "the repaired mutex works normally");
}

/// Issue case: the holder (the main thread) execs `sleep 30`. The PID, the
/// thread id and the start time survive; the guard does not.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn holder_that_execs_is_dead_while_the_new_program_runs() {
    let (name, seg) = create("exec-self");
    let mut holder =
        support::spawn_main_thread_role("main_thread_role_entry", "lock_then_exec", &[&name]);
    holder.wait_for("locked", Duration::from_secs(10));
    expect_dead_while_exec_program_runs(&seg, holder);
}

/// Issue case: the holder (the main thread) keeps its guard while a sibling
/// thread execs; exec ends every thread of the process, and the new program
/// inherits the leader's PID and start time.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn holder_whose_sibling_thread_execs_is_dead_while_the_new_program_runs() {
    let (name, seg) = create("exec-sibling");
    let mut holder = support::spawn_main_thread_role(
        "main_thread_role_entry",
        "lock_then_sibling_thread_execs",
        &[&name],
    );
    holder.wait_for("locked", Duration::from_secs(10));
    expect_dead_while_exec_program_runs(&seg, holder);
}
