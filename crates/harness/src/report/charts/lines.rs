//! Line charts as small multiples: a grid of panels (two per row), each a metric over one group
//! of scenarios, with one shared legend. Every point is a median with a min–max whisker; a failed
//! cell is a ✗ and breaks its line.

use std::io;
use std::iter::once;
use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use super::chart_err;
use super::series::{Metric, Point, Series, XAxis, healthy_runs};
use super::style::{FONT, SMALL_PX, TEXT_PX, TITLE_PX, WIDTH, dash, model_colour};
use crate::results::Row;

/// One panel, ready to draw.
pub(crate) struct Panel<'a> {
    pub title: String,
    pub x: XAxis,
    pub metric: Metric,
    /// The x of every scenario of the panel's group (ticks, and the axis range).
    pub xs: Vec<f64>,
    pub series: Vec<Series<'a>>,
}

/// Colour and dash of every row of one chart: the colour is the model's, the dash the mode's
/// place among that model's rows in this chart.
pub(crate) struct Styles {
    entries: Vec<(String, RGBColor, (u32, u32))>,
}

impl Styles {
    pub(crate) fn for_rows(rows: &[&Row]) -> Styles {
        let mut entries: Vec<(String, RGBColor, (u32, u32))> = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let label = row.label();
            if entries.iter().any(|(l, _, _)| *l == label) {
                continue;
            }
            let same_model = rows[..i]
                .iter()
                .filter(|r| r.server == row.server)
                .map(|r| r.label())
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            entries.push((label, model_colour(&row.server), dash(same_model)));
        }
        Styles { entries }
    }

    pub(crate) fn of(&self, row: &Row) -> (RGBColor, (u32, u32)) {
        let label = row.label();
        self.entries
            .iter()
            .find(|(l, _, _)| *l == label)
            .map(|(_, c, d)| (*c, *d))
            .unwrap_or((model_colour(&row.server), (0, 0)))
    }

    pub(crate) fn entries(&self) -> &[(String, RGBColor, (u32, u32))] {
        &self.entries
    }
}

/// Header height (title, caption, note), panel height, legend line height; legend columns.
const HEADER_PX: u32 = 100;
const PANEL_PX: u32 = 400;
const LEGEND_LINE_PX: u32 = 28;
const LEGEND_COLUMNS: usize = 3;

/// Draw `panels` (two per row) under `title`, `caption` and `note`, with one legend for `styles`.
pub(crate) fn draw_grid(
    path: &Path,
    title: &str,
    caption: &str,
    note: &str,
    panels: &[Panel<'_>],
    styles: &Styles,
) -> io::Result<()> {
    let columns = if panels.len() == 1 { 1 } else { 2 };
    let grid_rows = panels.len().div_ceil(columns).max(1);
    let legend_lines = styles.entries().len().div_ceil(LEGEND_COLUMNS) as u32;
    let legend_px = 24 + legend_lines * LEGEND_LINE_PX;
    let height = HEADER_PX + grid_rows as u32 * PANEL_PX + legend_px;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE).map_err(chart_err)?;
    let (header, rest) = root.split_vertically(HEADER_PX);
    draw_header(&header, title, caption, note)?;
    let (grid, legend) = rest.split_vertically(grid_rows as u32 * PANEL_PX);
    for (area, panel) in grid.split_evenly((grid_rows, columns)).iter().zip(panels) {
        draw_panel(area, panel, shared_y_max(panels, panel.metric), styles)?;
    }
    draw_legend(&legend, styles)?;
    root.present().map_err(chart_err)
}

pub(crate) fn draw_header(
    area: &DrawingArea<SVGBackend, Shift>,
    title: &str,
    caption: &str,
    note: &str,
) -> io::Result<()> {
    let grey = RGBColor(0x44, 0x44, 0x44);
    area.draw(&Text::new(
        title.to_string(),
        (20, 14),
        (FONT, TITLE_PX).into_font().style(FontStyle::Bold),
    ))
    .map_err(chart_err)?;
    area.draw(&Text::new(
        caption.to_string(),
        (20, 50),
        (FONT, SMALL_PX).into_font().color(&grey),
    ))
    .map_err(chart_err)?;
    area.draw(&Text::new(
        note.to_string(),
        (20, 72),
        (FONT, SMALL_PX).into_font().color(&grey),
    ))
    .map_err(chart_err)?;
    Ok(())
}

