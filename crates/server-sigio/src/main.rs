//! # Model 4: signal-driven I/O (信号驱动 IO)
//!
//! **The model in one sentence:** the kernel *sends a signal* when a socket becomes ready, and the
//! one thread of this server takes those signals off a queue, one at a time, and then does the
//! (non-blocking) reads and writes itself.
//!
//! ## The syscalls, in call order
//! 1. `pthread_sigmask(SIG_BLOCK, {SIGRTMIN+1, SIGIO, SIGINT, SIGTERM})` — before anything else
//!    (and before any thread could exist), so these signals are never *delivered* to a handler;
//!    they stay queued until we ask for them.
//! 2. `socket`, `bind`, `listen` (non-blocking), then on the listener
//!    `fcntl(F_SETOWN, getpid())` (who gets the signal), `fcntl(F_SETSIG, SIGRTMIN+1)` (which
//!    signal: a real-time one, so that the kernel *queues one per event* and says which socket in
//!    `si_fd` and which event in `si_band`), `fcntl(F_SETFL, O_ASYNC|O_NONBLOCK)` (turn it on).
//! 3. Loop: `sigtimedwait(set, timeout)` → one `siginfo_t`:
//!    - `si_fd` = the listener: `accept` until `EAGAIN`; each new socket gets the same three
//!      `fcntl`s (accepted sockets inherit none of them), then we **read at once**: bytes that
//!      arrived before `O_ASYNC` was set raised no signal.
//!    - `si_fd` = a connection, `si_band` has `POLLIN`/`POLLHUP`/`POLLERR`: `read` until `EAGAIN`,
//!      feed `http-core`, `write` the response at once.
//!    - `si_band` has `POLLOUT`: the send buffer drained after an `EAGAIN`: write the rest.
//!    - plain `SIGIO` with `si_code == SI_KERNEL`: the real-time queue overflowed and events were
//!      *lost*; drain the queue (`sigtimedwait` with a zero timeout until `EAGAIN`) and scan every
//!      connection and the listener.
//!    - `SIGINT`/`SIGTERM`: shut down (see below).
//!    - timeout (`EAGAIN`): a connection's deadline passed (from a
//!      [`Deadlines`](server_common::timers::Deadlines) table, kept by `Clients`).
//!
//! ## Where the thread waits
//! Only in `sigtimedwait`. There is no signal handler doing work: a handler may run between any
//! two instructions of the program, where it may not allocate, lock, or touch `http-core`.
//! Taking the signal *synchronously* turns signals into an event queue — which is exactly what
//! `epoll_wait` is, minus the bookkeeping. (`SIGINT`/`SIGTERM` are in the waited set too, so the
//! handlers `Shutdown::install` registers never run here; the loop calls
//! [`Shutdown::request`] itself. One design, no race between "check the flag" and "wait".)
//!
//! ## Readiness, not completion
//! A signal says "this socket is ready" (UNP's first phase is asynchronous); the copy between
//! kernel and user space is still a synchronous `read`/`write` by this thread (second phase). So
//! this is a Reactor, like `server-epoll`; `server-aio` is the model where the copy is done for us.
//!
//! ## What one more connection costs
//! A slot in the fd-indexed table of `server_common::clients` (the key a signal's `si_fd`
//! gives), its `http-core` state, and at most one deadline in the heap; no thread, no buffer
//! while idle (300 idle connections: still 1 thread, `tests/sigio.rs`). Each event costs a queued
//! signal in the kernel (a `struct sigqueue`, smaller than the 128-byte `siginfo_t` user space
//! receives) and one `sigtimedwait` call — one syscall per event, where `epoll_wait` returns many
//! events per call.
//!
//! ## Limits
//! - The real-time signal queue is bounded per *real user*, across all of that user's processes
//!   (`RLIMIT_SIGPENDING`, `ulimit -i`; `getrlimit(2)`): another program of the same user can
//!   fill it. When it is full the kernel falls back to one plain `SIGIO` that says only
//!   "something was lost", and the server must scan everything: O(connections) per overflow.
//!   `tests/sigio.rs` forces this.
//! - `--signal plain` shows why real-time signals exist: classic `SIGIO` carries no fd and
//!   several pending `SIGIO`s coalesce into one, so *every* signal means "scan every socket".
//! - A signal says a socket *was* ready when it was queued: by the time we take it the socket may
//!   be closed, or its number reused by a newer connection. That is harmless here (a `read` that
//!   says `EAGAIN`), but it is why every handler below tolerates spurious events.
//! - One thread; a client that pipelines requests without pause is served until it pauses.
//!
//! ## When to choose it
//! Almost never for TCP servers today — `epoll` does the same job with batching and without a
//! per-user queue limit. Signal-driven I/O is still used for UDP (one datagram = one event)
//! and it is the clearest way to see what "the kernel notifies you" means.
//!
//! Compare with `server-epoll` (the same Reactor with a better queue), `server-nonblocking` (no
//! notification at all: polling), and `server-aio` (completion instead of readiness).

