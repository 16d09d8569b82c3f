//! # `server-epoll` — I/O multiplexing with `epoll(7)` (model 3c)
//!
//! **The model in one sentence:** one thread asks the kernel "which of my sockets are ready?"
//! with `epoll_wait`, and the kernel answers with *only* the ready ones, because it keeps the list
//! of watched sockets itself (the *interest list*) instead of receiving it on every call as
//! `select` and `poll` do.
//!
//! ## Syscalls, in call order (`--pattern single`, the default)
//!
//! ```text
//! socket, setsockopt(SO_REUSEADDR), bind, listen        listener::bind (non-blocking listener)
//! epoll_create1(EPOLL_CLOEXEC)                          one interest list for the whole loop
//! epoll_ctl(ADD, listener, EPOLLIN)                     the listener, watched once, for good
//! epoll_ctl(ADD, shutdown pipe, EPOLLIN)                SIGINT/SIGTERM wake the loop
//! loop:
//!   epoll_wait(timeout = nearest deadline)              ← the ONLY place the thread sleeps
//!   listener ready → accept4(SOCK_NONBLOCK|SOCK_CLOEXEC), setsockopt(TCP_NODELAY),
//!                    epoll_ctl(ADD, client, EPOLLIN)
//!   client ready   → read (level: once; edge: until EAGAIN) → http-core → write (until done or
//!                    EAGAIN; file bodies: sendfile)
//!                    epoll_ctl(MOD) only if what we wait for changed (e.g. add EPOLLOUT when the
//!                    send buffer is full, drop it when the response is out)
//!   deadline passed → handle_timeout → maybe a 408, close
//!   finished       → shutdown(SHUT_WR), close       (closing also removes it from epoll)
//! ```
//!
//! What a keep-alive request costs, counted with `strace -c` (20,000 requests, 50 connections):
//!
//! | per request | `recvfrom` | `sendto` | `epoll_wait` | `epoll_ctl` |
//! |---|---:|---:|---:|---:|
//! | `--trigger level` | 1 | 1 | 0.03 | 0 |
//! | `--trigger edge` | 2 (one says `EAGAIN`) | 1 | 0.02 | 0 |
//!
//! One `epoll_wait` returns up to 1024 ready sockets, so under load its cost is shared by dozens
//! of requests. There is no `epoll_ctl` per request: the loop remembers what each socket is
//! registered for and calls `EPOLL_CTL_MOD` only when that changes (a full send buffer, a closed
//! read side). The response is written right after the read, without waiting for `EPOLLOUT`: the
//! send buffer almost always has room. (`http-core` adds its own file syscalls: `openat2`,
//! `statx`, `pread64`, `close`.) Large files go out with `sendfile(2)` (zero copy;
//! `--no-sendfile` to compare).
//!
//! ## Where the thread waits; readiness, not completion
//!
//! Only in `epoll_wait`. Every socket is `O_NONBLOCK`, so `read`, `write` and `accept` never
//! block: they do what the kernel can do *now* and say `EAGAIN` for the rest. epoll reports
//! **readiness** ("a read would not block now"); the thread still copies the bytes itself. The
//! opposite is **completion** (`server-aio`, `server-uring`): the kernel does the I/O and reports
//! it done.
//!
//! ## Level- and edge-triggered (`--trigger level|edge`)
//!
//! * **Level** (default, as `select`/`poll`): a socket is reported on *every* `epoll_wait` while
//!   it is readable. One `read` per report is enough: bytes left over are reported again.
//!   Corollary: never watch for what you do not want (`EPOLLOUT` on a socket with nothing to
//!   write, `EPOLLIN` on one whose input is not wanted): the loop would wake up for it forever.
//! * **Edge** (`EPOLLET`): a socket is reported when its state *changes* — new bytes arrive, send
//!   space frees up. It is registered once for `EPOLLIN | EPOLLOUT | EPOLLET` and never modified;
//!   the loop keeps its own note ("readable until `EAGAIN`", "writable until `EAGAIN`"). It must
//!   **drain**: `accept` until `EAGAIN`, `read` until `EAGAIN`. What breaks if it does not: a
//!   client's 90 KiB `POST` is all in the socket by the time the loop gets to it (it was busy, or
//!   the bytes arrived together); one 64 KiB `read` takes the first part; the rest is already in
//!   the socket, so no new edge will ever come; the client waits for its answer, the
//!   server waits for an event, until the idle timeout kills the connection (the test
//!   `edge_large_request` catches exactly this). Likewise an undrained listener leaves connections
//!   in the backlog until yet another client connects (`edge_accept_drains_the_backlog`).
//!   The price of draining is the extra `read` that says `EAGAIN`. (`epoll(7)` allows a
//!   shortcut for stream sockets: a read shorter than the buffer means the socket is drained, and
//!   bytes arriving later make a new edge. This server keeps the plain rule.)
//!
//! ## Patterns (`--pattern`, as in the course: Reactor, 模拟 Proactor, 线程池)
//!
//! | pattern | who waits | who reads/writes | who runs the HTTP state machine | file |
//! |---|---|---|---|---|
//! | `single` | one thread | the same thread | the same thread | this file |
//! | `reactor` | main thread | pool workers | pool workers | [`reactor`] |
//! | `proactor` | main thread | main thread | pool workers | [`proactor`] |
//! | `multi` | N threads, one epoll + `SO_REUSEPORT` listener each | each its own | each its own | [`multi`] |
//!
//! `--workers N` (default: one per CPU) sizes the pool (`reactor`, `proactor`) or the number of
//! loops (`multi`); `single` ignores it.
//!
//! ## Timeouts without a thread per connection
//!
//! Each connection's deadline sits in a min-heap (`server_common::timers::TimerQueue`, lazy
//! deletion: a deadline that moved later is re-queued only when its old entry pops). The nearest
//! one, rounded up to a millisecond, is the `epoll_wait` timeout.
//!
//! ## Shutdown
//!
//! The shutdown descriptor (`server_common::shutdown`) sits in the interest list next to the
//! listener, so SIGINT/SIGTERM simply wake `epoll_wait`. The loop then closes the listener (no new
//! connections), closes idle keep-alive connections at once, lets the others finish their
//! exchange for at most `shutdown::GRACE`, and returns; `main` prints the counters and exits 0.
//!
//! ## What one more connection costs
//!
//! A descriptor, a node in the kernel's interest list (a red-black tree; a couple of hundred bytes
//! of kernel memory at most), one slot here (socket + `http_core::Connection`, which holds no
//! buffer between requests), one entry in the deadline heap. An *idle* connection costs no
//! CPU at all: `epoll_wait` is O(ready sockets), not O(watched sockets) — the decisive difference
//! from `select`/`poll`, which copy and scan the whole list on every call.
//!
//! ## Limits
//!
//! `RLIMIT_NOFILE` (raised to the hard limit at start; 20,000 here) and `max_user_watches`. When
//! `accept` fails with `EMFILE`/`ENFILE` the pending connection stays in the backlog, so a
//! level-triggered listener would be reported again at once, forever (100% CPU): the loop logs
//! once, removes the listener from epoll (`EPOLL_CTL_DEL`) for `accept::BACKOFF`, keeps serving,
//! and adds it back. `single` uses one core; `multi` is the way to use them all.
//!
//! ## When to choose it
//!
//! Linux servers with many connections, most of them idle or slow: nginx, Redis, Node.js (libuv),
//! Tokio (mio) are built on exactly this loop. Compare with `server-poll` (same loop, but the
//! whole `pollfd` array goes to the kernel on every call), and with `server-uring` (completion
//! instead of readiness).
#![warn(missing_docs)]

