//! Unit tests of the semaphore's state machine with simulated processes
//! (fake identities, an injected liveness oracle), and a proptest of random
//! operation sequences by several simulated processes, some of which die,
//! against a sequential model.

use super::*;
use crate::holders::SLOTS;
use crate::test_oracle::{FakeOracle, Processes};

fn soon() -> Wait {
    Wait::Until(Some(Instant::now() + Duration::from_millis(1)))
}

#[test]
fn zeroed_memory_has_no_permits() {
    // SAFETY: ShmSemaphore is atomics only; all-zero is its documented
    // "no permits" state.
    let s: ShmSemaphore = unsafe { core::mem::zeroed() };
    assert_eq!((s.available(), s.in_use(), s.total()), (0, 0, 0));
    assert_eq!(s.try_acquire().err(), Some(TryAcquireError::WouldBlock));
    assert_eq!(core::mem::size_of::<ShmSemaphore>(), 64 + SLOTS * 8);
    assert_eq!(core::mem::align_of::<ShmSemaphore>(), 64);
}

#[test]
fn permits_of_several_processes_add_up_to_the_total() {
    let o = FakeOracle::default();
    let (a, a2, b) = (o.thread(1, 10), o.thread(2, 10), o.thread(3, 20));
    let s = ShmSemaphore::new(3);
    let sa = s.acquire_as(a, Wait::No, &o).expect("1st");
    let sa2 = s.acquire_as(a2, Wait::No, &o).expect("2nd");
    assert_eq!(sa, sa2, "threads of a process share its slot");
    let sb = s.acquire_as(b, Wait::No, &o).expect("3rd");
    assert_eq!((s.available(), s.in_use()), (0, 3));
    assert_eq!(s.acquire_as(b, Wait::No, &o), Err(Refused::WouldBlock));
    assert_eq!(s.acquire_as(b, soon(), &o), Err(Refused::TimedOut));
    assert_eq!(s.in_use(), 3, "a failed acquire leaves no trace");
    s.give_back_as(a, sa);
    assert_eq!(s.acquire_as(b, Wait::No, &o), Ok(sb));
    assert_eq!((s.available(), s.in_use()), (0, 3));
}

#[test]
fn a_dead_holders_permits_come_back() {
    let o = FakeOracle::default();
    let (dead, b) = (o.thread(1, 10), o.thread(2, 20));
    let s = ShmSemaphore::new(2);
    s.acquire_as(dead, Wait::No, &o).expect("1st");
    s.acquire_as(dead, Wait::No, &o).expect("2nd");
    assert_eq!(s.acquire_as(b, Wait::No, &o), Err(Refused::WouldBlock));
    o.kill(10);
    assert_eq!(s.in_use(), 2, "counted until someone proves the death");
    s.acquire_as(b, Wait::No, &o).expect("a dead holder's permit");
    assert_eq!((s.available(), s.in_use()), (1, 1));
}

#[test]
fn a_blocking_acquire_finds_a_dead_holder_by_itself() {
    let o = FakeOracle::default();
    let (dead, b) = (o.thread(1, 10), o.thread(2, 20));
    let s = ShmSemaphore::new(1);
    s.acquire_as(dead, Wait::No, &o).expect("1st");
    o.kill(10);
    s.acquire_as(b, Wait::Until(None), &o).expect("the dead holder's permit");
}

#[test]
fn a_permit_held_by_a_live_process_whose_thread_exited_stays_held() {
    let o = FakeOracle::default();
    let (a, b) = (o.thread(1, 10), o.thread(2, 20));
    let s = ShmSemaphore::new(1);
    s.acquire_as(a, Wait::No, &o).expect("1st"); // thread 1 "exits" with it
    assert_eq!(s.acquire_as(b, soon(), &o), Err(Refused::TimedOut));
}

#[test]
fn release_adds_and_forget_removes_permits() {
    let o = FakeOracle::default();
    let a = o.thread(1, 10);
    let s = ShmSemaphore::new(1);
    let slot = s.acquire_as(a, Wait::No, &o).expect("1st");
    s.forget_as(a, slot);
    assert_eq!((s.available(), s.in_use(), s.total()), (0, 0, 0));
    s.release(2);
    assert_eq!((s.available(), s.in_use(), s.total()), (2, 0, 2));
    s.release(u64::MAX);
    assert_eq!(s.total(), u64::MAX, "saturates");
}

#[test]
fn with_every_slot_taken_an_acquirer_waits_until_a_holder_dies() {
    let o = FakeOracle::default();
    let s = ShmSemaphore::new(1000);
    for p in 0..SLOTS as u32 {
        s.acquire_as(o.thread(100 + p, 1000 + p), Wait::No, &o).expect("a slot");
    }
    let late = o.thread(1, 10);
    assert_eq!(s.acquire_as(late, Wait::No, &o), Err(Refused::WouldBlock));
    assert_eq!(s.acquire_as(late, soon(), &o), Err(Refused::TimedOut));
    o.kill(1003);
    s.acquire_as(late, Wait::No, &o).expect("the dead holder's slot");
}

#[test]
fn more_holders_than_permits_after_a_forget_block_until_back_in_bounds() {
    // `total` −1 comes before the holder's −1: for a moment the slots may
    // add up to more than the total, and nobody may then acquire.
    let o = FakeOracle::default();
    let (a, b) = (o.thread(1, 10), o.thread(2, 20));
    let s = ShmSemaphore::new(1);
    s.acquire_as(a, Wait::No, &o).expect("1st");
    s.total.store(0, Ordering::Relaxed); // the forget's first step
    assert_eq!(s.available(), 0);
    assert_eq!(s.acquire_as(b, Wait::No, &o), Err(Refused::WouldBlock));
}

