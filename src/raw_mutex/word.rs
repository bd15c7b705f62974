//! The robust lock word: its bit layout and named predicates on it, so the
//! state machine in `raw_mutex.rs` reads as the state table does.
//!
//! | bits | field | meaning |
//! |---|---|---|
//! | 0..30 | TID | the owning thread's kernel thread id; 0 = unlocked; all ones = not recoverable |
//! | 30 | `OWNER_DIED` | an owner died (or panicked) holding it: the data may be half-updated |
//! | 31 | `WAITERS` | threads may be asleep in `futex_wait` on the low half |
//! | 32..64 | token | the owning process's token (see `sys/token.rs`); 0 with TID 0 |
//!
//! The low half has the layout of the kernel's robust futex word
//! (`FUTEX_WAITERS | FUTEX_OWNER_DIED | TID`) and is the futex the waiters
//! sleep on; the high half is written by the same CAS that takes the lock.

use crate::sync::ThreadIdentity;

/// Set while threads may be asleep in `futex_wait` on the word: the owner
/// must wake one when it unlocks. (The kernel's `FUTEX_WAITERS`.)
pub(crate) const WAITERS: u64 = 1 << 31;
/// Set when an owner died holding the lock (or panicked): the data may be
/// half-updated. (The kernel's `FUTEX_OWNER_DIED`.)
pub(crate) const OWNER_DIED: u64 = 1 << 30;
/// The owner's kernel thread id (the kernel's `FUTEX_TID_MASK`).
pub(crate) const TID_MASK: u64 = (1 << 30) - 1;
/// Where the owner's process token sits.
const TOKEN_SHIFT: u32 = 32;
/// Who owns the word: TID and token, without the two flags.
pub(crate) const OWNER_MASK: u64 = !(WAITERS | OWNER_DIED);
/// The TID field of a mutex that can never be locked again. Never a real
/// thread id: Linux thread ids are below `PID_MAX_LIMIT` = 2^22.
pub(crate) const NOT_RECOVERABLE: u64 = TID_MASK;

/// The owner bits of thread `me`: its TID and its process token.
#[inline]
pub(crate) fn owner_bits(me: ThreadIdentity) -> u64 {
    (u64::from(me.token) << TOKEN_SHIFT) | u64::from(me.tid)
}

/// The owner's thread id (0 = unlocked).
#[inline]
#[allow(clippy::cast_possible_truncation)]
pub(crate) fn tid(w: u64) -> u32 {
    (w & TID_MASK) as u32
}

/// The owner's process token.
#[inline]
#[allow(clippy::cast_possible_truncation)]
pub(crate) fn token(w: u64) -> u32 {
    (w >> TOKEN_SHIFT) as u32
}

/// Nobody holds it (it may still be inconsistent or have stale waiters).
#[inline]
pub(crate) fn is_free(w: u64) -> bool {
    w & TID_MASK == 0
}

/// Terminal: every lock attempt fails.
#[inline]
pub(crate) fn is_not_recoverable(w: u64) -> bool {
    w & TID_MASK == NOT_RECOVERABLE
}

/// Threads may be asleep on it.
#[inline]
pub(crate) fn has_waiters(w: u64) -> bool {
    w & WAITERS != 0
}

/// An owner died (or panicked) holding it.
#[inline]
pub(crate) fn owner_died(w: u64) -> bool {
    w & OWNER_DIED != 0
}

/// Held by exactly the thread `me` (flags aside).
#[inline]
pub(crate) fn is_owned_by(w: u64, me: ThreadIdentity) -> bool {
    w & OWNER_MASK == owner_bits(me)
}

/// The low half of a 64-bit word: the 32 bits a futex on it compares
/// (`futex_wait_low`), here `WAITERS | OWNER_DIED | TID`. The barrier's
/// word, whose low half is its futex too, uses it as well.
#[inline]
#[allow(clippy::cast_possible_truncation)]
pub(crate) fn low_half(w: u64) -> u32 {
    w as u32
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let me = ThreadIdentity { tid: 1234, token: 0xDEAD_BEEF };
        let w = owner_bits(me) | WAITERS | OWNER_DIED;
        assert_eq!(tid(w), 1234);
        assert_eq!(token(w), 0xDEAD_BEEF);
        assert!(has_waiters(w) && owner_died(w) && is_owned_by(w, me));
        assert!(!is_free(w) && !is_not_recoverable(w));
        assert_eq!(low_half(w), 1234 | (1 << 31) | (1 << 30));
        assert!(is_free(WAITERS | OWNER_DIED | (7 << 32)));
        assert!(is_not_recoverable(NOT_RECOVERABLE | WAITERS));
    }
}