/// The y axis end of every panel that shows `metric`: small multiples share their axes, so that
/// a panel's height can be compared with its neighbour's at a glance.
/// Failed cells do not stretch the axis (a crashed or overloaded cell can be 100× the rest):
/// they are drawn at the top edge with their value written beside the ✗.
pub(crate) fn shared_y_max(panels: &[Panel<'_>], metric: Metric) -> f64 {
    let points = || {
        panels
            .iter()
            .filter(|p| p.metric == metric)
            .flat_map(|p| p.series.iter().flat_map(|s| s.points.iter()))
    };
    let top = |healthy_only: bool| {
        points()
            .filter(|p| !(healthy_only && p.failed))
            .map(|p| p.max.max(p.median))
            .fold(0.0f64, f64::max)
    };
    let top = match top(true) {
        t if t > 0.0 => t,
        _ => top(false),
    };
    if top > 0.0 { top * 1.12 } else { 1.0 }
}

fn draw_panel(
    area: &DrawingArea<SVGBackend, Shift>,
    panel: &Panel<'_>,
    y_max: f64,
    styles: &Styles,
) -> io::Result<()> {
    let x_min = panel.xs.iter().copied().fold(f64::INFINITY, f64::min);
    let x_max = panel.xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !x_min.is_finite() || !x_max.is_finite() {
        return Ok(());
    }
    if panel.x.is_log() {
        let range = (x_min.max(1.0) * 0.7..x_max.max(1.0) * 1.4).log_scale();
        draw_panel_in(area, range, y_max, panel, styles)
    } else {
        let pad = (x_max - x_min).max(1.0) * 0.04;
        draw_panel_in(area, x_min - pad..x_max + pad, y_max, panel, styles)
    }
}

fn draw_panel_in<X>(
    area: &DrawingArea<SVGBackend, Shift>,
    x_range: X,
    y_max: f64,
    panel: &Panel<'_>,
    styles: &Styles,
) -> io::Result<()>
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FONT, TEXT_PX + 2))
        .margin(10)
        .margin_right(28)
        .x_label_area_size(56)
        .y_label_area_size(84)
        .build_cartesian_2d(x_range, 0f64..y_max)
        .map_err(chart_err)?;
    let y_thousands = y_max >= 10_000.0;
    chart
        .configure_mesh()
        .x_desc(panel.x.label())
        .y_desc(panel.metric.axis())
        .label_style((FONT, SMALL_PX))
        .axis_desc_style((FONT, SMALL_PX))
        .light_line_style(RGBColor(0xEE, 0xEE, 0xEE))
        .x_labels(8)
        .y_labels(6)
        .x_label_formatter(&|x| format_x(*x))
        .y_label_formatter(&|y| format_y(*y, y_thousands))
        .draw()
        .map_err(chart_err)?;
    let mut clipped_xs: Vec<f64> = Vec::new();
    for series in &panel.series {
        let (colour, (on, off)) = styles.of(series.row);
        let line = colour.stroke_width(2);
        for run in healthy_runs(&series.points) {
            if on == 0 {
                chart
                    .draw_series(LineSeries::new(run, line))
                    .map_err(chart_err)?;
            } else {
                chart
                    .draw_series(DashedLineSeries::new(run, on, off, line))
                    .map_err(chart_err)?;
            }
        }
        for p in &series.points {
            draw_point(&mut chart, p, colour, y_max, &mut clipped_xs)?;
        }
    }
    Ok(())
}