#[test]
#[should_panic(expected = "holds none")]
fn giving_back_a_permit_not_held_panics() {
    let o = FakeOracle::default();
    ShmSemaphore::new(1).give_back_as(o.thread(1, 10), 0);
}

#[test]
fn threads_never_hold_more_permits_than_there_are() {
    use std::sync::atomic::AtomicU32;
    const PERMITS: u32 = 2;
    let s = ShmSemaphore::new(u64::from(PERMITS));
    let inside = AtomicU32::new(0);
    let max = AtomicU32::new(0);
    let rounds = if cfg!(miri) { 20 } else { 2000 };
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for i in 0..rounds {
                    let p = if i % 3 == 0 {
                        s.acquire()
                    } else {
                        match s.acquire_timeout(Duration::from_secs(10)) {
                            Ok(p) => p,
                            Err(e) => panic!("{e}"),
                        }
                    };
                    let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(n, Ordering::SeqCst);
                    assert!(n <= PERMITS, "{n} holders of {PERMITS} permits");
                    inside.fetch_sub(1, Ordering::SeqCst);
                    drop(p);
                }
            });
        }
    });
    assert_eq!(s.available(), u64::from(PERMITS));
    assert!(max.load(Ordering::SeqCst) >= 1);
}

mod model {
    //! Random operation sequences by four simulated threads in three
    //! simulated processes against a sequential model: acquisitions (all
    //! `try_`, so nothing blocks), permits given back or forgotten,
    //! permits released by hand, deaths and restarts.
    use super::*;
    use proptest::prelude::*;

    const THREADS: usize = 4;
    const PROCESSES: usize = 3;
    const PROCESS_OF: [usize; THREADS] = [0, 0, 1, 2];

    #[derive(Clone, Copy, Debug)]
    enum Op {
        TryAcquire(usize),
        /// Gives back the thread's oldest permit.
        GiveBack(usize),
        /// Forgets the thread's oldest permit.
        Forget(usize),
        Release(u64),
        Die(usize),
        Restart(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        let t = 0..THREADS;
        let p = 0..PROCESSES;
        prop_oneof![
            6 => t.clone().prop_map(Op::TryAcquire),
            4 => t.clone().prop_map(Op::GiveBack),
            1 => t.prop_map(Op::Forget),
            1 => (0..3u64).prop_map(Op::Release),
            2 => p.clone().prop_map(Op::Die),
            1 => p.prop_map(Op::Restart),
        ]
    }

    struct World {
        procs: Processes<PROCESSES>,
        /// Per thread: the slots of the permits it holds.
        held: [Vec<usize>; THREADS],
        /// Permits of dead processes, not yet taken back.
        dead: u64,
        total: u64,
        sem: ShmSemaphore,
    }

    impl World {
        fn me(&self, t: usize) -> ThreadIdentity {
            self.procs.thread(PROCESS_OF[t], 100 + t as u32)
        }

        fn live(&self) -> u64 {
            self.held.iter().map(|h| h.len() as u64).sum()
        }

        fn apply(&mut self, op: Op) -> Result<(), TestCaseError> {
            let alive = |w: &World, t: usize| w.procs.alive(PROCESS_OF[t]);
            match op {
                Op::TryAcquire(t) if alive(self, t) => {
                    let got = self.sem.acquire_as(self.me(t), Wait::No, &self.procs.oracle);
                    // Taken back only when none looks available.
                    if self.live() + self.dead >= self.total {
                        self.dead = 0;
                    }
                    let want_ok = self.live() + self.dead < self.total;
                    match got {
                        Ok(slot) if want_ok => self.held[t].push(slot),
                        Err(Refused::WouldBlock) if !want_ok => {}
                        other => {
                            prop_assert!(false, "{:?}: got {:?}, want ok {}", op, other, want_ok)
                        }
                    }
                }
                Op::GiveBack(t) if alive(self, t) && !self.held[t].is_empty() => {
                    let slot = self.held[t].remove(0);
                    self.sem.give_back_as(self.me(t), slot);
                }
                Op::Forget(t) if alive(self, t) && !self.held[t].is_empty() => {
                    let slot = self.held[t].remove(0);
                    self.sem.forget_as(self.me(t), slot);
                    self.total -= 1;
                }
                Op::Release(n) => {
                    self.sem.release(n);
                    self.total += n;
                }
                Op::Die(p) if self.procs.alive(p) => {
                    self.procs.die(p);
                    for t in (0..THREADS).filter(|&t| PROCESS_OF[t] == p) {
                        self.dead += self.held[t].len() as u64;
                        self.held[t].clear();
                    }
                }
                Op::Restart(p) => {
                    self.procs.restart(p);
                }
                _ => {}
            }
            let in_use = self.live() + self.dead;
            prop_assert_eq!(self.sem.in_use(), in_use, "after {:?}", op);
            prop_assert_eq!(self.sem.total(), self.total, "after {:?}", op);
            prop_assert_eq!(self.sem.available(), self.total.saturating_sub(in_use));
            prop_assert!(self.live() <= self.total, "more holders than permits");
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
        fn semaphore_matches_sequential_model(
            permits in 0..4u64,
            ops in proptest::collection::vec(op(), 1..60),
        ) {
            let mut world = World {
                procs: Processes::new(),
                held: Default::default(),
                dead: 0,
                total: permits,
                sem: ShmSemaphore::new(permits),
            };
            for op in ops {
                world.apply(op)?;
            }
        }
    }
}
