//! The calling thread's identity for a lock word: its kernel thread id and
//! its process token, cached per thread and forgotten in a forked child.

#[cfg(not(loom))]
use std::cell::Cell;

/// Who is calling, as a lock word records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ThreadIdentity {
    /// Kernel thread id (`gettid`), always in `1..2^30` on Linux
    /// (`PID_MAX_LIMIT` is 2^22), so it fits the lock word's 30 TID bits.
    /// Names the owning *thread* for the self-deadlock and wrong-thread
    /// unlock checks only: it is never taken as proof of anything about
    /// another process.
    pub(crate) tid: u32,
    /// The process token (see [`super::token`]): names the owning
    /// *process*, and is what a waiter's proof of death tests.
    pub(crate) token: u32,
}

#[cfg(not(loom))]
thread_local! {
    // `tid == 0` means "not cached yet". Const-initialized so the fast path
    // is one TLS load with no lazy-init check.
    static IDENTITY: Cell<ThreadIdentity> = const {
        Cell::new(ThreadIdentity { tid: 0, token: 0 })
    };
}

/// Returns the calling thread's identity, cached after the first call.
#[cfg(not(loom))]
#[inline]
pub(crate) fn current_thread() -> ThreadIdentity {
    let id = IDENTITY.with(Cell::get);
    if id.tid != 0 {
        return id;
    }
    current_thread_slow()
}

#[cfg(not(loom))]
#[cold]
fn current_thread_slow() -> ThreadIdentity {
    // First: it registers the fork handler that forgets this cache.
    let token = super::token::process_token();
    // SAFETY: gettid has no preconditions and cannot fail.
    let raw_tid = unsafe { libc::gettid() };
    // A lock word stores the owner in 30 bits and 0 means "unlocked"; the
    // kernel guarantees `1..=PID_MAX_LIMIT` (2^22), so this cannot fire, but
    // an owner id of 0 would make a locked mutex look free.
    let tid = u32::try_from(raw_tid).ok().filter(|&t| t != 0 && t < (1 << 30));
    let tid = tid.expect("gettid returned a thread id outside 1..2^30");
    let id = ThreadIdentity { tid, token };
    IDENTITY.with(|c| c.set(id));
    id
}

/// For the fork child handler: the child's only thread has a new TID and
/// its process a new token, so the identity inherited from the parent
/// thread must not be used. Touches one thread-local `Cell` only.
#[cfg(not(loom))]
pub(super) fn forget_cached_identity() {
    IDENTITY.with(|c| c.set(ThreadIdentity { tid: 0, token: 0 }));
}

/// The CPU the calling thread runs on (`sched_getcpu`), or 0 if the
/// kernel cannot tell. Only a hint: the thread may migrate right after the
/// call (see `sync::cpu_hint`, its one user, which caches it).
#[cfg(all(not(loom), not(miri)))]
#[cold]
pub(crate) fn current_cpu() -> u32 {
    // SAFETY: sched_getcpu has no preconditions; it returns -1 (with errno
    // set) if the kernel cannot tell, which we map to CPU 0.
    let cpu = unsafe { libc::sched_getcpu() };
    u32::try_from(cpu).unwrap_or(0)
}

/// Miri has no CPU numbers. Its thread ids differ between threads that run
/// at the same time, which is all a hint promises, and spread the writers
/// of a test over the shards as CPUs would. (Not `current_thread`: this
/// also runs during thread-local destruction.)
#[cfg(all(not(loom), miri))]
#[cold]
pub(crate) fn current_cpu() -> u32 {
    // SAFETY: gettid has no preconditions and cannot fail.
    let tid = unsafe { libc::gettid() };
    u32::try_from(tid).unwrap_or(0)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn identity_is_cached_and_threads_of_a_process_share_the_token() {
        let me = current_thread();
        assert_ne!(me.tid, 0);
        assert_ne!(me.token, 0);
        assert_eq!(me, current_thread());
        let other = std::thread::spawn(current_thread).join().expect("thread ran");
        assert_ne!(other.tid, me.tid);
        assert_eq!(other.token, me.token);
    }
}
