//! Find, inspect and clean up segments without knowing their types: what
//! the `shmsync` command does, as a library.
//!
//! * [`list`]: every shmsync segment of this host (objects in `/dev/shm`
//!   whose header has shmsync's magic; never another program's objects).
//! * [`inspect`]: one segment's header and, from the field map its creator
//!   recorded, the state of every lock, counter and seqlock in it by path
//!   (`stats.lock`, `slots[3].count`).
//! * [`remove`]: removes a segment's name, refusing while a process has it
//!   open unless forced.
//! * [`remove_stale`]: removes every segment nobody has open (its users
//!   exited or were killed without removing it, or its creator died while
//!   initializing it), and nothing else.
//!
//! Nothing here maps a segment or attaches to it: headers, field maps and
//! lock words are read with `pread` through a read-only descriptor, so
//! inspecting never counts as "attached", never faults on an object that
//! another program truncated, and needs only read permission. Every byte
//! read is untrusted and validated; a value read from a live segment is a
//! snapshot that may already have changed.
//!
//! Whether a process has a segment open, and whether a lock's owner is
//! alive, are the kernel's answers (open-file-description locks; see the
//! crate's owner-liveness rule), never guesses from PIDs.
//!
//! # Examples
//!
//! ```
//! use shmsync::inspect::{self, FieldState, LockState};
//! use shmsync::{AtomicCounter, Segment, ShmMutex, ShmSafe};
//!
//! #[derive(ShmSafe)]
//! #[repr(C)]
//! struct Stats {
//!     hits: AtomicCounter,
//!     book: ShmMutex<[u64; 2]>,
//! }
//!
//! # let name = format!("doc-inspect-{}", std::process::id());
//! let seg = Segment::<Stats>::create(&name)?;
//! seg.hits.add(3);
//! let guard = seg.book.lock().ok().expect("fresh mutex");
//!
//! let report = inspect::inspect(&name)?;
//! assert_eq!(report.info.type_name, "Stats");
//! assert!(report.info.attached);
//! let hits = report.fields.iter().find(|f| f.path == "hits").unwrap();
//! assert!(matches!(hits.state, FieldState::Counter { value: 3 }));
//! let book = report.fields.iter().find(|f| f.path == "book").unwrap();
//! match &book.state {
//!     FieldState::Mutex(m) => {
//!         assert_eq!(m.state, LockState::Locked);
//!         assert_eq!(m.owner_alive, Some(true));
//!     }
//!     other => panic!("{other:?}"),
//! }
//! drop(guard);
//! # Ok::<(), shmsync::Error>(())
//! ```

mod fields;
mod remove;

use std::os::fd::AsFd;
use std::time::{Duration, SystemTime};

use crate::layout::Kind;
use crate::segment::field_map::{self, MAX_MAP_BYTES};
use crate::segment::header::{Snapshot, FORMAT_VERSION, HEADER_SIZE, STATE_READY};
use crate::segment::name::SegmentName;
use crate::sys::shm::{self as sys, FileStat, ObjectFd, OfdLock};
use crate::{Error, Result};

pub use remove::{remove, remove_stale, remove_stale_with_prefix, Removal};

/// Where a segment is in its life.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SegmentState {
    /// Published: usable.
    Ready,
    /// Its creator is still initializing it (it holds the exclusive lock).
    Initializing,
    /// Its creator died while initializing it: `open` reports
    /// [`CreatorDied`](crate::Error::CreatorDied), `open_or_create` takes it
    /// over, [`remove_stale`] removes it.
    CreatorDied,
    /// Written by a shmsync with another header format: only the name,
    /// size, version and whether it is attached are known.
    OtherVersion,
}

impl SegmentState {
    /// `ready`, `initializing`, `creator_died` or `other_version`: the
    /// names `shmsync list --json` prints.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            SegmentState::Ready => "ready",
            SegmentState::Initializing => "initializing",
            SegmentState::CreatorDied => "creator_died",
            SegmentState::OtherVersion => "other_version",
        }
    }
}

