//! How busy the machine was with work other than ours while we measured:
//! the figures of a shared machine mean little without it.

use std::time::Instant;

/// CPU time counters at the start of a run.
pub struct LoadProbe {
    started: Instant,
    busy_ticks: u64,
    ours_secs: f64,
}

/// Busy (non-idle, non-iowait) jiffies of all CPUs, from `/proc/stat`.
fn busy_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    let fields: Vec<u64> = cpu.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal ...
    fields.iter().enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, v)| v).sum()
}

/// CPU seconds used by this process and its reaped children.
fn our_cpu_secs() -> f64 {
    let mut total = 0.0;
    for who in [libc::RUSAGE_SELF, libc::RUSAGE_CHILDREN] {
        // SAFETY: an all-zero rusage is valid; getrusage fills it in.
        let mut ru: libc::rusage = unsafe { core::mem::zeroed() };
        // SAFETY: `ru` is a valid, writable rusage.
        if unsafe { libc::getrusage(who, &mut ru) } == 0 {
            for tv in [ru.ru_utime, ru.ru_stime] {
                total += tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
            }
        }
    }
    total
}

impl LoadProbe {
    /// Starts counting.
    pub fn start() -> Self {
        LoadProbe { started: Instant::now(), busy_ticks: busy_ticks(), ours_secs: our_cpu_secs() }
    }

    /// The average number of CPUs kept busy by other work since `start`.
    pub fn others_cores(&self) -> f64 {
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let busy = busy_ticks().saturating_sub(self.busy_ticks) as f64 / hz;
        let ours = our_cpu_secs() - self.ours_secs;
        ((busy - ours) / self.started.elapsed().as_secs_f64()).max(0.0)
    }
}
