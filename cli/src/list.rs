//! `shmsync list`: every shmsync segment of this host.

use shmsync::inspect::{self, SegmentInfo};
use shmsync::Result;

use crate::{human, json};

/// The output of `shmsync list`, or of `shmsync list --json`.
pub(crate) fn run(as_json: bool) -> Result<String> {
    let segments = inspect::list()?;
    Ok(if as_json { json::to_text(&json::segments(&segments)) } else { table(&segments) })
}

/// One row per segment: NAME TYPE SIZE MODE UID PID STATE ATTACHED AGE.
fn table(segments: &[SegmentInfo]) -> String {
    if segments.is_empty() {
        return "no shmsync segments\n".to_owned();
    }
    let rows: Vec<Vec<String>> = segments
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                human::type_label(s),
                human::size(s.size),
                format!("{:04o}", s.mode),
                s.uid.to_string(),
                if s.creator_pid == 0 { "-".to_owned() } else { s.creator_pid.to_string() },
                s.state.as_str().to_owned(),
                human::yes_no(s.attached).to_owned(),
                s.age().map_or_else(|| "-".to_owned(), human::age),
            ]
        })
        .collect();
    human::table(&["NAME", "TYPE", "SIZE", "MODE", "UID", "PID", "STATE", "ATTACHED", "AGE"], &rows)
}
