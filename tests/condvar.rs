//! `ShmCondvar`: wait/notify within a process and across processes, killed
//! waiters, and waking into a mutex whose owner died.

use shmsync::{LockError, Segment, ShmCondvar, ShmMutex, ShmMutexGuard, ShmSafe};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use shmsync_support as support;
use support::lock_clean;

use support::wait_until;
use support::{gettid, wait_until_blocked_in_futex};

// ---------------------------------------------------------------------------
// within one process
// ---------------------------------------------------------------------------

#[test]
fn notify_one_wakes_a_waiter_blocked_on_the_predicate() {
    let m = ShmMutex::new(false);
    let cv = ShmCondvar::new();
    let (m, cv) = (&m, &cv);
    std::thread::scope(|s| {
        let (tid_tx, tid_rx) = mpsc::channel();
        let waiter = s.spawn(move || {
            tid_tx.send(gettid()).expect("parent listens");
            let g = cv.wait_while(lock_clean(m), |ready| !*ready).expect("clean wait");
            *g
        });
        let tid = tid_rx.recv().expect("waiter tid");
        wait_until_blocked_in_futex(std::process::id(), tid, Duration::from_secs(10));
        *lock_clean(m) = true;
        cv.notify_one();
        assert!(waiter.join().expect("waiter woke"));
    });
}

#[test]
fn notify_all_wakes_every_waiter() {
    const N: usize = 4;
    let m = ShmMutex::new((false, 0u32));
    let cv = ShmCondvar::new();
    let (m, cv) = (&m, &cv);
    std::thread::scope(|s| {
        let (tid_tx, tid_rx) = mpsc::channel();
        for _ in 0..N {
            let tid_tx = tid_tx.clone();
            s.spawn(move || {
                tid_tx.send(gettid()).expect("parent listens");
                let mut g = cv.wait_while(lock_clean(m), |s| !s.0).expect("clean wait");
                g.1 += 1;
            });
        }
        for tid in tid_rx.iter().take(N) {
            wait_until_blocked_in_futex(std::process::id(), tid, Duration::from_secs(10));
        }
        lock_clean(m).0 = true;
        cv.notify_all();
    });
    assert_eq!(lock_clean(m).1, N as u32);
}

#[test]
fn wait_timeout_reports_the_timeout() {
    let m = ShmMutex::new(0u32);
    let cv = ShmCondvar::new();
    let t0 = Instant::now();
    let (g, r) = cv.wait_timeout(lock_clean(&m), Duration::from_millis(20)).expect("clean");
    // Spurious wakeups are allowed, so only a timed-out result is checked
    // against the clock.
    if r.timed_out() {
        assert!(t0.elapsed() >= Duration::from_millis(20));
    }
    drop(g);
    let t0 = Instant::now();
    let (g, r) = cv
        .wait_timeout_while(lock_clean(&m), Duration::from_millis(20), |v| *v == 0)
        .expect("clean");
    assert!(r.timed_out());
    assert!(t0.elapsed() >= Duration::from_millis(20));
    assert_eq!(*g, 0);
}

#[test]
fn wait_timeout_while_returns_early_when_the_condition_holds() {
    let m = ShmMutex::new(1u32);
    let cv = ShmCondvar::new();
    let (g, r) =
        cv.wait_timeout_while(lock_clean(&m), Duration::from_secs(60), |v| *v == 0).expect("ok");
    assert!(!r.timed_out());
    assert_eq!(*g, 1);
}

