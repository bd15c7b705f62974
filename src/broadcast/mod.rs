//! [`Broadcast<T, N>`]: a bounded ring in shared memory that delivers every
//! value to every receiver, in order, with `tokio::sync::broadcast`'s
//! semantics, and survives a sender killed at any instruction.
//!
//! * `slot.rs` — one slot: its stamp, how it is written and read (the slot
//!   state table).
//! * `head.rs` — the sender lock, the sequence word (the sequence state
//!   table) and what a sender's death leaves behind.
//! * `wake.rs` — how receivers sleep and senders wake them.
//! * `receiver.rs` — [`Receiver`], the process-local cursor, and how it
//!   waits.
//! * `error.rs` — the errors.
//! * `mutant.rs` — bugs the loom models are checked against (loom only).

mod error;
mod head;
mod mutant;
mod receiver;
mod slot;
mod wake;

use crate::raw_mutex::FromRefusal;
use crate::raw_mutex::{Acquired, RawLockError, RawState};
use crate::sync::Instant;
use crate::{CachePadded, ShmSafe};
use bytemuck::Pod;
use core::fmt;
use core::time::Duration;
use head::{Head, MAX_SEQ};
use slot::{done, seq_of, Read, Slot};

pub use error::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError,
};
pub use receiver::Receiver;

