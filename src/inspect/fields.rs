//! From a decoded field map to one [`FieldReport`] per field, each with the
//! state read from the segment.
//!
//! Which words a primitive's state lives in is fixed by the header format
//! version (see `segment/header.rs`): a `mutex` is its 64-bit lock word at
//! offset 0; a `seqlock` is its version word at 0 and its writer's lock word
//! 64 bytes before its end; an `atomic_counter` is one `u64` at 0; a
//! `sharded_counter` is one `u64` at the start of each 64-byte shard; an
//! `event` is its `u32` state word; a `barrier` is its `u64` word at 0, its
//! party count at 8 and its party slots (token, arrival) from 16; an
//! `rwlock` is its writer's lock word at 0 and 64 reader slots (`u64`s,
//! `token << 32 | count`) at 64; a `semaphore` is its total (`u64`) at 0
//! and 64 holder slots of the same form at 64. Every offset comes from the
//! (untrusted) map, so each is checked against the payload's size before
//! it is read.

use std::os::fd::AsFd;

use super::{
    BarrierReport, EventReport, FieldReport, FieldState, LockState, MutexReport, MAX_FIELDS,
};
use crate::layout::Kind;
use crate::raw_mutex::word;
use crate::segment::field_map::Node;
use crate::sys::shm::{self as sys, ObjectFd};

/// Arrays of locks or counters show at most this many elements each.
const MAX_ELEMENTS_PER_ARRAY: u64 = 256;
/// Paths are cut to this many bytes.
const MAX_PATH_BYTES: usize = 1024;
/// The largest sharded counter read (bytes): 4096 shards.
const MAX_SHARDED_BYTES: u64 = 4096 * 64;
/// Where an rwlock's reader slots and a semaphore's holder slots start.
const SLOTS_AT: u64 = 64;
/// How many there are.
const SLOT_COUNT: u64 = 64;

/// The payload of the segment being inspected.
pub(super) struct Payload<'a> {
    pub(super) file: &'a ObjectFd,
    /// Where it starts in the object.
    pub(super) offset: u64,
    /// Its size in bytes.
    pub(super) size: u64,
}