mod sigio;

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use http_core::Config;
use server_common::accept;
use server_common::cli::{CommonArgs, exit_on_error};
use server_common::clients::{self, Accepted, Client, Clients};
use server_common::errors::is_disconnect;
use server_common::listener::{self, ListenOptions};
use server_common::pump::{self, Progress, ReadMode};
use server_common::shutdown::{Grace, Shutdown};
use server_common::{stats, sys, timers};

use server_common::signals::SigSet;
use sigio::Siginfo;

/// An HTTP/1.1 server driven by signals: F_SETOWN + O_ASYNC + F_SETSIG, taken with sigtimedwait.
#[derive(Debug, Parser)]
#[command(name = "server-sigio", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,

    /// Which signal the kernel sends: `rt` = a queued real-time signal per event that names the
    /// socket (si_fd, si_band); `plain` = classic SIGIO (coalesced, no fd: scan every socket).
    #[arg(long, value_enum, default_value_t = SignalMode::Rt)]
    signal: SignalMode,
}

/// The two ways the kernel can notify us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SignalMode {
    /// `F_SETSIG(SIGRTMIN+1)`: one queued signal per event, carrying the socket.
    Rt,
    /// `F_SETSIG(0)`: classic `SIGIO`, no socket, many events → one signal.
    Plain,
}

/// The state of the event loop.
#[derive(Debug)]
struct Server {
    config: Arc<Config>,
    shutdown: Shutdown,
    /// The signals we wait for: the I/O signal, SIGIO, SIGINT, SIGTERM.
    waited: SigSet,
    /// The real-time signal (`rt` mode) or `None` (`plain`: everything is `SIGIO`).
    io_signal: Option<libc::c_int>,
    /// `None` once we stopped accepting (shutdown, or a fatal accept error).
    listener: Option<TcpListener>,
    /// Out of descriptors: do not accept before this instant (`accept::BACKOFF`).
    accept_paused_until: Option<Instant>,
    /// The connections, by fd (the key a signal's `si_fd` gives us), with their deadlines.
    clients: Clients,
    /// One read buffer for all connections (one thread, one read at a time).
    buf: Vec<u8>,
    /// Begun when a shutdown is requested: in-flight responses may run until it ends.
    grace: Grace,
    counts: SignalCounts,
}

/// What the loop received, printed at exit (the price of this model, in numbers).
#[derive(Debug, Default)]
struct SignalCounts {
    io_signals: u64,
    sigio: u64,
    overflows: u64,
}

fn main() {
    let args = Args::parse();
    let config = exit_on_error("configuration", args.common.http_config());
    sys::raise_fd_limit_or_warn();
    let shutdown = exit_on_error("installing signal handlers", Shutdown::install());
    let io_signal = match args.signal {
        SignalMode::Rt => Some(sigio::io_signal()),
        SignalMode::Plain => None,
    };
    // Block everything we wait for, before any thread exists (this program starts none, but a
    // thread created later would inherit the mask, so no other thread can steal a signal).
    let mut waited_signals = vec![libc::SIGIO, libc::SIGINT, libc::SIGTERM];
    waited_signals.extend(io_signal);
    let waited = exit_on_error("signal set", SigSet::of(&waited_signals));
    exit_on_error("blocking signals", waited.block());

    let options = ListenOptions {
        nonblocking: true,
        reuse_port: false,
    };
    let listener = exit_on_error("listen", listener::bind(args.common.addr, options));
    exit_on_error(
        "arming the listener for signals",
        sigio::enable(listener.as_raw_fd(), io_signal),
    );
    exit_on_error("announce", listener::announce(&listener));

    let mut server = Server {
        config,
        shutdown,
        waited,
        io_signal,
        listener: Some(listener),
        accept_paused_until: None,
        clients: Clients::new(),
        buf: vec![0; pump::READ_BUF_SIZE],
        grace: Grace::new(),
        counts: SignalCounts::default(),
    };
    // A client may have connected between `listen` and `O_ASYNC`: that raised no signal.
    server.on_accept(Instant::now());
    let result = server.run();
    server.close_all();
    exit_on_error("event loop", result);
    let c = &server.counts;
    eprintln!(
        "signals taken: {} real-time, {} SIGIO ({} real-time queue overflows)",
        c.io_signals, c.sigio, c.overflows
    );
    stats::report();
}

