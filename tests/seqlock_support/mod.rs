//! Support shared by the multi-process seqlock tests: a 256-byte value that
//! reveals torn reads, a seeded generator, and bounded waiting.
#![allow(dead_code)]

use shmsync::bytemuck::{Pod, Zeroable};
use shmsync::ShmSafe;
use std::time::{Duration, Instant};

/// 256 bytes: 31 words derived from one sequence number, and a checksum of
/// them. A read that mixes two writes has words from two numbers, which
/// [`Stamped::number`] rejects. The all-zero value is not a valid stamp, so
/// segments start from [`Stamped::new(0)`] set in an initializer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ShmSafe, Pod, Zeroable)]
#[bytemuck(crate = "shmsync::bytemuck")]
#[repr(C)]
pub struct Stamped {
    pub words: [u64; 32],
}

const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

fn checksum(words: &[u64]) -> u64 {
    words.iter().fold(0xCBF2_9CE4_8422_2325, |h, w| (h ^ w).wrapping_mul(0x100_0000_01B3))
}

impl Stamped {
    pub fn new(n: u64) -> Self {
        let mut words = [0; 32];
        for (i, w) in words[..31].iter_mut().enumerate() {
            *w = n ^ (i as u64).wrapping_mul(MIX);
        }
        words[31] = checksum(&words[..31]);
        Stamped { words }
    }

    /// The sequence number, if every word and the checksum agree on it.
    pub fn number(&self) -> Option<u64> {
        let n = self.words[0];
        (*self == Stamped::new(n)).then_some(n)
    }
}

/// A small deterministic generator (xorshift64*), seeded per run.
pub struct Rng(pub u64);

impl Rng {
    /// Seeded from `SHMSYNC_TORTURE_SEED` if set (to replay a run), else
    /// from the clock; the seed is printed.
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

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Waits until `condition` holds; panics after `timeout` with `what`.
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting until {what}");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// The number of kills for a torture: `SHMSYNC_TORTURE_KILLS`, else `default`.
pub fn kills_from_env(default: u32) -> u32 {
    std::env::var("SHMSYNC_TORTURE_KILLS").ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}