mod epoll;
mod multi;
mod proactor;
mod reactor;
mod slab;

use std::io;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use http_core::{Config, Connection};
use nix::sys::epoll::{Epoll, EpollEvent, EpollFlags};
use server_common::accept::{self, AcceptVerdict};
use server_common::cli::{self, CommonArgs};
use server_common::listener::{self, ListenOptions};
use server_common::pump::{self, Progress, ReadMode};
use server_common::shutdown::{GRACE, Shutdown};
use server_common::stats;
use server_common::timers::TimerQueue;

use crate::epoll::{LISTENER, SHUTDOWN, Trigger};
use crate::slab::Slab;

/// Command line: the common flags plus the model's own.
#[derive(Debug, Parser)]
#[command(
    name = "server-epoll",
    version,
    about = "HTTP/1.1 server on epoll(7): level/edge triggered; single loop, Reactor, simulated Proactor, or one loop per core"
)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,

    /// How epoll reports readiness: `level` (reported while ready) or `edge` (reported on change;
    /// the loop drains until EAGAIN).
    #[arg(long, value_enum, default_value_t = Trigger::Level)]
    trigger: Trigger,

    /// Who waits, who does the I/O, who runs the HTTP logic.
    #[arg(long, value_enum, default_value_t = Pattern::Single)]
    pattern: Pattern,

    /// Pool threads (`reactor`, `proactor`) or event loops (`multi`) [default: number of CPUs].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    workers: Option<u16>,

    /// Send file bodies with read + write through a user-space buffer instead of sendfile(2).
    #[arg(long)]
    no_sendfile: bool,
}

