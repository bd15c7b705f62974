//! Unit tests of the reader-writer state machine with simulated processes
//! (fake identities, an injected liveness oracle), and a proptest of random
//! operation sequences by several simulated processes, some of which die,
//! against a sequential model.

use super::raw::{RawRwLock, ReadAcquired, WriterState};
use crate::holders::SLOTS;
use crate::raw_mutex::{Acquired, RawLockError, UnlockMode};
use crate::sync::{Instant, ThreadIdentity};
use crate::test_oracle::{FakeOracle, Processes};
use crate::wake_seq::Wait;
use std::time::Duration;

fn soon() -> Wait {
    Wait::Until(Some(Instant::now() + Duration::from_millis(1)))
}

fn shared(r: Result<ReadAcquired, RawLockError>) -> usize {
    match r {
        Ok(ReadAcquired::Shared(slot)) => slot,
        other => panic!("expected a shared read, got {other:?}"),
    }
}

#[test]
fn zeroed_memory_is_unlocked_with_no_readers() {
    // SAFETY: RawRwLock is atomics only; all-zero is its documented
    // unlocked state.
    let l: RawRwLock = unsafe { core::mem::zeroed() };
    assert_eq!(l.writer_state(), WriterState::Unlocked);
    assert_eq!(l.readers(), 0);
    assert_eq!(core::mem::size_of::<RawRwLock>(), 64 + SLOTS * 8);
    assert_eq!(core::mem::align_of::<RawRwLock>(), 64);
}

/// An uncontended read takes the inline fast path and never asks how
/// long to wait: a timed read reads the clock only when it may wait.
#[test]
fn an_uncontended_read_asks_for_no_wait() {
    let o = FakeOracle::default();
    let (a, b) = (o.thread(1, 10), o.thread(2, 20));
    let l = RawRwLock::new();
    let fast = || -> Wait { unreachable!("the fast path asked how long to wait") };
    let ra = shared(l.read_with(a, fast, &o));
    shared(l.read_with(b, fast, &o));
    l.read_unlock(a, ra);
    assert_eq!(l.readers(), 1);
}

/// The oracle built on every read names the segment by the writer word's
/// address, as the writer lock's own oracle does.
#[test]
fn the_oracle_names_the_writer_words_address() {
    let l = RawRwLock::new();
    assert_eq!(l.oracle().addr, l.writer().addr());
}

#[test]
fn readers_of_several_processes_share_and_keep_a_writer_out() {
    let o = FakeOracle::default();
    let (a, b, w) = (o.thread(1, 10), o.thread(2, 20), o.thread(3, 30));
    let l = RawRwLock::new();
    let ra = shared(l.read_with(a, || Wait::No, &o));
    let rb = shared(l.read_with(b, || Wait::No, &o));
    let rb2 = shared(l.read_with(b, || Wait::No, &o));
    assert_eq!(l.readers(), 3);
    assert_eq!(l.write(w, Wait::No, &o), Err(RawLockError::WouldBlock));
    assert_eq!(l.write(w, soon(), &o), Err(RawLockError::TimedOut));
    assert_eq!(l.writer_state(), WriterState::Unlocked, "a failed write leaves no trace");
    l.read_unlock(a, ra);
    l.read_unlock(b, rb);
    l.read_unlock(b, rb2);
    assert_eq!(l.write(w, Wait::No, &o), Ok(Acquired::Clean));
    assert_eq!(l.read_with(a, || Wait::No, &o), Err(RawLockError::WouldBlock));
    assert_eq!(l.read_with(a, soon, &o), Err(RawLockError::TimedOut));
    assert_eq!(l.readers(), 0, "a reader that lost to the writer took its share back");
    l.write_unlock(w, UnlockMode::Normal);
    shared(l.read_with(a, || Wait::No, &o));
}

