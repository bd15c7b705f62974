//! Re-executing the running binary: the one place that asks for
//! `current_exe`, used by test child roles ([`crate::child`]), the
//! benchmark harness's roles and the examples' workers.
//!
//! Every multi-process test, benchmark and example starts its other
//! processes this way rather than with `fork`: a process that already has
//! threads (libtest, criterion, a `ctrlc` handler) must not fork.

use std::ffi::CString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The path of the running binary.
///
/// # Errors
///
/// If the kernel cannot name it (`/proc/self/exe` unreadable).
pub fn try_self_exe() -> std::io::Result<PathBuf> {
    std::env::current_exe()
}

/// The path of the running binary.
///
/// # Panics
///
/// If the kernel cannot name it, see [`try_self_exe`].
pub fn self_exe() -> PathBuf {
    try_self_exe().expect("the path of the running binary")
}

/// A command that runs this same binary again, with no arguments yet.
///
/// # Panics
///
/// As [`self_exe`].
pub fn self_command() -> Command {
    Command::new(self_exe())
}

/// Whether `program args..` can be run and exits with status 0 (its output
/// discarded): a probe for a tool or a privilege a test needs.
pub fn command_succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The path of `program` found on `PATH` (`/usr/bin:/bin` if unset), as a
/// C string for `execv` in a process that must not allocate after `fork`.
///
/// # Panics
///
/// If no directory of `PATH` has such a file.
pub fn find_program(program: &str) -> CString {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    let found = std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("`{program}` is not in PATH"));
    CString::new(found.into_os_string().into_vec()).expect("a path has no NUL")
}
