//! The head of the ring, one cache line: the sender lock, the sequence
//! word, the count of take-overs from dead senders, and the word receivers
//! sleep on (`wake.rs`). A send touches this line and one slot's.
//!
//! # The sequence word (`tail`)
//!
//! `tail` is the number of the next value to send, which is also how many
//! values have been sent (0 when zeroed). Value `s` lives in slot `s % N`,
//! so the slots hold values `tail - N .. tail` (fewer at first); while a
//! sender writes value `tail`, value `tail - N` is already gone.
//!
//! | phase of a send (sender lock held) | `tail` | slot `t % N` |
//! |---|---|---|
//! | idle | `t` | `done(t - N)` (or empty) |
//! | writing value `t` (`slot.rs`) | `t` | `writing(t)`, then `done(t)` |
//! | counted: `tail = t + 1` (release) | `t + 1` | `done(t)` |
//!
//! then the sender wakes sleeping receivers (`wake.rs`) and unlocks.
//!
//! Only the holder of the sender lock changes `tail` or a stamp, so the
//! order is the lock's. Receivers read stamps to find values and `tail`
//! only to count what they lost (`Broadcast::skip_lost`) and before they
//! sleep.
//!
//! # A sender killed at any instruction
//!
//! The sender lock is the crate's robust lock: the next sender to lock
//! after a death gets `OwnerDied`, repairs, and marks it consistent.
//!
//! | killed | left behind | the next sender |
//! |---|---|---|
//! | before its `writing` store | nothing | sends as usual |
//! | between `writing(t)` and `done(t)` | slot `writing(t)`, torn; `tail = t` | sends its own value as `t`, writing the slot from the start: no receiver accepted the torn one, and value `t - N` was already counted as gone |
//! | between `done(t)` and `tail = t + 1` | slot `done(t)`, whole; `tail = t` | repairs: `tail = t + 1` (value `t` may already have been received, so it stays), then sends its own as `t + 1` |
//! | after `tail = t + 1`, before unlocking | a complete send; sleepers perhaps not woken | nothing to repair |
//!
//! In every case the next sender also wakes every sleeping receiver (the
//! dead one may have died before waking them), and if no next sender comes
//! a sleeping receiver looks again within `RECV_RECHECK` by itself.
//!
//! So a value is delivered whole or never, the sequence has no gap and no
//! number twice, and there is nothing a receiver must wait for. The repair
//! is one store and may itself be interrupted: the lock then stays
//! owner-died and the next sender repeats it (it is idempotent).
//!
//! # Bounds
//!
//! Sequence numbers stay below [`MAX_SEQ`] (2^62: over a century at a
//! billion sends a second), so stamp arithmetic is exact. A `tail` at or
//! above it was written by something else: `send` refuses it with
//! `SendError::Corrupt`, and receivers read it as `MAX_SEQ`.

use super::wake::WakeWord;
use crate::raw_mutex::{Acquired, RawLockError, RawMutex, RawState};
use crate::sync::{AtomicU64, Instant, Ordering};

/// One above the largest sequence number a ring ever uses.
pub(crate) const MAX_SEQ: u64 = 1 << 62;

/// The head line (`Broadcast` keeps it `CachePadded`, so that neither a
/// slot nor what lies before the ring shares the line every send writes).
/// `lock` comes first: `Broadcast`'s docs promise where the lock word is.
/// Valid when zeroed (unlocked, nothing sent, nobody asleep).
#[repr(C)]
pub(crate) struct Head {
    lock: RawMutex,
    /// See the module's state table.
    tail: AtomicU64,
    /// Take-overs from a dead sender since creation (wrapping).
    recoveries: AtomicU64,
    pub(crate) wake: WakeWord,
}

// One line: `Broadcast`'s docs put the first slot at offset 64.
#[cfg(not(loom))]
const _: () = assert!(core::mem::size_of::<Head>() <= 64);

impl Head {
    crate::sync::const_unless_loom! {
        /// An idle head (the same as zeroed).
        pub(crate) const fn new() -> Self {
            Self {
                lock: RawMutex::new(),
                tail: AtomicU64::new(0),
                recoveries: AtomicU64::new(0),
                wake: WakeWord::new(),
            }
        }
    }

    /// Takes the sender lock, waiting until `deadline` (forever if `None`)
    /// for a live sender and taking over from a dead one (`OwnerDied`: the
    /// caller repairs, then calls [`Head::recovered`]).
    pub(crate) fn lock(&self, deadline: Option<Instant>) -> Result<Acquired, RawLockError> {
        self.lock.lock(deadline)
    }

    /// Takes the sender lock if no live sender holds it.
    pub(crate) fn try_lock(&self) -> Result<Acquired, RawLockError> {
        self.lock.try_lock()
    }

    /// After the repair of an `OwnerDied` lock: marks it consistent and
    /// counts the take-over. The caller holds the lock.
    #[cold]
    pub(crate) fn recovered(&self) {
        self.lock.make_consistent();
        // relaxed: a statistic, written only under the lock; nobody infers
        // anything about the ring from it.
        self.recoveries.fetch_add(1, Ordering::Relaxed);
    }

    /// Releases the sender lock.
    pub(crate) fn unlock(&self) {
        self.lock.unlock();
    }

    /// `tail` for the holder of the sender lock.
    #[inline]
    pub(crate) fn tail_for_sender(&self) -> u64 {
        // acquire: pairs with the previous sender's release store in
        // `set_tail`. Defence in depth: the lock's own acquire already
        // orders us after a sender that unlocked, and the kernel's death
        // proof after one that died.
        self.tail.load(Ordering::Acquire)
    }

    /// Counts value `next - 1` as sent. The caller holds the sender lock.
    #[inline]
    pub(crate) fn set_tail(&self, next: u64) {
        // release: pairs with the acquire loads in `tail`: a receiver that
        // sees `next` sees every stamp and word stored before it, so it
        // never takes a value below `next` for not yet sent.
        self.tail.store(next, super::mutant::ordering(Ordering::Release, "tail-relaxed"));
    }

    /// `tail`, clamped to [`MAX_SEQ`], for receivers.
    #[inline]
    pub(crate) fn tail(&self) -> u64 {
        // acquire: pairs with the release store in `set_tail`.
        self.tail.load(Ordering::Acquire).min(MAX_SEQ)
    }

    /// `tail` as stored, for diagnostics (a corrupt one shows as is).
    pub(crate) fn raw_tail(&self) -> u64 {
        // acquire: as in `tail`.
        self.tail.load(Ordering::Acquire)
    }

    /// Take-overs from a dead sender so far.
    pub(crate) fn recoveries(&self) -> u64 {
        // relaxed: a statistic (see `recovered`).
        self.recoveries.load(Ordering::Relaxed)
    }

    /// A snapshot of the sender lock, for `Debug`.
    pub(crate) fn lock_state(&self) -> RawState {
        self.lock.state()
    }

    /// Tests: give up the held sender lock as unrepairable (the "not
    /// recoverable" state, which only a broken peer leaves in a ring).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn abandon_lock(&self) {
        self.lock.abandon();
    }

    /// Tests: overwrite `tail` as a broken peer could.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn set_raw_tail(&self, tail: u64) {
        self.tail.store(tail, Ordering::Relaxed);
    }
}
