use shmsync::ShmSafe;

#[derive(ShmSafe)]
#[repr(C)]
struct HoldsBox {
    data: Box<u64>,
}

fn main() {}
