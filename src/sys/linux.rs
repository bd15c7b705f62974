//! Linux system calls used by shmsync, behind one private module.
//!
//! Everything here is a thin, safe wrapper over one kernel facility. The
//! algorithms live elsewhere; this file only knows how to ask the kernel.
//!
//! * futex wait/wake — always the *shared* operations: a futex word in a
//!   `MAP_SHARED` mapping is keyed by its (inode, offset), which is what lets
//!   a waiter in one process be woken by another. The private variants key by
//!   (mm, address) and would silently never wake a peer process.
//! * thread identity — the kernel thread id and the thread's start time, both
//!   cached per thread (reset in a forked child).
//! * liveness — "is thread `tid`, started at `start_time`, still running?",
//!   answered with proof only (see [`thread_liveness`]).

// Under loom the models in `sync.rs` replace all of this.
#![cfg_attr(loom, allow(dead_code))]

use core::sync::atomic::{AtomicU32, AtomicU64};
use std::cell::Cell;
use std::io;
use std::sync::Once;
use std::time::Duration;

// ---------------------------------------------------------------------------
// futex
// ---------------------------------------------------------------------------

/// Why [`futex_wait`] returned. Callers must re-check their condition in every
/// case: the kernel allows spurious wakeups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FutexWait {
    /// Woken by a `futex_wake`, by a signal, or spuriously.
    Woken,
    /// The word did not hold `expected` when the kernel checked it.
    ValueChanged,
    /// The timeout elapsed.
    TimedOut,
}

/// Sleeps while `*word == expected`, for at most `timeout` (forever if `None`).
///
/// The comparison and the enqueue are one atomic step in the kernel (under
/// the futex hash-bucket lock), so a `futex_wake` issued after the caller's
/// last store to `word` can never be lost.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> FutexWait {
    futex_wait_at(word.as_ptr(), expected, timeout)
}

/// [`futex_wait`] on the low 32 bits of a 64-bit word: the half whose value
/// the kernel compares with `expected`. Lets a lock keep its futex word and
/// more owner data in one atomic that a single CAS updates.
pub(crate) fn futex_wait_low(
    word: &AtomicU64,
    expected: u32,
    timeout: Option<Duration>,
) -> FutexWait {
    futex_wait_at(low_half(word), expected, timeout)
}

/// [`futex_wake`] for a word waited on with [`futex_wait_low`].
pub(crate) fn futex_wake_low(word: &AtomicU64, count: u32) -> usize {
    futex_wake_at(low_half(word), count)
}

/// The address of the low 32 bits of `word` (numerically low, whatever the
/// byte order). Aligned to 4 because `word` is aligned to 8.
fn low_half(word: &AtomicU64) -> *mut u32 {
    let p = word.as_ptr().cast::<u32>();
    if cfg!(target_endian = "big") {
        p.wrapping_add(1)
    } else {
        p
    }
}

fn futex_wait_at(addr: *mut u32, expected: u32, timeout: Option<Duration>) -> FutexWait {
    let ts = timeout.map(|d| libc::timespec {
        // Saturate absurd timeouts rather than overflow time_t: a wait of
        // i64::MAX seconds is "forever" for every practical purpose.
        tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(d.subsec_nanos()),
    });
    let ts_ptr = ts.as_ref().map_or(core::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `addr` points into a live atomic (an `AtomicU32`, or the low
    // half of an `AtomicU64`), so it is valid, 4-aligned and readable for
    // the duration of the call; the kernel only reads it. `ts_ptr` is null
    // or points to `ts`, which outlives the call. FUTEX_WAIT ignores the
    // remaining arguments.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            addr,
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
            core::ptr::null::<u32>(),
            0u32,
        )
    };
    if r == 0 {
        return FutexWait::Woken;
    }
    match io::Error::last_os_error().raw_os_error() {
        Some(libc::EAGAIN) => FutexWait::ValueChanged,
        Some(libc::ETIMEDOUT) => FutexWait::TimedOut,
        // EINTR: a signal handler ran; report it as a wakeup so the caller
        // re-checks. Anything else (EFAULT, EINVAL) cannot happen for a valid
        // aligned word and is also reported as a wakeup: the caller's loop
        // re-checks, which is always safe.
        _ => FutexWait::Woken,
    }
}

