//! The holder table: which processes hold how many shares of a
//! [`ShmRwLock`](crate::ShmRwLock)'s read side or permits of a
//! [`ShmSemaphore`](crate::ShmSemaphore), in a form that survives a
//! process killed at any instruction.
//!
//! # The slots
//!
//! [`SLOTS`] words, each one process's count:
//!
//! | slot value | meaning |
//! |---|---|
//! | `0` | free |
//! | `token << 32 \| n`, `n ≥ 1` | the process whose token is `token` holds `n` shares |
//! | `token << 32 \| 0` | never left by this code (a slot is freed when its count reaches 0); counts 0, belongs to `token` |
//! | `0 << 32 \| n` | never left by this code (no process has token 0): a dead holder, reclaimed like any |
//!
//! | transition | by | ordering |
//! |---|---|---|
//! | `0 → t\|1` (claim a free slot) or `t\|n → t\|n+1` | a thread of process `t` taking a share: **one CAS** | relaxed; the caller's `fence(SeqCst)` follows |
//! | `t\|n → t\|n-1`, `t\|1 → 0` | a thread of process `t` giving one back: **one CAS** | release: publishes what it did with the share |
//! | `t\|n → 0` | anyone, once `t`'s process is *proven* dead (the kernel's proof, `sync::owner_liveness`), by a CAS of the exact value it judged | acquire |
//!
//! Because each acquisition and each release is one atomic read-modify-write
//! of the process's own slot, a process killed at any instruction leaves its
//! share either counted in its slot (reclaimed once it is proven dead) or
//! not counted at all: never half. And because the slots are the only
//! record — readers holding an rwlock are the sum of its slots, permits in
//! use the sum of a semaphore's — no second counter can disagree with them
//! after a kill.
//!
//! Threads of one process share its slot (a share belongs to a process,
//! whose death releases all its shares at once). Two threads of a process
//! may each claim a free slot at the same moment; the process then holds
//! shares in two slots, which every sum and every reclaim handles alike.
//!
//! # Limits
//!
//! At most [`SLOTS`] processes can hold shares at the same time. Another
//! process waits until a slot frees (its holders release, or die and are
//! reclaimed). A process holds at most `u32::MAX - 1` shares per slot; one
//! that holds more spreads them over more slots.
//!
//! A process that draws the token of a dead holder whose slot is being
//! reclaimed *and* holds exactly as many shares in that slot at that moment
//! could lose them to the reclaim: the same 2^-32 coincidence as a lock
//! word's (see `sys/token.rs`).
//!
//! # Cache lines
//!
//! A process starts looking for its slot at a position derived from its
//! token, and consecutive positions lie on different cache lines, so that
//! processes taking and giving back shares at the same time usually write
//! different lines.

use crate::sync::{AtomicU64, Ordering};
use crate::CachePadded;

/// How many processes can hold shares at once. (Loom models use few
/// threads, and every slot is one more atomic for loom to explore.)
#[cfg(not(loom))]
pub(crate) const SLOTS: usize = 64;
#[cfg(loom)]
pub(crate) const SLOTS: usize = 3;

/// Slots per 64-byte cache line.
const PER_LINE: usize = if SLOTS >= 8 { 8 } else { 1 };
/// Cache lines of slots.
const LINES: usize = SLOTS / PER_LINE;

/// The count half of a slot.
const COUNT_MASK: u64 = 0xFFFF_FFFF;
/// The most shares one slot holds; a process holding more uses another.
const COUNT_MAX: u64 = COUNT_MASK - 1;

/// The token half of a slot value.
#[inline]
#[allow(clippy::cast_possible_truncation)]
pub(crate) fn slot_token(v: u64) -> u32 {
    (v >> 32) as u32
}

/// The count half of a slot value.
#[inline]
pub(crate) fn slot_count(v: u64) -> u64 {
    v & COUNT_MASK
}

/// The slot at probe position `p` (any number): consecutive positions lie
/// on different cache lines.
#[inline]
fn slot_at(p: usize) -> usize {
    let p = p % SLOTS;
    (p % LINES) * PER_LINE + p / LINES
}

/// Where process `token` starts looking (tokens are random).
#[inline]
fn home(token: u32) -> usize {
    token as usize
}

/// The table: [`SLOTS`] atomic words on lines of their own. The padding
/// starts the words at a line, so that each run of [`PER_LINE`] slots is one
/// cache line (what [`slot_at`] counts on), and keeps the lock words beside
/// the table (an rwlock's writer, a semaphore's total) off its lines.
#[repr(C)]
pub(crate) struct Holders {
    slots: CachePadded<[AtomicU64; SLOTS]>,
}

