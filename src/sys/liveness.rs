//! Proof that a lock owner's process is gone, held by the kernel.
//!
//! # The rule
//!
//! A lock's owner is dead when no process that still maps the owner's guard
//! remains: the owner process, and every child it `fork`ed that has not
//! `exec`'d, have exited or exec'd. A thread that exits with its guard
//! leaked, in a live process, leaves the lock held while that process lives
//! (as a leaked `std::sync::MutexGuard` does); anything else would hand out
//! a second `&mut T`. No `/proc` view, PID, TID or start time is ever taken
//! as proof: those depend on the reader's namespaces and survive `exec`.
//!
//! # The mechanism
//!
//! A lock word records its owner's *process token* (see [`super::token`]).
//! Every segment this process maps is listed here with two descriptors of
//! its object, both close-on-exec:
//!
//! | descriptor | holds | used for |
//! |---|---|---|
//! | the handle's main one (owned by the segment) | the attach lock on `[0, TOKEN_BASE)` | the death test: `F_OFD_GETLK` on a token's byte |
//! | a token descriptor (owned here), a new open file description | a shared lock on byte `TOKEN_BASE + token` | keeping this process's token held |
//!
//! An OFD lock belongs to an open file description: the kernel drops it
//! when the last descriptor of that description closes, at exit, at `exec`
//! (close-on-exec), or when the handle drops; a forked child's copy keeps it.
//! So "token byte not held by anyone" is exactly the rule above. The test
//! goes through the main descriptor, which holds no lock in the token range,
//! because `F_OFD_GETLK` ignores the locks of the description it is asked
//! through.
//!
//! After `fork`, the child shares its parent's descriptions (and so keeps
//! the parent's token held, as the rule wants). On its first lock it draws a
//! token of its own and holds it on every listed segment through a *new*
//! description, reopened through `/proc/self/fd`, so that its death is seen
//! while the parent lives. Without `/proc` it falls back to the shared
//! description: then the child's death is only seen once the parent is gone
//! too (a late recovery, never a wrong one).
//!
//! A lock word outside every listed segment (a `static`, process memory)
//! has no descriptor to test: its owner is never declared dead.

/// The answer to "does the process that owns this lock word still map it?".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Liveness {
    /// Alive, or not provably gone.
    Alive,
    /// Proven gone: nobody holds its token on the lock word's segment.
    Dead,
}

#[cfg(not(loom))]
pub(crate) use imp::*;

#[cfg(not(loom))]
mod imp {
    use std::ffi::CString;
    use std::io;
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
    use std::sync::{PoisonError, RwLock};

    use super::super::shm;
    use super::super::token;
    use super::Liveness;

    /// One mapped segment.
    struct Mapping {
        base: usize,
        len: usize,
        /// The handle's main descriptor (borrowed: the handle unregisters
        /// before closing it).
        main: RawFd,
        /// `shm_open` name and identity of the object, to reopen it.
        name: CString,
        dev: u64,
        ino: u64,
        /// Descriptors holding token locks, with the token each holds:
        /// this process's, and after a fork the inherited ones that hold
        /// the parent's.
        token_fds: Vec<(u32, shm::ObjectFd)>,
    }

    impl Mapping {
        fn main(&self) -> BorrowedFd<'_> {
            // SAFETY: `main` stays open while the mapping is listed: the
            // segment handle unregisters before it closes the descriptor,
            // and readers hold the registry lock, which unregistering takes
            // exclusively.
            unsafe { BorrowedFd::borrow_raw(self.main) }
        }

        /// A new open file description of the object, read-only: through
        /// `/proc/self/fd` (works after the name is gone), else by name if
        /// it still names the same object.
        fn reopen(&self, writable: bool) -> io::Result<shm::ObjectFd> {
            let by_proc = shm::reopen(self.main(), writable);
            let fd = match by_proc {
                Ok(fd) => fd,
                Err(e) => {
                    let access = if writable { libc::O_RDWR } else { libc::O_RDONLY };
                    let fd = shm::shm_open(&self.name, access, 0).map_err(|_| e)?;
                    let st = shm::fstat(fd.as_fd())?;
                    if (st.dev, st.ino) != (self.dev, self.ino) {
                        return Err(io::Error::other("the name now names another object"));
                    }
                    fd
                }
            };
            Ok(fd)
        }

