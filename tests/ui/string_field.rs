use shmsync::ShmSafe;

#[derive(ShmSafe)]
#[repr(C)]
struct HoldsString {
    label: String,
}

fn main() {}
