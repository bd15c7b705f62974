// A `bool` has invalid bit patterns (2..=255), which a torn or corrupt
// copy could produce: not Pod, so not accepted.
use shmsync::bytemuck::{Pod, Zeroable};
use shmsync::{SeqLock, ShmSafe};

#[derive(Clone, Copy, ShmSafe, Pod, Zeroable)]
#[bytemuck(crate = "shmsync::bytemuck")]
#[repr(C)]
struct Flags {
    on: [bool; 8],
}

fn main() {
    let _ = SeqLock::new(Flags { on: [false; 8] });
}