/// A bounded broadcast ring for small `Copy` values in shared memory: every
/// receiver, in any process, gets every value sent after it subscribed, in
/// order, unless it falls more than `N` values behind, and then it is told
/// exactly how many it missed. The semantics of `tokio::sync::broadcast`,
/// across processes.
///
/// * [`send`](Self::send) stores a value in the next slot and returns its
///   *sequence number* (0 for the first value sent into a ring, then 1,
///   2, …). Senders in any number of processes take turns on a robust
///   lock, the same lock word and liveness rules as a
///   [`ShmMutex`](crate::ShmMutex): a sender killed at any instruction is
///   taken over from by the next one, and the sequence goes on without a
///   gap.
/// * [`subscribe`](Self::subscribe) gives a [`Receiver`]: a cursor in the
///   calling process, starting after the newest value.
///   [`Receiver::recv`] blocks until the next value, [`try_recv`]
///   returns at once ([`TryRecvError::Empty`]), [`recv_timeout`] gives
///   up after a while ([`RecvTimeoutError::Timeout`]). A receiver that
///   fell more than `N` values behind gets `Lagged(n)`, `n` being the
///   number of values it missed, and then continues from the oldest value
///   the ring still holds.
///
/// [`try_recv`]: Receiver::try_recv
/// [`recv_timeout`]: Receiver::recv_timeout
///
/// # Guarantees
///
/// * A receiver never gets a torn value (a mix of two sends), never one
///   value twice, never values out of order, and never silently misses
///   one: every value sent after it subscribed is either received or
///   counted in a `Lagged(n)`.
/// * Receivers never block a sender, and a sender never waits for a
///   receiver: a slow receiver lags, it does not slow the ring down.
/// * A sender killed while sending leaves nothing for receivers to wait
///   for: its value is delivered whole or never, and the next sender (in
///   any process) repairs the ring, counts the take-over
///   ([`sender_recoveries`](Self::sender_recoveries)) and continues the
///   sequence. If no sender comes, receivers simply have nothing new.
/// * A send that nobody waits for makes no system call. Receivers that wait
///   spin briefly, then sleep on a futex; senders wake them (a sender that
///   takes over from a dead one wakes them all). A sleeping receiver also
///   looks again every 50 ms on its own, so even a last sender killed
///   between sending and waking cannot strand it.
/// * Every byte of the ring is untrusted: a corrupt word is never undefined
///   behavior. The guarantees above are for processes that use the ring
///   through this type; a program that writes the segment's bytes by hand
///   can break them, as follows. A forged sequence or stamp makes `send`
///   return [`SendError::Corrupt`] (or [`SendError::NotRecoverable`]) and
///   receivers see a lag or nothing new; a receiver that was told of a lag
///   to a forged sequence (2^62 or more) stays there, seeing nothing new:
///   [`resubscribe`](Receiver::resubscribe) it. Value bytes are not
///   checksummed: bytes written into a slot by hand are delivered as they
///   are. A sender-lock word overwritten by hand can let two senders in at
///   once, as for any shmsync lock: their values may then tear, and the
///   unlock that finds its ownership gone panics (see [`send`](Self::send)).
///
/// After a `Lagged(n)` the receiver stands at the oldest value still held,
/// which is the next one a sender overwrites: a receiver that cannot keep
/// up with continuous sending mostly collects lags.
///
/// # What `T` may be
///
/// `T: ShmSafe + Pod`, the bound of [`SeqLock`](crate::SeqLock) and for the
/// same reasons: a receiver may copy a value while a sender overwrites it
/// (and then drops the copy), so every bit pattern must be a valid `T`, and
/// there may be no padding bytes. Derive both with
/// `#[derive(Clone, Copy, ShmSafe, Pod, Zeroable)]`.
///
/// # Capacity
///
/// `N` is the number of values the ring holds, at least 1 (`N = 0` does not
/// compile). Each slot takes whole cache lines: 64 bytes for a `T` of up to
/// 56 bytes. A receiver may fall up to `N` values behind before it loses
/// any. Any `N` works; sizes are constants, so the index arithmetic compiles
/// to multiplications.
///
/// # How
///
/// Value number `s` lives in slot `s % N`. Each slot has a *stamp* word
/// saying which value it holds and whether a sender is writing it; a
/// receiver whose next value is `c` reads slot `c % N` as a seqlock reader
/// does (stamp, copy, fence, stamp again) and compares the stamp with `c`:
/// `c` complete → take it; older → nothing new yet; newer → it lagged, and
/// the sequence word (the count of values sent) tells it how many it
/// missed. The state tables are in the sources (`slot.rs`, `head.rs`,
/// `wake.rs`).
///
/// # Layout
///
/// `#[repr(C)]`: first the head, one 64-byte line, which starts with the
/// sender lock word (a `u64` whose low 30 bits are the owning thread's id
/// while a sender holds it) followed by the sequence word (a `u64`, the
/// number of values sent); then the `N` slots, each starting a cache line.
/// A zeroed `Broadcast` is an empty ring: nothing sent, unlocked. Diagnostic
/// tools and crash tests may read the two words; the layout is covered by
/// the segment's format version and fingerprint.
///
/// # Examples
///
/// ```
/// use shmsync::{Broadcast, TryRecvError};
///
/// let ring: Broadcast<u64, 4> = Broadcast::new();
/// let mut rx = ring.subscribe();
///
/// assert_eq!(ring.send(10)?, 0, "the first value's sequence number");
/// assert_eq!(ring.send(11)?, 1);
/// assert_eq!(rx.try_recv(), Ok(10));
/// assert_eq!(rx.recv(), Ok(11));
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
///
/// // Six more values into four slots: the receiver missed two.
/// for v in 12..18 {
///     ring.send(v)?;
/// }
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Lagged(2)));
/// assert_eq!(rx.try_recv(), Ok(14), "then the oldest value still held");
/// # Ok::<(), shmsync::SendError>(())
/// ```
///
/// In a segment, processes share it like any other field; each process
/// subscribes on its own:
///
/// ```
/// use shmsync::bytemuck::{Pod, Zeroable};
/// use shmsync::{AtomicCounter, Broadcast, ShmSafe};
///
/// #[derive(Clone, Copy, Debug, ShmSafe, Pod, Zeroable)]
/// #[bytemuck(crate = "shmsync::bytemuck")]
/// #[repr(C)]
/// struct Reading {
///     celsius: f64,
///     taken_at_ns: u64,
/// }
///
/// #[derive(ShmSafe)]
/// #[repr(C)]
/// struct Sensor {
///     analyzers_ready: AtomicCounter,
///     readings: Broadcast<Reading, 1024>,
/// }
/// ```
#[repr(C)]
pub struct Broadcast<T: ShmSafe + Pod, const N: usize> {
    head: CachePadded<Head>,
    slots: [Slot<T>; N],
}

