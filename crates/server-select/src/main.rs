//! # `server-select` — model 3a: I/O multiplexing with `select(2)` (IO 复用)
//!
//! **The model in one sentence:** one thread fills two bit sets of file descriptors ("tell me when
//! one of these is readable / writable"), sleeps in `select(2)` until some socket is ready (or the
//! nearest deadline passes), then performs only the reads and writes that cannot block.
//!
//! ## The syscalls, in the order they happen
//! ```text
//! socket, setsockopt(SO_REUSEADDR, TCP_NODELAY),       the listener, O_NONBLOCK; its
//!   bind, listen                                      accepted sockets inherit TCP_NODELAY
//! setrlimit(RLIMIT_NOFILE)                              soft limit up to the hard limit
//! loop {
//!     (FD_ZERO, FD_SET for every socket)                rebuild both sets: user space, O(n)
//!     select(maxfd + 1, &read, &write, NULL, &timeout)  the only place the thread sleeps
//!       (glibc issues it as pselect6; strace shows that name)
//!     (FD_ISSET for every socket)                       find the ready ones: O(n) again
//!     accept4 … until EAGAIN                            listener was in the read set
//!       ioctl(FIONBIO)                                  each new socket: non-blocking
//!     read                                              readable: one read (level-triggered)
//!     write / sendfile … until done or EAGAIN           right after the read, or when writable
//!     shutdown(SHUT_WR), close                          a finished connection
//! }
//! ```
//!
//! ## Where the thread waits
//! Only inside `select`. Every socket is `O_NONBLOCK`, so a read or write that would block
//! returns `EAGAIN` instead (after `select` said ready, that is a rare spurious wake-up). The
//! timeout is the nearest connection deadline, kept in a [`Clients`] timer heap, so idle
//! connections are timed out without a thread or a timer each.
//!
//! ## Readiness, not completion
//! `select` reports that a `read` *would not block now*; the program still makes the `read` (and
//! the copy) itself. Like `poll` and `epoll` this is a readiness model; the completion models
//! (`server-aio`, `server-uring`) ask the kernel to do the whole transfer and report when done.
//!
//! ## Why the sets are rebuilt on every call: O(n) three times
//! An `fd_set` is a bitmap of `FD_SETSIZE` (1024) bits, and `select` uses it both ways: on entry a
//! bit means "watch this descriptor", on return it means "this one is ready" — every other bit is
//! cleared. The question is destroyed by the answer, so before each call the program sets the bit
//! of every connection again (one pass), the kernel walks every descriptor up to `maxfd` and copies
//! the bitmaps in and out — two here, read and write; the exception set is `NULL` (second pass),
//! and the program tests every bit to find the ready ones (third pass). One call is O(n) in the
//! number of connections even if only one is ready.
//!
//! ## `FD_SETSIZE`: a hard limit of the API
//! The bitmap has 1024 bits, so a descriptor ≥ 1024 cannot be watched at all (`FD_SET` on it
//! writes past the end of the set; `nix`'s `FdSet::insert` panics instead). Raising `ulimit -n`
//! does not help: the kernel hands out the lowest free descriptor, so after about 1,020
//! connections every new socket gets a number that does not fit. This server answers such a
//! connection with a fixed `503 Service Unavailable` (`Connection: close`), written directly, and
//! closes it; a one-line warning says so, at most once a second. Connections that fit keep being
//! served. (`poll` and `epoll` have no such limit.)
//!
//! The lab `scripts/lab.sh select-past-fd-setsize` shows the mistake this guard prevents:
//! `--mistake select-past-fd-setsize` (hidden from `--help`) turns [`fits_fd_set`] into "always
//! yes", and the connection that gets descriptor 1024 makes `FdSet::insert` panic, taking every
//! connection down with the process (`tests/labs.rs` checks both sides). In C the same mistake
//! does not stop anything at the point of the bug: `FD_SET(fd, &set)` with `fd ≥ FD_SETSIZE` sets
//! a bit past the end of the 128-byte `fd_set` (`select(2)`: undefined behaviour). If the set is
//! on the stack, that bit belongs to another variable, and the program corrupts its own memory
//! and may fail much later, somewhere else. (With `_FORTIFY_SOURCE`, glibc checks the number and
//! aborts instead.)
//!
//! ## What one more connection costs
//! Two bits, a slot in the table — and a share of the three O(n) passes on every wake-up.
//!
//! How that cost grows is in the committed benchmark run: `bench-results/2026-12-04T16-07-41Z-vm/results.md`,
//! the `idle-0`, `idle-1000`, `idle-5000` and `idle-9000` tables (50 active keep-alive clients
//! plus N idle connections held by the load generator), column *CPU ms/1k* — server CPU time per
//! 1,000 requests — for this server against `server-epoll`. (Numbers are referenced, not copied,
//! so that a new run updates them; on the course machine the shape is: flat for epoll, growing
//! with N for this server, and no figure at all past `FD_SETSIZE`.)
//!
//! ## When to choose it
//! When portability to anything with BSD sockets matters most, and there are few descriptors (a
//! handful of sockets, a terminal): every Unix and Windows has `select`. For a server, `poll` lifts
//! the 1024 limit and `epoll` the O(n).
//!
//! Compare with `server-poll` (the same loop; an array kept between calls, no fd limit) and
//! `server-epoll` (the same loop; the interest list lives in the kernel).

