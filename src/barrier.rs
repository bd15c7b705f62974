//! [`ShmBarrier`]: a process-shared barrier that breaks, rather than hangs,
//! when a party dies before arriving.
//!
//! # The words
//!
//! | word | bits | field | meaning |
//! |---|---|---|---|
//! | `word` (`u64`) | 0..31 | phase | bumped (wrapping) when a generation ends: all parties arrived, or `reset` |
//! | | 31 | `BROKEN` | the current phase is broken: every wait in it fails |
//! | | 32..40 | arrived | parties that arrived in the current phase |
//! | | 40..64 | generation | generations completed (all parties arrived), wrapping at 2^24 |
//! | `parties` (`u32`) | | | how many parties the barrier is for, 1..=64; written by the initializer, never changed after. 0 (zeroed memory) makes `join` fail |
//! | `slots[i].token` (`u32`) | | | the process token of the party in place `i` (`i < parties`); 0 = free |
//! | `slots[i].arrival` (`u32`) | | | `ARRIVED \| phase` once that party arrived in `phase`; 0 = not arrived |
//!
//! The low half of `word` (phase and `BROKEN`) is the futex the waiters
//! sleep on: it changes exactly when a waiter must look (its generation
//! ended, or broke). Arrivals change only the high half, so they wake
//! nobody.
//!
//! Transitions of `word` (each one CAS):
//!
//! | from | to | by | ordering |
//! |---|---|---|---|
//! | `p`, arrived `a`, `a + 1 < parties` | `p`, `a + 1` | a party arriving; then it records `ARRIVED \| p` in its slot and sleeps | acq-rel |
//! | `p`, arrived `parties - 1`, generation `g` | `p + 1`, 0, `g + 1`; wake all | the last party (the leader) | acq-rel |
//! | `p` | `p \| BROKEN`; wake all | `abort`; a wait that timed out; a waiter that proved a missing party dead; a party leaving while others wait | acq-rel |
//! | `p[\| BROKEN]`, `a`, `g` | `p + 1`, 0, `g`; wake all | `reset` | acq-rel |
//! | `p \| BROKEN` | — | arrivals fail with `Broken` without counting | — |
//!
//! A party that arrived in phase `p` with generation `g` waits until the
//! phase moves or breaks. If the phase moved and the generation moved, its
//! generation completed: it passes. If the phase moved and the generation did
//! not, a `reset` ended it: `Broken`. At most one generation can complete
//! while it waits, since every later one needs its arrival and a barrier
//! never has more joined parties than `parties` (one slot each, only
//! `slots[..parties]` are used), so the generation field needs no more than
//! one bit for this; the rest counts generations for `Debug` and
//! inspection. (A waiter that is not scheduled while 2^31 resets happen
//! could miss its wakeup, like every 32-bit futex sequence.)
//!
//! # Party death
//!
//! Each party records its process token in its slot when it joins, so the
//! barrier knows whom it waits for. A waiter watches the processes of the
//! joined parties that have not arrived (`plan_sleep_many` in `sync/`: a
//! watcher thread per process reports its death, the waiter sleeps on the
//! phase and the process-wide death epoch at once), and on every wakeup
//! proves each of them alive or dead with the kernel's answer
//! (`owner_liveness`: nobody holds its token). A proven death breaks the
//! phase. Without a watch it re-checks every [`UNWATCHED_RECHECK`]; with
//! one, or with nobody to watch, every `WATCHED_RECHECK` (50 ms) as a
//! safety net: it also bounds the sleep of a waiter whose wake-up was lost
//! with a process killed between a CAS that ended the phase and its futex
//! wake. A party that joins after a waiter went to sleep is checked at the
//! next re-check.
//!
//! A party records its arrival in its slot right after the CAS that counts
//! it, so a party killed between the two (or right after it arrived and
//! before its generation completed) looks missing, and dead: the phase
//! breaks although it may have completed. That is the conservative side: a
//! death at the barrier never hangs the others.

use core::fmt;
use core::time::Duration;

use crate::raw_mutex::word::low_half;
use crate::sync::{
    current_thread, futex_wait_low, futex_wake_low, owner_liveness, plan_sleep_many, sleep_watched,
    AtomicU32, AtomicU64, Backoff, Instant, Liveness, Ordering, SleepPlan, LIVENESS_RECHECK,
    LOCK_WAIT, WATCHED_RECHECK,
};

