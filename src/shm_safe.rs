//! [`ShmSafe`]: types that may live in cross-process shared memory, and the
//! layout fingerprint that lets `open` reject a segment holding another type.

mod type_name;

use crate::layout::{Field, Kind, Layout};
use core::sync::atomic::{
    AtomicBool, AtomicI16, AtomicI32, AtomicI64, AtomicI8, AtomicIsize, AtomicU16, AtomicU32,
    AtomicU64, AtomicU8, AtomicUsize,
};
pub(crate) use type_name::TypeName;
// What a segment header needs (segments do not exist under loom).
#[cfg(not(loom))]
pub(crate) use type_name::TYPE_NAME_CAPACITY;

/// A type that can live inside a shared memory segment mapped by several
/// processes at different addresses.
///
/// Derive it with `#[derive(ShmSafe)]` on a `#[repr(C)]` struct whose fields
/// are all `ShmSafe`; the derive rejects anything else at compile time.
///
/// # Safety
///
/// Implementing this trait promises that the type:
///
/// * has a stable, fully specified layout (`#[repr(C)]`, `#[repr(transparent)]`
///   or a primitive), identical in every process built from the same source;
/// * contains no pointers, references, file descriptors or other
///   process-local handles (an address means nothing in another process);
/// * is valid when every byte is zero — a freshly created segment is all
///   zeros, and that must already be a valid, unlocked, empty value;
/// * needs no `Drop` (a segment outlives the processes that map it; nobody
///   runs destructors on its contents);
/// * can be shared between threads (`Sync`) and sent between them (`Send`);
/// * is valid for **every** bit pattern of its bytes: any process that can
///   open the segment may write any byte, and safe code reads it back. So
///   `bool` (only 0 and 1 are valid), `char`, enums, `NonZero*` and
///   references are not `ShmSafe`: store a flag as a `u8` or an
///   `AtomicBool` (whose `load` maps any non-zero byte to `true`), an enum
///   as an integer with named constants.
///
/// `FINGERPRINT` must change whenever the layout changes. Implement the
/// trait by deriving it: the derive computes the fingerprint from the
/// type's name, its fields' names, fingerprints and offsets, its size and
/// its alignment.
///
/// # Examples
///
/// ```
/// use shmsync::ShmSafe;
/// use std::sync::atomic::AtomicU64;
///
/// #[derive(ShmSafe)]
/// #[repr(C)]
/// struct Config {
///     generation: AtomicU64,
///     limits: [u32; 4],
/// }
///
/// assert_eq!(<Config as ShmSafe>::TYPE_NAME, "Config");
/// assert_ne!(<Config as ShmSafe>::FINGERPRINT, <[u32; 4] as ShmSafe>::FINGERPRINT);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot live in cross-process shared memory (it is not `ShmSafe`)",
    label = "not `ShmSafe`",
    note = "a segment may hold only #[repr(C)] plain data that is valid for every bit pattern, \
            without pointers: integers, floats, std atomics, shmsync's primitives, arrays and \
            #[derive(ShmSafe)] structs of them",
    note = "for text use a byte array `[u8; N]` (and a length field); for a flag `u8` or \
            `AtomicBool`; for a list a fixed-size array or a `Segment<[E]>`"
)]
pub unsafe trait ShmSafe: Sized + Send + Sync + 'static {
    /// A human-readable name of the type, recorded in segment headers and
    /// shown in [`Error::LayoutMismatch`](crate::Error::LayoutMismatch).
    const TYPE_NAME: &'static str;

    /// A 64-bit hash of the type's shape: for a struct, its field names,
    /// their types' fingerprints and offsets, its size and alignment.
    /// Two processes agree on a segment's type exactly when they agree on this.
    const FINGERPRINT: u64;

    /// The type's fields, offsets and kinds, recorded in the segment (the
    /// *field map*) so that tools that do not know the type can show the
    /// state of its locks and counters by name. The derive fills it in;
    /// the default describes opaque plain data. It is a function of the
    /// type's definition, which [`FINGERPRINT`](Self::FINGERPRINT)
    /// already covers.
    const LAYOUT: crate::layout::Layout = crate::layout::Layout::PLAIN;
}

/// `const` helpers that build layout fingerprints (used by the derive).
///
/// FNV-1a over bytes and 64-bit words: not a cryptographic hash, only a
/// guard against opening a segment with the wrong type definition.
pub mod fingerprint {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

    /// The starting value of every fingerprint.
    pub const SEED: u64 = FNV_OFFSET;

