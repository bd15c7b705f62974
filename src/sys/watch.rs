//! Owner death reported by the kernel, so that waiters need not poll.
//!
//! A waiter that is about to sleep behind a live owner of another process
//! asks for a *watch* on (the owner's segment, the owner's token). One
//! watcher thread per such pair blocks in `F_OFD_SETLKW`, asking for an
//! exclusive lock on the token's byte: the kernel grants it exactly when
//! the last holder of the token lets go, that is when the owner's process
//! (and the children it forked without exec) has exited or exec'd — the
//! rule of `liveness.rs`, now as an event. The watcher then bumps the
//! process-wide [`DEATHS`] epoch and wakes every waiter of this process,
//! and exits.
//!
//! A waiter sleeps with `futex_waitv` on two words at once: the lock word
//! (an unlock wakes it) and `DEATHS` (a death does). It reads `DEATHS`
//! *before* it proves the owner alive, so a death after that proof changes
//! the epoch it sleeps on: the wakeup cannot be lost.
//!
//! | state of a watch | meaning | next |
//! |---|---|---|
//! | listed, thread blocked in `F_OFD_SETLKW` | the token is held by a live process | the kernel grants the lock when the token is released |
//! | granted | the owner's processes are gone | unlist, bump `DEATHS`, wake all, exit |
//!
//! Costs: one thread per distinct (segment, live owner process) that this
//! process has waited for, parked in the kernel until that process dies;
//! nothing per lock operation. Where a watch cannot be had (a kernel
//! without `futex_waitv`, a failed thread spawn, no descriptor), waiters
//! fall back to re-checking every `RECHECK_INTERVAL`.

use core::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::os::fd::AsFd;
use std::sync::{Mutex, PoisonError};

use super::futex::futex_wake_private_all;
use super::liveness;
use super::shm::ObjectFd;

/// Bumped once per owner death a watcher saw (and at `fork`): a waiter that
/// read an older value is woken, or does not sleep.
pub(crate) static DEATHS: AtomicU32 = AtomicU32::new(0);

/// Whether this kernel has `futex_waitv`: unknown, yes, no.
static WAITV: AtomicU8 = AtomicU8::new(WAITV_UNKNOWN);
const WAITV_UNKNOWN: u8 = 0;
const WAITV_YES: u8 = 1;
const WAITV_NO: u8 = 2;

/// One watched (segment object, token) pair.
struct Watch {
    dev: u64,
    ino: u64,
    token: u32,
    /// The watcher thread's descriptor (the thread owns and closes it; a
    /// forked child, which has no such thread, closes its copy).
    fd: std::os::fd::RawFd,
}

/// The live watches of this process, and the process they belong to: a
/// forked child has none of its parent's threads, so it starts afresh.
static WATCHES: Mutex<WatchList> = Mutex::new((0, Vec::new()));

/// The pid the list belongs to, and its watches.
type WatchList = (u32, Vec<Watch>);

/// Ensures a watcher reports the death of the process holding `token` on
/// the segment of the lock word at `addr`, and returns the [`DEATHS`] epoch
/// read *before* it did so: the caller must then prove the owner alive and
/// sleep on that epoch beside the lock word. `None` if no watch can be had.
pub(crate) fn watch(addr: usize, token: u32) -> Option<u32> {
    match WAITV.load(Ordering::Relaxed) {
        WAITV_NO => return None,
        WAITV_UNKNOWN => set_waitv_supported(probe_waitv()),
        _ => {}
    }
    if WAITV.load(Ordering::Relaxed) == WAITV_NO {
        return None;
    }
    // Acquire: pairs with the release `fetch_add` of a watcher, so that a
    // death it reported is visible to the liveness proof that follows.
    let epoch = DEATHS.load(Ordering::Acquire);
    let (dev, ino) = liveness::segment_of(addr)?;
    let key = (dev, ino, token);
    if watched(key) {
        return Some(epoch);
    }
    // Opened without holding `WATCHES`: no lock of this crate is ever taken
    // while another is held (the fork handlers take them all, see
    // `lock_for_fork`).
    let (fd, dev, ino) = liveness::open_for_watch(addr)?;
    let mut watches = lock_watches();
    if watches.1.iter().any(|w| (w.dev, w.ino, w.token) == key) {
        return Some(epoch);
    }
    let raw_fd = std::os::fd::AsRawFd::as_raw_fd(&fd.as_fd());
    let spawned = std::thread::Builder::new()
        .name("shmsync-watch".to_owned())
        .stack_size(64 * 1024)
        .spawn(move || watcher(&fd, dev, ino, token));
    if spawned.is_err() {
        return None;
    }
    watches.1.push(Watch { dev, ino, token, fd: raw_fd });
    Some(epoch)
}

/// Whether (device, inode, token) is watched by a thread of this process.
fn watched(key: (u64, u64, u32)) -> bool {
    lock_watches().1.iter().any(|w| (w.dev, w.ino, w.token) == key)
}

