use shmsync::ShmSafe;

#[derive(ShmSafe)]
#[repr(C, packed)]
struct Packed {
    a: u8,
    b: u64,
}

fn main() {}