/// The most parties a [`ShmBarrier`] can be for.
pub(crate) const MAX_PARTIES: usize = 64;

const PHASE_MASK: u64 = (1 << 31) - 1;
const BROKEN: u64 = 1 << 31;
const ARRIVED_SHIFT: u32 = 32;
const ARRIVED_ONE: u64 = 1 << ARRIVED_SHIFT;
const GENERATION_SHIFT: u32 = 40;
/// A slot's arrival mark: `ARRIVED | phase`.
const ARRIVED: u32 = 1 << 31;

/// How often a waiter re-checks the liveness of the parties it waits for
/// when the kernel cannot report their death (no `futex_waitv`, or no
/// watcher thread). Barrier waits are long, and the promise is a break
/// within a second of a death: the mutex's hand-off interval (0.5 ms)
/// would cost every waiter ~2 % of a CPU for nothing.
const UNWATCHED_RECHECK: Duration = Duration::from_millis(10);

fn phase(w: u64) -> u32 {
    (w & PHASE_MASK) as u32
}

fn is_broken(w: u64) -> bool {
    w & BROKEN != 0
}

fn arrived(w: u64) -> u32 {
    ((w >> ARRIVED_SHIFT) & 0xFF) as u32
}

fn generation(w: u64) -> u32 {
    (w >> GENERATION_SHIFT) as u32
}

/// `w` with the next phase, no arrivals, not broken, and the generation
/// moved by `completed` (1 when all parties arrived, 0 for a reset).
fn next_phase(w: u64, completed: u32) -> u64 {
    let phase = u64::from(phase(w).wrapping_add(1)) & PHASE_MASK;
    let generation = u64::from(generation(w).wrapping_add(completed)) << GENERATION_SHIFT;
    phase | generation
}

/// One place of a party.
#[repr(C)]
struct Slot {
    token: AtomicU32,
    arrival: AtomicU32,
}

impl Slot {
    #[cfg(not(loom))]
    #[allow(clippy::declare_interior_mutable_const)]
    const FREE: Slot = Slot { token: AtomicU32::new(0), arrival: AtomicU32::new(0) };
}

/// A barrier that lives in shared memory: `parties` processes (or threads)
/// wait for each other at [`wait`](BarrierParty::wait), generation after
/// generation.
///
/// Each party first [`join`](Self::join)s, which records its process, so
/// that the barrier knows whom it waits for: if a joined party's process
/// dies before it arrives, the barrier *breaks* instead of hanging.
///
/// A broken barrier fails every wait in progress and every later one with
/// [`BarrierError::Broken`], until [`reset`](Self::reset). It breaks when:
///
/// * [`abort`](Self::abort) is called;
/// * a [`wait_timeout`](BarrierParty::wait_timeout) times out (Python's
///   rule): that wait returns [`BarrierTimeoutError::TimedOut`], every other one
///   `Broken`;
/// * a party that joined dies before arriving (its process and every child
///   it forked without exec have exited or exec'd: the kernel's proof, the
///   crate's owner-liveness rule). The waiters learn it within milliseconds
///   (a watcher thread per process waited for), and at the latest within
///   about 50 ms. A party that dies at the moment it arrives may break the
///   generation it arrived at;
/// * a party leaves (its [`BarrierParty`] is dropped) while others wait in
///   a generation it has not arrived at: they would wait for it forever.
///
/// Death is proven through the segment that holds the barrier: a barrier
/// outside a [`Segment`](crate::Segment) (a `static`, a `Box`) never
/// breaks for a death.
///
/// A generation opens when `parties` parties have arrived; exactly one of
/// them, the last, is told it is the leader. Parties that have not joined
/// yet are waited for like any other: to wait only once everyone has
/// joined, check [`joined`](Self::joined) first, or wait with a timeout.
///
/// # Setting it up
///
/// Zeroed memory is a barrier for 0 parties, which every `join` refuses
/// with [`BarrierJoinError::InvalidParties`]: the segment's initializer sets
/// the party count, `create_with(name, |s| s.gate = ShmBarrier::new(3))`.
/// At most [`MAX_PARTIES`](Self::MAX_PARTIES) (64) parties; the barrier takes 528 bytes. The
/// state tables are in the source (`src/barrier.rs`).
///
/// # Examples
///
/// ```
/// use shmsync::{Segment, ShmBarrier, ShmSafe};
///
/// #[derive(ShmSafe)]
/// #[repr(C)]
/// struct Shared {
///     gate: ShmBarrier,
/// }
///
/// # let name = format!("doc-barrier-{}", std::process::id());
/// let seg = Segment::<Shared>::create_with(&name, |s| s.gate = ShmBarrier::new(2))?;
/// // Threads here; processes that open the segment work the same way.
/// std::thread::scope(|s| {
///     let worker = s.spawn(|| {
///         let mut me = seg.gate.join().expect("a place is free");
///         me.wait().expect("not broken").is_leader()
///     });
///     let mut me = seg.gate.join().expect("a place is free");
///     let here = me.wait().expect("not broken").is_leader();
///     let there = worker.join().unwrap();
///     assert!(here != there, "exactly one leader");
/// });
/// # Ok::<(), shmsync::Error>(())
/// ```
#[repr(C)]
pub struct ShmBarrier {
    /// Phase, `BROKEN`, arrivals, generation: see the module docs.
    word: AtomicU64,
    /// Set by the initializer.
    parties: AtomicU32,
    /// Zero; keeps `slots` 8-aligned and the type free of padding.
    reserved: AtomicU32,
    slots: [Slot; MAX_PARTIES],
}