/// `WATCHES`, locked, emptied first if it was filled by another process (a
/// forked child inherits the list but none of the threads).
fn lock_watches() -> std::sync::MutexGuard<'static, WatchList> {
    let pid = super::process::getpid();
    let mut watches = WATCHES.lock().unwrap_or_else(PoisonError::into_inner);
    if watches.0 != pid {
        *watches = (pid, Vec::new());
    }
    watches
}

/// The watcher thread: waits for `token`'s release on `fd`'s object, then
/// reports it.
fn watcher(fd: &ObjectFd, dev: u64, ino: u64, token: u32) {
    block_signals();
    // An error (none is expected) also ends the watch: waiters are woken
    // and re-check by themselves, so nothing is missed either way.
    let _ = super::shm::ofd_wait_token_released(fd.as_fd(), token);
    lock_watches().1.retain(|w| (w.dev, w.ino, w.token) != (dev, ino, token));
    report_death();
}

/// Bumped at every unmap of a segment: a proof of life cached for a lock
/// word's address (see `plan_sleep` in `sync/mod.rs`) must not carry over
/// to another object mapped there later. No waiter needs waking for it: a
/// thread sleeping on a lock word borrows its segment, which therefore
/// cannot be the one being unmapped.
pub(crate) static UNMAPS: AtomicU32 = AtomicU32::new(0);

/// Makes every proof of life a thread cached stale (see [`UNMAPS`]).
pub(crate) fn invalidate_cached_proofs() {
    // Relaxed: called under the registry's write lock, which whoever lists
    // a later mapping at the same address takes after us.
    UNMAPS.fetch_add(1, Ordering::Relaxed);
}

/// Bumps [`DEATHS`] and wakes every waiter of this process.
fn report_death() {
    // Release: pairs with the acquire load in `watch`.
    DEATHS.fetch_add(1, Ordering::Release);
    futex_wake_private_all(&DEATHS);
}

/// Keeps signals off the watcher: the program's handlers are for its own
/// threads, and a watcher has nothing to do with them.
fn block_signals() {
    // SAFETY: `set` is valid for writes and initialized by sigfillset
    // before pthread_sigmask reads it; the old mask is not asked for.
    unsafe {
        let mut set = core::mem::MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigfillset(set.as_mut_ptr());
        libc::pthread_sigmask(libc::SIG_BLOCK, set.as_ptr(), core::ptr::null_mut());
    }
}

/// Whether the kernel lets this process use `futex_waitv`: a call whose
/// first comparison fails returns at once with `EAGAIN` where it works.
/// Anything else (`ENOSYS` before 5.16, `EPERM` from a seccomp filter) means
/// no: a waiter that trusted it would return at once from every sleep and
/// spin.
fn probe_waitv() -> bool {
    use super::futex::{futex_wait_low_or_private, FutexWait, WaitvSupport};
    let word = core::sync::atomic::AtomicU64::new(1);
    let private = AtomicU32::new(0);
    futex_wait_low_or_private(&word, 0, &private, 0, None)
        == WaitvSupport::Done(FutexWait::ValueChanged)
}

/// Records whether the kernel has `futex_waitv` (learned from the first
/// call), so that later waiters do not ask for watches in vain.
pub(crate) fn set_waitv_supported(supported: bool) {
    WAITV.store(if supported { WAITV_YES } else { WAITV_NO }, Ordering::Relaxed);
}

std::thread_local! {
    /// `WATCHES`, held by the forking thread from the fork's prepare handler
    /// to its parent/child handler.
    static HELD_FOR_FORK: core::cell::RefCell<Option<std::sync::MutexGuard<'static, WatchList>>> =
        const { core::cell::RefCell::new(None) };
}

/// `fork` prepare handler: takes `WATCHES`, so that the child never
/// inherits it locked by a thread that does not exist there.
pub(crate) fn lock_for_fork() {
    let guard = WATCHES.lock().unwrap_or_else(PoisonError::into_inner);
    HELD_FOR_FORK.with(|h| *h.borrow_mut() = Some(guard));
}

/// `fork` parent and child handler: lets go of what `lock_for_fork` took.
pub(crate) fn unlock_after_fork() {
    HELD_FOR_FORK.with(|h| drop(h.borrow_mut().take()));
}

/// For the `fork` child handler: the parent's watcher threads do not exist
/// in the child, so every epoch a thread read is stale (`WATCHES` is reset
/// by its pid check on next use). An atomic add only.
pub(crate) fn forget_in_child() {
    DEATHS.fetch_add(1, Ordering::Relaxed);
    // The forking thread still holds `WATCHES` (the prepare handler took
    // it): empty it here, which the pid check alone would miss when the
    // child's pid equals the parent's recorded one (a pid namespace's init).
    HELD_FOR_FORK.with(|h| {
        if let Some(watches) = h.borrow_mut().as_mut() {
            for w in watches.1.drain(..) {
                // SAFETY: the descriptor was the parent's watcher thread's,
                // which does not exist here: nothing else in this process
                // uses or closes this copy. Left open, it would keep the
                // watcher's momentary exclusive lock, if the fork came in
                // that moment, for as long as this child lives.
                unsafe { libc::close(w.fd) };
            }
        }
    });
}
