//! Unit tests of the lock-word state machine, with simulated owners (fake
//! thread identities) and an injected liveness oracle, plus a proptest that
//! runs random operation sequences against a sequential model.

use super::*;
use crate::test_oracle::{FakeOracle, Processes};

impl RawMutex {
    fn word(&self) -> u64 {
        self.word.load(Ordering::Relaxed)
    }
}

fn soon() -> Option<Instant> {
    Some(Instant::now() + Duration::from_millis(1))
}

#[test]
fn zeroed_memory_is_an_unlocked_mutex() {
    // SAFETY: RawMutex is one AtomicU64, for which all-zero bytes are a
    // valid value, and its docs promise that zero means "unlocked".
    let m: RawMutex = unsafe { core::mem::zeroed() };
    assert_eq!(m.state(), RawState::Unlocked);
    assert_eq!(m.try_lock(), Ok(Acquired::Clean));
    assert_eq!(m.state(), RawState::Locked);
    m.unlock();
    assert_eq!(m.state(), RawState::Unlocked);
    assert_eq!(core::mem::size_of::<RawMutex>(), 8);
    assert_eq!(core::mem::align_of::<RawMutex>(), 8);
}

#[test]
fn fast_path_stores_tid_and_process_token_in_one_word() {
    let m = RawMutex::new();
    let me = current_thread();
    assert_eq!(m.lock(None), Ok(Acquired::Clean));
    assert_eq!(low_half(m.word()), me.tid, "the low half is the bare TID");
    assert_eq!(token(m.word()), me.token);
    m.unlock();
    assert_eq!(m.word(), 0);
}

#[test]
fn live_owner_blocks_try_lock_and_times_out_lock() {
    let oracle = FakeOracle::default();
    let a = oracle.thread(101, 7);
    let b = oracle.thread(102, 8);
    let m = RawMutex::new();
    assert_eq!(m.lock_with(a, None, &oracle), Ok(Acquired::Clean));
    assert_eq!(m.try_lock_with(b, &oracle), Err(RawLockError::WouldBlock));
    assert_eq!(m.lock_with(b, soon(), &oracle), Err(RawLockError::TimedOut));
    // The waiter announced itself before sleeping.
    assert_eq!(m.word(), owner_bits(a) | WAITERS);
    m.release_as(a, UnlockMode::Normal);
    assert_eq!(m.word(), 0);
}

#[test]
fn dead_owner_process_is_recovered_once_then_consistent() {
    let oracle = FakeOracle::default();
    let a = oracle.thread(101, 7);
    let b = oracle.thread(102, 8);
    let c = oracle.thread(103, 9);
    let m = RawMutex::new();
    assert_eq!(m.lock_with(a, None, &oracle), Ok(Acquired::Clean));
    oracle.kill(a.token);
    assert_eq!(m.lock_with(b, None, &oracle), Ok(Acquired::OwnerDied));
    assert_eq!(m.word(), owner_bits(b) | OWNER_DIED);
    assert!(m.is_inconsistent());
    // Nobody else gets OwnerDied for the same death.
    assert_eq!(m.try_lock_with(c, &oracle), Err(RawLockError::WouldBlock));
    m.make_consistent_as(b);
    assert_eq!(m.word(), owner_bits(b));
    m.release_as(b, UnlockMode::Normal);
    assert_eq!(m.lock_with(c, None, &oracle), Ok(Acquired::Clean));
}

#[test]
fn an_exited_thread_of_a_live_process_keeps_the_lock() {
    // Thread 101 of process 7 leaks its guard and exits; its process lives.
    let oracle = FakeOracle::default();
    let leaker = oracle.thread(101, 7);
    let sibling = oracle.thread(102, 7);
    let other = oracle.thread(201, 8);
    let m = RawMutex::new();
    assert_eq!(m.lock_with(leaker, None, &oracle), Ok(Acquired::Clean));
    // A thread of the same process: alive without asking anybody.
    let checks = oracle.checks();
    assert_eq!(m.try_lock_with(sibling, &oracle), Err(RawLockError::WouldBlock));
    assert_eq!(m.lock_with(sibling, soon(), &oracle), Err(RawLockError::TimedOut));
    assert_eq!(oracle.checks(), checks, "our own token needs no proof");
    // Another process: alive by the proof.
    assert_eq!(m.try_lock_with(other, &oracle), Err(RawLockError::WouldBlock));
    assert_eq!(m.lock_with(other, soon(), &oracle), Err(RawLockError::TimedOut));
    // The process exits: now it is dead.
    oracle.kill(7);
    assert_eq!(m.lock_with(other, None, &oracle), Ok(Acquired::OwnerDied));
}