/// The waiter is asleep on the condvar; the notifier sets the predicate,
/// notifies, and panics while still holding the mutex. The waiter's relock
/// finds the owner-died state and the wait reports `OwnerDied`.
#[test]
fn waking_into_an_owner_died_mutex_reports_owner_died() {
    let m = ShmMutex::new(false);
    let cv = ShmCondvar::new();
    let (m, cv) = (&m, &cv);
    std::thread::scope(|s| {
        let (tid_tx, tid_rx) = mpsc::channel();
        let waiter = s.spawn(move || {
            tid_tx.send(gettid()).expect("parent listens");
            match cv.wait_while(lock_clean(m), |ready| !*ready) {
                Err(LockError::OwnerDied(mut g)) => {
                    assert!(*g, "the notifier's update is visible");
                    ShmMutexGuard::make_consistent(&mut g);
                    true
                }
                _ => false,
            }
        });
        let tid = tid_rx.recv().expect("waiter tid");
        wait_until_blocked_in_futex(std::process::id(), tid, Duration::from_secs(10));
        let notifier = s.spawn(|| {
            let mut g = lock_clean(m);
            *g = true;
            cv.notify_all();
            panic!("dies holding the mutex");
        });
        assert!(notifier.join().is_err());
        assert!(waiter.join().expect("waiter returned"), "the wait must report OwnerDied");
    });
    assert!(*lock_clean(m));
}

/// The `?`-friendly wait: the notifier panics holding the mutex after a
/// half update (`[1, 0]`, the pair must stay equal); the waiter's repair
/// restores the invariant, the mutex is consistent again, and the condition
/// is evaluated on the repaired data before the wait returns.
#[test]
fn wait_while_or_repair_repairs_then_rechecks_the_condition() {
    let m = ShmMutex::new([0u64; 2]);
    let cv = ShmCondvar::new();
    let (m, cv) = (&m, &cv);
    std::thread::scope(|s| {
        let (tid_tx, tid_rx) = mpsc::channel();
        let waiter = s.spawn(move || -> Result<[u64; 2], shmsync::Error> {
            tid_tx.send(gettid()).expect("parent listens");
            let mut repairs = 0;
            let g = cv.wait_while_or_repair(
                m.lock_or_repair(|_| unreachable!("nobody died yet"))?,
                |pair| pair[0] == 0,
                |pair| {
                    repairs += 1;
                    pair[1] = pair[0];
                },
            )?;
            assert_eq!(repairs, 1);
            Ok(*g)
        });
        let tid = tid_rx.recv().expect("waiter tid");
        wait_until_blocked_in_futex(std::process::id(), tid, Duration::from_secs(10));
        let notifier = s.spawn(|| {
            let mut g = lock_clean(m);
            g[0] = 1;
            cv.notify_all();
            panic!("dies holding the mutex, half-way");
        });
        assert!(notifier.join().is_err());
        assert_eq!(waiter.join().expect("waiter returned").expect("repaired"), [1, 1]);
    });
    assert_eq!(*lock_clean(m), [1, 1], "consistent again: a clean lock");
}

// ---------------------------------------------------------------------------
// across processes
// ---------------------------------------------------------------------------

#[derive(ShmSafe)]
#[repr(C)]
struct Game {
    /// Whose turn it is (0 = parent, 1 = child) and how many turns were played.
    state: ShmMutex<[u64; 2]>,
    cv: ShmCondvar,
    /// A flag some tests wait for, guarded by `state`'s mutex via `flag_m`.
    flag_m: ShmMutex<u64>,
    flag_cv: ShmCondvar,
    waiter_tid: AtomicU32,
}

const ROUND_TRIPS: u64 = 10_000;
/// Per-turn bound: a lost wakeup shows up as this timeout, not a hang.
const TURN_TIMEOUT: Duration = Duration::from_secs(10);

fn play(game: &Game, me: u64) {
    for i in 0..ROUND_TRIPS {
        let (mut g, r) = game
            .cv
            .wait_timeout_while(lock_clean(&game.state), TURN_TIMEOUT, |s| s[0] != me)
            .unwrap_or_else(|e| panic!("unexpected {e:?}"));
        assert!(!r.timed_out(), "player {me} waited {TURN_TIMEOUT:?} in round {i}: lost wakeup");
        assert_eq!(g[1], 2 * i + me, "turns out of order");
        g[1] += 1;
        g[0] = 1 - me;
        game.cv.notify_one();
    }
}

