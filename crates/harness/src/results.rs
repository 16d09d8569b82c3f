//! The data model of one `harness compare` run: what results.json holds and results.md shows.
//!
//! Plain data, no I/O: `compare` fills it, `report` reads it. A cell holds one measured run; the
//! matrix is scenarios × rows, kept as data (`Results::scenarios`, `Results::rows`).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::load::LoadReport;

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
    /// A cell that was not measured, and why.
    pub fn na(reason: impl Into<String>) -> Cell {
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
    /// CPUs available.
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