/// A healthy point: a dot at the median and a whisker from min to max; a failed one: ✗. A failed
/// point above the axis is drawn at its top with its value, one step lower for each such point
/// already drawn at the same x (`clipped_xs`, the panel's), so that labels do not overprint.
fn draw_point<X>(
    chart: &mut ChartContext<
        '_,
        SVGBackend,
        Cartesian2d<X, plotters::coord::types::RangedCoordf64>,
    >,
    p: &Point,
    colour: RGBColor,
    y_max: f64,
    clipped_xs: &mut Vec<f64>,
) -> io::Result<()>
where
    X: Ranged<ValueType = f64>,
{
    if p.failed {
        let clipped = p.median > y_max;
        let y = if clipped {
            let stack = clipped_xs.iter().filter(|&&x| x == p.x).count();
            clipped_xs.push(p.x);
            y_max * (0.96 - 0.09 * stack as f64)
        } else {
            p.median
        };
        chart
            .draw_series(once(Cross::new((p.x, y), 7, colour.stroke_width(3))))
            .map_err(chart_err)?;
        if clipped {
            chart
                .draw_series(once(
                    EmptyElement::at((p.x, y))
                        + Text::new(
                            format!("↑ {}", format_y(p.median, p.median >= 10_000.0)),
                            (-48, 6),
                            (FONT, SMALL_PX).into_font().color(&colour),
                        ),
                ))
                .map_err(chart_err)?;
        }
        return Ok(());
    }
    let whisker = colour.stroke_width(1);
    chart
        .draw_series(once(PathElement::new(
            vec![(p.x, p.min), (p.x, p.max)],
            whisker,
        )))
        .map_err(chart_err)?;
    for end in [p.min, p.max] {
        chart
            .draw_series(once(
                EmptyElement::at((p.x, end)) + PathElement::new(vec![(-5, 0), (5, 0)], whisker),
            ))
            .map_err(chart_err)?;
    }
    chart
        .draw_series(once(Circle::new((p.x, p.median), 4, colour.filled())))
        .map_err(chart_err)?;
    Ok(())
}

fn draw_legend(area: &DrawingArea<SVGBackend, Shift>, styles: &Styles) -> io::Result<()> {
    let column_px = (WIDTH as i32 - 40) / LEGEND_COLUMNS as i32;
    for (i, (label, colour, (on, off))) in styles.entries().iter().enumerate() {
        let x = 20 + (i % LEGEND_COLUMNS) as i32 * column_px;
        let y = 14 + (i / LEGEND_COLUMNS) as i32 * LEGEND_LINE_PX as i32;
        let style = colour.stroke_width(3);
        if *on == 0 {
            area.draw(&PathElement::new(vec![(x, y), (x + 44, y)], style))
                .map_err(chart_err)?;
        } else {
            let mut start = x;
            while start < x + 44 {
                let end = (start + *on as i32).min(x + 44);
                area.draw(&PathElement::new(vec![(start, y), (end, y)], style))
                    .map_err(chart_err)?;
                start = end + *off as i32;
            }
        }
        area.draw(&Circle::new((x + 22, y), 4, colour.filled()))
            .map_err(chart_err)?;
        area.draw(&Text::new(
            short_label(label),
            (x + 54, y - 9),
            (FONT, TEXT_PX),
        ))
        .map_err(chart_err)?;
    }
    Ok(())
}

/// "server-epoll single-level" → "epoll single-level": the legend has no room for the prefix.
pub(crate) fn short_label(label: &str) -> String {
    label.strip_prefix("server-").unwrap_or(label).to_string()
}

fn format_x(x: f64) -> String {
    if x < 0.0 {
        String::new()
    } else if x >= 1000.0 && (x / 1000.0).fract() == 0.0 {
        format!("{}k", x / 1000.0)
    } else {
        format!("{x:.0}")
    }
}

fn format_y(y: f64, thousands: bool) -> String {
    if thousands {
        format!("{:.0}k", y / 1000.0)
    } else if y < 10.0 && y.fract() != 0.0 {
        format!("{y:.1}")
    } else {
        format!("{y:.0}")
    }
}
