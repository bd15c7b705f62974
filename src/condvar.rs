//! [`ShmCondvar`]: a process-shared condition variable for [`ShmMutex`].

use core::fmt;
use core::time::Duration;

use crate::mutex::{LockError, ShmMutex, ShmMutexGuard};
use crate::sync::{
    futex_wait, futex_wake, AtomicU32, Backoff, FutexWait, Instant, Ordering, HANDOFF,
};

/// A condition variable that lives in shared memory, used with a
/// [`ShmMutex`] in the same segment.
///
/// It is one futex word, a sequence counter that every notification bumps.
/// A waiter reads the counter while holding the mutex, unlocks, gives up
/// its CPU a bounded number of times watching the counter (a quick answer
/// then costs no sleep and no wake-up), and then sleeps while the counter
/// is unchanged, so a notification sent after the waiter released the mutex
/// always reaches it. The counter is all the state: a
/// waiter that is killed while waiting leaves nothing behind, and later
/// notifications work as before. `ShmCondvar` is `#[repr(C)]` and valid when
/// zeroed.
///
/// As with every condition variable, wakeups may be spurious: wait in a loop
/// on a predicate ([`wait_while`](Self::wait_while) does that).
///
/// If the mutex's owner died while this thread waited, the relock reports it:
/// the wait returns [`LockError::OwnerDied`] with the guard, just like
/// [`ShmMutex::lock`]. Waiting with a guard that is still inconsistent (from
/// an `OwnerDied` not yet repaired) releases the mutex in the owner-died
/// state, so whoever locks it next is told to repair it.
///
/// A `notify_one` may be lost if the one waiter it wakes is killed at the
/// same moment (the kernel hands the wakeup to the dying thread). Code that
/// must tolerate killed waiters should use `notify_all`, or waits with a
/// timeout.
///
/// # Examples
///
/// ```
/// use shmsync::{ShmCondvar, ShmMutex};
///
/// let ready = ShmMutex::new(false);
/// let cv = ShmCondvar::new();
/// std::thread::scope(|s| {
///     s.spawn(|| {
///         *ready.lock().unwrap_or_else(|_| unreachable!()) = true;
///         cv.notify_all();
///     });
///     let g = ready.lock().unwrap_or_else(|_| unreachable!());
///     let g = cv.wait_while(g, |ready| !*ready).unwrap_or_else(|_| unreachable!());
///     assert!(*g);
/// });
/// ```
#[repr(C)]
pub struct ShmCondvar {
    /// Bumped (wrapping) by every notification.
    seq: AtomicU32,
}

/// Whether a timed condition-variable wait returned because its timeout
/// elapsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// `true` if the wait ended because the timeout elapsed (the predicate
    /// may still have become true meanwhile: check it).
    #[must_use]
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

impl ShmCondvar {
    crate::sync::const_unless_loom! {
        /// A new condition variable (the same as zeroed memory).
        #[must_use]
        pub const fn new() -> Self {
            ShmCondvar { seq: AtomicU32::new(0) }
        }
    }

