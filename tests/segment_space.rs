//! A small or full `/dev/shm` is `Error::NoSpace` at creation, never a
//! SIGBUS later, and leaves no name behind.
//!
//! `ftruncate` alone makes a sparse object: tmpfs takes a page only when it
//! is first touched, and a page it cannot take kills the toucher with
//! SIGBUS. Each case here ran into that (or into a creation that succeeded
//! on memory that was not there) before segments reserved their pages.
//!
//! Every case runs in a child process in a private mount namespace
//! (`unshare -m`) with a small tmpfs of its own mounted on `/dev/shm`, so
//! the machine's `/dev/shm` is never filled. Where that is refused (no
//! privilege, no `unshare`), the test says `SKIPPED` and why.

use shmsync_support as support;

use std::ffi::CString;
use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use shmsync::{AtomicCounter, Error, Segment, ShmSafe};

/// Runs the rest of the command line in a new mount namespace whose mounts
/// do not propagate back to ours. `unshare` without `--fork` execs it.
const UNSHARE: [&str; 5] = ["unshare", "-m", "--propagation", "private", "--"];
/// Generous: the largest case reserves a few MiB.
const TIMEOUT: Duration = Duration::from_secs(60);
const KIB: u64 = 1024;
/// `state` in the segment header (see the format table in
/// `src/segment/header.rs`), and its value while an initializer runs.
const STATE_OFFSET: u64 = 12;
const STATE_INITIALIZING: u32 = 1;
/// The element count of the large slices: 1 Mi `AtomicU64`s, 8 MiB.
const LARGE_LEN: usize = 1 << 20;
const LARGE_BYTES: u64 = LARGE_LEN as u64 * 8;

#[derive(ShmSafe)]
#[repr(C)]
struct Record {
    hits: AtomicCounter,
    seq: AtomicU64,
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(page).expect("page size")
}

/// Bytes free in `/dev/shm` for an unprivileged user, as `df` shows them.
fn free_bytes() -> u64 {
    let mut st = core::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: the path is NUL-terminated; `st` is valid for writes of one
    // `statvfs`.
    let r = unsafe { libc::statvfs(c"/dev/shm".as_ptr(), st.as_mut_ptr()) };
    assert_eq!(r, 0, "statvfs /dev/shm: {}", std::io::Error::last_os_error());
    // SAFETY: statvfs succeeded, so it initialized `st`.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::useless_conversion)]
    let free = u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize));
    free
}

/// The names in `/dev/shm`, sorted.
fn dev_shm_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/dev/shm")
        .expect("read /dev/shm")
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The identity of this process's mount namespace.
fn mount_namespace() -> std::io::Result<u64> {
    std::fs::metadata("/proc/self/ns/mnt").map(|m| m.ino())
}

/// Mounts a tmpfs with `options` (its size, say) on `/dev/shm`, in this
/// process's mount namespace, which must not be `parent_ns` (the test's):
/// this must never cover the machine's `/dev/shm`. Exits with
/// [`support::SKIP_STATUS`] if mounting is refused.
fn mount_small_dev_shm(parent_ns: &str, options: &str) {
    let ours = mount_namespace().expect("read /proc/self/ns/mnt");
    assert_ne!(
        ours.to_string(),
        parent_ns,
        "the role is not in a mount namespace of its own: refusing to mount on /dev/shm"
    );
    let data = CString::new(format!("{options},mode=1777")).expect("no NUL");
    // SAFETY: every pointer is a NUL-terminated string that outlives the
    // call; mount has no other memory-safety preconditions.
    let r = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            c"/dev/shm".as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            data.as_ptr().cast(),
        )
    };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        if matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES)) {
            eprintln!("mount -t tmpfs on /dev/shm in a private mount namespace: {e}");
            std::process::exit(support::SKIP_STATUS);
        }
        panic!("mount -t tmpfs -o {options} tmpfs /dev/shm: {e}");
    }
    assert!(dev_shm_names().is_empty(), "the new tmpfs is empty");
}