// SAFETY: `Broadcast` is shared between threads (and processes) by design:
// the values' bytes sit in `UnsafeCell`s that are only ever accessed as
// atomics (`AtomicWords`), and values of `T` move between threads, which
// `T: Send` allows. Everything else is atomics.
unsafe impl<T: ShmSafe + Pod, const N: usize> Sync for Broadcast<T, N> {}

/// What one receive attempt found.
pub(crate) enum Attempt<T> {
    /// The next value; the cursor moved past it.
    Got(T),
    /// Nothing new; the cursor did not move.
    Empty,
    /// This many values were lost; the cursor moved past them.
    Lagged(u64),
}

impl<T: ShmSafe + Pod, const N: usize> Broadcast<T, N> {
    /// `N > 0`, checked when a ring is made or used (a post-monomorphization
    /// error, as `[T; N]` code has no other way to state it on Rust 1.78).
    const NOT_EMPTY: () = assert!(N > 0, "a Broadcast needs at least one slot: N must be > 0");

    crate::sync::const_unless_loom! {
        /// An empty ring: nothing sent, no sender (the same as zeroed memory).
        ///
        /// # Examples
        ///
        /// ```
        /// let ring = shmsync::Broadcast::<[u8; 16], 64>::new();
        /// assert_eq!((ring.sequence(), ring.capacity()), (0, 64));
        /// ```
        #[must_use]
        pub const fn new() -> Self {
            #[allow(clippy::let_unit_value)]
            let () = Self::NOT_EMPTY;
            Self { head: CachePadded::new(Head::new()), slots: [Slot::EMPTY; N] }
        } loom {
            #[allow(clippy::let_unit_value)]
            let () = Self::NOT_EMPTY;
            Self {
                head: CachePadded::new(Head::new()),
                slots: core::array::from_fn(|_| Slot::empty()),
            }
        }
    }

    /// Sends `value` to every receiver and returns its sequence number.
    ///
    /// Waits for the sender lock while another live sender holds it
    /// (receivers never hold it). If the previous sender died holding it,
    /// this call repairs the ring first (see the type's docs) and counts
    /// the take-over in [`sender_recoveries`](Self::sender_recoveries).
    /// Never waits for a receiver; makes a system call only to wake
    /// receivers that sleep.
    ///
    /// # Errors
    ///
    /// [`SendError::NotRecoverable`] or [`SendError::Corrupt`] if the ring's
    /// shared memory was overwritten by something else. Nothing is sent then.
    ///
    /// # Panics
    ///
    /// If called from inside a [`send_with`](Self::send_with) closure on
    /// the same ring (the thread holds the sender lock already), and if
    /// another process overwrote the sender lock's word while this thread
    /// held it (the robust lock's ownership check).
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = shmsync::Broadcast::<u32, 8>::new();
    /// assert_eq!(ring.send(7)?, 0);
    /// assert_eq!(ring.send(8)?, 1);
    /// assert_eq!(ring.sequence(), 2);
    /// # Ok::<(), shmsync::SendError>(())
    /// ```
    #[inline]
    pub fn send(&self, value: T) -> Result<u64, SendError> {
        let guard = self.lock(self.head.lock(None))?;
        self.send_locked(guard, |_| value)
    }

    /// Sends the value `make` builds from the sequence number it will have
    /// (for values that carry their own number), and returns that number.
    ///
    /// `make` runs while this thread holds the sender lock: keep it short.
    /// If it panics, nothing is sent and the lock is released.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send); `make` is not called then.
    ///
    /// # Panics
    ///
    /// If `make` panics (after the lock is released), if `make` sends on
    /// the same ring, and as [`send`](Self::send).
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = shmsync::Broadcast::<[u64; 2], 8>::new();
    /// let mut rx = ring.subscribe();
    /// let seq = ring.send_with(|seq| [seq, 42])?;
    /// assert_eq!(rx.recv(), Ok([seq, 42]));
    /// # Ok::<(), shmsync::SendError>(())
    /// ```
    pub fn send_with(&self, make: impl FnOnce(u64) -> T) -> Result<u64, SendError> {
        let guard = self.lock(self.head.lock(None))?;
        self.send_locked(guard, make)
    }