/// What the header and the kernel say about one segment.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SegmentInfo {
    /// The segment's name, without a leading `/`.
    pub name: String,
    /// The payload's type name as its creator recorded it (`""` when not
    /// known: another version, or an unfinished header).
    pub type_name: String,
    /// The header format version.
    pub version: u32,
    /// The object's size in bytes.
    pub size: u64,
    /// Permission bits (`0o600`, …).
    pub mode: u32,
    /// The owning user's id.
    pub uid: u32,
    /// The creating process's id, as it recorded it (0 if unknown). A
    /// diagnostic only: it may have exited, and the id been reused.
    pub creator_pid: u32,
    /// Where it is in its life.
    pub state: SegmentState,
    /// Whether any process has it open (or is initializing it) right now.
    pub attached: bool,
    /// When it was created, as its creator recorded it.
    pub created: Option<SystemTime>,
    /// Elements of a `Segment<[E]>`; 1 for a single value.
    pub element_count: u64,
    /// Bytes per element.
    pub element_size: u64,
    /// Whether the last handle to close removes the name
    /// ([`SegmentOptions::unlink_when_unused`](crate::SegmentOptions::unlink_when_unused)).
    pub unlink_when_unused: bool,
}

impl SegmentInfo {
    /// How long ago it was created (`None` if unknown, or in the future by
    /// this machine's clock).
    #[must_use]
    pub fn age(&self) -> Option<Duration> {
        SystemTime::now().duration_since(self.created?).ok()
    }
}

/// One field of a segment, found through its field map.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FieldReport {
    /// Where it is: field names joined by `.`, array elements as `[i]`
    /// (`stats.book`, `slots[3].count`; `[2]` for element 2 of a
    /// `Segment<[E]>`; `""` for a payload that is not a struct).
    pub path: String,
    /// What it is (`None`: a kind this build does not know, named in
    /// [`kind_name`](Self::kind_name)).
    pub kind: Option<Kind>,
    /// The kind's name (`mutex`, `atomic_counter`, …).
    pub kind_name: String,
    /// Its type's name as recorded.
    pub type_name: String,
    /// Bytes from the start of the payload.
    pub offset: u64,
    /// Bytes.
    pub size: u64,
    /// An array's element count; 1 otherwise.
    pub len: u64,
    /// What could be read of its state.
    pub state: FieldState,
}

/// The state of one field, read from the segment.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldState {
    /// Nothing to show (plain data, a struct or array as a whole, a
    /// condvar).
    None,
    /// A mutex's lock word.
    Mutex(MutexReport),
    /// A counter's value (a sharded counter's sum).
    Counter {
        /// The value.
        value: u64,
    },
    /// A std atomic integer's value.
    Atomic {
        /// The value (signed types sign-extended).
        value: i128,
    },
    /// A seqlock: its version (writes completed) and its writer lock.
    SeqLock {
        /// The number of completed writes.
        version: u64,
        /// The writer lock.
        writer: MutexReport,
    },
    /// An event's state word.
    Event(EventReport),
    /// A barrier's words.
    Barrier(BarrierReport),
    /// A reader-writer lock: its writer lock and the read shares held.
    RwLock {
        /// The writer lock (held by the writer, and by a writer waiting for
        /// the readers to leave).
        writer: MutexReport,
        /// Read shares held, counting those of dead readers that no writer
        /// has taken back yet.
        readers: u64,
        /// Processes holding read shares.
        reader_processes: u64,
        /// Of those, how many are dead (the kernel's answer): the next
        /// writer takes their shares back.
        reader_processes_dead: u64,
    },
    /// A semaphore's permits.
    Semaphore {
        /// Permits in existence (initial, plus released, minus forgotten).
        total: u64,
        /// Permits held, counting those of dead holders that no acquirer
        /// has taken back yet.
        in_use: u64,
        /// `total` minus `in_use` (0 if more are held than exist, as after
        /// a `forget` for a moment).
        available: u64,
        /// Processes holding permits.
        holder_processes: u64,
        /// Of those, how many are dead (the kernel's answer): the next
        /// acquirer that finds no permit takes theirs back.
        holder_processes_dead: u64,
    },
    /// A broadcast ring: values sent, capacity and the sender lock.
    Broadcast {
        /// The number of values sent (the next one's sequence number).
        sequence: u64,
        /// How many values the ring holds (`N`).
        capacity: u64,
        /// The sender lock.
        sender: MutexReport,
    },
    /// The field map says something this build cannot read safely (outside
    /// the payload, a size that does not match the kind).
    Invalid(String),
}