#[test]
fn a_dead_readers_share_is_reclaimed_by_the_writer() {
    let o = FakeOracle::default();
    let (r, w) = (o.thread(1, 10), o.thread(2, 20));
    let l = RawRwLock::new();
    shared(l.read_with(r, || Wait::No, &o));
    shared(l.read_with(r, || Wait::No, &o));
    assert_eq!(l.write(w, Wait::No, &o), Err(RawLockError::WouldBlock));
    o.kill(10);
    assert_eq!(
        l.write(w, Wait::No, &o),
        Ok(Acquired::Clean),
        "no OwnerDied: readers wrote nothing"
    );
    assert_eq!(l.readers(), 0);
    l.write_unlock(w, UnlockMode::Normal);
}

#[test]
fn a_reader_of_a_live_process_whose_thread_exited_keeps_its_share() {
    let o = FakeOracle::default();
    let (r, r2, w) = (o.thread(1, 10), o.thread(2, 10), o.thread(3, 20));
    let l = RawRwLock::new();
    shared(l.read_with(r, || Wait::No, &o)); // thread 1 "exits" holding it
    assert_eq!(l.write(w, Wait::No, &o), Err(RawLockError::WouldBlock));
    // Its sibling gives one back from the same slot: the process's count.
    let slot = shared(l.read_with(r2, || Wait::No, &o));
    l.read_unlock(r2, slot);
    assert_eq!(l.readers(), 1);
}

#[test]
fn a_dead_writer_is_reported_to_the_next_reader_which_gets_the_write_lock() {
    let o = FakeOracle::default();
    let (w, r, r2) = (o.thread(1, 10), o.thread(2, 20), o.thread(3, 30));
    let l = RawRwLock::new();
    assert_eq!(l.write(w, Wait::No, &o), Ok(Acquired::Clean));
    assert_eq!(l.read_with(r, || Wait::No, &o), Err(RawLockError::WouldBlock));
    o.kill(10);
    assert_eq!(l.read_with(r, || Wait::No, &o), Ok(ReadAcquired::OwnerDied));
    assert_eq!(l.readers(), 0);
    assert_eq!(
        l.read_with(r2, || Wait::No, &o),
        Err(RawLockError::WouldBlock),
        "r holds the write lock"
    );
    l.make_consistent_as(r);
    l.write_unlock(r, UnlockMode::Normal);
    shared(l.read_with(r2, || Wait::No, &o));
}

#[test]
fn a_writer_dead_while_readers_remain_is_reported_once_they_leave() {
    let o = FakeOracle::default();
    let (old, w, r, r2) = (o.thread(1, 10), o.thread(2, 20), o.thread(3, 30), o.thread(4, 40));
    let l = RawRwLock::new();
    let old_share = shared(l.read_with(old, || Wait::No, &o));
    // A writer takes the writer lock and dies while waiting for `old`.
    assert!(l.writer().try_lock_fast(w));
    o.kill(20);
    // A try_read takes it over but a live reader is still in: it cannot
    // wait, so it gives up and leaves the lock owner-died (unrepaired).
    assert_eq!(l.read_with(r, || Wait::No, &o), Err(RawLockError::WouldBlock));
    assert_eq!(l.writer_state(), WriterState::UnlockedOwnerDied);
    assert_eq!(l.read_with(r2, soon, &o), Err(RawLockError::TimedOut));
    l.read_unlock(old, old_share);
    assert_eq!(l.write(r2, Wait::No, &o), Ok(Acquired::OwnerDied));
    l.make_consistent_as(r2);
    l.write_unlock(r2, UnlockMode::Normal);
    assert_eq!(l.writer_state(), WriterState::Unlocked);
}

