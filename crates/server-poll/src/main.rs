//! # `server-poll` — model 3b: I/O multiplexing with `poll(2)` (IO 复用)
//!
//! **The model in one sentence:** one thread hands the kernel an array of
//! `struct pollfd { fd, events, revents }` and sleeps in `poll(2)` until some socket is ready (or
//! the nearest deadline passes), then performs only the reads and writes that cannot block.
//!
//! ## The syscalls, in the order they happen
//! ```text
//! socket, setsockopt(SO_REUSEADDR, TCP_NODELAY),       the listener, O_NONBLOCK; its
//!   bind, listen                                      accepted sockets inherit TCP_NODELAY
//! setrlimit(RLIMIT_NOFILE)                              soft limit up to the hard limit
//! loop {
//!     poll(fds, nfds, timeout_ms)                       the only place the thread sleeps
//!     accept4 … until EAGAIN                            listener had POLLIN
//!       ioctl(FIONBIO)                                  each new socket: non-blocking
//!     read                                              POLLIN: one read (level-triggered)
//!     write / sendfile … until done or EAGAIN           right after the read, or on POLLOUT
//!     shutdown(SHUT_WR), close                          a finished connection
//! }
//! ```
//!
//! ## Where the thread waits
//! Only inside `poll`. Every socket is `O_NONBLOCK`, so a read or write that would block returns
//! `EAGAIN` instead — but after `poll` said `POLLIN`/`POLLOUT` that is rare (a spurious wake-up).
//! The timeout is the nearest connection deadline (from a [`Clients`] timer heap, rounded *up* to
//! milliseconds), so idle connections are timed out without a thread or a timer each.
//!
//! ## Readiness, not completion
//! `poll` reports that a `read` *would not block now*; the program still makes the `read` (and the
//! copy into its buffer) itself. Both halves of Stevens' I/O are synchronous: this is a readiness
//! model, like `select` and `epoll`. The completion models (`server-aio`, `server-uring`) instead
//! ask the kernel to do the whole read and report when it is done.
//!
//! ## How the array is kept
//! `select` overwrites its input sets with its answer, so they must be rebuilt before every call.
//! `poll` keeps the question (`events`) and the answer (`revents`) in separate fields, so the
//! array can outlive the call; this server keeps it for the whole run:
//! - slot 0 is the shutdown wake-up descriptor, slot 1 the listener, then one slot per connection;
//! - a new connection is pushed at the end; a closed one is swap-removed (the last entry moves
//!   into its slot) and an index by fd (`slot_of`) says where each connection's entry is;
//! - `events` is rewritten in place, only when the connection's interest changes (read → write
//!   while a response is pending, and back).
//!
//! The array is plain `libc::pollfd` data: `nix`'s `PollFd` borrows each descriptor for a
//! lifetime, which fits an array built per call but not one kept while sockets come and go.
//!
//! ## What one more connection costs
//! Eight bytes in the array and a slot in the table — but every `poll` call passes the *whole*
//! array: the kernel copies it in, visits every socket (queueing the thread on each one's wait
//! queue), copies `revents` back, and the program scans all entries for the ready ones. One call
//! is O(n) in the number of connections even when a single one is ready: with 10,000 idle
//! keep-alive connections and one busy client, each of that client's requests pays for 10,000.
//!
//! How that cost grows is in the committed benchmark run: `bench-results/2026-12-04T16-07-41Z-vm/results.md`,
//! the `idle-0`, `idle-1000`, `idle-5000` and `idle-9000` tables (50 active keep-alive clients
//! plus N idle connections held by the load generator), column *CPU ms/1k* — server CPU time per
//! 1,000 requests — for this server against `server-epoll`. (Numbers are referenced, not copied,
//! so that a new run updates them; on the course machine the shape is: flat for epoll, growing
//! with N for this server.)
//!
//! ## Limits
//! No `FD_SETSIZE`: `nfds` is bounded only by `RLIMIT_NOFILE` (raised to the hard limit at start;
//! `EMFILE` on accept pauses accepting for [`accept::BACKOFF`], logged once). The O(n) per call is
//! the real limit.
//!
//! ## When to choose it
//! Portable (POSIX) readiness for up to a few thousand connections, or when a program waits on a
//! small, changing set of descriptors of mixed kinds. For many mostly-idle connections on Linux
//! use `epoll`, whose kernel keeps the interest list between calls so a wait costs O(ready).
//!
//! Compare with `server-select` (the same loop; sets rebuilt per call; 1024 descriptors at most)
//! and `server-epoll` (the same loop; the interest list lives in the kernel).

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
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
use server_common::{stats, sys, timers};

/// Serve files over HTTP/1.1 with one thread waiting in poll(2) (I/O model 3b).
#[derive(Debug, Parser)]
#[command(name = "server-poll", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

