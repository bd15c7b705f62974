// A `char` has invalid bit patterns (surrogates, values above 0x10FFFF);
// arrays of them are rejected like a single one.
use shmsync::ShmSafe;

#[derive(ShmSafe)]
#[repr(C)]
struct Label {
    text: [char; 16],
}

fn main() {}
