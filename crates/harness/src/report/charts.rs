//! The SVG charts of a run (plotters).

use std::io;
use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use super::markdown::fmt_us;
use crate::results::{Results, Row, Scenario};

pub(super) fn chart_err<E: std::fmt::Display>(e: E) -> io::Error {
    io::Error::other(e.to_string())
}

/// One line per row over the scenarios of `group`; `log_x` for the concurrency sweep. Returns
/// false when the matrix has fewer than two points of that group.
pub(super) fn line_chart(
    results: &Results,
    path: &Path,
    title: &str,
    group: &str,
    x_desc: &str,
    x_of: impl Fn(&Scenario) -> usize,
    log_x: bool,
) -> io::Result<bool> {
    let cols: Vec<&Scenario> = results
        .scenarios
        .iter()
        .filter(|s| s.group == group)
        .collect();
    if cols.len() < 2 {
        return Ok(false);
    }
    let series: Vec<(String, Vec<(f64, f64)>)> = results
        .rows
        .iter()
        .map(|row| {
            let points = cols
                .iter()
                .filter_map(|s| {
                    let cell = row.cells.get(&s.id)?;
                    let l = cell.load.as_ref()?;
                    Some((x_of(s) as f64, l.requests_per_sec))
                })
                .collect();
            (row.label(), points)
        })
        .filter(|(_, p): &(String, Vec<(f64, f64)>)| !p.is_empty())
        .collect();
    let y_max = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
        .fold(1.0f64, f64::max)
        * 1.1;
    let x_min = cols.iter().map(|s| x_of(s)).min().unwrap_or(0) as f64;
    let x_max = cols.iter().map(|s| x_of(s)).max().unwrap_or(1) as f64;
    let root = SVGBackend::new(path, (1100, 650)).into_drawing_area();
    root.fill(&WHITE).map_err(chart_err)?;
    let (plot, legend) = root.split_horizontally(800);
    let mut builder = ChartBuilder::on(&plot);
    builder
        .caption(title, ("sans-serif", 18))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70);
    // Concurrency spans 1..1000 (log axis); idle connections 0..9000 (linear axis, since 0 is a
    // point of its own). Only the x axis differs; `draw_lines` draws either.
    if log_x {
        let x_range = (x_min.max(1.0) * 0.8..x_max * 1.25).log_scale();
        draw_lines(&mut builder, x_range, y_max, x_desc, &series)?;
    } else {
        let span = (x_max - x_min).max(1.0);
        let x_range = x_min - span * 0.03..x_max + span * 0.03;
        draw_lines(&mut builder, x_range, y_max, x_desc, &series)?;
    }
    draw_legend(&legend, &series)?;
    root.present().map_err(chart_err)?;
    Ok(true)
}

/// One line with dots per series, on requests/s against `x_range` (a linear or log axis).
pub(super) fn draw_lines<X>(
    builder: &mut ChartBuilder<'_, '_, SVGBackend>,
    x_range: X,
    y_max: f64,
    x_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> io::Result<()>
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = builder
        .build_cartesian_2d(x_range, 0f64..y_max)
        .map_err(chart_err)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("requests/s")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(chart_err)?;
    for (i, (_, points)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(chart_err)?;
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))
            .map_err(chart_err)?;
    }
    Ok(())
}

pub(super) fn draw_legend<T>(
    area: &DrawingArea<SVGBackend, Shift>,
    series: &[(String, T)],
) -> io::Result<()> {
    for (i, (label, _)) in series.iter().enumerate() {
        let y = 40 + i as i32 * 22;
        let color = Palette99::pick(i).to_rgba();
        area.draw(&PathElement::new(
            vec![(10, y), (40, y)],
            color.stroke_width(3),
        ))
        .map_err(chart_err)?;
        area.draw(&Text::new(label.clone(), (48, y - 7), ("sans-serif", 14)))
            .map_err(chart_err)?;
    }
    Ok(())
}

/// Horizontal bars, log scale: p99 of the busiest keep-alive scenario that ran.
pub(super) fn p99_chart(results: &Results, path: &Path, title: &str) -> io::Result<bool> {
    let Some(scenario) = p99_scenario(results) else {
        return Ok(false);
    };
    let bars = p99_bars(results, scenario);
    let max = bars.iter().filter_map(|(_, v)| *v).fold(10.0f64, f64::max) * 2.0;
    let height = 120 + bars.len() as u32 * 26;
    let root = SVGBackend::new(path, (1000, height)).into_drawing_area();
    root.fill(&WHITE).map_err(chart_err)?;
    let caption = format!("{title} — {} (log scale, µs)", scenario.title);
    let n = bars.len();
    let labels: Vec<String> = bars.iter().map(|(l, _)| l.clone()).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 16))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(260)
        .build_cartesian_2d((1f64..max).log_scale(), 0f64..n as f64)
        .map_err(chart_err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n * 2 + 1)
        .y_label_formatter(&|y| {
            // Label each bar at its centre (i + 0.5).
            let i = (*y - 0.5).round();
            if (*y - 0.5 - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                labels[labels.len() - 1 - i as usize].clone()
            } else {
                String::new()
            }
        })
        .x_desc("p99 latency, µs")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()
        .map_err(chart_err)?;
    for (i, (label, v)) in bars.iter().enumerate() {
        let y = (n - 1 - i) as f64;
        match v {
            Some(v) => {
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(1.0, y + 0.15), (v.max(1.0), y + 0.85)],
                        Palette99::pick(i).to_rgba().filled(),
                    )))
                    .map_err(chart_err)?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        fmt_us(*v),
                        (v.max(1.0) * 1.08, y + 0.65),
                        ("sans-serif", 12),
                    )))
                    .map_err(chart_err)?;
            }
            None => {
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!("n/a ({label})"),
                        (1.2, y + 0.7),
                        ("sans-serif", 12),
                    )))
                    .map_err(chart_err)?;
            }
        }
    }
    root.present().map_err(chart_err)?;
    Ok(true)
}

/// The scenario the p99 chart shows: keep-alive at 100 clients when measured, else the busiest
/// keep-alive scenario measured; `None` when no keep-alive scenario was measured.
pub(super) fn p99_scenario(results: &Results) -> Option<&Scenario> {
    let measured_somewhere = |s: &&Scenario| results.rows.iter().any(|r| measured(r, &s.id));
    let keepalive = || results.scenarios.iter().filter(|s| s.group == "keepalive");
    keepalive()
        .filter(measured_somewhere)
        .find(|s| s.clients == 100)
        .or_else(|| keepalive().rfind(measured_somewhere))
}

/// One bar per row: its label and its p99 in µs (`None`: nothing was answered).
pub(super) fn p99_bars(results: &Results, scenario: &Scenario) -> Vec<(String, Option<f64>)> {
    results
        .rows
        .iter()
        .map(|row| {
            let v = row
                .cells
                .get(&scenario.id)
                .and_then(|c| c.load.as_ref())
                .filter(|l| l.latency.count > 0)
                .map(|l| l.latency.p99_us);
            (row.label(), v)
        })
        .collect()
}

pub(super) fn measured(row: &Row, id: &str) -> bool {
    row.cells
        .get(id)
        .and_then(|c| c.load.as_ref())
        .is_some_and(|l| l.latency.count > 0)
}