use std::io::{self, Write};
use std::net::TcpListener;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use http_core::Config;
use nix::sys::select::{FD_SETSIZE, FdSet, select};
use nix::sys::time::{TimeVal, TimeValLike};
use server_common::accept;
use server_common::cli::{self, CommonArgs};
use server_common::clients::{self, Accepted, Client, Clients};
use server_common::listener::{self, ListenOptions};
use server_common::pump::{self, Progress, ReadMode};
use server_common::shutdown::{Grace, Shutdown};
use server_common::{stats, sys, timers};

/// Serve files over HTTP/1.1 with one thread waiting in select(2) (I/O model 3a).
#[derive(Debug, Parser)]
#[command(name = "server-select", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,

    /// Make one classic mistake on purpose, for the lab of the same name (`scripts/lab.sh NAME`):
    /// `select-past-fd-setsize` (see [`Mistake`]). Hidden from `--help`: it exists only to
    /// demonstrate the mistake.
    #[arg(long, hide = true, value_enum)]
    mistake: Option<Mistake>,
}

/// The classic mistake this server can make on purpose (`--mistake NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mistake {
    /// Lab `select-past-fd-setsize`: no guard against descriptors ≥ `FD_SETSIZE`; the first one
    /// reaches `FdSet::insert`, which panics (safe Rust will not write past the 1024-bit set).
    SelectPastFdSetsize,
}

/// Set once at start by `--mistake select-past-fd-setsize`: [`fits_fd_set`] then says yes to
/// every descriptor, as a server without the guard behaves.
static NO_GUARD: AtomicBool = AtomicBool::new(false);

/// File bodies go out with `sendfile(2)`: no copy through user space.
const SENDFILE: bool = true;

/// The answer to a connection whose descriptor does not fit in an `fd_set`.
const RESPONSE_503: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
    Content-Type: text/plain\r\n\
    Content-Length: 49\r\n\
    Connection: close\r\n\
    \r\n\
    server-select: too many connections (FD_SETSIZE)\n";

/// The longest single wait (a day), whatever the deadlines say.
const MAX_WAIT_MILLIS: u64 = 86_400_000;
/// At most one "too many connections" warning per this interval.
const OVERFLOW_LOG_INTERVAL: Duration = Duration::from_secs(1);

fn main() {
    let args = Args::parse();
    if args.mistake == Some(Mistake::SelectPastFdSetsize) {
        NO_GUARD.store(true, Ordering::Relaxed);
    }
    let config = cli::exit_on_error("configuration", args.common.http_config());
    let shutdown = cli::exit_on_error("signal handlers", Shutdown::install());
    sys::raise_fd_limit_or_warn();
    let options = ListenOptions {
        nonblocking: true,
        reuse_port: false,
    };
    let listener = cli::exit_on_error("listen", listener::bind(args.common.addr, options));
    cli::exit_on_error("announce", listener::announce(&listener));
    let event_loop = EventLoop::new(listener, config, shutdown);
    cli::exit_on_error("event loop", event_loop.run());
    stats::report();
}

