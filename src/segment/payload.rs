//! What a [`Segment`](super::Segment) can hold: one `T: ShmSafe`, or a
//! runtime-length slice `[E]` of `E: ShmSafe` elements.

use crate::shm_safe::fingerprint;
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

/// Builds `"[" + E::TYPE_NAME + "]"` at compile time (names are for
/// diagnostics; a very long one is cut).
struct SliceName<E>(core::marker::PhantomData<E>);

const SLICE_NAME_CAP: usize = 128;

impl<E: ShmSafe> SliceName<E> {
    const BYTES: ([u8; SLICE_NAME_CAP], usize) = {
        let mut out = [0u8; SLICE_NAME_CAP];
        let name = E::TYPE_NAME.as_bytes();
        out[0] = b'[';
        let mut len = 1;
        let mut i = 0;
        while i < name.len() && len < SLICE_NAME_CAP - 1 {
            out[len] = name[i];
            len += 1;
            i += 1;
        }
        // If cut, never end inside a multi-byte character: drop the
        // trailing continuation bytes and the lead byte they belong to.
        if i < name.len() {
            while len > 1 && (out[len - 1] & 0xC0) == 0x80 {
                len -= 1;
            }
            if len > 1 && out[len - 1] >= 0xC0 {
                len -= 1;
            }
        }
        out[len] = b']';
        (out, len + 1)
    };
    const STR: &'static str = {
        let (head, _) = Self::BYTES.0.split_at(Self::BYTES.1);
        match core::str::from_utf8(head) {
            Ok(s) => s,
            Err(_) => "[?]",
        }
    };
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
