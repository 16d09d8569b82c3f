//! `harness compare`: every mode of every server through the same scenarios.
//!
//! For each row (one server binary + one set of mode flags) and each scenario (one cell), the
//! harness starts a fresh server pinned to CPU 0 (`--addr 127.0.0.1:0`, waits for the announce
//! line), runs the load from this process pinned to CPU 1, samples the server's `/proc` figures
//! around the measured window, and stops the server with SIGTERM (by PID). A fresh server per cell
//! keeps one cell's crash or leftover connections out of the next. Then one extra short run per row
//! under `strace -c -f` counts syscalls per request.
//!
//! The list of servers and their modes is [`SERVERS`], the only place to edit when a server or a
//! mode is added. A binary that is not built shows as "n/a — not built"; a cell a model cannot take
//! part in shows "n/a — reason"; nothing is dropped and nothing crashes the run.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::load::{self, IdleConnections, LoadReport, LoadSpec, Target};
use crate::report;
use crate::sys;

/// One server crate and the modes it is measured in.
#[derive(Debug)]
pub struct ServerSpec {
    /// Crate (and binary) name.
    pub name: &'static str,
    /// `(mode label, extra flags)`; every mode is its own row.
    pub modes: &'static [(&'static str, &'static [&'static str])],
    /// Most descriptors the model can watch (`select`: `FD_SETSIZE`), with the reason.
    pub fd_limit: Option<(usize, &'static str)>,
}

/// THE table: every server of the workspace and its modes. Add a line here for a new server.
pub const SERVERS: &[ServerSpec] = &[
    ServerSpec {
        name: "server-blocking",
        modes: &[("thread-per-conn", &[]), ("pool-32", &["--pool", "32"])],
        fd_limit: None,
    },
    ServerSpec {
        name: "server-nonblocking",
        modes: &[("sleep", &[]), ("spin", &["--spin"])],
        fd_limit: None,
    },
    ServerSpec {
        name: "server-select",
        modes: &[("", &[])],
        fd_limit: Some((1024, "select: FD_SETSIZE is 1024")),
    },
    ServerSpec {
        name: "server-poll",
        modes: &[("", &[])],
        fd_limit: None,
    },
    ServerSpec {
        name: "server-epoll",
        modes: &[
            (
                "single-level",
                &["--pattern", "single", "--trigger", "level"],
            ),
            ("single-edge", &["--pattern", "single", "--trigger", "edge"]),
            (
                "reactor-level",
                &["--pattern", "reactor", "--trigger", "level"],
            ),
            (
                "reactor-edge",
                &["--pattern", "reactor", "--trigger", "edge"],
            ),
            (
                "proactor-level",
                &["--pattern", "proactor", "--trigger", "level"],
            ),
            (
                "proactor-edge",
                &["--pattern", "proactor", "--trigger", "edge"],
            ),
            ("multi-level", &["--pattern", "multi", "--trigger", "level"]),
            ("multi-edge", &["--pattern", "multi", "--trigger", "edge"]),
        ],
        fd_limit: None,
    },
    ServerSpec {
        name: "server-sigio",
        modes: &[
            ("rt", &["--signal", "rt"]),
            ("plain", &["--signal", "plain"]),
        ],
        fd_limit: None,
    },
    ServerSpec {
        name: "server-aio",
        // glibc's AIO pool must hold one helper thread per idle connection (see the crate doc):
        // size it for the largest idle cell, so the C10K row shows that cost instead of 503s.
        modes: &[
            (
                "signal",
                &["--notify", "signal", "--max-connections", "9500"],
            ),
            (
                "suspend",
                &["--notify", "suspend", "--max-connections", "9500"],
            ),
        ],
        fd_limit: None,
    },
    ServerSpec {
        name: "server-uring",
        modes: &[("", &[])],
        fd_limit: None,
    },
];

/// The reference row's name.
const NGINX: &str = "nginx";

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
    /// Results root; the run goes to <OUT>/<date>-<host>/ [default: ./bench-results].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Skip the `strace -c` runs.
    #[arg(long)]
    pub no_strace: bool,
    /// Skip the nginx reference row.
    #[arg(long)]
    pub no_nginx: bool,
}

/// What one scenario asks of the load generator.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// Short id (`keepalive-100`).
    pub id: String,
    /// Table title.
    pub title: String,
    /// Which group of the matrix it belongs to (`keepalive`, `close`, `idle`, `large`).
    pub group: &'static str,
    /// Active clients.
    pub clients: usize,
    /// Idle connections held open.
    pub idle: usize,
    /// Connection per request.
    pub close: bool,
    /// Request path (a file in the temp root).
    pub path: String,
}