/// The event-handling pattern (`--pattern`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Pattern {
    /// One thread waits, reads, runs the state machine and writes.
    Single,
    /// The main thread only waits (and accepts); a thread pool reads, runs the logic and writes,
    /// one worker per socket at a time thanks to `EPOLLONESHOT`.
    Reactor,
    /// Simulated Proactor (模拟 Proactor): the main thread does all reads and writes; the pool
    /// only runs the logic on what was read and hands the connection back through an `eventfd`.
    Proactor,
    /// One independent epoll loop per thread, each with its own `SO_REUSEPORT` listener.
    Multi,
}

/// What every loop of every pattern needs to know.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) config: Arc<Config>,
    pub(crate) trigger: Trigger,
    pub(crate) zero_copy: bool,
    pub(crate) shutdown: Shutdown,
}

fn main() {
    let args = Args::parse();
    let config = cli::exit_on_error("configuration", args.common.http_config());
    let shutdown = cli::exit_on_error("signal handlers", Shutdown::install());
    // More connections than the default soft limit (often 1024); failure only lowers the ceiling.
    let fd_limit = server_common::sys::raise_fd_limit().unwrap_or(1024);
    let workers = args.workers.map_or_else(cli::default_workers, usize::from);
    let options = Options {
        config,
        trigger: args.trigger,
        zero_copy: !args.no_sendfile,
        shutdown,
    };
    let addr = args.common.addr;
    let nonblocking = ListenOptions {
        nonblocking: true,
        reuse_port: false,
    };
    let result = match args.pattern {
        Pattern::Single => listener::bind(addr, nonblocking).and_then(|listener| {
            let event_loop = EventLoop::new(listener, options)?;
            event_loop.listening.announce()?;
            event_loop.run()
        }),
        Pattern::Reactor => listener::bind(addr, nonblocking)
            .and_then(|listener| reactor::run(listener, options, workers, fd_limit)),
        Pattern::Proactor => listener::bind(addr, nonblocking)
            .and_then(|listener| proactor::run(listener, options, workers, fd_limit)),
        Pattern::Multi => multi::run(addr, options, workers),
    };
    cli::exit_on_error("server-epoll", result);
    stats::report();
}

/// One epoll event loop: `--pattern single`, and each of the threads of `--pattern multi`.
#[derive(Debug)]
pub(crate) struct EventLoop {
    epoll: Epoll,
    listening: Listening,
    clients: Slab<Client>,
    timers: TimerQueue<u64>,
    /// One read buffer for the whole loop (a connection keeps only what it has not parsed yet).
    buf: Box<[u8]>,
    options: Options,
    /// Set when a shutdown was requested: the moment the grace period ends.
    grace_end: Option<Instant>,
}

