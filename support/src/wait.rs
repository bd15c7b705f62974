//! Bounded waiting for a condition another thread or process brings about.

use std::time::{Duration, Instant};

/// Waits until `condition` holds, polling every millisecond; panics after
/// `timeout` naming `what`.
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}
