use shmsync::ShmSafe;

#[derive(ShmSafe)]
#[repr(C)]
struct HoldsPointer {
    next: *const u64,
}

fn main() {}
