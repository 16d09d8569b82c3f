//! `harness compare`: every mode of every server through the same scenarios.
//!
//! For each row (one server binary + one set of mode flags) and each scenario (one cell), the
//! harness starts a fresh server pinned to the first CPU this process may use (`--addr 127.0.0.1:0`, waits for the announce
//! line), runs the load from this process pinned to the second, samples the server's `/proc` figures
//! around the measured window, and stops the server with SIGTERM (by PID). A fresh server per cell
//! keeps one cell's crash or leftover connections out of the next. Then one extra short run per row
//! under `strace -c -f` counts syscalls per request.
//!
//! The list of servers and their modes is [`matrix::SERVERS`], the only place to edit when a server or a
//! mode is added. A binary that is not built shows as "n/a — not built"; a cell a model cannot take
//! part in shows "n/a — reason"; nothing is dropped and nothing crashes the run.
//!
//! | module | what it holds |
//! |---|---|
//! | `matrix.rs` | THE table of servers and modes, the scenarios, the fixture files |
//! | `supervise.rs` | starting, pinning, stopping servers; the interrupt thread |
//! | `measure.rs` | one cell, and one `strace -c` run per row |
//! | `probes.rs` | `/proc` samples, `strace -c` tables, the machine description |
//! | `nginx.rs` | the nginx reference row's configuration |
//!
//! The data they fill is `crate::results`; `crate::report` writes it out.

mod matrix;
mod measure;
mod nginx;
mod probes;
mod supervise;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use matrix::{NGINX, SERVERS, scenarios, write_fixtures};
use measure::{run_cell, trace_syscalls};
use nginx::{find_in_path, find_nginx};
use probes::{load_average, machine_info};
use supervise::{Interrupt, Launcher, RunContext, install_interrupt_handler};

use crate::report;
use crate::results::{Cell, Results, Row, Scenario, Settings, Syscalls};
use crate::sys;

/// Command-line flags of `harness compare`.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// Reduced matrix (fewer cells, shorter runs): the whole run in under two minutes.
    #[arg(long)]
    pub quick: bool,
    /// Only these servers (crate names, or `nginx`), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub servers: Vec<String>,
    /// Only these scenarios (ids as in results.md, e.g. `keepalive-100,idle-5000`).
    #[arg(long, value_delimiter = ',')]
    pub scenarios: Vec<String>,
    /// Seconds of load per cell [default: 2, or 0.5 with --quick].
    #[arg(long)]
    pub duration: Option<f64>,
    /// Where the server binaries are [default: the directory of this harness binary].
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Results root; the run goes to <OUT>/<UTC start time>-<host>/ [default: ./bench-results].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Skip the `strace -c` runs.
    #[arg(long)]
    pub no_strace: bool,
    /// Skip the nginx reference row.
    #[arg(long)]
    pub no_nginx: bool,
}

/// Run the matrix and write the results.
pub fn run(args: CompareArgs) -> io::Result<()> {
    let wall = Instant::now();
    let started = SystemTime::now();
    let load_at_start = load_average();
    let interrupt = install_interrupt_handler()?;
    let fd_limit = sys::raise_fd_limit();
    let allowed = sys::allowed_cpus()?;
    let (server_cpu, load_cpu) = pin_cpus(&allowed)?;
    let (seconds, duration) = cell_duration(&args)?;
    let scenarios = chosen_scenarios(&args)?;
    let nginx = (!args.no_nginx).then(find_nginx).flatten();
    let strace = find_strace(&args);
    let strace_seconds = (seconds / 2.0).clamp(0.2, 1.0);
    let root = tempfile::Builder::new().prefix("harness-root").tempdir()?;
    write_fixtures(root.path(), &scenarios)?;
    let timeout = duration.max(Duration::from_secs(1));
    let server_flags: Vec<String> = vec!["--timeout".into(), "120".into()];
    let settings = Settings {
        quick: args.quick,
        seconds_per_cell: seconds,
        load_threads: 1,
        server_cpu,
        load_cpu,
        request_timeout_s: timeout.as_secs_f64(),
        server_flags: server_flags.clone(),
        strace_seconds: strace.is_ok().then_some(strace_seconds),
        strace_skipped: strace.as_ref().err().cloned(),
    };
    let machine = machine_info(
        allowed.len(),
        fd_limit,
        nginx.as_ref().map(|n| n.version.clone()),
    );
    let plan = plan_rows(&args, &server_flags, nginx.is_some())?;
    eprintln!(
        "harness compare: {} rows × {} scenarios, {seconds}s per cell, servers on CPU {}, load on CPU {}",
        plan.len(),
        scenarios.len(),
        server_cpu.map_or("any".into(), |c| c.to_string()),
        load_cpu.map_or("any".into(), |c| c.to_string()),
    );
    let ctx = RunContext {
        root: root.path().to_path_buf(),
        server_cpu,
        load_cpu,
        duration,
        timeout,
        nginx,
    };
    let rows = measure_rows(&ctx, plan, &scenarios, &interrupt, &strace, strace_seconds);
    let results = Results {
        started: humantime::format_rfc3339_seconds(started).to_string(),
        wall_seconds: wall.elapsed().as_secs_f64(),
        load_average: [load_at_start, load_average()],
        machine,
        settings,
        scenarios,
        rows,
    };
    write_results(&args, &results)
}

