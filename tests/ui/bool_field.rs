// Another process may write any byte into a segment: a `bool` holding 2 is
// undefined behavior, so a `bool` field is rejected with a hint.
use shmsync::ShmSafe;

#[derive(ShmSafe)]
#[repr(C)]
struct Flags {
    count: u64,
    enabled: bool,
}

fn main() {}
