// Every field that cannot live in shared memory is reported, each with what
// to use instead, and nothing else.
use shmsync::{ShmMutex, ShmSafe};

#[derive(ShmSafe)]
#[repr(C)]
struct Job {
    name: String,
    done: bool,
    queue: ShmMutex<[u64; 4]>,
}

fn main() {}