const BROKEN_MSG: &str = "the barrier is broken (aborted, a wait timed out, a party died or \
                          left before arriving, or it was reset)";

/// The message of an `InvalidParties` error for `parties` parties.
fn invalid_parties_message(parties: u32) -> String {
    format!(
        "the barrier is for {parties} parties, not 1..=64: set it up in the segment's \
         initializer with ShmBarrier::new(n)"
    )
}

/// Why [`ShmBarrier::join`] gave no party.
///
/// It does not convert into [`Error`](crate::Error); `?` passes it up as a
/// `Box<dyn std::error::Error>` (or an `anyhow::Error`).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BarrierJoinError {
    /// Every place is taken (a party whose process died keeps its place
    /// until [`reset`](ShmBarrier::reset)).
    #[error("all {parties} parties of the barrier have joined")]
    Full {
        /// The barrier's party count.
        parties: usize,
    },
    /// The barrier's party count is not in `1..=64`: it is zeroed memory
    /// that no initializer set up (`ShmBarrier::new(n)`), or it was
    /// overwritten.
    #[error("{}", invalid_parties_message(*.0))]
    InvalidParties(u32),
}

/// Why a [`BarrierParty::wait`] did not pass the barrier.
///
/// It does not convert into [`Error`](crate::Error); `?` passes it up as a
/// `Box<dyn std::error::Error>` (or an `anyhow::Error`).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BarrierError {
    /// The barrier is broken: it was aborted, a wait timed out, a party
    /// died or left before arriving, or it was reset while this party
    /// waited. Every wait fails so until [`ShmBarrier::reset`].
    #[error("{}", BROKEN_MSG)]
    Broken,
    /// As [`BarrierJoinError::InvalidParties`]: the barrier's memory was
    /// overwritten since this party joined.
    #[error("{}", invalid_parties_message(*.0))]
    InvalidParties(u32),
}

/// Why a [`BarrierParty::wait_timeout`] did not pass the barrier.
///
/// It does not convert into [`Error`](crate::Error); `?` passes it up as a
/// `Box<dyn std::error::Error>` (or an `anyhow::Error`).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BarrierTimeoutError {
    /// As [`BarrierError::Broken`].
    #[error("{}", BROKEN_MSG)]
    Broken,
    /// As [`BarrierError::InvalidParties`].
    #[error("{}", invalid_parties_message(*.0))]
    InvalidParties(u32),
    /// This wait timed out, and so broke the barrier: the other waiters
    /// get [`Broken`](Self::Broken).
    #[error("the barrier wait timed out (the barrier is now broken for every party)")]
    TimedOut,
}

impl From<BarrierError> for BarrierTimeoutError {
    fn from(e: BarrierError) -> Self {
        match e {
            BarrierError::Broken => BarrierTimeoutError::Broken,
            BarrierError::InvalidParties(n) => BarrierTimeoutError::InvalidParties(n),
        }
    }
}

/// What a successful [`wait`](BarrierParty::wait) tells a party.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarrierWaitResult {
    leader: bool,
}

