//! Property test of `ShmBarrier`: random sequences of joins, leaves, waits
//! (each party a thread), aborts and resets against a sequential model. A
//! wait the model says blocks must be asleep in the kernel; one it says
//! returns must return what the model says (which party leads, `Broken`,
//! `Full`), and the barrier's `joined` and `is_broken` must match.

use proptest::prelude::*;
use shmsync::{BarrierError, BarrierJoinError, ShmBarrier};
use std::sync::mpsc;
use std::time::Duration;

use shmsync_support as support;

use support::{blocked_in_futex, gettid};

const PROGRESS: Duration = Duration::from_secs(20);
const MAX_PARTIES: usize = 4;

#[derive(Clone, Copy, Debug)]
enum Op {
    Join(usize),
    Leave(usize),
    Wait(usize),
    Abort,
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    let party = 0..MAX_PARTIES + 1;
    prop_oneof![
        2 => party.clone().prop_map(Op::Join),
        1 => party.clone().prop_map(Op::Leave),
        4 => party.prop_map(Op::Wait),
        1 => Just(Op::Abort),
        1 => Just(Op::Reset),
    ]
}

/// What a party thread is told to do.
enum Command {
    Join,
    Leave,
    Wait,
}

/// What a party thread answers: its thread id once, then one outcome per
/// command.
type Outcome = Result<Option<bool>, Failure>;

/// A failed command: joining and waiting fail in errors of their own.
#[derive(Debug, PartialEq)]
enum Failure {
    Join(BarrierJoinError),
    Wait(BarrierError),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Out,
    Joined,
    Waiting,
}

/// The sequential model.
struct Model {
    parties: usize,
    broken: bool,
    arrived: usize,
    states: Vec<State>,
}

impl Model {
    fn joined(&self) -> usize {
        self.states.iter().filter(|s| **s != State::Out).count()
    }

    /// Ends the waits in progress with `outcome`; returns who waited.
    fn release(&mut self) -> Vec<usize> {
        let waiting: Vec<usize> =
            (0..self.states.len()).filter(|&i| self.states[i] == State::Waiting).collect();
        for &i in &waiting {
            self.states[i] = State::Joined;
        }
        self.arrived = 0;
        waiting
    }
}

/// Aborts the barrier when dropped.
struct AbortOnDrop<'a>(&'a ShmBarrier);

impl Drop for AbortOnDrop<'_> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn run(parties: usize, ops: &[Op]) -> Result<(), TestCaseError> {
    let gate = ShmBarrier::new(parties);
    let pid = std::process::id();
    let mut model =
        Model { parties, broken: false, arrived: 0, states: vec![State::Out; MAX_PARTIES + 1] };
    std::thread::scope(|s| -> Result<(), TestCaseError> {
        // However this closure ends (a failed check included), waiting
        // party threads are woken before the scope joins them.
        let _abort = AbortOnDrop(&gate);
        let mut commands = Vec::new();
        let mut outcomes = Vec::new();
        let mut tids = Vec::new();
        for _ in 0..=MAX_PARTIES {
            let (ctx, crx) = mpsc::channel::<Command>();
            let (otx, orx) = mpsc::channel::<Outcome>();
            let (ttx, trx) = mpsc::channel::<u32>();
            let gate = &gate;
            s.spawn(move || {
                ttx.send(gettid()).expect("test alive");
                let mut me = None;
                for command in crx {
                    let outcome = match command {
                        Command::Join => {
                            gate.join().map(|p| me = Some(p)).map(|()| None).map_err(Failure::Join)
                        }
                        Command::Leave => {
                            me = None;
                            Ok(None)
                        }
                        Command::Wait => me
                            .as_mut()
                            .expect("the test waits with joined parties only")
                            .wait()
                            .map(|r| Some(r.is_leader()))
                            .map_err(Failure::Wait),
                    };
                    otx.send(outcome).expect("test alive");
                }
            });
            commands.push(ctx);
            outcomes.push(orx);
            tids.push(trx.recv().expect("a party thread started"));
        }
        let outcome = |i: usize| outcomes[i].recv_timeout(PROGRESS).expect("the party answered");
        for &op in ops {
            match op {
                Op::Join(i) if model.states[i] == State::Out => {
                    commands[i].send(Command::Join).expect("party alive");
                    let expected = if model.joined() == model.parties {
                        Err(Failure::Join(BarrierJoinError::Full { parties: model.parties }))
                    } else {
                        model.states[i] = State::Joined;
                        Ok(None)
                    };
                    prop_assert_eq!(outcome(i), expected);
                }
                Op::Leave(i) if model.states[i] == State::Joined => {
                    commands[i].send(Command::Leave).expect("party alive");
                    prop_assert_eq!(outcome(i), Ok(None));
                    model.states[i] = State::Out;
                    if !model.broken && model.arrived > 0 {
                        model.broken = true;
                        for w in model.release() {
                            prop_assert_eq!(outcome(w), Err(Failure::Wait(BarrierError::Broken)));
                        }
                    }
                }
                Op::Wait(i) if model.states[i] == State::Joined => {
                    commands[i].send(Command::Wait).expect("party alive");
                    if model.broken {
                        prop_assert_eq!(outcome(i), Err(Failure::Wait(BarrierError::Broken)));
                    } else if model.arrived + 1 == model.parties {
                        prop_assert_eq!(outcome(i), Ok(Some(true)), "the last one leads");
                        for w in model.release() {
                            prop_assert_eq!(outcome(w), Ok(Some(false)));
                        }
                    } else {
                        model.arrived += 1;
                        model.states[i] = State::Waiting;
                        support::wait_until("the party sleeps in the barrier", PROGRESS, || {
                            blocked_in_futex(pid, tids[i])
                        });
                    }
                }
                Op::Abort => {
                    gate.abort();
                    model.broken = true;
                    for w in model.release() {
                        prop_assert_eq!(outcome(w), Err(Failure::Wait(BarrierError::Broken)));
                    }
                }
                Op::Reset => {
                    gate.reset();
                    model.broken = false;
                    for w in model.release() {
                        prop_assert_eq!(outcome(w), Err(Failure::Wait(BarrierError::Broken)));
                    }
                }
                // A command the party's state does not allow: skipped.
                _ => continue,
            }
            prop_assert_eq!(gate.joined(), model.joined(), "after {:?}", op);
            prop_assert_eq!(gate.is_broken(), model.broken, "after {:?}", op);
            for (i, state) in model.states.iter().enumerate() {
                if *state == State::Waiting {
                    prop_assert!(
                        outcomes[i].try_recv().is_err(),
                        "party {} returned while the model has it waiting",
                        i
                    );
                }
            }
        }
        // Let every waiter go, and the threads end.
        gate.abort();
        for w in model.release() {
            prop_assert_eq!(outcome(w), Err(Failure::Wait(BarrierError::Broken)));
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 2 } else { 48 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    #[cfg_attr(miri, ignore = "waits for threads to sleep; slow under Miri")]
    fn barrier_matches_sequential_model(
        parties in 1..=MAX_PARTIES,
        ops in prop::collection::vec(op(), 1..24),
    ) {
        run(parties, &ops)?;
    }
}