    /// As [`send`](Self::send), but fails with [`TrySendError::WouldBlock`]
    /// instead of waiting if a live sender holds the sender lock. (A dead
    /// sender is still taken over from.)
    ///
    /// # Errors
    ///
    /// [`TrySendError::WouldBlock`], or [`TrySendError::NotRecoverable`] or
    /// [`TrySendError::Corrupt`] in the cases [`send`](Self::send) names.
    ///
    /// # Panics
    ///
    /// As [`send`](Self::send), except that the calling thread's own sender
    /// lock is `WouldBlock`, not a panic.
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = shmsync::Broadcast::<u8, 2>::new();
    /// assert_eq!(ring.try_send(1), Ok(0));
    /// ```
    pub fn try_send(&self, value: T) -> Result<u64, TrySendError> {
        let guard = self.lock::<TrySendError>(self.head.try_lock())?;
        Ok(self.send_locked(guard, |_| value)?)
    }

    /// As [`send`](Self::send), waiting at most `timeout` for a live sender
    /// to release the sender lock.
    ///
    /// # Errors
    ///
    /// [`SendTimeoutError::TimedOut`], or
    /// [`SendTimeoutError::NotRecoverable`] or [`SendTimeoutError::Corrupt`]
    /// in the cases [`send`](Self::send) names.
    ///
    /// # Panics
    ///
    /// As [`send`](Self::send).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let ring = shmsync::Broadcast::<u8, 2>::new();
    /// assert_eq!(ring.send_timeout(1, Duration::from_millis(10)), Ok(0));
    /// ```
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<u64, SendTimeoutError> {
        let guard =
            self.lock::<SendTimeoutError>(self.head.lock(Instant::now().checked_add(timeout)))?;
        Ok(self.send_locked(guard, |_| value)?)
    }

