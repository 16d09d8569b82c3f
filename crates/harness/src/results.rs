//! The data model of one `harness compare` run: what results.json holds and results.md shows.
//!
//! Plain data, no I/O: `compare` fills it, `report` reads it. A cell holds one measured run; the
//! matrix is scenarios × rows, kept as data (`Results::scenarios`, `Results::rows`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::load::LoadReport;

/// What one scenario asks of the load generator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scenario {
    /// Short id (`keepalive-100`).
    pub id: String,
    /// Table title.
    pub title: String,
    /// Which group of the matrix it belongs to (`keepalive`, `close`, `idle`, `rate`, `upload`,
    /// `large`).
    pub group: String,
    /// Active clients.
    pub clients: usize,
    /// Idle connections held open.
    pub idle: usize,
    /// Connection per request.
    pub close: bool,
    /// Request path (a file in the temp root, or `/echo`).
    pub path: String,
    /// An upload: `POST` with a body of this many bytes (None: `GET`).
    pub post_bytes: Option<usize>,
    /// Open loop at this many requests per second in total (None: closed loop, as fast as the
    /// server answers).
    pub rate: Option<f64>,
}

impl Scenario {
    /// The work a work-group request asks for, from its route: 20 for `/block/20` (ms) or
    /// `/cpu/20` (µs); 0 for any other path.
    pub fn work_amount(&self) -> f64 {
        self.path
            .rsplit('/')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0)
    }
}

/// A CPU list as text, `0,1`; `any` when empty (not pinned).
pub fn cpu_list_text(cpus: &[usize]) -> String {
    if cpus.is_empty() {
        return "any".into();
    }
    cpus.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Settings of the run, recorded in results.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    /// Reduced matrix.
    pub quick: bool,
    /// Seconds of load per run of a cell.
    pub seconds_per_cell: f64,
    /// Runs of every cell (interleaved round-robin over the rows).
    pub repeats: usize,
    /// Load-generator threads.
    pub load_threads: usize,
    /// CPUs the servers are pinned to (empty: not pinned, fewer than 2 CPUs).
    pub server_cpus: Vec<usize>,
    /// CPUs the load threads are pinned to, one each.
    pub load_cpus: Vec<usize>,
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerFigures {
    /// User + system CPU seconds over the measured window (all threads).
    pub cpu_seconds: f64,
    /// Where `cpu_seconds` comes from: `cpu-clock` (the process CPU clock, nanoseconds, threads
    /// that exited included), `ticks` (utime + stime, 10 ms steps, when the clock could not be
    /// read), or `schedstat` in the runs up to 2026-12-04T10-35-11Z (the live threads' run times: it missed
    /// threads that started and ended inside the window, so those runs under-count server-aio).
    pub cpu_source: String,
    /// The user-mode part of `cpu_seconds` (the tick counts' split, scaled to it).
    pub user_seconds: f64,
    /// The kernel-mode part of `cpu_seconds`: syscalls, and the work a completion model moves
    /// into the kernel.
    pub system_seconds: f64,
    /// CPU milliseconds per 1,000 successful requests (= CPU seconds per 1,000 requests × 1000).
    pub cpu_ms_per_1k_requests: Option<f64>,
    /// Voluntary + involuntary context switches over the window.
    pub context_switches: u64,
    /// Context switches per successful request.
    pub context_switches_per_request: Option<f64>,
    /// How the switches were counted: `threads` (sum over /proc/<pid>/task/*/status, exact when
    /// no thread exited in the window) or `rusage` (getrusage of the reaped child minus the
    /// window-start sample: includes threads that exited, and the shutdown).
    pub context_switch_source: String,
    /// Peak resident set (VmHWM), KiB.
    pub peak_rss_kib: u64,
    /// Threads at the end of the window.
    pub threads: u64,
    /// The server's own count, from its exit line `served N requests on M connections`.
    pub served_requests: Option<u64>,
    /// Share of the window during which the server's CPU ran something else (other processes
    /// on this machine): above ~10 % the cell's figures are disturbed (marked ⚠ in results.md).
    pub other_load_on_server_cpu: Option<f64>,
    /// Share of the window the hypervisor took the server's CPU away (VM steal time; 0 on bare
    /// metal, None when not pinned).
    pub steal_on_server_cpu: Option<f64>,
}

/// The load generator's own cost during one run: is it the ceiling?
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientFigures {
    /// CPU seconds of the harness process over the window.
    pub cpu_seconds: f64,
    /// `cpu_seconds` / (window × load threads): 1.0 is every load thread busy all the time.
    pub busy_share: f64,
    /// Share of the window the hypervisor took the load's CPU away.
    pub steal_on_load_cpu: Option<f64>,
}

/// A load generator busier than this share of its CPU may be what limits the req/s of the
/// cell, not the server (marked in results.md).
pub const CLIENT_SATURATED: f64 = 0.90;

impl ClientFigures {
    /// Whether the load generator was (nearly) saturated.
    pub fn saturated(&self) -> bool {
        self.busy_share >= CLIENT_SATURATED
    }
}

/// One measured run of a cell: what the load generator saw and what the server cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    /// Load-generator figures.
    pub load: LoadReport,
    /// Server figures (None when `/proc` could not be sampled).
    pub server: Option<ServerFigures>,
    /// The load generator's own CPU.
    pub client: Option<ClientFigures>,
    /// How many earlier attempts at this run were thrown away because the hypervisor stole at
    /// least [`STEAL_REMEASURE`] of a CPU during them (0 in runs written before the rule).
    #[serde(default)]
    pub remeasured_for_steal: u32,
    /// The machine-speed probe just before this run: the reference server's CPU µs per request
    /// (`compare/speed.rs`; None in runs written before the probe, or without it).
    #[serde(default)]
    pub probe_cpu_us_per_request: Option<f64>,
}

