//! `harness compare`: every mode of every server through the same scenarios.
//!
//! For each row (one server binary + one set of mode flags) and each scenario (one cell), the
//! harness starts a fresh server pinned to the first CPU this process may use (`--addr 127.0.0.1:0`, waits for the announce
//! line), runs the load from this process pinned to the second, samples the server's `/proc` figures
//! around the measured window, and stops the server with SIGTERM (by PID). A fresh server per cell
//! keeps one cell's crash or leftover connections out of the next. Just before each run, the
//! machine-speed probe times one fixed task on a reference server that lives for the whole run
//! (`speed.rs`). Then one extra short run per row under `strace -c -f` counts syscalls per
//! request.
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
//! | `speed.rs` | the machine-speed probe: one fixed task timed before each run |
//! | `nginx.rs` | the nginx reference row's configuration |
//!
//! The data they fill is `crate::results`; `crate::report` writes it out.

pub(crate) mod matrix;
mod measure;
mod nginx;
mod probes;
mod speed;
mod supervise;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use matrix::{NGINX, SERVERS, only_groups, scenarios, write_fixtures};
use measure::{not_applicable, run_cell, trace_syscalls};
use nginx::{find_in_path, find_nginx};
use probes::{load_average, machine_info};
use speed::SpeedProbe;
use supervise::{Interrupt, Launcher, RunContext, install_interrupt_handler};

use crate::report;
use crate::results::{
    CONTROL, CONTROL_COPY, Cell, Results, Row, Run, Scenario, Settings, Syscalls, cpu_list_text,
};
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
    /// CPUs for the servers, as taskset writes them (`0`, `0-1`) [default: the first half of
    /// the CPUs this process may use]. A server's worker count defaults to its CPUs.
    #[arg(long, value_name = "LIST")]
    pub server_cpus: Option<String>,
    /// CPUs for the load generator, one load thread each [default: the other half].
    #[arg(long, value_name = "LIST")]
    pub client_cpus: Option<String>,
    /// Runs of every cell, interleaved round-robin over the rows [default: 3, or 1 with
    /// --quick]. Tables show the median with its min–max.
    #[arg(long)]
    pub repeat: Option<usize>,
    /// Seconds of load per run of a cell [default: 1.5, or 0.5 with --quick]: with 3 runs
    /// per cell the full matrix takes about 39 minutes on 2 CPUs, the probe included.
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
    let (server_cpus, load_cpus) = pin_cpus(
        &allowed,
        args.server_cpus.as_deref(),
        args.client_cpus.as_deref(),
    )?;
    let (seconds, duration) = cell_duration(&args)?;
    let repeats = repeat_count(&args)?;
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
        repeats,
        load_threads: load_cpus.len().max(1),
        server_cpus: server_cpus.clone(),
        load_cpus: load_cpus.clone(),
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
        "harness compare: {} rows × {} scenarios × {repeats} runs, {seconds}s per run, servers on CPUs {}, load on CPUs {}",
        plan.len(),
        scenarios.len(),
        cpu_list_text(&server_cpus),
        cpu_list_text(&load_cpus),
    );
    let mut ctx = RunContext {
        root: root.path().to_path_buf(),
        server_cpus,
        load_cpus,
        duration,
        timeout,
        nginx,
        probe: None,
    };
    ctx.probe = start_probe(&ctx, &plan, args.quick);
    let rows = measure_rows(
        &ctx,
        plan,
        &scenarios,
        repeats,
        &interrupt,
        &strace,
        strace_seconds,
    );
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
/// The CPUs the servers and the load generator run on: `--server-cpus` and `--client-cpus`, or
/// by default the CPUs this process may use split in two (the first half for the servers, the
/// rest for the load: 0 and 1 on a 2-CPU machine). The calling thread is pinned to the load's
/// CPUs (load threads inherit it, and each pins itself to one of them). With fewer than two
/// CPUs and no lists given nothing is pinned, and one line says so.
fn pin_cpus(
    allowed: &[usize],
    server: Option<&str>,
    client: Option<&str>,
) -> io::Result<(Vec<usize>, Vec<usize>)> {
    let (server, client) = choose_cpus(allowed, server, client)?;
    if server.is_empty() {
        eprintln!(
            "harness compare: only {} CPU allowed ({allowed:?}): servers and load are not pinned",
            allowed.len()
        );
        return Ok((server, client));
    }
    if server.iter().any(|c| client.contains(c)) {
        eprintln!(
            "harness compare: servers (CPUs {server:?}) and load (CPUs {client:?}) share a CPU: \
             the load competes with the server it measures"
        );
    }
    // Pin this (main) thread before any load thread starts: they inherit it.
    sys::pin_to_cpus(&client)?;
    Ok((server, client))
}
// ANCHOR_END: harness_pin_cpus