/// One connection: the socket, the HTTP state machine, and what the loop knows about both.
#[derive(Debug)]
pub(crate) struct Client {
    stream: TcpStream,
    conn: Connection,
    /// What epoll watches this socket for (level-triggered: so that `EPOLL_CTL_MOD` is called only
    /// when the interest changes, not once per request).
    registered: EpollFlags,
    /// Readiness we know of and have not used up: set by an event, cleared by `EAGAIN` (and, under
    /// level triggering, by the one read per report).
    readable: bool,
    writable: bool,
    /// `read` returned 0: the peer sends nothing more; never wait for input again (a closed read
    /// side stays readable forever: level-triggered, waiting for it would spin).
    peer_closed: bool,
    /// The deadline this connection has queued in the timer heap, if any.
    timer: Option<Instant>,
}

impl EventLoop {
    /// A loop serving `listener` (non-blocking), watching the shutdown descriptor.
    pub(crate) fn new(listener: TcpListener, options: Options) -> io::Result<EventLoop> {
        let (epoll, listening) = open_loop(listener, &options)?;
        Ok(EventLoop {
            epoll,
            listening,
            clients: Slab::new(),
            timers: TimerQueue::new(),
            buf: vec![0; pump::READ_BUF_SIZE].into_boxed_slice(),
            options,
            grace_end: None,
        })
    }

    /// Wait, dispatch, repeat, until a shutdown has drained every connection (or the grace
    /// period ended).
    pub(crate) fn run(mut self) -> io::Result<()> {
        let mut events = vec![EpollEvent::empty(); 1024];
        let mut now = Instant::now();
        loop {
            let timeout = self.wait_timeout(now);
            let ready = epoll::wait(&self.epoll, &mut events, timeout)?;
            // One clock read per wake-up, shared by every event of the batch.
            now = Instant::now();
            for event in &events[..ready] {
                match event.data() {
                    LISTENER => self.on_accept(now)?,
                    SHUTDOWN => self.begin_shutdown(now),
                    token => self.on_event(token, event.events(), now),
                }
            }
            self.expire(now);
            if self.finished(now) {
                break;
            }
        }
        for token in self.clients.tokens() {
            self.close(token, false); // grace period over: drop what is left
        }
        Ok(())
    }

    /// The listener is readable: accept what is pending and register each new socket.
    fn on_accept(&mut self, now: Instant) -> io::Result<()> {
        let trigger = self.options.trigger;
        while let Some(stream) = self.listening.accept(&self.epoll, &mut self.timers, now)? {
            let conn = Connection::new(Arc::clone(&self.options.config), now);
            let client = Client::new(stream, conn, self.options.trigger);
            let flags = client.registered;
            let token = self.clients.insert(client);
            let Some(client) = self.clients.get_mut(token) else {
                continue;
            };
            match epoll::add(&self.epoll, &client.stream, flags, token) {
                Ok(()) => client.update_timer(&mut self.timers, token),
                // The kernel refused to watch one more socket (ENOMEM, or ENOSPC beyond
                // `max_user_watches`): drop this connection, keep serving the others.
                Err(_) => self.close(token, false),
            }
            if trigger == Trigger::Level {
                break; // level: the listener is reported again while its backlog is not empty
            }
        }
        Ok(())
    }

    /// A client socket is ready (or broken): read, run the state machine, write.
    fn on_event(&mut self, token: u64, flags: EpollFlags, now: Instant) {
        let Some(client) = self.clients.get_mut(token) else {
            return; // closed earlier in this batch: a stale event
        };
        if epoll::is_broken(flags) {
            // Reset by the peer (EPOLLERR) or shut both ways (EPOLLHUP): nothing more can be said.
            self.close(token, false);
            return;
        }
        client.note_readiness(flags);
        let outcome = client.drive(&mut self.buf, &self.options, now);
        self.after_event(token, outcome);
    }

    /// Deadlines that passed: time those connections out (or re-queue a deadline that moved).
    fn expire(&mut self, now: Instant) {
        while let Some((at, token)) = self.timers.pop_expired(now) {
            if token == LISTENER {
                self.listening.resume(&self.epoll, at);
                continue;
            }
            let Some(client) = self.clients.get_mut(token) else {
                continue; // the connection closed since: a stale entry
            };
            if client.timer != Some(at) {
                continue; // replaced by an earlier deadline: a stale entry
            }
            client.timer = None;
            match client.conn.deadline() {
                Some(deadline) if deadline <= now => {
                    client.conn.handle_timeout(now);
                    let outcome = client.drive(&mut self.buf, &self.options, now);
                    self.after_event(token, outcome);
                }
                // The connection made progress since: its deadline moved; queue the new one.
                _ => client.update_timer(&mut self.timers, token),
            }
        }
    }