impl BarrierWaitResult {
    /// Whether this party is the generation's leader: exactly one party
    /// per generation is (the one that arrived last).
    #[must_use]
    pub fn is_leader(&self) -> bool {
        self.leader
    }
}

/// A party of a [`ShmBarrier`]: what [`ShmBarrier::join`] returns, and what
/// waits. It belongs to the process that joined (any of its threads may use
/// it). Dropping it leaves the barrier, freeing its place for another
/// party (and breaking the barrier if others were waiting for it). A child
/// `fork`ed after the join is not that party: its copy does nothing when
/// dropped, and waiting with it panics (the child must `join` itself).
#[must_use = "dropping the party leaves the barrier at once"]
pub struct BarrierParty<'a> {
    barrier: &'a ShmBarrier,
    slot: usize,
    token: u32,
}

impl ShmBarrier {
    /// The most parties a barrier can be for.
    pub const MAX_PARTIES: usize = MAX_PARTIES;

    crate::sync::const_unless_loom! {
        /// A barrier for `parties` parties, none joined yet.
        ///
        /// # Panics
        ///
        /// If `parties` is 0 or more than [`MAX_PARTIES`](Self::MAX_PARTIES)
        /// (at compile time in a `const`).
        #[must_use]
        pub const fn new(parties: usize) -> Self {
            assert!(parties >= 1 && parties <= MAX_PARTIES, "a ShmBarrier is for 1..=64 parties");
            ShmBarrier {
                word: AtomicU64::new(0),
                parties: AtomicU32::new(parties as u32),
                reserved: AtomicU32::new(0),
                slots: [Slot::FREE; MAX_PARTIES],
            }
        } loom {
            assert!((1..=MAX_PARTIES).contains(&parties), "a ShmBarrier is for 1..=64 parties");
            ShmBarrier {
                word: AtomicU64::new(0),
                parties: AtomicU32::new(parties as u32),
                reserved: AtomicU32::new(0),
                slots: core::array::from_fn(|_| Slot {
                    token: AtomicU32::new(0),
                    arrival: AtomicU32::new(0),
                }),
            }
        }
    }

    /// The party count, validated: shared memory may hold anything. The
    /// error is the invalid count, for each operation's `InvalidParties`.
    fn parties_checked(&self) -> Result<u32, u32> {
        // Relaxed: written once by the initializer, before publication.
        let parties = self.parties.load(Ordering::Relaxed);
        if parties == 0 || parties as usize > MAX_PARTIES {
            return Err(parties);
        }
        Ok(parties)
    }

    /// The places in use: `slots[..parties]` (all of them, bounded, if the
    /// party count is invalid).
    fn used_slots(&self) -> &[Slot] {
        // Relaxed: as in `parties_checked`.
        let parties = self.parties.load(Ordering::Relaxed) as usize;
        &self.slots[..parties.min(MAX_PARTIES)]
    }

    /// The address the death proofs use to find the barrier's segment.
    fn addr(&self) -> usize {
        core::ptr::from_ref(&self.word) as usize
    }