/// The server and load CPU lists: the flags' (checked against `allowed`), else `allowed` split
/// in two; both empty with fewer than two CPUs and no flags.
fn choose_cpus(
    allowed: &[usize],
    server: Option<&str>,
    client: Option<&str>,
) -> io::Result<(Vec<usize>, Vec<usize>)> {
    let half = allowed.len().div_ceil(2);
    let (default_server, default_client) = allowed.split_at(half.min(allowed.len()));
    if server.is_none() && client.is_none() && default_client.is_empty() {
        return Ok((vec![], vec![]));
    }
    let pick = |flag: Option<&str>, default: &[usize], name: &str| -> io::Result<Vec<usize>> {
        let cpus = match flag {
            Some(list) => sys::parse_cpu_list(list)?,
            None if default.is_empty() => allowed.to_vec(),
            None => default.to_vec(),
        };
        if let Some(cpu) = cpus.iter().find(|c| !allowed.contains(c)) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("--{name}-cpus: CPU {cpu} is not one this process may use ({allowed:?})"),
            ));
        }
        Ok(cpus)
    };
    Ok((
        pick(server, default_server, "server")?,
        pick(client, default_client, "client")?,
    ))
}

/// Seconds of load per cell (`--duration`, else 0.5 with `--quick`, 2 without), checked > 0.
fn cell_duration(args: &CompareArgs) -> io::Result<(f64, Duration)> {
    let seconds = args.duration.unwrap_or(if args.quick { 0.5 } else { 1.5 });
    let duration = Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "--duration must be > 0"))?;
    Ok((seconds, duration))
}

/// Runs per cell (`--repeat`, else 1 with `--quick`, 3 without), checked ≥ 1.
fn repeat_count(args: &CompareArgs) -> io::Result<usize> {
    match args.repeat {
        Some(0) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--repeat must be at least 1",
        )),
        Some(n) => Ok(n),
        None => Ok(if args.quick { 1 } else { 3 }),
    }
}

/// `strace`'s path, or why the syscall counts are skipped.
fn find_strace(args: &CompareArgs) -> Result<PathBuf, String> {
    if args.no_strace {
        Err("skipped (--no-strace)".to_string())
    } else {
        find_in_path("strace").ok_or_else(|| "strace not installed".to_string())
    }
}

