//! `harness agree A/results.json B/results.json`: how well two runs of the matrix agree, cell by
//! cell (median against median). The gate is on the cost metrics — server CPU per request, and
//! syscalls per request (one figure per row) — which should not depend on how fast the load
//! generator was; requests/s and p99 are reported beside them, not gated, because on a shared
//! machine they move with every neighbour. The A/A row's spread is the noise floor of each run.

use std::fmt::Write as _;

use crate::results::{CONTROL, CONTROL_COPY, Cell, Results, Row};

/// Two medians agree when they differ by at most this share of their mean.
pub const TOLERANCE: f64 = 0.10;
/// The share of compared cells that must agree, per gated metric.
pub const GATE: f64 = 0.90;

/// One compared figure: where it is, and the two medians.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    pub row: String,
    pub cell: String,
    pub a: f64,
    pub b: f64,
}

impl Pair {
    /// |a − b| / mean(a, b); 0 when both are 0.
    pub fn difference(&self) -> f64 {
        let mean = (self.a + self.b) / 2.0;
        if mean == 0.0 {
            0.0
        } else {
            (self.a - self.b).abs() / mean
        }
    }

    pub fn agrees(&self) -> bool {
        self.difference() <= TOLERANCE
    }
}

/// One metric over every cell both runs measured without failure.
#[derive(Debug, Clone)]
pub struct MetricAgreement {
    pub name: &'static str,
    pub gated: bool,
    pub pairs: Vec<Pair>,
}

impl MetricAgreement {
    pub fn agreeing(&self) -> usize {
        self.pairs.iter().filter(|p| p.agrees()).count()
    }

    /// The agreeing share; 1 when nothing was compared.
    pub fn share(&self) -> f64 {
        if self.pairs.is_empty() {
            1.0
        } else {
            self.agreeing() as f64 / self.pairs.len() as f64
        }
    }

    pub fn passes(&self) -> bool {
        !self.gated || (!self.pairs.is_empty() && self.share() >= GATE)
    }
}

/// A cell that can be compared: measured, no errors, every run with the figure.
fn healthy(cell: &Cell) -> bool {
    cell.na.is_none() && cell.load.is_some() && cell.errors() == 0
}

/// Per-cell pairs of `figure` over the rows and scenarios both runs have.
fn cell_pairs(a: &Results, b: &Results, figure: impl Fn(&Cell) -> Option<f64>) -> Vec<Pair> {
    let mut pairs = Vec::new();
    for row_a in &a.rows {
        let Some(row_b) = same_row(b, row_a) else {
            continue;
        };
        for (id, cell_a) in &row_a.cells {
            let Some(cell_b) = row_b.cells.get(id) else {
                continue;
            };
            if !(healthy(cell_a) && healthy(cell_b)) {
                continue;
            }
            if let (Some(x), Some(y)) = (figure(cell_a), figure(cell_b)) {
                pairs.push(Pair {
                    row: row_a.label(),
                    cell: id.clone(),
                    a: x,
                    b: y,
                });
            }
        }
    }
    pairs
}

fn same_row<'a>(results: &'a Results, row: &Row) -> Option<&'a Row> {
    results
        .rows
        .iter()
        .find(|r| r.server == row.server && r.mode == row.mode)
}

/// Syscalls per request: one figure per row (its separate `strace -c` run).
fn syscall_pairs(a: &Results, b: &Results) -> Vec<Pair> {
    a.rows
        .iter()
        .filter_map(|row_a| {
            let row_b = same_row(b, row_a)?;
            let (Ok(x), Ok(y)) = (&row_a.syscalls, &row_b.syscalls) else {
                return None;
            };
            Some(Pair {
                row: row_a.label(),
                cell: "syscalls per request".into(),
                a: x.total_per_request,
                b: y.total_per_request,
            })
        })
        .collect()
}

/// Every metric, gated ones first.
pub fn compare(a: &Results, b: &Results) -> Vec<MetricAgreement> {
    vec![
        MetricAgreement {
            name: "server CPU per request",
            gated: true,
            pairs: cell_pairs(a, b, |c| c.cpu_ms_per_1k_requests.map(|s| s.median)),
        },
        MetricAgreement {
            name: "syscalls per request",
            gated: true,
            pairs: syscall_pairs(a, b),
        },
        MetricAgreement {
            name: "requests/s",
            gated: false,
            pairs: cell_pairs(a, b, |c| c.requests_per_sec.map(|s| s.median)),
        },
        MetricAgreement {
            name: "p99 latency",
            gated: false,
            pairs: cell_pairs(a, b, |c| c.p99_us.map(|s| s.median)),
        },
    ]
}

