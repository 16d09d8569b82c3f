//! How a chart looks: one colour per model (server crate), one dash per mode, type sizes that
//! survive a slide (≥ 14 px at 1,100 px wide), and the caption every chart carries.

use plotters::style::RGBColor;

use crate::results::{Results, cpu_list_text};

/// Width of every chart, in pixels.
pub(super) const WIDTH: u32 = 1100;
/// Sizes of type, in pixels.
pub(super) const TITLE_PX: u32 = 24;
pub(super) const TEXT_PX: u32 = 16;
pub(super) const SMALL_PX: u32 = 14;
pub(super) const FONT: &str = "sans-serif";

/// The colour of a model. Dark enough to read as a 2-px line on white (no pastel), and
/// distinguishable with the common colour-vision deficiencies (after Okabe & Ito, and Tol).
pub(super) fn model_colour(server: &str) -> RGBColor {
    match server {
        "server-blocking" => RGBColor(0x00, 0x72, 0xB2), // blue
        "server-nonblocking" => RGBColor(0xC2, 0x7C, 0x00), // dark orange
        "server-select" => RGBColor(0x00, 0x9E, 0x73),   // bluish green
        "server-poll" => RGBColor(0xAA, 0x44, 0x99),     // purple
        "server-epoll" => RGBColor(0xD5, 0x5E, 0x00),    // vermillion
        "server-sigio" => RGBColor(0x88, 0x22, 0x55),    // wine
        "server-aio" => RGBColor(0x33, 0x22, 0x88),      // indigo
        "server-uring" => RGBColor(0x11, 0x11, 0x11),    // black
        "nginx" => RGBColor(0x88, 0x88, 0x88),           // grey: the reference
        _ => RGBColor(0x66, 0x33, 0x00),
    }
}

/// Dash patterns (dash length, gap) in pixels; index 0 is a solid line.
pub(super) const DASHES: [(u32, u32); 6] = [(0, 0), (12, 6), (3, 5), (24, 10), (6, 12), (1, 8)];

/// The dash of a mode: its position among the modes of the same server in one chart.
pub(super) fn dash(mode_index: usize) -> (u32, u32) {
    DASHES[mode_index % DASHES.len()]
}

/// The line under every chart's title: where and when it was measured. `server_on_all`: the
/// chart shows the work groups only, whose server ran on every CPU of the run.
pub(super) fn caption(results: &Results, server_on_all: bool) -> String {
    let m = &results.machine;
    let s = &results.settings;
    let date = results.started.get(..10).unwrap_or(&results.started);
    let server = if server_on_all {
        let mut all: Vec<usize> = s.server_cpus.iter().chain(&s.load_cpus).copied().collect();
        all.sort_unstable();
        all.dedup();
        format!("server on every CPU ({})", cpu_list_text(&all))
    } else {
        format!("server on CPU {}", cpu_list_text(&s.server_cpus))
    };
    format!(
        "{date} · {} ({} CPUs) · {server} · load generator on CPU {}",
        m.cpu_model,
        m.cpus,
        cpu_list_text(&s.load_cpus),
    )
}

/// The second line of a line chart: how a point was made, and what ✗ means.
pub(super) fn line_note(results: &Results) -> String {
    let n = results.settings.repeats;
    format!(
        "dot: median of {n} run{} (whisker: min–max) · ✗: failed cell (errors, idle connections \
         not all open, or the fixed rate not sustained): not a result",
        if n == 1 { "" } else { "s" }
    )
}
