//! Property test of `ShmRwLock`'s public API against a sequential model:
//! one thread holding any number of guards, taking more with the `try_`
//! and zero-timeout forms, dropping them, and interrupting writes with a
//! panic (which hands the next locker `OwnerDied`). Several processes and
//! deaths are modelled in the unit tests of the state machine
//! (`src/rwlock/tests.rs`), which can fake process identities.

use proptest::prelude::*;
use shmsync::{
    RwLockTimeoutError, ShmRwLock, ShmRwLockReadGuard, ShmRwLockWriteGuard, TryRwLockError,
};
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
enum Op {
    TryRead,
    /// `read_timeout(0)`.
    ReadNow,
    TryWrite,
    /// `write_timeout(0)`.
    WriteNow,
    /// Drops the read guard at this index (modulo the count).
    DropRead(usize),
    DropWrite,
    MakeConsistent,
    /// A write interrupted by a panic.
    PanickingWrite,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::TryRead),
        2 => Just(Op::ReadNow),
        3 => Just(Op::TryWrite),
        2 => Just(Op::WriteNow),
        4 => (0..8usize).prop_map(Op::DropRead),
        3 => Just(Op::DropWrite),
        2 => Just(Op::MakeConsistent),
        1 => Just(Op::PanickingWrite),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Writer {
    Free { died: bool },
    Held { inconsistent: bool },
    NotRecoverable,
}

/// What a lock attempt returned, without its guard.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Read,
    Write,
    OwnerDied,
    WouldBlock,
    TimedOut,
    NotRecoverable,
}

struct World<'a> {
    lock: &'a ShmRwLock<u64>,
    reads: Vec<ShmRwLockReadGuard<'a, u64>>,
    write: Option<ShmRwLockWriteGuard<'a, u64>>,
    writer: Writer,
}

impl<'a> World<'a> {
    fn got_read<E>(
        &mut self,
        r: Result<ShmRwLockReadGuard<'a, u64>, E>,
        got_error: fn(&mut Self, E) -> Got,
    ) -> Got {
        match r {
            Ok(g) => {
                self.reads.push(g);
                Got::Read
            }
            Err(e) => got_error(self, e),
        }
    }

    fn got_write<E>(
        &mut self,
        r: Result<ShmRwLockWriteGuard<'a, u64>, E>,
        got_error: fn(&mut Self, E) -> Got,
    ) -> Got {
        match r {
            Ok(g) => {
                self.write = Some(g);
                Got::Write
            }
            Err(e) => got_error(self, e),
        }
    }

    fn got_try_error(&mut self, e: TryRwLockError<'a, u64>) -> Got {
        match e {
            TryRwLockError::OwnerDied(g) => {
                self.write = Some(g);
                Got::OwnerDied
            }
            TryRwLockError::WouldBlock => Got::WouldBlock,
            TryRwLockError::NotRecoverable => Got::NotRecoverable,
        }
    }

    fn got_timeout_error(&mut self, e: RwLockTimeoutError<'a, u64>) -> Got {
        match e {
            RwLockTimeoutError::OwnerDied(g) => {
                self.write = Some(g);
                Got::OwnerDied
            }
            RwLockTimeoutError::TimedOut => Got::TimedOut,
            RwLockTimeoutError::NotRecoverable => Got::NotRecoverable,
        }
    }

    /// What a read must return (`busy`: how a live holder is reported),
    /// and the model after it.
    fn expect_read(&mut self, busy: Got) -> Got {
        match self.writer {
            Writer::NotRecoverable => Got::NotRecoverable,
            Writer::Held { .. } => busy,
            Writer::Free { died: false } => Got::Read,
            // The reader takes the writer lock over, but its own shares
            // are live readers it cannot wait for.
            Writer::Free { died: true } if !self.reads.is_empty() => busy,
            Writer::Free { died: true } => {
                self.writer = Writer::Held { inconsistent: true };
                Got::OwnerDied
            }
        }
    }

