//! Property test of `ShmEvent`: random sequences of set, reset, is_set,
//! non-blocking waits and blocking waiters (threads), in either mode,
//! against a sequential model. A waiter the model says blocks must be
//! asleep in the kernel, not returned; one it says returns must return.

use proptest::prelude::*;
use shmsync::ShmEvent;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use shmsync_support as support;

use support::{blocked_in_futex, gettid, wait_until_blocked_in_futex};

const PROGRESS: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug)]
enum Op {
    Set,
    Reset,
    IsSet,
    /// `wait_timeout(ZERO)`.
    TryWait,
    /// A thread that waits (untimed).
    StartWaiter,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Set),
        2 => Just(Op::Reset),
        1 => Just(Op::IsSet),
        2 => Just(Op::TryWait),
        3 => Just(Op::StartWaiter),
    ]
}

/// The sequential model.
#[derive(Default)]
struct Model {
    auto: bool,
    set: bool,
    /// Waiters asleep.
    waiting: u32,
    /// Waiters that returned.
    returned: u32,
}

impl Model {
    fn set(&mut self) {
        if self.auto {
            if self.waiting > 0 {
                self.waiting -= 1;
                self.returned += 1;
            } else {
                self.set = true;
            }
        } else {
            self.set = true;
            self.returned += self.waiting;
            self.waiting = 0;
        }
    }

    /// A wait that does not block: whether it returns `true`.
    fn try_wait(&mut self) -> bool {
        let was = self.set;
        if self.auto {
            self.set = false;
        }
        was
    }
}

fn run(auto: bool, ops: &[Op]) -> Result<(), TestCaseError> {
    let event = if auto { ShmEvent::new_auto_reset() } else { ShmEvent::new() };
    let returned = AtomicU32::new(0);
    let mut model = Model { auto, ..Model::default() };
    let pid = std::process::id();
    std::thread::scope(|s| -> Result<(), TestCaseError> {
        let mut tids = Vec::new();
        // The real state must match the model's: every returned waiter
        // counted, every other one asleep.
        let settle = |model: &Model, tids: &[u32]| {
            support::wait_until("the waiters the model released returned", PROGRESS, || {
                returned.load(Ordering::SeqCst) == model.returned
            });
            support::wait_until("the other waiters sleep", PROGRESS, || {
                tids.iter().filter(|&&t| blocked_in_futex(pid, t)).count() as u32 == model.waiting
            });
            returned.load(Ordering::SeqCst) == model.returned
        };
        for &op in ops {
            match op {
                Op::Set => {
                    event.set();
                    model.set();
                }
                Op::Reset => {
                    event.reset();
                    model.set = false;
                }
                Op::IsSet => prop_assert_eq!(event.is_set(), model.set),
                Op::TryWait => {
                    prop_assert_eq!(event.wait_timeout(Duration::ZERO), model.try_wait());
                }
                Op::StartWaiter => {
                    let (tx, rx) = mpsc::channel();
                    let (event, returned) = (&event, &returned);
                    s.spawn(move || {
                        tx.send(gettid()).expect("test alive");
                        event.wait();
                        returned.fetch_add(1, Ordering::SeqCst);
                    });
                    let tid = rx.recv().expect("the waiter started");
                    if model.try_wait() {
                        model.returned += 1;
                    } else {
                        model.waiting += 1;
                        wait_until_blocked_in_futex(pid, tid, PROGRESS);
                    }
                    tids.push(tid);
                }
            }
            prop_assert!(settle(&model, &tids), "a waiter returned that the model keeps waiting");
            prop_assert_eq!(event.is_set(), model.set, "after {:?}", op);
        }
        // Let every waiter go.
        while model.waiting > 0 {
            event.set();
            model.set();
            prop_assert!(settle(&model, &tids));
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
    fn event_matches_sequential_model(auto in any::<bool>(), ops in prop::collection::vec(op(), 1..16)) {
        run(auto, &ops)?;
    }
}