/// The A/A control of one run: for each cell, how far the two copies of the same server differ
/// in requests/s and CPU per request; returns (largest req/s difference, largest CPU
/// difference, cells compared).
pub fn control_spread(results: &Results) -> Option<(f64, f64, usize)> {
    let original = results
        .rows
        .iter()
        .find(|r| (r.server.as_str(), r.mode.as_str()) == CONTROL)?;
    let copy = results
        .rows
        .iter()
        .find(|r| r.server == CONTROL.0 && r.mode == CONTROL_COPY)?;
    let mut worst = (0.0f64, 0.0f64, 0usize);
    for (id, a) in &original.cells {
        let Some(b) = copy.cells.get(id) else {
            continue;
        };
        if !(healthy(a) && healthy(b)) {
            continue;
        }
        let diff = |x: Option<f64>, y: Option<f64>| match (x, y) {
            (Some(x), Some(y)) => Pair {
                row: String::new(),
                cell: String::new(),
                a: x,
                b: y,
            }
            .difference(),
            _ => 0.0,
        };
        worst.0 = worst.0.max(diff(
            a.requests_per_sec.map(|s| s.median),
            b.requests_per_sec.map(|s| s.median),
        ));
        worst.1 = worst.1.max(diff(
            a.cpu_ms_per_1k_requests.map(|s| s.median),
            b.cpu_ms_per_1k_requests.map(|s| s.median),
        ));
        worst.2 += 1;
    }
    Some(worst)
}

/// The report, in Markdown: one line per metric, the A/A spreads, and every cell of a gated
/// metric that did not agree.
pub fn report(a_name: &str, a: &Results, b_name: &str, b: &Results) -> (String, bool) {
    let metrics = compare(a, b);
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Agreement of two runs\n\n`{a_name}` against `{b_name}`: median against median, per \
         cell both runs measured without errors. Two figures agree when they differ by at most \
         {:.0} % of their mean. Gated (at least {:.0} % of cells must agree): the cost metrics, \
         server CPU per request and syscalls per request. Reported only: requests/s and p99.\n",
        TOLERANCE * 100.0,
        GATE * 100.0
    );
    let _ = writeln!(md, "| metric | cells compared | agree | share | gated |");
    let _ = writeln!(md, "|---|--:|--:|--:|---|");
    for m in &metrics {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0} % | {} |",
            m.name,
            m.pairs.len(),
            m.agreeing(),
            m.share() * 100.0,
            match (m.gated, m.passes()) {
                (false, _) => "no",
                (true, true) => "yes: passes",
                (true, false) => "yes: FAILS",
            }
        );
    }
    let _ = writeln!(md);
    for (name, run) in [(a_name, a), (b_name, b)] {
        if let Some((rps, cpu, n)) = control_spread(run) {
            let _ = writeln!(
                md,
                "A/A control of `{name}` ({} and its copy, {n} cells): at most {:.0} % apart in \
                 requests/s and {:.0} % in CPU per request.\n",
                CONTROL.1,
                rps * 100.0,
                cpu * 100.0
            );
        }
    }
    for m in metrics.iter().filter(|m| m.gated) {
        let mut off: Vec<&Pair> = m.pairs.iter().filter(|p| !p.agrees()).collect();
        if off.is_empty() {
            continue;
        }
        off.sort_by(|x, y| y.difference().total_cmp(&x.difference()));
        let _ = writeln!(
            md,
            "## {}: the cells that did not agree\n\n| row | cell | {a_name} | {b_name} | apart |\n\
             |---|---|--:|--:|--:|",
            m.name
        );
        for p in off {
            let _ = writeln!(
                md,
                "| {} | {} | {:.2} | {:.2} | {:.0} % |",
                p.row,
                p.cell,
                p.a,
                p.b,
                p.difference() * 100.0
            );
        }
        let _ = writeln!(md);
    }
    let pass = metrics.iter().all(MetricAgreement::passes);
    (md, pass)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(a: f64, b: f64) -> Pair {
        Pair {
            row: "r".into(),
            cell: "c".into(),
            a,
            b,
        }
    }

    #[test]
    fn agreement_is_relative_to_the_mean() {
        assert!(pair(100.0, 109.0).agrees());
        assert!(!pair(100.0, 112.0).agrees());
        assert!(pair(0.0, 0.0).agrees());
        assert!((pair(90.0, 110.0).difference() - 0.2).abs() < 1e-9);
    }

    #[test]
    fn a_gated_metric_needs_ninety_percent_and_at_least_one_cell() {
        let mut m = MetricAgreement {
            name: "x",
            gated: true,
            pairs: vec![],
        };
        assert!(!m.passes(), "nothing compared is not a pass");
        m.pairs = (0..10).map(|_| pair(1.0, 1.0)).collect();
        m.pairs[0] = pair(1.0, 2.0);
        assert_eq!(m.agreeing(), 9);
        assert!(m.passes());
        m.pairs[1] = pair(1.0, 2.0);
        assert!(!m.passes());
        m.gated = false;
        assert!(m.passes(), "an ungated metric is reported, never failed");
    }
}
