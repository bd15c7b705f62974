//! The field map: the payload's [`Layout`] written into the segment as
//! text, so that a program that does not know the payload's type can find
//! its locks and counters by name.
//!
//! # Format (field map version 1)
//!
//! UTF-8 text after the payload (the header records where and how long),
//! one line per node of the layout tree in depth-first order:
//!
//! ```text
//! shmsync-field-map 1
//! <depth> <kind> <offset> <size> <len> <name> <type name>
//! ```
//!
//! * `depth`: 0 for the root (the payload: the `T`, or for a `[E]` segment
//!   an `array` whose element is at depth 1), then one more per level.
//! * `kind`: a [`Kind::as_str`] name; readers treat an unknown kind as
//!   plain data.
//! * `offset`: bytes from the start of the parent (an array's element is
//!   at 0; element `i` of an array is at `i * size` of its element).
//! * `size`: bytes; `len`: an array's element count, a broadcast ring's
//!   capacity, else 1.
//! * `name`: the field name, `.` when it has none (the root, an array's
//!   element); never contains a space.
//! * `type name`: the rest of the line (it may contain spaces: `[u8; 4]`).
//!
//! Like every byte of a segment, a map read back is untrusted: [`decode`]
//! bounds its size, depth and node count, and never indexes by a number it
//! read; the inspector checks every offset against the payload's size.

use std::fmt::Write as _;

use crate::layout::{Kind, Layout};

/// The first line of every field map.
const MAGIC_LINE: &str = "shmsync-field-map 1";
/// A map longer than this is not read (a forged header could claim any
/// length).
pub(crate) const MAX_MAP_BYTES: u64 = 1 << 20;
/// Nesting deeper than this is refused.
const MAX_DEPTH: usize = 64;
/// Longer names and type names are cut (at a character boundary) when a
/// map is read: they are for display, and a forged map could make every
/// one of thousands of reported fields carry a megabyte.
const MAX_NAME_BYTES: usize = 256;

/// The field map of a payload: a `T` (`is_slice == false`) or `count`
/// elements of the type `layout` describes, named `element_type_name`
/// (`type_name` names the whole payload: `T`, or `[E]`).
pub(crate) fn encode(
    layout: &Layout,
    type_name: &str,
    element_type_name: &str,
    element_size: usize,
    count: usize,
    is_slice: bool,
) -> Vec<u8> {
    let mut out = String::new();
    out.push_str(MAGIC_LINE);
    out.push('\n');
    let total = element_size.saturating_mul(count);
    if is_slice {
        line(&mut out, 0, Kind::Array, 0, total, count, "", type_name);
        node(&mut out, 1, layout, 0, element_size, "", element_type_name);
    } else {
        node(&mut out, 0, layout, 0, element_size, "", type_name);
    }
    if out.len() as u64 > MAX_MAP_BYTES {
        // A type with tens of thousands of distinct fields: readers would
        // refuse the whole map, so record only the payload as a whole
        // (inspectors show its type and size, no fields). The type is
        // still perfectly usable.
        out.clear();
        out.push_str(MAGIC_LINE);
        out.push('\n');
        line(&mut out, 0, Kind::Plain, 0, total, 1, "", type_name);
    }
    out.into_bytes()
}

fn node(
    out: &mut String,
    depth: usize,
    layout: &Layout,
    offset: usize,
    size: usize,
    name: &str,
    type_name: &str,
) {
    line(out, depth, layout.kind, offset, size, layout.len, name, type_name);
    for field in layout.fields {
        node(out, depth + 1, field.layout, field.offset, field.size, field.name, field.type_name);
    }
}

#[allow(clippy::too_many_arguments)]
fn line(
    out: &mut String,
    depth: usize,
    kind: Kind,
    offset: usize,
    size: usize,
    len: usize,
    name: &str,
    type_name: &str,
) {
    let name = if name.is_empty() { "." } else { name };
    // Type names are Rust type syntax: no line breaks. Be safe anyway.
    let type_name: String = type_name.chars().map(|c| if c == '\n' { ' ' } else { c }).collect();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "{depth} {} {offset} {size} {len} {name} {type_name}", kind.as_str());
}

/// One node of a decoded map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Node {
    /// `None` for a kind this build does not know (shown as plain data).
    pub(crate) kind: Option<Kind>,
    /// The kind's name as written.
    pub(crate) kind_name: String,
    pub(crate) offset: u64,
    pub(crate) size: u64,
    pub(crate) len: u64,
    /// Empty for none.
    pub(crate) name: String,
    pub(crate) type_name: String,
    /// Indices of the children in the decoded list.
    pub(crate) children: Vec<usize>,
}

