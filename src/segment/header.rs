//! The segment header: its binary format, its state word, and the
//! validation of a header read back from shared memory.
//!
//! # Format (version 3)
//!
//! Version 2 changed no byte of the header; it changed what the payload's
//! lock words mean (the high half names the owner's process token, not its
//! thread's start time) and which byte ranges the OFD locks take (see
//! `sys/shm.rs`). A version-1 process and a version-2 process would each
//! misjudge the other's lock owners, so each refuses the other's segments.
//!
//! Version 3 added the field map (`field_map_offset`, `field_map_len`, cut
//! from the end of `type_name`) and the first flag, `UNLINK_WHEN_UNUSED`.
//! It also pins the internal layout of the crate's primitives as the field
//! map names them (a `mutex` is its lock word at offset 0, …): a change to
//! one is a new format version, so that an inspector never misreads one.
//!
//! The header sits at offset 0 of every segment, is [`HEADER_SIZE`] bytes
//! (four cache lines) and is `#[repr(C, align(64))]`. Every field is an
//! atomic, because any process that can open the object may write any byte at
//! any time: reading the header is then never a data race, only possibly a
//! read of garbage, and every value is validated before it is used.
//!
//! | offset | field | meaning |
//! |---:|---|---|
//! | 0 | `magic` | the bytes `SHMSYNC\0` |
//! | 8 | `version` | [`FORMAT_VERSION`] |
//! | 12 | `state` | see the state table below (a futex word) |
//! | 16 | `header_size` | [`HEADER_SIZE`] |
//! | 20 | `flags` | bit 0 `UNLINK_WHEN_UNUSED`: the last handle to close removes the name; other bits must be 0 |
//! | 24 | `payload_offset` | where the payload starts: `HEADER_SIZE` rounded up to the payload's alignment |
//! | 32 | `payload_size` | `element_size * element_count` bytes |
//! | 40 | `payload_align` | the payload's alignment |
//! | 48 | `element_size` | `size_of` one element (the whole `T` for a single value) |
//! | 56 | `element_count` | 1 for a single `T`, the length for `[E]` |
//! | 64 | `fingerprint` | the payload's layout fingerprint |
//! | 72 | `creator_pid` | pid of the initializing process (reported in `CreatorDied`) |
//! | 76 | `creator_tid` | its thread id (diagnostics) |
//! | 80 | `creator_token` | its process token (diagnostics: whether the initializer lives is proven by its OFD lock, not by these ids, which another process could forge or reuse) |
//! | 88 | `creator_pid_namespace` | inode of the creator's `/proc/self/ns/pid` |
//! | 96 | `created_unix_nanos` | creation time |
//! | 104 | `type_name_len` | bytes used in `type_name` |
//! | 108 | reserved | zero |
//! | 112 | `type_name` | the payload's type name, UTF-8, cut at [`TYPE_NAME_CAPACITY`] bytes |
//! | 240 | `field_map_offset` | where the field map starts: the payload's end rounded up to 8 |
//! | 248 | `field_map_len` | its length in bytes (see `field_map.rs`) |
//!
//! `magic` and `version` stay at offsets 0 and 8 in every future version, so
//! any version can recognize a segment and name the version it found.
//! The object is `field_map_offset + field_map_len` bytes long.
//!
//! # State table (`state`)
//!
//! | value | name | meaning | who moves it on |
//! |---:|---|---|---|
//! | 0 | `UNINIT` | the object was just truncated to size: all zeros | the creator, holding the exclusive OFD lock: → 1 |
//! | 1 | `INITIALIZING` | header written, initializer running | the creator: → 2 (release). If the creator dies, the kernel drops its lock and a taker holding the exclusive lock re-initializes in place: 1 → 1 |
//! | 2 | `READY` | published; the header never changes again | nobody |
//!
//! The exclusive OFD lock, not the state, says whether an initializer is
//! alive: a state below `READY` with nobody holding the exclusive lock means
//! the initializer died. Openers sleep on `state` with `futex_wait`; the
//! creator wakes them after publishing.