/// Slot of the shutdown wake-up descriptor in the `pollfd` array.
const WAKE: usize = 0;
/// Slot of the listener.
const LISTENER: usize = 1;
/// Slot of the first connection.
const FIRST_CLIENT: usize = 2;
/// File bodies go out with `sendfile(2)`: no copy through user space.
const SENDFILE: bool = true;

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
    /// The array passed to every `poll` call: `[wake, listener, client…]`.
    pollfds: Vec<libc::pollfd>,
    /// `slot_of[fd]` = index of that connection's entry in `pollfds`.
    slot_of: Vec<usize>,
    /// Connections `poll` reported in this round: `(fd, revents)`, reused between rounds.
    ready: Vec<(RawFd, libc::c_short)>,
    /// The one read buffer (a connection keeps its partial request inside `http-core`).
    buf: Vec<u8>,
    /// After `EMFILE`: the listener is not watched until then.
    accept_paused_until: Option<Instant>,
    /// Begun when shutdown is requested: in-flight responses may run until it ends.
    grace: Grace,
}

impl EventLoop {
    fn new(listener: TcpListener, config: Arc<Config>, shutdown: Shutdown) -> EventLoop {
        let pollfds = vec![
            pollfd(shutdown.wake_fd().as_raw_fd(), libc::POLLIN),
            pollfd(listener.as_raw_fd(), libc::POLLIN),
        ];
        EventLoop {
            listener: Some(listener),
            config,
            shutdown,
            clients: Clients::new(),
            pollfds,
            slot_of: Vec::new(),
            ready: Vec::new(),
            buf: vec![0; pump::READ_BUF_SIZE],
            accept_paused_until: None,
            grace: Grace::new(),
        }
    }