/// Why a map could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BadMap(pub(crate) &'static str);

/// Parses an untrusted field map into its nodes (index 0 is the root).
pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<Node>, BadMap> {
    if bytes.len() as u64 > MAX_MAP_BYTES {
        return Err(BadMap("field map too long"));
    }
    let text = core::str::from_utf8(bytes).map_err(|_| BadMap("field map is not UTF-8"))?;
    let mut lines = text.lines();
    if lines.next() != Some(MAGIC_LINE) {
        return Err(BadMap("unknown field map format"));
    }
    let mut nodes: Vec<Node> = Vec::new();
    // The ancestors of the next node: indices into `nodes`, by depth.
    let mut stack: Vec<usize> = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let mut parts = line.splitn(7, ' ');
        let mut next = || parts.next().ok_or(BadMap("truncated field map line"));
        let depth: usize = next()?.parse().map_err(|_| BadMap("bad depth"))?;
        let kind_name = next()?;
        let offset: u64 = next()?.parse().map_err(|_| BadMap("bad offset"))?;
        let size: u64 = next()?.parse().map_err(|_| BadMap("bad size"))?;
        let len: u64 = next()?.parse().map_err(|_| BadMap("bad length"))?;
        let name = next()?;
        let type_name = next()?;
        if depth > MAX_DEPTH {
            return Err(BadMap("field map nested too deep"));
        }
        if nodes.is_empty() != (depth == 0) || depth > stack.len() {
            return Err(BadMap("field map tree is malformed"));
        }
        stack.truncate(depth);
        let index = nodes.len();
        if let Some(&parent) = stack.last() {
            nodes[parent].children.push(index);
        }
        nodes.push(Node {
            kind: Kind::from_name(kind_name),
            kind_name: kind_name.to_owned(),
            offset,
            size,
            len,
            name: if name == "." { String::new() } else { cut(name).to_owned() },
            type_name: cut(type_name).to_owned(),
            children: Vec::new(),
        });
        stack.push(index);
    }
    if nodes.is_empty() {
        return Err(BadMap("empty field map"));
    }
    Ok(nodes)
}

