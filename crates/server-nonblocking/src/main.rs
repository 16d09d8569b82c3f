//! # `server-nonblocking` — model 2: non-blocking I/O, polling (非阻塞 IO)
//!
//! **The model in one sentence:** every socket is `O_NONBLOCK`, and one thread walks over all of
//! them again and again, trying `accept`, `read` and `write`, and moving on whenever the kernel
//! answers `EAGAIN` ("nothing to do here yet").
//!
//! ## The syscalls, in the order they happen
//! ```text
//! socket, setsockopt(SO_REUSEADDR, TCP_NODELAY),       the listener, O_NONBLOCK; its
//!   bind, listen                                      accepted sockets inherit TCP_NODELAY
//! setrlimit(RLIMIT_NOFILE)                              soft limit up to the hard limit
//! loop {                                                one "pass"
//!     accept4 … until EAGAIN                            new connections, if any
//!       ioctl(FIONBIO)                                  each new socket: non-blocking
//!     for every connection:
//!         read                                          if it wants input: bytes, 0 or EAGAIN
//!         write / sendfile … until done or EAGAIN       if it has output
//!     shutdown(SHUT_WR), close                          finished connections
//!     clock_nanosleep(1…10 ms)                          only after a pass that moved nothing
//! }
//! ```
//!
//! ## Where the thread waits
//! Nowhere in the kernel: no call ever blocks. The thread *is* the waiting: it asks every socket
//! "ready yet?" in turn (Stevens calls this polling). Most of those questions are answered
//! `EAGAIN` — a whole syscall (a user/kernel round trip) spent to learn nothing.
//!
//! ## Readiness, learned the hard way
//! There is no readiness notification at all: trying the operation *is* the readiness test. A
//! read that succeeds returns the data; a read that would block returns `EAGAIN` at once. Like the
//! multiplexing models the I/O itself is synchronous; unlike them, nobody tells the thread which
//! socket to try.
//!
//! ## The cost: a core, even when idle
//! With nothing to do, a pure polling loop never sleeps: it calls `accept` and `read` on every
//! socket in a tight loop and burns 100% of a CPU while serving nobody. That is what `--spin`
//! does (lowest latency: a request is noticed within one pass). By default the loop backs off
//! instead: after a pass in which nothing moved it sleeps 1 ms, doubling up to 10 ms while the
//! server stays idle, and goes back to full speed as soon as a pass makes progress. The price is
//! latency: a request arriving at an idle server may wait up to 10 ms before it is even read.
//! (Measured with no client for 2 s: the default loop used no measurable CPU; `--spin` used all
//! the CPU the scheduler gave it.)
//! Either way the cost of one pass grows with the number of connections: 10,000 idle keep-alive
//! connections mean 10,000 fruitless `read`s per pass, for every request of the one busy client.
//!
//! ## What one more connection costs
//! A slot in the table (the connection's `http-core` state), and one more syscall in every pass.
//!
//! How that cost grows is in the committed benchmark run: `bench-results/2026-12-04T16-07-41Z-vm/results.md`,
//! the `idle-0`, `idle-1000`, `idle-5000` and `idle-9000` tables (50 active keep-alive clients
//! plus N idle connections held by the load generator), column *CPU ms/1k* — server CPU time per
//! 1,000 requests — for this server against `server-epoll`. (Numbers are referenced, not copied,
//! so that a new run updates them; on the course machine the shape is: flat for epoll, growing
//! with N for this server.)
//!
//! ## Limits
//! Scales with nothing: CPU time grows with connections × passes. Deadlines are still kept in a
//! [`Clients`] timer heap and checked once per pass; a shutdown request is seen within one pass
//! (at most one back-off sleep, 10 ms).
//!
//! ## When to choose it
//! Almost never for a server. Non-blocking sockets are essential — every readiness model that
//! follows uses them — but a loop that *guesses* readiness only pays off with very few
//! descriptors and a core to spare for latency (busy-polling network stacks do exactly that, on
//! purpose).
//!
//! Compare with `server-blocking` (the kernel puts the thread to sleep on one socket) and
//! `server-select` / `server-poll` / `server-epoll` (the kernel says which sockets are ready).