/// Fills `/dev/shm` with the file `/dev/shm/<name>` until the tmpfs has no
/// page left (ENOSPC).
fn fill_dev_shm(name: &str) {
    use std::io::Write;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(support::shm_file::path(name))
        .expect("create filler");
    // Page-sized writes: every write but the refused one takes whole
    // pages, so the refusal means no page is left.
    let page = vec![0xA5u8; usize::try_from(page_size()).expect("usize")];
    loop {
        match f.write_all(&page) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("write filler: {e}"),
        }
    }
    assert!(free_bytes() < page_size(), "/dev/shm is full: {} bytes free", free_bytes());
}

/// Checks `err` is `NoSpace` for `name`, and returns `(needed, available)`.
fn expect_no_space(err: &Error, name: &str) -> (u64, u64) {
    match err {
        Error::NoSpace { name: n, needed, available } => {
            assert_eq!(n, name, "NoSpace names the segment");
            (*needed, *available)
        }
        other => panic!("expected NoSpace, got {other:?}: {other}"),
    }
}

#[test]
fn child_entry() {
    support::run_child(|role, args| {
        let parent_ns = &args[0];
        match role {
            "slice_larger_than_dev_shm" => slice_larger_than_dev_shm(parent_ns),
            "create_on_full_dev_shm" => create_on_full_dev_shm(parent_ns),
            "takeover_of_sparse_object" => takeover_of_sparse_object(parent_ns),
            "no_inode_left" => no_inode_left(parent_ns),
            other => panic!("unknown role {other}"),
        }
    });
}

/// /dev/shm is 64 KiB; an 8 MiB slice segment cannot be made.
fn slice_larger_than_dev_shm(parent_ns: &str) {
    mount_small_dev_shm(parent_ns, "size=64k");
    let empty = free_bytes();
    assert!(empty <= 64 * KIB, "the tmpfs is 64 KiB: {empty} bytes free");

    let name = support::unique_name("space-slice");
    let err = Segment::<[AtomicU64]>::create_slice(&name, LARGE_LEN)
        .expect_err("8 MiB cannot be created on a 64 KiB /dev/shm");
    let (needed, available) = expect_no_space(&err, &name);
    assert!(needed >= LARGE_BYTES, "needed {needed} covers the 8 MiB payload");
    assert!(available <= 64 * KIB, "available {available} is at most the tmpfs size");
    let message = err.to_string();
    for hint in ["--shm-size", "remount", &name] {
        assert!(message.contains(hint), "the message mentions {hint:?}: {message}");
    }
    assert!(!Path::new(&support::shm_file::path(&name)).exists(), "the name is removed");
    assert!(dev_shm_names().is_empty(), "nothing is left in /dev/shm: {:?}", dev_shm_names());
    assert_eq!(free_bytes(), empty, "every page taken for the attempt is given back");

    // The other slice constructors: the same error, and no initializer runs
    // on memory that is not there.
    let mut ran = false;
    let err = Segment::<[AtomicU64]>::create_slice_with(&name, LARGE_LEN, |_| ran = true)
        .expect_err("create_slice_with");
    expect_no_space(&err, &name);
    assert!(!ran, "the initializer did not run");
    let err = Segment::<[AtomicU64]>::open_or_create_slice(&name, LARGE_LEN)
        .expect_err("open_or_create_slice");
    expect_no_space(&err, &name);
    assert!(dev_shm_names().is_empty(), "nothing is left in /dev/shm: {:?}", dev_shm_names());

    // What fits still works: a small segment, written and read back
    // through a second handle.
    let small = support::unique_name("space-small");
    let seg = Segment::<Record>::create(&small).expect("a small segment fits in 64 KiB");
    seg.seq.store(41, Ordering::Relaxed);
    seg.hits.incr();
    let view = Segment::<Record>::open(&small).expect("open the small segment");
    assert_eq!(view.seq.load(Ordering::Relaxed), 41);
    assert_eq!(view.hits.get(), 1);
    let slice = Segment::<[AtomicU64]>::create_slice(&support::unique_name("space-fits"), 1024)
        .expect("an 8 KiB slice fits in 64 KiB");
    for v in slice.iter() {
        v.store(1, Ordering::Relaxed);
    }
    assert_eq!(slice.iter().map(|v| v.load(Ordering::Relaxed)).sum::<u64>(), 1024);
}