    /// Joins the barrier as one of its parties, recording this process so
    /// that its death breaks the barrier instead of hanging the others.
    /// Joining a broken barrier works (its waits fail until
    /// [`reset`](Self::reset)).
    ///
    /// # Errors
    ///
    /// [`BarrierJoinError::Full`] if `parties` parties have joined already;
    /// [`BarrierJoinError::InvalidParties`] if the barrier was never set up
    /// (zeroed memory) or holds garbage.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmsync::{BarrierJoinError, ShmBarrier};
    ///
    /// let gate = ShmBarrier::new(1);
    /// let mut me = gate.join()?;
    /// assert!(matches!(gate.join(), Err(BarrierJoinError::Full { parties: 1 })));
    /// assert!(me.wait()?.is_leader()); // one party: every wait opens at once
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join(&self) -> Result<BarrierParty<'_>, BarrierJoinError> {
        let parties = self.parties_checked().map_err(BarrierJoinError::InvalidParties)?;
        let token = current_thread().token;
        for (i, slot) in self.slots[..parties as usize].iter().enumerate() {
            // Acquire: pairs with the release CAS of a party that left,
            // after it cleared the slot's arrival.
            if slot.token.compare_exchange(0, token, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                // Relaxed: a hint for waiters' death checks only.
                slot.arrival.store(0, Ordering::Relaxed);
                return Ok(BarrierParty { barrier: self, slot: i, token });
            }
        }
        Err(BarrierJoinError::Full { parties: parties as usize })
    }

    /// Breaks the barrier: every party waiting now, and every later wait,
    /// fails with [`BarrierError::Broken`] until [`reset`](Self::reset).
    pub fn abort(&self) {
        // Whatever phase is current when the CAS lands (a generation that
        // opens meanwhile does not make the abort miss).
        self.break_current(|_| true);
    }

    /// Sets `BROKEN` on the current phase if `when` says so of the current
    /// word and it is not broken yet; wakes every waiter if it did. True if
    /// this call broke it.
    fn break_current(&self, when: impl Fn(u64) -> bool) -> bool {
        // Relaxed: the CAS re-checks.
        let mut w = self.word.load(Ordering::Relaxed);
        while !is_broken(w) && when(w) {
            // AcqRel: see `reset`.
            match self.word.compare_exchange_weak(
                w,
                w | BROKEN,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    futex_wake_low(&self.word, u32::MAX);
                    return true;
                }
                Err(actual) => w = actual,
            }
        }
        false
    }

    /// Makes the barrier usable again: a new generation with no arrivals,
    /// not broken. Parties that are waiting now fail with
    /// [`BarrierError::Broken`] (Python's rule); joined parties stay joined,
    /// except those whose processes died, whose places are freed for new
    /// parties to [`join`](Self::join).
    pub fn reset(&self) {
        let me = current_thread().token;
        for slot in self.used_slots() {
            // Relaxed: a place is freed only on the kernel's proof that its
            // process is gone, which orders what that process did.
            let token = slot.token.load(Ordering::Relaxed);
            if token != 0 && token != me && owner_liveness(self.addr(), token) == Liveness::Dead {
                slot.arrival.store(0, Ordering::Relaxed);
                // Release: pairs with the acquire CAS in `join`.
                let _ = slot.token.compare_exchange(token, 0, Ordering::Release, Ordering::Relaxed);
            }
        }
        // Relaxed: the CAS re-checks.
        let mut w = self.word.load(Ordering::Relaxed);
        loop {
            // AcqRel: as every transition of the word (a release sequence
            // that the waiters' acquire loads read from).
            match self.word.compare_exchange_weak(
                w,
                next_phase(w, 0),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => w = actual,
            }
        }
        futex_wake_low(&self.word, u32::MAX);
    }

    /// How many parties the barrier is for (as stored: 0 for a barrier
    /// that was never set up).
    #[must_use]
    pub fn parties(&self) -> usize {
        // Relaxed: written once by the initializer.
        self.parties.load(Ordering::Relaxed) as usize
    }

    /// How many parties have joined and not left (a snapshot). A party
    /// whose process died counts until [`reset`](Self::reset).
    #[must_use]
    pub fn joined(&self) -> usize {
        // Relaxed: a snapshot.
        self.used_slots().iter().filter(|s| s.token.load(Ordering::Relaxed) != 0).count()
    }

    /// Whether the barrier is broken (a snapshot).
    #[must_use]
    pub fn is_broken(&self) -> bool {
        // Relaxed: a snapshot.
        is_broken(self.word.load(Ordering::Relaxed))
    }

    /// Breaks phase `p` unless it ended or broke already; wakes every
    /// waiter. True if this call broke it.
    fn break_phase(&self, p: u32) -> bool {
        self.break_current(|w| phase(w) == p)
    }

    /// Counts the arrival of the party in `slot`.
    fn arrive(&self, slot: usize, parties: u32) -> Result<Arrival, BarrierError> {
        // Relaxed: the CAS re-checks and orders.
        let mut w = self.word.load(Ordering::Relaxed);
        loop {
            if is_broken(w) {
                return Err(BarrierError::Broken);
            }
            let last = arrived(w) + 1 >= parties;
            let new = if last { next_phase(w, 1) } else { w + ARRIVED_ONE };
            // AcqRel: the release half publishes what this party did before
            // the barrier to every party that passes it (the arrivals form a
            // release sequence on the word, which the leader's CAS extends);
            // the acquire half gives the leader what the others did.
            match self.word.compare_exchange_weak(w, new, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) if last => {
                    futex_wake_low(&self.word, u32::MAX);
                    return Ok(Arrival::Leader);
                }
                Ok(_) => {
                    if let Some(s) = self.slots.get(slot) {
                        // Relaxed: a hint for the death checks of waiters.
                        s.arrival.store(ARRIVED | phase(w), Ordering::Relaxed);
                    }
                    return Ok(Arrival::Waiting { phase: phase(w), generation: generation(w) });
                }
                Err(actual) => w = actual,
            }
        }
    }

    /// The outcome of a wait that arrived in `phase` with `generation`, if
    /// it has one in word `w`.
    fn outcome(
        w: u64,
        phase_: u32,
        generation_: u32,
    ) -> Option<Result<BarrierWaitResult, BarrierError>> {
        if phase(w) != phase_ {
            // At most one generation completes while a party waits.
            return Some(if generation(w) != generation_ {
                Ok(BarrierWaitResult { leader: false })
            } else {
                Err(BarrierError::Broken)
            });
        }
        if is_broken(w) {
            return Some(Err(BarrierError::Broken));
        }
        None
    }

    /// The process tokens of the joined parties that have not arrived in
    /// phase `p`, without `me` (a live process) and without repeats.
    fn missing(&self, p: u32, me: u32) -> ([u32; MAX_PARTIES], usize) {
        let mut tokens = [0u32; MAX_PARTIES];
        let mut n = 0;
        for slot in self.used_slots() {
            // Relaxed: hints; a death is proven by the kernel, and a party
            // that looks missing but arrived can only be judged dead if it
            // is.
            let token = slot.token.load(Ordering::Relaxed);
            if token == 0 || token == me || slot.arrival.load(Ordering::Relaxed) == ARRIVED | p {
                continue;
            }
            if !tokens[..n].contains(&token) {
                tokens[n] = token;
                n += 1;
            }
        }
        (tokens, n)
    }

    /// Arrives as the party in `slot` and waits until the generation
    /// opens, breaks or `deadline` passes.
    fn wait_as(
        &self,
        slot: usize,
        deadline: Option<Instant>,
    ) -> Result<BarrierWaitResult, BarrierTimeoutError> {
        let parties = self.parties_checked().map_err(BarrierTimeoutError::InvalidParties)?;
        let (p, g) = match self.arrive(slot, parties)? {
            Arrival::Leader => return Ok(BarrierWaitResult { leader: true }),
            Arrival::Waiting { phase, generation } => (phase, generation),
        };
        let me = current_thread().token;
        // The last parties of a generation often arrive within a few
        // scheduler rounds: yield before sleeping, as a lock waiter does.
        let mut backoff = Backoff::new(LOCK_WAIT);
        loop {
            // Acquire: pairs with the leader's (or a breaker's) AcqRel CAS,
            // so a party that passes sees what every party did before it
            // arrived.
            let w = self.word.load(Ordering::Acquire);
            if let Some(outcome) = Self::outcome(w, p, g) {
                return outcome.map_err(BarrierTimeoutError::from);
            }
            let left = match deadline {
                None => None,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        if self.break_phase(p) {
                            return Err(BarrierTimeoutError::TimedOut);
                        }
                        // It opened or broke meanwhile: report that.
                        continue;
                    }
                    Some(left)
                }
            };
            if !backoff.is_completed() {
                backoff.snooze();
                continue;
            }
            let (tokens, n) = self.missing(p, me);
            let plan = plan_sleep_many(self.addr(), &tokens[..n]);
            let recheck = match plan {
                SleepPlan::Dead => {
                    self.break_phase(p);
                    continue;
                }
                SleepPlan::Watched { .. } => LIVENESS_RECHECK.map(|_| WATCHED_RECHECK),
                SleepPlan::Poll => LIVENESS_RECHECK.map(|_| UNWATCHED_RECHECK),
                // Nobody to watch (the missing parties, if any, are in this
                // process), but a process killed between a CAS that ends
                // the phase and its wake-up would leave us asleep: look
                // again now and then.
                SleepPlan::Never => LIVENESS_RECHECK.map(|_| WATCHED_RECHECK),
            };
            let timeout = match (left, recheck) {
                (Some(l), Some(r)) => Some(l.min(r)),
                (l, r) => l.or(r),
            };
            // Whatever ends the sleep (a new phase, a break, a death
            // reported, a signal, the timeout), the loop re-checks.
            match plan {
                SleepPlan::Watched { epoch } => {
                    sleep_watched(&self.word, low_half(w), epoch, timeout);
                }
                _ => {
                    futex_wait_low(&self.word, low_half(w), timeout);
                }
            }
        }
    }

    /// The party in `slot` (holding `token`) leaves.
    fn leave(&self, slot: usize, token: u32) {
        // If others wait in the current phase, which this party has not
        // arrived at (it is not waiting itself), they would wait for it
        // forever: break it.
        self.break_current(|w| arrived(w) > 0);
        if let Some(s) = self.slots.get(slot) {
            // Relaxed: published by the release CAS below.
            s.arrival.store(0, Ordering::Relaxed);
            // Release: pairs with the acquire CAS in `join`. Fails only if
            // the slot was overwritten: then it is not ours to free.
            let _ = s.token.compare_exchange(token, 0, Ordering::Release, Ordering::Relaxed);
        }
    }
}