/// The event loop's state: everything lives on one thread.
struct EventLoop {
    /// `None` once shutdown began (closing it makes new connections get refused).
    listener: Option<TcpListener>,
    config: Arc<Config>,
    shutdown: Shutdown,
    clients: Clients,
    /// Connections `select` reported in this round: `(fd, readable, writable)`, reused.
    ready: Vec<(RawFd, bool, bool)>,
    /// The one read buffer (a connection keeps its partial request inside `http-core`).
    buf: Vec<u8>,
    /// After `EMFILE`: the listener is not watched until then.
    accept_paused_until: Option<Instant>,
    /// Begun when shutdown is requested: in-flight responses may run until it ends.
    grace: Grace,
    /// Connections refused with 503 since the last warning, and when that warning was printed.
    overflow: (u64, Option<Instant>),
}

impl EventLoop {
    fn new(listener: TcpListener, config: Arc<Config>, shutdown: Shutdown) -> EventLoop {
        EventLoop {
            listener: Some(listener),
            config,
            shutdown,
            clients: Clients::new(),
            ready: Vec::new(),
            buf: vec![0; pump::READ_BUF_SIZE],
            accept_paused_until: None,
            grace: Grace::new(),
            overflow: (0, None),
        }
    }

    /// Wait, dispatch, repeat, until a shutdown has drained every connection (or the grace
    /// period ended).
    fn run(mut self) -> io::Result<()> {
        let mut now = Instant::now();
        loop {
            if self.accept_paused_until.is_some_and(|until| now >= until) {
                self.accept_paused_until = None;
            }
            let timeout = self.wait_timeout(now);
            // The wake-up descriptor stays readable once shutdown was requested: stop watching
            // it then, or every select would return at once.
            let wake = (!self.grace.begun()).then(|| self.shutdown.wake_fd());
            let listener = match (&self.listener, self.accept_paused_until) {
                (Some(listener), None) => Some(listener.as_fd()),
                // Closed, or paused after EMFILE: not watched.
                _ => None,
            };
            let ready = wait(wake, listener, &self.clients, &mut self.ready, timeout);
            let (wake_ready, listener_ready) = match ready {
                Ok(ready) => ready,
                // A signal arrived while we slept (select is never restarted): nothing is
                // known to be ready; SIGTERM set the flag checked below.
                Err(err) if err.kind() == io::ErrorKind::Interrupted => (false, false),
                Err(err) => return Err(err),
            };
            // One clock read per wake-up, shared by every event of the round.
            now = Instant::now();
            if wake_ready || self.shutdown.requested() {
                self.on_shutdown(now);
            }
            for index in 0..self.ready.len() {
                let (fd, readable, writable) = self.ready[index];
                self.on_client_event(fd, readable, writable, now);
            }
            if listener_ready {
                self.on_accept(now)?;
            }
            self.on_timers(now);
            if self.finished(now) {
                break;
            }
        }
        let left: Vec<RawFd> = self.clients.iter().map(Client::fd).collect();
        for fd in left {
            self.close(fd, false); // grace period over: drop what is left
        }
        Ok(())
    }

    /// `select` reported connection `fd` readable and/or writable.
    fn on_client_event(&mut self, fd: RawFd, readable: bool, writable: bool, now: Instant) {
        if readable {
            self.on_readable(fd, now);
        } else if writable {
            self.on_writable(fd, now);
        }
    }

    // ANCHOR: select_accept
    /// The listener is readable: accept every pending connection.
    fn on_accept(&mut self, now: Instant) -> io::Result<()> {
        loop {
            let Some(listener) = &self.listener else {
                return Ok(());
            };
            match clients::accept(listener, &self.config, now)? {
                // The descriptor does not fit in an fd_set: this API cannot watch it.
                Accepted::Client(client) if !fits_fd_set(client.fd()) => self.refuse(client, now),
                Accepted::Client(client) => self.register(client),
                // The backlog is empty: the normal end of an accept round.
                Accepted::Empty => return Ok(()),
                // EMFILE/ENFILE: the connection stays queued and the listener stays readable;
                // stop watching it for a while instead of spinning on it.
                Accepted::Backoff => {
                    self.accept_paused_until = Some(now + accept::BACKOFF);
                    return Ok(());
                }
            }
        }
    }
    // ANCHOR_END: select_accept

