//! `harness load`: an event-driven HTTP/1.1 load generator.
//!
//! Each thread runs one `epoll` loop over its share of the client connections. A connection is a
//! small state machine in a flat table (index = the `epoll` tag), so the hot path — `epoll_wait`,
//! `read`, parse, record, `write` the next request — allocates nothing: the request bytes are built
//! once per thread, the read buffer is one per thread, the parser keeps no body, and latencies go
//! into a pre-sized HdrHistogram.
//!
//! Sockets are watched level-triggered for `EPOLLIN` only, so a keep-alive request costs one
//! `write`, one `read` and a share of an `epoll_wait` — no `epoll_ctl` per request (wrk re-arms
//! `EPOLLOUT` for each request, which is where this loop saves syscalls). `EPOLLOUT` is used only
//! while a connect is in progress or the send buffer is full.
//!
//! Modes: closed-loop (each client sends its next request as soon as the previous response is in,
//! like webbench and wrk) or open-loop `-R RATE` (requests are due on a fixed schedule and latency
//! is measured from when each *should* have been sent — the coordinated-omission correction of
//! wrk2). `--close` opens one connection per request, as webbench does, and times the connect
//! separately.
//!
//! | module | what it holds |
//! |---|---|
//! | this file | the target, the run's parameters, starting the threads and merging their figures |
//! | `worker.rs` | one thread's event loop: connections, pacing in rate mode, timeouts |
//! | `idle.rs` | idle keep-alive connections held open during a run |
//! | `results.rs` | errors, latencies, the report and how it is printed |

use std::io::{self, IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

mod idle;
mod results;
mod worker;

pub use idle::IdleConnections;
pub use results::{Errors, Latency, LoadReport, print_human};
use worker::Worker;

use crate::sys;

/// Per-thread read buffer (a 1 MiB body arrives in 16 reads).
const READ_BUF: usize = 64 * 1024;
/// How often the loop looks for requests that have waited longer than the timeout.
const SCAN_EVERY: Duration = Duration::from_millis(100);
/// After a failed connect, wait this long before trying again (no spinning on a dead server).
const RECONNECT_PAUSE: Duration = Duration::from_millis(10);
/// Non-blocking `epoll_wait` calls before a blocking one (see the event loop).
const SPIN_POLLS: u32 = 8;
/// Highest latency the histograms hold (longer values are clamped).
const MAX_LATENCY_NS: u64 = 3_600 * 1_000_000_000;

/// Where to send requests.
#[derive(Debug, Clone)]
pub struct Target {
    /// Resolved address.
    pub addr: SocketAddr,
    /// `Host` header value (`host:port` as written in the URL).
    pub host: String,
    /// Request target (`/index.html`).
    pub path: String,
}

impl Target {
    /// Parse `http://host[:port]/path` (the scheme is optional; only plain HTTP).
    pub fn parse(url: &str) -> io::Result<Target> {
        let invalid =
            |why: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("URL {url:?}: {why}"));
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some((scheme, _)) => return Err(invalid(&format!("unsupported scheme {scheme:?}"))),
            None => url,
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(invalid("no host"));
        }
        let with_port = if authority.ends_with(']') || !authority.contains(':') {
            format!("{authority}:80")
        } else {
            authority.to_string()
        };
        let addr = with_port
            .to_socket_addrs()
            .map_err(|e| invalid(&format!("cannot resolve: {e}")))?
            .next()
            .ok_or_else(|| invalid("host has no address"))?;
        Ok(Target {
            addr,
            host: authority.to_string(),
            path: path.to_string(),
        })
    }

    /// `http://host/path`, for reports.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.host, self.path)
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// Where.
    pub target: Target,
    /// Concurrent client connections.
    pub clients: usize,
    /// Event-loop threads (each gets `clients / threads` connections).
    pub threads: usize,
    /// Run this long (unless `total` ends it first).
    pub duration: Option<Duration>,
    /// Stop after this many requests.
    pub total: Option<u64>,
    /// Open-loop rate in requests per second over all connections.
    pub rate: Option<f64>,
    /// One connection per request (`Connection: close`).
    pub close: bool,
    /// Send `POST` with a body of this many bytes instead of `GET` (an upload; `/echo` sends it
    /// back).
    pub post_bytes: Option<usize>,
    /// A request that makes no progress (nothing sent, no byte of its response read) for this
    /// long is a timeout.
    pub timeout: Duration,
    /// Pin load thread `t` to `cpus[t % cpus.len()]` (empty: not pinned).
    pub cpus: Vec<usize>,
    /// Print a progress line every second (on a terminal).
    pub progress: bool,
}

/// Counters one thread publishes for the progress line (its own cache line).
#[repr(align(64))]
#[derive(Debug, Default)]
struct Published {
    requests: AtomicU64,
    errors: AtomicU64,
}

