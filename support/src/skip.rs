//! Tests that cannot run here (a missing tool, privilege or kernel
//! feature) say so loudly instead of passing silently.

/// The exit status a child role uses to say "this environment cannot run
/// me" (the automake convention); the parent then reports a skip.
pub const SKIP_STATUS: i32 = 77;

/// Reports that `test` did not run, and why, on the real stderr: the
/// harness captures `println!` and `eprintln!` of passing tests, and a skip
/// must never look like a silent pass.
pub fn report_skip(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED: {test}: {why}");
}