#[test]
fn child_entry() {
    support::run_child(|role, args| {
        let game = Segment::<Game>::open(&args[0]).expect("open segment");
        match role {
            "play_child" => play(&game, 1),
            "wait_for_flag" => {
                game.waiter_tid.store(gettid(), Ordering::SeqCst);
                let (g, r) = game
                    .flag_cv
                    .wait_timeout_while(lock_clean(&game.flag_m), TURN_TIMEOUT, |f| *f == 0)
                    .unwrap_or_else(|e| panic!("unexpected {e:?}"));
                assert!(!r.timed_out(), "never notified");
                assert_eq!(*g, 1);
            }
            "notify_then_die_holding" => {
                let mut g = lock_clean(&game.flag_m);
                *g = 1;
                game.flag_cv.notify_all();
                std::mem::forget(g);
                support::die_now();
            }
            other => panic!("unknown role {other}"),
        }
    });
}

fn create_game(tag: &str) -> (String, Segment<Game>) {
    let name = support::unique_name(tag);
    let seg = Segment::<Game>::create(&name).expect("create segment");
    (name, seg)
}

/// Two processes take turns 10k round trips, each waking the other with
/// `notify_one`: no wakeup is lost (every turn is bounded) and the turn
/// count is exact.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn ping_pong_between_two_processes() {
    let (name, game) = create_game("cv-pingpong");
    let child = support::spawn("child_entry", "play_child", &[&name]);
    play(&game, 0);
    child.expect_success(Duration::from_secs(60));
    assert_eq!(*lock_clean(&game.state), [0, 2 * ROUND_TRIPS]);
}

/// A waiter killed while blocked on the condvar leaves nothing behind: a
/// later waiter in another process is woken by a later `notify_one`.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn killed_waiter_does_not_break_later_notifications() {
    let (name, game) = create_game("cv-killed-waiter");
    let first = support::spawn("child_entry", "wait_for_flag", &[&name]);
    wait_until("the first waiter published its tid", TURN_TIMEOUT, || {
        game.waiter_tid.load(Ordering::SeqCst) != 0
    });
    let tid = game.waiter_tid.swap(0, Ordering::SeqCst);
    wait_until_blocked_in_futex(first.pid(), tid, TURN_TIMEOUT);
    first.kill();

    let second = support::spawn("child_entry", "wait_for_flag", &[&name]);
    wait_until("the second waiter published its tid", TURN_TIMEOUT, || {
        game.waiter_tid.load(Ordering::SeqCst) != 0
    });
    let tid = game.waiter_tid.load(Ordering::SeqCst);
    wait_until_blocked_in_futex(second.pid(), tid, TURN_TIMEOUT);
    *lock_clean(&game.flag_m) = 1;
    game.flag_cv.notify_one();
    second.expect_success(TURN_TIMEOUT);
}

/// This process waits on the condvar; another process sets the flag,
/// notifies and is killed while still holding the mutex. The wait returns
/// `OwnerDied`, with the dead process's update visible.
#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn wait_reports_owner_died_when_the_notifier_is_killed_holding_the_mutex() {
    let (name, game) = create_game("cv-notifier-dies");
    let game = &*game;
    std::thread::scope(|s| {
        let (tid_tx, tid_rx) = mpsc::channel();
        let waiter = s.spawn(move || {
            tid_tx.send(gettid()).expect("parent listens");
            match game.flag_cv.wait_while(lock_clean(&game.flag_m), |f| *f == 0) {
                Err(LockError::OwnerDied(mut g)) => {
                    assert_eq!(*g, 1);
                    ShmMutexGuard::make_consistent(&mut g);
                    true
                }
                _ => false,
            }
        });
        let tid = tid_rx.recv().expect("waiter tid");
        wait_until_blocked_in_futex(std::process::id(), tid, TURN_TIMEOUT);
        let killer = support::spawn("child_entry", "notify_then_die_holding", &[&name]);
        let status = killer.wait_timeout(TURN_TIMEOUT);
        assert!(!status.success(), "the notifier must die by SIGKILL");
        assert!(waiter.join().expect("waiter returned"), "the wait must report OwnerDied");
    });
    assert_eq!(*lock_clean(&game.flag_m), 1);
}