/// Small static file every server serves (and its size).
const SMALL_FILE: (&str, usize) = ("index.html", 128);
const FILE_1M: (&str, usize) = ("1m.bin", 1 << 20);
const FILE_64M: (&str, usize) = ("64m.bin", 64 << 20);

fn scenario(
    group: &'static str,
    clients: usize,
    idle: usize,
    file: &str,
    title: String,
) -> Scenario {
    let id = match group {
        "keepalive" => format!("keepalive-{clients}"),
        "close" => format!("close-{clients}"),
        "idle" => format!("idle-{idle}"),
        _ => format!("large-{}", file.trim_end_matches(".bin")),
    };
    Scenario {
        id,
        title,
        group,
        clients,
        idle,
        close: group == "close",
        path: format!("/{file}"),
    }
}

/// The matrix: the full one, or the reduced `--quick` one.
pub fn scenarios(quick: bool) -> Vec<Scenario> {
    let small = SMALL_FILE.0;
    let mut list = Vec::new();
    let sweep: &[usize] = if quick { &[10] } else { &[1, 10, 100, 1000] };
    for &c in sweep {
        list.push(scenario(
            "keepalive",
            c,
            0,
            small,
            format!("Keep-alive, small file, {c} clients"),
        ));
    }
    list.push(scenario(
        "close",
        100,
        0,
        small,
        "Connection per request (webbench style), 100 clients".into(),
    ));
    let idles: &[usize] = if quick {
        &[1000]
    } else {
        &[0, 1000, 5000, 9000]
    };
    for &idle in idles {
        list.push(scenario(
            "idle",
            50,
            idle,
            small,
            format!("50 active keep-alive clients + {idle} idle connections"),
        ));
    }
    let large: &[(&str, usize)] = if quick {
        &[FILE_1M]
    } else {
        &[FILE_1M, FILE_64M]
    };
    for &(file, size) in large {
        list.push(scenario(
            "large",
            10,
            0,
            file,
            format!("Large file ({} MiB), 10 clients", size >> 20),
        ));
    }
    list
}

/// Settings of the run, recorded in results.json.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Reduced matrix.
    pub quick: bool,
    /// Seconds of load per cell.
    pub seconds_per_cell: f64,
    /// Load-generator threads.
    pub load_threads: usize,
    /// CPU the servers are pinned to (None: no pinning, fewer than 2 CPUs).
    pub server_cpu: Option<usize>,
    /// CPU the load generator is pinned to.
    pub load_cpu: Option<usize>,
    /// Per-request timeout, seconds.
    pub request_timeout_s: f64,
    /// Flags every server got besides its mode flags.
    pub server_flags: Vec<String>,
    /// Seconds of the `strace -c -f` run per row (None: skipped).
    pub strace_seconds: Option<f64>,
    /// Why strace was skipped.
    pub strace_skipped: Option<String>,
}

/// What the server cost during one cell.
#[derive(Debug, Clone, Serialize)]
pub struct ServerFigures {
    /// User + system CPU seconds over the measured window (all threads).
    pub cpu_seconds: f64,
    /// CPU milliseconds per 1,000 successful requests (= CPU seconds per 1,000 requests × 1000).
    pub cpu_ms_per_1k_requests: Option<f64>,
    /// Voluntary + involuntary context switches over the window.
    pub context_switches: u64,
    /// Context switches per successful request.
    pub context_switches_per_request: Option<f64>,
    /// How the switches were counted: `threads` (sum over /proc/<pid>/task/*/status, exact when
    /// no thread exited in the window) or `rusage` (getrusage of the reaped child minus the
    /// window-start sample: includes threads that exited, and the shutdown).
    pub context_switch_source: &'static str,
    /// Peak resident set (VmHWM), KiB.
    pub peak_rss_kib: u64,
    /// Threads at the end of the window.
    pub threads: u64,
    /// The server's own count, from its exit line `served N requests on M connections`.
    pub served_requests: Option<u64>,
    /// Share of the window during which the server's CPU ran something else (other processes
    /// on this machine): above ~10 % the cell's figures are disturbed (marked ⚠ in results.md).
    pub other_load_on_server_cpu: Option<f64>,
}

/// One cell: a figure or a reason.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// `None` when measured; the reason otherwise ("n/a — …").
    pub na: Option<String>,
    /// Load-generator figures.
    pub load: Option<LoadReport>,
    /// Server figures.
    pub server: Option<ServerFigures>,
}

impl Cell {
    fn na(reason: impl Into<String>) -> Cell {
        Cell {
            na: Some(reason.into()),
            load: None,
            server: None,
        }
    }
}

/// Syscalls per request of one row, from `strace -c -f`.
#[derive(Debug, Clone, Serialize)]
pub struct Syscalls {
    /// Requests answered during the traced run.
    pub requests: u64,
    /// Calls per request, by syscall name (all calls of the run, start-up included).
    pub per_request: BTreeMap<String, f64>,
    /// All syscalls per request.
    pub total_per_request: f64,
}

