//! The harness's results: one markdown table for people, JSON for tools.

use std::fmt::Write as _;

/// What a figure counts, and in which direction it is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Nanoseconds per operation (lower is better).
    NsPerOp,
    /// Operations per second, all processes together (higher is better).
    OpsPerSec,
    /// Microseconds (lower is better).
    Micros,
    /// Milliseconds (lower is better).
    Millis,
    /// A dimensionless fraction, 1.0 best (fairness).
    Fraction,
    /// CPU time as a percentage of one CPU over the same wall time (lower
    /// is better).
    PercentCpu,
}

impl Unit {
    /// The unit as written in the JSON output.
    pub fn json_name(self) -> &'static str {
        match self {
            Unit::NsPerOp => "ns/op",
            Unit::OpsPerSec => "ops/s",
            Unit::Micros => "us",
            Unit::Millis => "ms",
            Unit::Fraction => "fraction",
            Unit::PercentCpu => "%cpu",
        }
    }

    /// Formats a value of this unit for the table.
    pub fn show(self, v: f64) -> String {
        match self {
            Unit::NsPerOp => format!("{v:.1} ns"),
            Unit::OpsPerSec if v >= 1e6 => format!("{:.2} M/s", v / 1e6),
            Unit::OpsPerSec => format!("{:.1} k/s", v / 1e3),
            Unit::Micros => format!("{v:.1} µs"),
            Unit::Millis => format!("{v:.2} ms"),
            Unit::Fraction => format!("{v:.2}"),
            Unit::PercentCpu => format!("{v:.2} % CPU"),
        }
    }

    /// Whether a larger value is better.
    pub fn higher_is_better(self) -> bool {
        matches!(self, Unit::OpsPerSec | Unit::Fraction)
    }
}

/// One measured figure.
#[derive(Clone, Debug)]
pub struct Row {
    /// The operation measured (rows with equal `bench` and `procs` compare).
    pub bench: String,
    /// The system measured (shmsync or a peer).
    pub system: String,
    /// How many processes took part.
    pub procs: u32,
    /// The unit of `median` and `p99`.
    pub unit: Unit,
    /// The median over repetitions (or over samples, for latencies).
    pub median: f64,
    /// The 99th percentile, where the samples make one meaningful.
    pub p99: Option<f64>,
    /// The largest sample, where it is part of the question (recovery).
    pub max: Option<f64>,
    /// Whether this row is the one its group's ratios are relative to.
    pub reference: bool,
}

/// All rows of one run, in the order measured.
#[derive(Default)]
pub struct Report {
    /// The rows.
    pub rows: Vec<Row>,
}

impl Report {
    /// Adds a row and echoes it to stderr as progress.
    pub fn push(&mut self, row: Row) {
        eprintln!(
            "  {:<34} {:<40} {:>2}p  median {:>12}{}",
            row.bench,
            row.system,
            row.procs,
            row.unit.show(row.median),
            row.p99.map_or(String::new(), |p| format!("  p99 {}", row.unit.show(p)))
        );
        self.rows.push(row);
    }

    /// The reference row of `row`'s group, if the group has one.
    pub fn reference_of(&self, row: &Row) -> Option<&Row> {
        self.rows.iter().find(|r| r.reference && r.bench == row.bench && r.procs == row.procs)
    }

    /// `row.median / reference.median`.
    pub fn ratio(&self, row: &Row) -> Option<f64> {
        let reference = self.reference_of(row)?;
        Some(row.median / reference.median)
    }

    /// The one markdown table: every row with its ratio to its group's
    /// reference (the floor, or shmsync).
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        out.push_str("| operation | system | procs | median | p99 | max | × reference |\n");
        out.push_str("|---|---|---:|---:|---:|---:|---:|\n");
        for row in &self.rows {
            let ratio = match (row.reference, self.ratio(row), self.reference_of(row)) {
                (true, _, _) => "1.00 (reference)".to_owned(),
                (false, Some(r), Some(reference)) => {
                    format!("{r:.2}× {}", short_name(&reference.system))
                }
                _ => "–".to_owned(),
            };
            let opt = |v: Option<f64>| v.map_or("–".to_owned(), |v| row.unit.show(v));
            let better = if row.unit.higher_is_better() { " ↑" } else { "" };
            let _ = writeln!(
                out,
                "| {}{better} | {} | {} | {} | {} | {} | {ratio} |",
                row.bench,
                row.system,
                row.procs,
                row.unit.show(row.median),
                opt(row.p99),
                opt(row.max),
            );
        }
        out
    }

    /// `[{bench, system, procs, unit, median, p99}]` (plus `max` where
    /// measured), `p99` `null` where the samples make none.
    pub fn json(&self) -> String {
        let num = |v: Option<f64>| {
            v.filter(|v| v.is_finite()).map_or("null".to_owned(), |v| format!("{v}"))
        };
        let mut out = String::from("[\n");
        for (i, row) in self.rows.iter().enumerate() {
            let _ = write!(
                out,
                "  {{\"bench\": {}, \"system\": {}, \"procs\": {}, \"unit\": {}, \"median\": {}, \"p99\": {}",
                json_string(&row.bench),
                json_string(&row.system),
                row.procs,
                json_string(row.unit.json_name()),
                num(Some(row.median)),
                num(row.p99),
            );
            if row.max.is_some() {
                let _ = write!(out, ", \"max\": {}", num(row.max));
            }
            out.push('}');
            out.push_str(if i + 1 < self.rows.len() { ",\n" } else { "\n" });
        }
        out.push_str("]\n");
        out
    }
}

/// "shmsync ShmMutex" → "shmsync", "floor: CAS…" → "floor": the reference
/// named briefly in ratios.
fn short_name(system: &str) -> &str {
    system.split_whitespace().next().unwrap_or(system).trim_end_matches(':')
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