use super::field_map::{self, MAX_MAP_BYTES};
use crate::shm_safe::TypeName;
use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// `b"SHMSYNC\0"`.
pub(crate) const MAGIC: [u8; 8] = *b"SHMSYNC\0";
/// The header format this build reads and writes.
pub(crate) const FORMAT_VERSION: u32 = 3;
/// Bytes in the header.
pub(crate) const HEADER_SIZE: usize = 256;
// Bytes reserved for the type name: the bound of every name the one
// type-name builder (`shm_safe/type_name.rs`) makes.
pub(crate) use crate::shm_safe::TYPE_NAME_CAPACITY;
/// `flags`: the last handle to close removes the name.
pub(crate) const FLAG_UNLINK_WHEN_UNUSED: u32 = 1;
/// Every flag this build knows.
const KNOWN_FLAGS: u32 = FLAG_UNLINK_WHEN_UNUSED;

/// `state`: freshly truncated.
pub(crate) const STATE_UNINIT: u32 = 0;
/// `state`: header written, initializer running.
pub(crate) const STATE_INITIALIZING: u32 = 1;
/// `state`: published.
pub(crate) const STATE_READY: u32 = 2;

/// The header as it lies in shared memory. See the module docs.
///
/// `align(64)` is part of the format (checked below), not padding against
/// false sharing: the header is whole cache lines at the mapping's start,
/// and the payload after it starts a line of its own whenever its
/// alignment asks for one.
#[repr(C, align(64))]
pub(crate) struct Header {
    magic: AtomicU64,
    version: AtomicU32,
    state: AtomicU32,
    header_size: AtomicU32,
    flags: AtomicU32,
    payload_offset: AtomicU64,
    payload_size: AtomicU64,
    payload_align: AtomicU64,
    element_size: AtomicU64,
    element_count: AtomicU64,
    fingerprint: AtomicU64,
    creator_pid: AtomicU32,
    creator_tid: AtomicU32,
    creator_token: AtomicU64,
    creator_pid_namespace: AtomicU64,
    created_unix_nanos: AtomicU64,
    type_name_len: AtomicU32,
    reserved: AtomicU32,
    type_name: [AtomicU64; TYPE_NAME_CAPACITY / 8],
    field_map_offset: AtomicU64,
    field_map_len: AtomicU64,
}

const _: () = assert!(core::mem::size_of::<Header>() == HEADER_SIZE);
const _: () = assert!(core::mem::align_of::<Header>() == 64);
const _: () = assert!(core::mem::offset_of!(Header, state) == 12);
const _: () = assert!(core::mem::offset_of!(Header, type_name) == 112);
const _: () = assert!(core::mem::offset_of!(Header, field_map_offset) == 240);

/// The shape of a payload, computed from the Rust type (never from a header).
///
/// `pub` only because the sealed `SegmentPayload` trait names it; the
/// module is private, so no one outside the crate can.
#[derive(Clone, Copy, Debug)]
pub struct PayloadShape {
    pub(crate) fingerprint: u64,
    pub(crate) type_name: &'static str,
    pub(crate) element_size: usize,
    pub(crate) align: usize,
    /// `true` for `[E]` (any element count), `false` for a single `T`.
    pub(crate) is_slice: bool,
    /// The element type's field layout, written as the field map.
    pub(crate) layout: &'static crate::layout::Layout,
    /// The element type's name (`type_name` itself for a single `T`).
    pub(crate) element_type_name: &'static str,
}

/// Where a validated payload lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) payload_offset: usize,
    pub(crate) element_count: usize,
    /// Where the payload ends: the length a handle maps.
    pub(crate) total_size: usize,
    /// Where the field map starts (`total_size` rounded up to 8).
    pub(crate) field_map_offset: usize,
}

impl PayloadShape {
    /// The geometry of a payload of `element_count` elements, or `None` if
    /// it does not fit the address space.
    pub(crate) fn geometry(&self, element_count: usize) -> Option<Geometry> {
        let payload_offset = round_up(HEADER_SIZE, self.align.max(1))?;
        let payload_size = self.element_size.checked_mul(element_count)?;
        let total_size = payload_offset.checked_add(payload_size)?;
        let field_map_offset = round_up(total_size, 8)?;
        // mmap and ftruncate take sizes that must fit `off_t`, with room
        // for the field map.
        if i64::try_from(field_map_offset.checked_add(MAX_MAP_BYTES as usize)?).is_err() {
            return None;
        }
        Some(Geometry { payload_offset, element_count, total_size, field_map_offset })
    }

    /// The field map of a payload of `element_count` elements.
    pub(crate) fn field_map(&self, element_count: usize) -> Vec<u8> {
        field_map::encode(
            self.layout,
            self.type_name,
            self.element_type_name,
            self.element_size,
            element_count,
            self.is_slice,
        )
    }
}