// ANCHOR: harness_pin_cpus
/// The CPUs the servers and the load generator run on: the first two this process may use. The
/// calling thread is pinned to the load's CPU (load threads inherit it). With fewer than two
/// CPUs nothing is pinned, and one line says so.
fn pin_cpus(allowed: &[usize]) -> io::Result<(Option<usize>, Option<usize>)> {
    let [first, second, ..] = allowed[..] else {
        eprintln!(
            "harness compare: only {} CPU allowed ({allowed:?}): servers and load are not pinned",
            allowed.len()
        );
        return Ok((None, None));
    };
    // Pin this (main) thread before any load thread starts: they inherit it.
    sys::pin_to_cpu(second)?;
    Ok((Some(first), Some(second)))
}
// ANCHOR_END: harness_pin_cpus

/// Seconds of load per cell (`--duration`, else 0.5 with `--quick`, 2 without), checked > 0.
fn cell_duration(args: &CompareArgs) -> io::Result<(f64, Duration)> {
    let seconds = args.duration.unwrap_or(if args.quick { 0.5 } else { 2.0 });
    let duration = Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "--duration must be > 0"))?;
    Ok((seconds, duration))
}

/// `strace`'s path, or why the syscall counts are skipped.
fn find_strace(args: &CompareArgs) -> Result<PathBuf, String> {
    if args.no_strace {
        Err("skipped (--no-strace)".to_string())
    } else {
        find_in_path("strace").ok_or_else(|| "strace not installed".to_string())
    }
}

/// Run every cell of every planned row (and each row's syscall count), printing one line per
/// cell. An interrupt (Ctrl-C) ends the process here, once the servers are stopped.
fn measure_rows(
    ctx: &RunContext,
    plan: Vec<(Launcher, Row)>,
    scenarios: &[Scenario],
    interrupt: &Interrupt,
    strace: &Result<PathBuf, String>,
    strace_seconds: f64,
) -> Vec<Row> {
    let mut rows = Vec::with_capacity(plan.len());
    for (launcher, mut row) in plan {
        for s in scenarios {
            let cell = match &row.na {
                Some(reason) => Cell::na(reason.clone()),
                None => run_cell(ctx, &launcher, s),
            };
            if interrupt.requested() {
                // The interrupt thread is stopping the servers and will exit; this cell means
                // nothing. Wait for it (bounded: it gives the servers 1.5 s, then SIGKILLs).
                interrupt.wait_and_exit(Duration::from_secs(10));
            }
            eprintln!("  {:<32} {:<16} {}", row.label(), s.id, cell_summary(&cell));
            row.cells.insert(s.id.clone(), cell);
        }
        row.syscalls = row_syscalls(ctx, &launcher, &row, strace, strace_seconds);
        rows.push(row);
    }
    rows
}

/// The matrix's scenarios, narrowed to `--scenarios` if given.
fn chosen_scenarios(args: &CompareArgs) -> io::Result<Vec<Scenario>> {
    let mut scenarios = scenarios(args.quick);
    if !args.scenarios.is_empty() {
        scenarios.retain(|s| args.scenarios.contains(&s.id));
        if scenarios.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "--scenarios matched none of the scenario ids",
            ));
        }
    }
    Ok(scenarios)
}

