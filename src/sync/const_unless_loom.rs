//! [`const_unless_loom!`]: one definition of a constructor that is `const`
//! in the normal build and not under `--cfg loom`, whose atomics have no
//! `const fn new`.

/// Defines each `const fn` given twice: as written in the normal build, and
/// without the `const` under loom, with the same attributes, docs,
/// signature and, unless a `loom { … }` body follows, the same body. The separate body is
/// for what only a `const` can do: an array repeat of a constant
/// (`[ZERO; N]`) has no loom counterpart, which builds its arrays with
/// `core::array::from_fn` instead.
///
/// ```text
/// impl Thing {
///     crate::sync::const_unless_loom! {
///         /// A fresh thing (the same as zeroed).
///         pub(crate) const fn new() -> Self {
///             Thing { word: AtomicU32::new(0) }
///         }
///
///         /// A thing full of empty slots.
///         pub(crate) const fn with_slots() -> Self {
///             Thing { slots: [EMPTY; 8] }
///         } loom {
///             Thing { slots: core::array::from_fn(|_| AtomicU64::new(0)) }
///         }
///     }
/// }
/// ```
macro_rules! const_unless_loom {
    () => {};
    (
        $(#[$attr:meta])*
        $vis:vis const fn $name:ident($($args:tt)*) -> $ret:ty $body:block
        loom $loom_body:block
        $($rest:tt)*
    ) => {
        #[cfg(not(loom))]
        $(#[$attr])*
        $vis const fn $name($($args)*) -> $ret $body

        #[cfg(loom)]
        $(#[$attr])*
        $vis fn $name($($args)*) -> $ret $loom_body

        $crate::sync::const_unless_loom! { $($rest)* }
    };
    (
        $(#[$attr:meta])*
        $vis:vis const fn $name:ident($($args:tt)*) -> $ret:ty $body:block
        $($rest:tt)*
    ) => {
        #[cfg(not(loom))]
        $(#[$attr])*
        $vis const fn $name($($args)*) -> $ret $body

        #[cfg(loom)]
        $(#[$attr])*
        $vis fn $name($($args)*) -> $ret $body

        $crate::sync::const_unless_loom! { $($rest)* }
    };
}

pub(crate) use const_unless_loom;

// Every public constructor defined through the macro is still `const` in
// the normal build: this stops compiling the moment one is not.
#[cfg(all(test, not(loom)))]
const _: () = {
    use crate::{
        AtomicCounter, Broadcast, SeqLock, ShardedCounter, ShmBarrier, ShmCondvar, ShmEvent,
        ShmMutex, ShmRwLock, ShmSemaphore,
    };
    let _ = ShmMutex::new(0u64);
    let _ = ShmCondvar::new();
    let _ = ShmRwLock::new([0u8; 4]);
    let _ = SeqLock::new(0u64);
    let _ = AtomicCounter::new(0);
    let _ = ShardedCounter::<4>::new();
    let _ = Broadcast::<u64, 4>::new();
    let _ = ShmSemaphore::new(1);
    let _ = ShmEvent::new();
    let _ = ShmEvent::new_auto_reset();
    let _ = ShmBarrier::new(2);
};
