use shmsync::ShmSafe;

#[derive(ShmSafe)]
#[repr(C)]
enum Mode {
    Fast,
    Safe,
}

fn main() {}