#[test]
fn a_second_arrival_soon_after_skips_the_probe_and_the_timer_still_recovers() {
    let oracle = FakeOracle::default();
    let a = oracle.thread(111, 7);
    let b = oracle.thread(112, 8);
    let c = oracle.thread(113, 9);
    let (m1, m2) = (RawMutex::new(), RawMutex::new());
    assert_eq!(m1.lock_with(a, None, &oracle), Ok(Acquired::Clean));
    assert_eq!(m2.lock_with(a, None, &oracle), Ok(Acquired::Clean));
    oracle.kill(a.token);
    // Make sure this test thread's next arrival probes.
    std::thread::sleep(LIVENESS_RECHECK.expect("real builds have a liveness timer"));
    let first = Instant::now();
    assert_eq!(m1.lock_with(b, None, &oracle), Ok(Acquired::OwnerDied));
    assert_eq!(oracle.checks(), 1);
    // The second arrival recovers too, whether or not it probed.
    let second = Instant::now();
    let bound = Some(Instant::now() + Duration::from_secs(10));
    assert_eq!(m2.lock_with(c, bound, &oracle), Ok(Acquired::OwnerDied));
    assert_eq!(m2.word() & !(WAITERS | OWNER_DIED), owner_bits(c));
    assert!(m2.is_inconsistent());
    // Within one liveness interval of the first probe it must not probe:
    // it sleeps, and the timer's check finds the death.
    let interval = LIVENESS_RECHECK.expect("real builds have a liveness timer");
    if second.saturating_duration_since(first) < interval {
        assert_eq!(oracle.checks(), 2, "the second arrival probed at once");
        assert!(second.elapsed() >= interval, "recovered before the timer fired");
    }
}

#[test]
fn liveness_is_rechecked_by_elapsed_time_even_when_woken_constantly() {
    // A "signal storm": another thread wakes the waiter's futex far more
    // often than the re-check interval. The death must still be found.
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    let m = Arc::new(RawMutex::new());
    let oracle_dead = Arc::new(AtomicBool::new(false));
    struct Flag(Arc<AtomicBool>);
    impl OwnerOracle for Flag {
        fn process_liveness(&self, _token: u32) -> Liveness {
            if self.0.load(Ordering::SeqCst) {
                Liveness::Dead
            } else {
                Liveness::Alive
            }
        }
    }
    let owner = ThreadIdentity { tid: 101, token: 7 };
    assert!(m.try_lock_fast(owner));
    let stop = Arc::new(AtomicBool::new(false));
    let storm = {
        let (m, stop) = (Arc::clone(&m), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                futex_wake_low(&m.word, u32::MAX);
                std::thread::yield_now();
            }
        })
    };
    let waiter = {
        let (m, dead) = (Arc::clone(&m), Arc::clone(&oracle_dead));
        std::thread::spawn(move || {
            let me = ThreadIdentity { tid: 202, token: 8 };
            m.lock_with(me, Some(Instant::now() + Duration::from_secs(20)), &Flag(dead))
        })
    };
    std::thread::sleep(Duration::from_millis(20));
    oracle_dead.store(true, Ordering::SeqCst);
    let got = waiter.join().expect("waiter");
    stop.store(true, Ordering::Relaxed);
    storm.join().expect("storm");
    assert_eq!(got, Ok(Acquired::OwnerDied));
}

#[test]
fn unlock_without_make_consistent_is_not_recoverable_forever() {
    let oracle = FakeOracle::default();
    let a = oracle.thread(101, 7);
    let b = oracle.thread(102, 8);
    let m = RawMutex::new();
    assert_eq!(m.lock_with(a, None, &oracle), Ok(Acquired::Clean));
    oracle.kill(a.token);
    assert_eq!(m.try_lock_with(b, &oracle), Ok(Acquired::OwnerDied));
    m.release_as(b, UnlockMode::Normal);
    assert_eq!(m.state(), RawState::NotRecoverable);
    for _ in 0..3 {
        assert_eq!(m.try_lock_with(b, &oracle), Err(RawLockError::NotRecoverable));
        assert_eq!(m.lock_with(b, None, &oracle), Err(RawLockError::NotRecoverable));
        assert_eq!(m.lock(None), Err(RawLockError::NotRecoverable));
    }
}

#[test]
fn abandon_makes_not_recoverable() {
    let m = RawMutex::new();
    assert_eq!(m.lock(None), Ok(Acquired::Clean));
    m.abandon();
    assert_eq!(m.try_lock(), Err(RawLockError::NotRecoverable));
}