    /// The socket is readable: one read (level-triggered: `select` reports it again if more bytes
    /// wait), then write the response at once if one is ready — the send buffer almost always has
    /// room, so waiting for writability first would cost a whole round of the loop.
    fn on_readable(&mut self, fd: RawFd, now: Instant) {
        let Some(client) = self.clients.get_mut(fd) else {
            return;
        };
        let read = pump::read_ready(
            &mut client.stream,
            &mut client.conn,
            &mut self.buf,
            ReadMode::Once,
            now,
        );
        match read {
            // Bytes were read and fed to the connection.
            Ok(Progress::Done | Progress::Drained) => {}
            // EAGAIN although select said readable: a spurious wake-up; wait again.
            Ok(Progress::WouldBlock) => {}
            // `read` returned 0: the peer sent FIN; we may still owe it a response.
            Ok(Progress::PeerClosed) => client.peer_closed = true,
            // ECONNRESET and friends: the peer is gone.
            Err(_) => return self.close(fd, false),
        }
        if client.conn.wants_write() {
            self.on_writable(fd, now);
        } else {
            self.after_io(fd);
        }
    }

    /// The socket is writable: write until the response is out or the send buffer is full.
    fn on_writable(&mut self, fd: RawFd, now: Instant) {
        let Some(client) = self.clients.get_mut(fd) else {
            return;
        };
        match pump::write_ready(&mut client.stream, &mut client.conn, SENDFILE, now) {
            // Everything the connection had is written.
            Ok(Progress::Done) => {}
            // A short write then EAGAIN: the send buffer is full (a slow reader); the write set
            // will say when it drains.
            Ok(Progress::WouldBlock) => {}
            // Writing never reports end-of-file, nor a drained socket.
            Ok(Progress::PeerClosed | Progress::Drained) => {}
            // EPIPE / ECONNRESET: the peer is gone.
            Err(_) => return self.close(fd, false),
        }
        self.after_io(fd);
    }

    /// After any event: log, then close the connection or keep watching its deadline. (What to
    /// wait for next is read from the connection when the sets are rebuilt.)
    fn after_io(&mut self, fd: RawFd) {
        let (draining, log) = (self.grace.begun(), self.config.log_requests);
        if self.clients.after_io(fd, draining, log).is_none() {
            self.close(fd, true);
        }
    }

    /// Forget a connection: take it out of the table (the sets are rebuilt from it), then close
    /// the socket.
    fn close(&mut self, fd: RawFd, politely: bool) {
        let Some(client) = self.clients.remove(fd) else {
            return;
        };
        client.close(politely);
    }

    /// Connections whose deadline passed: let `http-core` answer 408 or close, then write.
    fn on_timers(&mut self, now: Instant) {
        for fd in self.clients.time_out_due(now) {
            // A 408 to write, or nothing (the write finds no output and only settles the
            // connection: it is closed).
            self.on_writable(fd, now);
        }
    }

    /// SIGINT/SIGTERM: stop accepting, close idle keep-alive connections, let the others finish
    /// their exchange (until [`server_common::shutdown::GRACE`] has passed: [`Grace`]).
    fn on_shutdown(&mut self, now: Instant) {
        if !self.grace.begin(now) {
            return;
        }
        // Closing the listener makes the kernel refuse new connections.
        self.listener = None;
        for fd in self.clients.idle() {
            self.close(fd, true);
        }
    }

    /// Shutting down, and every connection is done (or the grace period is over).
    fn finished(&self, now: Instant) -> bool {
        self.grace.finished(now, self.clients.is_empty())
    }

    /// How long `select` may sleep: until the nearest deadline, back-off end or grace end.
    fn wait_timeout(&self, now: Instant) -> Option<Duration> {
        timers::wait_until_nearest(
            now,
            [
                self.clients.next_deadline(),
                self.accept_paused_until,
                self.grace.end(),
            ],
        )
    }

    /// Add a new connection to the table (the sets are rebuilt from it before every wait).
    fn register(&mut self, client: Client) {
        self.clients.insert(client);
    }

    /// A connection whose descriptor is ≥ `FD_SETSIZE`: answer 503 and close it, without ever
    /// putting it in a set. One write of a short response into an empty send buffer completes;
    /// if it somehow does not, the client sees the connection close instead.
    fn refuse(&mut self, client: Client, now: Instant) {
        let Client {
            mut stream, peer, ..
        } = client;
        let fd = stream.as_raw_fd();
        // The socket is non-blocking already (`Client::new`).
        match stream.write(RESPONSE_503) {
            // The whole response went into the send buffer.
            Ok(n) if n == RESPONSE_503.len() => {}
            // A short write or EAGAIN into a brand-new socket: give up; the close says enough.
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            // ECONNRESET/EPIPE: the client already left.
            Err(_) => {}
        }
        pump::close_gracefully(&stream);
        stats::connection_closed(1);
        self.overflow.0 += 1;
        let (refused, last_log) = self.overflow;
        if last_log.is_none_or(|at| now.duration_since(at) >= OVERFLOW_LOG_INTERVAL) {
            eprintln!(
                "warning: fd {fd} of {peer} does not fit select's FD_SETSIZE ({FD_SETSIZE}): \
                 answered 503 and closed ({refused} refused since the last warning; \
                 server-poll and server-epoll have no such limit)"
            );
            self.overflow = (0, Some(now));
        }
        // Dropping `stream` closes it.
    }
}