/// One row: a server in one mode.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Crate name (or `nginx`).
    pub server: String,
    /// Mode label (empty for single-mode servers).
    pub mode: String,
    /// Flags passed for this mode.
    pub args: Vec<String>,
    /// Whole-row reason (e.g. "not built"); cells then all carry it too.
    pub na: Option<String>,
    /// Cells by scenario id.
    pub cells: BTreeMap<String, Cell>,
    /// Syscalls per request, or why not.
    pub syscalls: Result<Syscalls, String>,
}

impl Row {
    /// `server mode` as shown in tables.
    pub fn label(&self) -> String {
        if self.mode.is_empty() {
            self.server.clone()
        } else {
            format!("{} {}", self.server, self.mode)
        }
    }
}

/// The machine the run was made on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Host name.
    pub host: String,
    /// CPU model.
    pub cpu_model: String,
    /// CPUs this process may run on (its affinity mask).
    pub cpus: usize,
    /// `uname -r`.
    pub kernel: String,
    /// First line of `ldd --version`.
    pub glibc: String,
    /// `rustc --version`.
    pub rustc: String,
    /// nginx version, if installed.
    pub nginx: Option<String>,
    /// `ulimit -n` (soft) after raising it.
    pub fd_limit: u64,
}

/// Everything one run produced (results.json).
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// UTC start time, RFC 3339.
    pub started: String,
    /// Wall time of the whole run, seconds.
    pub wall_seconds: f64,
    /// `/proc/loadavg` at the start and at the end of the run (other work on the machine).
    pub load_average: [String; 2],
    /// Machine.
    pub machine: Machine,
    /// Load settings.
    pub settings: Settings,
    /// Scenarios, in table order.
    pub scenarios: Vec<Scenario>,
    /// Rows, in table order.
    pub rows: Vec<Row>,
}

/// Servers started by this process, for the Ctrl-C handler (0 = free slot).
static CHILDREN: [AtomicU32; 4] = [const { AtomicU32::new(0) }; 4];

fn register_child(pid: u32) {
    for slot in &CHILDREN {
        if slot
            .compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return;
        }
    }
}

fn unregister_child(pid: u32) {
    for slot in &CHILDREN {
        let _ = slot.compare_exchange(pid, 0, Ordering::SeqCst, Ordering::SeqCst);
    }
}

/// On SIGINT/SIGTERM: stop the servers we started (by PID) and exit.
fn install_interrupt_handler() -> io::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let watcher = Arc::clone(&flag);
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])?;
    std::thread::Builder::new()
        .name("interrupt".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                watcher.store(true, Ordering::SeqCst);
                eprintln!("\ninterrupted: stopping the servers this run started");
                for slot in &CHILDREN {
                    let pid = slot.load(Ordering::SeqCst);
                    if pid != 0 {
                        let _ = sys::kill(pid, libc::SIGTERM);
                    }
                }
                // Reap them (bounded), then make sure.
                let deadline = Instant::now() + Duration::from_millis(1500);
                for slot in &CHILDREN {
                    let pid = slot.load(Ordering::SeqCst);
                    while pid != 0 && Instant::now() < deadline {
                        match sys::try_wait4(pid) {
                            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                            _ => break,
                        }
                    }
                    if pid != 0 && matches!(sys::try_wait4(pid), Ok(None)) {
                        let _ = sys::kill(pid, libc::SIGKILL);
                        let _ = sys::try_wait4(pid);
                    }
                }
                std::process::exit(128 + signal);
            }
        })?;
    Ok(flag)
}