/// A run that lost at least this share of the server's or the load generator's CPU to steal
/// (other guests of the host) is measured again, at most [`STEAL_RETRIES`] times: its CPU
/// figures would mix the model's cost with the neighbours'.
pub const STEAL_REMEASURE: f64 = 0.05;
/// At most this many extra attempts per run; the last one stands, steal and all.
pub const STEAL_RETRIES: u32 = 2;

impl Run {
    /// The steal shares this run recorded: on the server's CPUs and on the load generator's,
    /// each when the machine reports steal.
    pub fn steal_shares(&self) -> impl Iterator<Item = f64> {
        let server = self.server.as_ref().and_then(|f| f.steal_on_server_cpu);
        let client = self.client.as_ref().and_then(|c| c.steal_on_load_cpu);
        server.into_iter().chain(client)
    }

    /// The largest steal share this run saw, on the server's or the load generator's CPUs.
    pub fn max_steal(&self) -> f64 {
        self.steal_shares().fold(0.0, f64::max)
    }

    /// Whether this run, after `retries` earlier attempts were thrown away, should be measured
    /// again: steal took at least [`STEAL_REMEASURE`] and retries are left.
    pub fn stolen_from(&self, retries: u32) -> bool {
        self.max_steal() >= STEAL_REMEASURE && retries < STEAL_RETRIES
    }
}

/// A cell whose figures differ by more than this share of their median between the smallest
/// and the largest run is flagged (`~` in results.md): the difference between two such cells may
/// be noise, not the I/O model.
pub const WIDE_SPREAD: f64 = 0.10;

/// The smallest, the median and the largest value of one figure over a cell's runs.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Spread {
    /// Smallest value.
    pub min: f64,
    /// Median (the mean of the middle two for an even count).
    pub median: f64,
    /// Largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; `None` when there are none (or one is NaN).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Spread> {
        let mut v: Vec<f64> = values.into_iter().collect();
        if v.is_empty() || v.iter().any(|x| x.is_nan()) {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Spread {
            min: v[0],
            median,
            max: v[n - 1],
        })
    }

    /// (max − min) / median: 0 when every run agreed (and when the median is 0).
    pub fn relative(&self) -> f64 {
        if self.median == 0.0 {
            0.0
        } else {
            (self.max - self.min) / self.median
        }
    }

    /// Whether the runs disagree by more than [`WIDE_SPREAD`].
    pub fn is_wide(&self) -> bool {
        self.relative() > WIDE_SPREAD
    }
}

