//! Bounded waiting: for a condition another thread or process brings
//! about, and for every process of a test at its start gate.

use std::time::{Duration, Instant};

use shmsync::ShmBarrier;

/// Waits until `condition` holds, polling every millisecond; panics after
/// `timeout` naming `what`.
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Joins `gate` and waits there until every party arrived, so the
/// processes of a test start their work together.
///
/// # Panics
///
/// If the gate is full, or broken (a party died or gave up), or not every
/// party arrives within `timeout`.
pub fn start_together(gate: &ShmBarrier, timeout: Duration) {
    let mut me = gate.join().expect("a place at the start gate");
    me.wait_timeout(timeout).expect("every process reaches the start gate");
}