impl Server {
    /// The event loop: take one signal (or time out), handle it, run due timers.
    fn run(&mut self) -> io::Result<()> {
        loop {
            let now = Instant::now();
            if self.shutdown.requested() {
                self.begin_shutdown(now);
            }
            if self.grace.finished(now, self.clients.is_empty()) {
                return Ok(());
            }
            // ANCHOR: sigio_wait
            match sigio::take(&self.waited, self.wait_timeout(now)) {
                Ok(Some(info)) => self.on_signal(info),
                // The timeout passed: a deadline is due (handled below).
                Ok(None) => {}
                // A signal outside the set ran a handler: nothing to do, wait again.
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(io::Error::new(err.kind(), format!("sigtimedwait: {err}"))),
            }
            // ANCHOR_END: sigio_wait
            let now = Instant::now();
            self.expire_timers(now);
            if self.accept_paused_until.is_some_and(|until| now >= until) {
                self.accept_paused_until = None;
                // Connections that arrived during the pause signalled already: accept them now.
                self.on_accept(now);
            }
        }
    }

    /// How long `sigtimedwait` may sleep: until the nearest deadline, accept pause or grace end.
    fn wait_timeout(&self, now: Instant) -> Option<Duration> {
        let nearest = [
            self.clients.next_deadline(),
            self.accept_paused_until,
            self.grace.end(),
        ];
        timers::wait_until_nearest(now, nearest)
    }

    // ANCHOR: sigio_dispatch
    /// One signal taken from the queue.
    fn on_signal(&mut self, info: Siginfo) {
        let now = Instant::now();
        match info.signo {
            libc::SIGINT | libc::SIGTERM => self.shutdown.request(),
            signo if Some(signo) == self.io_signal => {
                self.counts.io_signals += 1;
                self.on_io_signal(info, now);
            }
            libc::SIGIO => {
                self.counts.sigio += 1;
                if self.io_signal.is_some() {
                    // In `rt` mode the kernel sends plain SIGIO (si_code SI_KERNEL, no fd) only
                    // when it could not queue a real-time signal: some events are lost. What
                    // is still queued is stale by the time the scan below is done.
                    if info.code == libc::SI_KERNEL {
                        self.counts.overflows += 1;
                    }
                    self.drain_queue();
                }
                // In `plain` mode every event is this signal: no fd, so look at everything.
                self.scan_all(now);
            }
            // `kill -RTMIN+1` by hand, or the like: not ours to interpret.
            _ => {}
        }
    }
    // ANCHOR_END: sigio_dispatch

    /// A real-time signal: `si_fd` says which socket, `si_band` what happened.
    fn on_io_signal(&mut self, info: Siginfo, now: Instant) {
        let band = info.band;
        if self.listener.as_ref().map(AsRawFd::as_raw_fd) == Some(info.fd) {
            self.on_accept(now);
            return;
        }
        // Readable (`POLL_IN`: data, end-of-file, an error) or writable again (`POLL_OUT`: the
        // send buffer drained after a write said `EAGAIN`): either way one exchange reads what
        // there is and writes what is pending, each until `EAGAIN`.
        let readable = libc::POLLIN | libc::POLLRDNORM | libc::POLLHUP | libc::POLLERR;
        let writable = libc::POLLOUT | libc::POLLWRNORM;
        if band & libc::c_long::from(readable | writable) != 0 {
            self.on_ready(info.fd, now);
        }
    }