/// Whether `fd` can be put in an `fd_set` at all.
fn fits_fd_set(fd: RawFd) -> bool {
    NO_GUARD.load(Ordering::Relaxed) || usize::try_from(fd).is_ok_and(|fd| fd < FD_SETSIZE)
}

/// Rebuild both sets from scratch, `select(2)` on them, and collect the ready connections into
/// `ready`; returns whether the wake-up descriptor and the listener are readable. `None` waits
/// without a timeout.
fn wait(
    wake: Option<BorrowedFd<'_>>,
    listener: Option<BorrowedFd<'_>>,
    clients: &Clients,
    ready: &mut Vec<(RawFd, bool, bool)>,
    timeout: Option<Duration>,
) -> io::Result<(bool, bool)> {
    ready.clear();
    // ANCHOR: select_fill
    // Pass 1 (user space): set one bit per descriptor we care about.
    let mut read_set = FdSet::new();
    let mut write_set = FdSet::new();
    let mut max_fd: RawFd = -1;
    for fd in wake.into_iter().chain(listener) {
        if fits_fd_set(fd.as_raw_fd()) {
            read_set.insert(fd);
            max_fd = max_fd.max(fd.as_raw_fd());
        }
    }
    for client in clients.iter() {
        // Every connection in the table fits (see `on_accept`); the check keeps `insert` from
        // ever panicking.
        let (Some(interest), true) = (client.interest(), fits_fd_set(client.fd())) else {
            continue;
        };
        if interest.read {
            read_set.insert(client.stream.as_fd());
        }
        if interest.write {
            write_set.insert(client.stream.as_fd());
        }
        if interest.read || interest.write {
            max_fd = max_fd.max(client.fd());
        }
    }
    // ANCHOR_END: select_fill
    // ANCHOR: select_call
    // Pass 2 (kernel): every descriptor below `max_fd + 1` is examined.
    let mut timeval = timeout.map(|timeout| {
        // Deadlines are at most a day away (`--timeout` ≤ 86,400 s); clamping keeps the
        // conversion to microseconds from overflowing.
        let millis = timers::ceil_millis(timeout).min(MAX_WAIT_MILLIS);
        TimeVal::milliseconds(i64::try_from(millis).unwrap_or(0))
    });
    select(
        max_fd + 1,
        &mut read_set,
        &mut write_set,
        None,
        timeval.as_mut(),
    )
    .map_err(|errno| io::Error::new(io::Error::from(errno).kind(), format!("select: {errno}")))?;
    // Pass 3 (user space): test every bit to find what is ready.
    for client in clients.iter() {
        if !fits_fd_set(client.fd()) {
            continue;
        }
        let readable = read_set.contains(client.stream.as_fd());
        let writable = write_set.contains(client.stream.as_fd());
        if readable || writable {
            ready.push((client.fd(), readable, writable));
        }
    }
    // ANCHOR_END: select_call
    let is_ready = |fd: Option<BorrowedFd<'_>>| {
        fd.is_some_and(|fd| fits_fd_set(fd.as_raw_fd()) && read_set.contains(fd))
    };
    Ok((is_ready(wake), is_ready(listener)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_503_is_well_framed() {
        let text = std::str::from_utf8(RESPONSE_503).expect("ASCII response");
        let (head, body) = text
            .split_once("\r\n\r\n")
            .expect("a blank line ends the head");
        assert!(head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(head.contains("\r\nConnection: close"));
        let length = head
            .lines()
            .find_map(|line| line.strip_prefix("Content-Length: "))
            .expect("Content-Length")
            .trim();
        assert_eq!(length, body.len().to_string());
    }

    #[test]
    fn fd_set_bound() {
        assert!(fits_fd_set(0));
        assert!(fits_fd_set(1023));
        assert!(!fits_fd_set(1024));
        assert!(!fits_fd_set(-1));
    }
}