use std::io;
use std::net::TcpListener;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use http_core::Config;
use server_common::accept;
use server_common::cli::{self, CommonArgs};
use server_common::clients::{self, Accepted, Client, Clients};
use server_common::listener::{self, ListenOptions};
use server_common::pump::{self, Interest, Progress, ReadMode};
use server_common::shutdown::{Grace, Shutdown};
use server_common::{stats, sys};

/// Serve files over HTTP/1.1 with one thread polling non-blocking sockets (I/O model 2).
#[derive(Debug, Parser)]
#[command(name = "server-nonblocking", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,

    /// Never sleep between passes: lowest latency, but one CPU core at 100% even when idle.
    #[arg(long)]
    spin: bool,
}

/// File bodies go out with `sendfile(2)`: no copy through user space.
const SENDFILE: bool = true;
/// The first sleep after a pass that moved nothing.
const MIN_SLEEP: Duration = Duration::from_millis(1);
/// The longest sleep while idle (also bounds how late a new request or a signal is noticed).
const MAX_SLEEP: Duration = Duration::from_millis(10);

fn main() {
    let args = Args::parse();
    let config = cli::exit_on_error("configuration", args.common.http_config());
    let shutdown = cli::exit_on_error("signal handlers", Shutdown::install());
    sys::raise_fd_limit_or_warn();
    let options = ListenOptions {
        nonblocking: true,
        reuse_port: false,
    };
    let listener = cli::exit_on_error("listen", listener::bind(args.common.addr, options));
    cli::exit_on_error("announce", listener::announce(&listener));
    let event_loop = EventLoop::new(listener, config, shutdown, args.spin);
    cli::exit_on_error("event loop", event_loop.run());
    stats::report();
}

/// The polling loop's state: everything lives on one thread.
struct EventLoop {
    /// `None` once shutdown began (closing it makes new connections get refused).
    listener: Option<TcpListener>,
    config: Arc<Config>,
    shutdown: Shutdown,
    clients: Clients,
    /// The connections to try in this pass, with what each wants: `(fd, interest)`, reused.
    pass: Vec<(RawFd, Interest)>,
    /// The one read buffer (a connection keeps its partial request inside `http-core`).
    buf: Vec<u8>,
    /// After `EMFILE`: no `accept` until then.
    accept_paused_until: Option<Instant>,
    /// Begun when shutdown is requested: in-flight responses may run until it ends.
    grace: Grace,
    /// `--spin`: never sleep.
    spin: bool,
    /// Whether the current pass accepted, read or wrote anything.
    progress: bool,
    /// The next back-off sleep.
    idle_sleep: Duration,
}

impl EventLoop {
    fn new(
        listener: TcpListener,
        config: Arc<Config>,
        shutdown: Shutdown,
        spin: bool,
    ) -> EventLoop {
        EventLoop {
            listener: Some(listener),
            config,
            shutdown,
            clients: Clients::new(),
            pass: Vec::new(),
            buf: vec![0; pump::READ_BUF_SIZE],
            accept_paused_until: None,
            grace: Grace::new(),
            spin,
            progress: false,
            idle_sleep: MIN_SLEEP,
        }
    }

    /// One pass over the listener and every connection, then time out what is due, then back
    /// off if nothing moved; repeat until a shutdown has drained every connection (or the grace
    /// period ended).
    fn run(mut self) -> io::Result<()> {
        let mut now = Instant::now();
        // ANCHOR: polling_pass
        loop {
            if self.accept_paused_until.is_some_and(|until| now >= until) {
                self.accept_paused_until = None;
            }
            self.progress = false;
            // Nothing wakes this loop up, so SIGINT/SIGTERM is noticed by looking at the flag,
            // once per pass.
            if self.shutdown.requested() {
                self.on_shutdown(now);
            }
            if self.accept_paused_until.is_none() {
                self.on_accept(now)?;
            }
            // Nobody says which sockets are ready: try each one for what it wants.
            self.pass.clear();
            self.pass.extend(
                self.clients
                    .iter()
                    .filter_map(|client| Some((client.fd(), client.interest()?))),
            );
            for index in 0..self.pass.len() {
                let (fd, interest) = self.pass[index];
                self.on_client_event(fd, interest, now);
            }
            self.on_timers(now);
            if self.finished(now) {
                break;
            }
            self.back_off();
            // One clock read per pass, shared by every connection of the pass.
            now = Instant::now();
        }
        // ANCHOR_END: polling_pass
        let left: Vec<RawFd> = self.clients.iter().map(Client::fd).collect();
        for fd in left {
            self.close(fd, false); // grace period over: drop what is left
        }
        Ok(())
    }