/// Run every cell of every planned row `repeats` times, then each row's syscall count, printing
/// one line per run with the progress and an estimate of the time left. The order is
/// round-robin: each repeat runs every scenario through every row before the next repeat, so a
/// slow drift of the machine (another job, a warming cache) falls on every row alike instead of
/// on the rows that happened to run last. An interrupt (Ctrl-C) ends the process here, once the
/// servers are stopped.
// ANCHOR: harness_interleaved
fn measure_rows(
    ctx: &RunContext,
    plan: Vec<(Launcher, Row)>,
    scenarios: &[Scenario],
    repeats: usize,
    interrupt: &Interrupt,
    strace: &Result<PathBuf, String>,
    strace_seconds: f64,
) -> Vec<Row> {
    // runs[row][scenario]: every outcome so far.
    let mut runs: Vec<Vec<Vec<Result<Run, String>>>> =
        vec![vec![Vec::with_capacity(repeats); scenarios.len()]; plan.len()];
    let mut progress = Progress::new(measured_runs(&plan, scenarios, repeats));
    for (repeat, si, ri) in run_order(plan.len(), scenarios.len(), repeats) {
        let (s, (launcher, row)) = (&scenarios[si], &plan[ri]);
        if row.na.is_some() || not_applicable(launcher, s).is_some() {
            continue;
        }
        let outcome = run_cell_unstolen(ctx, launcher, s, interrupt);
        if interrupt.requested() {
            // The interrupt thread is stopping the servers and will exit; this run means
            // nothing. Wait for it (bounded: it gives the servers 1.5 s, then SIGKILLs).
            interrupt.wait_and_exit(Duration::from_secs(10));
        }
        eprintln!(
            "  {} {:<32} {:<16} run {}/{repeats}  {}",
            progress.step(),
            row.label(),
            s.id,
            repeat + 1,
            run_summary(&outcome)
        );
        runs[ri][si].push(outcome);
    }
    let mut rows = Vec::with_capacity(plan.len());
    for ((launcher, mut row), row_runs) in plan.into_iter().zip(runs) {
        for (s, outcomes) in scenarios.iter().zip(row_runs) {
            let reason = row.na.clone().or_else(|| not_applicable(&launcher, s));
            let cell = match reason {
                Some(reason) => Cell::na(reason),
                None => cell_of(outcomes),
            };
            row.cells.insert(s.id.clone(), cell);
        }
        row.syscalls = row_syscalls(ctx, &launcher, &row, strace, strace_seconds);
        rows.push(row);
    }
    rows
}
// ANCHOR_END: harness_interleaved

/// One run of a cell, measured again (at most [`crate::results::STEAL_RETRIES`] times) while the
/// hypervisor stole at least [`crate::results::STEAL_REMEASURE`] of a CPU during it; the run
/// records how many attempts it replaced.
fn run_cell_unstolen(
    ctx: &RunContext,
    launcher: &Launcher,
    s: &Scenario,
    interrupt: &Interrupt,
) -> Result<Run, String> {
    let mut outcome = run_cell(ctx, launcher, s);
    let mut retries = 0;
    while let Ok(run) = &outcome {
        if !run.stolen_from(retries) || interrupt.requested() {
            break;
        }
        eprintln!(
            "      steal took {:.0} % of a CPU during this run: measuring it again",
            run.max_steal() * 100.0
        );
        retries += 1;
        outcome = run_cell(ctx, launcher, s);
    }
    if let Ok(run) = &mut outcome {
        run.remeasured_for_steal = retries;
    }
    outcome
}

/// The order of the runs, as (repeat, scenario, row) indices: each repeat takes every scenario
/// through every row, so consecutive runs of one row are a whole pass apart.
fn run_order(rows: usize, scenarios: usize, repeats: usize) -> Vec<(usize, usize, usize)> {
    let mut order = Vec::with_capacity(rows * scenarios * repeats);
    for repeat in 0..repeats {
        for scenario in 0..scenarios {
            for row in 0..rows {
                order.push((repeat, scenario, row));
            }
        }
    }
    order
}

/// How many runs the matrix will measure (n/a rows and cells take no time).
fn measured_runs(plan: &[(Launcher, Row)], scenarios: &[Scenario], repeats: usize) -> usize {
    let per_repeat = scenarios
        .iter()
        .map(|s| {
            plan.iter()
                .filter(|(l, r)| r.na.is_none() && not_applicable(l, s).is_none())
                .count()
        })
        .sum::<usize>();
    per_repeat * repeats
}