    /// The listener is readable: accept until `EAGAIN`.
    fn on_accept(&mut self, now: Instant) {
        if self.accept_paused_until.is_some() {
            return;
        }
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            match clients::accept(listener, &self.config, now) {
                Ok(Accepted::Client(client)) => self.add_client(client, now),
                // The backlog is empty: the next connection will send a signal.
                Ok(Accepted::Empty) => return,
                // Out of descriptors: serve what we have, try again after a pause.
                Ok(Accepted::Backoff) => {
                    self.accept_paused_until = Some(now + accept::BACKOFF);
                    return;
                }
                Err(err) => {
                    eprintln!("error: {err}; no longer accepting connections");
                    self.listener = None;
                    return;
                }
            }
        }
    }

    /// Arm a new socket for signals and serve whatever it already sent.
    fn add_client(&mut self, client: Client, now: Instant) {
        // O_NONBLOCK is set (shared with the readiness servers; TCP_NODELAY comes from the
        // listener); now our three
        // fcntls.
        if let Err(err) = sigio::enable(client.fd(), self.io_signal) {
            // Without O_ASYNC we would never hear from this socket again: drop it.
            eprintln!("warning: {}: {err}; closing the connection", client.peer);
            client.close(false);
            return;
        }
        let fd = self.clients.insert(client);
        // Bytes that arrived before O_ASYNC was set raised no signal: read now.
        self.on_ready(fd, now);
    }

    /// A connection may have progressed: data, end-of-file or an error arrived, or the send
    /// buffer drained. Read and write until `EAGAIN`.
    fn on_ready(&mut self, fd: RawFd, now: Instant) {
        // No entry: a stale signal for a connection we closed already.
        let Some(client) = self.clients.get_mut(fd) else {
            return;
        };
        let result = exchange(client, &mut self.buf, now);
        self.after_io(fd, result);
    }

    /// After I/O on a connection: close it, or keep its deadline queued.
    fn after_io(&mut self, fd: RawFd, result: io::Result<()>) {
        if let Err(err) = result {
            // The peer reset the connection or vanished: nothing more to say to it.
            if !is_disconnect(&err) {
                if let Some(client) = self.clients.get_mut(fd) {
                    eprintln!("warning: {}: {err}; closing the connection", client.peer);
                }
            }
            return self.close(fd, false);
        }
        let (draining, log) = (self.grace.begun(), self.config.log_requests);
        if self.clients.after_io(fd, draining, log).is_none() {
            self.close(fd, true);
        }
    }

    /// Run every deadline that has passed: http-core answers 408 or just closes; write what it
    /// says.
    fn expire_timers(&mut self, now: Instant) {
        while let Some(fd) = self.clients.next_timed_out(now) {
            let Some(client) = self.clients.get_mut(fd) else {
                continue;
            };
            client.conn.handle_timeout(now);
            let result = exchange(client, &mut self.buf, now);
            self.after_io(fd, result);
        }
    }

    /// The real-time queue overflowed: throw away what is queued (the scan that follows covers
    /// it), but keep a shutdown request.
    fn drain_queue(&mut self) {
        loop {
            match sigio::take(&self.waited, Some(Duration::ZERO)) {
                Ok(Some(info)) if matches!(info.signo, libc::SIGINT | libc::SIGTERM) => {
                    self.shutdown.request();
                }
                Ok(Some(_)) => {}
                // EAGAIN: the queue is empty.
                Ok(None) => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    /// We do not know which sockets are ready: try them all (read and write until `EAGAIN`), and
    /// accept until `EAGAIN`. O(connections), and most of these calls say `EAGAIN`.
    fn scan_all(&mut self, now: Instant) {
        self.on_accept(now);
        let fds: Vec<RawFd> = self.clients.iter().map(Client::fd).collect();
        for fd in fds {
            self.on_ready(fd, now);
        }
    }

    /// SIGINT/SIGTERM: stop accepting, close connections that are between requests, let the
    /// others finish their exchange until [`GRACE`](server_common::shutdown::GRACE) runs out.
    fn begin_shutdown(&mut self, now: Instant) {
        if !self.grace.begin(now) {
            return;
        }
        // Closing the listener refuses new connections (the backlog is reset).
        self.listener = None;
        for fd in self.clients.idle() {
            self.close(fd, true);
        }
    }

    /// Forget a connection and close its socket. Signals still queued for its fd become stale
    /// (see [`Server::on_ready`]).
    fn close(&mut self, fd: RawFd, politely: bool) {
        if let Some(mut client) = self.clients.remove(fd) {
            if self.config.log_requests {
                stats::log_exchanges(client.peer, &mut client.conn);
            }
            client.close(politely);
        }
    }

    /// At exit (grace over): close whatever is left.
    fn close_all(&mut self) {
        let fds: Vec<RawFd> = self.clients.iter().map(Client::fd).collect();
        for fd in fds {
            self.close(fd, true);
        }
    }
}

/// Move bytes both ways until nothing more can move now: read until `EAGAIN` (a real-time
/// signal is queued per arrival, but classic `SIGIO` coalesces, so we always drain), then write
/// the answer at once (`POLL_OUT` only comes after a write has said `EAGAIN`), and repeat while
/// one side unblocked the other: finishing a response lets the connection take pipelined bytes
/// that are already in the socket and will never raise another signal.
fn exchange(client: &mut Client, buf: &mut [u8], now: Instant) -> io::Result<()> {
    loop {
        let read = if client.conn.wants_read() && !client.peer_closed {
            pump::read_ready(
                &mut client.stream,
                &mut client.conn,
                buf,
                ReadMode::UntilWouldBlock,
                now,
            )?
        } else {
            Progress::Done
        };
        if read == Progress::PeerClosed {
            // End of file is reported once; a later read would only say 0 again.
            client.peer_closed = true;
        }
        let wrote = if client.conn.wants_write() {
            pump::write_ready(&mut client.stream, &mut client.conn, true, now)?
        } else {
            Progress::Done
        };
        // `Done` from the read side means "stopped because the connection did not want more";
        // if it wants more now (its response went out), bytes may be waiting in the socket.
        let read_again = matches!(read, Progress::Done | Progress::Drained)
            && client.conn.wants_read()
            && !client.peer_closed;
        // All output written, but reading may have produced more (e.g. the next pipelined one).
        let write_again = wrote == Progress::Done && client.conn.wants_write();
        if !(read_again || write_again) {
            return Ok(());
        }
    }
}
