//! The one criterion configuration of the in-process benchmarks
//! (`benches/{mutex,counter,seqlock,segment,broadcast}.rs`).

use std::time::Duration;

use criterion::Criterion;

/// Half a second of warm-up, two seconds of measurement and 60 samples.
/// Short windows: the machine is small and shared; criterion's outlier
/// analysis and the many samples carry the precision.
pub fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(60)
}
