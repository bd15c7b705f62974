//! What each benchmark asks of a system, so one scenario runs them all.
//! Every implementation lives in shared memory that a child process opens
//! by name: `create` in the parent, `open` in each child.

/// A lock around a `u64`, for lock + increment throughput.
pub trait SharedLock: Sized {
    /// The row label.
    const NAME: &'static str;
    /// Creates the lock in fresh shared memory named `name`.
    fn create(name: &str) -> Self;
    /// Opens what `create` made.
    fn open(name: &str) -> Self;
    /// Lock, unlock: nothing else.
    fn lock_unlock(&self);
    /// Lock, add one to the protected value, unlock.
    fn lock_incr(&self);
    /// The protected value (for the mutual-exclusion check).
    fn value(&self) -> u64;
}

/// A shared counter, for increment throughput.
pub trait SharedCounter: Sized {
    /// The row label.
    const NAME: &'static str;
    /// Creates a zero counter in fresh shared memory named `name`.
    fn create(name: &str) -> Self;
    /// Opens what `create` made.
    fn open(name: &str) -> Self;
    /// Adds one.
    fn incr(&self);
    /// The total.
    fn sum(&self) -> u64;
}

/// A robust lock, for owner-death recovery latency and for what a waiter
/// blocked behind a live owner costs.
pub trait RobustLock: Sized + Sync {
    /// The row label.
    const NAME: &'static str;
    /// Creates the lock in fresh shared memory named `name`.
    fn create(name: &str) -> Self;
    /// Opens what `create` made.
    fn open(name: &str) -> Self;
    /// Takes the lock and keeps it (the holder that will be killed).
    fn lock_and_keep(&self);
    /// Takes the lock, repairs it if its owner died (returns whether it
    /// did), and releases it.
    fn lock_recover_unlock(&self) -> bool;
    /// Takes the lock, runs `f` while holding it, and releases it (the
    /// live holder a waiter is blocked behind).
    fn lock_during(&self, f: impl FnOnce());
}

/// Two processes handing a turn back and forth, for wake-up latency.
pub trait PingPong: Sized + Sync {
    /// The row label.
    const NAME: &'static str;
    /// Creates the shared state in fresh shared memory named `name`.
    fn create(name: &str) -> Self;
    /// Opens what `create` made.
    fn open(name: &str) -> Self;
    /// Parent: hands the turn to the child and waits until it comes back.
    fn ping(&self);
    /// Child: answers `n` pings.
    fn serve(&self, n: u64);
}

/// A 64-byte value one writer publishes and readers copy out.
pub trait SharedSnapshot: Sized {
    /// The row label.
    const NAME: &'static str;
    /// Creates it (all zeros) in fresh shared memory named `name`.
    fn create(name: &str) -> Self;
    /// Opens what `create` made.
    fn open(name: &str) -> Self;
    /// Publishes `v`.
    fn write(&self, v: &[u64; 8]);
    /// A consistent copy of the last published value.
    fn read(&self) -> [u64; 8];
}

/// A reader-writer lock around a `u64`, for read/write mixes.
pub trait SharedRwLock: Sized {
    /// The row label.
    const NAME: &'static str;
    /// Creates it (value 0) in fresh shared memory named `name`.
    fn create(name: &str) -> Self;
    /// Opens what `create` made.
    fn open(name: &str) -> Self;
    /// Read-locks, reads the value, unlocks.
    fn read(&self) -> u64;
    /// Write-locks, adds one to the value, unlocks.
    fn write_incr(&self);
}