/// What [`ShmBarrier::arrive`] did.
enum Arrival {
    /// This arrival opened the generation.
    Leader,
    /// Counted in `phase`, whose generation number was `generation`.
    Waiting { phase: u32, generation: u32 },
}

impl<'a> BarrierParty<'a> {
    /// Arrives at the barrier and waits until every party has arrived (the
    /// generation opens), then returns, telling exactly one party per
    /// generation that it is the leader. Everything every party did before
    /// arriving is visible to every party after the wait.
    ///
    /// # Errors
    ///
    /// [`BarrierError::Broken`] if the barrier is or becomes broken before
    /// the generation opens (see [`ShmBarrier`]), or is reset meanwhile;
    /// [`BarrierError::InvalidParties`] if the barrier's memory was
    /// overwritten.
    ///
    /// # Panics
    ///
    /// In a process other than the one that joined (a copy of the party
    /// inherited across `fork`).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmsync::{BarrierError, ShmBarrier};
    ///
    /// let gate = ShmBarrier::new(2);
    /// let mut me = gate.join()?;
    /// gate.abort();
    /// assert_eq!(me.wait(), Err(BarrierError::Broken));
    /// gate.reset();
    /// # Ok::<(), shmsync::BarrierJoinError>(())
    /// ```
    pub fn wait(&mut self) -> Result<BarrierWaitResult, BarrierError> {
        self.check_process();
        match self.barrier.wait_as(self.slot, None) {
            Ok(r) => Ok(r),
            Err(BarrierTimeoutError::Broken) => Err(BarrierError::Broken),
            Err(BarrierTimeoutError::InvalidParties(n)) => Err(BarrierError::InvalidParties(n)),
            Err(BarrierTimeoutError::TimedOut) => {
                unreachable!("a wait without a deadline does not time out")
            }
        }
    }

