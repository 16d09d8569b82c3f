//! The SVG charts of a run (plotters): one small chart per lesson of the course, the cost charts
//! (CPU per request, memory and threads per idle connection, syscalls per request) and a latency
//! dot plot.
//!
//! Every chart is 1,100 px wide with type of at least 14 px, carries a caption with the date, the
//! machine and the CPUs, shows each point as the median of its repeats with a min–max whisker,
//! gives each model one colour and each mode one dash, and draws a failed cell as ✗ (never as a
//! healthy point). At most six series per panel.
//!
//! | module | what |
//! |---|---|
//! | `lessons.rs` | which rows and panels each chart has (data) |
//! | `series.rs` | the points, taken from the results (testable without drawing) |
//! | `style.rs` | colours, dashes, type sizes, the caption |
//! | `lines.rs` | small multiples of line panels, with one legend |
//! | `bars.rs` | stacked syscall bars; the latency dot plot |

mod bars;
mod lessons;
mod lines;
mod series;
mod style;

use std::io;
use std::path::Path;

use lessons::{ChartSpec, LESSONS, PanelSpec};
use lines::{Panel, Styles, draw_grid};
use series::{Series, points, rows, scenarios};

use crate::compare::matrix::is_work_group;
use crate::results::{Results, Row};

pub(super) fn chart_err<E: std::fmt::Display>(e: E) -> io::Error {
    io::Error::other(e.to_string())
}

/// A chart that was drawn: its file, its title, and what to look for in it.
pub(crate) struct Drawn {
    pub file: &'static str,
    pub title: String,
    pub shows: &'static str,
}

/// The syscalls chart's file and title.
const SYSCALLS: (&str, &str) = (
    "syscalls-per-request.svg",
    "Syscalls per request, stacked by syscall",
);
/// The latency chart's file and title.
const LATENCY: (&str, &str) = ("latency.svg", "Latency per server");

/// Draw every chart that this run has data for into `dir`; a chart that fails to draw is a
/// warning, not a lost run.
pub(crate) fn draw_all(results: &Results, dir: &Path) -> Vec<Drawn> {
    let caption = style::caption(results, false);
    let work_caption = style::caption(results, true);
    let mut drawn = Vec::new();
    for spec in LESSONS {
        let work_only = spec.panels.iter().all(|p| is_work_group(p.group));
        let caption = if work_only { &work_caption } else { &caption };
        match draw_spec(results, dir, spec, caption) {
            Ok(true) => drawn.push(Drawn {
                file: spec.file,
                title: spec.title.to_string(),
                shows: spec.shows,
            }),
            Ok(false) => {}
            Err(e) => eprintln!("warning: chart {}: {e}", spec.file),
        }
    }
    let (file, title) = SYSCALLS;
    match bars::syscalls_chart(results, &dir.join(file), title, &caption) {
        Ok(true) => drawn.push(Drawn {
            file,
            title: title.to_string(),
            shows: "Where each model's syscalls go: the wait (epoll_wait, select, poll, \
                    sigtimedwait, io_uring_enter), the copies (read, write, sendfile), and the \
                    rest (futex: handing work between threads).",
        }),
        Ok(false) => {}
        Err(e) => eprintln!("warning: chart {file}: {e}"),
    }
    let (file, title) = LATENCY;
    match bars::latency_chart(results, &dir.join(file), title, &caption) {
        Ok(true) => drawn.push(Drawn {
            file,
            title: title.to_string(),
            shows: "The typical request (p50) and the slow one (p99) of each server under the same \
                    keep-alive load, on a linear axis.",
        }),
        Ok(false) => {}
        Err(e) => eprintln!("warning: chart {file}: {e}"),
    }
    drawn
}

/// The panels of `spec` with their points; panels without any point are left out.
pub(crate) fn panels<'a>(results: &'a Results, spec: &ChartSpec) -> Vec<Panel<'a>> {
    spec.panels
        .iter()
        .filter_map(|p| panel(results, spec, p))
        .collect()
}

fn panel<'a>(results: &'a Results, spec: &ChartSpec, p: &PanelSpec) -> Option<Panel<'a>> {
    let wanted = if p.rows.is_empty() { spec.rows } else { p.rows };
    let series: Vec<Series<'a>> = rows(results, wanted)
        .into_iter()
        .map(|row| Series {
            row,
            points: points(results, row, p.group, p.x, p.metric),
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    let xs: Vec<f64> = scenarios(results, p.group)
        .iter()
        .map(|s| p.x.of(s))
        .collect();
    if series.is_empty() || xs.len() < 2 {
        return None;
    }
    let title = match p.title {
        Some(t) => t.to_string(),
        None => format!("{} — {}", metric_title(p.metric), group_title(p.group)),
    };
    Some(Panel {
        title,
        x: p.x,
        metric: p.metric,
        xs,
        series,
    })
}

fn group_title(group: &str) -> &'static str {
    match group {
        "keepalive" => "keep-alive, small file",
        "idle" => "50 clients + idle connections",
        "rate" => "5,000 req/s + idle connections",
        "close" => "a connection per request",
        "large" => "large files",
        "upload" => "64 KiB uploads",
        "block" => "logic that waits (/block), server on every CPU",
        "cpu" => "logic that computes (/cpu), server on every CPU",
        _ => "",
    }
}

fn metric_title(metric: series::Metric) -> &'static str {
    match metric {
        series::Metric::Throughput => "Throughput",
        series::Metric::CpuPerRequest => "CPU per request",
        series::Metric::Rss => "Memory",
        series::Metric::Threads => "Threads",
        series::Metric::Waiting => "Waiting at once",
        series::Metric::Computing => "Computing at once",
    }
}

fn draw_spec(results: &Results, dir: &Path, spec: &ChartSpec, caption: &str) -> io::Result<bool> {
    let panels = panels(results, spec);
    if panels.is_empty() {
        return Ok(false);
    }
    let mut legend_rows: Vec<&Row> = Vec::new();
    for s in panels.iter().flat_map(|p| p.series.iter()) {
        if !legend_rows.iter().any(|r| r.label() == s.row.label()) {
            legend_rows.push(s.row);
        }
    }
    let styles = Styles::for_rows(&legend_rows);
    draw_grid(
        &dir.join(spec.file),
        spec.title,
        caption,
        &style::line_note(results),
        &panels,
        &styles,
    )?;
    Ok(true)
}

#[cfg(test)]
mod tests;