/// A cell from its runs: n/a as a whole when any run failed (naming the run), else measured.
fn cell_of(outcomes: Vec<Result<Run, String>>) -> Cell {
    let total = outcomes.len();
    let mut runs = Vec::with_capacity(total);
    for (i, outcome) in outcomes.into_iter().enumerate() {
        match outcome {
            Ok(run) => runs.push(run),
            Err(why) => return Cell::na(format!("run {} of {total}: {why}", i + 1)),
        }
    }
    Cell::from_runs(runs)
}

/// Runs done out of the total, and the time left at the pace so far.
struct Progress {
    total: usize,
    done: usize,
    started: Instant,
}

impl Progress {
    fn new(total: usize) -> Progress {
        Progress {
            total,
            done: 0,
            started: Instant::now(),
        }
    }

    /// Count one more run; `[done/total, ETA m:ss]`.
    fn step(&mut self) -> String {
        self.done += 1;
        let left = eta(self.started.elapsed(), self.done, self.total);
        format!(
            "[{}/{}, ETA {}:{:02}]",
            self.done,
            self.total,
            left.as_secs() / 60,
            left.as_secs() % 60
        )
    }
}

/// The time left for `total - done` more runs at the average pace of the `done` so far.
fn eta(elapsed: Duration, done: usize, total: usize) -> Duration {
    if done == 0 {
        return Duration::ZERO;
    }
    elapsed.mul_f64(total.saturating_sub(done) as f64 / done as f64)
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
                only_groups: only_groups(spec.name, mode),
            };
            plan.push((launcher, row));
        }
    }
    add_control_row(&mut plan);
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

/// The machine-speed probe's reference server: the [`CONTROL`] row's command, when that row is
/// planned and built (a line says why there is no probe otherwise). None with `--quick`: a quick
/// run is a first look, not a measurement to reproduce, and stays under two minutes.
fn start_probe(ctx: &RunContext, plan: &[(Launcher, Row)], quick: bool) -> Option<SpeedProbe> {
    if quick {
        return None;
    }
    let control = plan
        .iter()
        .find(|(_, r)| (r.server.as_str(), r.mode.as_str()) == CONTROL && r.na.is_none());
    let Some((launcher, _)) = control else {
        eprintln!(
            "harness compare: no machine-speed probe ({} {} is not in this run)",
            CONTROL.0, CONTROL.1
        );
        return None;
    };
    match SpeedProbe::start(ctx, launcher) {
        Ok(probe) => Some(probe),
        Err(why) => {
            eprintln!("harness compare: no machine-speed probe ({why})");
            None
        }
    }
}

