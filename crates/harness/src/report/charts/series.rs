//! What a chart plots, taken from the results: one series per row (server and mode), one point
//! per scenario, each point the median of the repeats with their min and max, and a flag for a
//! failed cell. No drawing here, so that the chart inputs can be tested.

use super::super::markdown::shortfall;
use crate::results::{Cell, Results, Row, Scenario, Spread};

/// What the y axis shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Metric {
    /// Requests per second.
    Throughput,
    /// Server CPU time per request, µs (user + system).
    CpuPerRequest,
    /// Peak resident memory of the server, MiB.
    Rss,
    /// Threads of the server.
    Threads,
    /// Requests waiting in their logic at once (`/block`): requests per second × the time each
    /// one waits (Little's law). 1 for one thread that does one at a time, N for a pool of N.
    Waiting,
    /// CPUs busy with the requests' logic (`/cpu`): requests per second × the CPU time each one
    /// computes. It cannot pass the CPUs the server's threads may use.
    Computing,
}

impl Metric {
    pub(crate) fn axis(self) -> &'static str {
        match self {
            Metric::Throughput => "requests/s",
            Metric::CpuPerRequest => "server CPU µs per request",
            Metric::Rss => "peak RSS, MiB",
            Metric::Threads => "threads",
            Metric::Waiting => "requests waiting at once (req/s × wait)",
            Metric::Computing => "CPUs busy with the logic (req/s × CPU time)",
        }
    }

    /// The metric over the repeats of `cell`; `None` when the cell has no such figure.
    pub(crate) fn spread(self, cell: &Cell) -> Option<Spread> {
        let servers = || cell.runs.iter().filter_map(|r| r.server.as_ref());
        match self {
            Metric::Throughput => cell.requests_per_sec,
            // ms per 1,000 requests is µs per request.
            Metric::CpuPerRequest => cell.cpu_ms_per_1k_requests,
            Metric::Rss => Spread::of(servers().map(|s| s.peak_rss_kib as f64 / 1024.0)),
            Metric::Threads => Spread::of(servers().map(|s| s.threads as f64)),
            // Scaled by the work per request in `points`, which knows the scenario.
            Metric::Waiting | Metric::Computing => cell.requests_per_sec,
        }
    }
}

/// What the x axis shows: the scenario parameter that varies within a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum XAxis {
    /// Active clients (keep-alive group; a log axis).
    Clients,
    /// Idle connections held open beside the load (a linear axis: 0 is a point of its own).
    Idle,
    /// Milliseconds each request's logic blocks (`/block/MS`; a log axis).
    BlockMs,
    /// Microseconds of CPU each request's logic computes (`/cpu/US`; a log axis).
    CpuUs,
}

impl XAxis {
    pub(crate) fn of(self, s: &Scenario) -> f64 {
        match self {
            XAxis::Clients => s.clients as f64,
            XAxis::Idle => s.idle as f64,
            XAxis::BlockMs | XAxis::CpuUs => s.work_amount(),
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            XAxis::Clients => "active keep-alive clients (log scale)",
            XAxis::Idle => "idle connections",
            XAxis::BlockMs => "ms each request blocks (log scale)",
            XAxis::CpuUs => "µs of CPU each request computes (log scale)",
        }
    }

    pub(crate) fn is_log(self) -> bool {
        self != XAxis::Idle
    }

    /// Seconds of one unit of this axis (the work axes: ms and µs), for [`Metric::Waiting`] and
    /// [`Metric::Computing`].
    fn seconds_per_unit(self) -> f64 {
        match self {
            XAxis::BlockMs => 1e-3,
            XAxis::CpuUs => 1e-6,
            XAxis::Clients | XAxis::Idle => 0.0,
        }
    }
}

/// One point: a cell's median and the min–max of its repeats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Point {
    pub x: f64,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// Errors, idle connections not all open, or the fixed rate not sustained: drawn as ✗.
    pub failed: bool,
}

/// One row's points in one panel.
#[derive(Debug, Clone)]
pub(crate) struct Series<'a> {
    pub row: &'a Row,
    pub points: Vec<Point>,
}

/// A cell is a failure when any run had errors, or it fell short of what its title says.
pub(crate) fn failed(cell: &Cell) -> bool {
    cell.errors() > 0 || shortfall(cell).is_some()
}

/// The scenarios of `group`, in matrix order.
pub(crate) fn scenarios<'a>(results: &'a Results, group: &str) -> Vec<&'a Scenario> {
    results
        .scenarios
        .iter()
        .filter(|s| s.group == group)
        .collect()
}

/// `row`'s points over the scenarios of `group`: measured cells only (n/a cells leave a gap).
pub(crate) fn points(
    results: &Results,
    row: &Row,
    group: &str,
    x: XAxis,
    metric: Metric,
) -> Vec<Point> {
    scenarios(results, group)
        .into_iter()
        .filter_map(|s| {
            let cell = row.cells.get(&s.id)?;
            if cell.na.is_some() {
                return None;
            }
            let spread = metric.spread(cell)?;
            let scale = if matches!(metric, Metric::Waiting | Metric::Computing) {
                x.of(s) * x.seconds_per_unit()
            } else {
                1.0
            };
            Some(Point {
                x: x.of(s),
                median: spread.median * scale,
                min: spread.min * scale,
                max: spread.max * scale,
                failed: failed(cell),
            })
        })
        .collect()
}

/// The rows named by `(server, mode)` pairs, in that order, that are in the run and measured.
pub(crate) fn rows<'a>(results: &'a Results, wanted: &[(&str, &str)]) -> Vec<&'a Row> {
    wanted
        .iter()
        .filter_map(|(server, mode)| {
            results
                .rows
                .iter()
                .find(|r| r.server == *server && r.mode == *mode && r.na.is_none())
        })
        .collect()
}

/// Runs of healthy points between failed ones: the line is drawn through each run only, so that a
/// failed cell never looks like a point on a healthy curve.
pub(crate) fn healthy_runs(points: &[Point]) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for p in points {
        if p.failed {
            runs.push(Vec::new());
        } else if let Some(last) = runs.last_mut() {
            last.push((p.x, p.median));
        }
    }
    runs.retain(|r| !r.is_empty());
    runs
}