impl Payload<'_> {
    /// `len` bytes at `at` (from the payload's start), if they lie inside it
    /// and can be read whole.
    fn read(&self, at: u64, len: u64) -> Option<Vec<u8>> {
        let end = at.checked_add(len)?;
        if end > self.size {
            return None;
        }
        let mut buf = vec![0u8; usize::try_from(len).ok()?];
        let n = sys::read_at(self.file.as_fd(), &mut buf, self.offset.checked_add(at)?).ok()?;
        (n == buf.len()).then_some(buf)
    }

    fn u32_at(&self, at: u64) -> Option<u32> {
        let b = self.read(at, 4)?;
        Some(u32::from_ne_bytes(b.try_into().ok()?))
    }

    fn u64_at(&self, at: u64) -> Option<u64> {
        let b = self.read(at, 8)?;
        Some(u64::from_ne_bytes(b.try_into().ok()?))
    }

    /// The holder slots at `at` (see `holders.rs`): shares held, processes
    /// holding them, and how many of those the kernel says are dead.
    fn holders_at(&self, at: u64) -> Option<(u64, u64, u64)> {
        let bytes = self.read(at, SLOT_COUNT * 8)?;
        let mut tokens: Vec<u32> = Vec::new();
        let mut shares = 0u64;
        for slot in bytes.chunks_exact(8) {
            let mut b = [0u8; 8];
            b.copy_from_slice(slot);
            let v = u64::from_ne_bytes(b);
            if v == 0 {
                continue;
            }
            shares += v & 0xFFFF_FFFF;
            #[allow(clippy::cast_possible_truncation)]
            let token = (v >> 32) as u32;
            if !tokens.contains(&token) {
                tokens.push(token);
            }
        }
        let dead = tokens
            .iter()
            .filter(|&&t| sys::ofd_token_held(self.file.as_fd(), t).ok() == Some(false))
            .count() as u64;
        Some((shares, tokens.len() as u64, dead))
    }

    /// The lock word at `at`, decoded, with the owner's liveness asked of
    /// the kernel.
    fn lock_at(&self, at: u64) -> Option<MutexReport> {
        Some(self.decode_lock(self.u64_at(at)?))
    }

    /// The barrier at `at` (of `size` bytes), decoded; the liveness of its
    /// joined parties asked of the kernel.
    fn barrier_at(&self, at: u64, size: u64) -> Option<BarrierReport> {
        use crate::barrier::words;
        let slots_end = words::SLOTS_OFFSET + words::SLOT_SIZE * words::MAX_PARTIES as u64;
        if size < slots_end {
            return None;
        }
        let w = self.u64_at(at)?;
        let parties = self.u32_at(at + words::PARTIES_OFFSET)?;
        let (arrived, generation, broken) = words::decode(w);
        let mut report = BarrierReport { parties, joined: 0, arrived, generation, broken, dead: 0 };
        if parties as usize > words::MAX_PARTIES {
            return Some(report);
        }
        let slots = self.read(at + words::SLOTS_OFFSET, words::SLOT_SIZE * u64::from(parties))?;
        for slot in slots.chunks_exact(8) {
            let token = u32::from_ne_bytes(slot[..4].try_into().ok()?);
            if token == 0 {
                continue;
            }
            report.joined += 1;
            // Held (shared) by every process that maps the segment under
            // that token; by nobody once it is gone.
            if matches!(sys::ofd_token_held(self.file.as_fd(), token), Ok(false)) {
                report.dead += 1;
            }
        }
        Some(report)
    }

    fn decode_lock(&self, w: u64) -> MutexReport {
        let state = if word::is_not_recoverable(w) {
            LockState::NotRecoverable
        } else if word::owner_died(w) {
            LockState::OwnerDied
        } else if word::is_free(w) {
            LockState::Unlocked
        } else {
            LockState::Locked
        };
        let held = !word::is_free(w) && !word::is_not_recoverable(w);
        let owner_alive = if held {
            // The token's byte is held (shared) by every process that maps
            // the segment under that token; nobody holds it once it died.
            sys::ofd_token_held(self.file.as_fd(), word::token(w)).ok()
        } else {
            None
        };
        MutexReport {
            state,
            owner_alive,
            waiters: word::has_waiters(w),
            owner_tid: held.then(|| word::tid(w)),
        }
    }
}

/// Every field of the map rooted at `nodes[0]`, parents first, with its
/// state; and how many were left out beyond [`MAX_FIELDS`].
pub(super) fn expand(nodes: &[Node], payload: &Payload<'_>) -> (Vec<FieldReport>, u64) {
    let mut walk = Walk { nodes, payload, out: Vec::new(), left_out: 0 };
    let root = &nodes[0];
    if root.kind == Some(Kind::Struct) {
        // The payload itself is not a field: start with its fields.
        for &child in &root.children {
            walk.node(child, 0, String::new());
        }
    } else {
        walk.node(0, 0, String::new());
    }
    (walk.out, walk.left_out)
}

struct Walk<'a, 'p> {
    nodes: &'a [Node],
    payload: &'a Payload<'p>,
    out: Vec<FieldReport>,
    left_out: u64,
}

impl Walk<'_, '_> {
    /// Reports node `index`, whose parent starts at `base`, under the path
    /// `parent`, then its children.
    fn node(&mut self, index: usize, base: u64, parent: String) {
        let Some(node) = self.nodes.get(index) else { return };
        let path = join(&parent, &node.name);
        let Some(at) = base.checked_add(node.offset) else { return };
        self.push(node, at, &path);
        match node.kind {
            Some(Kind::Array) => self.array(node, at, &path),
            Some(Kind::Struct) | Some(Kind::Mutex) | Some(Kind::RwLock) => {
                for &child in &node.children {
                    self.node(child, at, path.clone());
                }
            }
            _ => {}
        }
    }

