//! The SVG bar chart of the main comparison, drawn with `plotters` (its SVG
//! backend only: no font or bitmap dependencies). One panel per benchmark
//! group, one horizontal bar per system, shmsync's bars highlighted.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

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

// Layout in pixels. The labels column is wide enough for the longest system
// name; the longest bar leaves room after it for its value.
const WIDTH: u32 = 960;
const CAPTION_H: u32 = 40;
const TITLE_H: u32 = 34;
const ROW_H: u32 = 24;
const BAR_H: u32 = 18;
const PANEL_GAP: u32 = 12;
const LABEL_W: u32 = 380;
const BAR_W: u32 = 440;
const RIGHT_MARGIN: u32 = 20;

const OURS: RGBColor = RGBColor(0xd9, 0x48, 0x0f);
const PEER: RGBColor = RGBColor(0x86, 0x8e, 0x96);

/// plotters' SVG backend writes `font-size` as the style's size / 1.24; these
/// give 13 px text and 15 px for the caption.
const TEXT_SIZE: f64 = 13.0 * 1.24;
const CAPTION_SIZE: f64 = 15.0 * 1.24;

/// Renders `panels` as a standalone SVG document.
pub fn render(panels: &[Panel<'_>], caption: &str) -> Result<String, Box<dyn std::error::Error>> {
    let height = CAPTION_H
        + panels.iter().map(|p| TITLE_H + ROW_H * p.rows.len() as u32 + PANEL_GAP).sum::<u32>();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let bold = |size: f64| ("sans-serif", size).into_font().style(FontStyle::Bold);
        let (top, mut rest) = root.split_vertically(CAPTION_H);
        top.draw_text(caption, &bold(CAPTION_SIZE).into_text_style(&top), (10, 10))?;
        for panel in panels {
            let (area, below) =
                rest.split_vertically(TITLE_H + ROW_H * panel.rows.len() as u32 + PANEL_GAP);
            rest = below;
            let (title, bars) = area.split_vertically(TITLE_H);
            title.draw_text(&panel.title, &bold(TEXT_SIZE).into_text_style(&title), (10, 12))?;
            draw_bars(&bars, panel)?;
        }
        root.present()?;
    }
    Ok(svg)
}

/// One panel's bars: a system name, right-aligned before its bar, and the
/// bar's value after it. The longest bar is `BAR_W` pixels.
fn draw_bars(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    panel: &Panel<'_>,
) -> Result<(), Box<dyn std::error::Error>> {
    let value = |r: &Row| if panel.use_p99 { r.p99.unwrap_or(r.median) } else { r.median };
    let top = panel.rows.iter().map(|r| value(r)).fold(0.0_f64, f64::max);
    // An all-zero panel still gets a (1 px) bar per row.
    let top = if top > 0.0 { top } else { 1.0 };
    // At least one pixel, so a tiny figure still shows where it is.
    let length = |r: &Row| value(r).max(top / f64::from(BAR_W));
    let plot_w = f64::from(WIDTH - LABEL_W - RIGHT_MARGIN);
    let n = panel.rows.len();
    // Row `i` (top to bottom) spans y from `n - 1 - i` to `n - i`: the y
    // axis goes up.
    let slot = |i: usize| (n - 1 - i) as f64;
    let mut chart = ChartBuilder::on(area)
        .margin_bottom(PANEL_GAP)
        .margin_right(RIGHT_MARGIN)
        .y_label_area_size(LABEL_W)
        .build_cartesian_2d(0.0..top * plot_w / f64::from(BAR_W), 0.0..n as f64)?;
    let margin = (ROW_H - BAR_H) / 2;
    chart.draw_series(panel.rows.iter().enumerate().map(|(i, row)| {
        let color = if ours(row) { OURS } else { PEER };
        let mut bar =
            Rectangle::new([(0.0, slot(i)), (length(row), slot(i) + 1.0)], color.filled());
        bar.set_margin(margin, margin, 0, 0);
        bar
    }))?;
    // The labels are drawn as elements of the chart, offset in pixels from
    // the bar they belong to: the y axis's own labels cannot be bold per row.
    chart.draw_series(panel.rows.iter().enumerate().map(|(i, row)| {
        let at = (0.0, slot(i) + 0.5);
        let font = ("sans-serif", TEXT_SIZE).into_font();
        let font = if ours(row) { font.style(FontStyle::Bold) } else { font };
        EmptyElement::<_, SVGBackend<'_>>::at(at)
            + Text::new(
                row.system.clone(),
                (-8, 0),
                font.color(&BLACK).pos(Pos::new(HPos::Right, VPos::Center)),
            )
    }))?;
    chart.draw_series(panel.rows.iter().enumerate().map(|(i, row)| {
        EmptyElement::<_, SVGBackend<'_>>::at((length(row), slot(i) + 0.5))
            + Text::new(
                row.unit.show(value(row)),
                (6, 0),
                ("sans-serif", TEXT_SIZE)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            )
    }))?;
    Ok(())
}

/// Whether `row` measures shmsync (highlighted) rather than a peer.
fn ours(row: &Row) -> bool {
    row.system.starts_with("shmsync")
}
