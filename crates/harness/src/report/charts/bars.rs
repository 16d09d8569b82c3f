//! Charts with one bar or one dot row per server: syscalls per request, stacked by syscall, and
//! latency as a dot plot (p50 dot, whisker to p99) on a linear axis.

use std::collections::BTreeMap;
use std::io;
use std::iter::once;
use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::chart_err;
use super::lines::{draw_header, short_label};
use super::series::failed;
use super::style::{FONT, SMALL_PX, TEXT_PX, WIDTH, model_colour};
use crate::results::{Results, Row, Scenario};

/// Height of one bar row, and room above and below the bars.
const ROW_PX: u32 = 30;
const HEADER_PX: u32 = 100;
const FOOTER_PX: u32 = 70;
/// Width of the label column left of the bars.
const LABEL_PX: u32 = 250;

/// Syscalls named in the stacked bars; the rest are summed as "other".
const STACKED: usize = 7;

/// Syscall colours: a qualitative palette (Tol's "muted"), distinct from the model colours'
/// meaning; grey for "other".
const SYSCALL_COLOURS: [RGBColor; STACKED] = [
    RGBColor(0x33, 0x22, 0x88),
    RGBColor(0x88, 0xCC, 0xEE),
    RGBColor(0x44, 0xAA, 0x99),
    RGBColor(0x11, 0x77, 0x33),
    RGBColor(0x99, 0x99, 0x33),
    RGBColor(0xDD, 0xCC, 0x77),
    RGBColor(0xCC, 0x66, 0x77),
];
const OTHER: RGBColor = RGBColor(0xBB, 0xBB, 0xBB);

/// The syscalls that get a colour of their own: the most frequent over all rows.
pub(crate) fn stacked_names(results: &Results) -> Vec<String> {
    let mut totals: BTreeMap<&str, f64> = BTreeMap::new();
    for row in &results.rows {
        if let Ok(s) = &row.syscalls {
            for (name, per) in &s.per_request {
                *totals.entry(name.as_str()).or_default() += per;
            }
        }
    }
    let mut names: Vec<(&str, f64)> = totals.into_iter().collect();
    names.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    names
        .into_iter()
        .take(STACKED)
        .map(|(n, _)| n.to_string())
        .collect()
}

/// One row's bar: (segment name, calls per request), in `names` order, then "other".
pub(crate) fn segments(row: &Row, names: &[String]) -> Option<Vec<(String, f64)>> {
    let s = row.syscalls.as_ref().ok()?;
    let mut out: Vec<(String, f64)> = names
        .iter()
        .map(|n| (n.clone(), s.per_request.get(n).copied().unwrap_or(0.0)))
        .collect();
    let named: f64 = out.iter().map(|(_, v)| v).sum();
    out.push(("other".into(), (s.total_per_request - named).max(0.0)));
    Some(out)
}

