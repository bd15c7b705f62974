//! `shmsync inspect NAME`: a segment's header and the state of every field.

use shmsync::inspect::{self, FieldReport, FieldState, Report, SegmentState};
use shmsync::layout::Kind;
use shmsync::Result;

use crate::{human, json};

/// The output of `shmsync inspect NAME`, or with `--json`.
pub(crate) fn run(name: &str, as_json: bool) -> Result<String> {
    let report = inspect::inspect(name)?;
    Ok(if as_json { json::to_text(&json::report(&report)) } else { text(&report) })
}

/// The header as `label: value` lines, a blank line, then one row per
/// field: PATH KIND TYPE OFFSET SIZE STATE.
fn text(report: &Report) -> String {
    let info = &report.info;
    let ready = info.state == SegmentState::Ready;
    let unknown = || "-".to_owned();
    let created = match (info.created, info.age()) {
        (Some(at), Some(age)) => format!("{} ({} ago)", human::timestamp(at), human::age(age)),
        (Some(at), None) => human::timestamp(at),
        (None, _) => unknown(),
    };
    let header = [
        ("name", info.name.clone()),
        ("type", human::type_label(info)),
        ("version", info.version.to_string()),
        (
            "size",
            if info.size < 1024 {
                format!("{} bytes", info.size)
            } else {
                format!("{} ({} bytes)", human::size(info.size), info.size)
            },
        ),
        (
            "elements",
            if ready {
                format!("{} × {} bytes", info.element_count, info.element_size)
            } else {
                unknown()
            },
        ),
        ("state", info.state.as_str().to_owned()),
        ("attached", human::yes_no(info.attached).to_owned()),
        (
            "creator pid",
            if info.creator_pid == 0 { unknown() } else { info.creator_pid.to_string() },
        ),
        ("created", created),
        ("unlink when unused", human::yes_no(info.unlink_when_unused).to_owned()),
    ];
    let width = header.iter().map(|(label, _)| label.len() + 1).max().unwrap_or(0);
    let mut out = String::new();
    for (label, value) in &header {
        out.push_str(&format!("{:<width$}  {}\n", format!("{label}:"), human::printable(value)));
    }
    out.push('\n');
    if let Some(problem) = &report.field_map_problem {
        out.push_str(&format!("fields not shown: {}\n", human::printable(problem)));
        return out;
    }
    if report.fields.is_empty() {
        out.push_str("no fields\n");
        return out;
    }
    let rows: Vec<Vec<String>> = report.fields.iter().map(row).collect();
    out.push_str(&human::table(&["PATH", "KIND", "TYPE", "OFFSET", "SIZE", "STATE"], &rows));
    if report.fields_left_out > 0 {
        out.push_str(&format!(
            "… and {} more (array elements beyond the first 256, fields beyond {}) not shown\n",
            report.fields_left_out,
            inspect::MAX_FIELDS
        ));
    }
    out
}

/// One field's row. The payload of a `Segment<[E]>` is an array whose
/// path is empty, shown as `(payload)`, with its length.
fn row(f: &FieldReport) -> Vec<String> {
    let path = if f.path.is_empty() { "(payload)".to_owned() } else { f.path.clone() };
    let state = match &f.state {
        FieldState::Mutex(m) => human::lock(m),
        FieldState::Counter { value } => format!("value {value}"),
        FieldState::Atomic { value } => format!("value {value}"),
        FieldState::SeqLock { version, writer } => {
            format!("version {version}, writer {}", human::lock(writer))
        }
        FieldState::Event(e) => human::event(e),
        FieldState::Barrier(b) => human::barrier(b),
        FieldState::RwLock { writer, readers, reader_processes, reader_processes_dead } => {
            let mut text = format!("writer {}, {readers} read shares", human::lock(writer));
            if *reader_processes > 0 {
                text.push_str(&format!(" in {reader_processes} processes"));
            }
            if *reader_processes_dead > 0 {
                text.push_str(&format!(" ({reader_processes_dead} dead)"));
            }
            text
        }
        FieldState::Semaphore {
            total,
            in_use,
            available,
            holder_processes,
            holder_processes_dead,
        } => {
            let mut text = format!("{available} of {total} permits available, {in_use} held");
            if *holder_processes > 0 {
                text.push_str(&format!(" by {holder_processes} processes"));
            }
            if *holder_processes_dead > 0 {
                text.push_str(&format!(" ({holder_processes_dead} dead)"));
            }
            text
        }
        FieldState::Broadcast { sequence, capacity, sender } => {
            format!("sequence {sequence}, capacity {capacity}, sender {}", human::lock(sender))
        }
        FieldState::Invalid(problem) => format!("unreadable: {problem}"),
        // A slice's length is not in its type name.
        _ if f.path.is_empty() && f.kind == Some(Kind::Array) => format!("{} elements", f.len),
        _ => String::new(),
    };
    vec![
        path,
        f.kind_name.clone(),
        f.type_name.clone(),
        f.offset.to_string(),
        f.size.to_string(),
        state,
    ]
}
