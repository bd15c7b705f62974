//! [`Receiver`]: a cursor into a [`Broadcast`] ring, local to the process
//! that made it, and how it waits for the next value.
//!
//! A receiver is the number of the next value it expects, nothing more:
//! it writes nothing to the ring except, while it waits, the wake word's
//! `SLEEPERS` bit. So receivers cost senders nothing, any number can exist,
//! and a receiver that is dropped or killed leaves nothing behind.
//!
//! # Waiting
//!
//! [`recv`](Receiver::recv) and [`recv_timeout`](Receiver::recv_timeout)
//! go through three phases, each ending as soon as a value (or a lag) is
//! found:
//!
//! 1. **spin**: the spins of the [`RECEIVE`] budget, attempts with a CPU
//!    spin hint between them, a few microseconds: a value that arrives that
//!    soon costs neither side a system call or a context switch (this is
//!    what the one-way latency benchmark measures);
//! 2. **yield**: the budget's yields, attempts giving the CPU away between
//!    them, so a sender on the same CPU runs;
//! 3. **sleep**: announce on the wake word, attempt once more, then sleep
//!    on it (`wake.rs`) for at most [`RECV_RECHECK`] or until the
//!    deadline, and start the phase again. A sender killed between
//!    sending and waking is taken over from by the next sender, which
//!    wakes every sleeper; the bound covers the last sender killed so,
//!    and costs an idle receiver 20 wake-ups a second.

use super::{Attempt, Broadcast, RecvError, RecvTimeoutError, TryRecvError};
use crate::sync::{Backoff, Instant, RECEIVE};
use crate::ShmSafe;
use bytemuck::Pod;
use core::fmt;
use core::time::Duration;

/// The longest a receiver sleeps before it looks at the ring by itself.
/// A safety net for the last sender killed between sending and waking
/// (live senders, and a sender taking over from a dead one, wake sleepers
/// themselves), so it may be long. Under loom there is no
/// timer: a simulated process death wakes every sleeper instead.
#[cfg(not(loom))]
pub(crate) const RECV_RECHECK: Option<Duration> = Some(Duration::from_millis(50));
#[cfg(loom)]
pub(crate) const RECV_RECHECK: Option<Duration> = None;

/// A receiver of a [`Broadcast`] ring: the sequence number of the next
/// value it will return, in the memory of the process that made it.
///
/// Made by [`Broadcast::subscribe`] (or [`resubscribe`](Self::resubscribe),
/// or `clone`, which copies the position). It borrows the ring, so it
/// cannot outlive the [`Segment`](crate::Segment) that maps it.
///
/// # Examples
///
/// ```
/// use shmsync::{Broadcast, RecvTimeoutError, TryRecvError};
/// use std::time::Duration;
///
/// let ring = Broadcast::<u64, 2>::new();
/// let mut rx = ring.subscribe();
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// assert_eq!(rx.recv_timeout(Duration::from_millis(1)), Err(RecvTimeoutError::Timeout));
///
/// for v in 0..5 {
///     ring.send(v)?;
/// }
/// assert_eq!(rx.len(), 5, "sent and not yet received (three of them lost)");
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Lagged(3)));
/// assert_eq!((rx.next_sequence(), rx.recv()), (3, Ok(3)));
/// assert_eq!(rx.recv(), Ok(4));
/// assert!(rx.is_empty());
/// # Ok::<(), shmsync::SendError>(())
/// ```
pub struct Receiver<'a, T: ShmSafe + Pod, const N: usize> {
    ring: &'a Broadcast<T, N>,
    /// The sequence number of the next value to return.
    next: u64,
}

/// Why a wait ended without a value.
enum Waited {
    Lagged(u64),
    Timeout,
}

impl<'a, T: ShmSafe + Pod, const N: usize> Receiver<'a, T, N> {
    pub(super) fn new(ring: &'a Broadcast<T, N>, next: u64) -> Self {
        Self { ring, next }
    }

