// A padding-free #[repr(C)] struct of integers and floats, with arrays:
// accepted, readable and writable, and usable as a field of a segment type.
use shmsync::bytemuck::{Pod, Zeroable};
use shmsync::{SeqLock, ShmSafe};

#[derive(Clone, Copy, ShmSafe, Pod, Zeroable)]
#[bytemuck(crate = "shmsync::bytemuck")]
#[repr(C)]
struct Quote {
    price: f64,
    size: u32,
    venue: [u8; 4],
}

#[derive(ShmSafe)]
#[repr(C)]
struct Book {
    best: SeqLock<Quote>,
    raw: SeqLock<[u8; 13]>,
}

fn main() {
    let book = Book { best: SeqLock::default(), raw: SeqLock::default() };
    book.best.write(Quote { price: 1.5, size: 10, venue: *b"XNAS" }).unwrap();
    assert_eq!(book.best.read().size, 10);
    book.raw.write(*b"thirteen byte").unwrap();
}
