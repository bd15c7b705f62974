use shmsync::ShmSafe;

#[derive(ShmSafe)]
#[repr(C)]
struct HoldsRef<'a> {
    data: &'a u64,
}

fn main() {}
