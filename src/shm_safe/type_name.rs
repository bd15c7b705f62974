//! The one builder of bounded type names: what `[T; N]`, a segment of
//! `[E]` and a segment header call a type. A name is for people (errors,
//! `shmsync inspect`); the fingerprint, not the name, decides whether two
//! types match, so cutting a long name loses nothing but text.

/// The most bytes of a type name a segment header stores (header format
/// 3), and so the most any name built here holds.
pub(crate) const TYPE_NAME_CAPACITY: usize = 128;

/// A type name assembled at compile time: at most [`TYPE_NAME_CAPACITY`]
/// bytes, and always whole UTF-8 characters (a piece that does not fit is
/// cut before the first character that would cross the bound).
///
/// Build it in a `const` and read it with [`as_str`](Self::as_str):
///
/// ```text
/// const NAME: TypeName = TypeName::EMPTY.push("[").push_within(E::TYPE_NAME, 1).push("]");
/// const STR: &'static str = NAME.as_str();
/// ```
#[derive(Clone, Copy)]
pub(crate) struct TypeName {
    bytes: [u8; TYPE_NAME_CAPACITY],
    len: usize,
}

impl TypeName {
    /// The empty name.
    pub(crate) const EMPTY: TypeName = TypeName { bytes: [0; TYPE_NAME_CAPACITY], len: 0 };

    /// Appends as much of `s` as fits, in whole characters.
    #[must_use]
    pub(crate) const fn push(self, s: &str) -> TypeName {
        self.push_within(s, 0)
    }

    /// Appends as much of `s` as fits while leaving `keep` bytes free (for
    /// a suffix that must survive, like the `; N]` of an array's name), in
    /// whole characters.
    #[must_use]
    pub(crate) const fn push_within(mut self, s: &str, keep: usize) -> TypeName {
        let room = TYPE_NAME_CAPACITY.saturating_sub(self.len).saturating_sub(keep);
        let piece = truncate(s, room).as_bytes();
        let mut i = 0;
        while i < piece.len() {
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
        if self.len + digits > TYPE_NAME_CAPACITY {
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
    while end > 0 && (bytes[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    let (head, _) = bytes.split_at(end);
    match core::str::from_utf8(head) {
        Ok(head) => head,
        // Unreachable: `end` is a character boundary of a `str`.
        Err(_) => "",
    }
}

#[cfg(test)]
mod tests {
    use super::{truncate, TypeName, TYPE_NAME_CAPACITY};

    #[test]
    fn short_names_are_kept_whole() {
        const NAME: TypeName = TypeName::EMPTY.push("[").push("u64").push("; ").push_decimal(1000);
        assert_eq!(NAME.push("]").as_str(), "[u64; 1000]");
        assert_eq!(TypeName::EMPTY.push_decimal(0).as_str(), "0");
        assert_eq!(TypeName::EMPTY.push_decimal(usize::MAX).as_str(), usize::MAX.to_string());
    }

    /// A name of two-byte characters reaching past the bound at an odd
    /// offset: the cut falls between characters, never inside one.
    #[test]
    fn a_cut_never_splits_a_character() {
        for prefix in ["", "a", "ab"] {
            for multi in ["é", "€", "𝄞"] {
                let long = format!("{prefix}{}", multi.repeat(TYPE_NAME_CAPACITY));
                let name = TypeName::EMPTY.push(&long);
                assert!(name.len() <= TYPE_NAME_CAPACITY);
                assert!(name.len() > TYPE_NAME_CAPACITY - multi.len());
                assert!(long.starts_with(name.as_str()));
                assert_eq!(truncate(&long, TYPE_NAME_CAPACITY), name.as_str());
            }
        }
    }

    #[test]
    fn push_within_keeps_room_for_the_suffix() {
        let long = "é".repeat(TYPE_NAME_CAPACITY);
        let name = TypeName::EMPTY.push("[").push_within(&long, 5).push("; 42]");
        assert!(name.as_str().starts_with("[é"));
        assert!(name.as_str().ends_with("é; 42]"));
        assert!(name.len() <= TYPE_NAME_CAPACITY);
        // Full: nothing more is appended, not even part of a number.
        let full = TypeName::EMPTY.push(&"x".repeat(TYPE_NAME_CAPACITY - 1));
        assert_eq!(full.push_decimal(42).len(), TYPE_NAME_CAPACITY - 1);
    }

    #[test]
    fn truncate_keeps_what_fits() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abc", 2), "ab");
        assert_eq!(truncate("aé", 2), "a");
        assert_eq!(truncate("é", 0), "");
    }
}
