// `u8` then `u64`: 7 padding bytes. The Pod derive refuses the type, so it
// cannot be put in a SeqLock.
use shmsync::bytemuck::{Pod, Zeroable};
use shmsync::{SeqLock, ShmSafe};

#[derive(Clone, Copy, ShmSafe, Pod, Zeroable)]
#[bytemuck(crate = "shmsync::bytemuck")]
#[repr(C)]
struct Padded {
    flag: u8,
    value: u64,
}

fn main() {
    let lock = SeqLock::new(Padded { flag: 1, value: 2 });
    let _ = lock.read();
}