    /// An array's elements, if they hold anything with a state.
    fn array(&mut self, node: &Node, at: u64, path: &str) {
        let Some(&element) = node.children.first() else { return };
        if !self.has_state(element) {
            return;
        }
        let Some(stride) = self.nodes.get(element).map(|e| e.size) else { return };
        if stride == 0 {
            return;
        }
        let shown = node.len.min(MAX_ELEMENTS_PER_ARRAY);
        for i in 0..shown {
            let Some(start) = stride.checked_mul(i).and_then(|o| o.checked_add(at)) else {
                return;
            };
            if self.out.len() >= MAX_FIELDS {
                self.left_out = self.left_out.saturating_add(node.len - i);
                return;
            }
            // The element's own record names it "": its path is `path[i]`.
            self.element(element, start, format!("{path}[{i}]"));
        }
        self.left_out = self.left_out.saturating_add(node.len - shown);
    }

    /// Element `index` starting at `at`, reported under `path`.
    fn element(&mut self, index: usize, at: u64, path: String) {
        let Some(node) = self.nodes.get(index) else { return };
        self.push(node, at, &path);
        match node.kind {
            Some(Kind::Array) => self.array(node, at, &path),
            Some(Kind::Struct) | Some(Kind::Mutex) | Some(Kind::RwLock) => {
                for &child in &node.children {
                    self.node(child, at, path.clone());
                }
            }
            _ => {}
        }
    }

    /// Whether node `index` or anything inside it has a state to show.
    fn has_state(&self, index: usize) -> bool {
        // Iterative, with a visit budget: a forged map may share children.
        let mut stack = vec![index];
        let mut budget = 10_000;
        while let Some(i) = stack.pop() {
            budget -= 1;
            if budget == 0 {
                return false;
            }
            let Some(node) = self.nodes.get(i) else { continue };
            match node.kind {
                Some(Kind::Struct) | Some(Kind::Array) => stack.extend(&node.children),
                Some(Kind::Plain) | None => {}
                Some(_) => return true,
            }
        }
        false
    }

    fn push(&mut self, node: &Node, at: u64, path: &str) {
        if node.size == 0 && matches!(node.kind, Some(Kind::Plain) | None) {
            // `()`, `PhantomData`: nothing there to show.
            return;
        }
        if self.out.len() >= MAX_FIELDS {
            self.left_out = self.left_out.saturating_add(1);
            return;
        }
        // Bounded, whatever a forged map nests: names are cut at 256 bytes
        // when read, and a path at this many.
        let path = cut(path, MAX_PATH_BYTES);
        let state = self.state(node, at);
        self.out.push(FieldReport {
            path: path.to_owned(),
            kind: node.kind,
            kind_name: node.kind_name.clone(),
            type_name: node.type_name.clone(),
            offset: at,
            size: node.size,
            len: node.len,
            state,
        });
    }