/// /dev/shm is full: creating even a one-page segment fails cleanly, and
/// succeeds once room is made.
fn create_on_full_dev_shm(parent_ns: &str) {
    mount_small_dev_shm(parent_ns, "size=1m");
    let filler = "filler";
    fill_dev_shm(filler);

    let name = support::unique_name("space-full");
    let err = Segment::<Record>::create(&name).expect_err("nothing fits in a full /dev/shm");
    let (needed, available) = expect_no_space(&err, &name);
    let at_least = 256 + core::mem::size_of::<Record>() as u64;
    assert!(needed >= at_least, "needed {needed} covers the header and the payload");
    assert!(available < page_size(), "available {available}: not a page is free");
    assert_eq!(dev_shm_names(), [filler], "the segment's name is removed");

    let mut ran = false;
    let err = Segment::<Record>::create_with(&name, |_| ran = true).expect_err("create_with");
    expect_no_space(&err, &name);
    assert!(!ran, "the initializer did not run");
    let err = Segment::<Record>::open_or_create(&name).expect_err("open_or_create");
    expect_no_space(&err, &name);
    assert_eq!(dev_shm_names(), [filler], "the segment's name is removed");

    std::fs::remove_file(support::shm_file::path(filler)).expect("remove filler");
    let seg = Segment::<Record>::create(&name).expect("create once there is room");
    assert!(seg.is_owner());
    seg.seq.store(7, Ordering::Relaxed);
    let view = Segment::<Record>::open(&name).expect("open");
    assert_eq!(view.seq.load(Ordering::Relaxed), 7, "one object, seen through both handles");
}

/// A creator made an 8 MiB slice segment and died while initializing it,
/// its payload still sparse; then /dev/shm filled up. Taking it over
/// cannot zero the payload: `NoSpace`, not a SIGBUS in the zero fill.
fn takeover_of_sparse_object(parent_ns: &str) {
    mount_small_dev_shm(parent_ns, "size=12m");
    let name = support::unique_name("space-takeover");

    // A real segment, kept when its handle drops.
    let seg = Segment::<[AtomicU64]>::options()
        .unlink_on_drop(false)
        .create_slice(&name, LARGE_LEN)
        .expect("an 8 MiB segment fits in 12 MiB");
    seg[0].store(9, Ordering::Relaxed);
    seg[LARGE_LEN - 1].store(9, Ordering::Relaxed);
    drop(seg);

    // Make it what a creator that died mid-initialization leaves: state
    // INITIALIZING, and (as right after `ftruncate`) no pages behind the
    // payload beyond the header's.
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(support::shm_file::path(&name))
        .expect("open");
    file.write_all_at(&STATE_INITIALIZING.to_ne_bytes(), STATE_OFFSET).expect("write state");
    let size = file.metadata().expect("stat").len();
    let page = page_size();
    let punch_len = libc::off_t::try_from(size - page).expect("off_t");
    // SAFETY: the descriptor is live for the call; fallocate has no other
    // memory-safety preconditions.
    let r = unsafe {
        libc::fallocate(
            file.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            libc::off_t::try_from(page).expect("off_t"),
            punch_len,
        )
    };
    assert_eq!(r, 0, "punch the payload out: {}", std::io::Error::last_os_error());
    let meta = file.metadata().expect("stat");
    assert_eq!(meta.len(), size, "the size is kept");
    assert!(meta.blocks() * 512 <= 2 * page, "the object is sparse: {} blocks", meta.blocks());
    drop(file);
    match Segment::<[AtomicU64]>::open_slice(&name) {
        Err(Error::CreatorDied { .. }) => {}
        other => panic!("the object looks like a dead creator's: {other:?}"),
    }

    let filler = "filler";
    fill_dev_shm(filler);
    let err = Segment::<[AtomicU64]>::open_or_create_slice(&name, LARGE_LEN)
        .expect_err("the payload cannot be backed on a full /dev/shm");
    let (needed, available) = expect_no_space(&err, &name);
    assert!(needed >= LARGE_BYTES, "needed {needed} covers the 8 MiB payload");
    assert!(available < page, "available {available}: not a page is free");
    assert_eq!(dev_shm_names(), [filler], "the half-made object's name is removed");

    std::fs::remove_file(support::shm_file::path(filler)).expect("remove filler");
    let seg = Segment::<[AtomicU64]>::open_or_create_slice(&name, LARGE_LEN)
        .expect("open_or_create once there is room");
    assert!(seg.is_owner(), "made anew");
    assert_eq!(seg.len(), LARGE_LEN);
    assert_eq!(seg[0].load(Ordering::Relaxed), 0);
    assert_eq!(seg[LARGE_LEN - 1].load(Ordering::Relaxed), 0);
}

