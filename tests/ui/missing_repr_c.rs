use shmsync::ShmSafe;

#[derive(ShmSafe)]
struct NoRepr {
    a: u32,
    b: u64,
}

fn main() {}