/// Syscalls per request, one stacked bar per row. Returns false when no row has the figure.
pub(crate) fn syscalls_chart(
    results: &Results,
    path: &Path,
    title: &str,
    caption: &str,
) -> io::Result<bool> {
    let names = stacked_names(results);
    let bars: Vec<(&Row, Vec<(String, f64)>)> = results
        .rows
        .iter()
        .filter_map(|r| Some((r, segments(r, &names)?)))
        .collect();
    if bars.is_empty() {
        return Ok(false);
    }
    let n = bars.len();
    let height = HEADER_PX + FOOTER_PX + n as u32 * ROW_PX + 60;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(chart_err)?;
    let (header, rest) = root.split_vertically(HEADER_PX);
    draw_header(
        &header,
        title,
        caption,
        "strace -c -f over a keep-alive run; every call of the run, start-up included, divided \
         by the requests answered",
    )?;
    let (body, footer) = rest.split_vertically(n as u32 * ROW_PX + 60);
    let max = bars
        .iter()
        .map(|(_, s)| s.iter().map(|(_, v)| v).sum::<f64>())
        .fold(1.0f64, f64::max)
        * 1.18;
    let labels: Vec<String> = bars.iter().map(|(r, _)| short_label(&r.label())).collect();
    let mut chart = ChartBuilder::on(&body)
        .margin(10)
        .margin_right(30)
        .x_label_area_size(48)
        .y_label_area_size(LABEL_PX)
        .build_cartesian_2d(0f64..max, 0f64..n as f64)
        .map_err(chart_err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .label_style((FONT, SMALL_PX))
        .axis_desc_style((FONT, SMALL_PX))
        .y_labels(n * 2 + 1)
        .y_label_formatter(&|y| bar_label(*y, &labels))
        .x_desc("syscalls per request")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()
        .map_err(chart_err)?;
    for (i, (_, segs)) in bars.iter().enumerate() {
        let y = (n - 1 - i) as f64;
        let mut start = 0.0;
        for (k, (_, v)) in segs.iter().enumerate() {
            let colour = SYSCALL_COLOURS.get(k).copied().unwrap_or(OTHER);
            chart
                .draw_series(once(Rectangle::new(
                    [(start, y + 0.18), (start + v, y + 0.82)],
                    colour.filled(),
                )))
                .map_err(chart_err)?;
            start += v;
        }
        chart
            .draw_series(once(Text::new(
                format!("{start:.1}"),
                (start + max * 0.01, y + 0.7),
                (FONT, SMALL_PX),
            )))
            .map_err(chart_err)?;
    }
    syscall_legend(&footer, &names)?;
    root.present().map_err(chart_err)?;
    Ok(true)
}

/// The syscall legend, in stacking order, on one line.
fn syscall_legend(footer: &DrawingArea<SVGBackend, Shift>, names: &[String]) -> io::Result<()> {
    let mut x = 20;
    for (k, name) in names
        .iter()
        .map(String::as_str)
        .chain(once("other"))
        .enumerate()
    {
        let colour = SYSCALL_COLOURS.get(k).copied().unwrap_or(OTHER);
        footer
            .draw(&Rectangle::new([(x, 20), (x + 18, 38)], colour.filled()))
            .map_err(chart_err)?;
        footer
            .draw(&Text::new(name.to_string(), (x + 24, 20), (FONT, TEXT_PX)))
            .map_err(chart_err)?;
        x += 34 + 9 * name.len() as i32;
    }
    Ok(())
}

/// The label of the bar whose centre is at `y` (bars are drawn top to bottom).
fn bar_label(y: f64, labels: &[String]) -> String {
    let i = (y - 0.5).round();
    if (y - 0.5 - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
        labels[labels.len() - 1 - i as usize].clone()
    } else {
        String::new()
    }
}

/// The scenario the latency chart shows: keep-alive at 100 clients when measured, else the
/// busiest keep-alive scenario measured; `None` when no keep-alive scenario was measured.
pub(crate) fn latency_scenario(results: &Results) -> Option<&Scenario> {
    let measured_somewhere = |s: &&Scenario| {
        results.rows.iter().any(|r| {
            r.cells
                .get(&s.id)
                .and_then(|c| c.load.as_ref())
                .is_some_and(|l| l.latency.count > 0)
        })
    };
    let keepalive = || results.scenarios.iter().filter(|s| s.group == "keepalive");
    keepalive()
        .filter(measured_somewhere)
        .find(|s| s.clients == 100)
        .or_else(|| keepalive().rfind(measured_somewhere))
}

/// One dot row: p50 and p99 (µs) of the median run, the p99 of every run, and whether the
/// cell failed; `None` when the row answered nothing there.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LatencyDots {
    pub p50_us: f64,
    pub p99_us: f64,
    pub p99_runs_us: Vec<f64>,
    pub failed: bool,
}

pub(crate) fn latency_dots(row: &Row, scenario: &Scenario) -> Option<LatencyDots> {
    let cell = row.cells.get(&scenario.id)?;
    let load = cell.load.as_ref().filter(|l| l.latency.count > 0)?;
    Some(LatencyDots {
        p50_us: load.latency.p50_us,
        p99_us: load.latency.p99_us,
        p99_runs_us: cell.runs.iter().map(|r| r.load.latency.p99_us).collect(),
        failed: failed(cell),
    })
}

/// The axis end: the largest p99 unless one row is far beyond the rest (then 1.5× the third
/// largest, and the rows past it are drawn to the edge with their value written).
pub(crate) fn latency_axis_end(p99s: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = p99s.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let Some(&largest) = sorted.first() else {
        return 1.0;
    };
    let third = sorted.get(2).copied().unwrap_or(largest);
    if largest > 3.0 * third && third > 0.0 {
        third * 1.5
    } else {
        largest * 1.15
    }
    .max(1.0)
}