    /// Panics in a process other than the one that joined (a copy inherited
    /// across `fork`): it would arrive in the joined process's place.
    fn check_process(&self) {
        let me = current_thread().token;
        assert!(
            me == self.token,
            "a BarrierParty was used in a process that did not join (a copy inherited across \
             fork): join the barrier in this process"
        );
    }

    /// As [`wait`](Self::wait), but if the generation has not opened after
    /// `timeout`, breaks the barrier (Python's rule: the parties must not
    /// go on believing they are in step) and returns
    /// [`BarrierTimeoutError::TimedOut`]; the other waiters get `Broken`.
    ///
    /// # Errors
    ///
    /// [`BarrierTimeoutError::TimedOut`] as above; otherwise as
    /// [`wait`](Self::wait) (`Broken`, `InvalidParties`).
    ///
    /// # Panics
    ///
    /// As [`wait`](Self::wait).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmsync::{BarrierTimeoutError, ShmBarrier};
    /// use std::time::Duration;
    ///
    /// let gate = ShmBarrier::new(2);
    /// let mut me = gate.join()?;
    /// assert_eq!(me.wait_timeout(Duration::from_millis(1)), Err(BarrierTimeoutError::TimedOut));
    /// assert!(gate.is_broken());
    /// # Ok::<(), shmsync::BarrierJoinError>(())
    /// ```
    pub fn wait_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<BarrierWaitResult, BarrierTimeoutError> {
        self.check_process();
        // A deadline beyond the clock's range is no deadline.
        self.barrier.wait_as(self.slot, Instant::now().checked_add(timeout))
    }

    /// The barrier this party joined.
    #[must_use]
    pub fn barrier(&self) -> &'a ShmBarrier {
        self.barrier
    }

    /// Leaves the barrier (the same as dropping the party): its place is
    /// free for another party to join. If other parties are waiting in a
    /// generation this party has not arrived at, the barrier breaks.
    pub fn leave(self) {}
}

