//! Unit tests of the lock-word state machine, with simulated owners (fake
//! thread identities) and an injected liveness oracle, plus a proptest that
//! runs random operation sequences against a sequential model.

use super::*;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

/// A liveness oracle over simulated threads: `tid → (alive, start time)`.
#[derive(Default)]
struct FakeOracle {
    threads: RefCell<HashMap<u32, (bool, u64)>>,
    disabled: bool,
    /// How many cheap (`thorough == false`) checks were asked for.
    quick_checks: Cell<u32>,
}

impl FakeOracle {
    fn spawn(&self, tid: u32, start: u64) -> ThreadIdentity {
        self.threads.borrow_mut().insert(tid, (true, start));
        ThreadIdentity { tid, start_time: start }
    }
    fn kill(&self, tid: u32) {
        self.threads.borrow_mut().get_mut(&tid).expect("known thread").0 = false;
    }
}

impl OwnerOracle for FakeOracle {
    /// Mirrors `thread_liveness`: gone → dead; a different start time (low
    /// 32 bits) → dead (TID reuse); the quick check sees only "gone".
    fn liveness(&self, tid: u32, start: u64, thorough: bool) -> Liveness {
        if !thorough {
            self.quick_checks.set(self.quick_checks.get() + 1);
        }
        if self.disabled {
            return Liveness::Alive;
        }
        match self.threads.borrow().get(&tid) {
            None | Some((false, _)) => Liveness::Dead,
            Some(&(true, now_start))
                if thorough && start != 0 && (now_start & 0xFFFF_FFFF) != start =>
            {
                Liveness::Dead
            }
            Some(_) => Liveness::Alive,
        }
    }
    fn detection_enabled(&self) -> bool {
        !self.disabled
    }
}

