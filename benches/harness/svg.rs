//! A small hand-written SVG bar chart of the main comparison. Four panels of
//! horizontal bars need no plotting library (and none of its font and image
//! dependencies): rectangles and text are all there is.

use std::fmt::Write as _;

use crate::report::{Report, Row};

/// One panel: a title and the rows of one benchmark group.
pub struct Panel<'a> {
    /// Panel heading.
    pub title: String,
    /// The bars, in table order.
    pub rows: Vec<&'a Row>,
    /// Plot the p99 instead of the median.
    pub use_p99: bool,
}

const WIDTH: f64 = 960.0;
const LABEL_W: f64 = 380.0;
const BAR_W: f64 = 440.0;
const BAR_H: f64 = 18.0;
const ROW_H: f64 = 24.0;
const TITLE_H: f64 = 34.0;

/// The panels of the main comparison, from whatever the report holds.
pub fn main_panels(report: &Report) -> Vec<Panel<'_>> {
    let group = |bench: &str, procs: u32| -> Vec<&Row> {
        report.rows.iter().filter(|r| r.bench == bench && r.procs == procs).collect()
    };
    let mut panels = vec![
        Panel {
            title: "Uncontended lock + unlock, ns (lower is better)".into(),
            rows: group(crate::uncontended::BENCH, 1),
            use_p99: false,
        },
        Panel {
            title: "2 processes, lock + increment, ops/s (higher is better)".into(),
            rows: group(crate::contended::BENCH, 2),
            use_p99: false,
        },
        Panel {
            title: "Ping-pong round trip, 2 processes on one CPU, median µs (lower is better)"
                .into(),
            rows: group(crate::pingpong::BENCH_SAME, 2),
            use_p99: false,
        },
        Panel {
            title: "Ping-pong round trip, 2 processes on two CPUs, median µs (lower is better)"
                .into(),
            rows: group(crate::pingpong::BENCH_CROSS, 2),
            use_p99: false,
        },
        Panel {
            title: "Owner-death recovery, p99 ms (lower is better)".into(),
            rows: group(crate::owner_death::BENCH, 2),
            use_p99: true,
        },
        Panel {
            title: "Owner-exec recovery, p99 ms (lower is better)".into(),
            rows: group(crate::owner_exec::BENCH, 2),
            use_p99: true,
        },
        Panel {
            title: "Waiter blocked behind a live owner, median % of one CPU (lower is better)"
                .into(),
            rows: group(crate::blocked_waiter::BENCH, 2),
            use_p99: false,
        },
    ];
    panels.retain(|p| !p.rows.is_empty());
    panels
}

/// Renders `panels` as a standalone SVG document.
pub fn render(panels: &[Panel<'_>], caption: &str) -> String {
    let height: f64 =
        40.0 + panels.iter().map(|p| TITLE_H + ROW_H * p.rows.len() as f64 + 12.0).sum::<f64>();
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="22" font-size="15" font-weight="bold">{}</text>"#,
        esc(caption)
    );
    let mut y = 40.0;
    for panel in panels {
        let _ = writeln!(
            s,
            r#"<text x="10" y="{}" font-weight="bold">{}</text>"#,
            y + 20.0,
            esc(&panel.title)
        );
        y += TITLE_H;
        let value = |r: &Row| if panel.use_p99 { r.p99.unwrap_or(r.median) } else { r.median };
        let top = panel.rows.iter().map(|r| value(r)).fold(0.0_f64, f64::max);
        for row in &panel.rows {
            let v = value(row);
            let w = if top > 0.0 { (v / top * BAR_W).max(1.0) } else { 1.0 };
            let ours = row.system.starts_with("shmsync");
            let fill = if ours { "#d9480f" } else { "#868e96" };
            let weight = if ours { r#" font-weight="bold""# } else { "" };
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" text-anchor="end"{weight}>{}</text>"#,
                LABEL_W - 8.0,
                y + BAR_H - 4.0,
                esc(&row.system)
            );
            let _ = writeln!(
                s,
                r#"<rect x="{LABEL_W}" y="{y}" width="{w:.1}" height="{BAR_H}" fill="{fill}"/>"#
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{}">{}</text>"#,
                LABEL_W + w + 6.0,
                y + BAR_H - 4.0,
                esc(&row.unit.show(v))
            );
            y += ROW_H;
        }
        y += 12.0;
    }
    s.push_str("</svg>\n");
    s
}

fn esc(t: &str) -> String {
    t.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