    /// A receiver in this process whose first value is the next one sent.
    ///
    /// Receivers are process-local cursors: subscribing writes nothing to
    /// the ring, and dropping a receiver (or killing its process) leaves
    /// nothing behind. Subscribe before the values you need are sent: a
    /// receiver never sees values sent before it existed.
    ///
    /// # Examples
    ///
    /// ```
    /// use shmsync::TryRecvError;
    ///
    /// let ring = shmsync::Broadcast::<u16, 4>::new();
    /// ring.send(1)?;
    /// let mut rx = ring.subscribe();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "sent before it subscribed");
    /// ring.send(2)?;
    /// assert_eq!(rx.try_recv(), Ok(2));
    /// # Ok::<(), shmsync::SendError>(())
    /// ```
    #[must_use]
    pub fn subscribe(&self) -> Receiver<'_, T, N> {
        #[allow(clippy::let_unit_value)]
        let () = Self::NOT_EMPTY;
        Receiver::new(self, self.head.tail())
    }

    /// The number of values sent into the ring so far, which is also the
    /// sequence number the next value will get (0 for a new ring).
    ///
    /// An acquire load: after seeing `n`, a receiver that subscribed earlier
    /// finds values below `n` complete (or lost to lagging).
    #[must_use]
    pub fn sequence(&self) -> u64 {
        self.head.raw_tail()
    }

    /// `N`: how many values the ring holds.
    #[must_use]
    pub const fn capacity(&self) -> usize {
        N
    }

    /// How many times a sender has taken over from a sender that died
    /// holding the sender lock (since the ring was created). Each take-over
    /// repaired the ring; no value was torn, duplicated or skipped.
    ///
    /// A statistic: it has no ordering with respect to the values.
    #[must_use]
    pub fn sender_recoveries(&self) -> u64 {
        self.head.recoveries()
    }

    // -----------------------------------------------------------------
    // the protocol (state tables in slot.rs and head.rs)
    // -----------------------------------------------------------------

    /// The slot of value `seq`.
    #[inline(always)]
    fn slot(&self, seq: u64) -> &Slot<T> {
        // `seq % N < N`, whatever `seq` holds (a receiver's cursor derives
        // from untrusted words), so this index is always in bounds.
        #[allow(clippy::cast_possible_truncation)]
        &self.slots[(seq % N as u64) as usize]
    }

    /// Turns a lock attempt into a held sender lock, repairing the ring
    /// after a dead sender.
    fn lock<E: FromRefusal + From<SendError>>(
        &self,
        attempt: Result<Acquired, RawLockError>,
    ) -> Result<SenderGuard<'_>, E> {
        match attempt {
            Ok(Acquired::Clean) => Ok(SenderGuard { head: &self.head }),
            Ok(Acquired::OwnerDied) => {
                let guard = SenderGuard { head: &self.head };
                self.repair();
                self.head.recovered();
                Ok(guard)
            }
            Err(e) => Err(E::refused(e)),
        }
    }

    /// After a sender died holding the lock: if it completed its value but
    /// did not count it, count it; and wake every sleeping receiver, whom
    /// the dead sender may have left asleep (head.rs, "A sender killed").
    /// Every other state it can leave is consistent as it is.
    #[cold]
    fn repair(&self) {
        let t = self.head.tail_for_sender();
        if t < MAX_SEQ && !mutant::mutated("no-repair") && self.slot(t).stamp() == done(t) {
            self.head.set_tail(t + 1);
        }
        self.head.wake.wake_all();
    }

    /// The body of every send, with the sender lock held.
    #[inline]
    fn send_locked(
        &self,
        guard: SenderGuard<'_>,
        make: impl FnOnce(u64) -> T,
    ) -> Result<u64, SendError> {
        let t = self.head.tail_for_sender();
        if t >= MAX_SEQ {
            return Err(SendError::Corrupt);
        }
        let value = make(t);
        self.slot(t).write(t, &value);
        self.head.set_tail(t + 1);
        // Before unlocking: a sender killed between here and its wake-up
        // still holds the lock, so the next sender's repair wakes everyone.
        self.head.wake.wake_sleepers();
        drop(guard);
        Ok(t)
    }

    /// One receive attempt for a receiver whose next value is `*next`.
    #[inline]
    pub(crate) fn attempt(&self, next: &mut u64) -> Attempt<T> {
        let c = *next;
        if c >= MAX_SEQ {
            // Only a corrupt sequence word puts a cursor here; no value
            // will ever come.
            return Attempt::Empty;
        }
        match self.slot(c).read(c) {
            Read::Got(value) => {
                *next = c + 1;
                Attempt::Got(value)
            }
            Read::NotYet => Attempt::Empty,
            Read::Gone => match self.skip_lost(c) {
                0 => Attempt::Empty,
                lost => {
                    *next = c + lost;
                    Attempt::Lagged(lost)
                }
            },
        }
    }

    /// Value `c` was overwritten: how many values, from `c` on, are gone.
    /// The receiver continues after them, at the oldest value the ring
    /// still holds.
    ///
    /// Values below `tail - N` are gone: each was overwritten by a value
    /// counted in `tail`. A slot stamped with value `s` (complete or being
    /// written) has lost `s - N`, so values up to `s - N` are gone too. The
    /// stamp is re-read with acquire, so `tail` (read after it) is at least
    /// `s` in an intact ring (`slot.rs`, `begin`), and above `c`, since `s`
    /// is at least `c + N`. A stamp beyond `tail` is garbage and ignored;
    /// a `tail` not above `c` means the stamp that sent us here was garbage:
    /// then nothing is provably lost, and this returns 0 (the receiver finds
    /// nothing new). Otherwise the result is at least 1 and never moves the
    /// receiver past `tail`: past values that were not sent.
    #[cold]
    #[inline(never)]
    fn skip_lost(&self, c: u64) -> u64 {
        let stamp = self.slot(c).stamp();
        let tail = self.head.tail();
        if tail <= c {
            return 0;
        }
        let n = N as u64;
        let mut oldest = tail.saturating_sub(n);
        if let Some(s) = seq_of(stamp) {
            if s <= tail && !mutant::mutated("lag-from-tail") {
                oldest = oldest.max((s + 1).saturating_sub(n));
            }
        }
        if mutant::mutated("lag-one-more") {
            oldest += 1;
        }
        // `c < tail <= MAX_SEQ` and `oldest <= tail`: no overflow, and the
        // result is in 1..=tail - c.
        oldest.max(c + 1).min(tail) - c
    }

    /// Loom death models: a sender that takes the lock (repairing after an
    /// earlier death, as `send` does), gets as far as `at` with the value
    /// `make` builds from its number, and dies there. The calling thread
    /// must return right after.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn loom_send_then_die(&self, make: impl FnOnce(u64) -> T, at: SendDeath) {
        let guard =
            self.lock::<SendError>(self.head.lock(None)).expect("a model's lock is never corrupt");
        core::mem::forget(guard);
        let t = self.head.tail_for_sender();
        let value = make(t);
        match at {
            SendDeath::Locked => {}
            SendDeath::Torn { words } => self.slot(t).write_torn(t, &value, words),
            SendDeath::Uncounted => self.slot(t).write(t, &value),
            SendDeath::Unwoken => {
                self.slot(t).write(t, &value);
                self.head.set_tail(t + 1);
            }
        }
        crate::sync::loom_hooks::simulate_process_death();
    }
}