fn round_up(value: usize, align: usize) -> Option<usize> {
    if !align.is_power_of_two() {
        return None;
    }
    value.checked_add(align - 1).map(|v| v & !(align - 1))
}

/// Creator facts recorded in the header.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Creator {
    pub(crate) pid: u32,
    pub(crate) tid: u32,
    pub(crate) token: u32,
    pub(crate) pid_namespace: u64,
    pub(crate) unix_nanos: u64,
}

impl Header {
    /// The state word, a futex the creator wakes after publishing.
    pub(crate) fn state(&self) -> &AtomicU32 {
        &self.state
    }

    /// Writes every field except `state` (which the caller moves), for a
    /// payload of `shape` laid out as `geometry`, followed by a field map of
    /// `field_map_len` bytes, with `flags`. Called only by the holder
    /// of the exclusive OFD lock, so no legitimate process reads these
    /// fields concurrently; the stores are relaxed because the release store
    /// of `STATE_READY` publishes them.
    pub(crate) fn write(
        &self,
        shape: &PayloadShape,
        geometry: &Geometry,
        field_map_len: usize,
        flags: u32,
        creator: &Creator,
    ) {
        let r = Ordering::Relaxed;
        self.magic.store(u64::from_le_bytes(MAGIC), r);
        self.version.store(FORMAT_VERSION, r);
        self.header_size.store(HEADER_SIZE as u32, r);
        self.flags.store(flags, r);
        self.field_map_offset.store(geometry.field_map_offset as u64, r);
        self.field_map_len.store(field_map_len as u64, r);
        self.payload_offset.store(geometry.payload_offset as u64, r);
        self.payload_size.store((geometry.total_size - geometry.payload_offset) as u64, r);
        self.payload_align.store(shape.align as u64, r);
        self.element_size.store(shape.element_size as u64, r);
        self.element_count.store(geometry.element_count as u64, r);
        self.fingerprint.store(shape.fingerprint, r);
        self.creator_pid.store(creator.pid, r);
        self.creator_tid.store(creator.tid, r);
        self.creator_token.store(u64::from(creator.token), r);
        self.creator_pid_namespace.store(creator.pid_namespace, r);
        self.created_unix_nanos.store(creator.unix_nanos, r);
        let name = TypeName::with_capacity(TYPE_NAME_CAPACITY).push(shape.type_name);
        let name = name.as_str();
        self.type_name_len.store(name.len() as u32, r);
        self.reserved.store(0, r);
        let mut buf = [0u8; TYPE_NAME_CAPACITY];
        buf[..name.len()].copy_from_slice(name.as_bytes());
        for (word, chunk) in self.type_name.iter().zip(buf.chunks_exact(8)) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            word.store(u64::from_le_bytes(bytes), r);
        }
    }

    /// Copies the header out of shared memory. `state` is loaded first, with
    /// acquire: it pairs with the creator's release store of `STATE_READY`,
    /// so when it reads `READY` every other field read here is the creator's.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let state = self.state.load(Ordering::Acquire);
        let r = Ordering::Relaxed;
        let mut type_name = [0u8; TYPE_NAME_CAPACITY];
        for (word, chunk) in self.type_name.iter().zip(type_name.chunks_exact_mut(8)) {
            chunk.copy_from_slice(&word.load(r).to_le_bytes());
        }
        Snapshot {
            magic: self.magic.load(r).to_le_bytes(),
            version: self.version.load(r),
            state,
            header_size: self.header_size.load(r),
            flags: self.flags.load(r),
            payload_offset: self.payload_offset.load(r),
            payload_size: self.payload_size.load(r),
            payload_align: self.payload_align.load(r),
            element_size: self.element_size.load(r),
            element_count: self.element_count.load(r),
            fingerprint: self.fingerprint.load(r),
            creator_pid: self.creator_pid.load(r),
            created_unix_nanos: self.created_unix_nanos.load(r),
            type_name_len: self.type_name_len.load(r),
            type_name,
            field_map_offset: self.field_map_offset.load(r),
            field_map_len: self.field_map_len.load(r),
        }
    }
}

/// Header format versions older shmsyncs wrote: still recognized as
/// shmsync segments (to list and clean up), never opened.
const OLDER_FORMAT_VERSIONS: [u32; 2] = [1, 2];