/// What one pass over the slots saw.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scan {
    /// The slot values, in slot order.
    pub(crate) values: [u64; SLOTS],
    /// The sum of the counts.
    pub(crate) sum: u64,
}

impl Scan {
    /// The distinct tokens other than `me` that hold shares, in slot order.
    pub(crate) fn others(&self, me: u32) -> impl Iterator<Item = u32> + '_ {
        self.values
            .iter()
            .enumerate()
            .filter(move |&(_, &v)| v != 0 && slot_token(v) != me)
            .filter(move |&(i, &v)| {
                // The first slot of each token only.
                !self.values[..i].iter().any(|&u| u != 0 && slot_token(u) == slot_token(v))
            })
            .map(|(_, &v)| slot_token(v))
    }

    /// Whether process `me` could take a share now without waiting for a
    /// slot: it has a slot with room, or a slot is free.
    pub(crate) fn room_for(&self, me: u32) -> bool {
        self.values.iter().any(|&v| v == 0 || (slot_token(v) == me && slot_count(v) < COUNT_MAX))
    }

    /// How many distinct processes hold shares.
    pub(crate) fn processes(&self) -> u64 {
        let first_of_token = |(i, &v): (usize, &u64)| {
            v != 0 && !self.values[..i].iter().any(|&u| u != 0 && slot_token(u) == slot_token(v))
        };
        self.values.iter().enumerate().filter(|&x| first_of_token(x)).count() as u64
    }
}

impl Holders {
    crate::sync::const_unless_loom! {
        /// Every slot free (the same as zeroed memory).
        pub(crate) const fn new() -> Self {
            #[allow(clippy::declare_interior_mutable_const)]
            const FREE: AtomicU64 = AtomicU64::new(0);
            Holders { slots: CachePadded::new([FREE; SLOTS]) }
        } loom {
            Holders { slots: CachePadded::new(core::array::from_fn(|_| AtomicU64::new(0))) }
        }
    }

    /// The address of the table, for the liveness proof (it names the
    /// segment the table lives in).
    pub(crate) fn addr(&self) -> usize {
        core::ptr::from_ref(self) as usize
    }

    /// Takes one share for process `token`: one CAS on a slot of its own
    /// (or on a free slot, which becomes its own). Returns the slot, or
    /// `None` if every slot belongs to other processes.
    ///
    /// Relaxed: callers follow it with a `fence(SeqCst)` before they look
    /// at anything the share must be ordered with.
    #[inline]
    pub(crate) fn claim(&self, token: u32) -> Option<usize> {
        let mine = u64::from(token) << 32;
        let start = home(token);
        for p in start..start + SLOTS {
            let i = slot_at(p);
            let slot = &self.slots[i];
            let mut v = slot.load(Ordering::Relaxed);
            loop {
                let new = if v == 0 {
                    mine | 1
                } else if slot_token(v) == token && slot_count(v) < COUNT_MAX {
                    v + 1
                } else {
                    break;
                };
                match slot.compare_exchange(v, new, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => return Some(i),
                    Err(actual) => v = actual,
                }
            }
        }
        None
    }

    /// Gives back one share of process `token`, from slot `hint` if it
    /// holds one there, else from any slot of `token`: one CAS. Returns
    /// `false` if `token` holds no share at all (a caller bug, or shared
    /// memory overwritten).
    ///
    /// Release: pairs with the acquire loads of whoever next sees the slot
    /// (a writer draining readers, an acquirer counting permits), so what
    /// the holder did under its share happens before what they do next.
    #[inline]
    pub(crate) fn release(&self, token: u32, hint: usize) -> bool {
        if hint < SLOTS && self.release_at(token, hint) {
            return true;
        }
        (0..SLOTS).any(|i| self.release_at(token, i))
    }

    /// Gives back one share of `token` from slot `i`, if it holds one there.
    #[inline]
    fn release_at(&self, token: u32, i: usize) -> bool {
        let slot = &self.slots[i];
        let mut v = slot.load(Ordering::Relaxed);
        loop {
            if v == 0 || slot_token(v) != token || slot_count(v) == 0 {
                return false;
            }
            let new = if slot_count(v) == 1 { 0 } else { v - 1 };
            match slot.compare_exchange(v, new, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(actual) => v = actual,
            }
        }
    }

