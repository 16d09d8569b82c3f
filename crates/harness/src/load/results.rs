//! What a load run produced: errors by kind, latency percentiles, and the report `harness load`
//! prints (in wrk's layout) or writes as JSON.

use std::collections::BTreeMap;
use std::io::{self, Write};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Errors by kind. None of them count towards requests/s.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Errors {
    /// Complete responses whose status was not 2xx.
    pub non_2xx: u64,
    /// The connection ended in the middle of a response (head or body cut short).
    pub short_body: u64,
    /// The connection was reset, or closed by the server after a request before any byte of its
    /// response.
    pub reset: u64,
    /// No progress on a request for the timeout (or a request starved for half of a short run).
    pub timeout: u64,
    /// The connection could not be established (refused, no ports, connect timeout).
    pub connect: u64,
    /// Bytes that are not a valid HTTP/1.1 response.
    pub parse: u64,
}

impl Errors {
    /// All errors.
    pub fn total(&self) -> u64 {
        self.non_2xx + self.short_body + self.reset + self.timeout + self.connect + self.parse
    }

    pub(super) fn add(&mut self, o: &Errors) {
        self.non_2xx += o.non_2xx;
        self.short_body += o.short_body;
        self.reset += o.reset;
        self.timeout += o.timeout;
        self.connect += o.connect;
        self.parse += o.parse;
    }
}

/// Latency figures in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Latency {
    /// Number of samples.
    pub count: u64,
    /// Mean.
    pub mean_us: f64,
    /// Standard deviation.
    pub stdev_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest.
    pub max_us: f64,
}

impl Latency {
    pub(super) fn from_histogram(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let us = |ns: u64| ns as f64 / 1_000.0;
        Latency {
            count: h.len(),
            mean_us: h.mean() / 1_000.0,
            stdev_us: h.stdev() / 1_000.0,
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        }
    }
}

/// The result of one run (what `--json` prints).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadReport {
    /// Target URL.
    pub url: String,
    /// Client connections.
    pub clients: usize,
    /// Threads.
    pub threads: usize,
    /// Connection per request.
    pub close: bool,
    /// Open-loop rate, if any.
    pub rate: Option<f64>,
    /// Idle connections held during the run (requested, established).
    pub idle_requested: usize,
    /// Idle connections actually established.
    pub idle_established: usize,
    /// Measured wall time, seconds.
    pub seconds: f64,
    /// Successful (2xx, complete) responses.
    pub requests: u64,
    /// Successful responses per second.
    pub requests_per_sec: f64,
    /// All bytes read from sockets (heads, bodies, error responses).
    pub bytes_read: u64,
    /// Body bytes of successful responses.
    pub body_bytes: u64,
    /// Body bytes of successful (2xx, complete) responses per second, in MB (10^6 bytes):
    /// heads, error responses and partial bodies do not count.
    pub mb_per_sec: f64,
    /// Connections opened.
    pub connections: u64,
    /// Request latency (successful responses).
    pub latency: Latency,
    /// Connect latency (`--close` only).
    pub connect: Option<Latency>,
    /// Errors by kind.
    pub errors: Errors,
    /// Complete responses by status code.
    pub status_codes: BTreeMap<u16, u64>,
    /// Allocations made inside the event loops (tests check this is zero per request).
    #[cfg(test)]
    #[serde(default)]
    #[serde(skip)]
    pub loop_allocations: u64,
}

/// Print a report the way wrk does, plus a status-code table and the error kinds.
pub fn print_human(report: &LoadReport, out: &mut impl Write) -> io::Result<()> {
    let mode = if report.close {
        "connection per request"
    } else {
        "keep-alive"
    };
    writeln!(out, "Running {:.1}s test @ {}", report.seconds, report.url)?;
    writeln!(
        out,
        "  {} threads and {} connections ({mode}{})",
        report.threads,
        report.clients,
        report
            .rate
            .map_or(String::new(), |r| format!(", open loop at {r:.0} req/s"))
    )?;
    if report.idle_requested > 0 {
        writeln!(
            out,
            "  {} of {} idle keep-alive connections held open",
            report.idle_established, report.idle_requested
        )?;
    }
    let l = &report.latency;
    writeln!(out, "  Thread Stats   Avg      Stdev     Max")?;
    writeln!(
        out,
        "    Latency   {:>8} {:>8} {:>8}",
        fmt_us(l.mean_us),
        fmt_us(l.stdev_us),
        fmt_us(l.max_us)
    )?;
    if let Some(c) = &report.connect {
        writeln!(
            out,
            "    Connect   {:>8} {:>8} {:>8}",
            fmt_us(c.mean_us),
            fmt_us(c.stdev_us),
            fmt_us(c.max_us)
        )?;
    }
    writeln!(out, "  Latency Distribution")?;
    for (label, v) in [
        ("50%", l.p50_us),
        ("90%", l.p90_us),
        ("99%", l.p99_us),
        ("99.9%", l.p999_us),
    ] {
        writeln!(out, "  {label:>6}  {:>8}", fmt_us(v))?;
    }
    writeln!(
        out,
        "  {} requests in {:.2}s, {:.2}MB read, {} connections opened",
        report.requests,
        report.seconds,
        report.bytes_read as f64 / 1e6,
        report.connections
    )?;
    let e = &report.errors;
    if e.total() > 0 {
        writeln!(
            out,
            "  Errors: non-2xx {}, short body {}, reset {}, timeout {}, connect {}, parse {}",
            e.non_2xx, e.short_body, e.reset, e.timeout, e.connect, e.parse
        )?;
    }
    writeln!(out, "  Status codes:")?;
    for (code, n) in &report.status_codes {
        writeln!(out, "    {code}  {n}")?;
    }
    writeln!(out, "Requests/sec: {:>10.2}", report.requests_per_sec)?;
    writeln!(
        out,
        "Transfer/sec: {:>10.2}MB (bodies of complete 2xx responses)",
        report.mb_per_sec
    )?;
    Ok(())
}

fn fmt_us(us: f64) -> String {
    if us >= 1_000_000.0 {
        format!("{:.2}s", us / 1_000_000.0)
    } else if us >= 1_000.0 {
        format!("{:.2}ms", us / 1_000.0)
    } else {
        format!("{us:.2}us")
    }
}