/// An event's state word, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventReport {
    /// Whether it is set.
    pub set: bool,
    /// Whether threads may be asleep waiting for it.
    pub waiters: bool,
    /// Whether it is an auto-reset event (else manual reset).
    pub auto_reset: bool,
}

/// A barrier's words, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BarrierReport {
    /// How many parties it is for (0: never set up; above 64: corrupt, and
    /// nothing else is read).
    pub parties: u32,
    /// Parties that have joined.
    pub joined: u32,
    /// Parties that arrived in the current generation.
    pub arrived: u32,
    /// Generations completed (wrapping at 2^24).
    pub generation: u32,
    /// Whether it is broken.
    pub broken: bool,
    /// Joined parties whose process is gone (the kernel's proof, as for a
    /// lock's owner): the next waiter breaks the barrier, `reset` frees
    /// their places.
    pub dead: u32,
}

/// A lock word, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MutexReport {
    /// Held or not, and whether consistent.
    pub state: LockState,
    /// For a held lock: whether the owning process is alive (`None` when
    /// it is not held, or the kernel could not be asked).
    pub owner_alive: Option<bool>,
    /// Whether threads may be asleep waiting for it.
    pub waiters: bool,
    /// The owning thread's id in its PID namespace (diagnostic only).
    pub owner_tid: Option<u32>,
}

/// A lock's state, as `shmsync inspect` names it.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LockState {
    /// Free and consistent.
    Unlocked,
    /// Held (by a live or a dead owner: see
    /// [`MutexReport::owner_alive`]).
    Locked,
    /// An owner died or panicked holding it, and nobody has repaired the
    /// data yet (it may be held by the thread repairing it).
    OwnerDied,
    /// Terminal: a repair was abandoned; every lock attempt fails.
    NotRecoverable,
}

impl LockState {
    /// `unlocked`, `locked`, `owner_died` or `not_recoverable`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            LockState::Unlocked => "unlocked",
            LockState::Locked => "locked",
            LockState::OwnerDied => "owner_died",
            LockState::NotRecoverable => "not_recoverable",
        }
    }
}

/// [`inspect`]'s answer: the header and every field.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// What [`list`] shows for it.
    pub info: SegmentInfo,
    /// Every field, parents before children, in layout order. Arrays of
    /// plain data are one entry; arrays holding locks or counters are
    /// expanded element by element, up to [`MAX_FIELDS`] entries in all.
    pub fields: Vec<FieldReport>,
    /// What was left out: each array element beyond the first 256 of an
    /// expanded array counts once (whatever fields it holds), and so does
    /// each field beyond [`MAX_FIELDS`]. 0 when `fields` is complete.
    pub fields_left_out: u64,
    /// Why the field map could not be read, if it could not (the segment
    /// is not ready, or the map is corrupt); `fields` is then empty.
    pub field_map_problem: Option<String>,
}

/// At most this many fields are reported by [`inspect`].
pub const MAX_FIELDS: usize = 4096;

