//! Accepted: a repr(C) struct of ShmSafe fields, nested, generic and aligned,
//! usable as a segment payload.
use shmsync::{Segment, ShmSafe};
use std::sync::atomic::{AtomicU32, AtomicU64};

#[derive(ShmSafe)]
#[repr(C)]
struct Inner {
    count: AtomicU64,
    limits: [u32; 4],
}

#[derive(ShmSafe)]
#[repr(C, align(64))]
struct Outer<T> {
    inner: Inner,
    flag: AtomicU32,
    extra: T,
    ratio: f64,
}

#[derive(ShmSafe)]
#[repr(transparent)]
struct Wrapper(u64);

fn assert_payload<T: shmsync::SegmentPayload + ?Sized>() {}

fn main() {
    assert_payload::<Outer<Wrapper>>();
    assert_payload::<[Inner]>();
    let _ = Segment::<Outer<u8>>::open;
    assert_ne!(
        <Outer<u8> as ShmSafe>::FINGERPRINT,
        <Outer<u16> as ShmSafe>::FINGERPRINT
    );
}