#[test]
fn panicking_unlock_hands_owner_died_to_the_next_locker() {
    let m = RawMutex::new();
    assert_eq!(m.lock(None), Ok(Acquired::Clean));
    m.unlock_inconsistent();
    assert_eq!(m.word(), OWNER_DIED);
    assert_eq!(m.state(), RawState::UnlockedOwnerDied);
    assert_eq!(m.lock(None), Ok(Acquired::OwnerDied));
    m.make_consistent();
    m.unlock();
    assert_eq!(m.lock(None), Ok(Acquired::Clean));
    m.unlock();
}

#[test]
fn outside_a_segment_nobody_is_ever_declared_dead() {
    let oracle = FakeOracle::outside_segments();
    let a = oracle.thread(101, 7);
    let b = oracle.thread(102, 8);
    let m = RawMutex::new();
    assert_eq!(m.lock_with(a, None, &oracle), Ok(Acquired::Clean));
    oracle.kill(a.token);
    assert_eq!(m.try_lock_with(b, &oracle), Err(RawLockError::WouldBlock));
    assert_eq!(m.lock_with(b, soon(), &oracle), Err(RawLockError::TimedOut));
}

#[test]
fn a_real_word_outside_every_segment_is_never_recovered() {
    // The system oracle, for a word in process memory: a token nobody
    // holds anywhere is still "alive" here.
    let m = RawMutex::new();
    m.word.store(owner_bits(ThreadIdentity { tid: 101, token: 0x1234_5678 }), Ordering::Relaxed);
    assert_eq!(m.try_lock(), Err(RawLockError::WouldBlock));
    assert_eq!(
        m.lock(Some(Instant::now() + Duration::from_millis(5))),
        Err(RawLockError::TimedOut)
    );
}

#[test]
fn garbage_token_is_recovered_like_a_dead_owner() {
    let oracle = FakeOracle::default();
    let b = oracle.thread(102, 8);
    let m = RawMutex::new();
    m.word.store(0xDEAD_BEEF_0012_3456, Ordering::Relaxed);
    assert_eq!(m.lock_with(b, None, &oracle), Ok(Acquired::OwnerDied));
}

#[test]
fn not_recoverable_tid_is_terminal_whatever_the_flag_bits() {
    let m = RawMutex::new();
    for flags in [0, WAITERS, OWNER_DIED, WAITERS | OWNER_DIED, 0x1234_5678 << 32] {
        m.word.store(NOT_RECOVERABLE | flags, Ordering::Relaxed);
        assert_eq!(m.try_lock(), Err(RawLockError::NotRecoverable));
        assert_eq!(m.lock(None), Err(RawLockError::NotRecoverable));
    }
}

#[test]
fn free_word_with_garbage_token_bits_is_taken_cleanly() {
    let m = RawMutex::new();
    m.word.store(0xDEAD_BEEF_0000_0000, Ordering::Relaxed);
    assert_eq!(m.try_lock(), Ok(Acquired::Clean));
    assert_eq!(m.word(), owner_bits(current_thread()));
    m.unlock();
    assert_eq!(m.word(), 0);
}

#[test]
fn stale_waiters_bit_on_a_free_word_is_kept() {
    let m = RawMutex::new();
    m.word.store(WAITERS, Ordering::Relaxed);
    assert_eq!(m.try_lock(), Ok(Acquired::Clean));
    assert_eq!(m.word(), owner_bits(current_thread()) | WAITERS);
    m.unlock();
    assert_eq!(m.word(), 0);
}

#[test]
#[should_panic(expected = "does not own it")]
fn unlock_by_non_owner_panics() {
    let oracle = FakeOracle::default();
    let a = oracle.thread(101, 7);
    let m = RawMutex::new();
    assert_eq!(m.lock_with(a, None, &oracle), Ok(Acquired::Clean));
    m.unlock();
}

#[test]
#[should_panic(expected = "does not own it")]
fn unlock_by_same_tid_of_another_process_panics() {
    // After fork the child's thread may reuse no TID of the parent, but a
    // word could name our TID with another token: not ours to release.
    let me = current_thread();
    let m = RawMutex::new();
    m.word
        .store(owner_bits(ThreadIdentity { tid: me.tid, token: me.token ^ 1 }), Ordering::Relaxed);
    m.unlock();
}

#[test]
#[should_panic(expected = "does not own it")]
fn make_consistent_by_non_owner_panics() {
    let m = RawMutex::new();
    m.make_consistent();
}

