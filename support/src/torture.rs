//! Kill tortures: how many kills a run makes, and the seeded generator
//! that picks when each one lands.
//!
//! CI runs every torture with `SHMSYNC_TORTURE_KILLS` (1000 by default);
//! a failing run prints its `SHMSYNC_TORTURE_SEED`, which replays it.

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
}
