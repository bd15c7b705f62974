//! Running a closure in a forked copy of the test process and reading its
//! verdict back as an exit status: how the fork tests check what a forked
//! copy of a handle may and may not do.

/// Forks; the forked process (only it) runs `copy` and `_exit`s with the status it
/// returns; this process waits for it and returns that status.
///
/// # Safety
///
/// The calling process must have no other thread that could hold a lock
/// (the allocator's, a registry's) the forked process, which has only the
/// forking thread, would then wait for forever: run the caller as a child
/// role with `--test-threads=1`. `copy` ends in `_exit`: it runs without
/// atexit handlers or a flush of stdio buffers shared with this process.
///
/// # Panics
///
/// If `fork` or `waitpid` fails, or the forked process does not exit
/// normally (a signal, e.g. an abort).
pub unsafe fn exit_status_of_forked(copy: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the caller guarantees no other thread holds a lock the
    // forked process could need (see the function's `# Safety`).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = copy();
        // SAFETY: `_exit` ends the forked process at once, which is what a
        // forked child of a multi-threaded parent may do.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer; `pid` is our child.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid, "waitpid: {}", std::io::Error::last_os_error());
    assert!(libc::WIFEXITED(status), "the forked process did not exit normally: {status:#x}");
    libc::WEXITSTATUS(status)
}
