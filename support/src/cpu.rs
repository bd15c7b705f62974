//! CPU pinning: spreading the processes of a measurement or a race over
//! distinct CPUs, round robin over the CPUs this process may use.
//!
//! Pinning makes "2 processes" mean two CPUs contending, not two processes
//! the scheduler happened to stack on one CPU (then nothing contends and
//! every lock looks equally fast), and it makes a race that lasts
//! milliseconds run on every core from its first step, before the
//! scheduler would have spread freshly started processes.

/// The environment variable that tells a child which CPU to pin itself to.
pub const CPU_ENV: &str = "SHMSYNC_BENCH_CPU";

/// The CPU the `i`-th process of a measurement runs on: round robin over
/// the CPUs this process may use.
pub fn cpu_for(i: usize) -> usize {
    let cpus = allowed_cpus();
    cpus[i % cpus.len()]
}

/// The CPUs this thread may run on (CPU 0 alone if the kernel will not
/// say).
pub fn allowed_cpus() -> Vec<usize> {
    read_allowed_cpus().unwrap_or_else(|| vec![0])
}

/// The CPUs this thread may run on, or `None` if the kernel will not say.
fn read_allowed_cpus() -> Option<Vec<usize>> {
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { core::mem::zeroed() };
    // SAFETY: `set` is a valid, writable cpu_set_t of the size passed.
    let r = unsafe { libc::sched_getaffinity(0, core::mem::size_of_val(&set), &mut set) };
    if r != 0 {
        return None;
    }
    // SAFETY: CPU_ISSET only reads the set; `c` < CPU_SETSIZE, within it.
    let cpus: Vec<usize> =
        (0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) }).collect();
    (!cpus.is_empty()).then_some(cpus)
}

/// Pins the calling thread to the `i`-th CPU it may run on, round robin.
/// Best effort: if the kernel will not say which CPUs those are, or will
/// not pin, the thread runs unpinned.
pub fn pin_round_robin(i: usize) {
    if let Some(cpus) = read_allowed_cpus() {
        pin_current_thread(cpus[i % cpus.len()]);
    }
}

/// Pins the calling thread to `cpu` (best effort: a failure only means
/// the scheduler chooses).
pub fn pin_current_thread(cpu: usize) {
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { core::mem::zeroed() };
    // SAFETY: CPU_SET writes one bit of `set`; out-of-range CPUs are ignored
    // by the macro's bounds check.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; 0 = this thread.
    unsafe { libc::sched_setaffinity(0, core::mem::size_of_val(&set), &set) };
}

/// Lets the calling thread run on every CPU in `cpus` again.
pub fn unpin_current_thread(cpus: &[usize]) {
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { core::mem::zeroed() };
    for &c in cpus {
        // SAFETY: as in `pin_current_thread`.
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    // SAFETY: as in `pin_current_thread`.
    unsafe { libc::sched_setaffinity(0, core::mem::size_of_val(&set), &set) };
}

/// Runs `f` with the calling thread pinned to `cpu`, then unpins it.
pub fn pinned_to<R>(cpu: usize, f: impl FnOnce() -> R) -> R {
    let cpus = allowed_cpus();
    pin_current_thread(cpu);
    let r = f();
    unpin_current_thread(&cpus);
    r
}

/// In a child: pins itself if the parent named a CPU.
pub fn pin_child_if_asked() {
    if let Some(cpu) = std::env::var(CPU_ENV).ok().and_then(|v| v.parse().ok()) {
        pin_current_thread(cpu);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_stays_within_the_allowed_cpus_and_pinning_takes() {
        let allowed = allowed_cpus();
        assert!(!allowed.is_empty());
        for i in 0..2 * allowed.len() {
            assert_eq!(cpu_for(i), allowed[i % allowed.len()]);
        }
        let cpu = cpu_for(1);
        let seen = pinned_to(cpu, allowed_cpus);
        assert_eq!(seen, vec![cpu], "pinned to one CPU, the thread may run on it alone");
        assert_eq!(allowed_cpus(), allowed, "unpinned again afterwards");
    }
}
