//! A 256-byte value that reveals torn reads: what the multi-process
//! seqlock and broadcast tests write and check.

use shmsync::bytemuck::{Pod, Zeroable};
use shmsync::ShmSafe;

/// 256 bytes: 31 words derived from one sequence number, and a checksum of
/// them. A read that mixes two writes has words from two numbers, which
/// [`Stamped::number`] rejects. The all-zero value is not a valid stamp, so
/// segments start from `Stamped::new(0)` set in an initializer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ShmSafe, Pod, Zeroable)]
#[bytemuck(crate = "shmsync::bytemuck")]
#[repr(C)]
pub struct Stamped {
    /// 31 words derived from the number, then their checksum.
    pub words: [u64; 32],
}

const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

fn checksum(words: &[u64]) -> u64 {
    words.iter().fold(0xCBF2_9CE4_8422_2325, |h, w| (h ^ w).wrapping_mul(0x100_0000_01B3))
}

impl Stamped {
    /// The stamp of sequence number `n`.
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
