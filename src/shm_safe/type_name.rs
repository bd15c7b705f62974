//! The one builder of bounded type names: what `[T; N]`, a segment of
//! `[E]` and a segment header call a type. A name is for people (errors,
//! `shmsync inspect`); the fingerprint, not the name, decides whether two
//! types match, so cutting a long name loses nothing but text.

/// The most bytes of a type name a segment header stores (header format
/// 3). Names are built longer (see [`NAME_CAPACITY`]) and cut to this,
/// with the same rule, only where a header is written.
pub(crate) const TYPE_NAME_CAPACITY: usize = 128;

/// The most bytes of a name built in memory (`<[T; N]>::TYPE_NAME`, a
/// slice segment's name): what errors such as `LayoutMismatch` show.
pub(crate) const NAME_CAPACITY: usize = 256;

/// How many bytes of the end of a name that does not fit are kept, in whole
/// characters, after an ellipsis: enough for the `; N]`s of the arrays
/// around a long element name, so that a cut name still reads as the type
/// it names (`[[ééé…é; 3]; 2]`, not `[[ééé; 2]`).
const KEPT_TAIL: usize = 24;

/// What stands for the bytes cut out of the middle of a name.
const ELLIPSIS: &str = "\u{2026}";

/// A type name assembled at compile time (or at run time, for a header):
/// at most its capacity in bytes, always whole UTF-8 characters, and a
/// piece that does not fit loses its middle, not its end.
///
/// Build it in a `const` and read it with [`as_str`](Self::as_str):
///
/// ```text
/// const NAME: TypeName = TypeName::EMPTY.push("[").push_within(E::TYPE_NAME, 1).push("]");
/// const STR: &'static str = NAME.as_str();
/// ```
#[derive(Clone, Copy)]
pub(crate) struct TypeName {
    bytes: [u8; NAME_CAPACITY],
    len: usize,
    /// At most `NAME_CAPACITY`.
    capacity: usize,
}

impl TypeName {
    /// The empty name, of [`NAME_CAPACITY`] bytes at most.
    pub(crate) const EMPTY: TypeName = TypeName::with_capacity(NAME_CAPACITY);

    /// The empty name, of `capacity` bytes at most (at most
    /// [`NAME_CAPACITY`]).
    pub(crate) const fn with_capacity(capacity: usize) -> TypeName {
        let capacity = if capacity < NAME_CAPACITY { capacity } else { NAME_CAPACITY };
        TypeName { bytes: [0; NAME_CAPACITY], len: 0, capacity }
    }

    /// Appends `s`, or as much of it as fits, in whole characters.
    #[must_use]
    pub(crate) const fn push(self, s: &str) -> TypeName {
        self.push_within(s, 0)
    }

    /// Appends `s` while leaving `keep` bytes free (for a suffix that must
    /// survive, like the `; N]` of an array's name). If it does not fit,
    /// its middle gives way: its start, an ellipsis, and its last
    /// [`KEPT_TAIL`] bytes (whole characters); if even that does not fit,
    /// its start alone.
    #[must_use]
    pub(crate) const fn push_within(self, s: &str, keep: usize) -> TypeName {
        let room = self.capacity.saturating_sub(self.len).saturating_sub(keep);
        if s.len() <= room {
            return self.append(s);
        }
        let end = tail(s, KEPT_TAIL);
        if room < ELLIPSIS.len() + end.len() {
            return self.append(truncate(s, room));
        }
        self.append(truncate(s, room - ELLIPSIS.len() - end.len())).append(ELLIPSIS).append(end)
    }

    /// Appends `s`, which the caller has checked fits.
    const fn append(mut self, s: &str) -> TypeName {
        let piece = s.as_bytes();
        let mut i = 0;
        while i < piece.len() && self.len < self.capacity {
            self.bytes[self.len] = piece[i];
            self.len += 1;
            i += 1;
        }
        self
    }

    /// Appends `n` in decimal (its digits only if they all fit: a number
    /// cut short would name another type).
    #[must_use]
    pub(crate) const fn push_decimal(mut self, n: usize) -> TypeName {
        let mut digits = 1;
        let mut rest = n / 10;
        while rest > 0 {
            digits += 1;
            rest /= 10;
        }
        if self.len + digits > self.capacity {
            return self;
        }
        let mut rest = n;
        let mut d = digits;
        while d > 0 {
            self.bytes[self.len + d - 1] = b'0' + (rest % 10) as u8;
            rest /= 10;
            d -= 1;
        }
        self.len += digits;
        self
    }

    /// The length in bytes.
    pub(crate) const fn len(&self) -> usize {
        self.len
    }

    /// The name.
    pub(crate) const fn as_str(&self) -> &str {
        let (name, _) = self.bytes.split_at(self.len);
        match core::str::from_utf8(name) {
            Ok(name) => name,
            // Unreachable: only whole characters of `str`s and ASCII digits
            // are ever appended.
            Err(_) => "?",
        }
    }
}

