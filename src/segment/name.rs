//! Segment names: validation and the forms the kernel wants.

use std::ffi::CString;

use crate::{Error, Result};

/// The longest name accepted, in bytes, not counting an optional leading `/`.
pub(crate) const MAX_NAME_LEN: usize = 200;

/// Where glibc and musl keep POSIX shared memory objects on Linux. Used only
/// to `stat` a name (to check it still refers to our object before unlinking).
const SHM_DIR: &str = "/dev/shm/";

/// A validated segment name.
#[derive(Clone, Debug)]
pub(crate) struct SegmentName {
    /// The name exactly as the caller gave it.
    given: String,
    /// `"/" + bare name`, for `shm_open` / `shm_unlink`.
    shm: CString,
    /// `"/dev/shm/" + bare name`, for `stat`.
    path: CString,
}

impl SegmentName {
    /// Validates `name`: 1..=200 bytes of `[A-Za-z0-9._-]` after an optional
    /// leading `/`, and not `.`, `..` or anything containing `..`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] saying what is wrong.
    pub(crate) fn new(name: &str) -> Result<SegmentName> {
        let invalid = |reason| Error::InvalidName { name: name.to_owned(), reason };
        let bare = name.strip_prefix('/').unwrap_or(name);
        if bare.is_empty() {
            return Err(invalid("it is empty"));
        }
        if bare.len() > MAX_NAME_LEN {
            return Err(invalid("it is longer than 200 bytes"));
        }
        if let Some(bad) = bare.bytes().find(|b| !is_name_byte(*b)) {
            return Err(invalid(match bad {
                b'/' => "it contains '/' after the first byte",
                0 => "it contains a NUL byte",
                b' ' | b'\t' | b'\n' | b'\r' => "it contains whitespace",
                _ => "it contains a byte outside [A-Za-z0-9._-]",
            }));
        }
        if bare == "." || bare.contains("..") {
            return Err(invalid("it is '.' or contains '..'"));
        }
        // Only [A-Za-z0-9._-] remain, so neither string has an interior NUL.
        let shm =
            CString::new(format!("/{bare}")).map_err(|_| invalid("it contains a NUL byte"))?;
        let path = CString::new(format!("{SHM_DIR}{bare}"))
            .map_err(|_| invalid("it contains a NUL byte"))?;
        Ok(SegmentName { given: name.to_owned(), shm, path })
    }

    /// The name as the caller gave it.
    pub(crate) fn as_str(&self) -> &str {
        &self.given
    }

    /// The name in the form `shm_open` and `shm_unlink` take.
    pub(crate) fn shm_name(&self) -> &std::ffi::CStr {
        &self.shm
    }

    /// The object's path in the shared memory filesystem.
    pub(crate) fn path(&self) -> &std::ffi::CStr {
        &self.path
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_and_slashed_names() {
        for ok in ["a", "/a", "demo-1.seg_2", &"x".repeat(MAX_NAME_LEN), ".hidden", "a.b"] {
            let n = SegmentName::new(ok).unwrap_or_else(|e| panic!("{ok:?}: {e}"));
            assert_eq!(n.as_str(), ok);
            assert_eq!(n.shm_name().to_bytes()[0], b'/');
            assert!(n.path().to_bytes().starts_with(b"/dev/shm/"));
        }
    }

    #[test]
    fn strips_exactly_one_leading_slash() {
        assert!(SegmentName::new("//a").is_err());
        assert_eq!(SegmentName::new("/a").expect("valid").shm_name().to_bytes(), b"/a");
    }
}
