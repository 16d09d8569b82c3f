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

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::io::{self, IsTerminal, Write};
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::response::{Feed, ResponseParser};
use crate::sys::{self, Epoll, READABLE, WRITABLE};

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
    /// A request that makes no progress (nothing sent, no byte of its response read) for this
    /// long is a timeout.
    pub timeout: Duration,
    /// Pin load threads to this CPU.
    pub cpu: Option<usize>,
    /// Print a progress line every second (on a terminal).
    pub progress: bool,
}

/// Errors by kind. None of them count towards requests/s.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
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

    fn add(&mut self, o: &Errors) {
        self.non_2xx += o.non_2xx;
        self.short_body += o.short_body;
        self.reset += o.reset;
        self.timeout += o.timeout;
        self.connect += o.connect;
        self.parse += o.parse;
    }
}

/// Latency figures in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
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
    fn from_histogram(h: &Histogram<u64>) -> Latency {
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
#[derive(Debug, Clone, Serialize)]
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
    /// Bytes read per second, in MB (10^6 bytes).
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
    #[serde(skip)]
    pub loop_allocations: u64,
}

/// Idle keep-alive connections held open during a run.
#[derive(Debug)]
pub struct IdleConnections {
    fds: Vec<OwnedFd>,
    /// How many were asked for.
    pub requested: usize,
}

impl IdleConnections {
    /// Connections that were established.
    pub fn established(&self) -> usize {
        self.fds.len()
    }

    /// Open `count` connections to `addr` (non-blocking, all at once) and wait up to `within`
    /// for them to be established; failures are dropped. Towards a loopback IPv4 address the
    /// sources are spread over 127.0.0.2–127.0.0.201 so that large counts do not run out of
    /// ephemeral ports (about 28k per source and destination).
    pub fn open(addr: SocketAddr, count: usize, within: Duration) -> io::Result<IdleConnections> {
        let epoll = Epoll::new()?;
        let mut pending: Vec<Option<OwnedFd>> = Vec::with_capacity(count);
        let mut fds = Vec::with_capacity(count);
        let spread = matches!(addr, SocketAddr::V4(v4) if v4.ip().is_loopback()) && count > 1000;
        for i in 0..count {
            let fd = sys::tcp_socket(&addr).map_err(|e| sys::context(e, "socket (idle)"))?;
            if spread {
                let source = Ipv4Addr::new(127, 0, 0, 2 + (i % 200) as u8);
                sys::bind_source(&fd, source).map_err(|e| sys::context(e, "bind (idle)"))?;
            }
            match sys::connect(&fd, &addr) {
                Ok(true) => fds.push(fd),
                Ok(false) => {
                    epoll.add(fd.as_raw_fd(), WRITABLE, pending.len() as u64)?;
                    pending.push(Some(fd));
                }
                Err(_) => {} // refused or out of ports: counted as not established
            }
        }
        let deadline = Instant::now() + within;
        let mut waiting = pending.len();
        let mut events = vec![sys::EMPTY_EVENT; 1024];
        while waiting > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let n = epoll.wait(&mut events, left.as_millis().clamp(1, 1000) as i32)?;
            for event in &events[..n] {
                let slot = event.u64 as usize;
                if let Some(fd) = pending.get_mut(slot).and_then(Option::take) {
                    waiting -= 1;
                    if matches!(sys::socket_error(fd.as_raw_fd()), Ok(None)) {
                        // Leave the epoll set (it would report writability forever).
                        let _ = epoll.modify(fd.as_raw_fd(), 0, slot as u64);
                        fds.push(fd);
                    }
                }
            }
        }
        Ok(IdleConnections {
            fds,
            requested: count,
        })
    }

    /// No idle connections.
    pub fn none() -> IdleConnections {
        IdleConnections {
            fds: Vec::new(),
            requested: 0,
        }
    }
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
        // Each thread's share of the rate; with `clients` connections each one is due every
        // `clients / rate` seconds.
        let interval = spec.rate.filter(|r| *r > 0.0).map(|rate| {
            let per_thread = rate * clients as f64 / spec.clients as f64;
            Duration::from_secs_f64(clients as f64 / per_thread.max(1e-9))
        });
        let mut worker = Worker::new(spec, clients, quota, interval, start)?;
        let published = Arc::clone(&published);
        let stop = Arc::clone(&stop);
        let cpu = spec.cpu;
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
        mb_per_sec: bytes_read as f64 / 1e6 / seconds,
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