/// Run the matrix and write the results.
pub fn run(args: CompareArgs) -> io::Result<()> {
    let wall = Instant::now();
    let started = utc_now();
    let load_at_start = load_average();
    let interrupted = install_interrupt_handler()?;
    let fd_limit = sys::raise_fd_limit();
    let allowed = sys::allowed_cpus()?;
    let (server_cpu, load_cpu) = match allowed[..] {
        // The first two CPUs this process may use: the server on one, the load on the other.
        [server, load, ..] => (Some(server), Some(load)),
        _ => {
            eprintln!(
                "harness: only {} CPU may be used ({allowed:?}): server and load share it, \
                 unpinned, so every figure includes the load generator's own work",
                allowed.len()
            );
            (None, None)
        }
    };
    if let Some(cpu) = load_cpu {
        // Pin this (main) thread before any load thread starts: they inherit it.
        sys::pin_to_cpu(cpu)?;
    }
    let seconds = args.duration.unwrap_or(if args.quick { 0.5 } else { 2.0 });
    let duration = Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "--duration must be > 0"))?;
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
    let bin_dir = match &args.bin_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_exe()?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    };
    let nginx = (!args.no_nginx).then(find_nginx).flatten();
    let strace = if args.no_strace {
        Err("skipped (--no-strace)".to_string())
    } else {
        find_in_path("strace").ok_or_else(|| "strace not installed".to_string())
    };
    let strace_seconds = (seconds / 2.0).clamp(0.2, 1.0);
    let root = tempfile_dir("harness-root")?;
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

    // The rows: every (server, mode) of the table, then nginx.
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
            let row = Row {
                server: spec.name.to_string(),
                mode: mode.to_string(),
                args: args.clone(),
                na: (!bin.is_file()).then(|| "not built".to_string()),
                cells: BTreeMap::new(),
                syscalls: Err("not measured".into()),
            };
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
        let row = Row {
            server: NGINX.into(),
            mode: "1 worker".into(),
            args: vec![],
            na: nginx.is_none().then(|| "nginx not installed".to_string()),
            cells: BTreeMap::new(),
            syscalls: Err("not measured".into()),
        };
        plan.push((Launcher::Nginx, row));
    }
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
    let mut rows = Vec::with_capacity(plan.len());
    for (launcher, mut row) in plan {
        for s in &scenarios {
            let cell = match &row.na {
                Some(reason) => Cell::na(reason.clone()),
                None => run_cell(&ctx, &launcher, s),
            };
            if interrupted.load(Ordering::SeqCst) {
                // The handler is stopping the server and will exit; this cell means nothing.
                std::thread::sleep(Duration::from_secs(5));
            }
            eprintln!("  {:<32} {:<16} {}", row.label(), s.id, cell_summary(&cell));
            row.cells.insert(s.id.clone(), cell);
        }
        row.syscalls = match (&row.na, &strace) {
            (Some(reason), _) => Err(reason.clone()),
            (None, Err(why)) => Err(why.clone()),
            (None, Ok(strace)) => {
                let traced = trace_syscalls(&ctx, &launcher, strace, strace_seconds);
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
        };
        rows.push(row);
    }
    let results = Results {
        started: started.clone(),
        wall_seconds: wall.elapsed().as_secs_f64(),
        load_average: [load_at_start, load_average()],
        machine,
        settings,
        scenarios,
        rows,
    };
    let out_root = args.out.clone().unwrap_or_else(crate::default_results_dir);
    let dir_name = format!(
        "{}-{}",
        started.get(..10).unwrap_or("run"),
        sanitize(&results.machine.host)
    );
    let dir = out_root.join(dir_name);
    report::write_all(&results, &dir)?;
    report::update_index(&out_root, &dir)?;
    println!("results: {}", dir.join("results.md").display());
    println!("         {}", dir.join("results.json").display());
    println!("charts:  {}", dir.join("*.svg").display());
    eprintln!("took {:.0}s", results.wall_seconds);
    Ok(())
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

/// How to start a row's server.
#[derive(Debug)]
enum Launcher {
    Binary {
        bin: PathBuf,
        args: Vec<String>,
        fd_limit: Option<(usize, &'static str)>,
    },
    Nginx,
}

#[derive(Debug)]
struct RunContext {
    root: PathBuf,
    server_cpu: Option<usize>,
    load_cpu: Option<usize>,
    duration: Duration,
    timeout: Duration,
    nginx: Option<Nginx>,
}

#[derive(Debug, Clone)]
struct Nginx {
    bin: PathBuf,
    version: String,
}

/// A server process we started and must stop.
#[derive(Debug)]
struct Running {
    pid: u32,
    addr: SocketAddr,
    stderr_path: PathBuf,
    _scratch: TempDir,
}

impl Running {
    /// Stop it: SIGTERM, wait (bounded by the servers' grace period), SIGKILL if needed.
    fn stop(self) -> (Option<sys::ChildUsage>, String) {
        let _ = sys::kill(self.pid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(7);
        let mut usage = None;
        while Instant::now() < deadline {
            match sys::try_wait4(self.pid) {
                Ok(Some(u)) => {
                    usage = Some(u);
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(_) => break,
            }
        }
        if usage.is_none() {
            let _ = sys::kill(self.pid, libc::SIGKILL);
            for _ in 0..200 {
                if let Ok(Some(u)) = sys::try_wait4(self.pid) {
                    usage = Some(u);
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        unregister_child(self.pid);
        let stderr = fs::read_to_string(&self.stderr_path).unwrap_or_default();
        (usage, stderr)
    }

    /// Still running? (`Some(status)` if it exited.)
    fn exited(&self) -> Option<sys::ChildUsage> {
        sys::try_wait4(self.pid).ok().flatten()
    }
}

fn start_server(
    ctx: &RunContext,
    launcher: &Launcher,
    wrapper: Option<(&Path, &Path)>,
) -> Result<Running, String> {
    let scratch = tempfile_dir("harness-server").map_err(|e| e.to_string())?;
    let stderr_path = scratch.path().join("stderr.log");
    let stderr = File::create(&stderr_path).map_err(|e| e.to_string())?;
    let (mut command, fixed_addr) = match launcher {
        Launcher::Binary { bin, args, .. } => {
            let mut command = match wrapper {
                Some((strace, out)) => {
                    let mut c = Command::new(strace);
                    c.arg("-c").arg("-f").arg("-o").arg(out).arg("--").arg(bin);
                    c
                }
                None => Command::new(bin),
            };
            command
                .args(args)
                .arg("--addr")
                .arg("127.0.0.1:0")
                .arg("--root")
                .arg(&ctx.root);
            (command, None)
        }
        Launcher::Nginx => {
            let nginx = ctx.nginx.as_ref().ok_or("nginx not installed")?;
            let port = free_port().map_err(|e| format!("no free port: {e}"))?;
            let conf = write_nginx_conf(scratch.path(), &ctx.root, port)
                .map_err(|e| format!("nginx config: {e}"))?;
            let mut command = match wrapper {
                Some((strace, out)) => {
                    let mut c = Command::new(strace);
                    c.arg("-c")
                        .arg("-f")
                        .arg("-o")
                        .arg(out)
                        .arg("--")
                        .arg(&nginx.bin);
                    c
                }
                None => Command::new(&nginx.bin),
            };
            command.arg("-p").arg(scratch.path()).arg("-c").arg(conf);
            (command, Some(SocketAddr::from(([127, 0, 0, 1], port))))
        }
    };
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr));
    if let Some(cpu) = ctx.server_cpu {
        // The mask is built here, before fork; the child only applies it.
        let pin = sys::CpuPin::new(cpu).map_err(|e| format!("cannot pin to CPU {cpu}: {e}"))?;
        // SAFETY: the closure runs in the child between fork and exec. It copies a prepared
        // mask and makes the async-signal-safe sched_setaffinity syscall: no allocation, no lock.
        unsafe {
            command.pre_exec(move || pin.apply_to_self());
        }
    }
    let mut child = command.spawn().map_err(|e| format!("cannot start: {e}"))?;
    let pid = child.id();
    register_child(pid);
    let stdout = child.stdout.take();
    // From here on the child is reaped with wait4 (for its rusage), not through `child`.
    drop(child);
    let fail = |why: String| {
        let _ = sys::kill(pid, libc::SIGKILL);
        for _ in 0..200 {
            if matches!(sys::try_wait4(pid), Ok(Some(_)) | Err(_)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        unregister_child(pid);
        let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        if last.is_empty() {
            why
        } else {
            format!("{why}: {}", truncate(last, 120))
        }
    };
    let addr = match fixed_addr {
        None => match read_announce(stdout, Duration::from_secs(10)) {
            Ok(addr) => addr,
            Err(why) => return Err(fail(why)),
        },
        Some(addr) => {
            // nginx prints nothing: wait until it accepts connections.
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    break;
                }
                if Instant::now() > deadline || matches!(sys::try_wait4(pid), Ok(Some(_))) {
                    return Err(fail("did not start".into()));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            addr
        }
    };
    Ok(Running {
        pid,
        addr,
        stderr_path,
        _scratch: scratch,
    })
}

/// Read `listening on http://HOST:PORT` from the server's stdout (on a helper thread, so a
/// server that never prints cannot hang us).
fn read_announce(
    stdout: Option<std::process::ChildStdout>,
    within: Duration,
) -> Result<SocketAddr, String> {
    let stdout = stdout.ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let result = reader.read_line(&mut line).map(|_| line);
        let _ = tx.send(result);
        // Keep draining so the server never blocks on a full pipe.
        let mut sink = [0u8; 4096];
        while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
    });
    let line = match rx.recv_timeout(within) {
        Ok(Ok(line)) => line,
        Ok(Err(e)) => return Err(format!("reading its stdout: {e}")),
        Err(_) => return Err("no announce line".into()),
    };
    line.trim()
        .strip_prefix("listening on http://")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| {
            if line.is_empty() {
                "exited before announcing".to_string()
            } else {
                format!("unexpected first line {:?}", truncate(line.trim(), 80))
            }
        })
}

/// One cell: fresh server, optional idle connections, measured load, figures, stop.
fn run_cell(ctx: &RunContext, launcher: &Launcher, s: &Scenario) -> Cell {
    if let Launcher::Binary {
        fd_limit: Some((limit, why)),
        ..
    } = launcher
    {
        // listener, shutdown pipe, stdio and a few spare descriptors.
        let needed = s.clients + s.idle + 8;
        if needed > *limit {
            return Cell::na(format!("{why} (this cell needs ~{needed} descriptors)"));
        }
    }
    let server = match start_server(ctx, launcher, None) {
        Ok(server) => server,
        Err(why) => return Cell::na(format!("server failed to start: {why}")),
    };
    let idle = if s.idle > 0 {
        match IdleConnections::open(server.addr, s.idle, Duration::from_secs(10)) {
            Ok(idle) => {
                // Give the server a moment to accept the backlog.
                std::thread::sleep(Duration::from_millis(200));
                idle
            }
            Err(e) => {
                let _ = server.stop();
                return Cell::na(format!("could not open idle connections: {e}"));
            }
        }
    } else {
        IdleConnections::none()
    };
    let spec = LoadSpec {
        target: Target {
            addr: server.addr,
            host: server.addr.to_string(),
            path: s.path.clone(),
        },
        clients: s.clients,
        threads: 1,
        duration: Some(ctx.duration),
        total: None,
        rate: None,
        close: s.close,
        timeout: if s.group == "large" {
            ctx.timeout.max(Duration::from_secs(5))
        } else {
            ctx.timeout
        },
        cpu: ctx.load_cpu,
        progress: false,
    };
    let cpu = ctx.server_cpu;
    let before = ProcSample::take(server.pid, cpu);
    let mut after = None;
    let load = load::run_with(&spec, &idle, || after = ProcSample::take(server.pid, cpu));
    drop(idle);
    if let Some(status) = server.exited() {
        unregister_child(server.pid);
        return Cell::na(format!(
            "server crashed during the run ({})",
            describe_exit(status.status)
        ));
    }
    let (usage, stderr) = server.stop();
    let load = match load {
        Ok(load) => load,
        Err(e) => return Cell::na(format!("load generator failed: {e}")),
    };
    let churn = s.close;
    let figures = figures(
        &before,
        &after,
        usage.as_ref(),
        load.requests,
        &stderr,
        churn,
        load.seconds,
    );
    Cell {
        na: None,
        load: Some(load),
        server: figures,
    }
}

fn figures(
    before: &Option<ProcSample>,
    after: &Option<ProcSample>,
    usage: Option<&sys::ChildUsage>,
    requests: u64,
    stderr: &str,
    churn: bool,
    window: f64,
) -> Option<ServerFigures> {
    let (before, after) = (before.as_ref()?, after.as_ref()?);
    let cpu_seconds = (after.cpu_seconds - before.cpu_seconds).max(0.0);
    // Per-thread sums are exact when no thread exited during the window (threads started in it
    // and still alive count fully). Connection-per-request runs on a thread-per-connection
    // server start and end threads inside the window, so there (and whenever a thread from the
    // start is gone) the reaped child's rusage is used instead; it also counts the shutdown.
    let threads_stable = !churn && before.tids.iter().all(|t| after.tids.contains(t));
    let (context_switches, source) = match usage {
        Some(u) if !threads_stable => (
            u.context_switches.saturating_sub(before.context_switches),
            "rusage",
        ),
        _ => (
            after
                .context_switches
                .saturating_sub(before.context_switches),
            "threads",
        ),
    };
    let per = |v: f64| (requests > 0).then(|| v / requests as f64);
    Some(ServerFigures {
        cpu_seconds,
        cpu_ms_per_1k_requests: per(cpu_seconds * 1_000_000.0),
        context_switches,
        context_switches_per_request: per(context_switches as f64),
        context_switch_source: source,
        peak_rss_kib: after.peak_rss_kib,
        threads: after.threads,
        served_requests: parse_served(stderr),
        other_load_on_server_cpu: match (before.server_cpu_busy, after.server_cpu_busy) {
            (Some(b), Some(a)) if window > 0.0 => {
                Some(((a - b - cpu_seconds) / window).clamp(0.0, 1.0))
            }
            _ => None,
        },
    })
}

/// `served N requests on M connections` → N.
pub fn parse_served(stderr: &str) -> Option<u64> {
    stderr.lines().rev().find_map(|line| {
        let rest = line.trim().strip_prefix("served ")?;
        let (n, tail) = rest.split_once(' ')?;
        tail.starts_with("requests")
            .then(|| n.parse().ok())
            .flatten()
    })
}

/// Figures read from /proc at one instant.
#[derive(Debug, Clone)]
struct ProcSample {
    cpu_seconds: f64,
    /// Busy time of the server's CPU (all processes), seconds, from /proc/stat.
    server_cpu_busy: Option<f64>,
    context_switches: u64,
    tids: Vec<u32>,
    threads: u64,
    peak_rss_kib: u64,
}

impl ProcSample {
    fn take(pid: u32, server_cpu: Option<usize>) -> Option<ProcSample> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which is in parentheses and may contain spaces).
        let after_comm = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the whole line: indexes 11 and 12 here. For a
        // process they include all its threads, even those that exited.
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        };
        let mut context_switches = 0;
        let mut tids = Vec::new();
        if let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) {
            for task in tasks.flatten() {
                let Some(tid) = task
                    .file_name()
                    .to_str()
                    .and_then(|t| t.parse::<u32>().ok())
                else {
                    continue;
                };
                tids.push(tid);
                if let Ok(s) = fs::read_to_string(task.path().join("status")) {
                    for line in s.lines() {
                        if let Some(v) = line
                            .strip_prefix("voluntary_ctxt_switches:")
                            .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
                        {
                            context_switches += v.trim().parse::<u64>().unwrap_or(0);
                        }
                    }
                }
            }
        }
        Some(ProcSample {
            cpu_seconds: (utime + stime) / sys::clock_ticks(),
            server_cpu_busy: server_cpu.and_then(cpu_busy_seconds),
            context_switches,
            tids,
            threads: field("Threads:").unwrap_or(0),
            peak_rss_kib: field("VmHWM:").unwrap_or(0),
        })
    }
}