/// The rows: every (server, mode) of the table that `--servers` wants, then nginx.
fn plan_rows(
    args: &CompareArgs,
    server_flags: &[String],
    nginx_found: bool,
) -> io::Result<Vec<(Launcher, Row)>> {
    let bin_dir = match &args.bin_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_exe()?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    };
    let wanted = |name: &str| args.servers.is_empty() || args.servers.iter().any(|s| s == name);
    for name in &args.servers {
        if name != NGINX && !SERVERS.iter().any(|s| s.name == name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown server {name:?} (not in the harness's SERVERS table)"),
            ));
        }
    }
    let mut plan: Vec<(Launcher, Row)> = Vec::new();
    for spec in SERVERS.iter().filter(|s| wanted(s.name)) {
        let bin = bin_dir.join(spec.name);
        for (mode, flags) in spec.modes {
            let args: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
            let row = empty_row(spec.name, mode, args.clone(), !bin.is_file(), "not built");
            let launcher = Launcher::Binary {
                bin: bin.clone(),
                args: args
                    .into_iter()
                    .chain(server_flags.iter().cloned())
                    .collect(),
                fd_limit: spec.fd_limit,
            };
            plan.push((launcher, row));
        }
    }
    if wanted(NGINX) && !args.no_nginx {
        let row = empty_row(
            NGINX,
            "1 worker",
            vec![],
            !nginx_found,
            "nginx not installed",
        );
        plan.push((Launcher::Nginx, row));
    }
    Ok(plan)
}

/// A row before any cell is measured (n/a for `reason` when `missing`).
fn empty_row(server: &str, mode: &str, args: Vec<String>, missing: bool, reason: &str) -> Row {
    Row {
        server: server.to_string(),
        mode: mode.to_string(),
        args,
        na: missing.then(|| reason.to_string()),
        cells: BTreeMap::new(),
        syscalls: Err("not measured".into()),
    }
}

/// The row's `strace -c` figures, or why there are none.
fn row_syscalls(
    ctx: &RunContext,
    launcher: &Launcher,
    row: &Row,
    strace: &Result<PathBuf, String>,
    seconds: f64,
) -> Result<Syscalls, String> {
    match (&row.na, strace) {
        (Some(reason), _) => Err(reason.clone()),
        (None, Err(why)) => Err(why.clone()),
        (None, Ok(strace)) => {
            let traced = trace_syscalls(ctx, launcher, strace, seconds);
            if let Ok(s) = &traced {
                eprintln!(
                    "  {:<32} {:<16} {:.1} syscalls/request",
                    row.label(),
                    "strace",
                    s.total_per_request
                );
            }
            traced
        }
    }
}

/// Write results.json/.md and the charts into a fresh run directory, and point the index at it.
fn write_results(args: &CompareArgs, results: &Results) -> io::Result<()> {
    let out_root = args.out.clone().unwrap_or_else(default_results_dir);
    let dir = out_root.join(run_dir_name(&results.started, &results.machine.host));
    report::write_all(results, &dir)?;
    report::update_index(&out_root, &dir)?;
    println!("results: {}", dir.join("results.md").display());
    println!("         {}", dir.join("results.json").display());
    println!("charts:  {}", dir.join("*.svg").display());
    eprintln!("took {:.0}s", results.wall_seconds);
    Ok(())
}

/// `2026-11-26T22:00:00Z` on host `vm` → `2026-11-26T22-00-00Z-vm`: the start time to the second,
/// so two runs on one day and host never share a directory (and names still sort by time).
fn run_dir_name(started_rfc3339: &str, host: &str) -> String {
    format!("{}-{}", started_rfc3339.replace(':', "-"), sanitize(host))
}

/// Where bench-results/ lives by default: the current directory's, or the workspace's.
fn default_results_dir() -> PathBuf {
    let local = PathBuf::from("bench-results");
    if local.is_dir() || PathBuf::from("Cargo.toml").is_file() {
        return local;
    }
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench-results"))
}

fn cell_summary(cell: &Cell) -> String {
    match (&cell.na, &cell.load) {
        (Some(reason), _) => format!("n/a — {reason}"),
        (None, Some(l)) => format!(
            "{:>9.0} req/s {:>8.1} MB/s  p99 {:>8.0}us  errors {}",
            l.requests_per_sec,
            l.mb_per_sec,
            l.latency.p99_us,
            l.errors.total()
        ),
        (None, None) => "?".into(),
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_directories_differ_by_the_second_and_keep_the_host() {
        let a = run_dir_name("2026-11-26T22:00:00Z", "vm.local");
        let b = run_dir_name("2026-11-26T22:00:01Z", "vm.local");
        assert_eq!(a, "2026-11-26T22-00-00Z-vm_local");
        assert_ne!(a, b);
        assert!(!a.contains(':'), "a path component every file system takes");
    }

    #[test]
    fn start_time_is_rfc3339_utc() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_280_800);
        assert_eq!(
            humantime::format_rfc3339_seconds(t).to_string(),
            "2025-11-27T22:00:00Z"
        );
    }
}