/// /dev/shm has bytes free but no inode left (its root directory takes
/// the only one): not even an empty object can be made. `NoSpace` with
/// nothing needed beyond the object itself, and no name left.
fn no_inode_left(parent_ns: &str) {
    mount_small_dev_shm(parent_ns, "size=1m,nr_inodes=1");
    let name = support::unique_name("space-inodes");
    let err = Segment::<Record>::create(&name).expect_err("no inode for a new object");
    let (needed, _) = expect_no_space(&err, &name);
    assert_eq!(needed, 0, "NoSpace says no object could be made at all");
    let err = Segment::<Record>::open_or_create(&name).expect_err("open_or_create");
    expect_no_space(&err, &name);
    assert!(dev_shm_names().is_empty(), "nothing is left in /dev/shm: {:?}", dev_shm_names());
}

/// Runs `role` in a private mount namespace (see the module docs); skips,
/// saying so, where that cannot be had.
fn run_with_small_dev_shm(test: &str, role: &str) {
    if !support::command_succeeds(UNSHARE[0], &[&UNSHARE[1..], &["true"]].concat()) {
        support::report_skip(
            test,
            "`unshare -m` is refused or missing here (it needs CAP_SYS_ADMIN), so no private \
             mount namespace with a small /dev/shm can be made",
        );
        return;
    }
    let parent_ns = match mount_namespace() {
        Ok(ns) => ns.to_string(),
        Err(e) => {
            support::report_skip(
                test,
                &format!(
                    "cannot read /proc/self/ns/mnt ({e}), so the role could not make sure it \
                     never mounts on this namespace's /dev/shm"
                ),
            );
            return;
        }
    };
    let child = support::spawn_under(&UNSHARE, "child_entry", role, &[&parent_ns]);
    let pid = child.pid();
    let status = child.wait_timeout(TIMEOUT);
    if status.code() == Some(support::SKIP_STATUS) {
        support::report_skip(
            test,
            "mounting a tmpfs on /dev/shm in a private mount namespace is refused here",
        );
        return;
    }
    if status.signal() == Some(libc::SIGBUS) {
        panic!("role {role} (pid {pid}) died with SIGBUS: it touched an unbacked page");
    }
    assert!(status.success(), "role {role} (pid {pid}) failed: {status}");
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn create_slice_larger_than_dev_shm_is_no_space_and_leaves_no_name() {
    run_with_small_dev_shm(
        "create_slice_larger_than_dev_shm_is_no_space_and_leaves_no_name",
        "slice_larger_than_dev_shm",
    );
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn create_on_full_dev_shm_is_no_space_not_sigbus() {
    run_with_small_dev_shm(
        "create_on_full_dev_shm_is_no_space_not_sigbus",
        "create_on_full_dev_shm",
    );
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn takeover_of_sparse_object_on_full_dev_shm_is_no_space_not_sigbus() {
    run_with_small_dev_shm(
        "takeover_of_sparse_object_on_full_dev_shm_is_no_space_not_sigbus",
        "takeover_of_sparse_object",
    );
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn create_with_no_inode_left_in_dev_shm_is_no_space() {
    run_with_small_dev_shm("create_with_no_inode_left_in_dev_shm_is_no_space", "no_inode_left");
}
