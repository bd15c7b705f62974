//! The process token: a random non-zero 32-bit number that names this
//! process in the lock words it owns.
//!
//! Every segment handle holds the token as a shared OFD lock on one byte of
//! the segment's object (see [`super::liveness`]), so the kernel keeps it
//! held exactly while some process that maps this process's guards lives:
//! this process until it exits or `exec`s, and any child it `fork`ed, until
//! that child exits or `exec`s (the inherited descriptor is close-on-exec).
//! A forked child picks a token of its own before its first lock, since the
//! parent's stays the parent's.
//!
//! Tokens are random rather than PIDs because a PID means nothing in another
//! PID namespace and is reused; two live processes drawing the same token
//! (a chance of one in 2^32 per pair, reduced further by checking the
//! segments already mapped) would only delay recovery from the death of
//! either while the other lives: a token seen held is never a proof of death.

use core::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;

/// This process's token; 0 until first needed, and again in a forked child.
static TOKEN: AtomicU32 = AtomicU32::new(0);

/// The calling process's token, picked on first use.
#[inline]
pub(crate) fn process_token() -> u32 {
    // Acquire: pairs with the release store in `publish`, so a thread that
    // sees the token also sees it held on every mapped segment.
    let token = TOKEN.load(Ordering::Acquire);
    if token != 0 {
        return token;
    }
    process_token_slow()
}

#[cold]
fn process_token_slow() -> u32 {
    super::liveness::adopt_process_token()
}

/// The token, or 0 if this process has none yet. For callers that hold the
/// registry lock, under which tokens are made.
pub(super) fn current() -> u32 {
    // Relaxed: read and written only under the registry's write lock (and
    // by the fork handler, in a child with one thread).
    TOKEN.load(Ordering::Relaxed)
}

/// Makes `token` this process's token. Called under the registry's write
/// lock once the token is held on every mapped segment.
pub(super) fn publish(token: u32) {
    // Release: pairs with the acquire load in `process_token`.
    TOKEN.store(token, Ordering::Release);
}

/// A fresh random non-zero token (`getrandom`; the clock and the PID if the
/// kernel's generator is not available: uniqueness, not secrecy, matters).
pub(crate) fn random_token() -> u32 {
    let mut buf = [0u8; 4];
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), libc::GRND_NONBLOCK) };
    let mut token = u32::from_ne_bytes(buf);
    if usize::try_from(n).ok() != Some(buf.len()) {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() ^ (d.as_secs() as u32));
        token = nanos.wrapping_mul(0x9E37_79B9) ^ std::process::id().rotate_left(16);
    }
    if token == 0 {
        1
    } else {
        token
    }
}

/// Registers, once per process, the `fork` handlers: the prepare handler
/// takes this crate's process-wide locks (so that a child never inherits
/// one held by a thread it does not have), the parent and child handlers
/// let go of them, and the child handler also forgets the token, the
/// calling thread's cached identity and the watches. Called before a token
/// is first published (already done at program start, see
/// [`REGISTER_AT_START`]; the calls on first use are a fallback).
pub(super) fn register_fork_handler() {
    static AT_FORK: Once = Once::new();
    AT_FORK.call_once(|| {
        // SAFETY: the three handlers are `extern "C" fn()`s that only take
        // and release this crate's own locks (always in the order the rest
        // of the crate never inverts: it never holds one while taking
        // another) and store to atomics and thread-local cells.
        unsafe {
            libc::pthread_atfork(
                Some(before_fork),
                Some(after_fork_in_parent),
                Some(forget_in_child),
            )
        };
    });
}

/// Registers the fork handlers when the program starts (an `.init_array`
/// constructor, as C libraries do with `__attribute__((constructor))`),
/// before any thread of the program exists. Registering on first use
/// instead raced with `fork` in another thread: `pthread_atfork` waits for
/// a fork under way, and a child forked while the `Once` below was running
/// inherited it running forever, so its first lock hung.
#[used]
#[link_section = ".init_array"]
static REGISTER_AT_START: extern "C" fn() = register_at_start;

extern "C" fn register_at_start() {
    register_fork_handler();
}

/// atfork prepare handler.
extern "C" fn before_fork() {
    super::liveness::lock_for_fork();
    super::watch::lock_for_fork();
}

/// atfork parent handler.
extern "C" fn after_fork_in_parent() {
    super::watch::unlock_after_fork();
    super::liveness::unlock_after_fork();
}

/// atfork child handler: the child is a new process and needs its own token.
extern "C" fn forget_in_child() {
    // While the prepare handler's locks are still held: it empties the
    // watch list through the held guard.
    super::watch::forget_in_child();
    super::watch::unlock_after_fork();
    super::liveness::unlock_after_fork();
    // Relaxed: the child has one thread.
    TOKEN.store(0, Ordering::Relaxed);
    super::thread::forget_cached_identity();
}
