//! The `--json` shapes: a stable contract for scripts, documented in the
//! README and in each subcommand's `--help` (the `*_HELP` texts below).
//!
//! Keys may be added in later versions; none is removed or changes type.
//! Objects are printed with their keys in alphabetical order.

use serde_json::{json, Map, Value};
use shmsync::inspect::{FieldReport, FieldState, MutexReport, Report, SegmentInfo};

/// `shmsync list --help`: the shape of `list --json`.
pub(crate) const LIST_HELP: &str = "\
JSON (--json): an array with one object per segment, sorted by name:
  name                string   without a leading '/'
  type_name           string   the payload's type as its creator recorded it
                               (\"[E]\" for a Segment<[E]>; \"\" unless the state
                               is \"ready\")
  version             number   the header format version
  size                number   the object's size in bytes
  mode                number   permission bits (0o600 is 384)
  uid                 number   the owner's user id
  creator_pid         number   the creating process's id (0 if unknown; it
                               may have exited and the id been reused)
  state               string   \"ready\", \"initializing\", \"creator_died\" or
                               \"other_version\"
  attached            bool     whether a process has it open now
  age_seconds         number   whole seconds since its creation, or null
  element_count       number   elements of a Segment<[E]>, 1 for one value
                               (0 unless ready)
  element_size        number   bytes per element (0 unless ready)
  unlink_when_unused  bool     whether the last handle to close removes it";

/// `shmsync inspect --help`: the shape of `inspect --json`.
pub(crate) const INSPECT_HELP: &str = "\
JSON (--json): one object, with every key of a `shmsync list --json` object
(name, type_name, version, size, mode, uid, creator_pid, state, attached,
age_seconds, element_count, element_size, unlink_when_unused) and:
  fields              array    every field, parents before children (empty
                               when the field map cannot be read)
  fields_left_out     number   fields beyond the report's limit, not listed
  field_map_problem   string   why there are no fields, or null
Each field:
  path                string   field names joined by '.', array elements as
                               [i] (\"book.lock\", \"slots[3].count\"); \"\" for
                               the payload itself when it is not a struct
  kind                string   \"plain\", \"atomic\", \"struct\", \"array\",
                               \"mutex\", \"condvar\", \"atomic_counter\",
                               \"sharded_counter\", \"seqlock\", \"rwlock\",
                               \"semaphore\" (or a kind this build does not
                               know)
  type_name           string   the field's type
  offset              number   bytes from the start of the payload
  size                number   bytes
  len                 number   an array's element count, else 1
and by kind, unless the state could not be read (then `problem`, a string):
  mutex               state (\"unlocked\", \"locked\", \"owner_died\",
                      \"not_recoverable\"), owner_alive (bool, or null when
                      not held or not known), waiters (bool), owner_tid
                      (number, or null when not held)
  atomic_counter, sharded_counter
                      value (number)
  atomic              value (number; a string if it does not fit 64 bits)
  seqlock             version (number: writes completed), writer (an object
                      with the mutex keys)
  rwlock              writer (an object with the mutex keys), readers
                      (number: read shares held), reader_processes
                      (number), reader_processes_dead (number)
  semaphore           total, in_use, available (numbers: permits),
                      holder_processes, holder_processes_dead (numbers)";

/// `shmsync gc --help`: the shape of `gc --json`.
pub(crate) const GC_HELP: &str = "\
JSON (--json): an array of the names removed (with --dry-run, that would be
removed), sorted, without a leading '/'.";

/// `value` as text: pretty-printed, with a final newline.
pub(crate) fn to_text(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("a Value always serializes");
    text.push('\n');
    text
}

/// `list --json`.
pub(crate) fn segments(infos: &[SegmentInfo]) -> Value {
    Value::Array(infos.iter().map(|info| Value::Object(segment(info))).collect())
}

/// One segment's object in `list --json`, and the header keys of
/// `inspect --json`.
fn segment(info: &SegmentInfo) -> Map<String, Value> {
    let object = json!({
        "name": info.name,
        "type_name": info.type_name,
        "version": info.version,
        "size": info.size,
        "mode": info.mode,
        "uid": info.uid,
        "creator_pid": info.creator_pid,
        "state": info.state.as_str(),
        "attached": info.attached,
        "age_seconds": info.age().map(|age| age.as_secs()),
        "element_count": info.element_count,
        "element_size": info.element_size,
        "unlink_when_unused": info.unlink_when_unused,
    });
    match object {
        Value::Object(map) => map,
        _ => unreachable!("json! of braces is an object"),
    }
}

/// `inspect --json`.
pub(crate) fn report(report: &Report) -> Value {
    let mut object = segment(&report.info);
    object.insert("fields".to_owned(), report.fields.iter().map(field).collect());
    object.insert("fields_left_out".to_owned(), report.fields_left_out.into());
    object.insert("field_map_problem".to_owned(), report.field_map_problem.clone().into());
    Value::Object(object)
}