/// Append a second copy of the [`CONTROL`] row (when it is planned): it runs interleaved with
/// the others like any row.
fn add_control_row(plan: &mut Vec<(Launcher, Row)>) {
    let original = plan
        .iter()
        .find(|(_, r)| (r.server.as_str(), r.mode.as_str()) == CONTROL);
    if let Some((launcher, row)) = original {
        let mut copy = row.clone();
        copy.mode = CONTROL_COPY.to_string();
        let entry = (launcher.clone(), copy);
        plan.push(entry);
    }
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

fn run_summary(outcome: &Result<Run, String>) -> String {
    match outcome {
        Err(reason) => format!("n/a — {reason}"),
        Ok(Run { load: l, .. }) => format!(
            "{:>9.0} req/s {:>8.1} MB/s  p99 {:>8.0}us  errors {}",
            l.requests_per_sec,
            l.mb_per_sec,
            l.latency.p99_us,
            l.errors.total()
        ),
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
    fn the_control_row_is_a_second_copy_of_epoll_single_level() {
        let row = |server: &str, mode: &str| {
            let launcher = Launcher::Binary {
                bin: PathBuf::from(server),
                args: vec![mode.to_string()],
                fd_limit: None,
                only_groups: None,
            };
            (launcher, empty_row(server, mode, vec![], false, ""))
        };
        let mut plan = vec![
            row("server-poll", ""),
            row(CONTROL.0, CONTROL.1),
            row(CONTROL.0, "multi-level"),
        ];
        add_control_row(&mut plan);
        assert_eq!(plan.len(), 4);
        let (launcher, copy) = &plan[3];
        assert_eq!(
            (copy.server.as_str(), copy.mode.as_str()),
            (CONTROL.0, CONTROL_COPY)
        );
        let Launcher::Binary { args, .. } = launcher else {
            panic!("a binary row")
        };
        assert_eq!(
            args,
            &[CONTROL.1.to_string()],
            "the same flags as the original"
        );
        let mut without = vec![row("server-poll", "")];
        add_control_row(&mut without);
        assert_eq!(without.len(), 1, "no control without its server");
    }

    #[test]
    fn repeats_go_round_robin_over_rows_and_scenarios() {
        let order = run_order(2, 2, 2);
        assert_eq!(
            order,
            [
                (0, 0, 0),
                (0, 0, 1),
                (0, 1, 0),
                (0, 1, 1),
                (1, 0, 0),
                (1, 0, 1),
                (1, 1, 0),
                (1, 1, 1)
            ]
        );
    }

    #[test]
    fn three_runs_by_default_one_with_quick_and_never_zero() {
        let args = |quick, repeat| CompareArgs {
            quick,
            servers: vec![],
            scenarios: vec![],
            server_cpus: None,
            client_cpus: None,
            repeat,
            duration: None,
            bin_dir: None,
            out: None,
            no_strace: false,
            no_nginx: false,
        };
        assert_eq!(repeat_count(&args(false, None)).expect("valid"), 3);
        assert_eq!(repeat_count(&args(true, None)).expect("valid"), 1);
        assert_eq!(repeat_count(&args(true, Some(5))).expect("valid"), 5);
        assert!(repeat_count(&args(false, Some(0))).is_err());
    }

    #[test]
    fn cpus_are_split_in_two_by_default_and_the_flags_are_checked() {
        let split = |allowed: &[usize], s: Option<&str>, c: Option<&str>| {
            choose_cpus(allowed, s, c).map_err(|e| e.to_string())
        };
        assert_eq!(split(&[0, 1], None, None), Ok((vec![0], vec![1])));
        assert_eq!(
            split(&[0, 1, 2, 3], None, None),
            Ok((vec![0, 1], vec![2, 3]))
        );
        assert_eq!(split(&[0, 1, 2], None, None), Ok((vec![0, 1], vec![2])));
        assert_eq!(
            split(&[3], None, None),
            Ok((vec![], vec![])),
            "one CPU: no pinning"
        );
        assert_eq!(
            split(&[0, 1], Some("0-1"), Some("1")),
            Ok((vec![0, 1], vec![1]))
        );
        assert_eq!(split(&[0, 1], Some("0-1"), None), Ok((vec![0, 1], vec![1])));
        assert!(
            split(&[0, 1], Some("2"), None).is_err_and(|e| e.contains("CPU 2 is not one")),
            "a CPU outside the mask is refused"
        );
        assert_eq!(cpu_list_text(&[0, 1]), "0,1");
        assert_eq!(cpu_list_text(&[]), "any");
    }

    #[test]
    fn the_eta_is_the_pace_so_far_times_the_runs_left() {
        assert_eq!(eta(Duration::from_secs(10), 2, 6), Duration::from_secs(20));
        assert_eq!(eta(Duration::from_secs(10), 6, 6), Duration::ZERO);
        assert_eq!(eta(Duration::from_secs(10), 0, 6), Duration::ZERO);
    }

    #[test]
    fn a_failed_run_makes_the_cell_na_and_names_the_run() {
        let cell = cell_of(vec![Err("server crashed".into())]);
        assert_eq!(cell.na.as_deref(), Some("run 1 of 1: server crashed"));
        assert!(cell.runs.is_empty());
    }

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