/// p50 (dot) to p99 (bar end) per row, linear axis in ms. Returns false when nothing to draw.
pub(crate) fn latency_chart(
    results: &Results,
    path: &Path,
    title: &str,
    caption: &str,
) -> io::Result<bool> {
    let Some(scenario) = latency_scenario(results) else {
        return Ok(false);
    };
    let rows: Vec<(&Row, Option<LatencyDots>)> = results
        .rows
        .iter()
        .filter(|r| r.cells.contains_key(&scenario.id))
        .map(|r| (r, latency_dots(r, scenario)))
        .collect();
    let p99s: Vec<f64> = rows
        .iter()
        .filter_map(|(_, d)| d.as_ref().map(|d| d.p99_us / 1000.0))
        .collect();
    let end = latency_axis_end(&p99s);
    let n = rows.len();
    let height = HEADER_PX + n as u32 * ROW_PX + 80;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(chart_err)?;
    let (header, body) = root.split_vertically(HEADER_PX);
    draw_header(
        &header,
        &format!("{title} — {}", scenario.title),
        caption,
        "dot: p50 of the median run; bar: to its p99; ticks: p99 of each run; ✗: failed cell",
    )?;
    let labels: Vec<String> = rows.iter().map(|(r, _)| short_label(&r.label())).collect();
    let mut chart = ChartBuilder::on(&body)
        .margin(10)
        .margin_right(110)
        .x_label_area_size(48)
        .y_label_area_size(LABEL_PX)
        .build_cartesian_2d(0f64..end, 0f64..n as f64)
        .map_err(chart_err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .label_style((FONT, SMALL_PX))
        .axis_desc_style((FONT, SMALL_PX))
        .y_labels(n * 2 + 1)
        .y_label_formatter(&|y| bar_label(*y, &labels))
        .x_desc("latency, ms (linear axis)")
        .x_label_formatter(&|x| format!("{x:.1}"))
        .draw()
        .map_err(chart_err)?;
    for (i, (row, dots)) in rows.iter().enumerate() {
        let y = (n - 1 - i) as f64 + 0.5;
        let colour = model_colour(&row.server);
        let Some(d) = dots else {
            chart
                .draw_series(once(Text::new(
                    "n/a".to_string(),
                    (end * 0.01, y + 0.2),
                    (FONT, SMALL_PX),
                )))
                .map_err(chart_err)?;
            continue;
        };
        dot_row(&mut chart, y, colour, d, end)?;
    }
    root.present().map_err(chart_err)?;
    Ok(true)
}

/// One row of the latency chart: the bar from p50 to p99 (clipped at the axis end, with the value
/// written), a tick per run's p99, and the p50 dot (✗ when the cell failed).
fn dot_row(
    chart: &mut ChartContext<'_, SVGBackend, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    y: f64,
    colour: RGBColor,
    d: &LatencyDots,
    end: f64,
) -> io::Result<()> {
    let (p50, p99) = (d.p50_us / 1000.0, d.p99_us / 1000.0);
    let clipped = p99 > end;
    chart
        .draw_series(once(PathElement::new(
            vec![(p50.min(end), y), (p99.min(end), y)],
            colour.stroke_width(3),
        )))
        .map_err(chart_err)?;
    for run in &d.p99_runs_us {
        let v = (run / 1000.0).min(end);
        chart
            .draw_series(once(
                EmptyElement::at((v, y)) + PathElement::new(vec![(0, -8), (0, 8)], colour),
            ))
            .map_err(chart_err)?;
    }
    if d.failed {
        chart
            .draw_series(once(Cross::new(
                (p50.min(end), y),
                7,
                colour.stroke_width(3),
            )))
            .map_err(chart_err)?;
    } else {
        chart
            .draw_series(once(Circle::new((p50.min(end), y), 5, colour.filled())))
            .map_err(chart_err)?;
    }
    let text = if clipped {
        format!("→ p99 {p99:.1} ms")
    } else {
        format!("{p99:.2} ms")
    };
    chart
        .draw_series(once(Text::new(
            text,
            (p99.min(end) + end * 0.01, y + 0.3),
            (FONT, SMALL_PX),
        )))
        .map_err(chart_err)?;
    Ok(())
}