impl Snapshot {
    /// Whether a shmsync wrote this header: the magic and a known format
    /// version, and for this version a valid state word, header size and
    /// flags. What inspection and cleanup accept as a segment (a file that
    /// only starts with the magic is someone else's).
    pub(crate) fn is_shmsync(&self) -> bool {
        if self.magic != MAGIC {
            return false;
        }
        if self.version == FORMAT_VERSION {
            self.state <= STATE_READY
                && self.header_size as usize == HEADER_SIZE
                && self.flags & !KNOWN_FLAGS == 0
        } else {
            OLDER_FORMAT_VERSIONS.contains(&self.version)
        }
    }

    /// A header's fields from a copy of its bytes (`pread` by an
    /// inspector): the same values [`Header::snapshot`] would load. Bytes
    /// past the end of `bytes` read as zero.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Snapshot {
        use core::mem::offset_of;
        let mut all = [0u8; HEADER_SIZE];
        let n = bytes.len().min(HEADER_SIZE);
        all[..n].copy_from_slice(&bytes[..n]);
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&all[at..at + 8]);
            u64::from_ne_bytes(b)
        };
        let u32_at = |at: usize| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&all[at..at + 4]);
            u32::from_ne_bytes(b)
        };
        let mut type_name = [0u8; TYPE_NAME_CAPACITY];
        let name_at = offset_of!(Header, type_name);
        type_name.copy_from_slice(&all[name_at..name_at + TYPE_NAME_CAPACITY]);
        Snapshot {
            magic: u64_at(offset_of!(Header, magic)).to_le_bytes(),
            version: u32_at(offset_of!(Header, version)),
            state: u32_at(offset_of!(Header, state)),
            header_size: u32_at(offset_of!(Header, header_size)),
            flags: u32_at(offset_of!(Header, flags)),
            payload_offset: u64_at(offset_of!(Header, payload_offset)),
            payload_size: u64_at(offset_of!(Header, payload_size)),
            payload_align: u64_at(offset_of!(Header, payload_align)),
            element_size: u64_at(offset_of!(Header, element_size)),
            element_count: u64_at(offset_of!(Header, element_count)),
            fingerprint: u64_at(offset_of!(Header, fingerprint)),
            creator_pid: u32_at(offset_of!(Header, creator_pid)),
            created_unix_nanos: u64_at(offset_of!(Header, created_unix_nanos)),
            type_name_len: u32_at(offset_of!(Header, type_name_len)),
            type_name,
            field_map_offset: u64_at(offset_of!(Header, field_map_offset)),
            field_map_len: u64_at(offset_of!(Header, field_map_len)),
        }
    }
}

/// A copy of a header's fields: plain values, all untrusted.
#[derive(Clone, Debug)]
pub(crate) struct Snapshot {
    pub(crate) magic: [u8; 8],
    pub(crate) version: u32,
    pub(crate) state: u32,
    pub(crate) header_size: u32,
    pub(crate) flags: u32,
    pub(crate) payload_offset: u64,
    pub(crate) payload_size: u64,
    pub(crate) payload_align: u64,
    pub(crate) element_size: u64,
    pub(crate) element_count: u64,
    pub(crate) fingerprint: u64,
    pub(crate) creator_pid: u32,
    pub(crate) created_unix_nanos: u64,
    pub(crate) type_name_len: u32,
    pub(crate) type_name: [u8; TYPE_NAME_CAPACITY],
    pub(crate) field_map_offset: u64,
    pub(crate) field_map_len: u64,
}

/// What a header says, once checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Published, and matching the expected payload.
    Ready(Geometry),
    /// Not published yet (`UNINIT` or `INITIALIZING`); whether the creator
    /// is alive is for the caller to decide (from the OFD lock).
    Unfinished {
        /// The pid recorded by the creator (0 if it had not written it).
        creator_pid: u32,
    },
}

/// Why a header was rejected; turned into a [`crate::Error`] with the name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// Wrong magic, or a field no shmsync writes.
    NotASegment(&'static str),
    /// Another format version.
    Version(u32),
    /// Another payload type.
    Layout { found_name: String, found_fingerprint: u64, found_size: u64, found_align: u64 },
    /// Sizes inconsistent with the object size.
    Size { expected: u64, found: u64 },
}

