//! Timing round trips between two processes one at a time: the measuring
//! loop of the harness's ping-pong and one-way latency rows.

use std::time::{Duration, Instant};

/// Untimed round trips first: both processes running, caches warm. The
/// child of a measurement answers `WARMUP + n` round trips.
pub const WARMUP: usize = 200;

/// Runs [`WARMUP`] untimed round trips, then times `n` one by one; each
/// sample is `figure` of one round trip's duration (its microseconds, or
/// half its nanoseconds for a one-way latency).
#[inline]
pub fn time_each(
    n: usize,
    mut round_trip: impl FnMut(),
    figure: impl Fn(Duration) -> f64,
) -> Vec<f64> {
    for _ in 0..WARMUP {
        round_trip();
    }
    (0..n)
        .map(|_| {
            let t = Instant::now();
            round_trip();
            figure(t.elapsed())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_then_times_each_round_trip() {
        let mut calls = 0;
        let samples = time_each(5, || calls += 1, |_| 1.5);
        assert_eq!(calls, WARMUP + 5);
        assert_eq!(samples, vec![1.5; 5]);
    }
}