/// Every shmsync segment in `/dev/shm`, sorted by name.
///
/// Objects that are not shmsync segments (no shmsync magic at offset 0)
/// are never listed, and nor are objects this user may not read (their
/// contents cannot be checked).
///
/// # Errors
///
/// [`Io`](crate::Error::Io) if `/dev/shm` cannot be listed. Problems with
/// one object (it vanished, it cannot be read) leave it out.
///
/// # Examples
///
/// ```
/// use shmsync::Segment;
/// use std::sync::atomic::AtomicU64;
///
/// # let name = format!("doc-list-{}", std::process::id());
/// let seg = Segment::<AtomicU64>::create(&name)?;
/// let all = shmsync::inspect::list()?;
/// let mine = all.iter().find(|s| s.name == name).expect("listed");
/// assert_eq!(mine.type_name, "AtomicU64");
/// assert!(mine.attached);
/// # Ok::<(), shmsync::Error>(())
/// ```
pub fn list() -> Result<Vec<SegmentInfo>> {
    let names = sys::object_names().map_err(|source| Error::Io {
        name: String::new(),
        op: "listing /dev/shm",
        source,
    })?;
    let mut found: Vec<SegmentInfo> = names
        .iter()
        .filter_map(|name| SegmentName::new(name).ok())
        .filter_map(|name| Object::open(&name).ok().and_then(|o| o.info(&name).ok()))
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// The header of segment `name` and the state of every field in it.
///
/// # Errors
///
/// [`InvalidName`](crate::Error::InvalidName),
/// [`NotFound`](crate::Error::NotFound),
/// [`PermissionDenied`](crate::Error::PermissionDenied) (not readable by
/// this user), [`NotASegment`](crate::Error::NotASegment) (another
/// program's object), [`Io`](crate::Error::Io). A segment of another
/// format version, or one not ready yet, is reported with no fields and
/// the reason in [`Report::field_map_problem`].
pub fn inspect(name: &str) -> Result<Report> {
    let name = SegmentName::new(name)?;
    let object = Object::open(&name)?;
    let info = object.info(&name)?;
    let mut report =
        Report { info, fields: Vec::new(), fields_left_out: 0, field_map_problem: None };
    if report.info.state != SegmentState::Ready {
        report.field_map_problem = Some(match report.info.state {
            SegmentState::OtherVersion => {
                format!(
                    "header format version {} (this build reads {FORMAT_VERSION})",
                    report.info.version
                )
            }
            _ => "the segment is not initialized".to_owned(),
        });
        return Ok(report);
    }
    match object.fields(&object.snapshot) {
        Ok((fields, left_out)) => {
            report.fields = fields;
            report.fields_left_out = left_out;
        }
        Err(problem) => report.field_map_problem = Some(problem),
    }
    Ok(report)
}

/// A read-only descriptor of a segment's object, and its header as read.
struct Object {
    file: ObjectFd,
    stat: FileStat,
    snapshot: Snapshot,
}

impl Object {
    /// Opens `name` read-only and reads its header; `NotASegment` unless a
    /// shmsync wrote it.
    fn open(name: &SegmentName) -> Result<Object> {
        let (file, stat) = open_regular(name, libc::O_RDONLY)?;
        let mut bytes = [0u8; HEADER_SIZE];
        let read = sys::read_at(file.as_fd(), &mut bytes, 0).map_err(name.err().io("pread"))?;
        let snapshot = Snapshot::from_bytes(&bytes[..read]);
        if !snapshot.is_shmsync() {
            return Err(name.err().not_a_segment(if read == 0 {
                "empty"
            } else {
                "no shmsync header"
            }));
        }
        Ok(Object { file, stat, snapshot })
    }

    fn info(&self, name: &SegmentName) -> Result<SegmentInfo> {
        let s = &self.snapshot;
        let attached = sys::ofd_conflicting_lock(self.file.as_fd(), OfdLock::Exclusive)
            .map_err(name.err().io("fcntl(F_OFD_GETLK)"))?;
        let known = s.version == FORMAT_VERSION;
        let state = if !known {
            SegmentState::OtherVersion
        } else {
            match s.state {
                STATE_READY => SegmentState::Ready,
                // Not ready (`is_shmsync` admits no state past READY).
                _ => {
                    // A live initializer holds the exclusive lock.
                    let initializer = sys::ofd_conflicting_lock(self.file.as_fd(), OfdLock::Shared)
                        .map_err(name.err().io("fcntl(F_OFD_GETLK)"))?;
                    if initializer {
                        SegmentState::Initializing
                    } else {
                        SegmentState::CreatorDied
                    }
                }
            }
        };
        let ready = state == SegmentState::Ready;
        Ok(SegmentInfo {
            name: name.shm_name().to_string_lossy().trim_start_matches('/').to_owned(),
            type_name: if ready { s.type_name().unwrap_or("").to_owned() } else { String::new() },
            version: s.version,
            size: self.stat.size,
            mode: self.stat.mode & 0o7777,
            uid: self.stat.uid,
            creator_pid: if known { s.creator_pid } else { 0 },
            state,
            attached,
            created: (known && s.created_unix_nanos != 0)
                .then(|| SystemTime::UNIX_EPOCH + Duration::from_nanos(s.created_unix_nanos)),
            element_count: if ready { s.element_count } else { 0 },
            element_size: if ready { s.element_size } else { 0 },
            unlink_when_unused: ready && s.unlink_when_unused(),
        })
    }

    /// The fields, from the field map, with their states; or why not.
    fn fields(&self, s: &Snapshot) -> core::result::Result<(Vec<FieldReport>, u64), String> {
        let payload_size = s.payload_size;
        let payload_end = s.payload_offset.checked_add(payload_size);
        if s.payload_offset < HEADER_SIZE as u64
            || payload_end.map_or(true, |end| end > self.stat.size)
        {
            return Err("the header's payload range lies outside the object".to_owned());
        }
        if s.field_map_len == 0 {
            return Err("the segment has no field map".to_owned());
        }
        if s.field_map_len > MAX_MAP_BYTES
            || s.field_map_offset
                .checked_add(s.field_map_len)
                .map_or(true, |end| end > self.stat.size)
        {
            return Err("the header's field map range lies outside the object".to_owned());
        }
        // At most MAX_MAP_BYTES (1 MiB): fits usize.
        let mut map = vec![0u8; s.field_map_len as usize];
        let read = sys::read_at(self.file.as_fd(), &mut map, s.field_map_offset)
            .map_err(|e| format!("reading the field map: {e}"))?;
        if read != map.len() {
            return Err("the field map is cut short".to_owned());
        }
        let nodes =
            field_map::decode(&map).map_err(|e| format!("the field map is invalid: {}", e.0))?;
        let payload =
            fields::Payload { file: &self.file, offset: s.payload_offset, size: payload_size };
        Ok(fields::expand(&nodes, &payload))
    }
}

/// Opens the object `name` with `access`, without blocking (a FIFO that
/// someone put in `/dev/shm` must not hang us), and checks that it is a
/// regular file; its `fstat`.
pub(super) fn open_regular(
    name: &SegmentName,
    access: libc::c_int,
) -> Result<(ObjectFd, FileStat)> {
    let file = sys::shm_open(name.shm_name(), access | libc::O_NONBLOCK, 0).map_err(|e| {
        match e.raw_os_error() {
            // A directory, a symbolic link, a device without its driver.
            Some(libc::EISDIR) | Some(libc::ELOOP) | Some(libc::ENXIO) | Some(libc::ENODEV) => {
                name.err().not_a_segment("not a regular file")
            }
            _ => name.err().os("shm_open", e),
        }
    })?;
    let stat = sys::fstat(file.as_fd()).map_err(name.err().io("fstat"))?;
    if stat.mode & libc::S_IFMT != libc::S_IFREG {
        return Err(name.err().not_a_segment("not a regular file"));
    }
    Ok((file, stat))
}