    /// Returns the next value if it has been sent, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if no value has been sent since the last one
    /// this receiver returned; [`TryRecvError::Lagged(n)`](TryRecvError::Lagged)
    /// if the next `n` values were overwritten before this receiver got to
    /// them (it now stands at the oldest value the ring holds, which the
    /// next call returns).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmsync::{Broadcast, TryRecvError};
    ///
    /// let ring = Broadcast::<i32, 8>::new();
    /// let mut rx = ring.subscribe();
    /// ring.send(-1)?;
    /// assert_eq!(rx.try_recv(), Ok(-1));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// # Ok::<(), shmsync::SendError>(())
    /// ```
    #[inline]
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        match self.ring.attempt(&mut self.next) {
            Attempt::Got(value) => Ok(value),
            Attempt::Empty => Err(TryRecvError::Empty),
            Attempt::Lagged(n) => Err(TryRecvError::Lagged(n)),
        }
    }

    /// Returns the next value, waiting until it is sent.
    ///
    /// Waits without limit: a ring whose senders are gone has nothing to
    /// send (use [`recv_timeout`](Self::recv_timeout) to bound the wait). A
    /// value whose sender was killed half-way is never returned; the value
    /// that the next sender sends takes its number.
    ///
    /// # Errors
    ///
    /// [`RecvError::Lagged(n)`](RecvError::Lagged), as for
    /// [`try_recv`](Self::try_recv).
    ///
    /// # Examples
    ///
    /// ```
    /// let ring = shmsync::Broadcast::<u64, 16>::new();
    /// let mut rx = ring.subscribe();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| ring.send(99));
    ///     assert_eq!(rx.recv(), Ok(99));
    /// });
    /// ```
    #[inline]
    pub fn recv(&mut self) -> Result<T, RecvError> {
        match self.try_recv() {
            Ok(value) => Ok(value),
            Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
            Err(TryRecvError::Empty) => self.wait(None).map_err(|why| match why {
                Waited::Lagged(n) => RecvError::Lagged(n),
                Waited::Timeout => unreachable!("a wait without a deadline does not time out"),
            }),
        }
    }

    /// Returns the next value, waiting at most `timeout` for it to be sent.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`] if none was sent in time;
    /// [`RecvTimeoutError::Lagged(n)`](RecvTimeoutError::Lagged), as for
    /// [`try_recv`](Self::try_recv).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmsync::RecvTimeoutError;
    /// use std::time::Duration;
    ///
    /// let ring = shmsync::Broadcast::<u64, 16>::new();
    /// let mut rx = ring.subscribe();
    /// let waited = rx.recv_timeout(Duration::from_millis(5));
    /// assert_eq!(waited, Err(RecvTimeoutError::Timeout));
    /// ```
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        match self.try_recv() {
            Ok(value) => Ok(value),
            Err(TryRecvError::Lagged(n)) => Err(RecvTimeoutError::Lagged(n)),
            Err(TryRecvError::Empty) => {
                // An unrepresentable deadline (centuries away) waits forever.
                let deadline = Instant::now().checked_add(timeout);
                self.wait(deadline).map_err(|why| match why {
                    Waited::Lagged(n) => RecvTimeoutError::Lagged(n),
                    Waited::Timeout => RecvTimeoutError::Timeout,
                })
            }
        }
    }

    /// The sequence number of the value the next successful receive
    /// returns. After a value is returned, that value's number is one less.
    #[must_use]
    pub fn next_sequence(&self) -> u64 {
        self.next
    }

    /// How many values were sent that this receiver has neither returned
    /// nor reported lost yet. Above the capacity `N`, the next receive
    /// reports a lag.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.ring.head.tail().saturating_sub(self.next)
    }

    /// Whether [`len`](Self::len) is 0: nothing sent that this receiver
    /// has not handled.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A new receiver of the same ring, starting after the newest value
    /// (as [`Broadcast::subscribe`]; `clone` keeps this one's position).
    #[must_use]
    pub fn resubscribe(&self) -> Self {
        self.ring.subscribe()
    }

    /// The slow path of `recv` and `recv_timeout` (see the module docs):
    /// spin, yield, then sleep in bounded rounds until a value, a lag or
    /// `deadline`.
    #[cold]
    #[inline(never)]
    fn wait(&mut self, deadline: Option<Instant>) -> Result<T, Waited> {
        let passed = |deadline: Option<Instant>| {
            deadline.is_some_and(|d| d.saturating_duration_since(Instant::now()).is_zero())
        };
        if passed(deadline) {
            return Err(Waited::Timeout);
        }
        // A spin attempt is one load of the slot's stamp (its line stays in
        // this CPU's cache until a sender writes it) and a hint; the clock
        // is read only between yields.
        let mut backoff = Backoff::new(RECEIVE);
        while !backoff.is_completed() {
            if !backoff.is_spinning() && passed(deadline) {
                return Err(Waited::Timeout);
            }
            backoff.snooze();
            match self.ring.attempt(&mut self.next) {
                Attempt::Got(value) => return Ok(value),
                Attempt::Lagged(n) => return Err(Waited::Lagged(n)),
                Attempt::Empty => {}
            }
        }
        let wake = &self.ring.head.wake;
        loop {
            // Announce, then look: a sender that completes a value after
            // our look sees the announcement and wakes us (wake.rs).
            let announced = wake.announce();
            match self.ring.attempt(&mut self.next) {
                Attempt::Got(value) => return Ok(value),
                Attempt::Lagged(n) => return Err(Waited::Lagged(n)),
                Attempt::Empty => {}
            }
            let timeout = match deadline {
                None => RECV_RECHECK,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Waited::Timeout);
                    }
                    Some(RECV_RECHECK.map_or(left, |recheck| recheck.min(left)))
                }
            };
            wake.sleep(announced, timeout);
        }
    }
}

impl<T: ShmSafe + Pod, const N: usize> Clone for Receiver<'_, T, N> {
    /// A receiver at the same position: both return the same values from
    /// here on.
    fn clone(&self) -> Self {
        Self { ring: self.ring, next: self.next }
    }
}

impl<T: ShmSafe + Pod, const N: usize> fmt::Debug for Receiver<'_, T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("next_sequence", &self.next)
            .field("capacity", &N)
            .finish_non_exhaustive()
    }
}