        /// Holds `token` on this segment through a new description (or, if
        /// none can be opened, through an inherited one).
        ///
        /// With no descriptor to spare (no `/proc`, or the descriptor limit
        /// reached), the token is held on the inherited description itself:
        /// it is then held while the parent holds it too, so this process's
        /// death is seen only once the parent is gone as well (late, never
        /// wrong).
        fn hold(&mut self, token: u32) -> io::Result<()> {
            let fd = match self.reopen(false) {
                Ok(fd) => fd,
                Err(e) => {
                    let Some((_, inherited)) = self.token_fds.first() else { return Err(e) };
                    return shm::ofd_hold_token(inherited.as_fd(), token);
                }
            };
            shm::ofd_hold_token(fd.as_fd(), token)?;
            self.token_fds.push((token, fd));
            Ok(())
        }

        fn token_held(&self, token: u32) -> bool {
            // An error (none is expected) proves nothing: alive.
            shm::ofd_token_held(self.main(), token).unwrap_or(true)
        }
    }

    /// A token descriptor kept after this process let go of its last handle
    /// of an object (see [`unregister`]).
    struct Retained {
        dev: u64,
        ino: u64,
        token: u32,
        fd: shm::ObjectFd,
    }

    /// What this process maps, and the tokens it keeps.
    struct Registry {
        /// Every segment this process maps. Entries are added once a
        /// segment is mapped and validated and removed before it is
        /// unmapped and closed.
        mappings: Vec<Mapping>,
        /// One token descriptor per object this process has mapped and let
        /// go of while the object still has a name.
        retained: Vec<Retained>,
    }

    /// The registry. Tokens are made under its write lock.
    static REGISTRY: RwLock<Registry> =
        RwLock::new(Registry { mappings: Vec::new(), retained: Vec::new() });

    /// What the registry needs to know of a newly mapped segment.
    pub(crate) struct NewMapping<'a> {
        pub(crate) base: *const u8,
        pub(crate) len: usize,
        pub(crate) main: BorrowedFd<'a>,
        pub(crate) name: &'a core::ffi::CStr,
        pub(crate) dev: u64,
        pub(crate) ino: u64,
    }

    /// Lists a mapped segment and holds this process's token on it.
    ///
    /// # Errors
    ///
    /// If no second open file description of the object can be had (no
    /// `/proc/self/fd` and the name no longer names it), or the lock fails.
    pub(crate) fn register(new: &NewMapping<'_>) -> io::Result<()> {
        // Before the lock: a fork while we hold it must find its handlers.
        token::register_fork_handler();
        let mut reg = REGISTRY.write().unwrap_or_else(PoisonError::into_inner);
        sweep_unlinked(&mut reg.retained);
        // An object with no name left (unlinked while this open was under
        // way, or reached through another path such as a bind mount) is
        // refused: this process may have let go of its token on it already
        // (`unregister` and `sweep_unlinked` do so once `nlink` is 0), and
        // holding that token again would let a waiter that saw it free rob
        // us (ABA, see `unregister`). `nlink` never rises again from 0, and
        // releases happen under this same lock, so the check cannot race.
        if shm::fstat(new.main)?.nlink == 0 {
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        }
        let mut mapping = Mapping {
            base: new.base as usize,
            len: new.len,
            main: new.main.as_raw_fd(),
            name: new.name.to_owned(),
            dev: new.dev,
            ino: new.ino,
            token_fds: Vec::new(),
        };
        let token = match token::current() {
            0 => make_token(&mut reg, Some(&mapping)),
            t => t,
        };
        let kept =
            reg.retained.iter().position(|r| (r.dev, r.ino, r.token) == (new.dev, new.ino, token));
        if let Some(i) = kept {
            // Held all along since this process let go of the object.
            let r = reg.retained.swap_remove(i);
            mapping.token_fds.push((r.token, r.fd));
        } else {
            let fd = mapping.reopen(false)?;
            shm::ofd_hold_token(fd.as_fd(), token)?;
            mapping.token_fds.push((token, fd));
        }
        reg.mappings.push(mapping);
        Ok(())
    }

    /// Forgets the mapping at `base`; call before unmapping it and closing
    /// its main descriptor.
    ///
    /// The process keeps holding its token on the object (one descriptor,
    /// in `retained`) for as long as it lives and the object has a name,
    /// even with no handle left. Otherwise a waiter could take this
    /// process's token for gone while the process re-opens the object and
    /// locks again with the very same lock word: the waiter's recovery CAS,
    /// judged on the old word, would then rob a live owner (ABA). Once the
    /// object has no name, `register` refuses it, so its token can go.
    pub(crate) fn unregister(base: *const u8) {
        let mut reg = REGISTRY.write().unwrap_or_else(PoisonError::into_inner);
        let Some(i) = reg.mappings.iter().position(|m| m.base == base as usize) else {
            return;
        };
        let m = reg.mappings.swap_remove(i);
        let token = token::current();
        let object = (m.dev, m.ino);
        let still_mapped = reg.mappings.iter().any(|o| (o.dev, o.ino) == object);
        let already_kept =
            reg.retained.iter().any(|r| (r.dev, r.ino, r.token) == (m.dev, m.ino, token));
        if token != 0 && !still_mapped && !already_kept {
            // Tokens of other processes (a forked child's inherited ones)
            // are let go: this process no longer maps their guards.
            if let Some((t, fd)) = m.token_fds.into_iter().find(|(t, _)| *t == token) {
                if is_linked(&fd) {
                    reg.retained.push(Retained { dev: m.dev, ino: m.ino, token: t, fd });
                }
            }
        }
        sweep_unlinked(&mut reg.retained);
        // Another mapping may come to this address: a proof of life cached
        // for a lock word here must not carry over to it. Under the lock, so
        // that whoever lists the next mapping here sees the count moved.
        super::super::watch::invalidate_cached_proofs();
    }

    /// Whether the object `fd` refers to still has a name.
    fn is_linked(fd: &shm::ObjectFd) -> bool {
        // An error (none is expected): keep it, the safe side.
        shm::fstat(fd.as_fd()).map_or(true, |st| st.nlink > 0)
    }

    /// Closes the kept descriptors of objects that were unlinked since (which
    /// pin the object's memory). At most [`SWEEP_BATCH`] checks per call,
    /// round robin, so that a process that kept many costs little per call.
    fn sweep_unlinked(retained: &mut Vec<Retained>) {
        /// `fstat`s per sweep.
        const SWEEP_BATCH: usize = 8;
        static NEXT: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);
        for _ in 0..SWEEP_BATCH.min(retained.len()) {
            // Relaxed: only spreads the checks over calls; any value works.
            let i = NEXT.fetch_add(1, core::sync::atomic::Ordering::Relaxed) % retained.len();
            if !is_linked(&retained[i].fd) {
                retained.swap_remove(i);
            }
            if retained.is_empty() {
                break;
            }
        }
    }

    /// Closes the kept descriptors of unlinked objects (all of them): for
    /// `shmsync::unlink` and an owner's unlink on drop, after which memory
    /// a kept descriptor pins would otherwise stay pinned until this
    /// process next maps or unmaps a segment.
    pub(crate) fn release_unlinked() {
        let mut reg = REGISTRY.write().unwrap_or_else(PoisonError::into_inner);
        reg.retained.retain(|r| is_linked(&r.fd));
    }

    /// Gives this process a token (in a forked child: a new one) held on
    /// every listed segment, and returns it.
    pub(crate) fn adopt_process_token() -> u32 {
        // Before the lock: a fork while we hold it must find its handlers.
        token::register_fork_handler();
        let mut reg = REGISTRY.write().unwrap_or_else(PoisonError::into_inner);
        match token::current() {
            0 => make_token(&mut reg, None),
            t => t,
        }
    }

    /// Draws a token nobody holds on the listed segments (nor on
    /// `candidate`, a segment about to be listed), holds it on each listed
    /// one, and publishes it.
    fn make_token(reg: &mut Registry, candidate: Option<&Mapping>) -> u32 {
        // A new process: what it inherited in `retained` holds its parent's
        // token on objects it does not map.
        reg.retained.clear();
        let token = loop {
            let t = token::random_token();
            let taken = reg.mappings.iter().chain(candidate).any(|m| m.token_held(t));
            if !taken {
                break t;
            }
        };
        for m in &mut reg.mappings {
            // A segment on which the token cannot be held (no descriptor can
            // be had) makes this process's locks on it look dead to others:
            // never let that pass silently.
            if let Err(e) = m.hold(token) {
                panic!(
                    "shmsync: cannot hold this process's liveness token on a mapped segment: {e}"
                );
            }
        }
        token::publish(token);
        token
    }

    /// Whether the process holding `token` still maps the lock word at
    /// `addr`'s segment. `Alive` for a word outside every listed segment.
    pub(crate) fn owner_liveness(addr: usize, token: u32) -> Liveness {
        let reg = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
        let list = &reg.mappings;
        match list.iter().find(|m| addr >= m.base && addr - m.base < m.len) {
            Some(m) if !m.token_held(token) => Liveness::Dead,
            _ => Liveness::Alive,
        }
    }

    /// For a watcher of the owners of the lock word at `addr`: a new
    /// read-write open file description of its segment's object (to wait
    /// for an exclusive lock on a token's byte) and the object's identity.
    /// `None` for a word outside every listed segment.
    pub(crate) fn open_for_watch(addr: usize) -> Option<(shm::ObjectFd, u64, u64)> {
        let reg = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
        let list = &reg.mappings;
        let m = list.iter().find(|m| addr >= m.base && addr - m.base < m.len)?;
        let fd = m.reopen(true).ok()?;
        Some((fd, m.dev, m.ino))
    }

    /// The identity (device, inode) of the segment holding `addr`, if any.
    pub(crate) fn segment_of(addr: usize) -> Option<(u64, u64)> {
        let reg = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
        let list = &reg.mappings;
        let m = list.iter().find(|m| addr >= m.base && addr - m.base < m.len)?;
        Some((m.dev, m.ino))
    }

    std::thread_local! {
        /// `REGISTRY`, held by the forking thread from the fork's prepare
        /// handler to its parent/child handler.
        static HELD_FOR_FORK: core::cell::RefCell<Option<std::sync::RwLockWriteGuard<'static, Registry>>> =
            const { core::cell::RefCell::new(None) };
    }

    /// `fork` prepare handler: takes `REGISTRY`, so that the child never
    /// inherits it locked by a thread that does not exist there (its first
    /// lock would deadlock making its token).
    pub(crate) fn lock_for_fork() {
        let guard = REGISTRY.write().unwrap_or_else(PoisonError::into_inner);
        HELD_FOR_FORK.with(|h| *h.borrow_mut() = Some(guard));
    }

    /// `fork` parent and child handler: lets go of what `lock_for_fork`
    /// took.
    pub(crate) fn unlock_after_fork() {
        HELD_FOR_FORK.with(|h| drop(h.borrow_mut().take()));
    }

    /// Whether the lock word at `addr` lies in a listed segment (test support).
    pub(crate) fn in_a_segment(addr: usize) -> bool {
        let reg = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
        let list = &reg.mappings;
        list.iter().any(|m| addr >= m.base && addr - m.base < m.len)
    }
}
