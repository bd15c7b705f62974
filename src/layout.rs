//! The field layout a [`ShmSafe`](crate::ShmSafe) type records about itself:
//! for every field, its name, offset, size and [`Kind`], down to the
//! primitives. `create` writes it into the segment as the *field map*, so
//! that a program that does not know the payload's Rust type (the
//! `shmsync` command, [`inspect`](crate::inspect)) can still show the state
//! of every lock and counter in it by name.
//!
//! `#[derive(ShmSafe)]` fills it in; a hand-written `ShmSafe` impl gets the
//! default, [`Layout::PLAIN`] (opaque bytes).
//!
//! # Examples
//!
//! ```
//! use shmsync::layout::Kind;
//! use shmsync::{AtomicCounter, ShmMutex, ShmSafe};
//!
//! #[derive(ShmSafe)]
//! #[repr(C)]
//! struct Stats {
//!     hits: AtomicCounter,
//!     book: ShmMutex<[u64; 2]>,
//! }
//!
//! let layout = &<Stats as ShmSafe>::LAYOUT;
//! assert_eq!(layout.kind, Kind::Struct);
//! let names: Vec<_> = layout.fields.iter().map(|f| (f.name, f.layout.kind)).collect();
//! assert_eq!(names, [("hits", Kind::AtomicCounter), ("book", Kind::Mutex)]);
//! ```

/// What a region of a payload holds, as inspection sees it.
///
/// The crate's own primitives each have a kind; the format version of the
/// segment header pins their internal layout, so an inspector reads a
/// `Mutex`'s lock word without knowing the `T` it guards.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Plain data (integers, floats, padding, an opaque hand-made type):
    /// shown by type and size only, since it may be mid-update.
    Plain,
    /// A std atomic integer (`AtomicU64`, `AtomicI32`, `AtomicBool`, …),
    /// whose value inspection shows.
    Atomic,
    /// A `#[derive(ShmSafe)]` struct: see its [`Layout::fields`].
    Struct,
    /// `[T; N]`: one [`Layout::fields`] entry describes the element,
    /// [`Layout::len`] is `N`.
    Array,
    /// A [`ShmMutex`](crate::ShmMutex); its one field is the data it guards.
    Mutex,
    /// A [`ShmCondvar`](crate::ShmCondvar).
    Condvar,
    /// An [`AtomicCounter`](crate::AtomicCounter).
    AtomicCounter,
    /// A [`ShardedCounter`](crate::ShardedCounter).
    ShardedCounter,
    /// A [`SeqLock`](crate::SeqLock) (its value is not shown: it can be
    /// read only through the seqlock protocol).
    SeqLock,
    /// A [`ShmEvent`](crate::ShmEvent).
    Event,
    /// A [`ShmBarrier`](crate::ShmBarrier).
    Barrier,
    /// A [`ShmRwLock`](crate::ShmRwLock); its one field is the data it
    /// guards.
    RwLock,
    /// A [`ShmSemaphore`](crate::ShmSemaphore).
    Semaphore,
    /// A [`Broadcast`](crate::Broadcast); [`Layout::len`] is its capacity
    /// `N` (its values are read only through the ring's protocol, which an
    /// inspector does not run: it shows the sequence and the sender lock).
    Broadcast,
}

impl Kind {
    /// The kind's name in the field map and in `shmsync inspect --json`:
    /// `plain`, `atomic`, `struct`, `array`, `mutex`, `condvar`,
    /// `atomic_counter`, `sharded_counter`, `seqlock`, `event`, `barrier`,
    /// `rwlock`, `semaphore`, `broadcast`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Plain => "plain",
            Kind::Atomic => "atomic",
            Kind::Struct => "struct",
            Kind::Array => "array",
            Kind::Mutex => "mutex",
            Kind::Condvar => "condvar",
            Kind::AtomicCounter => "atomic_counter",
            Kind::ShardedCounter => "sharded_counter",
            Kind::SeqLock => "seqlock",
            Kind::Event => "event",
            Kind::Barrier => "barrier",
            Kind::RwLock => "rwlock",
            Kind::Semaphore => "semaphore",
            Kind::Broadcast => "broadcast",
        }
    }

    /// The kind named `name` (the inverse of [`as_str`](Self::as_str)).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Kind> {
        Some(match name {
            "plain" => Kind::Plain,
            "atomic" => Kind::Atomic,
            "struct" => Kind::Struct,
            "array" => Kind::Array,
            "mutex" => Kind::Mutex,
            "condvar" => Kind::Condvar,
            "atomic_counter" => Kind::AtomicCounter,
            "sharded_counter" => Kind::ShardedCounter,
            "seqlock" => Kind::SeqLock,
            "event" => Kind::Event,
            "barrier" => Kind::Barrier,
            "rwlock" => Kind::RwLock,
            "semaphore" => Kind::Semaphore,
            "broadcast" => Kind::Broadcast,
            _ => return None,
        })
    }
}

/// The layout of one type: its kind and, for containers, what it contains.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// What the type is.
    pub kind: Kind,
    /// `Struct`: its fields in declaration order. `Array`: one entry, the
    /// element at offset 0 (element `i` is at `i * size`). `Mutex` and
    /// `RwLock`: one entry, the guarded value. Otherwise empty.
    pub fields: &'static [Field],
    /// `Array`: the element count. `Broadcast`: its capacity. Otherwise 1.
    pub len: usize,
}

/// One field of a [`Layout`].
#[derive(Clone, Copy, Debug)]
pub struct Field {
    /// The field's name (`"0"`, `"1"`, … for tuple structs; `"data"` for
    /// a mutex's value, `""` for an array's element).
    pub name: &'static str,
    /// Bytes from the start of the containing type.
    pub offset: usize,
    /// `size_of` the field's type, in bytes.
    pub size: usize,
    /// The field type's [`ShmSafe::TYPE_NAME`](crate::ShmSafe::TYPE_NAME).
    pub type_name: &'static str,
    /// The field type's layout.
    pub layout: &'static Layout,
}

impl Layout {
    /// Opaque plain data: the default of [`ShmSafe::LAYOUT`](crate::ShmSafe::LAYOUT).
    pub const PLAIN: Layout = Layout::leaf(Kind::Plain);

    /// A type with no inner fields worth showing (a primitive, a counter).
    #[must_use]
    pub const fn leaf(kind: Kind) -> Layout {
        Layout { kind, fields: &[], len: 1 }
    }
}

impl Field {
    /// The one field of a lock that guards a value (a [`Kind::Mutex`] or a
    /// [`Kind::RwLock`]): the value, named `data`, at `offset` in the lock.
    #[cfg(not(loom))]
    pub(crate) const fn guarded<T: crate::ShmSafe>(offset: usize) -> Field {
        Field {
            name: "data",
            offset,
            size: core::mem::size_of::<T>(),
            type_name: T::TYPE_NAME,
            layout: &T::LAYOUT,
        }
    }
}