    /// Wait, dispatch, repeat, until a shutdown has drained every connection (or the grace
    /// period ended).
    fn run(mut self) -> io::Result<()> {
        let mut now = Instant::now();
        loop {
            self.resume_accepting(now);
            let timeout = self.wait_timeout(now);
            match poll_fds(&mut self.pollfds, timeout) {
                // Nothing became ready before the timeout: only deadlines are due.
                Ok(0) => {}
                // Some entries have a non-zero `revents`.
                Ok(_) => {}
                // A signal arrived while we slept (poll is never restarted): nothing is known to
                // be ready, so make sure no `revents` is read; SIGTERM set the flag checked below.
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {
                    self.pollfds.iter_mut().for_each(|entry| entry.revents = 0);
                }
                Err(err) => return Err(err),
            }
            // One clock read per wake-up, shared by every event of the round.
            now = Instant::now();
            // SIGINT/SIGTERM: the wake-up descriptor is readable (or the flag is set and poll
            // said EINTR).
            if self.pollfds[WAKE].revents != 0 || self.shutdown.requested() {
                self.on_shutdown(now);
            }
            let listener_ready = self.pollfds[LISTENER].revents != 0;
            // ANCHOR: poll_scan
            // Scanning every entry for a non-zero `revents` is poll's O(n), on our side this time.
            self.ready.clear();
            self.ready.extend(
                self.pollfds[FIRST_CLIENT..]
                    .iter()
                    .filter(|entry| entry.revents != 0)
                    .map(|entry| (entry.fd, entry.revents)),
            );
            // ANCHOR_END: poll_scan
            for index in 0..self.ready.len() {
                let (fd, revents) = self.ready[index];
                self.on_client_event(fd, revents, now);
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

    /// `poll` reported `revents` for connection `fd`.
    fn on_client_event(&mut self, fd: RawFd, revents: libc::c_short, now: Instant) {
        let Some(interest) = self.clients.get_mut(fd).and_then(|c| c.interest()) else {
            return;
        };
        // POLLHUP/POLLERR are reported even when not asked for: let the read or write that was
        // wanted discover what happened (it returns 0 or the error).
        let broken = revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0;
        if interest.read && (revents & libc::POLLIN != 0 || broken) {
            self.on_readable(fd, now);
        } else if interest.write && (revents & libc::POLLOUT != 0 || broken) {
            self.on_writable(fd, now);
        }
        if broken && self.clients.get_mut(fd).is_some() {
            // Both directions are shut or the socket has an error: nothing more can be
            // delivered, and a level-triggered POLLHUP would be reported again forever.
            self.close(fd, false);
        }
    }

    /// The listener is readable: accept every pending connection.
    fn on_accept(&mut self, now: Instant) -> io::Result<()> {
        loop {
            let Some(listener) = &self.listener else {
                return Ok(());
            };
            match clients::accept(listener, &self.config, now)? {
                Accepted::Client(client) => self.register(client),
                // The backlog is empty: the normal end of an accept round.
                Accepted::Empty => return Ok(()),
                // EMFILE/ENFILE: the connection stays queued and the listener stays readable;
                // stop watching it for a while instead of spinning on it.
                Accepted::Backoff => {
                    self.accept_paused_until = Some(now + accept::BACKOFF);
                    self.pollfds[LISTENER].events = 0;
                    return Ok(());
                }
            }
        }
    }

    /// The socket is readable: one read (level-triggered: `poll` reports it again if more bytes
    /// wait), then write the response at once if one is ready — the send buffer almost always has
    /// room, so waiting for `POLLOUT` first would cost a whole round of the loop.
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
            // EAGAIN despite POLLIN: a spurious wake-up; wait again.
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
            // A short write then EAGAIN: the send buffer is full (a slow reader); POLLOUT will
            // say when it drains.
            Ok(Progress::WouldBlock) => {}
            // Writing never reports end-of-file, nor a drained socket.
            Ok(Progress::PeerClosed | Progress::Drained) => {}
            // EPIPE / ECONNRESET: the peer is gone.
            Err(_) => return self.close(fd, false),
        }
        self.after_io(fd);
    }

    /// After any event: log, then close the connection or update what `poll` watches for it.
    fn after_io(&mut self, fd: RawFd) {
        let (draining, log) = (self.grace.begun(), self.config.log_requests);
        let Some(interest) = self.clients.after_io(fd, draining, log) else {
            return self.close(fd, true);
        };
        let events = events_for(interest);
        if let Some(entry) = self.entry_mut(fd) {
            // A plain store into our own array: no syscall, unlike `epoll_ctl`.
            if entry.events != events {
                entry.events = events;
            }
        }
    }

    /// Forget a connection: its table entry and its `pollfd` entry; then close the socket.
    fn close(&mut self, fd: RawFd, politely: bool) {
        let Some(client) = self.clients.remove(fd) else {
            return;
        };
        if let Some(&slot) = self.slot_of.get(slot_index(fd)) {
            if slot < self.pollfds.len() {
                self.pollfds.swap_remove(slot);
            }
            if let Some(moved) = self.pollfds.get(slot) {
                // The last entry moved into the freed slot: record its new place.
                if let Some(place) = self.slot_of.get_mut(slot_index(moved.fd)) {
                    *place = slot;
                }
            }
        }
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
        // A negative fd is ignored by poll. The wake-up descriptor stays readable forever, so it
        // must not be watched any more, or every poll would return at once.
        self.pollfds[LISTENER].fd = -1;
        self.pollfds[WAKE].fd = -1;
        for fd in self.clients.idle() {
            self.close(fd, true);
        }
    }

    /// Watch the listener again once an `EMFILE` back-off is over.
    fn resume_accepting(&mut self, now: Instant) {
        if self.accept_paused_until.is_some_and(|until| now >= until) {
            self.accept_paused_until = None;
            if self.listener.is_some() {
                self.pollfds[LISTENER].events = libc::POLLIN;
            }
        }
    }

    /// Shutting down, and every connection is done (or the grace period is over).
    fn finished(&self, now: Instant) -> bool {
        self.grace.finished(now, self.clients.is_empty())
    }

    /// How long `poll` may sleep: until the nearest deadline, back-off end or grace end.
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

    /// The `pollfd` entry of connection `fd`.
    fn entry_mut(&mut self, fd: RawFd) -> Option<&mut libc::pollfd> {
        let slot = *self.slot_of.get(slot_index(fd))?;
        self.pollfds.get_mut(slot)
    }

    /// Add a new connection: table entry, `pollfd` at the end of the array (waiting for input).
    fn register(&mut self, client: Client) {
        let fd = self.clients.insert(client);
        let index = slot_index(fd);
        if index >= self.slot_of.len() {
            self.slot_of.resize(index + 1, usize::MAX);
        }
        self.slot_of[index] = self.pollfds.len();
        self.pollfds.push(pollfd(fd, libc::POLLIN));
    }
}

/// The `events` mask that asks for `interest`.
fn events_for(interest: Interest) -> libc::c_short {
    let mut events = 0;
    if interest.read {
        events |= libc::POLLIN;
    }
    if interest.write {
        events |= libc::POLLOUT;
    }
    events
}

/// One entry of the array.
fn pollfd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// Descriptors of open sockets are small non-negative integers.
fn slot_index(fd: RawFd) -> usize {
    usize::try_from(fd).unwrap_or(usize::MAX)
}

/// `poll(2)` on the whole array; `None` waits without a timeout. Returns how many entries have a
/// non-zero `revents`.
fn poll_fds(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> io::Result<usize> {
    let timeout_ms = match timeout {
        None => -1,
        Some(timeout) => libc::c_int::try_from(timers::ceil_millis(timeout)).unwrap_or(i32::MAX),
    };
    let nfds = libc::nfds_t::try_from(fds.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many descriptors"))?;
    // SAFETY: `fds` is an exclusively borrowed slice of exactly `nfds` initialized `pollfd`s; the
    // kernel only writes their `revents` fields, and only during this call.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), nfds, timeout_ms) };
    sys::cvt(ready, "poll").map(|n| usize::try_from(n).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    /// Why a readiness loop reads files with a plain `pread`: `poll(2)` reports a regular file
    /// readable (and writable) at once, always — readiness says nothing about the disk.
    #[test]
    fn poll_reports_a_regular_file_ready_at_once() {
        let file = std::fs::File::open(std::env::current_exe().expect("test binary path"))
            .expect("open a regular file");
        let mut fds = [libc::pollfd {
            fd: file.as_raw_fd(),
            events: libc::POLLIN | libc::POLLOUT,
            revents: 0,
        }];
        // SAFETY: one valid pollfd, for the duration of the call; a zero timeout never blocks.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 1, 0) };
        assert_eq!(ready, 1);
        assert_eq!(fds[0].revents, libc::POLLIN | libc::POLLOUT);
    }
}