/// One field of `inspect --json`.
fn field(f: &FieldReport) -> Value {
    let mut object = Map::new();
    object.insert("path".to_owned(), f.path.clone().into());
    object.insert("kind".to_owned(), f.kind_name.clone().into());
    object.insert("type_name".to_owned(), f.type_name.clone().into());
    object.insert("offset".to_owned(), f.offset.into());
    object.insert("size".to_owned(), f.size.into());
    object.insert("len".to_owned(), f.len.into());
    match &f.state {
        FieldState::Mutex(m) => object.extend(mutex(m)),
        FieldState::Counter { value } => {
            object.insert("value".to_owned(), (*value).into());
        }
        FieldState::Atomic { value } => {
            object.insert("value".to_owned(), integer(*value));
        }
        FieldState::SeqLock { version, writer } => {
            object.insert("version".to_owned(), (*version).into());
            object.insert("writer".to_owned(), Value::Object(mutex(writer)));
        }
        FieldState::Event(e) => {
            object.insert("set".to_owned(), e.set.into());
            object.insert("auto_reset".to_owned(), e.auto_reset.into());
            object.insert("waiters".to_owned(), e.waiters.into());
        }
        FieldState::Barrier(b) => {
            object.insert("parties".to_owned(), b.parties.into());
            object.insert("joined".to_owned(), b.joined.into());
            object.insert("arrived".to_owned(), b.arrived.into());
            object.insert("generation".to_owned(), b.generation.into());
            object.insert("broken".to_owned(), b.broken.into());
            object.insert("dead".to_owned(), b.dead.into());
        }
        FieldState::RwLock { writer, readers, reader_processes, reader_processes_dead } => {
            object.insert("writer".to_owned(), Value::Object(mutex(writer)));
            object.insert("readers".to_owned(), (*readers).into());
            object.insert("reader_processes".to_owned(), (*reader_processes).into());
            object.insert("reader_processes_dead".to_owned(), (*reader_processes_dead).into());
        }
        FieldState::Semaphore {
            total,
            in_use,
            available,
            holder_processes,
            holder_processes_dead,
        } => {
            object.insert("total".to_owned(), (*total).into());
            object.insert("in_use".to_owned(), (*in_use).into());
            object.insert("available".to_owned(), (*available).into());
            object.insert("holder_processes".to_owned(), (*holder_processes).into());
            object.insert("holder_processes_dead".to_owned(), (*holder_processes_dead).into());
        }
        FieldState::Broadcast { sequence, capacity, sender } => {
            object.insert("sequence".to_owned(), (*sequence).into());
            object.insert("capacity".to_owned(), (*capacity).into());
            object.insert("sender".to_owned(), Value::Object(mutex(sender)));
        }
        FieldState::Invalid(problem) => {
            object.insert("problem".to_owned(), problem.clone().into());
        }
        // Nothing to show (plain data, a container, a condvar), or a state
        // this build does not know.
        _ => {}
    }
    Value::Object(object)
}

/// A lock's keys.
fn mutex(m: &MutexReport) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("state".to_owned(), m.state.as_str().into());
    object.insert("owner_alive".to_owned(), m.owner_alive.into());
    object.insert("waiters".to_owned(), m.waiters.into());
    object.insert("owner_tid".to_owned(), m.owner_tid.into());
    object
}

/// A JSON number if `value` fits 64 bits (signed or not), else a string:
/// numbers beyond 64 bits lose precision in many JSON readers.
fn integer(value: i128) -> Value {
    if let Ok(v) = u64::try_from(value) {
        v.into()
    } else if let Ok(v) = i64::try_from(value) {
        v.into()
    } else {
        value.to_string().into()
    }
}

/// `gc --json`.
pub(crate) fn names(names: &[String]) -> Value {
    names.iter().map(|n| Value::from(n.as_str())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_beyond_64_bits_are_strings() {
        assert_eq!(integer(0), json!(0));
        assert_eq!(integer(-5), json!(-5));
        assert_eq!(integer(i128::from(u64::MAX)), json!(u64::MAX));
        assert_eq!(integer(i128::from(i64::MIN)), json!(i64::MIN));
        assert_eq!(integer(i128::from(u64::MAX) + 1), json!("18446744073709551616"));
        assert_eq!(integer(i128::from(i64::MIN) - 1), json!("-9223372036854775809"));
    }

    #[test]
    fn gc_names_are_an_array_of_strings() {
        assert_eq!(names(&["a".to_owned(), "b".to_owned()]), json!(["a", "b"]));
        assert_eq!(to_text(&names(&[])), "[]\n");
    }
}
