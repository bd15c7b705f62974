// The derive under a renamed crate names it with `#[shmsync(crate = "...")]`.
// A renamed dependency (`shm = { package = "shmsync", .. }`) puts `shm` in
// the extern prelude instead of `shmsync`; `extern crate .. as` does the same
// here (trybuild's test crate already depends on shmsync under its own name).
extern crate shmsync as shm;

use shm::{AtomicCounter, ShmMutex, ShmSafe};

#[derive(ShmSafe)]
#[shmsync(crate = "shm")]
#[repr(C)]
struct Stats {
    hits: AtomicCounter,
    book: ShmMutex<[u64; 2]>,
}

mod reexported {
    pub use ::shmsync as sync;
}

#[derive(shm::ShmSafe)]
#[shmsync(crate = "crate::reexported::sync")]
#[repr(C)]
struct Through {
    flag: u8,
    lock: shm::ShmMutex<()>,
}

fn main() {
    assert_eq!(<Stats as ShmSafe>::TYPE_NAME, "Stats");
    assert_eq!(<Through as ShmSafe>::TYPE_NAME, "Through");
}
