//! The errors about one named segment: the one place a segment's name is
//! copied into an [`Error`], and the one place an operating system error of
//! a call on a name is told apart (missing, forbidden, taken, or other).

use std::io;
use std::time::Duration;

use super::header::PayloadShape;
use super::name::SegmentName;
use crate::Error;

/// Builds the errors about one segment, each carrying its name, so a call
/// site says only what went wrong. Get one with [`SegmentName::err`].
#[derive(Clone, Copy)]
pub(crate) struct SegmentErrors<'a>(&'a SegmentName);

impl SegmentName {
    /// The errors about this segment.
    pub(crate) fn err(&self) -> SegmentErrors<'_> {
        SegmentErrors(self)
    }
}

impl<'a> SegmentErrors<'a> {
    /// The name as the errors carry it: as the caller gave it.
    fn name(self) -> String {
        self.0.as_str().to_owned()
    }

    /// [`Error::NotFound`].
    pub(crate) fn not_found(self) -> Error {
        Error::NotFound { name: self.name() }
    }

    /// [`Error::AlreadyExists`].
    pub(crate) fn already_exists(self) -> Error {
        Error::AlreadyExists { name: self.name() }
    }

    /// [`Error::PermissionDenied`].
    pub(crate) fn permission_denied(self) -> Error {
        Error::PermissionDenied { name: self.name() }
    }

    /// [`Error::InUse`].
    pub(crate) fn in_use(self) -> Error {
        Error::InUse { name: self.name() }
    }

    /// [`Error::NotASegment`], `reason` saying which check failed.
    pub(crate) fn not_a_segment(self, reason: &'static str) -> Error {
        Error::NotASegment { name: self.name(), reason }
    }

    /// [`Error::CreatorDied`]: the creator `pid` died initializing it.
    pub(crate) fn creator_died(self, pid: u32) -> Error {
        Error::CreatorDied { name: self.name(), pid }
    }

    /// [`Error::InitTimeout`] after waiting `timeout` for the creator.
    pub(crate) fn init_timeout(self, timeout: Duration) -> Error {
        Error::InitTimeout { name: self.name(), timeout }
    }

    /// [`Error::NoSpace`]: `needed` bytes (0: not even an empty object),
    /// `available` free.
    pub(crate) fn no_space(self, needed: u64, available: u64) -> Error {
        Error::NoSpace { name: self.name(), needed, available }
    }

    /// [`Error::VersionMismatch`]: the header has format version `found`.
    pub(crate) fn version_mismatch(self, expected: u32, found: u32) -> Error {
        Error::VersionMismatch { name: self.name(), expected, found }
    }

    /// [`Error::LayoutMismatch`] between the caller's `expected` shape and
    /// what the creator recorded.
    pub(crate) fn layout_mismatch(
        self,
        expected: &PayloadShape,
        found: String,
        found_fingerprint: u64,
        found_size: u64,
        found_align: u64,
    ) -> Error {
        Error::LayoutMismatch {
            name: self.name(),
            expected: expected.type_name,
            found,
            expected_fingerprint: expected.fingerprint,
            found_fingerprint,
            expected_size: expected.element_size as u64,
            found_size,
            expected_align: expected.align as u64,
            found_align,
        }
    }

    /// [`Error::SizeMismatch`]: the object is `found` bytes, `expected`
    /// are needed.
    pub(crate) fn size_mismatch(self, expected: u64, found: u64) -> Error {
        Error::SizeMismatch { name: self.name(), expected, found }
    }

    /// [`Error::LengthMismatch`]: `expected` elements asked for, `found`
    /// recorded.
    pub(crate) fn length_mismatch(self, expected: usize, found: usize) -> Error {
        Error::LengthMismatch { name: self.name(), expected, found }
    }

    /// [`Error::InvalidArgument`]: the argument `what` is unusable, `why`.
    pub(crate) fn invalid_argument(self, what: &'static str, why: String) -> Error {
        Error::InvalidArgument { name: self.name(), what, why }
    }

    /// [`Error::Io`]: the system call `op` failed with `source`.
    pub(crate) fn io_error(self, op: &'static str, source: io::Error) -> Error {
        Error::Io { name: self.name(), op, source }
    }

    /// [`io_error`](Self::io_error) as a closure, for `map_err`.
    pub(crate) fn io(self, op: &'static str) -> impl FnOnce(io::Error) -> Error + 'a {
        move |source| self.io_error(op, source)
    }

    /// The error of a call `op` that resolves the name (`shm_open`,
    /// `shm_unlink`): a missing name, a refused permission and a taken name
    /// have variants of their own, anything else is [`Error::Io`].
    pub(crate) fn os(self, op: &'static str, e: io::Error) -> Error {
        match e.raw_os_error() {
            Some(libc::ENOENT) => self.not_found(),
            Some(libc::EACCES) | Some(libc::EPERM) => self.permission_denied(),
            Some(libc::EEXIST) => self.already_exists(),
            _ => self.io_error(op, e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> SegmentName {
        SegmentName::new("/errors-test").expect("a valid name")
    }

    /// Every error carries the name as the caller gave it.
    #[test]
    fn errors_carry_the_name_as_given() {
        let name = name();
        assert!(
            matches!(name.err().not_found(), Error::NotFound { name } if name == "/errors-test")
        );
        let e = name.err().io("fstat")(io::Error::from_raw_os_error(libc::EIO));
        assert!(matches!(e, Error::Io { ref name, op: "fstat", .. } if name == "/errors-test"));
    }

    /// The errno classes of a call on a name, and the rest as `Io` of that
    /// call.
    #[test]
    fn os_errors_of_a_name_are_told_apart() {
        let name = name();
        let os = |errno| name.err().os("shm_open", io::Error::from_raw_os_error(errno));
        assert!(matches!(os(libc::ENOENT), Error::NotFound { .. }));
        assert!(matches!(os(libc::EACCES), Error::PermissionDenied { .. }));
        assert!(matches!(os(libc::EPERM), Error::PermissionDenied { .. }));
        assert!(matches!(os(libc::EEXIST), Error::AlreadyExists { .. }));
        assert!(matches!(os(libc::EMFILE), Error::Io { op: "shm_open", .. }));
    }
}
