//! `harness agree A/results.json B/results.json`: how well two runs of the matrix agree, cell by
//! cell (median against median). The gate is on the cost metrics — server CPU per request, and
//! syscalls per request (one figure per row) — which should not depend on how fast the load
//! generator was; requests/s and p99 are reported beside them, not gated, because on a shared
//! machine they move with every neighbour. The A/A row's spread is the noise floor of each run.

use std::fmt::Write as _;

use crate::results::{CONTROL, CONTROL_COPY, Cell, Results, Row, Run, STEAL_REMEASURE, Spread};

/// Two medians agree when they differ by at most this share of their mean.
pub const TOLERANCE: f64 = 0.10;
/// The share of compared cells that must agree, per gated metric.
pub const GATE: f64 = 0.90;

/// Fewer requests than this in a run: a response still in flight when the window closes (its
/// CPU counted, the request not) moves CPU per request by a visible share.
pub const FEW_REQUESTS: u64 = 1_000;

/// One compared figure: where it is, the two medians, and what each run says about its own
/// noise (per-cell metrics only).
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    pub row: String,
    pub cell: String,
    pub a: f64,
    pub b: f64,
    pub noise: Option<Noise>,
}

/// What the runs of a cell say about its noise, in both runs together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    /// The largest steal share any run saw, on the server's or the load generator's CPUs.
    pub max_steal: f64,
    /// The fewest requests any run completed.
    pub min_requests: u64,
    /// (max − min) / median of the figure over the runs of cell A, and of cell B.
    pub spread_a: f64,
    pub spread_b: f64,
    /// The machine-speed probe (the reference server's CPU µs per request, measured just before
    /// each run; `compare/speed.rs`), median over the runs of cell A, and of cell B.
    pub probe_a: Option<f64>,
    pub probe_b: Option<f64>,
}

/// Why two medians did not agree, as far as the runs can tell; the first that applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// A run saw steal of at least [`STEAL_REMEASURE`].
    Steal,
    /// A run completed fewer than [`FEW_REQUESTS`] requests.
    FewRequests,
    /// The runs inside one run already spread by more than twice the tolerance.
    NoisyCell,
    /// Each run steady, the medians apart in the direction the whole run moved.
    RunWideShift,
    /// Each run steady, the medians apart against the direction the whole run moved.
    Steady,
}

impl Reason {
    pub fn describe(self) -> &'static str {
        match self {
            Reason::Steal => "steal: a run lost at least 5 % of a CPU to other guests",
            Reason::FewRequests => {
                "few requests: fewer than 1,000 per run, so the responses still in flight at \
                 the end of the window weigh"
            }
            Reason::NoisyCell => "noisy cell: its own runs spread by more than 20 % in one run",
            Reason::RunWideShift => {
                "run-wide shift: each run steady, apart in the direction the whole run moved"
            }
            Reason::Steady => "each run steady, apart against the run-wide direction",
        }
    }
}

impl Pair {
    /// Why this pair disagrees (`None` for a figure without runs, such as syscalls per
    /// request); `shift` is the run-wide ratio b/a ([`run_wide_ratio`]).
    pub fn reason(&self, shift: f64) -> Option<Reason> {
        let noise = self.noise?;
        Some(if noise.max_steal >= STEAL_REMEASURE {
            Reason::Steal
        } else if noise.min_requests < FEW_REQUESTS {
            Reason::FewRequests
        } else if noise.spread_a.max(noise.spread_b) > 2.0 * TOLERANCE {
            Reason::NoisyCell
        } else if (self.b >= self.a) == (shift >= 1.0) {
            Reason::RunWideShift
        } else {
            Reason::Steady
        })
    }
}

/// How closely a run's `figure` followed the probe taken just before it, inside the cells of one
/// run: the Pearson correlation of each run's log deviation from its cell's median, figure
/// against probe, over every run of every healthy cell with both (None below 10 such runs).
/// Returns (correlation, runs).
pub fn probe_correlation(
    results: &Results,
    figure: impl Fn(&Run) -> Option<f64>,
) -> Option<(f64, usize)> {
    let mut deviations = Vec::new();
    for cell in results.rows.iter().flat_map(|r| r.cells.values()) {
        if !healthy(cell) {
            continue;
        }
        let points: Vec<(f64, f64)> = cell
            .runs
            .iter()
            .filter_map(|r| Some((r.probe_cpu_us_per_request?, figure(r)?)))
            .filter(|&(p, f)| p > 0.0 && f > 0.0)
            .collect();
        if points.len() < 2 {
            continue;
        }
        let probe = Spread::of(points.iter().map(|p| p.0))?.median;
        let value = Spread::of(points.iter().map(|p| p.1))?.median;
        deviations.extend(
            points
                .iter()
                .map(|(p, f)| ((p / probe).ln(), (f / value).ln())),
        );
    }
    (deviations.len() >= 10).then(|| (pearson(&deviations), deviations.len()))
}