/// Wakes at most `count` threads (in any process) sleeping on `word`.
/// Returns how many were woken.
pub(crate) fn futex_wake(word: &AtomicU32, count: u32) -> usize {
    futex_wake_at(word.as_ptr(), count)
}

fn futex_wake_at(addr: *mut u32, count: u32) -> usize {
    let count = i32::try_from(count).unwrap_or(i32::MAX);
    // SAFETY: `addr` points into a live atomic; FUTEX_WAKE only uses the
    // address as a key and never dereferences it in a way that could fault.
    let r = unsafe { libc::syscall(libc::SYS_futex, addr, libc::FUTEX_WAKE, count) };
    usize::try_from(r).unwrap_or(0)
}

// ---------------------------------------------------------------------------
// thread identity
// ---------------------------------------------------------------------------

/// The calling thread's kernel identity: its thread id and start time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ThreadIdentity {
    /// Kernel thread id (`gettid`), always in `1..=0x3FFF_FFFF` on Linux
    /// (`PID_MAX_LIMIT` is 2^22), so it fits the lock word's 30 TID bits.
    pub(crate) tid: u32,
    /// Start time of the thread in clock ticks since boot (field 22 of
    /// `/proc/thread-self/stat`); `0` if it could not be read. Together with
    /// `tid` it names one thread for the lifetime of the machine, which is
    /// what guards against TID reuse.
    pub(crate) start_time: u64,
}

thread_local! {
    // `tid == 0` means "not cached yet". Const-initialized so the fast path
    // is one TLS load with no lazy-init check.
    static IDENTITY: Cell<ThreadIdentity> = const {
        Cell::new(ThreadIdentity { tid: 0, start_time: 0 })
    };
}

/// Returns the calling thread's identity, cached after the first call.
#[inline]
pub(crate) fn current_thread() -> ThreadIdentity {
    let id = IDENTITY.with(Cell::get);
    if id.tid != 0 {
        return id;
    }
    current_thread_slow()
}

#[cold]
fn current_thread_slow() -> ThreadIdentity {
    static AT_FORK: Once = Once::new();
    AT_FORK.call_once(|| {
        // SAFETY: `forget_cached_identity` is an `extern "C" fn()` that
        // only touches a thread-local `Cell`; it is async-signal-safe enough
        // for an atfork child handler (no locks, no allocation).
        unsafe { libc::pthread_atfork(None, None, Some(forget_cached_identity)) };
    });
    // SAFETY: gettid has no preconditions and cannot fail.
    let raw_tid = unsafe { libc::gettid() };
    // A lock word stores the owner in 30 bits and 0 means "unlocked"; the
    // kernel guarantees `1..=PID_MAX_LIMIT` (2^22), so this cannot fire, but
    // an owner id of 0 would make a locked mutex look free.
    let tid = u32::try_from(raw_tid).ok().filter(|&t| t != 0 && t < (1 << 30));
    let tid = tid.expect("gettid returned a thread id outside 1..2^30");
    let start_time = read_stat("/proc/thread-self/stat").map_or(0, |s| s.start_time);
    let id = ThreadIdentity { tid, start_time };
    IDENTITY.with(|c| c.set(id));
    id
}

/// atfork child handler: the forked child's only thread has a new TID, so the
/// cached identity inherited from the parent thread must not be used.
extern "C" fn forget_cached_identity() {
    IDENTITY.with(|c| c.set(ThreadIdentity { tid: 0, start_time: 0 }));
}

// ---------------------------------------------------------------------------
// liveness
// ---------------------------------------------------------------------------

/// The answer to "is this lock owner still running?".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Liveness {
    /// Running, or we cannot prove otherwise.
    Alive,
    /// Proven gone: no such thread, a zombie, or the TID now names a thread
    /// that started at a different time (TID reuse).
    Dead,
}

/// The cheap half of [`thread_liveness`]: one `kill(tid, 0)`, no `/proc`
/// read. `Dead` only if no task with that id exists (`ESRCH`); a zombie or a
/// reused TID is answered `Alive` here and caught by the full check.
pub(crate) fn thread_exists_quick(tid: u32) -> Liveness {
    let Ok(pid) = libc::pid_t::try_from(tid) else {
        return Liveness::Alive;
    };
    if pid <= 0 {
        return Liveness::Alive;
    }
    // SAFETY: kill with signal 0 performs only the existence and permission
    // checks; it never delivers a signal.
    let r = unsafe { libc::kill(pid, 0) };
    if r != 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
        Liveness::Dead
    } else {
        Liveness::Alive
    }
}

