// Only `crate = "path"` is understood.
use shmsync::ShmSafe;

#[derive(ShmSafe)]
#[shmsync(krate = "shmsync")]
#[repr(C)]
struct Stats {
    hits: u64,
}

fn main() {}
