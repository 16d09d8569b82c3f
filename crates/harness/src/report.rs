//! Writing a run: `results.json` (every figure), `results.md` (one table per scenario, servers
//! as rows) and SVG charts (throughput vs concurrency, throughput vs idle connections — the C10K
//! curve — and p99 latency per server).

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use crate::results::{
    CLIENT_SATURATED, CONTROL, CONTROL_COPY, Cell, Results, Row, Scenario, Spread, WIDE_SPREAD,
};

/// Chart files, in the order results.md shows them.
pub const CHARTS: [(&str, &str); 3] = [
    (
        "throughput-vs-concurrency.svg",
        "Throughput vs concurrency (keep-alive, small file)",
    ),
    (
        "throughput-vs-idle.svg",
        "Throughput vs idle connections (50 active clients): the C10K curve",
    ),
    ("p99-latency.svg", "p99 latency per server"),
];

/// Write results.json, results.md and the charts into `dir` (created if needed).
pub fn write_all(results: &Results, dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(results).map_err(io::Error::other)?;
    fs::write(dir.join("results.json"), json + "\n")?;
    let mut charts = Vec::new();
    for (file, title) in CHARTS {
        let path = dir.join(file);
        let drawn = match file {
            "throughput-vs-concurrency.svg" => line_chart(
                results,
                &path,
                title,
                "keepalive",
                "clients",
                |s| s.clients,
                true,
            ),
            "throughput-vs-idle.svg" => line_chart(
                results,
                &path,
                title,
                "idle",
                "idle connections",
                |s| s.idle,
                false,
            ),
            _ => p99_chart(results, &path, title),
        };
        match drawn {
            Ok(true) => charts.push((file, title)),
            Ok(false) => {} // nothing to draw in this matrix
            Err(e) => eprintln!("warning: chart {file}: {e}"),
        }
    }
    fs::write(dir.join("results.md"), markdown(results, &charts))?;
    Ok(())
}

/// Point `<out_root>/README.md`'s `Latest run:` line at `dir` (appending the line if missing).
/// Does nothing when there is no README there.
pub fn update_index(out_root: &Path, dir: &Path) -> io::Result<()> {
    let readme = out_root.join("README.md");
    let Ok(text) = fs::read_to_string(&readme) else {
        return Ok(());
    };
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let line = format!("Latest run: [{name}]({name}/results.md)");
    let mut found = false;
    let mut out: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("Latest run:") {
                found = true;
                line.clone()
            } else {
                l.to_string()
            }
        })
        .collect();
    if !found {
        out.push(String::new());
        out.push(line);
    }
    fs::write(readme, out.join("\n") + "\n")
}