    /// SIGINT/SIGTERM: stop accepting, close idle connections now, let the others finish.
    fn begin_shutdown(&mut self, now: Instant) {
        if self.grace_end.is_some() {
            return;
        }
        self.grace_end = Some(now + GRACE);
        // The shutdown descriptor stays readable forever; unwatched, it stops waking us.
        let _ = epoll::delete(&self.epoll, self.options.shutdown.wake_fd());
        // Closing the listener removes it from epoll; clients still in its backlog get a reset.
        self.listening.close();
        for token in self.clients.tokens() {
            if self.clients.get(token).is_some_and(Client::is_idle) {
                self.close(token, true);
            }
        }
    }

    /// After I/O on a connection: close it, or update what epoll watches and its deadline.
    fn after_event(&mut self, token: u64, outcome: io::Result<()>) {
        let draining = self.grace_end.is_some();
        let Some(client) = self.clients.get_mut(token) else {
            return;
        };
        if self.options.config.log_requests {
            log_exchanges(client);
        }
        match outcome {
            // ECONNRESET, EPIPE…: the peer is gone; close without ceremony.
            Err(_) => self.close(token, false),
            Ok(()) if client.conn.is_closed() => self.close(token, true),
            Ok(()) if draining && client.is_idle() => self.close(token, true),
            Ok(()) => {
                if client
                    .reregister(&self.epoll, self.options.trigger, token)
                    .is_err()
                {
                    // epoll_ctl(MOD) failed (ENOMEM): we could never hear from it again.
                    self.close(token, false);
                    return;
                }
                client.update_timer(&mut self.timers, token);
            }
        }
    }

    /// Forget a connection. `politely`: send our FIN first and discard unread input, so that a
    /// response is not destroyed by a reset (see `pump::close_gracefully`).
    fn close(&mut self, token: u64, politely: bool) {
        if let Some(client) = self.clients.remove(token) {
            client.close(politely);
        }
    }

    fn wait_timeout(&self, now: Instant) -> Option<Duration> {
        let timer = self.timers.wait_timeout(now);
        let grace = self.grace_end.map(|end| end.saturating_duration_since(now));
        match (timer, grace) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn finished(&self, now: Instant) -> bool {
        self.grace_end
            .is_some_and(|end| self.clients.is_empty() || now >= end)
    }
}

impl Client {
    pub(crate) fn new(stream: TcpStream, conn: Connection, trigger: Trigger) -> Client {
        let mut client = Client {
            stream,
            conn,
            registered: EpollFlags::empty(),
            readable: false,
            writable: true, // a fresh socket has an empty send buffer
            peer_closed: false,
            timer: None,
        };
        client.registered = client.wanted(trigger);
        client
    }

    /// Record what an event says.
    pub(crate) fn note_readiness(&mut self, flags: EpollFlags) {
        if flags.intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP) {
            self.readable = true;
        }
        if flags.contains(EpollFlags::EPOLLOUT) {
            self.writable = true;
        }
    }

    /// Use the readiness we know of: read, let http-core answer, write; repeat while that makes
    /// progress (edge-triggered: while the socket may still hold bytes we stopped short of).
    pub(crate) fn drive(
        &mut self,
        buf: &mut [u8],
        options: &Options,
        now: Instant,
    ) -> io::Result<()> {
        loop {
            if self.readable && !self.peer_closed && self.conn.wants_read() {
                self.on_readable(buf, options.trigger, now)?;
            }
            if self.writable && self.conn.wants_write() {
                self.on_writable(options.zero_copy, now)?;
            }
            // Edge-triggered: if we stopped reading because the connection was busy writing, the
            // bytes still in the socket will never be reported again. Level: they will.
            let more = options.trigger == Trigger::Edge
                && self.readable
                && !self.peer_closed
                && self.conn.wants_read();
            if !more {
                return Ok(());
            }
        }
    }

