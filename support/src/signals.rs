//! Signals to and from child processes: the deaths and stops the
//! multi-process tests inflict.

/// SIGKILLs the calling process at once: a death with no unwinding, no
/// destructors and no atexit handlers, exactly like an OOM kill.
pub fn die_now() -> ! {
    // SAFETY: raise has no memory-safety preconditions.
    unsafe { libc::raise(libc::SIGKILL) };
    unreachable!("SIGKILL cannot be caught")
}

/// Sends `sig` to the child `pid`; panics if that fails.
pub fn signal(pid: u32, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    // SAFETY: kill has no memory-safety preconditions; `pid` is our child.
    let r = unsafe { libc::kill(pid, sig) };
    assert_eq!(r, 0, "kill({pid}, {sig}): {}", std::io::Error::last_os_error());
}

/// SIGSTOPs the child `pid` and waits until the stop has taken effect, so
/// the caller can inspect shared state the child cannot change meanwhile.
pub fn freeze(pid: u32) {
    signal(pid, libc::SIGSTOP);
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer; WUNTRACED reports the stop
    // without reaping the child.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WUNTRACED) };
    assert_eq!(r, pid, "waitpid: {}", std::io::Error::last_os_error());
    assert!(libc::WIFSTOPPED(status), "child {pid} exited instead of stopping: {status:#x}");
}