/// The first three fields of `/proc/loadavg`.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Busy seconds of one CPU since boot (`/proc/stat`: everything but idle and iowait).
fn cpu_busy_seconds(cpu: usize) -> Option<f64> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let prefix = format!("cpu{cpu} ");
    let line = stat.lines().find(|l| l.starts_with(&prefix))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already
    // included in user.
    let busy: u64 = fields
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum();
    Some(busy as f64 / sys::clock_ticks())
}

/// One short keep-alive run under `strace -c -f`: syscalls per request by name.
fn trace_syscalls(
    ctx: &RunContext,
    launcher: &Launcher,
    strace: &Path,
    seconds: f64,
) -> Result<Syscalls, String> {
    let scratch = tempfile_dir("harness-strace").map_err(|e| e.to_string())?;
    let out = scratch.path().join("strace.txt");
    let server = start_server(ctx, launcher, Some((strace, &out)))
        .map_err(|e| format!("server failed to start under strace: {e}"))?;
    let spec = LoadSpec {
        target: Target {
            addr: server.addr,
            host: server.addr.to_string(),
            path: format!("/{}", SMALL_FILE.0),
        },
        clients: 10,
        threads: 1,
        duration: Some(Duration::from_secs_f64(seconds)),
        total: None,
        rate: None,
        close: false,
        timeout: Duration::from_secs(5),
        cpu: ctx.load_cpu,
        progress: false,
    };
    let load = load::run(&spec, &IdleConnections::none());
    // The PID we hold is strace's; SIGTERM goes to the traced server (strace's child), so the
    // server shuts down as usual and strace then writes its summary and exits.
    let traced = children_of(server.pid);
    for pid in &traced {
        let _ = sys::kill(*pid, libc::SIGTERM);
    }
    let (usage, _stderr) = server.stop();
    if usage.is_none() {
        return Err("strace did not exit".into());
    }
    let load = load.map_err(|e| format!("load failed: {e}"))?;
    let requests = load.requests;
    if requests == 0 {
        return Err("no request answered under strace".into());
    }
    let table = fs::read_to_string(&out).map_err(|e| format!("reading strace output: {e}"))?;
    let counts = parse_strace_summary(&table);
    if counts.is_empty() {
        return Err("empty strace summary".into());
    }
    let total: u64 = counts.values().sum();
    Ok(Syscalls {
        requests,
        per_request: counts
            .into_iter()
            .map(|(name, n)| (name, n as f64 / requests as f64))
            .collect(),
        total_per_request: total as f64 / requests as f64,
    })
}