    /// The socket is readable: feed http-core (one read, or until `EAGAIN` under `EPOLLET`).
    fn on_readable(&mut self, buf: &mut [u8], trigger: Trigger, now: Instant) -> io::Result<()> {
        let mode = match trigger {
            Trigger::Level => ReadMode::Once,
            Trigger::Edge => ReadMode::UntilWouldBlock,
        };
        // Err (ECONNRESET…) goes up: the caller closes the connection.
        match pump::read_ready(&mut self.stream, &mut self.conn, buf, mode, now)? {
            // Drained: nothing more until the next report.
            Progress::WouldBlock => self.readable = false,
            // One read (level: reported again if bytes remain), or http-core wants no more now
            // (edge: `readable` stays set, so we come back once it does).
            Progress::Done => {
                if mode == ReadMode::Once {
                    self.readable = false;
                }
            }
            // read returned 0: the peer shut its sending half; http-core decides what that means.
            Progress::PeerClosed => {
                self.peer_closed = true;
                self.readable = false;
            }
        }
        Ok(())
    }

    /// The socket is writable: write what http-core has (sendfile for file bodies).
    fn on_writable(&mut self, zero_copy: bool, now: Instant) -> io::Result<()> {
        match pump::write_ready(&mut self.stream, &mut self.conn, zero_copy, now)? {
            // The send buffer is full (a slow reader): wait for EPOLLOUT.
            Progress::WouldBlock => self.writable = false,
            // Everything is written (partial writes were retried inside).
            Progress::Done | Progress::PeerClosed => {}
        }
        Ok(())
    }

    /// What epoll should watch this socket for now.
    pub(crate) fn wanted(&self, trigger: Trigger) -> EpollFlags {
        match trigger {
            // Registered once for everything; `readable`/`writable` remember what was reported.
            Trigger::Edge => EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT | EpollFlags::EPOLLET,
            // Only what we want now, or level triggering reports it on every wait.
            Trigger::Level => self.interest(),
        }
    }

    /// Input wanted → `EPOLLIN`; output stuck behind a full send buffer → `EPOLLOUT`.
    pub(crate) fn interest(&self) -> EpollFlags {
        let mut flags = EpollFlags::empty();
        if !self.peer_closed && self.conn.wants_read() {
            flags |= EpollFlags::EPOLLIN;
        }
        if !self.writable && self.conn.wants_write() {
            flags |= EpollFlags::EPOLLOUT;
        }
        flags
    }

    /// `EPOLL_CTL_MOD` if what we want differs from what is registered; otherwise no syscall.
    fn reregister(&mut self, epoll: &Epoll, trigger: Trigger, token: u64) -> io::Result<()> {
        let wanted = self.wanted(trigger);
        if wanted != self.registered {
            epoll::modify(epoll, &self.stream, wanted, token)?;
            self.registered = wanted;
        }
        Ok(())
    }

    /// Make sure the heap holds an entry no later than this connection's deadline.
    fn update_timer(&mut self, timers: &mut TimerQueue<u64>, token: u64) {
        if let Some(deadline) = self.conn.deadline() {
            if self.timer.is_none_or(|queued| deadline < queued) {
                timers.schedule(deadline, token);
                self.timer = Some(deadline);
            }
        }
    }

    /// Between requests (nothing to write, no request started beyond part of a request line):
    /// an idle keep-alive connection, which a shutdown closes at once.
    pub(crate) fn is_idle(&self) -> bool {
        pump::is_idle(&self.conn)
    }

    /// Close the socket and count the connection. Dropping the stream closes the descriptor,
    /// which also removes it from every epoll interest list (no `EPOLL_CTL_DEL` needed).
    pub(crate) fn close(self, politely: bool) {
        if politely {
            pump::close_gracefully(&self.stream);
        }
        stats::connection_closed(self.conn.responses_sent());
    }
}

/// `--log`: one line per answered request (never on the hot path unless asked for).
pub(crate) fn log_exchanges(client: &mut Client) {
    let peer = client
        .stream
        .peer_addr()
        .map_or_else(|_| "-".to_string(), |a| a.to_string());
    stats::log_exchanges(peer, &mut client.conn);
}

