//! Simulated processes for the unit tests of the state machines that judge
//! owners (the raw mutex, the rwlock, the semaphore): tokens are processes,
//! a thread is an identity `(tid, token)`, and a process dies when a test
//! says so.
//!
//! [`FakeOracle`] answers the liveness questions the way
//! `sys::liveness::owner_liveness` does; [`Processes`] is the proptests'
//! fixed set of processes that die and come back under a new token, with
//! an oracle kept in step.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use crate::raw_mutex::OwnerOracle;
use crate::sync::{Liveness, ThreadIdentity};

/// `token → alive`; a token never started is dead (as a token nobody
/// holds is, for the kernel). A thread that "exits" simply stops acting,
/// its process living on.
#[derive(Default)]
pub(crate) struct FakeOracle {
    processes: RefCell<HashMap<u32, bool>>,
    /// Models a lock word outside every segment: nobody is ever dead.
    outside_segments: bool,
    /// How many proofs were asked for.
    checks: Cell<u32>,
}

impl FakeOracle {
    /// An oracle for a word outside every segment, which has no descriptor
    /// to test: every owner is alive.
    pub(crate) fn outside_segments() -> Self {
        FakeOracle { outside_segments: true, ..FakeOracle::default() }
    }

    /// Thread `tid` of process `token` (started if new).
    pub(crate) fn thread(&self, tid: u32, token: u32) -> ThreadIdentity {
        self.processes.borrow_mut().entry(token).or_insert(true);
        ThreadIdentity { tid, token }
    }

    /// Process `token` dies (every thread of it).
    ///
    /// # Panics
    ///
    /// If `token` was never started: a test that kills a process it never
    /// made is wrong.
    pub(crate) fn kill(&self, token: u32) {
        let was = self.processes.borrow_mut().insert(token, false);
        assert!(was.is_some(), "killing process {token}, which was never started");
    }

    /// How many liveness proofs were asked for so far.
    pub(crate) fn checks(&self) -> u32 {
        self.checks.get()
    }
}

impl OwnerOracle for FakeOracle {
    fn process_liveness(&self, token: u32) -> Liveness {
        self.checks.set(self.checks.get() + 1);
        if self.outside_segments {
            return Liveness::Alive;
        }
        match self.processes.borrow().get(&token) {
            Some(true) => Liveness::Alive,
            None | Some(false) => Liveness::Dead,
        }
    }
}

/// `N` simulated processes, each alive or dead, in its `incarnation`: a
/// restarted process is a new one, with a new token (as a real process
/// draws a new token), so a model can tell what the dead one left behind.
pub(crate) struct Processes<const N: usize> {
    /// Per process: alive, incarnation.
    state: [(bool, u32); N],
    /// Knows every incarnation's token, alive or dead.
    pub(crate) oracle: FakeOracle,
}

impl<const N: usize> Processes<N> {
    /// Every process alive, in its first incarnation.
    pub(crate) fn new() -> Self {
        let processes = Processes { state: [(true, 0); N], oracle: FakeOracle::default() };
        for p in 0..N {
            processes.oracle.thread(0, processes.token(p));
        }
        processes
    }

    /// The token of process `p`'s current incarnation.
    #[allow(clippy::cast_possible_truncation)]
    pub(crate) fn token(&self, p: usize) -> u32 {
        1000 * (p as u32 + 1) + self.state[p].1
    }

    /// Thread `tid` of process `p`'s current incarnation.
    pub(crate) fn thread(&self, p: usize, tid: u32) -> ThreadIdentity {
        ThreadIdentity { tid, token: self.token(p) }
    }

    /// Whether process `p` is alive.
    pub(crate) fn alive(&self, p: usize) -> bool {
        self.state[p].0
    }

    /// How many times process `p` was restarted.
    pub(crate) fn incarnation(&self, p: usize) -> u32 {
        self.state[p].1
    }

    /// Process `p` dies, if alive; true if it did.
    pub(crate) fn die(&mut self, p: usize) -> bool {
        if !self.alive(p) {
            return false;
        }
        self.oracle.kill(self.token(p));
        self.state[p].0 = false;
        true
    }

    /// Process `p`, if dead, comes back as a new incarnation; true if it
    /// did.
    pub(crate) fn restart(&mut self, p: usize) -> bool {
        if self.alive(p) {
            return false;
        }
        self.state[p] = (true, self.state[p].1 + 1);
        self.oracle.thread(0, self.token(p));
        true
    }
}

#[test]
fn a_restarted_process_has_a_new_token_and_the_old_one_stays_dead() {
    let mut ps = Processes::<2>::new();
    let old = ps.token(1);
    assert_eq!(ps.oracle.process_liveness(old), Liveness::Alive);
    assert!(ps.die(1) && !ps.die(1));
    assert_eq!(ps.oracle.process_liveness(old), Liveness::Dead);
    assert!(ps.restart(1) && !ps.restart(1));
    assert_ne!(ps.token(1), old);
    assert_eq!(ps.incarnation(1), 1);
    assert_eq!(ps.oracle.process_liveness(ps.token(1)), Liveness::Alive);
    assert_eq!(ps.oracle.process_liveness(old), Liveness::Dead);
    assert_eq!(ps.oracle.process_liveness(ps.token(0)), Liveness::Alive);
    assert_eq!(ps.oracle.checks(), 5);
}

#[test]
fn outside_segments_nobody_dies() {
    let o = FakeOracle::outside_segments();
    let a = o.thread(1, 7);
    o.kill(a.token);
    assert_eq!(o.process_liveness(a.token), Liveness::Alive);
    assert_eq!(o.process_liveness(99), Liveness::Alive);
}
