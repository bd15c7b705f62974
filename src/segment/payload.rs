//! What a [`Segment`](super::Segment) can hold: one `T: ShmSafe`, or a
//! runtime-length slice `[E]` of `E: ShmSafe` elements.

use crate::shm_safe::{fingerprint, TypeName};
use crate::ShmSafe;

use super::header::PayloadShape;

/// The largest payload alignment supported: mappings start on a page
/// boundary, so a payload offset that is a multiple of the alignment is only
/// aligned in memory if the alignment divides the page size.
const MAX_ALIGN: usize = 4096;

pub(crate) mod sealed {
    use super::PayloadShape;

    /// Implementation details of [`SegmentPayload`](super::SegmentPayload).
    pub trait Sealed {
        /// The payload's layout, as recorded in and checked against headers.
        const SHAPE: PayloadShape;

        /// A pointer to a payload of `len` elements starting at `base`
        /// (`len` is 1 and ignored for a single value).
        fn payload_ptr(base: *mut u8, len: usize) -> *mut Self;
    }
}

/// A type a [`Segment`](super::Segment) can hold: every [`ShmSafe`] type
/// `T`, and slices `[E]` of `ShmSafe` elements whose length is chosen at
/// creation and stored in the segment's header.
///
/// This trait is sealed: it is implemented exactly for those two cases.
pub trait SegmentPayload: sealed::Sealed + Send + Sync + 'static {}

impl<T: ShmSafe> SegmentPayload for T {}
impl<E: ShmSafe> SegmentPayload for [E] {}

impl<T: ShmSafe> sealed::Sealed for T {
    const SHAPE: PayloadShape = {
        assert!(
            core::mem::align_of::<T>() <= MAX_ALIGN,
            "a Segment payload may be aligned to at most 4096 bytes"
        );
        PayloadShape {
            fingerprint: T::FINGERPRINT,
            type_name: T::TYPE_NAME,
            element_size: core::mem::size_of::<T>(),
            align: core::mem::align_of::<T>(),
            is_slice: false,
            layout: &T::LAYOUT,
            element_type_name: T::TYPE_NAME,
        }
    };

    fn payload_ptr(base: *mut u8, _len: usize) -> *mut T {
        base.cast()
    }
}

impl<E: ShmSafe> sealed::Sealed for [E] {
    const SHAPE: PayloadShape = {
        assert!(
            core::mem::align_of::<E>() <= MAX_ALIGN,
            "a Segment payload may be aligned to at most 4096 bytes"
        );
        PayloadShape {
            // "[]" after the element's fingerprint: a slice of E never
            // matches a single E, nor an array [E; N].
            fingerprint: fingerprint::tagged(E::FINGERPRINT, "[]", &[]),
            type_name: SliceName::<E>::STR,
            element_size: core::mem::size_of::<E>(),
            align: core::mem::align_of::<E>(),
            is_slice: true,
            layout: &E::LAYOUT,
            element_type_name: E::TYPE_NAME,
        }
    };

    fn payload_ptr(base: *mut u8, len: usize) -> *mut [E] {
        core::ptr::slice_from_raw_parts_mut(base.cast::<E>(), len)
    }
}

/// `"[" + E::TYPE_NAME + "]"`, bounded: a very long element name is cut
/// (between characters), the brackets never.
struct SliceName<E>(core::marker::PhantomData<E>);

impl<E: ShmSafe> SliceName<E> {
    const NAME: TypeName = TypeName::EMPTY.push("[").push_within(E::TYPE_NAME, 1).push("]");
    const STR: &'static str = Self::NAME.as_str();
}

#[cfg(test)]
mod tests {
    use super::sealed::Sealed;

    #[test]
    fn slice_shape_differs_from_element_and_array() {
        let s = <[u64] as Sealed>::SHAPE;
        assert_eq!(s.type_name, "[u64]");
        assert!(s.is_slice);
        assert_ne!(s.fingerprint, <u64 as Sealed>::SHAPE.fingerprint);
        assert_ne!(s.fingerprint, <[u64; 4] as Sealed>::SHAPE.fingerprint);
        assert_eq!(<[[u8; 3]] as Sealed>::SHAPE.type_name, "[[u8; 3]]");
    }

    /// A slice's fingerprint is recorded in its segment's header: pinned,
    /// so that a change to how it is computed cannot go unnoticed.
    #[test]
    fn slice_fingerprints_are_pinned() {
        assert_eq!(<[u64] as Sealed>::SHAPE.fingerprint, 0xf03c_9dd9_36f5_9f61);
        assert_eq!(<[crate::ShmMutex<u32>] as Sealed>::SHAPE.fingerprint, 0x86d4_4305_07f2_973d);
    }
}