/// Where one client connection is in its request cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No socket; waiting for its next turn (rate mode, after a connect error, or finished).
    Closed,
    /// Non-blocking connect in progress (waiting for `EPOLLOUT`).
    Connecting,
    /// Writing the request (only lingers here if the send buffer was full).
    Sending,
    /// Request written; reading the response.
    Receiving,
    /// Response complete and the server will close: read until EOF, then reconnect.
    Draining,
    /// Connected and idle, waiting for the next scheduled send (rate mode / quota reached).
    Waiting,
}

#[derive(Debug)]
struct Conn {
    /// The connection's socket, if open; dropping it closes it (and takes it out of `epoll`).
    socket: Option<OwnedFd>,
    /// Bumped whenever `socket` is replaced, so a stale event cannot reach the new socket.
    generation: u32,
    phase: Phase,
    /// Bytes of the request written so far.
    sent: usize,
    /// Latency origin of the request in flight (intended send time in rate mode).
    origin: Instant,
    /// When the request in flight last made progress (sent, or bytes of its response read).
    progress: Instant,
    /// When the connect started.
    connect_start: Instant,
    /// Rate mode: when the next request is due.
    due: Instant,
    /// A request has been counted as issued and not yet resolved.
    in_flight: bool,
    /// The socket is watched for `EPOLLOUT` (send buffer was full) instead of `EPOLLIN`.
    write_armed: bool,
    parser: ResponseParser,
}

/// One event loop and everything it measures.
impl Conn {
    /// The raw descriptor for syscalls (-1 when closed: every syscall on it then fails EBADF).
    fn fd(&self) -> RawFd {
        self.socket.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }
}

#[derive(Debug)]
struct Worker {
    epoll: Epoll,
    addr: SocketAddr,
    request: Vec<u8>,
    close_mode: bool,
    timeout: Duration,
    interval: Option<Duration>,
    started: Instant,
    end: Option<Instant>,
    quota: Option<u64>,
    conns: Vec<Conn>,
    /// Connections whose next request is written after the current batch of events.
    outbox: Vec<usize>,
    /// The batch being written (swapped with `outbox`, so neither ever reallocates).
    flushing: Vec<usize>,
    /// Rate-mode and reconnect timers: (due, connection index).
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    buf: Box<[u8]>,
    // Results.
    issued: u64,
    resolved: u64,
    requests: u64,
    bytes_read: u64,
    body_bytes: u64,
    connections: u64,
    errors: Errors,
    status: Box<[u64; 600]>,
    latency: Histogram<u64>,
    connect_latency: Histogram<u64>,
    #[cfg(test)]
    loop_allocations: u64,
}