/// Run the load and gather the report. `idle` connections are only reported (the caller opens
/// and holds them).
pub fn run(spec: &LoadSpec, idle: &IdleConnections) -> io::Result<LoadReport> {
    run_with(spec, idle, || {})
}

/// [`run`], calling `at_end` when the load has stopped but before its connections are closed
/// (so a caller can sample the server while every client connection still exists).
pub fn run_with(
    spec: &LoadSpec,
    idle: &IdleConnections,
    at_end: impl FnOnce(),
) -> io::Result<LoadReport> {
    if spec.clients == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "need at least one client",
        ));
    }
    if spec.duration.is_none() && spec.total.is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "need a duration or a request count",
        ));
    }
    let threads = spec.threads.clamp(1, spec.clients);
    let published: Arc<Vec<Published>> =
        Arc::new((0..threads).map(|_| Published::default()).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut handles = Vec::with_capacity(threads);
    for t in 0..threads {
        let clients = spec.clients / threads + usize::from(t < spec.clients % threads);
        let quota = spec
            .total
            .map(|n| n / threads as u64 + u64::from((t as u64) < n % threads as u64));
        // ANCHOR: harness_rate_interval
        // Each thread's share of the rate; with `clients` connections each one is due every
        // `clients / rate` seconds.
        let interval = spec.rate.filter(|r| *r > 0.0).map(|rate| {
            let per_thread = rate * clients as f64 / spec.clients as f64;
            Duration::from_secs_f64(clients as f64 / per_thread.max(1e-9))
        });
        // ANCHOR_END: harness_rate_interval
        let mut worker = Worker::new(spec, clients, quota, interval, start)?;
        let published = Arc::clone(&published);
        let stop = Arc::clone(&stop);
        let cpu = (!spec.cpus.is_empty()).then(|| spec.cpus[t % spec.cpus.len()]);
        let handle = std::thread::Builder::new()
            .name(format!("load-{t}"))
            .spawn(move || {
                if let Some(cpu) = cpu {
                    sys::pin_to_cpu(cpu)?;
                }
                worker.run(&published[t], &stop)?;
                Ok::<Worker, io::Error>(worker)
            })?;
        handles.push(handle);
    }
    let show_progress = spec.progress
        && io::stderr().is_terminal()
        && spec.duration.is_none_or(|d| d > Duration::from_secs(3));
    if show_progress {
        progress_loop(&handles, &published, start, spec.duration);
    }
    let mut workers = Vec::with_capacity(threads);
    let mut failure = None;
    for handle in handles {
        match handle.join() {
            Ok(Ok(worker)) => workers.push(worker),
            Ok(Err(e)) => {
                stop.store(true, Ordering::Relaxed);
                failure = Some(e);
            }
            Err(_) => {
                stop.store(true, Ordering::Relaxed);
                failure = Some(io::Error::other("a load thread panicked"));
            }
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let seconds = start.elapsed().as_secs_f64();
    at_end();
    let report = merge(spec, threads, idle, seconds, &workers);
    // Dropping the workers closes their connections.
    drop(workers);
    Ok(report)
}

fn progress_loop(
    handles: &[std::thread::JoinHandle<io::Result<Worker>>],
    published: &[Published],
    start: Instant,
    duration: Option<Duration>,
) {
    let mut last = 0u64;
    let mut tick = start;
    let mut stderr = io::stderr();
    while handles.iter().any(|h| !h.is_finished()) {
        std::thread::sleep(Duration::from_millis(50));
        if tick.elapsed() < Duration::from_secs(1) {
            continue;
        }
        tick = Instant::now();
        let done: u64 = published
            .iter()
            .map(|p| p.requests.load(Ordering::Relaxed))
            .sum();
        let errors: u64 = published
            .iter()
            .map(|p| p.errors.load(Ordering::Relaxed))
            .sum();
        let elapsed = start.elapsed().as_secs();
        let of = duration.map_or(String::new(), |d| format!("/{}s", d.as_secs()));
        let _ = write!(
            stderr,
            "\r  {elapsed}s{of}  {} req/s  {done} requests  {errors} errors   ",
            done - last
        );
        last = done;
    }
    let _ = writeln!(stderr);
}

fn merge(
    spec: &LoadSpec,
    threads: usize,
    idle: &IdleConnections,
    seconds: f64,
    workers: &[Worker],
) -> LoadReport {
    let mut latency = new_histogram();
    let mut connect = new_histogram();
    let mut errors = Errors::default();
    let mut status = [0u64; 600];
    let (mut requests, mut bytes_read, mut body_bytes, mut connections) = (0, 0, 0, 0);
    for w in workers {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = latency.add(&w.latency);
        let _ = connect.add(&w.connect_latency);
        errors.add(&w.errors);
        for (total, n) in status.iter_mut().zip(w.status.iter()) {
            *total += n;
        }
        requests += w.requests;
        bytes_read += w.bytes_read;
        body_bytes += w.body_bytes;
        connections += w.connections;
    }
    let status_codes = status
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(code, n)| (code as u16, *n))
        .collect();
    let seconds = seconds.max(1e-9);
    LoadReport {
        url: spec.target.url(),
        clients: spec.clients,
        threads,
        close: spec.close,
        rate: spec.rate,
        idle_requested: idle.requested,
        idle_established: idle.established(),
        seconds,
        requests,
        requests_per_sec: requests as f64 / seconds,
        bytes_read,
        body_bytes,
        mb_per_sec: body_bytes as f64 / 1e6 / seconds,
        connections,
        latency: Latency::from_histogram(&latency),
        connect: spec.close.then(|| Latency::from_histogram(&connect)),
        errors,
        status_codes,
        #[cfg(test)]
        loop_allocations: workers.iter().map(|w| w.loop_allocations).sum(),
    }
}

fn new_histogram() -> Histogram<u64> {
    // Bounds are constants that hdrhistogram accepts; fall back to auto-resize if not.
    Histogram::new_with_bounds(1_000, MAX_LATENCY_NS, 3).unwrap_or_else(|_| {
        let mut h = Histogram::new(3).unwrap_or_else(|_| unreachable_histogram());
        h.auto(true);
        h
    })
}

#[cold]
fn unreachable_histogram() -> Histogram<u64> {
    // `Histogram::new(3)` only fails for sigfig > 5; this is never reached.
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let t = Target::parse("http://127.0.0.1:8080/index.html").expect("valid URL");
        assert_eq!(t.addr, "127.0.0.1:8080".parse().expect("addr"));
        assert_eq!(t.host, "127.0.0.1:8080");
        assert_eq!(t.path, "/index.html");
        let t = Target::parse("127.0.0.1:81").expect("scheme is optional");
        assert_eq!(t.path, "/");
        assert_eq!(t.addr.port(), 81);
        assert!(Target::parse("https://127.0.0.1/").is_err());
        assert!(Target::parse("http:///x").is_err());
    }

    /// A server thread answering every request on every connection with a fixed response.
    fn fixed_server(response: &'static [u8]) -> SocketAddr {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    let mut pending = 0usize;
                    while let Ok(n) = stream.read(&mut buf[pending..]) {
                        if n == 0 {
                            return;
                        }
                        pending += n;
                        // Answer each complete request head in the buffer.
                        while let Some(end) =
                            buf[..pending].windows(4).position(|w| w == b"\r\n\r\n")
                        {
                            if stream.write_all(response).is_err() {
                                return;
                            }
                            buf.copy_within(end + 4..pending, 0);
                            pending -= end + 4;
                        }
                    }
                });
            }
        });
        addr
    }

    fn spec(addr: SocketAddr, total: u64, close: bool) -> LoadSpec {
        LoadSpec {
            target: Target {
                addr,
                host: addr.to_string(),
                path: "/".into(),
            },
            clients: 4,
            threads: 1,
            duration: None,
            total: Some(total),
            rate: None,
            close,
            post_bytes: None,
            timeout: Duration::from_secs(5),
            cpus: vec![],
            progress: false,
        }
    }

    #[test]
    fn keep_alive_requests_allocate_nothing_in_the_event_loop() {
        let addr = fixed_server(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        let report = run(&spec(addr, 5_000, false), &IdleConnections::none()).expect("load runs");
        assert_eq!(report.requests, 5_000);
        assert_eq!(
            report.loop_allocations, 0,
            "the hot path allocated {} times for 5,000 requests",
            report.loop_allocations
        );
    }

    #[test]
    fn chunked_keep_alive_requests_allocate_nothing_either() {
        let addr = fixed_server(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        );
        let report = run(&spec(addr, 2_000, false), &IdleConnections::none()).expect("load runs");
        assert_eq!(report.requests, 2_000);
        assert_eq!(report.body_bytes, 10_000);
        assert_eq!(report.loop_allocations, 0);
    }

    #[test]
    fn megabytes_per_second_count_only_bodies_of_2xx_responses() {
        let addr = fixed_server(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found");
        let report = run(&spec(addr, 200, false), &IdleConnections::none()).expect("load runs");
        assert_eq!(report.requests, 0, "a 404 is not a request served");
        assert!(report.bytes_read > 0, "the 404s were read");
        assert_eq!(report.body_bytes, 0);
        assert_eq!(report.mb_per_sec, 0.0, "404 bodies are not throughput");

        let addr = fixed_server(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        let report = run(&spec(addr, 200, false), &IdleConnections::none()).expect("load runs");
        let expected = 200.0 * 5.0 / 1e6 / report.seconds;
        assert!(
            (report.mb_per_sec - expected).abs() < expected * 1e-9,
            "{} MB/s, expected {expected} (bodies only, heads not counted)",
            report.mb_per_sec
        );
    }
}