#[test]
#[should_panic(expected = "self-deadlock")]
fn relocking_from_the_owner_thread_panics() {
    let m = RawMutex::new();
    assert_eq!(m.lock(None), Ok(Acquired::Clean));
    // A deadline: without the self-deadlock check this would time out (and
    // fail the test), not hang it.
    let _ = m.lock(Some(Instant::now() + Duration::from_secs(10)));
}

#[test]
fn try_lock_by_owner_is_would_block() {
    let m = RawMutex::new();
    assert_eq!(m.lock(None), Ok(Acquired::Clean));
    assert_eq!(m.try_lock(), Err(RawLockError::WouldBlock));
    m.unlock();
}

#[test]
fn sleeping_waiter_is_woken_by_unlock() {
    use std::sync::Arc;
    let m = Arc::new(RawMutex::new());
    assert_eq!(m.lock(None), Ok(Acquired::Clean));
    let waiter = {
        let m = Arc::clone(&m);
        std::thread::spawn(move || {
            let r = m.lock(None);
            m.unlock();
            r
        })
    };
    // Wait (with a deadline) until the waiter has announced itself.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while m.word() & WAITERS == 0 {
        assert!(std::time::Instant::now() < deadline, "waiter never set WAITERS");
        std::thread::yield_now();
    }
    m.unlock();
    assert_eq!(waiter.join().expect("waiter thread"), Ok(Acquired::Clean));
    assert_eq!(m.word(), 0);
}

#[test]
fn a_thread_that_exits_holding_the_lock_keeps_it_held() {
    use std::sync::Arc;
    let m = Arc::new(RawMutex::new());
    // The owner is a real thread of this process that exits holding the
    // lock (a leaked guard): its process lives, so the lock stays held.
    let owner = {
        let m = Arc::clone(&m);
        std::thread::spawn(move || assert_eq!(m.lock(None), Ok(Acquired::Clean)))
    };
    owner.join().expect("owner thread");
    assert_eq!(m.try_lock(), Err(RawLockError::WouldBlock));
    assert_eq!(
        m.lock(Some(Instant::now() + Duration::from_millis(20))),
        Err(RawLockError::TimedOut)
    );
    assert_eq!(m.state(), RawState::Locked);
}

mod model {
    //! Random operation sequences by three simulated threads in two
    //! simulated processes against a sequential model of the lock: threads
    //! exit (leaving what they hold held), processes die and restart with
    //! new tokens.
    use super::*;
    use proptest::prelude::*;

    const THREADS: usize = 3;
    const PROCESSES: usize = 2;

    /// Which process each thread slot belongs to: two threads share one.
    const PROCESS_OF: [usize; THREADS] = [0, 0, 1];