/// What every pattern's loop starts with: an epoll instance watching the listener (token
/// `LISTENER`) and the shutdown wake-up descriptor (token `SHUTDOWN`).
pub(crate) fn open_loop(
    listener: TcpListener,
    options: &Options,
) -> io::Result<(Epoll, Listening)> {
    let epoll = epoll::create()?;
    let listening = Listening::new(&epoll, listener, options.trigger)?;
    epoll::add(
        &epoll,
        options.shutdown.wake_fd(),
        EpollFlags::EPOLLIN,
        SHUTDOWN,
    )?;
    Ok((epoll, listening))
}

/// The listening socket of one loop, and whether epoll watches it right now.
#[derive(Debug)]
pub(crate) struct Listening {
    listener: Option<TcpListener>,
    trigger: Trigger,
    /// `EMFILE` backoff: the listener is out of the interest list until this deadline.
    paused_until: Option<Instant>,
}

impl Listening {
    /// Register `listener` (level- or edge-triggered like the clients).
    pub(crate) fn new(epoll: &Epoll, listener: TcpListener, trigger: Trigger) -> io::Result<Self> {
        epoll::add(epoll, &listener, Self::flags(trigger), LISTENER)?;
        Ok(Listening {
            listener: Some(listener),
            trigger,
            paused_until: None,
        })
    }

    fn flags(trigger: Trigger) -> EpollFlags {
        match trigger {
            Trigger::Level => EpollFlags::EPOLLIN,
            Trigger::Edge => EpollFlags::EPOLLIN | EpollFlags::EPOLLET,
        }
    }

    /// The next connection to register, or `None` when the backlog is empty (or we may not
    /// accept now). Edge-triggered loops call it until `None`; level-triggered ones once per report.
    pub(crate) fn accept(
        &mut self,
        epoll: &Epoll,
        timers: &mut TimerQueue<u64>,
        now: Instant,
    ) -> io::Result<Option<TcpStream>> {
        loop {
            let Some(listener) = &self.listener else {
                return Ok(None); // closed by a shutdown earlier in this batch
            };
            if self.paused_until.is_some() {
                return Ok(None);
            }
            match epoll::accept_nonblocking(listener) {
                Ok(stream) => return Ok(Some(stream)),
                Err(err) => match accept::classify(&err) {
                    // The backlog is empty: the normal end of a drain (or a spurious report).
                    AcceptVerdict::WouldBlock => return Ok(None),
                    // EINTR, or the client gave up before we took it: try the next one.
                    AcceptVerdict::Retry => continue,
                    // EMFILE/ENFILE: the connection stays in the backlog, so the listener stays
                    // readable; stop watching it for a while instead of spinning (logged once).
                    AcceptVerdict::Backoff => {
                        let until = now + accept::BACKOFF;
                        epoll::delete(epoll, listener)?;
                        self.paused_until = Some(until);
                        timers.schedule(until, LISTENER);
                        return Ok(None);
                    }
                    // The listener itself is broken: nothing sensible is left to do.
                    AcceptVerdict::Fatal => {
                        return Err(io::Error::new(err.kind(), format!("accept: {err}")));
                    }
                },
            }
        }
    }

    /// The backoff ended: watch the listener again (what is in its backlog is reported at once).
    pub(crate) fn resume(&mut self, epoll: &Epoll, at: Instant) {
        if self.paused_until != Some(at) {
            return;
        }
        self.paused_until = None;
        if let Some(listener) = &self.listener {
            // Level and edge alike report a non-empty backlog right after EPOLL_CTL_ADD.
            if let Err(err) = epoll::add(epoll, listener, Self::flags(self.trigger), LISTENER) {
                eprintln!("error: cannot watch the listener again: {err}");
            }
        }
    }

    /// Print the announce line (once everything is set up: threads started, sockets registered).
    pub(crate) fn announce(&self) -> io::Result<()> {
        match &self.listener {
            Some(listener) => listener::announce(listener),
            None => Ok(()),
        }
    }

    /// Stop accepting for good (shutdown).
    pub(crate) fn close(&mut self) {
        self.listener = None;
    }
}