    fn expect_write(&mut self, busy: Got) -> Got {
        match self.writer {
            Writer::NotRecoverable => Got::NotRecoverable,
            Writer::Held { .. } => busy,
            Writer::Free { .. } if !self.reads.is_empty() => busy,
            Writer::Free { died } => {
                self.writer = Writer::Held { inconsistent: died };
                if died {
                    Got::OwnerDied
                } else {
                    Got::Write
                }
            }
        }
    }

    fn apply(&mut self, op: Op) -> Result<(), TestCaseError> {
        let holds_write = self.write.is_some();
        match op {
            Op::TryRead => {
                let want = self.expect_read(Got::WouldBlock);
                let got = self.got_read(self.lock.try_read(), Self::got_try_error);
                prop_assert_eq!(got, want, "{:?}", op);
            }
            // A zero timeout while this thread holds the write lock would
            // be a self-deadlock (it panics; tested apart).
            Op::ReadNow if !holds_write => {
                let want = self.expect_read(Got::TimedOut);
                let got =
                    self.got_read(self.lock.read_timeout(Duration::ZERO), Self::got_timeout_error);
                prop_assert_eq!(got, want, "{:?}", op);
            }
            Op::TryWrite => {
                let want = self.expect_write(Got::WouldBlock);
                let got = self.got_write(self.lock.try_write(), Self::got_try_error);
                prop_assert_eq!(got, want, "{:?}", op);
            }
            Op::WriteNow if !holds_write => {
                let want = self.expect_write(Got::TimedOut);
                let got = self
                    .got_write(self.lock.write_timeout(Duration::ZERO), Self::got_timeout_error);
                prop_assert_eq!(got, want, "{:?}", op);
            }
            Op::DropRead(i) if !self.reads.is_empty() => {
                let i = i % self.reads.len();
                drop(self.reads.remove(i));
            }
            Op::DropWrite => {
                if let Some(g) = self.write.take() {
                    drop(g);
                    self.writer = match self.writer {
                        Writer::Held { inconsistent: true } => Writer::NotRecoverable,
                        _ => Writer::Free { died: false },
                    };
                }
            }
            Op::MakeConsistent => {
                if let Some(g) = &mut self.write {
                    ShmRwLockWriteGuard::make_consistent(g);
                    self.writer = Writer::Held { inconsistent: false };
                }
            }
            Op::PanickingWrite
                if !holds_write
                    && self.reads.is_empty()
                    && self.writer != Writer::NotRecoverable =>
            {
                let lock = self.lock;
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let g = lock.try_write();
                    assert!(matches!(g, Ok(_) | Err(TryRwLockError::OwnerDied(_))), "{g:?}");
                    panic!("interrupted write");
                }));
                prop_assert!(r.is_err());
                self.writer = Writer::Free { died: true };
            }
            _ => {}
        }
        let writer = match self.writer {
            Writer::Free { died: false } => "unlocked",
            Writer::Free { died: true } => "unlocked, owner died",
            Writer::Held { .. } => "locked",
            Writer::NotRecoverable => "not recoverable",
        };
        let want = format!("ShmRwLock {{ writer: {writer:?}, readers: {}, .. }}", self.reads.len());
        prop_assert_eq!(format!("{:?}", self.lock), want, "after {:?}", op);
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
    fn rwlock_matches_sequential_model(ops in proptest::collection::vec(op(), 1..60)) {
        // The interrupted writes panic on purpose: keep their messages out
        // of the test output.
        std::panic::set_hook(Box::new(|_| {}));
        let lock = ShmRwLock::new(0u64);
        let mut world =
            World { lock: &lock, reads: Vec::new(), write: None, writer: Writer::Free { died: false } };
        for op in ops {
            world.apply(op)?;
        }
        drop(world);
        let _ = std::panic::take_hook();
    }
}
