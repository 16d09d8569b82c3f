//! results.md: the run's header, the summary tables, one table per scenario, the noise floor
//! and the syscalls, with the marks that say when a figure is not to be trusted.

use std::fmt::Write as _;

use super::summary::summary;
use crate::compare::matrix::is_work_group;
use crate::load::LoadReport;

use crate::results::{
    CLIENT_SATURATED, CONTROL, CONTROL_COPY, Cell, Results, Row, Run, STEAL_REMEASURE,
    STEAL_RETRIES, Scenario, ServerFigures, Spread, WIDE_SPREAD, cpu_list_text,
};

/// results.md; `charts` are the charts drawn: (file, title, what to look for).
pub(super) fn markdown(results: &Results, charts: &[(&str, &str, &str)]) -> String {
    let mut md = String::new();
    run_header(&mut md, results);
    if !charts.is_empty() {
        md.push_str("## Charts\n\n");
    }
    for (file, title, shows) in charts {
        let _ = writeln!(md, "### {title}\n\n![{title}]({file})\n\n{shows}\n");
    }
    // Compact summaries first: the curves as tables.
    summary_table(
        &mut md,
        results,
        "keepalive",
        "Requests/s vs concurrency (keep-alive)",
        |s| format!("{} clients", s.clients),
    );
    summary_table(
        &mut md,
        results,
        "idle",
        "Requests/s vs idle connections (50 active)",
        |s| format!("{} idle", s.idle),
    );
    rate_table(&mut md, results);
    summary_table(
        &mut md,
        results,
        "block",
        "When does a thread pool pay? Requests/s when the logic waits (/block/MS)",
        |s| format!("`{}`", s.path),
    );
    summary_table(
        &mut md,
        results,
        "cpu",
        "When does a thread pool pay? Requests/s when the logic computes (/cpu/US)",
        |s| format!("`{}`", s.path),
    );
    for scenario in &results.scenarios {
        scenario_table(&mut md, results, scenario);
    }
    control_table(&mut md, results);
    syscall_table(&mut md, results);
    md
}