#[test]
fn a_panicking_writer_leaves_owner_died_and_an_abandoned_repair_is_final() {
    let o = FakeOracle::default();
    let (w, r) = (o.thread(1, 10), o.thread(2, 20));
    let l = RawRwLock::new();
    assert_eq!(l.write(w, Wait::No, &o), Ok(Acquired::Clean));
    l.write_unlock(w, UnlockMode::Inconsistent);
    assert_eq!(l.writer_state(), WriterState::UnlockedOwnerDied);
    assert_eq!(l.read_with(r, || Wait::No, &o), Ok(ReadAcquired::OwnerDied));
    l.write_unlock(r, UnlockMode::Abandon);
    assert_eq!(l.writer_state(), WriterState::NotRecoverable);
    for wait in [Wait::No, soon(), Wait::Until(None)] {
        assert_eq!(l.read_with(r, || wait, &o), Err(RawLockError::NotRecoverable));
        assert_eq!(l.write(w, wait, &o), Err(RawLockError::NotRecoverable));
    }
}

#[test]
fn a_repair_finished_meanwhile_lets_the_reader_read_through() {
    let o = FakeOracle::default();
    let (w, r) = (o.thread(1, 10), o.thread(2, 20));
    let l = RawRwLock::new();
    // The lock looks owner-died to the reader's first look...
    assert_eq!(l.write(w, Wait::No, &o), Ok(Acquired::Clean));
    l.write_unlock(w, UnlockMode::Inconsistent);
    // ...and a writer repairs it: a later reader reads normally.
    assert_eq!(l.write(w, Wait::No, &o), Ok(Acquired::OwnerDied));
    l.make_consistent_as(w);
    l.write_unlock(w, UnlockMode::Normal);
    shared(l.read_with(r, || Wait::No, &o));
}

#[test]
#[should_panic(expected = "self-deadlock")]
fn reading_while_holding_the_write_lock_panics() {
    let o = FakeOracle::default();
    let w = o.thread(1, 10);
    let l = RawRwLock::new();
    assert_eq!(l.write(w, Wait::No, &o), Ok(Acquired::Clean));
    assert_eq!(l.read_with(w, || Wait::No, &o), Err(RawLockError::WouldBlock));
    let _ = l.read_with(w, || Wait::Until(None), &o);
}

#[test]
#[should_panic(expected = "holds no read share")]
fn giving_back_a_share_not_held_panics() {
    let o = FakeOracle::default();
    let l = RawRwLock::new();
    l.read_unlock(o.thread(1, 10), 0);
}

#[test]
fn with_every_slot_taken_a_reader_waits_until_a_holder_dies() {
    let o = FakeOracle::default();
    let l = RawRwLock::new();
    for p in 0..SLOTS as u32 {
        shared(l.read_with(o.thread(100 + p, 1000 + p), || Wait::No, &o));
    }
    let late = o.thread(1, 10);
    assert_eq!(l.read_with(late, || Wait::No, &o), Err(RawLockError::WouldBlock));
    assert_eq!(l.read_with(late, soon, &o), Err(RawLockError::TimedOut));
    o.kill(1000 + 7);
    shared(l.read_with(late, || Wait::No, &o));
    assert_eq!(l.readers(), SLOTS as u64);
}

mod model {
    //! Random operation sequences by four simulated threads in three
    //! simulated processes against a sequential model: reads, writes (all
    //! `try_`, so nothing blocks), releases, repairs, deaths and restarts.
    use super::*;
    use proptest::prelude::*;

    const THREADS: usize = 4;
    const PROCESSES: usize = 3;
    const PROCESS_OF: [usize; THREADS] = [0, 0, 1, 2];

