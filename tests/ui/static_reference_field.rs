use shmsync::ShmSafe;

// Even a `'static` reference (Send, Sync, 'static) is an address, which
// means nothing in another process.
#[derive(ShmSafe)]
#[repr(C)]
struct HoldsStaticRef {
    data: &'static u64,
}

fn main() {}