impl Snapshot {
    /// The recorded type name, if it is valid UTF-8 within bounds.
    pub(crate) fn type_name(&self) -> Option<&str> {
        let len = usize::try_from(self.type_name_len).ok()?;
        core::str::from_utf8(self.type_name.get(..len)?).ok()
    }

    /// Checks this header against the payload the caller expects and the
    /// object's actual size. Every field is treated as hostile: sizes are
    /// compared with checked arithmetic, nothing is indexed by them.
    pub(crate) fn check(
        &self,
        expected: &PayloadShape,
        file_size: u64,
    ) -> Result<Verdict, Rejection> {
        if self.magic != MAGIC {
            return Err(Rejection::NotASegment("bad magic"));
        }
        if self.version != FORMAT_VERSION {
            return Err(Rejection::Version(self.version));
        }
        match self.state {
            STATE_READY => {}
            STATE_UNINIT | STATE_INITIALIZING => {
                return Ok(Verdict::Unfinished { creator_pid: self.creator_pid })
            }
            _ => return Err(Rejection::NotASegment("invalid state word")),
        }
        if self.header_size as usize != HEADER_SIZE {
            return Err(Rejection::NotASegment("invalid header size"));
        }
        if self.flags & !KNOWN_FLAGS != 0 {
            return Err(Rejection::NotASegment("unknown flag bits"));
        }
        if self.fingerprint != expected.fingerprint {
            return Err(Rejection::Layout {
                found_name: self.type_name().unwrap_or("<invalid type name>").to_owned(),
                found_fingerprint: self.fingerprint,
                found_size: self.element_size,
                found_align: self.payload_align,
            });
        }
        // Same fingerprint: the same type, so any disagreement below is
        // corruption (or a forged header), never a legitimate other layout.
        if self.payload_align != expected.align as u64
            || self.element_size != expected.element_size as u64
            || (!expected.is_slice && self.element_count != 1)
        {
            return Err(Rejection::NotASegment("payload shape disagrees with its fingerprint"));
        }
        let count = usize::try_from(self.element_count)
            .map_err(|_| Rejection::NotASegment("element count exceeds the address space"))?;
        let Some(geometry) = expected.geometry(count) else {
            return Err(Rejection::Size { expected: u64::MAX, found: file_size });
        };
        if self.payload_offset != geometry.payload_offset as u64
            || self.payload_size != (geometry.total_size - geometry.payload_offset) as u64
        {
            return Err(Rejection::NotASegment("payload offset or size disagrees with its shape"));
        }
        // The payload first: a header whose sizes agree with each other but
        // not with the object is a truncated (or forged-long) segment.
        if (geometry.total_size as u64) > file_size {
            return Err(Rejection::Size { expected: geometry.total_size as u64, found: file_size });
        }
        if self.field_map_offset != geometry.field_map_offset as u64
            || self.field_map_len > MAX_MAP_BYTES
        {
            return Err(Rejection::NotASegment("field map offset or length is invalid"));
        }
        // Both terms are bounded above (offset: checked against the
        // geometry, which fits `i64` with room for the largest map).
        let object_size = self.field_map_offset + self.field_map_len;
        if object_size > file_size {
            return Err(Rejection::Size { expected: object_size, found: file_size });
        }
        Ok(Verdict::Ready(geometry))
    }

