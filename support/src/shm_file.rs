//! The object behind segment `name` as a file, `/dev/shm/<name>`, read and
//! written the way another program (or an attacker) would: what the
//! validation tests corrupt, forge and inspect. Under Miri, which has no
//! `/dev/shm`, the library keeps its objects in memory and these go there.

/// The file of segment `name`: `/dev/shm/<name>` (not there under Miri,
/// whose objects live in memory).
pub fn path(name: &str) -> String {
    format!("/dev/shm/{name}")
}

/// Writes `bytes` at `offset` (`pwrite`), growing the file if needed.
pub fn write_at(name: &str, offset: u64, bytes: &[u8]) {
    #[cfg(not(miri))]
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(path(name)).expect("open shm file");
        f.write_all_at(bytes, offset).expect("write shm file");
    }
    #[cfg(miri)]
    shmsync::miri_hooks::write_at(name, offset, bytes).expect("write shm object");
}

/// The whole file.
pub fn read(name: &str) -> Vec<u8> {
    #[cfg(not(miri))]
    return std::fs::read(path(name)).expect("read shm file");
    #[cfg(miri)]
    return shmsync::miri_hooks::read(name).expect("read shm object");
}

/// Creates the file (or empties it) holding `bytes`: an object made by
/// hand, not by shmsync.
pub fn write(name: &str, bytes: &[u8]) {
    #[cfg(not(miri))]
    std::fs::write(path(name), bytes).expect("write /dev/shm file");
    #[cfg(miri)]
    shmsync::miri_hooks::write(name, bytes).expect("write shm object");
}

/// Truncates (or extends) the file to `len` bytes.
pub fn set_len(name: &str, len: u64) {
    #[cfg(not(miri))]
    std::fs::OpenOptions::new()
        .write(true)
        .open(path(name))
        .and_then(|f| f.set_len(len))
        .expect("truncate shm file");
    #[cfg(miri)]
    shmsync::miri_hooks::set_len(name, len).expect("truncate shm object");
}

/// Removes a hand-made file when the test ends, pass or fail.
pub struct RemoveOnDrop(pub String);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        #[cfg(not(miri))]
        let _ = std::fs::remove_file(path(&self.0));
        // `unlink` removes any object by name, hand-made or not.
        #[cfg(miri)]
        let _ = shmsync::unlink(&self.0);
    }
}