    #[derive(Clone, Copy, Debug)]
    enum Op {
        /// `lock` with a 1 ms deadline.
        Lock(usize),
        TryLock(usize),
        Unlock(usize),
        UnlockPanicking(usize),
        Abandon(usize),
        MakeConsistent(usize),
        /// The thread exits (whatever it holds stays held); a new thread
        /// of the same process takes its slot.
        ExitThread(usize),
        /// The process dies (every thread of it).
        Die(usize),
        /// A dead process's slot gets a new process (a new token).
        Restart(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        let t = 0..THREADS;
        let p = 0..PROCESSES;
        prop_oneof![
            4 => t.clone().prop_map(Op::Lock),
            4 => t.clone().prop_map(Op::TryLock),
            4 => t.clone().prop_map(Op::Unlock),
            1 => t.clone().prop_map(Op::UnlockPanicking),
            1 => t.clone().prop_map(Op::Abandon),
            3 => t.clone().prop_map(Op::MakeConsistent),
            1 => t.prop_map(Op::ExitThread),
            2 => p.clone().prop_map(Op::Die),
            1 => p.prop_map(Op::Restart),
        ]
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Model {
        Free { died: bool },
        Held { owner: ThreadIdentity, inconsistent: bool },
        NotRecoverable,
    }

    struct World {
        procs: Processes<PROCESSES>,
        /// Per thread slot: generation (a new thread after each exit).
        generations: [u32; THREADS],
        model: Model,
        mutex: RawMutex,
    }

    impl World {
        fn new() -> Self {
            World {
                procs: Processes::new(),
                generations: [0; THREADS],
                model: Model::Free { died: false },
                mutex: RawMutex::new(),
            }
        }

        fn identity(&self, slot: usize) -> ThreadIdentity {
            let tid = 100 + slot as u32 + 10 * self.generations[slot];
            self.procs.thread(PROCESS_OF[slot], tid)
        }

        fn holds(&self, slot: usize) -> Option<bool> {
            match self.model {
                Model::Held { owner, inconsistent } if owner == self.identity(slot) => {
                    Some(inconsistent)
                }
                _ => None,
            }
        }

        /// The owner's process is gone (dead, or replaced by a new one).
        fn owner_dead(&self) -> bool {
            match self.model {
                Model::Held { owner, .. } => (0..PROCESSES)
                    .all(|p| !(self.procs.alive(p) && self.procs.token(p) == owner.token)),
                _ => false,
            }
        }

        /// What a lock attempt must return.
        fn expect_lock(&self, busy: RawLockError) -> Result<Acquired, RawLockError> {
            match self.model {
                Model::NotRecoverable => Err(RawLockError::NotRecoverable),
                Model::Free { died: false } => Ok(Acquired::Clean),
                Model::Free { died: true } => Ok(Acquired::OwnerDied),
                Model::Held { .. } if self.owner_dead() => Ok(Acquired::OwnerDied),
                Model::Held { .. } => Err(busy),
            }
        }

        fn apply(&mut self, op: Op) -> Result<(), TestCaseError> {
            let (slot, alive) = match op {
                Op::Lock(s)
                | Op::TryLock(s)
                | Op::Unlock(s)
                | Op::UnlockPanicking(s)
                | Op::Abandon(s)
                | Op::MakeConsistent(s)
                | Op::ExitThread(s) => (s, self.procs.alive(PROCESS_OF[s])),
                Op::Die(_) | Op::Restart(_) => (0, false),
            };
            let me = self.identity(slot);
            match op {
                Op::Lock(_) | Op::TryLock(_) if alive => {
                    let lock = matches!(op, Op::Lock(_));
                    if lock && self.holds(slot).is_some() {
                        return Ok(()); // a self-deadlock panics; tested apart
                    }
                    let (want, got) = if lock {
                        (
                            self.expect_lock(RawLockError::TimedOut),
                            self.mutex.lock_with(me, soon(), &self.procs.oracle),
                        )
                    } else if self.holds(slot).is_some() {
                        (
                            Err(RawLockError::WouldBlock),
                            self.mutex.try_lock_with(me, &self.procs.oracle),
                        )
                    } else {
                        (
                            self.expect_lock(RawLockError::WouldBlock),
                            self.mutex.try_lock_with(me, &self.procs.oracle),
                        )
                    };
                    prop_assert_eq!(got, want, "{:?} in {:?}", op, self.model);
                    if let Ok(acquired) = got {
                        self.model = Model::Held {
                            owner: me,
                            inconsistent: acquired == Acquired::OwnerDied,
                        };
                    }
                }
                Op::Unlock(_) if alive => {
                    if let Some(inconsistent) = self.holds(slot) {
                        self.mutex.release_as(me, UnlockMode::Normal);
                        self.model = if inconsistent {
                            Model::NotRecoverable
                        } else {
                            Model::Free { died: false }
                        };
                    }
                }
                Op::UnlockPanicking(_) if alive && self.holds(slot).is_some() => {
                    self.mutex.release_as(me, UnlockMode::Inconsistent);
                    self.model = Model::Free { died: true };
                }
                Op::Abandon(_) if alive && self.holds(slot) == Some(true) => {
                    self.mutex.release_as(me, UnlockMode::Abandon);
                    self.model = Model::NotRecoverable;
                }
                Op::MakeConsistent(_) if alive && self.holds(slot).is_some() => {
                    self.mutex.make_consistent_as(me);
                    self.model = Model::Held { owner: me, inconsistent: false };
                }
                Op::ExitThread(_) if alive => self.generations[slot] += 1,
                Op::Die(p) => {
                    self.procs.die(p);
                }
                Op::Restart(p) => {
                    self.procs.restart(p);
                }
                _ => {}
            }
            let want_state = match self.model {
                Model::Free { died: false } => RawState::Unlocked,
                Model::Free { died: true } => RawState::UnlockedOwnerDied,
                Model::Held { .. } => RawState::Locked,
                Model::NotRecoverable => RawState::NotRecoverable,
            };
            prop_assert_eq!(self.mutex.state(), want_state, "after {:?}", op);
            if let Model::Held { inconsistent, .. } = self.model {
                prop_assert_eq!(self.mutex.is_inconsistent(), inconsistent);
            }
            Ok(())
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            // Miri interprets every step: a few sequences, each still up
            // to 60 operations long.
            cases: if cfg!(miri) { 8 } else { 256 },
            // Miri has no file system for the regressions file.
            #[cfg(miri)]
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn raw_mutex_matches_sequential_model(ops in proptest::collection::vec(op(), 1..60)) {
            let mut world = World::new();
            for op in ops {
                world.apply(op)?;
            }
        }
    }
}