/// One cell: every run of it, or the reason it has none.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cell {
    /// `None` when measured; the reason otherwise ("n/a — …"). A cell with a failed run (the
    /// server crashed, or did not start) is n/a as a whole, with the run named.
    pub na: Option<String>,
    /// The load figures of the median run (the run with the median req/s): what the columns
    /// that have no spread of their own show.
    pub load: Option<LoadReport>,
    /// The server figures of the median run.
    pub server: Option<ServerFigures>,
    /// The load generator's CPU in the median run.
    pub client: Option<ClientFigures>,
    /// Every run, in the order they ran (repeats interleaved with the other rows).
    pub runs: Vec<Run>,
    /// Requests/s over the runs.
    pub requests_per_sec: Option<Spread>,
    /// p99 latency (µs) over the runs.
    pub p99_us: Option<Spread>,
    /// Server CPU ms per 1,000 requests over the runs (runs without the figure left out).
    pub cpu_ms_per_1k_requests: Option<Spread>,
}

impl Cell {
    /// A cell that was not measured, and why.
    pub fn na(reason: impl Into<String>) -> Cell {
        Cell {
            na: Some(reason.into()),
            load: None,
            server: None,
            client: None,
            runs: Vec::new(),
            requests_per_sec: None,
            p99_us: None,
            cpu_ms_per_1k_requests: None,
        }
    }

    /// A measured cell from its runs (at least one): the spreads, and the median run's figures.
    pub fn from_runs(runs: Vec<Run>) -> Cell {
        if runs.is_empty() {
            return Cell::na("no run");
        }
        let rps = Spread::of(runs.iter().map(|r| r.load.requests_per_sec));
        // The median run: the lower middle one by req/s (for an even count there is no single
        // middle run; the lower is the conservative one to show).
        let mut order: Vec<usize> = (0..runs.len()).collect();
        order.sort_by(|&a, &b| {
            runs[a]
                .load
                .requests_per_sec
                .total_cmp(&runs[b].load.requests_per_sec)
        });
        let middle = &runs[order[(runs.len() - 1) / 2]];
        Cell {
            na: None,
            load: Some(middle.load.clone()),
            server: middle.server.clone(),
            client: middle.client.clone(),
            requests_per_sec: rps,
            p99_us: Spread::of(runs.iter().map(|r| r.load.latency.p99_us)),
            cpu_ms_per_1k_requests: Spread::of(
                runs.iter()
                    .filter_map(|r| r.server.as_ref()?.cpu_ms_per_1k_requests),
            ),
            runs,
        }
    }

    /// Errors (of every kind) summed over all runs: a cell with any is a failure, whatever its
    /// req/s.
    pub fn errors(&self) -> u64 {
        self.runs.iter().map(|r| r.load.errors.total()).sum()
    }
}

/// Syscalls per request of one row, from `strace -c -f`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Syscalls {
    /// Requests answered during the traced run.
    pub requests: u64,
    /// Calls per request, by syscall name (all calls of the run, start-up included).
    pub per_request: BTreeMap<String, f64>,
    /// All syscalls per request.
    pub total_per_request: f64,
}

/// The server and mode measured twice, as the A/A control: the same binary and flags in two
/// rows of one run, so their difference is the run's noise floor, not a model effect.
pub const CONTROL: (&str, &str) = ("server-epoll", "single-level");

/// Mode label of the control's second row.
pub const CONTROL_COPY: &str = "single-level (A/A)";

/// One row: a server in one mode.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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

impl Results {
    /// Every measured run of every cell of every row.
    pub fn runs(&self) -> impl Iterator<Item = &Run> {
        self.rows
            .iter()
            .flat_map(|r| r.cells.values())
            .flat_map(|c| c.runs.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_odd_count_is_the_middle_and_of_an_even_the_mean_of_two() {
        let odd = Spread::of([3.0, 1.0, 2.0]).expect("values");
        assert_eq!((odd.min, odd.median, odd.max), (1.0, 2.0, 3.0));
        let even = Spread::of([4.0, 1.0, 2.0, 10.0]).expect("values");
        assert_eq!((even.min, even.median, even.max), (1.0, 3.0, 10.0));
        assert_eq!(Spread::of([]), None);
        assert_eq!(Spread::of([1.0, f64::NAN]), None);
    }

    #[test]
    fn a_spread_is_wide_past_ten_percent_of_its_median() {
        let just_wide = Spread::of([100.0, 105.0, 111.0]).expect("values");
        assert!((just_wide.relative() - 11.0 / 105.0).abs() < 1e-9);
        assert!(just_wide.is_wide());
        assert!(!Spread::of([100.0, 105.0, 110.0]).expect("values").is_wide());
        assert!(
            !Spread::of([0.0, 0.0]).expect("values").is_wide(),
            "no division by zero"
        );
    }
}
