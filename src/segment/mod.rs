//! (in progress) Named shared memory segments.

/// Whether owner-death detection may run for a lock word at `addr`.
///
/// Returns `false` when `addr` lies inside a mapped segment whose header says
/// it is shared across PID namespaces (non-robust mode): thread ids in its
/// lock words cannot be checked for liveness from every process, so owners
/// are never declared dead. Called only on the mutex's cold path.
pub(crate) fn owner_death_detection_enabled(_addr: usize) -> bool {
    true
}