impl Drop for BarrierParty<'_> {
    fn drop(&mut self) {
        // A forked child's copy is not the party: the place stays the
        // joined process's.
        if current_thread().token == self.token {
            self.barrier.leave(self.slot, self.token);
        }
    }
}

impl fmt::Debug for BarrierParty<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierParty").field("place", &self.slot).finish_non_exhaustive()
    }
}

impl fmt::Debug for ShmBarrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Relaxed: a diagnostic snapshot.
        let w = self.word.load(Ordering::Relaxed);
        f.debug_struct("ShmBarrier")
            .field("parties", &self.parties())
            .field("joined", &self.joined())
            .field("arrived", &arrived(w))
            .field("generation", &(generation(w) & 0xFF_FFFF))
            .field("broken", &is_broken(w))
            .finish()
    }
}

/// Where inspection finds a barrier's words (see `inspect/fields.rs`).
#[cfg(not(loom))]
pub(crate) mod words {
    /// Bytes from the barrier's start to its party count (`u32`).
    pub(crate) const PARTIES_OFFSET: u64 = 8;
    /// Bytes from the barrier's start to `slots[0]`.
    pub(crate) const SLOTS_OFFSET: u64 = 16;
    /// Bytes per slot: its token (`u32`) then its arrival (`u32`).
    pub(crate) const SLOT_SIZE: u64 = 8;
    pub(crate) use super::MAX_PARTIES;

    const _: () = {
        assert!(core::mem::offset_of!(super::ShmBarrier, parties) as u64 == PARTIES_OFFSET);
        assert!(core::mem::offset_of!(super::ShmBarrier, slots) as u64 == SLOTS_OFFSET);
        assert!(core::mem::size_of::<super::Slot>() as u64 == SLOT_SIZE);
        assert!(core::mem::size_of::<super::ShmBarrier>() == 528);
    };

    /// `(arrived, generation, broken)` of the barrier's word.
    pub(crate) fn decode(w: u64) -> (u32, u32, bool) {
        (super::arrived(w), super::generation(w) & 0xFF_FFFF, super::is_broken(w))
    }
}

#[cfg(not(loom))]
mod shm_safe_impl {
    use super::ShmBarrier;
    use crate::shm_safe::{fingerprint, ShmSafe};

    // SAFETY: `ShmBarrier` is `repr(C)`, atomics only (a `u64`, two `u32`,
    // 64 pairs of `u32`), no padding (the offsets are asserted in `words`),
    // no pointer, no Drop, Send + Sync. Every bit pattern is a valid value:
    // the party count is validated before use, slots are indexed below the
    // array's length only, and garbage words yield errors or early
    // openings, never UB. All-zero is a barrier for 0 parties that `join`
    // refuses with an error.
    unsafe impl ShmSafe for ShmBarrier {
        const TYPE_NAME: &'static str = "ShmBarrier";
        const FINGERPRINT: u64 = fingerprint::tagged(
            fingerprint::SEED,
            "shmsync::ShmBarrier/phase-slots-v1",
            &[super::MAX_PARTIES as u64],
        );
        const LAYOUT: crate::layout::Layout =
            crate::layout::Layout::leaf(crate::layout::Kind::Barrier);
    }
}

#[cfg(all(test, not(loom)))]
mod error_tests {
    use super::{BarrierError, BarrierJoinError, BarrierTimeoutError};

    /// A failure two operations share reads the same from each, and a
    /// wait's error converts to the same variant of a timed wait's.
    #[test]
    fn shared_failures_read_and_convert_alike() {
        let broken = BarrierError::Broken;
        assert_eq!(BarrierTimeoutError::from(broken), BarrierTimeoutError::Broken);
        assert_eq!(BarrierTimeoutError::Broken.to_string(), broken.to_string());
        let invalid = BarrierError::InvalidParties(0);
        assert_eq!(BarrierTimeoutError::from(invalid), BarrierTimeoutError::InvalidParties(0));
        assert_eq!(BarrierJoinError::InvalidParties(0).to_string(), invalid.to_string());
        assert!(invalid.to_string().contains("ShmBarrier::new"), "{invalid}");
        assert!(BarrierTimeoutError::TimedOut.to_string().contains("timed out"));
    }
}
