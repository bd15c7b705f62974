//! Kill tortures: how many kills a run makes, the seeded generator that
//! picks when each one lands and whom it hits, and freezing the workers so
//! the parent can look at the shared state before it kills.
//!
//! CI runs every torture with `SHMSYNC_TORTURE_KILLS` (1000 by default);
//! a failing run prints its `SHMSYNC_TORTURE_SEED`, which replays it.

use std::time::Duration;

use crate::child::ChildProcess;
use crate::signals::{freeze, signal};

/// The number of kills for a torture: `SHMSYNC_TORTURE_KILLS`, else `default`.
pub fn kills_from_env(default: u32) -> u32 {
    std::env::var("SHMSYNC_TORTURE_KILLS").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// A small deterministic generator (xorshift64*) for tortures.
pub struct Rng(pub u64);

impl Rng {
    /// Seeded from `SHMSYNC_TORTURE_SEED` if set (to replay a run), else
    /// from the clock; the seed is printed so a failing run can be replayed.
    pub fn from_env(what: &str) -> Rng {
        let seed = std::env::var("SHMSYNC_TORTURE_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos());
                u64::try_from(nanos & u128::from(u64::MAX)).unwrap_or(1) | 1
            });
        eprintln!("{what}: SHMSYNC_TORTURE_SEED={seed}");
        Rng(seed)
    }

    /// The next pseudo-random number.
    // Not `Iterator::next`: the sequence never ends, so an `Option` would
    // only add an unwrap to every call.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A pseudo-random number below `n` (> 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A pseudo-random index below `n` (> 0).
    pub fn index_below(&mut self, n: usize) -> usize {
        let n = u64::try_from(n).expect("an index range fits u64");
        usize::try_from(self.below(n)).expect("below an usize")
    }

    /// Sleeps for a pseudo-random time below `max`: the moment a kill
    /// lands, somewhere in whatever the workers were doing.
    pub fn pause_below(&mut self, max: Duration) {
        let micros = u64::try_from(max.as_micros()).expect("a pause fits u64 microseconds");
        std::thread::sleep(Duration::from_micros(self.below(micros)));
    }

    /// Which of `n` workers to kill: half the time one of `holders` (the
    /// workers seen holding what the torture is about), otherwise any
    /// worker, so kills also land on waiters and on holders not yet
    /// visible as such.
    pub fn victim(&mut self, holders: &[usize], n: usize) -> usize {
        match holders {
            [] => self.index_below(n),
            some if self.below(2) == 0 => some[self.index_below(some.len())],
            _ => self.index_below(n),
        }
    }
}

/// SIGSTOPs every worker and waits until each has stopped: the shared
/// state then holds still while the parent reads who holds what.
pub fn freeze_all(workers: &[ChildProcess]) {
    for w in workers {
        freeze(w.pid());
    }
}

/// SIGCONTs every worker but `victim` (killed, or replaced by a fresh
/// process that was never stopped).
pub fn thaw_all_but(workers: &[ChildProcess], victim: usize) {
    for (slot, w) in workers.iter().enumerate() {
        if slot != victim {
            signal(w.pid(), libc::SIGCONT);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_the_same_sequence() {
        let (mut a, mut b) = (Rng(42), Rng(42));
        let first: Vec<u64> = (0..8).map(|_| a.next()).collect();
        assert_eq!(first, (0..8).map(|_| b.next()).collect::<Vec<_>>());
        // Pinned: a seed printed by an earlier run must replay that run.
        assert_eq!(Rng(1).next(), 0x47E4_CE4B_896C_DD1D);
    }

    #[test]
    fn victims_are_workers_and_holders_get_about_half() {
        let mut rng = Rng(7);
        let mut hit_holder = 0;
        for _ in 0..1000 {
            let v = rng.victim(&[3], 4);
            assert!(v < 4);
            hit_holder += u32::from(v == 3);
            assert!(rng.victim(&[], 4) < 4);
        }
        // Half chosen as the holder, a quarter of the rest by chance.
        assert!((550..=700).contains(&hit_holder), "{hit_holder}");
    }
}
