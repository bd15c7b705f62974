//! A liveness oracle over simulated processes, for the unit tests of the
//! state machines built on the holder table: tokens are processes, a
//! thread is an identity `(tid, token)`, and a process dies when a test
//! says so.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::raw_mutex::OwnerOracle;
use crate::sync::{Liveness, ThreadIdentity};

/// `token → alive`; a token never started is dead (as a token nobody
/// holds is, for the kernel).
#[derive(Default)]
pub(crate) struct FakeOracle {
    processes: RefCell<HashMap<u32, bool>>,
}

impl FakeOracle {
    /// Thread `tid` of process `token` (started if new).
    pub(crate) fn thread(&self, tid: u32, token: u32) -> ThreadIdentity {
        self.processes.borrow_mut().entry(token).or_insert(true);
        ThreadIdentity { tid, token }
    }

    /// Process `token` dies (every thread of it).
    pub(crate) fn kill(&self, token: u32) {
        self.processes.borrow_mut().insert(token, false);
    }
}

impl OwnerOracle for FakeOracle {
    fn process_liveness(&self, token: u32) -> Liveness {
        match self.processes.borrow().get(&token) {
            Some(true) => Liveness::Alive,
            _ => Liveness::Dead,
        }
    }
}
