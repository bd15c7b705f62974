//! Bugs the loom models must catch, switched on by name in the `--cfg loom`
//! build only (`SHMSYNC_LOOM_MUTANT=<name>`). In every other build
//! [`mutated`] is a constant `false` and [`ordering`] returns its first
//! argument, so the library's code is exactly the protocol.
//!
//! | name | the bug |
//! |---|---|
//! | `done-relaxed` | a slot's `done` stamp is stored relaxed, not release |
//! | `no-begin-fence` | no release fence after a slot's `writing` stamp |
//! | `no-read-fence` | no acquire fence between a reader's copy and its re-check |
//! | `no-recheck` | a reader keeps its copy without looking at the stamp again |
//! | `tail-relaxed` | the sequence word is stored relaxed, not release |
//! | `wake-relaxed` | the wake word's RMWs are relaxed |
//! | `no-wake` | senders never wake sleeping receivers |
//! | `no-repair` | a sender taking over from a dead one skips the repair |
//! | `lag-from-tail` | a lagged receiver ignores the stamp it found and counts from `tail` only |
//! | `lag-one-more` | a lagged receiver skips one value too many |
//!
//! `loom-tests/tests/broadcast.rs` lists which model catches which.

use crate::sync::Ordering;

/// Whether the named bug is switched on (never outside loom).
#[cfg(not(loom))]
#[inline(always)]
pub(crate) const fn mutated(_name: &str) -> bool {
    false
}

/// Whether the named bug is switched on: `SHMSYNC_LOOM_MUTANT` names it.
#[cfg(loom)]
pub(crate) fn mutated(name: &str) -> bool {
    static ACTIVE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    ACTIVE.get_or_init(|| std::env::var("SHMSYNC_LOOM_MUTANT").ok()).as_deref() == Some(name)
}

/// `normal`, or `Relaxed` if the named bug is switched on.
#[inline(always)]
pub(crate) fn ordering(normal: Ordering, name: &str) -> Ordering {
    if mutated(name) {
        Ordering::Relaxed
    } else {
        normal
    }
}