    /// Mixes `bytes` into `hash`.
    #[must_use]
    pub const fn bytes(mut hash: u64, bytes: &[u8]) -> u64 {
        let mut i = 0;
        while i < bytes.len() {
            hash ^= bytes[i] as u64;
            hash = hash.wrapping_mul(FNV_PRIME);
            i += 1;
        }
        hash
    }

    /// Mixes a string into `hash`, length-prefixed so that adjacent strings
    /// cannot run together (`"ab","c"` ≠ `"a","bc"`).
    #[must_use]
    pub const fn str(hash: u64, s: &str) -> u64 {
        bytes(word(hash, s.len() as u64), s.as_bytes())
    }

    /// Mixes a 64-bit word into `hash`.
    #[must_use]
    pub const fn word(hash: u64, value: u64) -> u64 {
        bytes(hash, &value.to_le_bytes())
    }

    /// The fingerprint of a primitive type: its name, size and alignment.
    #[must_use]
    pub const fn primitive(name: &str, size: usize, align: usize) -> u64 {
        tagged(SEED, name, &[size as u64, align as u64])
    }

    /// The one recipe for the fingerprint of a type this crate defines
    /// (and of the primitives above): `tag` mixed into `base`, then each
    /// word of `shape` in order.
    ///
    /// - `tag` is `"shmsync::Type/<protocol>-vN"`: the type and the version
    ///   of the protocol its words follow. Bump `N` whenever a process
    ///   built from the new code could misread words written by the old
    ///   (a moved word, a new state bit), even if no size changes: the
    ///   fingerprint is what makes the old and the new refuse each other's
    ///   segments. The oldest tags (`"shmsync::SeqLock/1"` and its
    ///   siblings) predate the rule's `<protocol>` part and keep their
    ///   spelling: they are in the fingerprints of segments that exist.
    /// - `base` is [`SEED`], or the value type's fingerprint for the types
    ///   that have always started from it (`SeqLock`, `Broadcast`).
    /// - `shape` holds whatever else fixes the layout: the value type's
    ///   fingerprint, the size, a capacity.
    ///
    /// Every value this produces is pinned by a test (`tests/layout_pins.rs`):
    /// none may change without a tag bump.
    #[must_use]
    pub(crate) const fn tagged(base: u64, tag: &str, shape: &[u64]) -> u64 {
        let mut hash = str(base, tag);
        let mut i = 0;
        while i < shape.len() {
            hash = word(hash, shape[i]);
            i += 1;
        }
        hash
    }
}

macro_rules! impl_primitive {
    ($kind:ident: $($t:ty),* $(,)?) => {$(
        // SAFETY: a primitive integer, float or std atomic has a fixed
        // layout, holds no pointer, is valid for every bit pattern (zero
        // included), has no Drop, and is Send + Sync.
        unsafe impl ShmSafe for $t {
            const TYPE_NAME: &'static str = stringify!($t);
            const FINGERPRINT: u64 = fingerprint::primitive(
                stringify!($t),
                core::mem::size_of::<$t>(),
                core::mem::align_of::<$t>(),
            );
            const LAYOUT: Layout = Layout::leaf(Kind::$kind);
        }
    )*};
}

impl_primitive!(
    Plain: u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    (),
);
impl_primitive!(
    Atomic: AtomicBool,
    AtomicU8,
    AtomicU16,
    AtomicU32,
    AtomicU64,
    AtomicUsize,
    AtomicI8,
    AtomicI16,
    AtomicI32,
    AtomicI64,
    AtomicIsize,
);

// SAFETY: `PhantomData<T>` is zero-sized (nothing to read, so every "bit
// pattern" is valid), holds no pointer, has no Drop, and is Send + Sync
// exactly when `T` is, which the bounds require.
unsafe impl<T: ?Sized + Send + Sync + 'static> ShmSafe for core::marker::PhantomData<T> {
    const TYPE_NAME: &'static str = "PhantomData";
    const FINGERPRINT: u64 = fingerprint::primitive("PhantomData", 0, 1);
}

/// `"[" + T::TYPE_NAME + "; N]"`, bounded: a very long element name is cut,
/// the length never.
struct ArrayName<T, const N: usize>(core::marker::PhantomData<T>);

impl<T: ShmSafe, const N: usize> ArrayName<T, N> {
    const SUFFIX: TypeName = TypeName::EMPTY.push("; ").push_decimal(N).push("]");
    const NAME: TypeName = TypeName::EMPTY
        .push("[")
        .push_within(T::TYPE_NAME, Self::SUFFIX.len())
        .push(Self::SUFFIX.as_str());
    const STR: &'static str = Self::NAME.as_str();
}

