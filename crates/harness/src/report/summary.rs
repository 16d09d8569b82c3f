//! The one-screen summary that opens results.md, generated from the numbers: what this run
//! shows (the C10K curve, the fastest keep-alive row against nginx, what a fixed rate costs,
//! syscalls per request) and how far to trust it (spread of the repeats, the A/A control, cells
//! where the load generator or another process may have set the figure).

use std::fmt::Write as _;

use super::markdown::shortfall;
use crate::results::{CONTROL, CONTROL_COPY, Cell, Results, Row, Scenario};

/// Write the summary: a heading and a short list, each line computed from `results`.
pub(super) fn summary(md: &mut String, results: &Results) {
    let lines: Vec<String> = [
        c10k_line(results),
        keepalive_line(results),
        rate_line(results),
        thread_pool_line(results),
        syscall_line(results),
        reproducibility_line(results),
    ]
    .into_iter()
    .flatten()
    .collect();
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(md, "## What this run shows\n");
    for line in lines {
        let _ = writeln!(md, "- {line}");
    }
    let _ = writeln!(md);
}

/// A measured cell without errors or shortfall: a figure that may be compared.
fn healthy<'a>(row: &'a Row, id: &str) -> Option<&'a Cell> {
    let cell = row.cells.get(id)?;
    (cell.na.is_none() && cell.load.is_some() && cell.errors() == 0 && shortfall(cell).is_none())
        .then_some(cell)
}

/// Median req/s of a healthy cell.
fn rps(row: &Row, id: &str) -> Option<f64> {
    healthy(row, id)?.requests_per_sec.map(|s| s.median)
}

/// The scenarios of `group`, in matrix order.
fn group<'a>(results: &'a Results, name: &str) -> Vec<&'a Scenario> {
    results
        .scenarios
        .iter()
        .filter(|s| s.group == name)
        .collect()
}

/// "At 9000 idle connections, server-poll keeps 12 % of its req/s without them, server-epoll
/// single-level 97 %" — the lowest and the highest share, over rows measured at both ends.
fn c10k_line(results: &Results) -> Option<String> {
    let idle = group(results, "idle");
    let (first, last) = (idle.first()?, idle.last()?);
    if first.idle != 0 || last.idle == 0 {
        return None;
    }
    let mut kept: Vec<(String, f64)> = results
        .rows
        .iter()
        .filter_map(|r| Some((r.label(), rps(r, &last.id)? / rps(r, &first.id)?)))
        .collect();
    if kept.len() < 2 {
        return None;
    }
    kept.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (low, high) = (&kept[0], &kept[kept.len() - 1]);
    let failed = results
        .rows
        .iter()
        .filter(|r| r.cells.get(&last.id).is_some_and(|c| c.na.is_none()))
        .filter(|r| healthy(r, &last.id).is_none())
        .count();
    let mut line = format!(
        "**The C10K curve:** at {} idle connections, `{}` keeps {:.0} % of its req/s without \
         them, `{}` {:.0} %",
        last.idle,
        low.0,
        low.1 * 100.0,
        high.0,
        high.1 * 100.0
    );
    if failed > 0 {
        let _ = write!(line, "; {failed} row(s) failed that cell (✗ in the tables)");
    }
    line.push('.');
    Some(line)
}

/// The fastest healthy row at the busiest keep-alive scenario, against nginx when measured.
fn keepalive_line(results: &Results) -> Option<String> {
    let busiest = group(results, "keepalive")
        .into_iter()
        .filter(|s| results.rows.iter().any(|r| rps(r, &s.id).is_some()))
        .max_by_key(|s| s.clients)?;
    let best = results
        .rows
        .iter()
        .filter(|r| r.server != "nginx")
        .filter_map(|r| Some((r, rps(r, &busiest.id)?)))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let mut line = format!(
        "**Keep-alive, {} clients:** the most req/s came from `{}` ({:.0})",
        busiest.clients,
        best.0.label(),
        best.1
    );
    let nginx = results.rows.iter().find(|r| r.server == "nginx");
    if let Some(n) = nginx.and_then(|r| rps(r, &busiest.id)) {
        let _ = write!(line, ", {:.2}× nginx", best.1 / n);
    }
    line.push('.');
    Some(line)
}

/// The cheapest and the dearest CPU per request at the fixed rate with the most idle
/// connections, and the rows that could not keep up.
fn rate_line(results: &Results) -> Option<String> {
    let last = *group(results, "rate").last()?;
    let mut cost: Vec<(String, f64)> = results
        .rows
        .iter()
        .filter_map(|r| {
            let cpu = healthy(r, &last.id)?.cpu_ms_per_1k_requests?.median;
            Some((r.label(), cpu))
        })
        .collect();
    cost.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (low, high) = (cost.first()?, cost.last()?);
    let behind: Vec<String> = results
        .rows
        .iter()
        .filter(|r| {
            r.cells
                .get(&last.id)
                .is_some_and(|c| c.na.is_none() && healthy(r, &last.id).is_none())
        })
        .map(|r| format!("`{}`", r.label()))
        .collect();
    let mut line = format!(
        "**Cost at {:.0} req/s with {} idle connections:** from {:.1} µs of server CPU per \
         request (`{}`) to {:.1} µs (`{}`)",
        last.rate.unwrap_or(0.0),
        last.idle,
        low.1,
        low.0,
        high.1,
        high.0
    );
    if !behind.is_empty() {
        let _ = write!(line, "; could not keep up: {}", behind.join(", "));
    }
    line.push('.');
    Some(line)
}