/// Decides whether thread `tid`, which recorded `start_time` (0 = unknown),
/// is still running. Only returns [`Liveness::Dead`] on proof.
///
/// Start times are compared modulo 2^32 (a lock stores only their low 32
/// bits beside the owner's TID): two threads with one TID whose start times
/// differ by an exact multiple of 2^32 clock ticks (497 days at 100 Hz) are
/// taken for the same thread, which errs on the safe side ("alive").
///
/// * `kill(tid, 0)` → `ESRCH`: no task with that id in our PID namespace.
/// * `/proc/<tid>/stat` state `Z`/`X`: it has exited and awaits reaping; a
///   SIGKILLed process stays a zombie until its parent waits for it.
/// * a different start time than recorded: the TID was reused.
///
/// Anything ambiguous (EPERM, an unreadable `/proc`, a `/proc` from another
/// namespace) is answered `Alive`: a false "alive" delays recovery, a false
/// "dead" would break mutual exclusion.
pub(crate) fn thread_liveness(tid: u32, start_time: u64) -> Liveness {
    let Ok(pid) = libc::pid_t::try_from(tid) else {
        return Liveness::Alive;
    };
    if pid <= 0 {
        return Liveness::Alive;
    }
    // SAFETY: kill with signal 0 performs only the existence and permission
    // checks; it never delivers a signal.
    let r = unsafe { libc::kill(pid, 0) };
    if r != 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
        return Liveness::Dead;
    }
    let mut path = [0u8; 32];
    let Some(path) = proc_stat_path(pid, &mut path) else {
        return Liveness::Alive;
    };
    match read_stat(path) {
        Some(stat) if stat.state == b'Z' || stat.state == b'X' => Liveness::Dead,
        Some(stat)
            if start_time != 0
                && stat.start_time != 0
                && low32(stat.start_time) != low32(start_time) =>
        {
            Liveness::Dead
        }
        _ => Liveness::Alive,
    }
}

/// The low 32 bits of a start time: what a lock word's owner stamp keeps.
#[allow(clippy::cast_possible_truncation)]
const fn low32(start_time: u64) -> u32 {
    start_time as u32
}

fn proc_stat_path(pid: libc::pid_t, buf: &mut [u8; 32]) -> Option<&str> {
    use std::io::Write;
    let mut cursor = io::Cursor::new(&mut buf[..]);
    write!(cursor, "/proc/{pid}/stat").ok()?;
    let len = usize::try_from(cursor.position()).ok()?;
    core::str::from_utf8(&buf[..len]).ok()
}

struct ProcStat {
    state: u8,
    start_time: u64,
}

/// Parses the state (field 3) and start time (field 22) of a `/proc/*/stat`
/// file. The command name (field 2) may contain spaces and parentheses, so
/// parsing starts after the *last* `)`.
fn read_stat(path: &str) -> Option<ProcStat> {
    let text = std::fs::read(path).ok()?;
    parse_stat(&text)
}

fn parse_stat(text: &[u8]) -> Option<ProcStat> {
    let close = text.iter().rposition(|&b| b == b')')?;
    let rest = core::str::from_utf8(text.get(close + 1..)?).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let state = *fields.next()?.as_bytes().first()?;
    // After the state (field 3) come fields 4..=21; field 22 is starttime.
    let start_time = fields.nth(22 - 4)?.parse().ok()?;
    Some(ProcStat { state, start_time })
}