// SAFETY: an array of `ShmSafe` elements is laid out as N consecutive
// elements with no extra bytes, is valid when zeroed because each element is,
// holds no pointer and has no Drop.
unsafe impl<T: ShmSafe, const N: usize> ShmSafe for [T; N] {
    const TYPE_NAME: &'static str = ArrayName::<T, N>::STR;
    const FINGERPRINT: u64 = fingerprint::tagged(T::FINGERPRINT, "[;]", &[N as u64, 0]);
    const LAYOUT: Layout = Layout {
        kind: Kind::Array,
        fields: &[Field {
            name: "",
            offset: 0,
            size: core::mem::size_of::<T>(),
            type_name: T::TYPE_NAME,
            layout: &T::LAYOUT,
        }],
        len: N,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_sized_plain_types_are_shm_safe() {
        assert_eq!(<() as ShmSafe>::TYPE_NAME, "()");
        assert_ne!(<() as ShmSafe>::FINGERPRINT, <[u8; 0]>::FINGERPRINT);
        assert_eq!(<core::marker::PhantomData<u64> as ShmSafe>::TYPE_NAME, "PhantomData");
    }

    #[test]
    fn primitive_fingerprints_differ() {
        assert_ne!(u32::FINGERPRINT, i32::FINGERPRINT);
        assert_ne!(u64::FINGERPRINT, f64::FINGERPRINT);
        assert_ne!(AtomicU64::FINGERPRINT, u64::FINGERPRINT);
    }

    #[test]
    fn array_fingerprint_depends_on_len_and_element() {
        assert_ne!(<[u8; 3]>::FINGERPRINT, <[u8; 4]>::FINGERPRINT);
        assert_ne!(<[u8; 4]>::FINGERPRINT, <[i8; 4]>::FINGERPRINT);
        assert_ne!(<[[u8; 2]; 3]>::FINGERPRINT, <[[u8; 3]; 2]>::FINGERPRINT);
    }

    #[test]
    fn array_type_names() {
        assert_eq!(<[u64; 2]>::TYPE_NAME, "[u64; 2]");
        assert_eq!(<[[u8; 16]; 1000]>::TYPE_NAME, "[[u8; 16]; 1000]");
        assert_eq!(<[f32; 0]>::TYPE_NAME, "[f32; 0]");
    }

    /// An element name longer than a header holds: cut between characters,
    /// with the length kept.
    #[test]
    fn long_array_type_names_are_bounded_and_keep_their_shape() {
        struct Long;
        // SAFETY: a unit struct: zero-sized, no pointer, no Drop, Send +
        // Sync; every (empty) bit pattern is valid.
        unsafe impl ShmSafe for Long {
            // 150 two-byte characters: 300 bytes, more than a name holds.
            const TYPE_NAME: &'static str = Self::NAME.as_str();
            const FINGERPRINT: u64 = 0;
        }
        impl Long {
            const NAME: TypeName = TypeName::EMPTY.push(concat!(
                "éééééééééééééééééééééééééééééééééééééééééééééééééé",
                "éééééééééééééééééééééééééééééééééééééééééééééééééé",
                "éééééééééééééééééééééééééééééééééééééééééééééééééé",
            ));
        }
        struct Mid;
        // SAFETY: as for `Long`.
        unsafe impl ShmSafe for Mid {
            // 62 two-byte characters: 124 bytes.
            const TYPE_NAME: &'static str =
                "éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé";
            const FINGERPRINT: u64 = 0;
        }
        let name = <[Long; 12345] as ShmSafe>::TYPE_NAME;
        assert!(name.len() <= type_name::NAME_CAPACITY, "{name}");
        assert!(name.starts_with("[éé"), "{name}");
        assert!(name.ends_with("é; 12345]"), "{name}");
        // Nested, the inner array's length survives (a name that dropped it
        // would name another type).
        let nested = <[[Mid; 3]; 2] as ShmSafe>::TYPE_NAME;
        assert_eq!(nested, format!("[[{}; 3]; 2]", Mid::TYPE_NAME));
        let nested = <[[Long; 3]; 2] as ShmSafe>::TYPE_NAME;
        assert!(nested.starts_with("[[éé") && nested.ends_with("é; 3]; 2]"), "{nested}");
    }

    #[test]
    fn string_mixing_is_length_prefixed() {
        use fingerprint::*;
        assert_ne!(str(str(SEED, "ab"), "c"), str(str(SEED, "a"), "bc"));
    }
}