fn markdown(results: &Results, charts: &[(&str, &str)]) -> String {
    let mut md = String::new();
    run_header(&mut md, results);
    for (file, title) in charts {
        let _ = writeln!(md, "![{title}]({file})\n");
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
    for scenario in &results.scenarios {
        scenario_table(&mut md, results, scenario);
    }
    control_table(&mut md, results);
    syscall_table(&mut md, results);
    md
}

/// Cost at a fixed rate: server CPU per request (µs) as idle connections rise, with p99, for
/// every row; a row that could not sustain the rate is a failure with the rate it reached.
fn rate_table(md: &mut String, results: &Results) {
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
fn control_table(md: &mut String, results: &Results) {
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
fn run_header(md: &mut String, results: &Results) {
    let m = &results.machine;
    let s = &results.settings;
    let _ = writeln!(md, "# io-models benchmark run, {}\n", results.started);
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
        "Load: `harness load`, {} thread, {} run(s) of {} s per cell, interleaved round-robin over the servers{}, request timeout {} s; servers on CPU {}, \
         load on CPU {}; every cell starts a fresh server (`{}`). Matrix: {}; whole run {:.0} s; \
         load average {} at the start, {} at the end.\n",
        s.load_threads,
        s.repeats,
        s.seconds_per_cell,
        if s.quick { " (--quick)" } else { "" },
        s.request_timeout_s,
        s.server_cpu.map_or("any".into(), |c| c.to_string()),
        s.load_cpu.map_or("any".into(), |c| c.to_string()),
        s.server_flags.join(" "),
        if s.quick { "quick" } else { "full" },
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
    if s.server_cpu.is_some() || m.cpus < 2 {
        let _ = writeln!(
            md,
            "**Too few CPUs for the multi-threaded patterns to show their point.** The servers \
             ran on one CPU, so `reactor`, `proactor` and `multi` had one worker each (their \
             default is one per CPU they may use) and the thread pools shared that CPU with the \
             loop. Here those rows show what the pattern costs, not what a second core buys: \
             read reactor or multi below single as overhead, not as a verdict on the pattern.\n"
        );
    }
}

/// One line on VM steal time: the largest share of a cell's window the hypervisor took from the
/// server's or the load's CPU (nothing when the machine reports none).
fn steal_line(md: &mut String, results: &Results) {
    let worst = results
        .rows
        .iter()
        .flat_map(|r| r.cells.values())
        .flat_map(|c| c.runs.iter())
        .flat_map(|r| {
            let server = r.server.as_ref().and_then(|f| f.steal_on_server_cpu);
            let client = r.client.as_ref().and_then(|c| c.steal_on_load_cpu);
            [server, client]
        })
        .flatten()
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    match worst {
        Some(w) if w > 0.0 => {
            let _ = writeln!(
                md,
                "VM steal time: at most {:.1} % of a run's window on the server's or the load's \
                 CPU (the hypervisor ran something else; per run in results.json).\n",
                w * 100.0
            );
        }
        Some(_) => {
            let _ = writeln!(md, "VM steal time: none reported during any run.\n");
        }
        None => {}
    }
}

/// One scenario's table: a row per server.
fn scenario_table(md: &mut String, results: &Results, scenario: &Scenario) {
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
fn syscall_table(md: &mut String, results: &Results) {
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

fn summary_table(
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

fn cell_row(row: &Row, cell: Option<&Cell>) -> String {
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
    let e = &l.errors;
    let mut errors = if e.total() == 0 {
        "0".to_string()
    } else {
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
    };
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

/// What a cell fell short of, besides errors: idle connections not all open, or a fixed rate
/// not sustained. Such a cell did not measure what its title says: a failure.
fn shortfall(cell: &Cell) -> Option<String> {
    let parts: Vec<String> = [idle_short(cell), rate_short(cell)]
        .into_iter()
        .flatten()
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// A fixed-rate cell whose median run reached less than this share of the rate failed it.
const RATE_SUSTAINED: f64 = 0.95;

/// "rate: reached N of R req/s" when the median run fell short of the fixed rate.
fn rate_short(cell: &Cell) -> Option<String> {
    let rate = cell.load.as_ref()?.rate?;
    let reached = cell.requests_per_sec?.median;
    (reached < rate * RATE_SUSTAINED)
        .then(|| format!("rate: reached {reached:.0} of {rate:.0} req/s"))
}

/// "idle: only N of M open" when some run held fewer idle connections than the scenario asks
/// for: the cell did not measure what its title says.
fn idle_short(cell: &Cell) -> Option<String> {
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
const SATURATED: &str = "◆ ";

/// The kernel's share of the server's CPU time (`sys` column), e.g. `62 %`.
fn system_share(f: &crate::results::ServerFigures) -> String {
    if f.cpu_seconds > 0.0 {
        format!("{:.0} %", f.system_seconds / f.cpu_seconds * 100.0)
    } else {
        "–".into()
    }
}

/// Marks a cell with errors in any run: a failure, whatever its req/s says.
const FAILED: &str = "✗ ";

/// Req/s of a cell: the median with its min–max over the runs (just the figure for one run),
/// after the marks: ⚠ disturbed, `~` runs more than [`WIDE_SPREAD`] apart.
fn rps_text(cell: &Cell) -> String {
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
const WIDE: &str = "~";

/// `median (min–max)` with `decimals` decimals.
fn spread_text(s: Spread, decimals: usize) -> String {
    format!(
        "{:.d$} ({:.d$}–{:.d$})",
        s.median,
        s.min,
        s.max,
        d = decimals
    )
}

/// Cells where other processes used more than this share of the server's CPU are marked.
const DISTURBED: f64 = 0.10;

/// "⚠ " when something else ran on the server's CPU during the cell.
fn disturbed_mark(cell: &Cell) -> &'static str {
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

fn fmt_us(us: f64) -> String {
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

fn escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn chart_err<E: std::fmt::Display>(e: E) -> io::Error {
    io::Error::other(e.to_string())
}

/// One line per row over the scenarios of `group`; `log_x` for the concurrency sweep. Returns
/// false when the matrix has fewer than two points of that group.
fn line_chart(
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
fn draw_lines<X>(
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

fn draw_legend<T>(area: &DrawingArea<SVGBackend, Shift>, series: &[(String, T)]) -> io::Result<()> {
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
fn p99_chart(results: &Results, path: &Path, title: &str) -> io::Result<bool> {
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
fn p99_scenario(results: &Results) -> Option<&Scenario> {
    let measured_somewhere = |s: &&Scenario| results.rows.iter().any(|r| measured(r, &s.id));
    let keepalive = || results.scenarios.iter().filter(|s| s.group == "keepalive");
    keepalive()
        .filter(measured_somewhere)
        .find(|s| s.clients == 100)
        .or_else(|| keepalive().rfind(measured_somewhere))
}

/// One bar per row: its label and its p99 in µs (`None`: nothing was answered).
fn p99_bars(results: &Results, scenario: &Scenario) -> Vec<(String, Option<f64>)> {
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

fn measured(row: &Row, id: &str) -> bool {
    row.cells
        .get(id)
        .and_then(|c| c.load.as_ref())
        .is_some_and(|l| l.latency.count > 0)
}

#[cfg(test)]
mod tests;