/// Cost at a fixed rate: server CPU per request (µs) as idle connections rise, with p99, for
/// every row; a row that could not sustain the rate is a failure with the rate it reached.
pub(super) fn rate_table(md: &mut String, results: &Results) {
    let cols: Vec<&Scenario> = results
        .scenarios
        .iter()
        .filter(|s| s.group == "rate")
        .collect();
    let Some(first) = cols.first() else {
        return;
    };
    let _ = writeln!(
        md,
        "## Cost at a fixed rate: CPU µs per request (p99)\n\nEvery server gets the same \
         open-loop load, {:.0} req/s from {} clients (latency counted from when each request was \
         due, as wrk2 does), while idle connections rise. What differs is what the rate costs: \
         server CPU per request, and the p99 latency. ✗ marks a row that could not keep up, \
         with the rate it reached.\n",
        first.rate.unwrap_or(0.0),
        first.clients
    );
    let _ = write!(md, "| server |");
    for s in &cols {
        let _ = write!(md, " {} idle |", s.idle);
    }
    let _ = writeln!(md);
    let _ = writeln!(md, "|---|{}", "--:|".repeat(cols.len()));
    for row in &results.rows {
        let _ = write!(md, "| {} |", row.label());
        for s in &cols {
            let text = match row.cells.get(&s.id) {
                Some(Cell { na: Some(why), .. }) => format!("n/a — {}", escape(why)),
                Some(cell @ Cell { load: Some(l), .. }) => {
                    let cpu = cell
                        .cpu_ms_per_1k_requests
                        .map_or("–".into(), |c| format!("{:.1}", c.median));
                    let p99 = fmt_us(cell.p99_us.map_or(l.latency.p99_us, |p| p.median));
                    match (cell.errors(), shortfall(cell)) {
                        (0, None) => format!("{cpu} ({p99})"),
                        (0, Some(short)) => format!("{FAILED}{short}"),
                        (n, _) => format!("{FAILED}{cpu} ({p99}, {n} err)"),
                    }
                }
                _ => "n/a".into(),
            };
            let _ = write!(md, " {text} |");
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(md);
}

/// The A/A control: the same server and flags in two rows, scenario by scenario. Their ratio is
/// what noise alone does to a comparison in this run.
pub(super) fn control_table(md: &mut String, results: &Results) {
    let find = |mode: &str| {
        results
            .rows
            .iter()
            .find(|r| r.server == CONTROL.0 && r.mode == mode)
    };
    let (Some(a), Some(b)) = (find(CONTROL.1), find(CONTROL_COPY)) else {
        return;
    };
    let _ = writeln!(
        md,
        "## Noise floor: the A/A control\n\n`{}` ran twice in this run, as two rows with the \
         same binary and flags, interleaved with the others. A ratio away from 1.00 here is \
         noise; a difference between two models smaller than this one says nothing about the \
         models.\n",
        a.label()
    );
    let _ = writeln!(
        md,
        "| scenario | req/s A | req/s A′ | A′/A | CPU ms/1k A′/A |"
    );
    let _ = writeln!(md, "|---|--:|--:|--:|--:|");
    for s in &results.scenarios {
        let (Some(ca), Some(cb)) = (a.cells.get(&s.id), b.cells.get(&s.id)) else {
            continue;
        };
        let (Some(ra), Some(rb)) = (ca.requests_per_sec, cb.requests_per_sec) else {
            continue;
        };
        let cpu = match (ca.cpu_ms_per_1k_requests, cb.cpu_ms_per_1k_requests) {
            (Some(x), Some(y)) if x.median > 0.0 => format!("{:.2}", y.median / x.median),
            _ => "–".into(),
        };
        let ratio = if ra.median > 0.0 {
            format!("{:.2}", rb.median / ra.median)
        } else {
            "–".into()
        };
        let _ = writeln!(
            md,
            "| `{}` | {:.0} | {:.0} | {ratio} | {cpu} |",
            s.id, ra.median, rb.median
        );
    }
    let _ = writeln!(md);
}

/// The title, the machine, how the load was run, and what the columns mean.
pub(super) fn run_header(md: &mut String, results: &Results) {
    let m = &results.machine;
    let s = &results.settings;
    let _ = writeln!(md, "# io-models benchmark run, {}\n", results.started);
    summary(md, results);
    let _ = writeln!(md, "## How this run was made\n");
    let _ = writeln!(
        md,
        "Machine: {} ({} CPUs), Linux {}, {}, {}{}. `ulimit -n` {}.\n",
        m.cpu_model,
        m.cpus,
        m.kernel,
        m.glibc,
        m.rustc,
        m.nginx
            .as_ref()
            .map_or(String::new(), |v| format!(", nginx {v}")),
        m.fd_limit
    );
    let _ = writeln!(
        md,
        "Load: `harness load`, {} thread, {} run(s) of {} s per cell, interleaved round-robin over the servers{}, request timeout {} s; servers on CPUs {}, \
         load on CPUs {}; every cell starts a fresh server (`{}`). Matrix: {}; whole run {:.0} s; \
         load average {} at the start, {} at the end. Client and servers talk over loopback \
         (127.0.0.1): no network card, no interrupts, no GRO or TSO segmentation, no wire; a \
         real network adds all of these to every figure, and moves work to other CPUs.\n",
        s.load_threads,
        s.repeats,
        s.seconds_per_cell,
        if s.quick { " (--quick)" } else { "" },
        s.request_timeout_s,
        cpu_list_text(&s.server_cpus),
        cpu_list_text(&s.load_cpus),
        s.server_flags.join(" "),
        matrix_text(results),
        results.wall_seconds,
        results.load_average[0],
        results.load_average[1],
    );
    let _ = writeln!(
        md,
        "Columns: req/s and MB/s count only complete 2xx responses; latency percentiles are of \
         those; errors are counted by kind and excluded. *CPU ms/1k* is server user+sys CPU per \
         1,000 requests; *ctx/req* voluntary+involuntary context switches per request; *RSS* is \
         peak resident memory (VmHWM) during the cell; *thr* the server's thread count at the end. \
         ⚠ marks a cell during which other processes used more than {:.0} % of the server's CPU \
         (the figure is disturbed; `other_load_on_server_cpu` in results.json has the share). \
         ✗ marks a cell with errors in any run: a failure, not a result. With {} runs per cell, \
         req/s and CPU ms/1k show the median and, in parentheses, the smallest and the largest \
         run; `~` marks a cell whose runs differ by more than {:.0} % of their median (treat a \
         difference smaller than that spread as noise). The other columns are those of the \
         median run; every run is in results.json (`runs`). *sys* is the kernel's share of the \
         server's CPU (system / (user + system)): completion models move work into the kernel. \
         *client CPU* is the load generator's busy share of its CPU; ◆ marks a cell where it was \
         at {:.0} % or more: there the load generator, not the server, may set the req/s.\n",
        DISTURBED * 100.0,
        s.repeats,
        WIDE_SPREAD * 100.0,
        CLIENT_SATURATED * 100.0
    );
    steal_line(md, results);
    probe_line(md, results);
    cpu_notes(md, results);
}

/// A probe reading at least this much above the run's median marks a run measured on a slow
/// machine.
pub(super) const SLOW_MACHINE: f64 = 0.10;

/// One line on the machine-speed probe: its median and range over the run, and how many runs
/// were measured while it read the machine slow (nothing for runs without the probe).
pub(super) fn probe_line(md: &mut String, results: &Results) {
    let probes: Vec<f64> = results
        .runs()
        .filter_map(|r| r.probe_cpu_us_per_request)
        .collect();
    let Some(spread) = Spread::of(probes.iter().copied()) else {
        return;
    };
    let slow = probes
        .iter()
        .filter(|&&p| p >= spread.median * (1.0 + SLOW_MACHINE))
        .count();
    let _ = writeln!(
        md,
        "Machine speed: before each run the harness timed one fixed task, the reference server \
         ({} {}) answering one keep-alive client for a moment (`probe_cpu_us_per_request` per \
         run in results.json). It cost a median of {:.1} µs of CPU per request, {:.1}–{:.1} over \
         the {} runs: the same work, so the range is the machine's, not the models'. Measured \
         while it cost {:.0} % or more above its median: {} of the runs ({:.0} %). How closely \
         the cells' CPU figures followed it is for `harness agree` to say (*The machine's \
         speed*).\n",
        CONTROL.0,
        CONTROL.1,
        spread.median,
        spread.min,
        spread.max,
        probes.len(),
        SLOW_MACHINE * 100.0,
        slow,
        slow as f64 * 100.0 / probes.len() as f64,
    );
}

/// What the CPUs of the run mean for the patterns: the work groups' server on every CPU, and a
/// warning when the other groups gave the server too few CPUs for the multi-threaded patterns.
fn cpu_notes(md: &mut String, results: &Results) {
    let s = &results.settings;
    if results.scenarios.iter().any(|sc| is_work_group(&sc.group)) {
        let _ = writeln!(
            md,
            "The work groups (`/block/MS`, `/cpu/US`, served with `--work-routes`) run the server \
             on every CPU of the run, the load's included ({}): there `reactor`, `proactor` and \
             `multi` start one worker or loop per CPU, `server-blocking` a thread per connection \
             (or its pool of 32), and the single loops stay single. The load needs little CPU at \
             these rates, but it shares a CPU with the server.\n",
            cpu_list_text(&all_cpus(s))
        );
    }
    if s.server_cpus.len() < 2 {
        let _ = writeln!(
            md,
            "**Too few CPUs for the multi-threaded patterns to show their point.** The servers \
             ran on one CPU, so `reactor`, `proactor` and `multi` had one worker each (their \
             default is one per CPU they may use) and the thread pools shared that CPU with the \
             loop. Here those rows show what the pattern costs, not what a second core buys: \
             read reactor or multi below single as overhead, not as a verdict on the pattern \
             (the work groups, where the server has every CPU, show what the patterns are for).\n"
        );
    }
}

/// Every CPU of the run: the servers' and the load's.
fn all_cpus(s: &crate::results::Settings) -> Vec<usize> {
    let mut cpus: Vec<usize> = s.server_cpus.iter().chain(&s.load_cpus).copied().collect();
    cpus.sort_unstable();
    cpus.dedup();
    cpus
}

/// One line on VM steal time: the largest share of a cell's window the hypervisor took from the
/// server's or the load's CPU (nothing when the machine reports none).
pub(super) fn steal_line(md: &mut String, results: &Results) {
    let remeasured: u32 = results.runs().map(|r| r.remeasured_for_steal).sum();
    let worst = results
        .runs()
        .flat_map(Run::steal_shares)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    match worst {
        Some(w) if w > 0.0 => {
            let _ = writeln!(
                md,
                "VM steal time: at most {:.1} % of a run's window on the server's or the load's \
                 CPU (the hypervisor ran something else; per run in results.json). A run that \
                 lost {:.0} % or more was measured again, up to {STEAL_RETRIES} times: {remeasured} \
                 attempt(s) were thrown away.\n",
                w * 100.0,
                STEAL_REMEASURE * 100.0
            );
        }
        Some(_) => {
            let _ = writeln!(md, "VM steal time: none reported during any run.\n");
        }
        None => {}
    }
}

/// One scenario's table: a row per server.
pub(super) fn scenario_table(md: &mut String, results: &Results, scenario: &Scenario) {
    let _ = writeln!(md, "## {} (`{}`)\n", scenario.title, scenario.id);
    let _ = writeln!(
        md,
        "| server | req/s | MB/s | p50 | p99 | p99.9 | max | errors | CPU ms/1k | sys | ctx/req | RSS | thr | client CPU |"
    );
    let _ = writeln!(
        md,
        "|---|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|"
    );
    for row in &results.rows {
        let cell = row.cells.get(&scenario.id);
        let _ = writeln!(md, "{}", cell_row(row, cell));
    }
    let _ = writeln!(md);
}

/// Syscalls per request, from the separate `strace -c` run of each row.
pub(super) fn syscall_table(md: &mut String, results: &Results) {
    let s = &results.settings;
    let _ = writeln!(
        md,
        "## Syscalls per request\n\nFrom a separate {} run under `strace -c -f` (keep-alive, 10 \
         clients, small file), all calls of the run divided by the requests answered; strace \
         slows the server, so these are counts, not times.\n",
        s.strace_seconds
            .map_or("(skipped)".to_string(), |x| format!("{x} s"))
    );
    let _ = writeln!(md, "| server | total | by syscall (calls per request) |");
    let _ = writeln!(md, "|---|--:|---|");
    for row in &results.rows {
        match &row.syscalls {
            Ok(sc) => {
                let mut by: Vec<(&String, &f64)> = sc.per_request.iter().collect();
                by.sort_by(|a, b| b.1.total_cmp(a.1));
                let top: Vec<String> = by
                    .iter()
                    .filter(|(_, v)| **v >= 0.01)
                    .take(8)
                    .map(|(k, v)| format!("{k} {v:.2}"))
                    .collect();
                let _ = writeln!(
                    md,
                    "| {} | {:.2} | {} |",
                    row.label(),
                    sc.total_per_request,
                    top.join(", ")
                );
            }
            Err(why) => {
                let _ = writeln!(md, "| {} | n/a | n/a — {} |", row.label(), escape(why));
            }
        }
    }
}

pub(super) fn summary_table(
    md: &mut String,
    results: &Results,
    group: &str,
    title: &str,
    header: impl Fn(&Scenario) -> String,
) {
    let cols: Vec<&Scenario> = results
        .scenarios
        .iter()
        .filter(|s| s.group == group)
        .collect();
    if cols.is_empty() {
        return;
    }
    let _ = writeln!(md, "## {title}\n");
    let _ = write!(md, "| server |");
    for s in &cols {
        let _ = write!(md, " {} |", header(s));
    }
    let _ = writeln!(md);
    let _ = writeln!(md, "|---|{}", "--:|".repeat(cols.len()));
    for row in &results.rows {
        let _ = write!(md, "| {} |", row.label());
        for s in &cols {
            let text = match row.cells.get(&s.id) {
                Some(Cell { na: Some(why), .. }) => format!("n/a — {}", escape(why)),
                Some(cell @ Cell { load: Some(_), .. }) => {
                    let errors = cell.errors();
                    let rps = rps_text(cell);
                    match (errors, shortfall(cell)) {
                        (0, None) => rps,
                        (0, Some(short)) => format!("{FAILED}{rps} ({short})"),
                        (_, _) => format!("{FAILED}{rps} ({errors} err)"),
                    }
                }
                _ => "n/a".into(),
            };
            let _ = write!(md, " {text} |");
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(md);
}

/// The errors column of the median run: `0`, or each kind with its count (statuses named).
pub(super) fn errors_text(l: &LoadReport) -> String {
    let e = &l.errors;
    if e.total() == 0 {
        return "0".to_string();
    }
    let kinds: Vec<String> = [
        ("non-2xx", e.non_2xx),
        ("short", e.short_body),
        ("reset", e.reset),
        ("timeout", e.timeout),
        ("connect", e.connect),
        ("parse", e.parse),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(k, n)| {
        if *k == "non-2xx" {
            // Name the statuses, e.g. "non-2xx 120 (503)".
            let codes: Vec<String> = l
                .status_codes
                .keys()
                .filter(|c| !(200..300).contains(*c))
                .map(u16::to_string)
                .collect();
            format!("{k} {n} ({})", codes.join(", "))
        } else {
            format!("{k} {n}")
        }
    })
    .collect();
    kinds.join(", ")
}

pub(super) fn cell_row(row: &Row, cell: Option<&Cell>) -> String {
    let label = row.label();
    let Some(cell) = cell else {
        return format!("| {label} | n/a — not run | | | | | | | | | | | | |");
    };
    if let Some(why) = &cell.na {
        return format!(
            "| {label} | n/a — {} | | | | | | | | | | | | |",
            escape(why)
        );
    }
    let Some(l) = &cell.load else {
        return format!("| {label} | n/a | | | | | | | | | | | | |");
    };
    let mut errors = errors_text(l);
    if let Some(short) = shortfall(cell) {
        let _ = write!(errors, "; {short}");
    }
    let (cpu, sys, ctx, rss, thr) = match &cell.server {
        Some(f) => (
            f.cpu_ms_per_1k_requests
                .map_or("–".into(), |v| format!("{v:.1}")),
            system_share(f),
            f.context_switches_per_request
                .map_or("–".into(), |v| format!("{v:.2}")),
            format!("{:.1} MiB", f.peak_rss_kib as f64 / 1024.0),
            f.threads.to_string(),
        ),
        None => ("–".into(), "–".into(), "–".into(), "–".into(), "–".into()),
    };
    let client = cell.client.as_ref().map_or("–".into(), |c| {
        let mark = if c.saturated() { SATURATED } else { "" };
        format!("{mark}{:.0} %", c.busy_share * 100.0)
    });
    let cpu = cell
        .cpu_ms_per_1k_requests
        .filter(|_| cell.runs.len() > 1)
        .map_or(cpu, |c| spread_text(c, 1));
    let failed = if cell.errors() > 0 || shortfall(cell).is_some() {
        FAILED
    } else {
        ""
    };
    format!(
        "| {label} | {failed}{} | {:.1} | {} | {} | {} | {} | {errors} | {cpu} | {sys} | {ctx} | {rss} | {thr} | {client} |",
        rps_text(cell),
        l.mb_per_sec,
        fmt_us(l.latency.p50_us),
        fmt_us(cell.p99_us.map_or(l.latency.p99_us, |p| p.median)),
        fmt_us(l.latency.p999_us),
        fmt_us(l.latency.max_us),
    )
}

/// "quick, 2 scenarios (`a`, `b`)": the matrix kind and the scenarios this run measured (a run
/// made with `--scenarios` measured only those).
pub(super) fn matrix_text(results: &Results) -> String {
    let ids: Vec<String> = results
        .scenarios
        .iter()
        .map(|s| format!("`{}`", s.id))
        .collect();
    format!(
        "{}, {} scenarios ({})",
        if results.settings.quick {
            "quick"
        } else {
            "full"
        },
        ids.len(),
        ids.join(", ")
    )
}

/// What a cell fell short of, besides errors: idle connections not all open, or a fixed rate
/// not sustained. Such a cell did not measure what its title says: a failure.
pub(super) fn shortfall(cell: &Cell) -> Option<String> {
    let parts: Vec<String> = [idle_short(cell), rate_short(cell)]
        .into_iter()
        .flatten()
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// A fixed-rate cell whose median run reached less than this share of the rate failed it.
pub(super) const RATE_SUSTAINED: f64 = 0.95;

/// "rate: reached N of R req/s" when the median run fell short of the fixed rate.
pub(super) fn rate_short(cell: &Cell) -> Option<String> {
    let rate = cell.load.as_ref()?.rate?;
    let reached = cell.requests_per_sec?.median;
    (reached < rate * RATE_SUSTAINED)
        .then(|| format!("rate: reached {reached:.0} of {rate:.0} req/s"))
}

/// "idle: only N of M open" when some run held fewer idle connections than the scenario asks
/// for: the cell did not measure what its title says.
pub(super) fn idle_short(cell: &Cell) -> Option<String> {
    let short = cell
        .runs
        .iter()
        .map(|r| &r.load)
        .filter(|l| l.idle_established < l.idle_requested)
        .min_by_key(|l| l.idle_established)?;
    Some(format!(
        "idle: only {} of {} open",
        short.idle_established, short.idle_requested
    ))
}

/// Marks a cell whose load generator was saturated: the req/s may be its ceiling.
pub(super) const SATURATED: &str = "◆ ";

/// The kernel's share of the server's CPU time (`sys` column), e.g. `62 %`.
pub(super) fn system_share(f: &ServerFigures) -> String {
    if f.cpu_seconds > 0.0 {
        format!("{:.0} %", f.system_seconds / f.cpu_seconds * 100.0)
    } else {
        "–".into()
    }
}

/// Marks a cell with errors in any run: a failure, whatever its req/s says.
pub(super) const FAILED: &str = "✗ ";

/// Req/s of a cell: the median with its min–max over the runs (just the figure for one run),
/// after the marks: ⚠ disturbed, `~` runs more than [`WIDE_SPREAD`] apart.
pub(super) fn rps_text(cell: &Cell) -> String {
    let mut text = disturbed_mark(cell).to_string();
    match cell.requests_per_sec {
        Some(rps) if cell.runs.len() > 1 => {
            if rps.is_wide() {
                text.push_str(WIDE);
            }
            text.push_str(&spread_text(rps, 0));
        }
        _ => {
            let rps = cell.load.as_ref().map_or(0.0, |l| l.requests_per_sec);
            let _ = write!(text, "{rps:.0}");
        }
    }
    text
}

/// Marks a cell whose runs differ by more than [`WIDE_SPREAD`] of their median.
pub(super) const WIDE: &str = "~";

/// `median (min–max)` with `decimals` decimals.
pub(super) fn spread_text(s: Spread, decimals: usize) -> String {
    format!(
        "{:.d$} ({:.d$}–{:.d$})",
        s.median,
        s.min,
        s.max,
        d = decimals
    )
}

/// Cells where other processes used more than this share of the server's CPU are marked.
pub(super) const DISTURBED: f64 = 0.10;

/// "⚠ " when something else ran on the server's CPU during the cell.
pub(super) fn disturbed_mark(cell: &Cell) -> &'static str {
    let other = cell
        .server
        .as_ref()
        .and_then(|f| f.other_load_on_server_cpu);
    if other.is_some_and(|o| o > DISTURBED) {
        "⚠ "
    } else {
        ""
    }
}

pub(super) fn fmt_us(us: f64) -> String {
    if us == 0.0 {
        "–".into()
    } else if us >= 1_000_000.0 {
        format!("{:.2} s", us / 1e6)
    } else if us >= 1_000.0 {
        format!("{:.2} ms", us / 1e3)
    } else {
        format!("{us:.0} µs")
    }
}

pub(super) fn escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