/// When a thread pool pays: at the longest `/block`, how many requests each kind of row waits
/// for at once (req/s × the wait: Little's law), and at the longest `/cpu`, how many CPUs the
/// logic keeps busy — for the single loop, the pool, one loop per CPU and a thread per
/// connection.
fn thread_pool_line(results: &Results) -> Option<String> {
    const ROWS: [(&str, &str); 4] = [
        ("server-epoll", "single-level"),
        ("server-epoll", "reactor-level"),
        ("server-epoll", "multi-level"),
        ("server-blocking", "thread-per-conn"),
    ];
    let at_once = |s: &Scenario, unit: f64| -> Vec<String> {
        let amount = s.work_amount();
        ROWS.iter()
            .filter_map(|(server, mode)| {
                let row = results
                    .rows
                    .iter()
                    .find(|r| r.server == *server && r.mode == *mode)?;
                Some(format!(
                    "`{}` {:.1}",
                    row.label(),
                    rps(row, &s.id)? * amount * unit
                ))
            })
            .collect()
    };
    let mut parts = Vec::new();
    for (name, unit, what) in [
        ("block", 1e-3, "requests waiting at once"),
        ("cpu", 1e-6, "CPUs busy with the logic"),
    ] {
        let Some(s) = group(results, name).into_iter().next_back() else {
            continue;
        };
        let figures = at_once(s, unit);
        if !figures.is_empty() {
            parts.push(format!("with `{}`, {what}: {}", s.path, figures.join(", ")));
        }
    }
    (!parts.is_empty()).then(|| {
        format!(
            "**When a thread pool pays** (req/s × the work per request, server on every CPU): {}.",
            parts.join("; ")
        )
    })
}

/// The fewest and the most syscalls per request.
fn syscall_line(results: &Results) -> Option<String> {
    let mut counts: Vec<(String, f64)> = results
        .rows
        .iter()
        .filter_map(|r| Some((r.label(), r.syscalls.as_ref().ok()?.total_per_request)))
        .collect();
    counts.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (low, high) = (counts.first()?, counts.last()?);
    (counts.len() >= 2).then(|| {
        format!(
            "**Syscalls per request** (keep-alive, small file): from {:.2} (`{}`) to {:.2} (`{}`).",
            low.1, low.0, high.1, high.0
        )
    })
}

/// How reproducible the run was: cells whose repeats agree within the spread limit, the A/A
/// control's largest deviation, and cells the load generator or other processes may have set.
fn reproducibility_line(results: &Results) -> Option<String> {
    let cells: Vec<&Cell> = results
        .rows
        .iter()
        .flat_map(|r| r.cells.values())
        .filter(|c| c.na.is_none() && c.load.is_some())
        .collect();
    if cells.is_empty() {
        return None;
    }
    let repeats = results.settings.repeats;
    let mut line = if repeats > 1 {
        let steady = cells
            .iter()
            .filter(|c| c.requests_per_sec.is_some_and(|s| !s.is_wide()))
            .count();
        format!(
            "**How far to trust it:** {steady} of {} measured cells had their {repeats} runs \
             within 10 % of each other (req/s)",
            cells.len()
        )
    } else {
        format!(
            "**How far to trust it:** one run per cell (`--quick` or `--repeat 1`): no spread \
             is known for any of the {} measured cells",
            cells.len()
        )
    };
    if let Some(worst) = control_deviation(results) {
        let _ = write!(
            line,
            "; the A/A control (`{} {}` twice) differed from itself by up to {:.0} %",
            CONTROL.0,
            CONTROL.1,
            worst * 100.0
        );
    }
    let saturated = cells
        .iter()
        .filter(|c| c.client.as_ref().is_some_and(|f| f.saturated()))
        .count();
    if saturated > 0 {
        let _ = write!(
            line,
            "; in {saturated} cell(s) the load generator was saturated (◆), so those req/s may \
             be its ceiling"
        );
    }
    line.push('.');
    Some(line)
}

/// The largest |A′/A − 1| of req/s over the scenarios both control rows measured.
fn control_deviation(results: &Results) -> Option<f64> {
    let find = |mode: &str| {
        results
            .rows
            .iter()
            .find(|r| r.server == CONTROL.0 && r.mode == mode)
    };
    let (a, b) = (find(CONTROL.1)?, find(CONTROL_COPY)?);
    results
        .scenarios
        .iter()
        .filter_map(|s| Some((rps(b, &s.id)? / rps(a, &s.id)? - 1.0).abs()))
        .reduce(f64::max)
}