/// Parse the table `strace -c` prints: `% time seconds usecs/call calls [errors] syscall`.
pub fn parse_strace_summary(text: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 5 || fields[0].parse::<f64>().is_err() {
            continue; // header, separator, or a line strace wrote about the tracee
        }
        let Some(&name) = fields.last() else { continue };
        if name == "total" {
            continue;
        }
        if let Ok(calls) = fields[3].parse::<u64>() {
            *counts.entry(name.to_string()).or_insert(0) += calls;
        }
    }
    counts
}

/// Direct children of `pid` (from /proc/<pid>/task/*/children).
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            if let Ok(list) = fs::read_to_string(task.path().join("children")) {
                out.extend(
                    list.split_whitespace()
                        .filter_map(|p| p.parse::<u32>().ok()),
                );
            }
        }
    }
    out
}

fn describe_exit(status: libc::c_int) -> String {
    if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("exit status {}", libc::WEXITSTATUS(status))
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
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

/// The files every scenario requests, written into the temporary document root.
fn write_fixtures(root: &Path, scenarios: &[Scenario]) -> io::Result<()> {
    let mut small = Vec::with_capacity(SMALL_FILE.1);
    small.extend_from_slice(b"<!doctype html><title>io-models</title><p>");
    small.resize(SMALL_FILE.1 - 5, b'.');
    small.extend_from_slice(b"</p>\n");
    fs::write(root.join(SMALL_FILE.0), &small)?;
    for (name, size) in [FILE_1M, FILE_64M] {
        if scenarios.iter().any(|s| s.path == format!("/{name}")) {
            let mut file = io::BufWriter::new(File::create(root.join(name))?);
            let block: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
            for _ in 0..size / block.len() {
                file.write_all(&block)?;
            }
            file.flush()?;
        }
    }
    Ok(())
}

fn write_nginx_conf(dir: &Path, root: &Path, port: u16) -> io::Result<PathBuf> {
    let d = dir.display();
    let conf = format!(
        "# Written by `harness compare`: the reference row, one worker, one process.\n\
daemon off;\nmaster_process off;\nworker_processes 1;\n\
error_log {d}/error.log;\npid {d}/nginx.pid;\nworker_rlimit_nofile 20000;\n\
events {{ worker_connections 20000; }}\n\
http {{\n  access_log off;\n  sendfile on;\n  keepalive_timeout 120;\n  keepalive_requests 1000000000;\n\
  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n\
  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
  types {{ text/html html; application/octet-stream bin; }}\n\
  server {{ listen 127.0.0.1:{port} backlog=4096; root {}; }}\n}}\n",
        root.display()
    );
    let path = dir.join("nginx.conf");
    fs::write(&path, conf)?;
    Ok(path)
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn find_nginx() -> Option<Nginx> {
    let bin = find_in_path("nginx")?;
    let out = Command::new(&bin).arg("-v").output().ok()?;
    let text = String::from_utf8_lossy(&out.stderr);
    let version = text
        .trim()
        .strip_prefix("nginx version: nginx/")
        .unwrap_or(text.trim())
        .to_string();
    Some(Nginx { bin, version })
}

fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn machine_info(cpus: usize, fd_limit: u64, nginx: Option<String>) -> Machine {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let host = fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    Machine {
        host,
        cpu_model,
        cpus,
        kernel,
        glibc: command_line("ldd", &["--version"]),
        rustc: command_line("rustc", &["--version"]),
        nginx,
        fd_limit,
    }
}

/// The current UTC time as RFC 3339 (`2026-11-26T22:00:00Z`), without a date crate.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A temporary directory removed on drop (tempfile is only a dev-dependency here).
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn tempfile_dir(prefix: &str) -> io::Result<TempDir> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let base = std::env::temp_dir();
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = base.join(format!("{prefix}-{}-{n}", std::process::id()));
        match fs::create_dir(&path) {
            Ok(()) => return Ok(TempDir(path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("could not create a temporary directory"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strace_summary_is_parsed_with_and_without_errors_column() {
        let text = "\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 45.10    0.012345           3      4000           write
 30.00    0.008000           2      4001        12 read
  1.00    0.000100          10        10           epoll_wait
------ ----------- ----------- --------- --------- ----------------
100.00    0.020445           2      8011        12 total
";
        let counts = parse_strace_summary(text);
        assert_eq!(counts.get("write"), Some(&4000));
        assert_eq!(counts.get("read"), Some(&4001));
        assert_eq!(counts.get("epoll_wait"), Some(&10));
        assert_eq!(counts.len(), 3);
    }

    #[test]
    fn served_line_is_found() {
        let stderr = "warning: x\nserved 1234 requests on 56 connections\n";
        assert_eq!(parse_served(stderr), Some(1234));
        assert_eq!(parse_served("nothing"), None);
    }

    #[test]
    fn utc_dates_are_civil() {
        let now = utc_now();
        assert_eq!(now.len(), 20);
        assert!(now.starts_with("20"));
        assert!(now.ends_with('Z'));
    }

    #[test]
    fn every_server_appears_once_and_modes_are_unique() {
        let mut names: Vec<&str> = SERVERS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SERVERS.len());
        for s in SERVERS {
            let mut modes: Vec<&str> = s.modes.iter().map(|m| m.0).collect();
            modes.sort_unstable();
            modes.dedup();
            assert_eq!(modes.len(), s.modes.len(), "{}", s.name);
        }
    }

    #[test]
    fn quick_matrix_is_smaller_and_ids_are_unique() {
        let full = scenarios(false);
        let quick = scenarios(true);
        assert!(quick.len() < full.len());
        let mut ids: Vec<&str> = full.iter().map(|s| s.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), full.len());
        assert!(full.iter().any(|s| s.id == "idle-9000"));
        assert!(full.iter().any(|s| s.id == "large-64m"));
    }
}