    #[derive(Clone, Copy, Debug)]
    enum Op {
        TryRead(usize),
        TryWrite(usize),
        /// Gives back the thread's oldest read share.
        ReadUnlock(usize),
        WriteUnlock(usize),
        WriteUnlockPanicking(usize),
        MakeConsistent(usize),
        Die(usize),
        Restart(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        let t = 0..THREADS;
        let p = 0..PROCESSES;
        prop_oneof![
            5 => t.clone().prop_map(Op::TryRead),
            4 => t.clone().prop_map(Op::TryWrite),
            4 => t.clone().prop_map(Op::ReadUnlock),
            3 => t.clone().prop_map(Op::WriteUnlock),
            1 => t.clone().prop_map(Op::WriteUnlockPanicking),
            3 => t.prop_map(Op::MakeConsistent),
            2 => p.clone().prop_map(Op::Die),
            1 => p.prop_map(Op::Restart),
        ]
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Writer {
        Free { died: bool },
        Held { thread: usize, incarnation: u32, inconsistent: bool },
        NotRecoverable,
    }

    struct World {
        procs: Processes<PROCESSES>,
        /// Per thread: the slots of the read shares it holds.
        shares: [Vec<usize>; THREADS],
        /// Per process: shares held by its dead incarnation, not yet
        /// reclaimed.
        dead_shares: u64,
        writer: Writer,
        lock: RawRwLock,
    }

    impl World {
        fn new() -> Self {
            World {
                procs: Processes::new(),
                shares: Default::default(),
                dead_shares: 0,
                writer: Writer::Free { died: false },
                lock: RawRwLock::new(),
            }
        }

        fn me(&self, t: usize) -> ThreadIdentity {
            self.procs.thread(PROCESS_OF[t], 100 + t as u32)
        }

        fn live_shares(&self) -> u64 {
            self.shares.iter().map(|s| s.len() as u64).sum()
        }

        /// Whether thread `t` holds the writer lock (and whether
        /// inconsistently).
        fn writes(&self, t: usize) -> Option<bool> {
            match self.writer {
                Writer::Held { thread, incarnation, inconsistent }
                    if thread == t && incarnation == self.procs.incarnation(PROCESS_OF[t]) =>
                {
                    Some(inconsistent)
                }
                _ => None,
            }
        }

        fn writer_dead(&self) -> bool {
            match self.writer {
                Writer::Held { thread, incarnation, .. } => {
                    let p = PROCESS_OF[thread];
                    let (alive, inc) = (self.procs.alive(p), self.procs.incarnation(p));
                    !alive || inc != incarnation
                }
                _ => false,
            }
        }

        /// A writer-lock holder waits for the readers: dead ones are
        /// reclaimed; live ones make a `try_` fail.
        fn drain(&mut self) -> bool {
            if self.live_shares() + self.dead_shares > 0 {
                self.dead_shares = 0;
            }
            self.live_shares() == 0
        }

        /// The outcome of a `try_` of the writer lock: whether its last
        /// owner died (`OwnerDied`), or why it fails.
        fn lock_writer(&self) -> Result<bool, RawLockError> {
            match self.writer {
                Writer::NotRecoverable => Err(RawLockError::NotRecoverable),
                Writer::Free { died } => Ok(died),
                Writer::Held { .. } if self.writer_dead() => Ok(true),
                Writer::Held { .. } => Err(RawLockError::WouldBlock),
            }
        }

        fn apply(&mut self, op: Op) -> Result<(), TestCaseError> {
            let thread_alive = |w: &World, t: usize| w.procs.alive(PROCESS_OF[t]);
            match op {
                Op::TryRead(t) if thread_alive(self, t) => {
                    let me = self.me(t);
                    let got = self.lock.read_with(me, || Wait::No, &self.procs.oracle);
                    let want = match self.writer {
                        Writer::Free { died: false } => Ok(None),
                        Writer::Held { .. } if !self.writer_dead() => Err(RawLockError::WouldBlock),
                        _ => match self.lock_writer() {
                            Err(e) => Err(e),
                            Ok(_) => {
                                if self.drain() {
                                    self.writer = Writer::Held {
                                        thread: t,
                                        incarnation: self.procs.incarnation(PROCESS_OF[t]),
                                        inconsistent: true,
                                    };
                                    Ok(Some(()))
                                } else {
                                    self.writer = Writer::Free { died: true };
                                    Err(RawLockError::WouldBlock)
                                }
                            }
                        },
                    };
                    match (got, want) {
                        (Ok(ReadAcquired::Shared(slot)), Ok(None)) => self.shares[t].push(slot),
                        (Ok(ReadAcquired::OwnerDied), Ok(Some(()))) => {}
                        (Err(g), Err(w)) if g == w => {}
                        (got, want) => {
                            prop_assert!(false, "{:?}: got {:?}, want {:?}", op, got, want)
                        }
                    }
                }
                Op::TryWrite(t) if thread_alive(self, t) => {
                    let me = self.me(t);
                    let got = self.lock.write(me, Wait::No, &self.procs.oracle);
                    let want = if self.writes(t).is_some() {
                        Err(RawLockError::WouldBlock)
                    } else {
                        match self.lock_writer() {
                            Err(e) => Err(e),
                            Ok(died) => {
                                if self.drain() {
                                    self.writer = Writer::Held {
                                        thread: t,
                                        incarnation: self.procs.incarnation(PROCESS_OF[t]),
                                        inconsistent: died,
                                    };
                                    Ok(if died { Acquired::OwnerDied } else { Acquired::Clean })
                                } else {
                                    // Released as found (a dead owner's
                                    // lock is left owner-died).
                                    if died {
                                        self.writer = Writer::Free { died: true };
                                    }
                                    Err(RawLockError::WouldBlock)
                                }
                            }
                        }
                    };
                    prop_assert_eq!(got, want, "{:?}", op);
                }
                Op::ReadUnlock(t) if thread_alive(self, t) && !self.shares[t].is_empty() => {
                    let slot = self.shares[t].remove(0);
                    self.lock.read_unlock(self.me(t), slot);
                }
                Op::WriteUnlock(t) if thread_alive(self, t) => {
                    if let Some(inconsistent) = self.writes(t) {
                        self.lock.write_unlock(self.me(t), UnlockMode::Normal);
                        self.writer = if inconsistent {
                            Writer::NotRecoverable
                        } else {
                            Writer::Free { died: false }
                        };
                    }
                }
                Op::WriteUnlockPanicking(t)
                    if thread_alive(self, t) && self.writes(t).is_some() =>
                {
                    self.lock.write_unlock(self.me(t), UnlockMode::Inconsistent);
                    self.writer = Writer::Free { died: true };
                }
                Op::MakeConsistent(t) if thread_alive(self, t) && self.writes(t).is_some() => {
                    self.lock.make_consistent_as(self.me(t));
                    if let Writer::Held { inconsistent, .. } = &mut self.writer {
                        *inconsistent = false;
                    }
                }
                Op::Die(p) if self.procs.alive(p) => {
                    self.procs.die(p);
                    for t in (0..THREADS).filter(|&t| PROCESS_OF[t] == p) {
                        self.dead_shares += self.shares[t].len() as u64;
                        self.shares[t].clear();
                    }
                }
                Op::Restart(p) => {
                    self.procs.restart(p);
                }
                _ => {}
            }
            let want_writer = match self.writer {
                Writer::Free { died: false } => WriterState::Unlocked,
                Writer::Free { died: true } => WriterState::UnlockedOwnerDied,
                Writer::Held { .. } => WriterState::Locked,
                Writer::NotRecoverable => WriterState::NotRecoverable,
            };
            prop_assert_eq!(self.lock.writer_state(), want_writer, "after {:?}", op);
            prop_assert_eq!(
                self.lock.readers(),
                self.live_shares() + self.dead_shares,
                "after {:?}",
                op
            );
            Ok(())
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: if cfg!(miri) { 4 } else { 256 },
            #[cfg(miri)]
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn raw_rwlock_matches_sequential_model(ops in proptest::collection::vec(op(), 1..60)) {
            let mut world = World::new();
            for op in ops {
                world.apply(op)?;
            }
        }
    }
}
