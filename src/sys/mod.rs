//! Operating-system specific code. Only Linux is supported; other targets
//! fail to compile with a clear message (see `lib.rs`).

pub(crate) mod linux;