    fn state(&self, node: &Node, at: u64) -> FieldState {
        let p = self.payload;
        if at.checked_add(node.size).map_or(true, |end| end > p.size) {
            return FieldState::Invalid("lies outside the payload".to_owned());
        }
        let invalid = |what: &str| FieldState::Invalid(format!("{what} cannot be read"));
        match node.kind {
            Some(Kind::Mutex) => match (node.size >= 8).then(|| p.lock_at(at)).flatten() {
                Some(m) => FieldState::Mutex(m),
                None => invalid("the lock word"),
            },
            Some(Kind::AtomicCounter) => match p.u64_at(at) {
                Some(value) if node.size == 64 => FieldState::Counter { value },
                _ => invalid("the counter"),
            },
            Some(Kind::ShardedCounter) => {
                if node.size == 0 || node.size % 64 != 0 || node.size > MAX_SHARDED_BYTES {
                    return invalid("the sharded counter");
                }
                match p.read(at, node.size) {
                    Some(bytes) => FieldState::Counter {
                        value: bytes.chunks_exact(64).fold(0u64, |sum, shard| {
                            let mut b = [0u8; 8];
                            b.copy_from_slice(&shard[..8]);
                            sum.wrapping_add(u64::from_ne_bytes(b))
                        }),
                    },
                    None => invalid("the sharded counter"),
                }
            }
            Some(Kind::SeqLock) => {
                if node.size < 128 || node.size % 64 != 0 {
                    return invalid("the seqlock");
                }
                match (p.u64_at(at), p.lock_at(at + node.size - 64)) {
                    (Some(version), Some(writer)) => FieldState::SeqLock { version, writer },
                    _ => invalid("the seqlock"),
                }
            }
            Some(Kind::Event) => match p.u32_at(at) {
                Some(w) if node.size == 4 => {
                    let (set, waiters, auto_reset) = crate::event::decode(w);
                    FieldState::Event(EventReport { set, waiters, auto_reset })
                }
                _ => invalid("the event"),
            },
            Some(Kind::Broadcast) => {
                // A head line and at least one slot line; the head starts
                // with the sender lock word, then the sequence word.
                if node.size < 128 || node.size % 64 != 0 || node.len == 0 {
                    return invalid("the broadcast ring");
                }
                match (p.lock_at(at), p.u64_at(at + 8)) {
                    (Some(sender), Some(sequence)) => {
                        FieldState::Broadcast { sequence, capacity: node.len, sender }
                    }
                    _ => invalid("the broadcast ring"),
                }
            }
            Some(Kind::Barrier) => match p.barrier_at(at, node.size) {
                Some(b) => FieldState::Barrier(b),
                None => invalid("the barrier"),
            },
            Some(Kind::RwLock) => {
                if node.size < SLOTS_AT + SLOT_COUNT * 8 {
                    return invalid("the rwlock");
                }
                match (p.lock_at(at), p.holders_at(at + SLOTS_AT)) {
                    (Some(writer), Some((readers, reader_processes, reader_processes_dead))) => {
                        FieldState::RwLock {
                            writer,
                            readers,
                            reader_processes,
                            reader_processes_dead,
                        }
                    }
                    _ => invalid("the rwlock"),
                }
            }
            Some(Kind::Semaphore) => {
                if node.size != SLOTS_AT + SLOT_COUNT * 8 {
                    return invalid("the semaphore");
                }
                match (p.u64_at(at), p.holders_at(at + SLOTS_AT)) {
                    (Some(total), Some((in_use, holder_processes, holder_processes_dead))) => {
                        FieldState::Semaphore {
                            total,
                            in_use,
                            available: total.saturating_sub(in_use),
                            holder_processes,
                            holder_processes_dead,
                        }
                    }
                    _ => invalid("the semaphore"),
                }
            }
            Some(Kind::Atomic) => match atomic_value(&node.type_name, node.size, p, at) {
                Some(value) => FieldState::Atomic { value },
                None => invalid("the atomic"),
            },
            _ => FieldState::None,
        }
    }
}

/// A std atomic's value: width from its size, sign from its type name.
fn atomic_value(type_name: &str, size: u64, p: &Payload<'_>, at: u64) -> Option<i128> {
    if !matches!(size, 1 | 2 | 4 | 8) {
        return None;
    }
    let b = p.read(at, size)?;
    let signed = type_name.starts_with("AtomicI");
    Some(match (b.len(), signed) {
        (1, false) => i128::from(b[0]),
        (1, true) => i128::from(b[0] as i8),
        (2, false) => i128::from(u16::from_ne_bytes([b[0], b[1]])),
        (2, true) => i128::from(i16::from_ne_bytes([b[0], b[1]])),
        (4, false) => i128::from(u32::from_ne_bytes(b[..4].try_into().ok()?)),
        (4, true) => i128::from(i32::from_ne_bytes(b[..4].try_into().ok()?)),
        (_, false) => i128::from(u64::from_ne_bytes(b[..8].try_into().ok()?)),
        (_, true) => i128::from(i64::from_ne_bytes(b[..8].try_into().ok()?)),
    })
}

/// `s` cut to at most `max` bytes at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn join(parent: &str, name: &str) -> String {
    match (parent.is_empty(), name.is_empty()) {
        (_, true) => parent.to_owned(),
        (true, false) => name.to_owned(),
        (false, false) => format!("{parent}.{name}"),
    }
}