/// The Pearson correlation of the points (0 when either coordinate never varies).
fn pearson(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut xy, mut xx, mut yy) = (0.0, 0.0, 0.0);
    for (x, y) in points {
        let (dx, dy) = (x - mean_x, y - mean_y);
        xy += dx * dy;
        xx += dx * dx;
        yy += dy * dy;
    }
    if xx == 0.0 || yy == 0.0 {
        0.0
    } else {
        xy / (xx * yy).sqrt()
    }
}

/// The median ratio b/a over the pairs: how much the whole second run moved (1 when empty).
pub fn run_wide_ratio(pairs: &[Pair]) -> f64 {
    let mut ratios: Vec<f64> = pairs
        .iter()
        .filter(|p| p.a > 0.0 && p.b > 0.0)
        .map(|p| p.b / p.a)
        .collect();
    if ratios.is_empty() {
        return 1.0;
    }
    ratios.sort_by(f64::total_cmp);
    let n = ratios.len();
    if n % 2 == 1 {
        ratios[n / 2]
    } else {
        (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0
    }
}

/// |a − b| / mean(a, b); 0 when both are 0.
fn relative_difference(a: f64, b: f64) -> f64 {
    let mean = (a + b) / 2.0;
    if mean == 0.0 {
        0.0
    } else {
        (a - b).abs() / mean
    }
}

impl Pair {
    /// |a − b| / mean(a, b); 0 when both are 0.
    pub fn difference(&self) -> f64 {
        relative_difference(self.a, self.b)
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

/// What the runs of cells `a` and `b` say about their noise; `spread` reads a cell's spread of
/// the compared figure.
fn noise(a: &Cell, b: &Cell, spread: &impl Fn(&Cell) -> Option<Spread>) -> Noise {
    let runs = a.runs.iter().chain(&b.runs);
    let max_steal = runs.clone().map(Run::max_steal).fold(0.0, f64::max);
    let min_requests = runs.map(|r| r.load.requests).min().unwrap_or(0);
    let width = |cell: &Cell| {
        spread(cell)
            .filter(|s| s.median > 0.0)
            .map_or(0.0, |s| (s.max - s.min) / s.median)
    };
    Noise {
        max_steal,
        min_requests,
        spread_a: width(a),
        spread_b: width(b),
        probe_a: cell_probe(a),
        probe_b: cell_probe(b),
    }
}

/// The median of the machine-speed probe over a cell's runs (None without probe figures).
fn cell_probe(cell: &Cell) -> Option<f64> {
    Spread::of(cell.runs.iter().filter_map(|r| r.probe_cpu_us_per_request)).map(|s| s.median)
}

/// How many pairs agree once each cell's figure is scaled to one machine speed: times the
/// probe's median over every compared cell of both runs, divided by the probe's median over the
/// cell's own runs (a pair without probe figures is taken as it is). None when no pair has them.
pub fn speed_corrected_agreement(pairs: &[Pair]) -> Option<usize> {
    let probes = pairs
        .iter()
        .filter_map(|p| p.noise)
        .flat_map(|n| [n.probe_a, n.probe_b])
        .flatten();
    let reference = Spread::of(probes)?.median;
    let agreeing =
        pairs.iter().filter(
            |p| match p.noise.and_then(|n| Some((n.probe_a?, n.probe_b?))) {
                Some((pa, pb)) if pa > 0.0 && pb > 0.0 => {
                    relative_difference(p.a * reference / pa, p.b * reference / pb) <= TOLERANCE
                }
                _ => p.agrees(),
            },
        );
    Some(agreeing.count())
}

/// How many runs per cell the gate would take, estimated from the pair itself. A cell's figure is
/// the median of its `repeats` runs, and a median of R runs scatters as 1/√R; so the cell whose
/// difference sits at the gate's quantile (the 90th percentile of |ln(b/a)| over the pairs)
/// would agree once R reaches repeats × (difference / tolerance)². Returns `repeats` when the
/// gate already holds, None without pairs, infinity when a figure at the quantile is 0 in one run
/// only. A low estimate, for two reasons: the 1/√R law holds for large R, and for normal noise
/// the median of 3 scatters 17 % less (in variance) than the law gives it, so scaling from 3
/// shrinks the noise too fast; and a shift between the runs does not shrink with repeats.
pub fn repeats_needed(pairs: &[Pair], repeats: usize) -> Option<f64> {
    // |a − b| / mean(a, b) ≤ TOLERANCE is |ln(a / b)| ≤ this.
    let tolerance = ((1.0 + TOLERANCE / 2.0) / (1.0 - TOLERANCE / 2.0)).ln();
    let mut apart: Vec<f64> = pairs
        .iter()
        .map(|p| match (p.a, p.b) {
            (a, b) if a == b => 0.0,
            (a, b) if a > 0.0 && b > 0.0 => (b / a).ln().abs(),
            _ => f64::INFINITY,
        })
        .collect();
    if apart.is_empty() || repeats == 0 {
        return None;
    }
    apart.sort_by(f64::total_cmp);
    let at_gate = apart[(GATE * apart.len() as f64).ceil() as usize - 1];
    let needed = repeats as f64 * (at_gate / tolerance).powi(2);
    Some(needed.max(repeats as f64))
}

/// Per-cell pairs of the median of `spread` over the rows and scenarios both runs have.
fn cell_pairs(a: &Results, b: &Results, spread: impl Fn(&Cell) -> Option<Spread>) -> Vec<Pair> {
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
            if let (Some(x), Some(y)) = (spread(cell_a), spread(cell_b)) {
                pairs.push(Pair {
                    row: row_a.label(),
                    cell: id.clone(),
                    a: x.median,
                    b: y.median,
                    noise: Some(noise(cell_a, cell_b, &spread)),
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
                noise: None,
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
            pairs: cell_pairs(a, b, |c| c.cpu_ms_per_1k_requests),
        },
        MetricAgreement {
            name: "syscalls per request",
            gated: true,
            pairs: syscall_pairs(a, b),
        },
        MetricAgreement {
            name: "requests/s",
            gated: false,
            pairs: cell_pairs(a, b, |c| c.requests_per_sec),
        },
        MetricAgreement {
            name: "p99 latency",
            gated: false,
            pairs: cell_pairs(a, b, |c| c.p99_us),
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
            (Some(x), Some(y)) => relative_difference(x, y),
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
        disagreements(&mut md, m, (a_name, a), (b_name, b));
    }
    let pass = metrics.iter().all(MetricAgreement::passes);
    (md, pass)
}

/// The part of the report for one gated metric: how the whole run moved, agreement by scenario
/// group, why the cells that did not agree did not, and every such cell with its reason.
fn disagreements(
    md: &mut String,
    m: &MetricAgreement,
    (a_name, a): (&str, &Results),
    (b_name, b): (&str, &Results),
) {
    let off: Vec<&Pair> = m.pairs.iter().filter(|p| !p.agrees()).collect();
    if off.is_empty() {
        return;
    }
    let _ = writeln!(md, "## {}: where the runs differ\n", m.name);
    let shift = run_wide_ratio(&m.pairs);
    if m.pairs.iter().any(|p| p.noise.is_some()) {
        let rescaled = m
            .pairs
            .iter()
            .filter(|p| relative_difference(p.a, p.b / shift) <= TOLERANCE)
            .count();
        let _ = writeln!(
            md,
            "**The whole run moved.** Cell by cell, `{b_name}` measured {:.0} % of `{a_name}` \
             (the median ratio over {} cells). Divide every figure of `{b_name}` by that ratio \
             and {} cells ({:.0} %) agree: that share of the disagreement is the machine \
             changing between the runs, not the cells. (An explanation, not the gate.)\n",
            shift * 100.0,
            m.pairs.len(),
            rescaled,
            rescaled as f64 * 100.0 / m.pairs.len() as f64
        );
        machine_speed(md, m, (a_name, a), (b_name, b));
        repeats(md, m, a, b);
        by_group(md, m, a);
        let mut counts = std::collections::BTreeMap::new();
        for p in &off {
            if let Some(r) = p.reason(shift) {
                *counts.entry(r).or_insert(0usize) += 1;
            }
        }
        let _ = writeln!(md, "| why the cell did not agree | cells |\n|---|--:|");
        for (reason, n) in counts {
            let _ = writeln!(md, "| {} | {n} |", reason.describe());
        }
        let _ = writeln!(md);
    }
    let mut off = off;
    off.sort_by(|x, y| y.difference().total_cmp(&x.difference()));
    let _ = writeln!(
        md,
        "### The cells that did not agree\n\n| row | cell | {a_name} | {b_name} | apart | why |\n\
         |---|---|--:|--:|--:|---|"
    );
    for p in off {
        let why = match (p.reason(shift), p.noise) {
            (Some(Reason::Steal), Some(n)) => format!("steal {:.0} %", n.max_steal * 100.0),
            (Some(Reason::FewRequests), Some(n)) => format!("{} requests in a run", n.min_requests),
            (Some(Reason::NoisyCell), Some(n)) => format!(
                "runs spread {:.0} % / {:.0} %",
                n.spread_a * 100.0,
                n.spread_b * 100.0
            ),
            (Some(Reason::RunWideShift), _) => "run-wide shift".to_string(),
            (Some(Reason::Steady), _) => "steady runs, apart".to_string(),
            _ => String::new(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {:.2} | {:.2} | {:.0} % | {why} |",
            p.row,
            p.cell,
            p.a,
            p.b,
            p.difference() * 100.0
        );
    }
    let _ = writeln!(md);
}

/// The part on the machine-speed probe: how closely the runs' CPU per request followed it, and
/// how many cells agree once scaled by it (nothing for runs without the probe).
fn machine_speed(
    md: &mut String,
    m: &MetricAgreement,
    (a_name, a): (&str, &Results),
    (b_name, b): (&str, &Results),
) {
    let cpu = |r: &Run| r.server.as_ref()?.cpu_ms_per_1k_requests;
    if let (Some((ca, n)), Some((cb, _))) = (probe_correlation(a, cpu), probe_correlation(b, cpu)) {
        let _ = writeln!(
            md,
            "**The machine's speed.** Before each run the harness timed one fixed task (one \
             keep-alive client against the reference server, `compare/speed.rs`). Inside the \
             cells, a run's CPU per request followed that probe: correlation {ca:.2} in \
             `{a_name}` ({n} runs) and {cb:.2} in `{b_name}` (each run's deviation from its \
             cell's median, on a log scale, against the probe's).\n"
        );
    }
    if let Some(corrected) = speed_corrected_agreement(&m.pairs) {
        let gained = corrected.saturating_sub(m.agreeing());
        let verdict = if gained > m.pairs.len() / 50 {
            format!("{gained} more than unscaled, cells the machine's speed kept apart")
        } else {
            "no more than unscaled: the machine's speed, as the probe saw it, is not what \
             kept the other cells apart"
                .to_string()
        };
        let _ = writeln!(
            md,
            "Scale each cell's figure by how fast the probe found the machine during the \
             cell's runs and {} cells ({:.0} %) agree, {verdict}. (An explanation, not the \
             gate: the probe is one task, and a busy host does not slow every kind of work \
             alike.)\n",
            corrected,
            corrected as f64 * 100.0 / m.pairs.len() as f64
        );
    }
}

/// The part on repeats: how many runs per cell the gate would take ([`repeats_needed`]), and
/// how long a full run with that many would last on this machine.
fn repeats(md: &mut String, m: &MetricAgreement, a: &Results, b: &Results) {
    let runs = a.settings.repeats.min(b.settings.repeats);
    let Some(needed) = repeats_needed(&m.pairs, runs) else {
        return;
    };
    let _ = write!(
        md,
        "**How many repeats the gate would take.** A cell's figure is the median of its {runs} \
         {}, and the median of R runs scatters as 1/√R. ",
        if runs == 1 { "run" } else { "runs" }
    );
    if needed <= runs as f64 {
        let _ = writeln!(md, "These runs are enough.\n");
        return;
    }
    if !needed.is_finite() {
        let _ = writeln!(
            md,
            "A cell at the gate's quantile measured 0 in one run only: no number of repeats \
             brings it within the tolerance.\n"
        );
        return;
    }
    let needed = needed.ceil();
    let wall = a.wall_seconds.max(b.wall_seconds);
    let hours = wall * needed / runs as f64 / 3600.0;
    let _ = writeln!(
        md,
        "With R runs per cell, a difference between the two runs would shrink by √({runs}/R); \
         shrunk that way, {:.0} % of the cells would agree from R = {needed:.0} on. A full run \
         with {needed:.0} repeats would take about {hours:.1} h on this machine; this one took \
         {:.0} min. A low estimate: the law holds for large R, and a shift between the runs \
         does not shrink with repeats.\n",
        GATE * 100.0,
        wall / 60.0
    );
}

/// Agreement per scenario group (keep-alive, idle, rate, …): which kinds of cell reproduce.
fn by_group(md: &mut String, m: &MetricAgreement, a: &Results) {
    let mut groups: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
    for p in &m.pairs {
        let group = a
            .scenarios
            .iter()
            .find(|s| s.id == p.cell)
            .map_or("other", |s| s.group.as_str());
        let entry = groups.entry(group).or_default();
        entry.0 += 1;
        entry.1 += usize::from(p.agrees());
    }
    let _ = writeln!(
        md,
        "| scenario group | cells | agree | share |\n|---|--:|--:|--:|"
    );
    for (group, (n, ok)) in groups {
        let _ = writeln!(
            md,
            "| {group} | {n} | {ok} | {:.0} % |",
            ok as f64 * 100.0 / n as f64
        );
    }
    let _ = writeln!(md);
}

#[cfg(test)]
mod tests;