/// The longest prefix of `s` that is at most `max` bytes long and ends on
/// a character boundary.
pub(crate) const fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let bytes = s.as_bytes();
    let mut end = max;
    // A UTF-8 continuation byte is 0b10xx_xxxx: never the first byte of a
    // character, so a cut before one would split a character.
    while end > 0 && is_continuation(bytes[end]) {
        end -= 1;
    }
    let (head, _) = bytes.split_at(end);
    match core::str::from_utf8(head) {
        Ok(head) => head,
        // Unreachable: `end` is a character boundary of a `str`.
        Err(_) => "",
    }
}

/// The longest suffix of `s` that is at most `max` bytes long and starts on
/// a character boundary.
const fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let bytes = s.as_bytes();
    let mut start = s.len() - max;
    while start < bytes.len() && is_continuation(bytes[start]) {
        start += 1;
    }
    let (_, end) = bytes.split_at(start);
    match core::str::from_utf8(end) {
        Ok(end) => end,
        // Unreachable: `start` is a character boundary of a `str`.
        Err(_) => "",
    }
}

/// Whether `b` continues a UTF-8 character rather than starting one.
const fn is_continuation(b: u8) -> bool {
    (b & 0xC0) == 0x80
}

#[cfg(test)]
mod tests {
    use super::{tail, truncate, TypeName, KEPT_TAIL, NAME_CAPACITY, TYPE_NAME_CAPACITY};

    #[test]
    fn short_names_are_kept_whole() {
        const NAME: TypeName = TypeName::EMPTY.push("[").push("u64").push("; ").push_decimal(1000);
        assert_eq!(NAME.push("]").as_str(), "[u64; 1000]");
        assert_eq!(TypeName::EMPTY.push_decimal(0).as_str(), "0");
        assert_eq!(TypeName::EMPTY.push_decimal(usize::MAX).as_str(), usize::MAX.to_string());
    }

    /// Names of one-, two-, three- and four-byte characters reaching past
    /// the bound at every offset: each cut falls between characters, the
    /// start and the end of the name survive, and the bound holds.
    #[test]
    fn a_cut_never_splits_a_character() {
        for capacity in [TYPE_NAME_CAPACITY, NAME_CAPACITY, 40, 3, 0] {
            for prefix in ["", "a", "ab", "abc"] {
                for multi in ["x", "é", "€", "𝄞"] {
                    let long = format!("{prefix}{}", multi.repeat(NAME_CAPACITY));
                    let name = TypeName::with_capacity(capacity).push(&long);
                    let name = name.as_str();
                    assert!(name.len() <= capacity, "{name}");
                    assert!(name.len() + 2 * multi.len() + 3 > capacity, "{capacity}: {name}");
                    let head = name.split('\u{2026}').next().unwrap_or_default();
                    assert!(long.starts_with(head), "{name}");
                    if name.contains('\u{2026}') {
                        assert!(long.ends_with(name.rsplit('\u{2026}').next().unwrap_or("?")));
                    }
                }
            }
        }
    }

    /// The `; N]`s of the arrays around a long element name survive its
    /// cut, so the name still reads as the type it names.
    #[test]
    fn a_cut_keeps_the_end_of_the_name() {
        let element = format!("[{}; 3]", "é".repeat(NAME_CAPACITY));
        let name = TypeName::EMPTY.push("[").push_within(&element, 4).push("; 2]");
        let name = name.as_str();
        assert!(name.len() <= NAME_CAPACITY, "{name}");
        assert!(name.starts_with("[[éé"), "{name}");
        assert!(name.ends_with("é; 3]; 2]"), "{name}");
        assert_eq!(name.matches('\u{2026}').count(), 1, "{name}");
        // Cut again to a header's bound, the end still survives.
        let header = TypeName::with_capacity(TYPE_NAME_CAPACITY).push(name);
        assert!(header.as_str().ends_with("; 3]; 2]"), "{}", header.as_str());
        assert!(header.len() <= TYPE_NAME_CAPACITY);
    }

    #[test]
    fn push_within_keeps_room_for_the_suffix() {
        let long = "é".repeat(NAME_CAPACITY);
        let name = TypeName::EMPTY.push("[").push_within(&long, 5).push("; 42]");
        assert!(name.as_str().starts_with("[é"));
        assert!(name.as_str().ends_with("é; 42]"));
        assert!(name.len() <= NAME_CAPACITY);
        // Full: nothing more is appended, not even part of a number.
        let full = TypeName::EMPTY.push(&"x".repeat(NAME_CAPACITY - 1));
        assert_eq!(full.push_decimal(42).len(), NAME_CAPACITY - 1);
    }

    #[test]
    fn truncate_and_tail_keep_what_fits() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abc", 2), "ab");
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate("é", 0), "");
        assert_eq!(tail("abc", 2), "bc");
        assert_eq!(tail("éa", 2), "a");
        assert_eq!(tail("é", 0), "");
        assert!(tail(&"€".repeat(20), KEPT_TAIL).len() <= KEPT_TAIL);
    }
}