/// Where a loom model's sender dies (`loom_send_then_die`).
#[cfg(loom)]
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub enum SendDeath {
    /// Holding the lock, before touching the ring.
    Locked,
    /// After marking the slot and storing `words` words of the value.
    Torn {
        /// How many 8-byte words of the value were stored.
        words: usize,
    },
    /// After completing the slot, before counting the value in `tail`.
    Uncounted,
    /// After counting the value, holding the lock, before waking anyone.
    Unwoken,
}

/// Holds the sender lock; releases it when dropped (also when a
/// `send_with` closure panics: the ring is untouched until it returns).
struct SenderGuard<'a> {
    head: &'a Head,
}

impl Drop for SenderGuard<'_> {
    fn drop(&mut self) {
        self.head.unlock();
    }
}

impl<T: ShmSafe + Pod, const N: usize> Default for Broadcast<T, N> {
    /// An empty ring (the same as [`new`](Self::new) and as zeroed memory).
    fn default() -> Self {
        Self::new()
    }
}

impl<T: ShmSafe + Pod, const N: usize> fmt::Debug for Broadcast<T, N> {
    /// The sequence (values sent), the capacity, the sender lock's state and
    /// the take-overs from dead senders; never the values (reading them
    /// would race the senders) and never a lock attempt.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sender_lock = match self.head.lock_state() {
            RawState::Unlocked => "unlocked",
            RawState::UnlockedOwnerDied => "unlocked, a sender died",
            RawState::Locked => "locked",
            RawState::NotRecoverable => "not recoverable",
        };
        f.debug_struct("Broadcast")
            .field("sequence", &self.sequence())
            .field("capacity", &N)
            .field("sender_lock", &sender_lock)
            .field("sender_recoveries", &self.sender_recoveries())
            .finish()
    }
}

// SAFETY: repr(C) of a head line (a `CachePadded` RawMutex and atomics,
// whose padding nothing reads) and `N` slots (an AtomicU64 and the
// `AtomicWords` of a `T: ShmSafe + Pod`): a fixed layout, no pointers (T is
// ShmSafe), valid when zeroed (an unlocked lock, nothing sent, nobody
// asleep, empty slots whose all-zero bytes are a valid `T` because
// `T: Pod`), no Drop (T: Copy), Send + Sync (T: ShmSafe, and the Sync impl
// above). Every bit pattern of every word is handled (head.rs, slot.rs).
#[cfg(not(loom))]
unsafe impl<T: ShmSafe + Pod, const N: usize> ShmSafe for Broadcast<T, N> {
    const TYPE_NAME: &'static str = "Broadcast";
    const FINGERPRINT: u64 = {
        #[allow(clippy::let_unit_value)]
        let () = Self::NOT_EMPTY;
        crate::fingerprint::tagged(
            T::FINGERPRINT,
            "shmsync::Broadcast/1",
            &[
                N as u64,
                crate::fingerprint::primitive(
                    "Broadcast",
                    core::mem::size_of::<Self>(),
                    core::mem::align_of::<Self>(),
                ),
            ],
        )
    };
    // A leaf whose `len` is the capacity: inspection reads the head line
    // (sender lock word, then the sequence word: the documented layout)
    // and never a value, which only the ring's protocol can read whole.
    const LAYOUT: crate::layout::Layout =
        crate::layout::Layout { kind: crate::layout::Kind::Broadcast, fields: &[], len: N };
}

#[cfg(all(test, not(loom)))]
mod tests;
