//! Modes are exact (the umask does not apply) and a segment the caller may
//! not open read-write gives `PermissionDenied`.
//!
//! Root bypasses file permission checks, so when the tests run as root the
//! permission check runs in a child process that first drops its privileges
//! to the `nobody` user (uid/gid 65534). The child also opens a segment it
//! *is* allowed to open, so the test cannot pass merely because the child
//! can open nothing.

use shmsync_support as support;

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use shmsync::{Error, Segment};

const NOBODY: u32 = 65534;

fn mode_of(name: &str) -> u32 {
    std::fs::metadata(format!("/dev/shm/{name}")).expect("stat").permissions().mode() & 0o7777
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn child_entry() {
    support::run_child(|role, args| match role {
        "create_under_umask" => {
            // SAFETY: umask has no preconditions; this child is single-purpose.
            unsafe { libc::umask(0o077) };
            let wide = Segment::<AtomicU64>::options()
                .mode(0o666)
                .unlink_on_drop(false)
                .create(&args[0])
                .expect("create 0o666");
            let default = Segment::<AtomicU64>::options()
                .unlink_on_drop(false)
                .create(&args[1])
                .expect("create");
            drop((wide, default));
        }
        "open_as_nobody" => {
            // SAFETY: plain system calls; the child is about to run only
            // this role and exit.
            unsafe {
                assert_eq!(libc::setgroups(0, std::ptr::null()), 0, "setgroups");
                assert_eq!(libc::setgid(NOBODY), 0, "setgid");
                assert_eq!(libc::setuid(NOBODY), 0, "setuid");
                assert_eq!(libc::geteuid(), NOBODY);
            }
            let (denied, allowed) = (&args[0], &args[1]);
            match Segment::<AtomicU64>::open(denied) {
                Err(Error::PermissionDenied { name }) => assert_eq!(&name, denied),
                other => panic!("expected PermissionDenied, got {other:?}"),
            }
            let seg = Segment::<AtomicU64>::open(allowed).expect("a 0o666 segment opens");
            assert_eq!(seg.load(Ordering::Relaxed), 17);
            support::reached("checked");
        }
        other => panic!("unknown role {other}"),
    });
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn mode_is_exact_despite_umask_and_defaults_to_0o600() {
    let wide = support::unique_name("mode-wide");
    let default = support::unique_name("mode-default");
    support::spawn("child_entry", "create_under_umask", &[&wide, &default])
        .expect_success(Duration::from_secs(20));
    let (wide_mode, default_mode) = (mode_of(&wide), mode_of(&default));
    shmsync::unlink(&wide).expect("unlink");
    shmsync::unlink(&default).expect("unlink");
    // Under umask 0o077, shm_open alone would have made this 0o600.
    assert_eq!(wide_mode, 0o666);
    assert_eq!(default_mode, 0o600);
}

#[test]
fn mode_outside_permission_bits_is_rejected() {
    let name = support::unique_name("mode-bad");
    match Segment::<AtomicU64>::options().mode(0o4755).create(&name) {
        Err(e @ Error::InvalidArgument { what: "mode", .. }) => {
            assert!(e.to_string().contains("0o4755"), "{e}");
        }
        other => panic!("expected an invalid-argument error, got {other:?}"),
    }
    assert!(matches!(Segment::<AtomicU64>::open(&name), Err(Error::NotFound { .. })));
}

#[test]
fn a_unique_segment_with_a_bad_mode_names_the_pattern_not_a_random_name() {
    let prefix = support::unique_name("mode-bad-unique");
    match Segment::<AtomicU64>::options().mode(0o4755).create_unique(&prefix) {
        Err(e @ Error::InvalidArgument { what: "mode", .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(&format!("{prefix}_xxxxxxxx")), "{msg}");
            assert!(msg.contains("0o4755"), "{msg}");
        }
        other => panic!("expected an invalid-argument error, got {other:?}"),
    }
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn opening_without_permission_is_permission_denied() {
    let denied = support::unique_name("perm-denied");
    let allowed = support::unique_name("perm-allowed");
    let _d = Segment::<AtomicU64>::options().mode(0).create(&denied).expect("create mode 0");
    assert_eq!(mode_of(&denied), 0);
    let a = Segment::<AtomicU64>::options().mode(0o666).create(&allowed).expect("create");
    a.store(17, Ordering::Relaxed);
    if is_root() {
        // Root bypasses the mode (with CAP_DAC_OVERRIDE): check as nobody.
        let mut child = support::spawn("child_entry", "open_as_nobody", &[&denied, &allowed]);
        child.wait_for("checked", Duration::from_secs(20));
        child.expect_success(Duration::from_secs(20));
    } else {
        match Segment::<AtomicU64>::open(&denied) {
            Err(Error::PermissionDenied { name }) => assert_eq!(name, denied),
            other => panic!("expected PermissionDenied, got {other:?}"),
        }
        drop(Segment::<AtomicU64>::open(&allowed).expect("0o666 opens"));
    }
}