    /// Every slot, once.
    ///
    /// Acquire: pairs with the release CAS of [`release`](Self::release), so
    /// a caller that sees a share given back also sees what its holder did.
    pub(crate) fn scan(&self) -> Scan {
        let mut values = [0; SLOTS];
        let mut sum = 0u64;
        for (v, slot) in values.iter_mut().zip(self.slots.iter()) {
            *v = slot.load(Ordering::Acquire);
            sum += slot_count(*v);
        }
        Scan { values, sum }
    }

    /// The sum of the counts (a [`scan`](Self::scan) without the values).
    pub(crate) fn sum(&self) -> u64 {
        // Acquire: as in `scan`.
        self.slots.iter().map(|s| slot_count(s.load(Ordering::Acquire))).sum()
    }

    /// Frees every slot of `token`, whose process the caller has *proven*
    /// dead: a CAS of each exact value seen to 0. Returns the shares freed.
    ///
    /// Acquire: the shares' holder is dead; what it did before dying is
    /// ordered by the proof itself (see `RawMutex::try_recover`).
    pub(crate) fn reclaim(&self, token: u32) -> u64 {
        let mut freed = 0;
        for slot in self.slots.iter() {
            let mut v = slot.load(Ordering::Relaxed);
            while v != 0 && slot_token(v) == token {
                match slot.compare_exchange(v, 0, Ordering::Acquire, Ordering::Relaxed) {
                    Ok(_) => {
                        freed += slot_count(v);
                        break;
                    }
                    Err(actual) => v = actual,
                }
            }
        }
        freed
    }

    /// A relaxed snapshot, for `Debug` and tests only.
    pub(crate) fn snapshot(&self) -> Scan {
        let mut values = [0; SLOTS];
        let mut sum = 0u64;
        for (v, slot) in values.iter_mut().zip(self.slots.iter()) {
            // Relaxed: a diagnostic, stale the moment it is read.
            *v = slot.load(Ordering::Relaxed);
            sum += slot_count(*v);
        }
        Scan { values, sum }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn probe_positions_cover_every_slot_once_and_change_lines() {
        let mut seen = [false; SLOTS];
        for p in 0..SLOTS {
            let i = slot_at(p);
            assert!(!seen[i], "slot {i} twice");
            seen[i] = true;
            assert_ne!(
                i / PER_LINE,
                slot_at(p + 1) / PER_LINE,
                "positions {p}, {} share a line",
                p + 1
            );
        }
        assert_eq!(core::mem::size_of::<Holders>(), SLOTS * 8);
        assert_eq!(core::mem::align_of::<Holders>(), 64);
    }

    #[test]
    fn claims_and_releases_count_per_process_and_free_at_zero() {
        let h = Holders::new();
        let a = h.claim(7).expect("a slot");
        assert_eq!(h.claim(7), Some(a), "the same process shares its slot");
        let b = h.claim(9).expect("a slot");
        assert_ne!(a, b);
        assert_eq!(h.sum(), 3);
        let scan = h.scan();
        assert_eq!(scan.processes(), 2);
        assert_eq!(scan.others(7).collect::<Vec<_>>(), [9]);
        assert!(h.release(7, a));
        assert!(h.release(7, b), "the hint is only a hint");
        assert!(!h.release(7, a), "nothing left to give back");
        assert!(h.release(9, 0));
        assert_eq!(h.sum(), 0);
        assert!(h.snapshot().values.iter().all(|&v| v == 0), "a slot is freed at 0");
    }

    #[test]
    fn a_full_table_has_no_room_and_reclaim_frees_a_process_slots() {
        let h = Holders::new();
        for token in 1..=SLOTS as u32 {
            assert!(h.claim(token).is_some());
        }
        assert_eq!(h.claim(1000), None);
        assert!(!h.scan().room_for(1000));
        assert!(h.scan().room_for(5));
        assert!(h.claim(5).is_some());
        assert_eq!(h.reclaim(5), 2);
        assert!(h.scan().room_for(1000));
        assert_eq!(h.sum(), SLOTS as u64 - 1);
    }

    #[test]
    fn garbage_slots_count_and_are_reclaimable() {
        let h = Holders::new();
        h.slots[3].store(42, Ordering::Relaxed); // token 0, count 42
        h.slots[4].store(7 << 32, Ordering::Relaxed); // token 7, count 0
        assert_eq!(h.sum(), 42);
        assert_eq!(h.scan().others(1).collect::<Vec<_>>(), [0, 7]);
        assert_eq!(h.reclaim(7), 0);
        assert_eq!(h.snapshot().values[4], 0, "a count-0 slot is freed too");
        assert!(h.reclaim(0) > 0);
        assert_eq!(h.sum(), 0);
    }
}