impl RawMutex {
    fn word(&self) -> u64 {
        self.word.load(Ordering::Relaxed)
    }
    fn lock_as(
        &self,
        me: ThreadIdentity,
        deadline: Option<Instant>,
        oracle: &FakeOracle,
    ) -> Result<Acquired, RawLockError> {
        if self.try_lock_fast(me) {
            return Ok(Acquired::Clean);
        }
        self.lock_slow(me, deadline, oracle)
    }
    fn try_lock_as(
        &self,
        me: ThreadIdentity,
        oracle: &FakeOracle,
    ) -> Result<Acquired, RawLockError> {
        if self.try_lock_fast(me) {
            return Ok(Acquired::Clean);
        }
        self.try_lock_slow(me, oracle)
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
fn fast_path_stores_tid_and_start_time_in_one_word() {
    let m = RawMutex::new();
    let me = current_thread();
    assert_eq!(m.lock(None), Ok(Acquired::Clean));
    assert_eq!(futex_half(m.word()), me.tid, "the futex half is the bare TID");
    assert_eq!(m.word() >> 32, me.start_time & 0xFFFF_FFFF);
    m.unlock();
    assert_eq!(m.word(), 0);
}

#[test]
fn live_owner_blocks_try_lock_and_times_out_lock() {
    let oracle = FakeOracle::default();
    let a = oracle.spawn(101, 7);
    let b = oracle.spawn(102, 8);
    let m = RawMutex::new();
    assert_eq!(m.lock_as(a, None, &oracle), Ok(Acquired::Clean));
    assert_eq!(m.try_lock_as(b, &oracle), Err(RawLockError::WouldBlock));
    assert_eq!(m.lock_as(b, soon(), &oracle), Err(RawLockError::TimedOut));
    // The waiter announced itself before sleeping.
    assert_eq!(m.word(), owner_bits(a) | WAITERS);
    m.release_as(a, Release::Normal);
    assert_eq!(m.word(), 0);
}

#[test]
fn dead_owner_is_recovered_once_then_consistent() {
    let oracle = FakeOracle::default();
    let a = oracle.spawn(101, 7);
    let b = oracle.spawn(102, 8);
    let c = oracle.spawn(103, 9);
    let m = RawMutex::new();
    assert_eq!(m.lock_as(a, None, &oracle), Ok(Acquired::Clean));
    oracle.kill(a.tid);
    assert_eq!(m.lock_as(b, None, &oracle), Ok(Acquired::OwnerDied));
    assert_eq!(m.word(), owner_bits(b) | OWNER_DIED);
    assert!(m.is_inconsistent());
    // Nobody else gets OwnerDied for the same death.
    assert_eq!(m.try_lock_as(c, &oracle), Err(RawLockError::WouldBlock));
    m.make_consistent_as(b);
    assert_eq!(m.word(), owner_bits(b));
    m.release_as(b, Release::Normal);
    assert_eq!(m.lock_as(c, None, &oracle), Ok(Acquired::Clean));
}

#[test]
fn a_second_arrival_soon_after_skips_the_probe_and_the_timer_still_recovers() {
    let oracle = FakeOracle::default();
    let a = oracle.spawn(111, 7);
    let b = oracle.spawn(112, 8);
    let c = oracle.spawn(113, 9);
    let (m1, m2) = (RawMutex::new(), RawMutex::new());
    assert_eq!(m1.lock_as(a, None, &oracle), Ok(Acquired::Clean));
    assert_eq!(m2.lock_as(a, None, &oracle), Ok(Acquired::Clean));
    oracle.kill(a.tid);
    // This test's thread has not probed before: the first arrival probes
    // at once.
    let first = Instant::now();
    assert_eq!(m1.lock_as(b, None, &oracle), Ok(Acquired::OwnerDied));
    assert_eq!(oracle.quick_checks.get(), 1);
    // The second arrival recovers too, whether or not it probed.
    let second = Instant::now();
    assert_eq!(m2.lock_as(c, None, &oracle), Ok(Acquired::OwnerDied));
    assert_eq!(m2.word() & OWNER_MASK, owner_bits(c));
    assert!(m2.is_inconsistent());
    // Within one liveness interval of the first probe it must not probe:
    // it sleeps, and the timer's thorough check finds the death.
    let interval = LIVENESS_RECHECK.expect("real builds have a liveness timer");
    if second.saturating_duration_since(first) < interval {
        assert_eq!(oracle.quick_checks.get(), 1, "the second arrival probed");
        assert!(second.elapsed() >= interval, "recovered before the timer fired");
    }
}

#[test]
fn unlock_without_make_consistent_is_not_recoverable_forever() {
    let oracle = FakeOracle::default();
    let a = oracle.spawn(101, 7);
    let b = oracle.spawn(102, 8);
    let m = RawMutex::new();
    assert_eq!(m.lock_as(a, None, &oracle), Ok(Acquired::Clean));
    oracle.kill(a.tid);
    assert_eq!(m.try_lock_as(b, &oracle), Ok(Acquired::OwnerDied));
    m.release_as(b, Release::Normal);
    assert_eq!(m.state(), RawState::NotRecoverable);
    for _ in 0..3 {
        assert_eq!(m.try_lock_as(b, &oracle), Err(RawLockError::NotRecoverable));
        assert_eq!(m.lock_as(b, None, &oracle), Err(RawLockError::NotRecoverable));
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
fn reused_tid_with_other_start_time_is_a_dead_owner() {
    let oracle = FakeOracle::default();
    let old = oracle.spawn(101, 7);
    let b = oracle.spawn(102, 8);
    let m = RawMutex::new();
    assert_eq!(m.lock_as(old, None, &oracle), Ok(Acquired::Clean));
    // The owner dies and its TID is reused by a new, live thread.
    let new = oracle.spawn(101, 70);
    // The quick check (kill) cannot see it; the thorough one (try_lock,
    // and lock after a timed-out wait) can.
    assert_eq!(m.try_lock_as(b, &oracle), Ok(Acquired::OwnerDied));
    m.make_consistent_as(b);
    m.release_as(b, Release::Normal);
    // The new thread with the old TID locks normally.
    assert_eq!(m.lock_as(new, None, &oracle), Ok(Acquired::Clean));
    m.release_as(new, Release::Normal);
}

#[test]
fn blocking_lock_catches_tid_reuse_after_a_timed_out_wait() {
    let oracle = FakeOracle::default();
    let old = oracle.spawn(101, 7);
    let b = oracle.spawn(102, 8);
    let m = RawMutex::new();
    assert_eq!(m.lock_as(old, None, &oracle), Ok(Acquired::Clean));
    oracle.spawn(101, 70);
    let deadline = Some(Instant::now() + Duration::from_secs(10));
    assert_eq!(m.lock_as(b, deadline, &oracle), Ok(Acquired::OwnerDied));
}

#[test]
fn the_reused_tid_itself_recovers_and_is_not_taken_for_dead() {
    let oracle = FakeOracle::default();
    let old = oracle.spawn(101, 7);
    let b = oracle.spawn(102, 8);
    let m = RawMutex::new();
    assert_eq!(m.lock_as(old, None, &oracle), Ok(Acquired::Clean));
    let new = oracle.spawn(101, 70);
    assert_eq!(m.lock_as(new, None, &oracle), Ok(Acquired::OwnerDied));
    // Same TID in the word as the dead owner's, but now with the new
    // thread's start time: a thorough check by another thread finds it alive.
    assert_eq!(m.word() & OWNER_MASK, owner_bits(new));
    assert_eq!(m.try_lock_as(b, &oracle), Err(RawLockError::WouldBlock));
}

#[test]
fn detection_disabled_never_declares_death() {
    let oracle = FakeOracle { disabled: true, ..FakeOracle::default() };
    let a = oracle.spawn(101, 7);
    let b = oracle.spawn(102, 8);
    let m = RawMutex::new();
    assert_eq!(m.lock_as(a, None, &oracle), Ok(Acquired::Clean));
    oracle.kill(a.tid);
    assert_eq!(m.try_lock_as(b, &oracle), Err(RawLockError::WouldBlock));
    assert_eq!(m.lock_as(b, soon(), &oracle), Err(RawLockError::TimedOut));
    // A TID equal to ours is not "us" either: it may be another namespace's.
    let same_tid = ThreadIdentity { tid: a.tid, start_time: 7 };
    assert_eq!(m.lock_as(same_tid, soon(), &oracle), Err(RawLockError::TimedOut));
}

#[test]
fn garbage_tid_is_recovered_like_a_dead_owner() {
    let oracle = FakeOracle::default();
    let b = oracle.spawn(102, 8);
    let m = RawMutex::new();
    m.word.store(0xDEAD_BEEF_0012_3456, Ordering::Relaxed);
    assert_eq!(m.lock_as(b, None, &oracle), Ok(Acquired::OwnerDied));
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
fn free_word_with_garbage_start_bits_is_taken_cleanly() {
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
    let a = oracle.spawn(101, 7);
    let m = RawMutex::new();
    assert_eq!(m.lock_as(a, None, &oracle), Ok(Acquired::Clean));
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
    let _ = m.lock(None);
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
fn waiters_already_asleep_recover_from_a_dead_thread() {
    use std::sync::{Arc, Barrier};
    let m = Arc::new(RawMutex::new());
    // The owner is a real thread that exits holding the lock.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel::<()>();
    let owner = {
        let m = Arc::clone(&m);
        std::thread::spawn(move || {
            assert_eq!(m.lock(None), Ok(Acquired::Clean));
            locked_tx.send(()).expect("test waits");
            rx.recv().expect("told to die");
        })
    };
    // The waiters must find the lock held, not take it before the owner.
    locked_rx.recv().expect("owner locked");
    let barrier = Arc::new(Barrier::new(3));
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let m = Arc::clone(&m);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let r = m.lock(None).expect("recoverable");
                if r == Acquired::OwnerDied {
                    m.make_consistent();
                }
                m.unlock();
                r
            })
        })
        .collect();
    barrier.wait();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while m.word() & WAITERS == 0 {
        assert!(std::time::Instant::now() < deadline, "waiters never slept");
        std::thread::yield_now();
    }
    tx.send(()).expect("owner alive");
    owner.join().expect("owner thread");
    let results: Vec<_> = waiters.into_iter().map(|w| w.join().expect("waiter")).collect();
    assert_eq!(results.iter().filter(|r| **r == Acquired::OwnerDied).count(), 1, "{results:?}");
    assert_eq!(m.word(), 0);
}

mod model {
    //! Random operation sequences by three simulated threads against a
    //! sequential model of the lock.
    use super::*;
    use proptest::prelude::*;

    const THREADS: usize = 3;

    #[derive(Clone, Copy, Debug)]
    enum Op {
        /// `lock` with a 1 ms deadline.
        Lock(usize),
        TryLock(usize),
        Unlock(usize),
        UnlockPanicking(usize),
        Abandon(usize),
        MakeConsistent(usize),
        /// The thread dies (whatever it holds stays held).
        Die(usize),
        /// A dead thread's TID is reused by a new thread (new start time).
        Reuse(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        let t = 0..THREADS;
        prop_oneof![
            4 => t.clone().prop_map(Op::Lock),
            4 => t.clone().prop_map(Op::TryLock),
            4 => t.clone().prop_map(Op::Unlock),
            1 => t.clone().prop_map(Op::UnlockPanicking),
            1 => t.clone().prop_map(Op::Abandon),
            3 => t.clone().prop_map(Op::MakeConsistent),
            2 => t.clone().prop_map(Op::Die),
            1 => t.prop_map(Op::Reuse),
        ]
    }

    /// A simulated thread: its slot's current incarnation.
    #[derive(Clone, Copy, Debug)]
    struct Sim {
        alive: bool,
        incarnation: u64,
    }

    impl Sim {
        fn identity(self, slot: usize) -> ThreadIdentity {
            ThreadIdentity { tid: 101 + slot as u32, start_time: 1000 + self.incarnation }
        }
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Model {
        Free { died: bool },
        Held { slot: usize, incarnation: u64, inconsistent: bool },
        NotRecoverable,
    }

    struct World {
        sims: [Sim; THREADS],
        model: Model,
        oracle: FakeOracle,
        mutex: RawMutex,
    }

    impl World {
        fn new() -> Self {
            let oracle = FakeOracle::default();
            let sims = [Sim { alive: true, incarnation: 0 }; THREADS];
            for (slot, sim) in sims.iter().enumerate() {
                let id = sim.identity(slot);
                oracle.spawn(id.tid, id.start_time);
            }
            World { sims, model: Model::Free { died: false }, oracle, mutex: RawMutex::new() }
        }

        fn holds(&self, slot: usize) -> Option<bool> {
            match self.model {
                Model::Held { slot: s, incarnation, inconsistent }
                    if s == slot && incarnation == self.sims[slot].incarnation =>
                {
                    Some(inconsistent)
                }
                _ => None,
            }
        }

        fn owner_dead(&self) -> bool {
            match self.model {
                Model::Held { slot, incarnation, .. } => {
                    !self.sims[slot].alive || self.sims[slot].incarnation != incarnation
                }
                _ => false,
            }
        }

        /// What a lock attempt by `slot` must return, and the model after it.
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
            let slot = match op {
                Op::Lock(s)
                | Op::TryLock(s)
                | Op::Unlock(s)
                | Op::UnlockPanicking(s)
                | Op::Abandon(s)
                | Op::MakeConsistent(s)
                | Op::Die(s)
                | Op::Reuse(s) => s,
            };
            let sim = self.sims[slot];
            let me = sim.identity(slot);
            let alive = sim.alive;
            match op {
                Op::Lock(_) | Op::TryLock(_) if alive => {
                    let lock = matches!(op, Op::Lock(_));
                    if lock && self.holds(slot).is_some() {
                        return Ok(()); // a self-deadlock panics; tested apart
                    }
                    let (want, got) = if lock {
                        (
                            self.expect_lock(RawLockError::TimedOut),
                            self.mutex.lock_as(me, soon(), &self.oracle),
                        )
                    } else if self.holds(slot).is_some() {
                        (Err(RawLockError::WouldBlock), self.mutex.try_lock_as(me, &self.oracle))
                    } else {
                        (
                            self.expect_lock(RawLockError::WouldBlock),
                            self.mutex.try_lock_as(me, &self.oracle),
                        )
                    };
                    prop_assert_eq!(got, want, "{:?} in {:?}", op, self.model);
                    if let Ok(acquired) = got {
                        self.model = Model::Held {
                            slot,
                            incarnation: sim.incarnation,
                            inconsistent: acquired == Acquired::OwnerDied,
                        };
                    }
                }
                Op::Unlock(_) if alive => {
                    if let Some(inconsistent) = self.holds(slot) {
                        self.mutex.release_as(me, Release::Normal);
                        self.model = if inconsistent {
                            Model::NotRecoverable
                        } else {
                            Model::Free { died: false }
                        };
                    }
                }
                Op::UnlockPanicking(_) if alive && self.holds(slot).is_some() => {
                    self.mutex.release_as(me, Release::Inconsistent);
                    self.model = Model::Free { died: true };
                }
                Op::Abandon(_) if alive && self.holds(slot) == Some(true) => {
                    self.mutex.release_as(me, Release::Abandon);
                    self.model = Model::NotRecoverable;
                }
                Op::MakeConsistent(_) if alive && self.holds(slot).is_some() => {
                    self.mutex.make_consistent_as(me);
                    self.model =
                        Model::Held { slot, incarnation: sim.incarnation, inconsistent: false };
                }
                Op::Die(_) if alive => {
                    self.sims[slot].alive = false;
                    self.oracle.kill(me.tid);
                }
                Op::Reuse(_) if !alive => {
                    self.sims[slot] = Sim { alive: true, incarnation: sim.incarnation + 1 };
                    let id = self.sims[slot].identity(slot);
                    self.oracle.spawn(id.tid, id.start_time);
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
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn raw_mutex_matches_sequential_model(ops in proptest::collection::vec(op(), 1..60)) {
            let mut world = World::new();
            for op in ops {
                world.apply(op)?;
            }
        }
    }
}
