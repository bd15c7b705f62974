// Without the Pod derive, a padded (ShmSafe, Copy) type does not satisfy
// SeqLock's bound.
use shmsync::{SeqLock, ShmSafe};

#[derive(Clone, Copy, ShmSafe)]
#[repr(C)]
struct Padded {
    flag: u8,
    value: u64,
}

fn main() {
    let lock = SeqLock::new(Padded { flag: 1, value: 2 });
    let _ = lock.read();
}
