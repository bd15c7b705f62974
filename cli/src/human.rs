//! Text for people: aligned tables, sizes, ages, timestamps and lock
//! states, shared by `list` and `inspect`.

use std::time::{Duration, SystemTime};

use shmsync::inspect::{BarrierReport, EventReport, LockState, MutexReport, SegmentInfo};

/// Rows under a header, each column as wide as its widest cell, two
/// spaces apart; no trailing spaces.
///
/// Cells are made [`printable`] first: names and type names come from
/// shared memory, which anyone who can open a segment may have written.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> =
        rows.iter().map(|row| row.iter().map(|cell| printable(cell)).collect()).collect();
    let rows = &rows[..];
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            // Padded by hand: `format!`'s width is limited to u16, and a
            // forged name can be longer. Width counts chars, as above.
            line.push_str(cell);
            line.extend(std::iter::repeat_n(' ', width - cell.chars().count() + 2));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `s` with every control character (escape sequences, carriage returns,
/// …) and every bidirectional-override character written as `\u{..}`, so
/// that text read from a segment cannot drive the terminal or reorder
/// what is shown.
pub(crate) fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            if c.is_control() || bidi {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `512 B`, `4.2 KiB`, `1.0 MiB`, …
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    // 1023.96 KiB prints as 1.0 MiB, not 1024.0 KiB.
    while value >= 1023.95 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `12s`, `3m12s`, `2h05m`, `3d04h`.
pub(crate) fn age(age: Duration) -> String {
    let s = age.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// `2025-11-30 11:07:42 UTC`.
pub(crate) fn timestamp(t: SystemTime) -> String {
    let Ok(since_epoch) = t.duration_since(SystemTime::UNIX_EPOCH) else {
        return "before 1970".to_owned();
    };
    let secs = since_epoch.as_secs();
    let (year, month, day) = civil_from_days(secs / 86_400);
    let s = secs % 86_400;
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", s / 3600, s % 3600 / 60, s % 60)
}

/// The proleptic Gregorian date `days` days after 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Whether a segment whose payload type is named `name` holds a
/// `Segment<[E]>` rather than one value: its creator records the type
/// name `[E]` (an array is `[E; N]`).
fn is_slice(name: &str) -> bool {
    let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) else {
        return false;
    };
    // `[E; N]` is an array; `[[E; N]]` a slice of arrays.
    let array_len = inner.rsplit_once("; ").map(|(_, len)| len);
    !array_len.is_some_and(|len| !len.is_empty() && len.bytes().all(|b| b.is_ascii_digit()))
}

/// The payload's type as a person reads it: `Bank`, `[f64] × 8` for a
/// slice of 8, `-` when not known (the segment is not ready).
pub(crate) fn type_label(info: &SegmentInfo) -> String {
    if info.type_name.is_empty() {
        "-".to_owned()
    } else if is_slice(&info.type_name) {
        format!("{} × {}", info.type_name, info.element_count)
    } else {
        info.type_name.clone()
    }
}

/// A lock's state: `unlocked`, `locked by tid 1234 (owner alive,
/// waiters)`, `owner_died, held by tid 77 (holder alive)`,
/// `not_recoverable`.
/// An event's state: `set` or `unset`, the mode, and whether anyone waits.
pub(crate) fn event(e: &EventReport) -> String {
    let mut text = if e.set { "set" } else { "unset" }.to_owned();
    text.push_str(if e.auto_reset { " (auto reset" } else { " (manual reset" });
    text.push_str(if e.waiters { ", waiters)" } else { ")" });
    text
}

/// A barrier's state: arrivals of the current generation, joined parties
/// (and how many of them are dead), the generation, broken or not.
pub(crate) fn barrier(b: &BarrierReport) -> String {
    let mut text = format!(
        "{}/{} arrived, {} joined, generation {}",
        b.arrived, b.parties, b.joined, b.generation
    );
    if b.dead > 0 {
        text.push_str(&format!(" ({} dead)", b.dead));
    }
    if b.broken {
        text.push_str(", broken");
    }
    text
}

pub(crate) fn lock(m: &MutexReport) -> String {
    let (mut text, who) = match (m.state, m.owner_tid) {
        (LockState::Locked, Some(tid)) => (format!("locked by tid {tid}"), "owner"),
        (state, Some(tid)) => (format!("{}, held by tid {tid}", state.as_str()), "holder"),
        (state, None) => (state.as_str().to_owned(), "owner"),
    };
    let mut notes = Vec::new();
    match (m.owner_alive, m.owner_tid) {
        (Some(true), _) => notes.push(format!("{who} alive")),
        (Some(false), _) => notes.push(format!("{who} dead")),
        (None, Some(_)) => notes.push(format!("{who} unknown")),
        (None, None) => {}
    }
    if m.waiters {
        notes.push("waiters".to_owned());
    }
    if !notes.is_empty() {
        text.push_str(&format!(" ({})", notes.join(", ")));
    }
    text
}

/// Yes or no.
pub(crate) fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_wider_than_format_allows_are_padded_without_panicking() {
        let wide = "T".repeat(70_000);
        let out =
            table(&["A", "B"], &[vec![wide.clone(), "x".into()], vec!["y".into(), "z".into()]]);
        assert!(out.lines().nth(2).unwrap().starts_with(&format!("y{}z", " ".repeat(70_001))));
    }

    #[test]
    fn control_and_bidi_characters_are_escaped() {
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(printable("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(printable("Stats<é>"), "Stats<é>");
        assert!(table(&["N"], &[vec!["\u{1b}]0;title\u{7}".into()]]).is_ascii());
    }

    #[test]
    fn sizes_pick_a_unit_and_one_decimal() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1024), "1.0 KiB");
        assert_eq!(size(4352), "4.2 KiB");
        assert_eq!(size(1024 * 1024 - 1), "1.0 MiB");
        assert_eq!(size(3 << 30), "3.0 GiB");
        assert_eq!(size(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn slices_are_told_from_arrays_by_their_type_name() {
        assert!(is_slice("[f64]"));
        assert!(is_slice("[[u64; 4]]"));
        assert!(is_slice("[Slot]"));
        assert!(!is_slice("[u64; 4]"));
        assert!(!is_slice("[[u64; 4]; 2]"));
        assert!(!is_slice("Bank"));
        assert!(!is_slice(""));
    }

    #[test]
    fn ages_show_the_two_largest_units() {
        assert_eq!(age(Duration::from_millis(999)), "0s");
        assert_eq!(age(Duration::from_secs(59)), "59s");
        assert_eq!(age(Duration::from_secs(192)), "3m12s");
        assert_eq!(age(Duration::from_secs(2 * 3600 + 5 * 60 + 9)), "2h05m");
        assert_eq!(age(Duration::from_secs(3 * 86_400 + 4 * 3600)), "3d04h");
    }

    #[test]
    fn timestamps_are_utc_dates() {
        let at = |secs: u64| timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01 00:00:00 UTC");
        // 2000-02-29 (a leap day in a century year) 12:34:56.
        assert_eq!(at(951_827_696), "2000-02-29 12:34:56 UTC");
        assert_eq!(at(1_764_500_862), "2025-11-30 11:07:42 UTC");
        assert_eq!(timestamp(SystemTime::UNIX_EPOCH - Duration::from_secs(1)), "before 1970");
    }

    #[test]
    fn tables_align_columns_without_trailing_spaces() {
        let rows = vec![
            vec!["a".to_owned(), "long cell".to_owned(), "x".to_owned()],
            vec!["bbbb".to_owned(), "".to_owned(), "".to_owned()],
        ];
        assert_eq!(
            table(&["H1", "H2", "H3"], &rows),
            "H1    H2         H3\na     long cell  x\nbbbb\n"
        );
    }
}