/// The inode of `/proc/self/ns/pid`: equal for two processes exactly when
/// they share a PID namespace. `0` if it cannot be read (no `/proc`).
pub(crate) fn pid_namespace_id() -> u64 {
    std::fs::metadata("/proc/self/ns/pid").map_or(0, |m| std::os::unix::fs::MetadataExt::ino(&m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_tricky_command_name() {
        let line = b"1234 (a) b (c)) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 4242 19 20\n";
        let stat = parse_stat(line).expect("parses");
        assert_eq!(stat.state, b'S');
        assert_eq!(stat.start_time, 4242);
    }

    #[test]
    fn rejects_garbage_stat() {
        assert!(parse_stat(b"").is_none());
        assert!(parse_stat(b"1 (x) S 1 2").is_none());
        assert!(parse_stat(b"no paren at all").is_none());
    }

    #[test]
    fn current_thread_is_alive_and_cached() {
        let me = current_thread();
        assert_ne!(me.tid, 0);
        assert_ne!(me.start_time, 0);
        assert_eq!(me, current_thread());
        assert_eq!(thread_liveness(me.tid, me.start_time), Liveness::Alive);
        // Same TID, other start time: a reused TID is a dead owner.
        assert_eq!(thread_liveness(me.tid, me.start_time + 1), Liveness::Dead);
        // Start times that agree in their low 32 bits count as the same.
        assert_eq!(thread_liveness(me.tid, me.start_time + (1 << 32)), Liveness::Alive);
        assert_eq!(thread_exists_quick(me.tid), Liveness::Alive);
    }

    #[test]
    fn exited_thread_is_dead() {
        let id = std::thread::spawn(current_thread).join().expect("thread ran");
        assert_ne!(id, current_thread());
        // A joined thread's TID is released; unless the kernel already reused
        // it (then the start time differs), it is dead either way.
        assert_eq!(thread_liveness(id.tid, id.start_time), Liveness::Dead);
        // The cheap check proves death only by ESRCH, which a reused TID
        // hides; it must never call a live thread dead.
        assert_eq!(thread_exists_quick(current_thread().tid), Liveness::Alive);
    }

    #[test]
    fn futex_wait_returns_when_value_differs_or_times_out() {
        let w = AtomicU32::new(5);
        assert_eq!(futex_wait(&w, 4, None), FutexWait::ValueChanged);
        assert_eq!(futex_wait(&w, 5, Some(Duration::from_millis(1))), FutexWait::TimedOut);
        assert_eq!(futex_wake(&w, 1), 0);
    }

    #[test]
    fn futex_on_the_low_half_of_a_64_bit_word() {
        let w = AtomicU64::new(0xAAAA_BBBB_0000_0005);
        // Only the low half is compared.
        assert_eq!(futex_wait_low(&w, 4, None), FutexWait::ValueChanged);
        assert_eq!(futex_wait_low(&w, 5, Some(Duration::from_millis(1))), FutexWait::TimedOut);
        assert_eq!(futex_wake_low(&w, 1), 0);
    }

    #[test]
    fn namespace_id_is_stable() {
        assert_ne!(pid_namespace_id(), 0);
        assert_eq!(pid_namespace_id(), pid_namespace_id());
    }
}

// ---------------------------------------------------------------------------
// POSIX shared memory objects and OFD locks (used by `segment`)
// ---------------------------------------------------------------------------

#[cfg(not(loom))]
pub(crate) use shm::*;

/// Thin wrappers over `shm_open`, `shm_unlink`, `fchmod`, `ftruncate`,
/// `fstat` and open-file-description locks. Each returns the raw
/// `io::Error` so the caller can map it to the right `crate::Error`.
#[cfg(not(loom))]
mod shm {
    use std::ffi::CStr;
    use std::io;
    use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

    fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }

    /// `shm_open(name, flags | O_CLOEXEC, mode)`.
    pub(crate) fn shm_open(name: &CStr, flags: libc::c_int, mode: u32) -> io::Result<OwnedFd> {
        // SAFETY: `name` is a valid NUL-terminated string that outlives the
        // call; shm_open has no other memory-safety preconditions.
        let fd = cvt(unsafe {
            libc::shm_open(name.as_ptr(), flags | libc::O_CLOEXEC, mode as libc::mode_t)
        })?;
        // SAFETY: `fd` was just returned by a successful shm_open, so it is an
        // open descriptor owned by nobody else.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// `shm_unlink(name)`.
    pub(crate) fn shm_unlink(name: &CStr) -> io::Result<()> {
        // SAFETY: `name` is a valid NUL-terminated string.
        cvt(unsafe { libc::shm_unlink(name.as_ptr()) }).map(drop)
    }

    /// `fchmod(fd, mode)`: sets the exact mode, unaffected by the umask.
    pub(crate) fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
        // SAFETY: `fd` is a live descriptor borrowed for the call.
        cvt(unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) }).map(drop)
    }

    /// `ftruncate(fd, len)`.
    pub(crate) fn ftruncate(fd: BorrowedFd<'_>, len: u64) -> io::Result<()> {
        let len = libc::off_t::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "size exceeds off_t"))?;
        // SAFETY: `fd` is a live descriptor borrowed for the call.
        cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), len) }).map(drop)
    }

    /// What `fstat` says about a shared memory object.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) struct FileStat {
        pub(crate) size: u64,
        pub(crate) dev: u64,
        pub(crate) ino: u64,
        pub(crate) mode: u32,
    }

    fn from_stat(st: &libc::stat) -> FileStat {
        FileStat {
            size: u64::try_from(st.st_size).unwrap_or(0),
            #[allow(clippy::useless_conversion)]
            dev: u64::from(st.st_dev),
            #[allow(clippy::useless_conversion)]
            ino: u64::from(st.st_ino),
            #[allow(clippy::useless_conversion)]
            mode: u32::from(st.st_mode),
        }
    }

    /// `fstat(fd)`.
    pub(crate) fn fstat(fd: BorrowedFd<'_>) -> io::Result<FileStat> {
        let mut st = core::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: `fd` is live; `st` is valid for writes of one `stat`.
        cvt(unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) })?;
        // SAFETY: fstat succeeded, so it initialized `st`.
        Ok(from_stat(unsafe { st.assume_init_ref() }))
    }

    /// `stat(path)` without following nothing special; used to check that a
    /// name still refers to the object a handle has open.
    pub(crate) fn stat(path: &CStr) -> io::Result<FileStat> {
        let mut st = core::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: `path` is NUL-terminated; `st` is valid for writes.
        cvt(unsafe { libc::stat(path.as_ptr(), st.as_mut_ptr()) })?;
        // SAFETY: stat succeeded, so it initialized `st`.
        Ok(from_stat(unsafe { st.assume_init_ref() }))
    }

    /// The kind of an open-file-description lock on a whole file.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum OfdLock {
        /// `F_RDLCK`: many holders.
        Shared,
        /// `F_WRLCK`: one holder, no shared holders.
        Exclusive,
    }

    fn whole_file(kind: OfdLock) -> libc::flock {
        // SAFETY: `flock` is a plain C struct of integers; all-zero is valid.
        let mut fl: libc::flock = unsafe { core::mem::zeroed() };
        fl.l_type = match kind {
            OfdLock::Shared => libc::F_RDLCK,
            OfdLock::Exclusive => libc::F_WRLCK,
        } as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        // l_start = 0, l_len = 0: the whole file, however large it grows.
        // l_pid must be 0 for OFD locks.
        fl
    }

    /// `fcntl(F_OFD_SETLK)` on the whole file, without blocking. Converting a
    /// held lock (exclusive → shared, shared → exclusive) is atomic.
    /// Returns `Ok(false)` if a conflicting lock is held by another open file
    /// description.
    pub(crate) fn ofd_try_lock(fd: BorrowedFd<'_>, kind: OfdLock) -> io::Result<bool> {
        let fl = whole_file(kind);
        // SAFETY: `fd` is live; `fl` is a valid flock the kernel only reads.
        let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_SETLK, &fl) };
        if r == 0 {
            return Ok(true);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EACCES) => Ok(false),
            _ => Err(err),
        }
    }

    /// `fcntl(F_OFD_GETLK)`: whether another open file description holds a
    /// lock that conflicts with taking `kind` on the whole file.
    pub(crate) fn ofd_conflicting_lock(fd: BorrowedFd<'_>, kind: OfdLock) -> io::Result<bool> {
        let mut fl = whole_file(kind);
        // SAFETY: `fd` is live; `fl` is a valid flock the kernel reads and
        // overwrites with the first conflicting lock (or F_UNLCK).
        cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) })?;
        Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
    }

    /// `getpid()`.
    pub(crate) fn getpid() -> u32 {
        // SAFETY: getpid has no preconditions and cannot fail.
        u32::try_from(unsafe { libc::getpid() }).unwrap_or(0)
    }
}