impl Worker {
    fn new(
        spec: &LoadSpec,
        clients: usize,
        quota: Option<u64>,
        interval: Option<Duration>,
        start: Instant,
    ) -> io::Result<Worker> {
        let connection = if spec.close {
            "Connection: close\r\n"
        } else {
            ""
        };
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\n{connection}\r\n",
            spec.target.path, spec.target.host
        )
        .into_bytes();
        let conns = (0..clients)
            .map(|_| Conn {
                socket: None,
                generation: 0,
                phase: Phase::Closed,
                sent: 0,
                origin: start,
                progress: start,
                connect_start: start,
                due: start,
                in_flight: false,
                write_armed: false,
                parser: ResponseParser::new(false),
            })
            .collect();
        Ok(Worker {
            epoll: Epoll::new()?,
            addr: spec.target.addr,
            request,
            close_mode: spec.close,
            timeout: spec.timeout,
            interval,
            started: start,
            end: spec.duration.map(|d| start + d),
            quota,
            conns,
            outbox: Vec::with_capacity(clients),
            flushing: Vec::with_capacity(clients),
            timers: BinaryHeap::with_capacity(clients * 2 + 16),
            buf: vec![0u8; READ_BUF].into_boxed_slice(),
            issued: 0,
            resolved: 0,
            requests: 0,
            bytes_read: 0,
            body_bytes: 0,
            connections: 0,
            errors: Errors::default(),
            status: Box::new([0; 600]),
            latency: new_histogram(),
            connect_latency: new_histogram(),
            #[cfg(test)]
            loop_allocations: 0,
        })
    }

    fn run(&mut self, published: &Published, stop: &AtomicBool) -> io::Result<()> {
        let mut events = vec![sys::EMPTY_EVENT; self.conns.len().clamp(16, 1024)];
        let now = Instant::now();
        let n = self.conns.len();
        for i in 0..n {
            match self.interval {
                // Stagger the first sends over one interval so the schedule is smooth.
                Some(interval) => {
                    let due = now + interval.mul_f64(i as f64 / n as f64);
                    self.conns[i].due = due;
                    self.timers.push(Reverse((due, i)));
                }
                None => self.start_request(i, now),
            }
        }
        let mut next_scan = now + SCAN_EVERY;
        #[cfg(test)]
        let allocations_before = crate::alloc_counter::allocations();
        loop {
            let now = Instant::now();
            if self.finished(now) || stop.load(Ordering::Relaxed) {
                break;
            }
            let mut wait = next_scan.saturating_duration_since(now);
            if let Some(end) = self.end {
                wait = wait.min(end.saturating_duration_since(now));
            }
            if let Some(Reverse((due, _))) = self.timers.peek() {
                wait = wait.min(due.saturating_duration_since(now));
            }
            // Poll without sleeping for a little while before blocking: responses usually
            // arrive within microseconds, and a thread that is not asleep needs no wake-up —
            // which on loopback the *server's* CPU pays for. Never in open-loop mode, where
            // the thread is mostly waiting for the schedule.
            let mut ready = 0;
            if self.interval.is_none() {
                for _ in 0..SPIN_POLLS {
                    ready = self.epoll.wait(&mut events, 0)?;
                    if ready > 0 {
                        break;
                    }
                }
            }
            if ready == 0 {
                ready = self.epoll.wait(&mut events, ceil_millis(wait))?;
            }
            let now = Instant::now();
            for event in &events[..ready] {
                let index = (event.u64 & 0xffff_ffff) as usize;
                let generation = (event.u64 >> 32) as u32;
                match self.conns.get(index) {
                    Some(c) if c.generation == generation && c.socket.is_some() => {}
                    _ => continue, // an event for a socket we already replaced
                }
                self.on_event(index, event.events, now);
            }
            while let Some(&Reverse((due, index))) = self.timers.peek() {
                if due > now {
                    break;
                }
                self.timers.pop();
                self.on_timer(index, now);
            }
            self.flush_outbox();
            if now >= next_scan {
                next_scan = now + SCAN_EVERY;
                self.scan_timeouts(now);
                published.requests.store(self.requests, Ordering::Relaxed);
                published
                    .errors
                    .store(self.errors.total(), Ordering::Relaxed);
            }
        }
        #[cfg(test)]
        {
            self.loop_allocations = crate::alloc_counter::allocations() - allocations_before;
        }
        self.count_starved(Instant::now());
        published.requests.store(self.requests, Ordering::Relaxed);
        Ok(())
    }

    /// At the end of a run, a request that has made no progress (no byte of its response) for
    /// the timeout — or for half the run, for runs shorter than twice the timeout — is counted as
    /// a timeout: a server that starves clients (a full thread pool) must not look merely idle.
    /// Other requests in flight are simply not counted, as in wrk.
    fn count_starved(&mut self, now: Instant) {
        let run_time = self
            .end
            .map(|end| end.saturating_duration_since(self.started));
        let limit = run_time.map_or(self.timeout, |r| self.timeout.min(r / 2));
        for conn in &mut self.conns {
            let waiting = matches!(
                conn.phase,
                Phase::Connecting | Phase::Sending | Phase::Receiving
            );
            if conn.in_flight && waiting && now.duration_since(conn.progress) >= limit {
                conn.in_flight = false;
                self.errors.timeout += 1;
            }
        }
    }

    fn finished(&self, now: Instant) -> bool {
        if self.end.is_some_and(|end| now >= end) {
            return true;
        }
        self.quota.is_some_and(|q| self.resolved >= q)
    }

    /// May another request be issued?
    fn may_issue(&self, now: Instant) -> bool {
        self.quota.is_none_or(|q| self.issued < q) && self.end.is_none_or(|end| now < end)
    }

    /// Begin the next request on connection `i`: connect first if it has no socket, else write.
    fn start_request(&mut self, i: usize, now: Instant) {
        if !self.may_issue(now) {
            if self.conns[i].socket.is_some() {
                self.conns[i].phase = Phase::Waiting;
            }
            return;
        }
        self.issued += 1;
        let conn = &mut self.conns[i];
        conn.in_flight = true;
        // Open loop: latency counts from when the request was due, however late we are.
        conn.origin = if self.interval.is_some() {
            conn.due
        } else {
            now
        };
        if conn.socket.is_none() {
            self.open(i, now);
        } else {
            // Queue the write until this batch of events is handled (see `flush_outbox`).
            conn.phase = Phase::Sending;
            conn.sent = 0;
            self.outbox.push(i);
        }
    }

    /// Write the requests queued while handling one batch of events. Sending them together,
    /// after all reads, means the server wakes once to a batch of requests instead of once per
    /// request — as wrk does by arming `EPOLLOUT`, but without the two `epoll_ctl` calls.
    fn flush_outbox(&mut self) {
        while !self.outbox.is_empty() {
            std::mem::swap(&mut self.outbox, &mut self.flushing);
            let now = Instant::now();
            for k in 0..self.flushing.len() {
                let i = self.flushing[k];
                let conn = &self.conns[i];
                if conn.socket.is_some() && conn.phase == Phase::Sending && conn.sent == 0 {
                    self.send(i, now);
                }
            }
            self.flushing.clear();
        }
    }

    fn open(&mut self, i: usize, now: Instant) {
        let fd = match sys::tcp_socket(&self.addr) {
            Ok(fd) => fd,
            Err(_) => return self.fail(i, Failure::Connect, now),
        };
        self.connections += 1;
        if !self.close_mode {
            // A kept-alive connection's next request must not wait behind Nagle's algorithm (a
            // fresh connection's only write never does, so --close saves the syscall).
            let _ = sys::set_nodelay(&fd);
        }
        let connected = sys::connect(&fd, &self.addr);
        let conn = &mut self.conns[i];
        conn.generation = conn.generation.wrapping_add(1);
        conn.socket = Some(fd);
        conn.connect_start = now;
        conn.progress = now;
        conn.parser.reset();
        let tag = u64::from(conn.generation) << 32 | i as u64;
        match connected {
            Ok(true) => {
                conn.phase = Phase::Sending;
                if self.epoll.add(conn.fd(), READABLE, tag).is_err() {
                    return self.fail(i, Failure::Connect, now);
                }
                self.connected(i, now);
            }
            Ok(false) => {
                conn.phase = Phase::Connecting;
                if self.epoll.add(conn.fd(), WRITABLE, tag).is_err() {
                    self.fail(i, Failure::Connect, now);
                }
            }
            Err(_) => self.fail(i, Failure::Connect, now),
        }
    }

    fn connected(&mut self, i: usize, now: Instant) {
        if self.close_mode {
            let took = now.duration_since(self.conns[i].connect_start);
            let _ = self.connect_latency.record(clamp_ns(took));
            // Latency of the request proper starts now (closed loop).
            if self.interval.is_none() {
                self.conns[i].origin = now;
            }
        }
        self.send(i, now);
    }

    fn tag(&self, i: usize) -> u64 {
        u64::from(self.conns[i].generation) << 32 | i as u64
    }

    fn send(&mut self, i: usize, now: Instant) {
        let conn = &mut self.conns[i];
        conn.phase = Phase::Sending;
        conn.sent = 0;
        conn.progress = now;
        if self.interval.is_none() && !self.close_mode {
            conn.origin = now;
        }
        self.write_more(i, now);
    }

    fn write_more(&mut self, i: usize, now: Instant) {
        loop {
            let conn = &mut self.conns[i];
            let rest = &self.request[conn.sent..];
            match sys::write(conn.fd(), rest) {
                Ok(n) if n == rest.len() => {
                    conn.sent += n;
                    conn.phase = Phase::Receiving;
                    if conn.write_armed {
                        conn.write_armed = false;
                        let tag = self.tag(i);
                        let _ = self.epoll.modify(self.conns[i].fd(), READABLE, tag);
                    }
                    return;
                }
                // A short write: loop; the next write says EAGAIN if the buffer is full.
                Ok(n) if n > 0 => conn.sent += n,
                Ok(_) => return self.fail(i, Failure::Reset, now),
                // The send buffer is full: wait for room (rare for a small request).
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !conn.write_armed {
                        conn.write_armed = true;
                        let tag = self.tag(i);
                        let _ = self.epoll.modify(self.conns[i].fd(), WRITABLE, tag);
                    }
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // EPIPE / ECONNRESET: the server closed the kept-alive connection under us.
                Err(_) => return self.fail(i, Failure::Reset, now),
            }
        }
    }

    fn on_event(&mut self, i: usize, events: u32, now: Instant) {
        match self.conns[i].phase {
            Phase::Connecting => {
                match sys::socket_error(self.conns[i].fd()) {
                    Ok(None) => {}
                    _ => return self.fail(i, Failure::Connect, now),
                }
                let tag = self.tag(i);
                if self
                    .epoll
                    .modify(self.conns[i].fd(), READABLE, tag)
                    .is_err()
                {
                    return self.fail(i, Failure::Connect, now);
                }
                self.conns[i].phase = Phase::Sending;
                self.connected(i, now);
            }
            Phase::Sending if events & WRITABLE != 0 => self.write_more(i, now),
            Phase::Sending | Phase::Receiving | Phase::Draining | Phase::Waiting => {
                self.on_readable(i, now)
            }
            Phase::Closed => {}
        }
    }

    fn on_readable(&mut self, i: usize, now: Instant) {
        let fd = self.conns[i].fd();
        let n = match sys::read(fd, &mut self.buf) {
            // Zero bytes: the server closed its side.
            Ok(0) => return self.on_eof(i, now),
            Ok(n) => n,
            // A spurious wake-up: nothing to read after all.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return,
            // ECONNRESET and friends.
            Err(_) => {
                return match self.conns[i].phase {
                    Phase::Draining | Phase::Waiting => self.reopen_later(i, now),
                    _ => self.fail(i, Failure::Reset, now),
                };
            }
        };
        self.bytes_read += n as u64;
        self.conns[i].progress = now;
        match self.conns[i].phase {
            Phase::Sending | Phase::Receiving => {}
            // Bytes after the response the server promised to end with (or unasked-for bytes
            // on an idle connection): not HTTP we can make sense of.
            Phase::Draining | Phase::Waiting => return self.fail(i, Failure::Parse, now),
            _ => return,
        }
        match self.conns[i].parser.feed(&self.buf[..n]) {
            Feed::Partial => {}
            Feed::Invalid(_) => self.fail(i, Failure::Parse, now),
            Feed::Done { used, response } => {
                self.record(i, response.status, response.body_len, now);
                if used < n {
                    // We never pipeline, so nothing may follow a response.
                    self.fail_unissued(i, Failure::Parse, now);
                } else if response.close || self.close_mode {
                    // Wait for the server's FIN, so the TIME_WAIT stays on its side.
                    self.conns[i].phase = Phase::Draining;
                } else {
                    self.next_request(i, now);
                }
            }
        }
    }

    fn on_eof(&mut self, i: usize, now: Instant) {
        match self.conns[i].phase {
            Phase::Draining | Phase::Waiting => self.reopen_later(i, now),
            Phase::Receiving | Phase::Sending => {
                if let Some(response) = self.conns[i].parser.eof() {
                    self.record(i, response.status, response.body_len, now);
                    self.reopen_later(i, now);
                } else if self.conns[i].parser.in_progress() {
                    self.fail(i, Failure::ShortBody, now);
                } else {
                    self.fail(i, Failure::Reset, now);
                }
            }
            _ => {}
        }
    }

    /// A complete response for the request in flight on connection `i`.
    fn record(&mut self, i: usize, status: u16, body_len: u64, now: Instant) {
        let conn = &mut self.conns[i];
        conn.in_flight = false;
        self.resolved += 1;
        if let Some(slot) = self.status.get_mut(usize::from(status)) {
            *slot += 1;
        }
        if (200..300).contains(&status) {
            self.requests += 1;
            self.body_bytes += body_len;
            let _ = self
                .latency
                .record(clamp_ns(now.duration_since(conn.origin)));
        } else {
            self.errors.non_2xx += 1;
        }
    }

    /// The previous request is resolved: send the next one now or when it is due.
    fn next_request(&mut self, i: usize, now: Instant) {
        match self.interval {
            Some(interval) => {
                let conn = &mut self.conns[i];
                conn.due += interval;
                conn.phase = if conn.socket.is_some() {
                    Phase::Waiting
                } else {
                    Phase::Closed
                };
                if conn.due <= now {
                    self.start_request(i, now);
                } else {
                    self.timers.push(Reverse((conn.due, i)));
                }
            }
            None => self.start_request(i, now),
        }
    }

    fn on_timer(&mut self, i: usize, now: Instant) {
        match self.conns[i].phase {
            Phase::Closed | Phase::Waiting => {
                if self.interval.is_some_and(|_| self.conns[i].due > now) {
                    return; // stale entry
                }
                self.start_request(i, now);
            }
            _ => {}
        }
    }

    /// The connection ended normally (after a complete response): start over on a new one.
    fn reopen_later(&mut self, i: usize, now: Instant) {
        self.close_socket(i);
        if self.conns[i].in_flight {
            // Should not happen (callers resolve first), but never lose a request.
            self.resolved += 1;
            self.conns[i].in_flight = false;
        }
        self.next_request(i, now);
    }

    fn scan_timeouts(&mut self, now: Instant) {
        for i in 0..self.conns.len() {
            let conn = &self.conns[i];
            // Measured from the last progress (the send, or the last bytes read), not from the
            // latency origin: in rate mode that origin may lie far back in a backlog, and a large
            // body that keeps arriving is not stuck.
            let started = match conn.phase {
                Phase::Connecting => conn.connect_start,
                Phase::Sending | Phase::Receiving | Phase::Draining => conn.progress,
                _ => continue,
            };
            if now.duration_since(started) >= self.timeout {
                let why = match conn.phase {
                    Phase::Connecting => Failure::Connect,
                    Phase::Draining => {
                        // The response was complete; the server just never closed.
                        self.reopen_later(i, now);
                        continue;
                    }
                    _ => Failure::Timeout,
                };
                self.fail(i, why, now);
            }
        }
    }

    /// The request in flight on `i` failed: count it, drop the socket, carry on.
    fn fail(&mut self, i: usize, why: Failure, now: Instant) {
        let e = &mut self.errors;
        match why {
            Failure::Connect => e.connect += 1,
            Failure::Reset => e.reset += 1,
            Failure::ShortBody => e.short_body += 1,
            Failure::Timeout => e.timeout += 1,
            Failure::Parse => e.parse += 1,
        }
        if self.conns[i].in_flight {
            self.conns[i].in_flight = false;
            self.resolved += 1;
        }
        self.close_socket(i);
        if why == Failure::Connect {
            // Do not hammer a server that refuses connections.
            let conn = &mut self.conns[i];
            conn.due = conn.due.max(now + RECONNECT_PAUSE);
            self.timers.push(Reverse((conn.due, i)));
            return;
        }
        self.next_request(i, now);
    }

    /// An error that is not about a request in flight (already recorded).
    fn fail_unissued(&mut self, i: usize, why: Failure, now: Instant) {
        self.conns[i].in_flight = false;
        self.fail(i, why, now);
    }

    fn close_socket(&mut self, i: usize) {
        let conn = &mut self.conns[i];
        conn.socket = None;
        conn.phase = Phase::Closed;
        conn.write_armed = false;
        conn.parser.reset();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        for i in 0..self.conns.len() {
            self.close_socket(i);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    Connect,
    Reset,
    ShortBody,
    Timeout,
    Parse,
}

fn clamp_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos())
        .unwrap_or(u64::MAX)
        .clamp(1_000, MAX_LATENCY_NS)
}

fn ceil_millis(d: Duration) -> i32 {
    let ms = d.as_micros().div_ceil(1000);
    i32::try_from(ms).unwrap_or(i32::MAX)
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
    writeln!(out, "Transfer/sec: {:>10.2}MB", report.mb_per_sec)?;
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
            timeout: Duration::from_secs(5),
            cpu: None,
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
    fn millis_round_up() {
        assert_eq!(ceil_millis(Duration::from_micros(1)), 1);
        assert_eq!(ceil_millis(Duration::ZERO), 0);
        assert_eq!(ceil_millis(Duration::from_millis(7)), 7);
    }
}