    /// Whether the last handle to close removes the name.
    pub(crate) fn unlink_when_unused(&self) -> bool {
        self.flags & FLAG_UNLINK_WHEN_UNUSED != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> PayloadShape {
        PayloadShape {
            fingerprint: 0x1234,
            type_name: "Thing",
            element_size: 24,
            align: 8,
            is_slice: false,
            layout: &crate::layout::Layout::PLAIN,
            element_type_name: "Thing",
        }
    }

    fn ready_header() -> (Box<Header>, Geometry) {
        // SAFETY: Header is all atomics; all-zero is a valid value.
        let h: Box<Header> = Box::new(unsafe { core::mem::zeroed() });
        let g = shape().geometry(1).expect("fits");
        let c = Creator { pid: 7, tid: 7, token: 1, pid_namespace: 9, unix_nanos: 1 };
        h.write(&shape(), &g, 0, 0, &c);
        h.state().store(STATE_READY, Ordering::Release);
        (h, g)
    }

    #[test]
    fn written_header_validates() {
        let (h, g) = ready_header();
        let snap = h.snapshot();
        assert_eq!(snap.type_name(), Some("Thing"));
        assert_eq!(snap.check(&shape(), g.total_size as u64), Ok(Verdict::Ready(g)));
        assert_eq!(g.payload_offset, HEADER_SIZE);
    }

    #[test]
    fn a_header_read_as_bytes_is_the_header_loaded() {
        let (h, _) = ready_header();
        // SAFETY: the header is HEADER_SIZE initialized bytes (all atomics,
        // no padding: the size assertions above), read while nobody writes.
        let bytes = unsafe {
            core::slice::from_raw_parts((&*h as *const Header).cast::<u8>(), HEADER_SIZE)
        };
        let (a, b) = (Snapshot::from_bytes(bytes), h.snapshot());
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert_eq!(a.type_name(), Some("Thing"));
    }

    #[test]
    fn short_file_is_size_mismatch() {
        let (h, g) = ready_header();
        let found = g.total_size as u64 - 1;
        assert_eq!(
            h.snapshot().check(&shape(), found),
            Err(Rejection::Size { expected: g.total_size as u64, found })
        );
    }

    #[test]
    fn unfinished_states_are_reported() {
        let (h, g) = ready_header();
        h.state().store(STATE_INITIALIZING, Ordering::Relaxed);
        assert_eq!(
            h.snapshot().check(&shape(), g.total_size as u64),
            Ok(Verdict::Unfinished { creator_pid: 7 })
        );
        h.state().store(77, Ordering::Relaxed);
        assert!(matches!(
            h.snapshot().check(&shape(), g.total_size as u64),
            Err(Rejection::NotASegment(_))
        ));
    }

    #[test]
    fn a_forged_type_name_length_is_never_read_past_the_name() {
        let (h, g) = ready_header();
        // Another type, whose recorded name claims more bytes than the
        // header holds: the mismatch is reported without reading them.
        h.fingerprint.store(0x9999, Ordering::Relaxed);
        for len in [TYPE_NAME_CAPACITY as u32 + 1, 200, u32::MAX] {
            h.type_name_len.store(len, Ordering::Relaxed);
            let snap = h.snapshot();
            assert_eq!(snap.type_name(), None, "length {len}");
            match snap.check(&shape(), g.total_size as u64) {
                Err(Rejection::Layout { found_name, .. }) => {
                    assert_eq!(found_name, "<invalid type name>")
                }
                other => panic!("length {len}: expected a layout mismatch, got {other:?}"),
            }
        }
        // The full capacity is still a valid length.
        h.type_name_len.store(TYPE_NAME_CAPACITY as u32, Ordering::Relaxed);
        assert!(h.snapshot().type_name().is_some_and(|n| n.starts_with("Thing")));
    }

    /// A name longer than the header holds is cut to whole characters and
    /// keeps its end (the `; N]` of an array), as every built name does.
    #[test]
    fn long_type_names_are_cut_at_a_char_boundary_keeping_their_end() {
        // 32 two-byte characters; the whole name is 133 bytes. (A `static`,
        // not a leaked `String`: Miri reports leaks.)
        const E32: &str = "éééééééééééééééééééééééééééééééé";
        static LONG: TypeName = TypeName::EMPTY.push("[").push(E32).push(E32).push("; 3]");
        assert!(LONG.len() > TYPE_NAME_CAPACITY);
        let shape = PayloadShape { type_name: LONG.as_str(), ..shape() };
        // SAFETY: Header is all atomics; all-zero is a valid value.
        let h: Box<Header> = Box::new(unsafe { core::mem::zeroed() });
        let g = shape.geometry(1).expect("fits");
        let c = Creator { pid: 7, tid: 7, token: 1, pid_namespace: 9, unix_nanos: 1 };
        h.write(&shape, &g, 0, 0, &c);
        let snap = h.snapshot();
        let name = snap.type_name().expect("a valid UTF-8 name");
        assert!(name.len() <= TYPE_NAME_CAPACITY, "{name}");
        assert!(name.starts_with("[éé"), "{name}");
        assert!(name.ends_with("é; 3]"), "{name}");
    }

    #[test]
    fn huge_slices_do_not_overflow() {
        let s = PayloadShape { is_slice: true, ..shape() };
        assert!(s.geometry(usize::MAX).is_none());
        assert!(s.geometry(usize::MAX / 24).is_none());
    }
}