    /// Try connection `fd` for what it wants: read (and then write), or write.
    fn on_client_event(&mut self, fd: RawFd, interest: Interest, now: Instant) {
        if interest.read {
            self.on_readable(fd, now);
        } else if interest.write {
            self.on_writable(fd, now);
        }
    }

    /// Try to accept every pending connection.
    fn on_accept(&mut self, now: Instant) -> io::Result<()> {
        loop {
            let Some(listener) = &self.listener else {
                return Ok(());
            };
            match clients::accept(listener, &self.config, now)? {
                Accepted::Client(client) => {
                    self.progress = true;
                    self.register(client);
                }
                // No connection is pending: the usual answer, a syscall spent on nothing.
                Accepted::Empty => return Ok(()),
                // EMFILE/ENFILE: the connection stays queued, so accept would fail again on
                // every pass; skip accepting for a while.
                Accepted::Backoff => {
                    self.accept_paused_until = Some(now + accept::BACKOFF);
                    return Ok(());
                }
            }
        }
    }

    // ANCHOR: try_read
    /// Try one read; if it produced a response, write it at once.
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
            // Bytes were read and fed to the connection (one read per pass keeps it fair).
            Ok(Progress::Done | Progress::Drained) => self.progress = true,
            // EAGAIN: nothing arrived yet; the usual answer to a guess. Try again next pass.
            Ok(Progress::WouldBlock) => {}
            // `read` returned 0: the peer sent FIN; we may still owe it a response.
            Ok(Progress::PeerClosed) => {
                self.progress = true;
                client.peer_closed = true;
            }
            // ECONNRESET and friends: the peer is gone.
            Err(_) => return self.close(fd, false),
        }
        if client.conn.wants_write() {
            self.on_writable(fd, now);
        } else {
            self.after_io(fd);
        }
    }
    // ANCHOR_END: try_read

    /// Write until the response is out or the send buffer is full.
    fn on_writable(&mut self, fd: RawFd, now: Instant) {
        let Some(client) = self.clients.get_mut(fd) else {
            return;
        };
        match pump::write_ready(&mut client.stream, &mut client.conn, SENDFILE, now) {
            // Everything the connection had is written.
            Ok(Progress::Done) => self.progress = true,
            // The send buffer is full (a slow reader), possibly after a short write: try again
            // next pass. (Counted as no progress, so a stalled reader lets the loop back off.)
            Ok(Progress::WouldBlock) => {}
            // Writing never reports end-of-file, nor a drained socket.
            Ok(Progress::PeerClosed | Progress::Drained) => {}
            // EPIPE / ECONNRESET: the peer is gone.
            Err(_) => return self.close(fd, false),
        }
        self.after_io(fd);
    }

    /// After any attempt: log, then close the connection or keep watching its deadline.
    fn after_io(&mut self, fd: RawFd) {
        let (draining, log) = (self.grace.begun(), self.config.log_requests);
        if self.clients.after_io(fd, draining, log).is_none() {
            self.close(fd, true);
        }
    }

    /// Forget a connection: take it out of the table, then close the socket.
    fn close(&mut self, fd: RawFd, politely: bool) {
        let Some(client) = self.clients.remove(fd) else {
            return;
        };
        self.progress = true;
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

    // ANCHOR: back_off
    /// After a pass that moved nothing, sleep (1 ms, doubling to 10 ms) unless `--spin`; after
    /// a pass that moved something, go straight on.
    fn back_off(&mut self) {
        if self.progress {
            self.idle_sleep = MIN_SLEEP;
        } else if !self.spin {
            std::thread::sleep(self.idle_sleep);
            self.idle_sleep = (self.idle_sleep * 2).min(MAX_SLEEP);
        }
    }
    // ANCHOR_END: back_off

    /// Add a new connection to the table: it is tried from the next pass on.
    fn register(&mut self, client: Client) {
        self.clients.insert(client);
    }
}