/// `s` cut to at most [`MAX_NAME_BYTES`] at a character boundary.
fn cut(s: &str) -> &str {
    if s.len() <= MAX_NAME_BYTES {
        return s;
    }
    let mut end = MAX_NAME_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Field;

    const INNER: Layout = Layout {
        kind: Kind::Struct,
        fields: &[Field {
            name: "count",
            offset: 0,
            size: 8,
            type_name: "AtomicU64",
            layout: &Layout::leaf(Kind::Atomic),
        }],
        len: 1,
    };
    const ARRAY: Layout = Layout {
        kind: Kind::Array,
        fields: &[Field { name: "", offset: 0, size: 8, type_name: "Inner", layout: &INNER }],
        len: 3,
    };
    const OUTER: Layout = Layout {
        kind: Kind::Struct,
        fields: &[
            Field {
                name: "lock",
                offset: 0,
                size: 16,
                type_name: "ShmMutex",
                layout: &Layout::leaf(Kind::Mutex),
            },
            Field { name: "slots", offset: 16, size: 24, type_name: "[Inner; 3]", layout: &ARRAY },
        ],
        len: 1,
    };

    #[test]
    fn a_layout_round_trips() {
        let bytes = encode(&OUTER, "Outer", "Outer", 40, 1, false);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("1 array 16 24 3 slots [Inner; 3]\n"), "{text}");
        let nodes = decode(&bytes).unwrap();
        assert_eq!(nodes.len(), 5);
        assert_eq!(nodes[0].kind, Some(Kind::Struct));
        assert_eq!(nodes[0].children, vec![1, 2]);
        assert_eq!(nodes[2].name, "slots");
        assert_eq!(nodes[2].type_name, "[Inner; 3]");
        assert_eq!(nodes[2].len, 3);
        assert_eq!(nodes[3].name, "");
        assert_eq!(nodes[4].name, "count");
        assert_eq!(nodes[4].kind, Some(Kind::Atomic));
    }

    #[test]
    fn a_slice_payload_is_an_array_root() {
        let nodes = decode(&encode(&INNER, "[Inner]", "Inner", 8, 1000, true)).unwrap();
        assert_eq!(nodes[0].kind, Some(Kind::Array));
        assert_eq!((nodes[0].len, nodes[0].size), (1000, 8000));
        assert_eq!(nodes[1].type_name, "Inner");
        assert_eq!(nodes[0].children, vec![1]);
    }

    #[test]
    fn unknown_kinds_are_kept_by_name() {
        let map = b"shmsync-field-map 1\n0 struct 0 8 1 . S\n1 hologram 0 8 1 x Future\n";
        let nodes = decode(map).unwrap();
        assert_eq!(nodes[1].kind, None);
        assert_eq!(nodes[1].kind_name, "hologram");
    }

    #[test]
    fn malformed_maps_are_errors_not_panics() {
        let bad: &[&[u8]] = &[
            b"",
            b"shmsync-field-map 2\n0 struct 0 8 1 . S\n",
            b"shmsync-field-map 1\n",
            b"shmsync-field-map 1\n1 struct 0 8 1 . S\n",
            b"shmsync-field-map 1\n0 struct 0 8 1 . S\n0 struct 0 8 1 . S\n",
            b"shmsync-field-map 1\n0 struct 0 8 1 . S\n2 plain 0 8 1 x u8\n",
            b"shmsync-field-map 1\n0 struct -1 8 1 . S\n",
            b"shmsync-field-map 1\n0 struct 0 99999999999999999999999 1 . S\n",
            b"shmsync-field-map 1\n0 struct 0 8\n",
            b"shmsync-field-map 1\n0 struct 0 8 1 . \xff\n",
        ];
        for map in bad {
            assert!(decode(map).is_err(), "{:?}", String::from_utf8_lossy(map));
        }
        let deep: String = (0..=MAX_DEPTH + 1).map(|d| format!("{d} struct 0 8 1 f S\n")).collect();
        assert!(decode(format!("{MAGIC_LINE}\n{deep}").as_bytes()).is_err());
    }

    #[test]
    #[cfg_attr(miri, ignore = "decodes a quarter megabyte of text: minutes under Miri")]
    fn long_names_are_cut_when_read() {
        let long = "é".repeat(70_000);
        let map = format!("{MAGIC_LINE}\n0 struct 0 8 1 . S\n1 mutex 0 8 1 {long} {long}\n");
        let nodes = decode(map.as_bytes()).unwrap();
        assert!(nodes[1].name.len() <= MAX_NAME_BYTES && nodes[1].name.starts_with('é'));
        assert!(nodes[1].type_name.len() <= MAX_NAME_BYTES);
    }

    #[test]
    #[cfg_attr(miri, ignore = "encodes over a megabyte of text: many minutes under Miri")]
    fn a_map_too_big_to_read_back_is_recorded_as_the_payload_alone() {
        // 16 fields of 16 fields of … : 16^4 leaves, over a megabyte of map.
        const LEAF: Layout = Layout::leaf(Kind::Atomic);
        const fn wide(inner: &'static Layout, size: usize) -> [Field; 16] {
            let mut fields =
                [Field { name: "field", offset: 0, size, type_name: "T", layout: inner }; 16];
            let mut i = 0;
            while i < 16 {
                fields[i].offset = i * size;
                i += 1;
            }
            fields
        }
        const F1: [Field; 16] = wide(&LEAF, 8);
        const L1: Layout = Layout { kind: Kind::Struct, fields: &F1, len: 1 };
        const F2: [Field; 16] = wide(&L1, 128);
        const L2: Layout = Layout { kind: Kind::Struct, fields: &F2, len: 1 };
        const F3: [Field; 16] = wide(&L2, 2048);
        const L3: Layout = Layout { kind: Kind::Struct, fields: &F3, len: 1 };
        const F4: [Field; 16] = wide(&L3, 32768);
        const L4: Layout = Layout { kind: Kind::Struct, fields: &F4, len: 1 };
        let map = encode(&L4, "Huge", "Huge", 524_288, 1, false);
        assert!(map.len() as u64 <= MAX_MAP_BYTES);
        let nodes = decode(&map).unwrap();
        assert_eq!(nodes.len(), 1);
        assert_eq!(
            (nodes[0].kind, nodes[0].size, nodes[0].type_name.as_str()),
            (Some(Kind::Plain), 524_288, "Huge")
        );
        // One level less fits and is recorded whole.
        assert!(decode(&encode(&L3, "Big", "Big", 32768, 1, false)).unwrap().len() > 4096);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz: mutate a valid map byte by byte.
        let good = encode(&OUTER, "Outer", "Outer", 40, 1, false);
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..if cfg!(miri) { 20 } else { 2000 } {
            let mut map = good.clone();
            for _ in 0..3 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = (seed as usize) % map.len();
                map[at] = (seed >> 32) as u8;
            }
            let _ = decode(&map);
        }
    }
}
