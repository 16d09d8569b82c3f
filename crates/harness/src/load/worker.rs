//! One load thread: an `epoll` loop over its share of the client connections, each a small state
//! machine in a flat table (index = the `epoll` tag). The hot path allocates nothing.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::results::Errors;
use super::{
    LoadSpec, MAX_LATENCY_NS, Published, READ_BUF, RECONNECT_PAUSE, SCAN_EVERY, SPIN_POLLS,
    new_histogram,
};
use crate::response::{Feed, ResponseParser};
use crate::sys::{self, Epoll, READABLE, WRITABLE};

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
pub(super) struct Worker {
    pub(super) epoll: Epoll,
    pub(super) addr: SocketAddr,
    pub(super) request: Vec<u8>,
    pub(super) close_mode: bool,
    pub(super) timeout: Duration,
    pub(super) interval: Option<Duration>,
    pub(super) started: Instant,
    pub(super) end: Option<Instant>,
    pub(super) quota: Option<u64>,
    conns: Vec<Conn>,
    /// Connections whose next request is written after the current batch of events.
    pub(super) outbox: Vec<usize>,
    /// The batch being written (swapped with `outbox`, so neither ever reallocates).
    pub(super) flushing: Vec<usize>,
    /// Rate-mode and reconnect timers: (due, connection index).
    pub(super) timers: BinaryHeap<Reverse<(Instant, usize)>>,
    pub(super) buf: Box<[u8]>,
    // Results.
    pub(super) issued: u64,
    pub(super) resolved: u64,
    pub(super) requests: u64,
    pub(super) bytes_read: u64,
    pub(super) body_bytes: u64,
    pub(super) connections: u64,
    pub(super) errors: Errors,
    pub(super) status: Box<[u64; 600]>,
    pub(super) latency: Histogram<u64>,
    pub(super) connect_latency: Histogram<u64>,
    #[cfg(test)]
    pub(super) loop_allocations: u64,
}

/// The bytes every request of a run sends: `GET`, or `POST` with a body of `post_bytes` bytes.
fn request_bytes(spec: &LoadSpec, connection: &str) -> Vec<u8> {
    let (path, host) = (&spec.target.path, &spec.target.host);
    match spec.post_bytes {
        None => format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{connection}\r\n").into_bytes(),
        Some(n) => {
            let mut request = format!(
                "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {n}\r\n{connection}\r\n"
            )
            .into_bytes();
            request.extend((0..n).map(|i| b'a' + (i % 26) as u8));
            request
        }
    }
}

impl Worker {
    pub(super) fn new(
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
        let request = request_bytes(spec, connection);
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

    /// The event loop: wait, dispatch each event, send what is due, scan for timeouts.
    // Long: the loop is the lesson of this file — the order of its steps (a few non-blocking
    // polls before a blocking one, rate pacing, the timeout scan) is easiest to check in one
    // place.
    pub(super) fn run(&mut self, published: &Published, stop: &AtomicBool) -> io::Result<()> {
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
            // ANCHOR: harness_wait
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
            // ANCHOR_END: harness_wait
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

    // ANCHOR: harness_start_request
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
    // ANCHOR_END: harness_start_request

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

    // ANCHOR: harness_record
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
    // ANCHOR_END: harness_record

    // ANCHOR: harness_next_request
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
    // ANCHOR_END: harness_next_request

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_round_up() {
        assert_eq!(ceil_millis(Duration::from_micros(1)), 1);
        assert_eq!(ceil_millis(Duration::ZERO), 0);
        assert_eq!(ceil_millis(Duration::from_millis(7)), 7);
    }
}