    /// Unlocks the guard's mutex, sleeps until notified (or spuriously),
    /// and locks the mutex again.
    ///
    /// # Errors
    ///
    /// As [`ShmMutex::lock`]: [`LockError::OwnerDied`] if the mutex's owner
    /// died while this thread waited (the returned guard holds the lock),
    /// [`LockError::NotRecoverable`] if the mutex became unusable.
    ///
    /// # Panics
    ///
    /// As [`ShmMutex::lock`], on a provable self-deadlock when relocking.
    pub fn wait<'a, T>(
        &self,
        guard: ShmMutexGuard<'a, T>,
    ) -> Result<ShmMutexGuard<'a, T>, LockError<'a, T>> {
        self.wait_until(guard, None).map(|(g, _)| g)
    }

    /// As [`wait`](Self::wait), but gives up sleeping after `timeout`. The
    /// relock after the timeout is not bounded by it.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait). With `OwnerDied` the timeout result is not
    /// reported: the data must be repaired either way.
    ///
    /// # Panics
    ///
    /// As [`wait`](Self::wait).
    pub fn wait_timeout<'a, T>(
        &self,
        guard: ShmMutexGuard<'a, T>,
        timeout: Duration,
    ) -> Result<(ShmMutexGuard<'a, T>, WaitTimeoutResult), LockError<'a, T>> {
        self.wait_until(guard, Instant::now().checked_add(timeout))
    }

    /// Waits while `condition` returns `true` (it is evaluated with the lock
    /// held, first before any wait), then returns the guard.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait); the condition is not evaluated on a guard
    /// whose data may be inconsistent (`OwnerDied` is returned at once).
    ///
    /// # Panics
    ///
    /// As [`wait`](Self::wait), and if `condition` panics.
    pub fn wait_while<'a, T, F>(
        &self,
        mut guard: ShmMutexGuard<'a, T>,
        mut condition: F,
    ) -> Result<ShmMutexGuard<'a, T>, LockError<'a, T>>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// As [`wait_while`](Self::wait_while), but an owner that died holding
    /// the mutex is repaired with `repair` (then the mutex is marked
    /// consistent again and the wait goes on); the `?`-friendly form, whose
    /// error is a `'static` [`Error`](crate::Error), like
    /// [`ShmMutex::lock_or_repair`](crate::ShmMutex::lock_or_repair).
    ///
    /// # Errors
    ///
    /// [`Error::NotRecoverable`](crate::Error::NotRecoverable) if an earlier
    /// repair was abandoned.
    ///
    /// # Panics
    ///
    /// As [`wait_while`](Self::wait_while), and if `repair` panics (the
    /// mutex then stays owner-died for the next locker).
    ///
    /// # Examples
    ///
    /// ```
    /// use shmsync::{ShmCondvar, ShmMutex};
    ///
    /// fn wait_for_work(
    ///     jobs: &ShmMutex<u64>,
    ///     ready: &ShmCondvar,
    /// ) -> Result<u64, Box<dyn std::error::Error>> {
    ///     let guard = jobs.lock_or_repair(|_| {})?;
    ///     let mut guard = ready.wait_while_or_repair(guard, |n| *n == 0, |_| {})?;
    ///     *guard -= 1;
    ///     Ok(*guard)
    /// }
    ///
    /// let (jobs, ready) = (ShmMutex::new(1), ShmCondvar::new());
    /// assert_eq!(wait_for_work(&jobs, &ready)?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_while_or_repair<'a, T, F, R>(
        &self,
        mut guard: ShmMutexGuard<'a, T>,
        mut condition: F,
        mut repair: R,
    ) -> Result<ShmMutexGuard<'a, T>, crate::Error>
    where
        F: FnMut(&mut T) -> bool,
        R: FnMut(&mut T),
    {
        loop {
            match self.wait_while(guard, &mut condition) {
                Ok(guard) => return Ok(guard),
                Err(LockError::OwnerDied(mut dead)) => {
                    repair(&mut dead);
                    ShmMutexGuard::make_consistent(&mut dead);
                    // Repaired: evaluate the condition again on good data.
                    guard = dead;
                }
                Err(LockError::NotRecoverable) => return Err(crate::Error::NotRecoverable),
            }
        }
    }

    /// As [`wait_while`](Self::wait_while), but gives up after `timeout` in
    /// total; the result says whether it did (the condition was still true).
    ///
    /// # Errors
    ///
    /// As [`wait_while`](Self::wait_while).
    ///
    /// # Panics
    ///
    /// As [`wait_while`](Self::wait_while).
    pub fn wait_timeout_while<'a, T, F>(
        &self,
        mut guard: ShmMutexGuard<'a, T>,
        timeout: Duration,
        mut condition: F,
    ) -> Result<(ShmMutexGuard<'a, T>, WaitTimeoutResult), LockError<'a, T>>
    where
        F: FnMut(&mut T) -> bool,
    {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            if !condition(&mut *guard) {
                return Ok((guard, WaitTimeoutResult(false)));
            }
            if deadline.is_some_and(|d| d.saturating_duration_since(Instant::now()).is_zero()) {
                return Ok((guard, WaitTimeoutResult(true)));
            }
            guard = self.wait_until(guard, deadline)?.0;
        }
    }

    /// Wakes one thread waiting on this condition variable, in any process.
    pub fn notify_one(&self) {
        self.notify(1);
    }

    /// Wakes every thread waiting on this condition variable, in any process.
    pub fn notify_all(&self) {
        self.notify(u32::MAX);
    }

    fn notify(&self, count: u32) {
        // Relaxed: a notifier that changed the predicate under the mutex
        // bumps the counter after every waiter that saw the old predicate
        // read it (that waiter's load is ordered before its unlock, which
        // happens before the notifier's lock), so by coherence the waiter's
        // futex_wait sees a new value or is asleep for the wake below.
        self.seq.fetch_add(1, Ordering::Relaxed);
        futex_wake(&self.seq, count);
    }

    /// Gives up the CPU for the [`HANDOFF`] budget while the sequence is
    /// still `seq` and `deadline` has not passed; true if a notification
    /// came meanwhile. A hand-off answered within a few scheduler rounds
    /// then needs no futex sleep and no wake-up.
    fn yield_until_notified(&self, seq: u32, deadline: Option<Instant>) -> bool {
        let mut backoff = Backoff::new(HANDOFF);
        while !backoff.is_completed() {
            if deadline.is_some_and(|d| d.saturating_duration_since(Instant::now()).is_zero()) {
                return false;
            }
            backoff.snooze();
            // Relaxed: as the futex's own check of the word; the relock that
            // follows orders the data (see `notify`).
            if self.seq.load(Ordering::Relaxed) != seq {
                return true;
            }
        }
        false
    }

    fn wait_until<'a, T>(
        &self,
        guard: ShmMutexGuard<'a, T>,
        deadline: Option<Instant>,
    ) -> Result<(ShmMutexGuard<'a, T>, WaitTimeoutResult), LockError<'a, T>> {
        // Relaxed: read while holding the mutex; see `notify`.
        let seq = self.seq.load(Ordering::Relaxed);
        let mutex: &'a ShmMutex<T> = guard.unlock_for_wait();
        if self.yield_until_notified(seq, deadline) {
            // The notifier usually still holds the mutex for a moment.
            let mut backoff = Backoff::new(HANDOFF);
            while !backoff.is_completed() {
                if let Some(guard) = mutex.try_lock_uncontended() {
                    return Ok((guard, WaitTimeoutResult(false)));
                }
                backoff.snooze();
            }
            return Ok((mutex.lock()?, WaitTimeoutResult(false)));
        }
        let timed_out = match deadline {
            None => futex_wait(&self.seq, seq, None) == FutexWait::TimedOut,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                left.is_zero() || futex_wait(&self.seq, seq, Some(left)) == FutexWait::TimedOut
            }
        };
        let guard = mutex.lock()?;
        Ok((guard, WaitTimeoutResult(timed_out)))
    }
}

impl Default for ShmCondvar {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ShmCondvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShmCondvar").finish_non_exhaustive()
    }
}

#[cfg(not(loom))]
mod shm_safe_impl {
    use super::ShmCondvar;
    use crate::shm_safe::{fingerprint, ShmSafe};

    // SAFETY: `ShmCondvar` is `repr(C)` around one `AtomicU32` (valid when
    // zeroed, no pointer, no Drop, Send + Sync).
    unsafe impl ShmSafe for ShmCondvar {
        const TYPE_NAME: &'static str = "ShmCondvar";
        const FINGERPRINT: u64 =
            fingerprint::tagged(fingerprint::SEED, "shmsync::ShmCondvar/futex-seq-v1", &[]);
        const LAYOUT: crate::layout::Layout =
            crate::layout::Layout::leaf(crate::layout::Kind::Condvar);
    }
}
