//! `ShmSemaphore` across processes: a holder SIGKILLed with its permits
//! gives them back (to an acquirer already waiting, too), and permits
//! handed over by hand (`forget` in one process, `release` in another)
//! outlive the process that forgot them.

use shmsync::inspect::{self, FieldState};
use shmsync::{Segment, ShmSafe, ShmSemaphore, TryAcquireError};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use shmsync_support as support;

use support::wait_until;
use support::{gettid, wait_until_blocked_in_futex};

#[derive(ShmSafe)]
#[repr(C)]
struct Shared {
    sem: ShmSemaphore,
    /// The thread id of a child that is about to block.
    tid: AtomicU32,
}

const POINT_TIMEOUT: Duration = Duration::from_secs(10);
/// A generous bound for "a dead holder's permit comes back" (the protocol
/// needs a fraction of a millisecond, or one 0.5 ms re-check).
const DETECTION_BOUND: Duration = Duration::from_secs(5);

#[test]
fn child_entry() {
    support::run_child(|role, args| {
        let seg = Segment::<Shared>::open(&args[0]).expect("open segment");
        match role {
            // Takes `args[1]` permits and keeps them until killed.
            "hold" => {
                let n: usize = args[1].parse().expect("a count");
                for _ in 0..n {
                    std::mem::forget(seg.sem.acquire());
                }
                support::reached("holding");
                support::park_forever();
            }
            // Blocks in `acquire` until a permit comes, then exits.
            "acquire" => {
                seg.tid.store(gettid(), Ordering::SeqCst);
                drop(seg.sem.acquire());
            }
            // Takes a permit out of the pool and exits: handed over.
            "forget" => seg.sem.acquire().forget(),
            // Puts a handed-over permit back.
            "release" => seg.sem.release(1),
            other => panic!("unknown role {other}"),
        }
    });
}

fn create(tag: &str, permits: u64) -> (String, Segment<Shared>) {
    let name = support::unique_name(tag);
    let seg = Segment::<Shared>::create_with(&name, |s| s.sem = ShmSemaphore::new(permits))
        .expect("create segment");
    (name, seg)
}

fn spawn_holder(name: &str, permits: usize) -> support::ChildProcess {
    let mut child = support::spawn("child_entry", "hold", &[name, &permits.to_string()]);
    child.wait_for("holding", POINT_TIMEOUT);
    child
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn a_killed_holders_permit_comes_back() {
    let (name, seg) = create("sem-kill-holder", 1);
    let holder = spawn_holder(&name, 1);
    assert_eq!(seg.sem.try_acquire().err(), Some(TryAcquireError::WouldBlock));
    holder.kill();
    let t0 = Instant::now();
    let permit = seg.sem.acquire_timeout(DETECTION_BOUND).expect("the dead holder's permit");
    eprintln!("dead holder's permit taken back by acquire after {:?}", t0.elapsed());
    assert_eq!((seg.sem.in_use(), seg.sem.total()), (1, 1));
    drop(permit);
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn try_acquire_takes_a_killed_holders_permits_back_at_once() {
    let (name, seg) = create("sem-kill-holder-try", 3);
    let holder = spawn_holder(&name, 2);
    let mine = seg.sem.try_acquire().expect("the third permit");
    assert_eq!(seg.sem.try_acquire().err(), Some(TryAcquireError::WouldBlock));
    holder.kill();
    let a = seg.sem.try_acquire().expect("the dead holder's permits are back");
    let b = seg.sem.try_acquire().expect("both of them");
    assert_eq!(seg.sem.try_acquire().err(), Some(TryAcquireError::WouldBlock));
    drop((mine, a, b));
    assert_eq!(seg.sem.available(), 3);
}

/// An acquirer already asleep when the holder is killed: nobody will ever
/// give the permit back, yet the acquirer wakes and gets it.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn an_acquirer_blocked_when_the_holder_is_killed_gets_its_permit() {
    let (name, seg) = create("sem-kill-holder-blocked", 1);
    let holder = spawn_holder(&name, 1);
    let acquirer = support::spawn("child_entry", "acquire", &[&name]);
    wait_until("the acquirer published its thread id", POINT_TIMEOUT, || {
        seg.tid.load(Ordering::SeqCst) != 0
    });
    wait_until_blocked_in_futex(acquirer.pid(), seg.tid.load(Ordering::SeqCst), POINT_TIMEOUT);
    let t0 = Instant::now();
    holder.kill();
    acquirer.expect_success(DETECTION_BOUND);
    eprintln!("blocked acquirer got the dead holder's permit in {:?}", t0.elapsed());
    assert_eq!(seg.sem.available(), 1);
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn a_forgotten_permit_stays_out_until_another_process_releases_it() {
    let (name, seg) = create("sem-hand-over", 1);
    support::spawn("child_entry", "forget", &[&name]).expect_success(POINT_TIMEOUT);
    // The process that forgot it is gone; the permit did not come back.
    assert_eq!((seg.sem.available(), seg.sem.in_use(), seg.sem.total()), (0, 0, 0));
    assert_eq!(seg.sem.try_acquire().err(), Some(TryAcquireError::WouldBlock));
    support::spawn("child_entry", "release", &[&name]).expect_success(POINT_TIMEOUT);
    drop(seg.sem.try_acquire().expect("released by hand"));
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn inspection_tells_a_killed_holder_from_a_live_one() {
    let (name, seg) = create("sem-inspect-dead-holder", 4);
    let mine = seg.sem.acquire();
    spawn_holder(&name, 2).kill();
    let report = inspect::inspect(&name).expect("inspect");
    match report.fields.iter().find(|f| f.path == "sem").expect("sem").state {
        FieldState::Semaphore {
            total,
            in_use,
            available,
            holder_processes,
            holder_processes_dead,
        } => {
            assert_eq!((total, in_use, available), (4, 3, 1));
            assert_eq!((holder_processes, holder_processes_dead), (2, 1));
        }
        ref other => panic!("{other:?}"),
    }
    drop(mine);
}
