//! # Model 1: blocking I/O (阻塞 IO)
//!
//! **The model in one sentence:** every socket call (`accept`, `read`, `write`) puts the calling
//! thread to sleep in the kernel until it can complete, so the server gives each connection a
//! thread of its own and lets the kernel's scheduler do the multiplexing.
//!
//! This is the first of Stevens' five I/O models (UNP §6.2) and the easiest to read: the code for
//! one connection is a straight loop — read a request, write the response, repeat — with no state
//! saved between events, because the thread's own stack *is* the state. Both phases of an I/O
//! call (waiting for data to be ready, then copying it) happen inside the one blocking call: it is
//! synchronous *and* blocking.
//!
//! ## The syscalls, in the order they happen
//!
//! ```text
//! main thread        socket, setsockopt(SO_REUSEADDR, TCP_NODELAY), bind, listen  (listener::bind;
//!                    accepted sockets inherit TCP_NODELAY)
//! acceptor thread    accept ─────────────── sleeps until a client connects
//!                    clone (thread::spawn) or queue the socket for the pool
//! connection thread  setsockopt(SO_RCVTIMEO), setsockopt(SO_SNDTIMEO)
//!                  ┌▶ read ─────────────── sleeps until bytes arrive, EOF, or SO_RCVTIMEO
//!                  │  write / sendfile ─── sleeps until the send buffer takes the bytes
//!                  └─ (keep-alive: back to read)
//!                    shutdown(SHUT_WR), close                     (pump::close_gracefully)
//! ```
//!
//! ## Where the threads wait
//!
//! * The **acceptor** waits in `accept`. (With `--pool` it may instead wait in
//!   [`ThreadPool::execute`] when every worker is busy and the queue is full.)
//! * Each **connection thread** waits in `read` for the next request and in `write`/`sendfile`
//!   while the client is slow to take the response. `SO_RCVTIMEO`/`SO_SNDTIMEO` (= `--timeout`)
//!   bound every wait: the call then fails with `EAGAIN`, and http-core's deadline decides whether
//!   the connection timed out (see [`on_timeout`]).
//! * The **main thread** waits for SIGINT/SIGTERM ([`Shutdown::wait`]), then supervises the drain.
//!
//! ## Readiness or completion?
//!
//! Neither is reported to us: we never ask "is it ready?". The call simply returns when the work
//! is done (the data is copied). That is why nothing here ever sees `EAGAIN` except as a timeout.
//! Compare `server-nonblocking`, where every call may return `EAGAIN` and the thread must come
//! back later, and `server-epoll`, where one thread asks the kernel which of many sockets are ready.
//!
//! ## What one more connection costs
//!
//! One thread: a kernel task (`task_struct` and a 16 KiB kernel stack), a user stack, and the
//! read buffer. We ask for a small stack ([`DEFAULT_STACK_KIB`] = 64 KiB, `--stack-kib`); the
//! default (2 MiB for Rust threads) is only address space until touched, but a small stack keeps
//! 10,000 threads within a modest address space and page-table budget. Measured (stack pages
//! touched, from `/proc/PID/smaps`, after a browser-like request with 1 KiB of cookies, a chunked
//! upload, 90 headers and several error responses): 12 KiB in the release build, 20 KiB in the
//! debug build, and the whole conformance suite passes with the minimum, `--stack-kib 16`; so
//! 64 KiB leaves a margin of 3× or more. In all, 2,000 idle keep-alive connections cost about
//! 27 KiB of resident memory each (stack, read buffer, http-core state) plus a 16 KiB kernel
//! stack. And every request costs context switches: its thread wakes up (`read` returns) and goes
//! back to sleep; with thousands of *busy* threads the scheduler's work and the CPU caches they
//! thrash become the cost.
//!
//! ## Limits
//!
//! * Threads: `ulimit -u`, `kernel.threads-max`, the pid space (`kernel.pid_max`: 32,768 by the
//!   kernel's default, as on the course machine; systemd raises it to 4,194,304 on 64-bit
//!   distributions — every thread takes a pid) and memory; 9,000 idle connections (9,000
//!   threads) work fine here. When `thread::spawn` fails (`EAGAIN`), that one connection is closed with a
//!   one-line log and the server keeps serving the others.
//! * Descriptors: one per connection (`ulimit -n`; `accept` then fails with `EMFILE`, see
//!   [`accept::classify`]).
//! * With `--pool N`: at most N connections are *served* at once; connection N+1 waits, even if
//!   the N being served are idle keep-alive connections whose clients are thinking — this is
//!   **head-of-line blocking**, and why a pool of blocking threads suits short
//!   connection-per-request traffic, not keep-alive or slow clients (a slowloris with N
//!   connections stops such a server for `--timeout` seconds).
//!
//! ## Shutdown
//!
//! On SIGINT/SIGTERM the main thread calls `shutdown(listener, SHUT_RD)`, which on Linux wakes the
//! thread blocked in `accept` (it returns `EINVAL`) and resets the connections still waiting in
//! the backlog. Then it drains: connections *between requests* get `shutdown(SHUT_RD)` too, so
//! their blocked `read` returns 0 (what the client already sent is still read and answered
//! first); connections in the middle of a request or response go on until done. A connection
//! that finishes a response after the drain began shuts its own read side the same way. The
//! main thread waits (counter + condition variable, in [`Live`]) until every connection is closed,
//! at most [`shutdown::GRACE`], prints the statistics and exits 0. One shortcut: "between
//! requests" means "no byte read since the last response", so the second of two pipelined
//! requests whose first half arrived with the first one, and whose rest is still on the way
//! when the drain starts, is cut off (the client sees the connection close, as after any
//! keep-alive timeout).
//!
//! ## When to choose it
//!
//! Few connections (hundreds, low thousands), each busy while it lasts; code that must call
//! blocking libraries (databases, file systems) anyway; when simplicity and debuggability (one
//! stack trace per connection) matter more than the last bit of throughput. It is not slow at
//! moderate concurrency: with 50 keep-alive clients it stays close to nginx (see the keep-alive
//! tables of the committed run in `bench-results/`, or run `scripts/wrk-vs-nginx.sh`), although
//! each request costs its thread a wake-up and a sleep, i.e. context switches, where nginx's one
//! thread collects many sockets per `epoll_wait`. What it cannot do is share a thread: every
//! connection, busy or idle, holds one (~43 KiB and a pid), and a `--pool` that is full stops
//! serving newcomers altogether (`--pool 2` serves 2 of 50 keep-alive connections; the others
//! wait).
//!
//! Compare with `server-nonblocking` (the same loop, but the thread never sleeps in a socket
//! call: it polls) and `server-epoll` (one thread waits for many sockets at once: the Reactor).

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{Shutdown as How, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use http_core::{Config, Connection, FileRange};
use server_common::accept::{self, AcceptVerdict};
use server_common::cli::{self, CommonArgs};
use server_common::errors::{context, is_disconnect};
use server_common::listener::{self, ListenOptions};
use server_common::pool::ThreadPool;
use server_common::shutdown::{self, Shutdown};
use server_common::{pump, stats, sys};

/// Stack size of each connection thread, in KiB, unless `--stack-kib` says otherwise.
const DEFAULT_STACK_KIB: u32 = 64;

/// Model 1 of io-models: blocking I/O, one thread per connection (or a fixed pool of threads).
#[derive(Debug, Parser)]
#[command(name = "server-blocking", version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,

    /// Serve with a fixed pool of N threads, each serving one connection at a time, instead of
    /// one new thread per connection. Up to N more accepted connections wait in a queue; then
    /// `accept` waits too (head-of-line blocking).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pool: Option<u32>,

    /// Stack size of each connection thread, in KiB (thread-per-connection mode).
    #[arg(long, value_name = "KIB", default_value_t = DEFAULT_STACK_KIB,
          value_parser = clap::value_parser!(u32).range(16..=1_048_576))]
    stack_kib: u32,
}

/// What every connection thread shares.
#[derive(Debug)]
struct Server {
    config: Arc<Config>,
    /// `--timeout`: the socket timeouts (`SO_RCVTIMEO`/`SO_SNDTIMEO`).
    timeout: Duration,
    /// The connections currently open, for the graceful shutdown.
    live: Live,
    /// The listener broke (not by our shutdown): exit with status 1 after the drain.
    accept_failed: AtomicBool,
}

/// Who runs a connection once it is accepted.
#[derive(Debug)]
enum Workers {
    /// A new thread per connection, with this stack size in bytes.
    ThreadPerConnection { stack_size: usize },
    /// A fixed pool of threads fed through a bounded queue (`--pool N`).
    Pool(ThreadPool),
}

fn main() {
    let args = Args::parse();
    let shutdown = cli::exit_on_error("installing signal handlers", Shutdown::install());
    let config = cli::exit_on_error("configuration", args.common.http_config());
    // More descriptors = more connections; failing to raise the limit is not fatal.
    sys::raise_fd_limit_or_warn();
    let listener = cli::exit_on_error(
        "listen",
        listener::bind(args.common.addr, ListenOptions::default()),
    );
    let workers = match args.pool {
        None => Workers::ThreadPerConnection {
            stack_size: args.stack_kib as usize * 1024,
        },
        Some(threads) => {
            let threads = threads as usize;
            let pool = ThreadPool::new("conn", threads, threads);
            Workers::Pool(cli::exit_on_error("starting the thread pool", pool))
        }
    };
    let server = Arc::new(Server {
        config,
        timeout: args.common.timeout(),
        live: Live::default(),
        accept_failed: AtomicBool::new(false),
    });
    let listener = Arc::new(listener);
    cli::exit_on_error("announce", listener::announce(&listener));

    let acceptor = {
        let (listener, server, shutdown) =
            (Arc::clone(&listener), Arc::clone(&server), shutdown.clone());
        thread::Builder::new()
            .name("acceptor".into())
            .spawn(move || accept_loop(&listener, &server, &workers, &shutdown))
    };
    let acceptor = cli::exit_on_error("starting the acceptor thread", acceptor);

    // The main thread is the supervisor: it sleeps until SIGINT/SIGTERM (or a fatal accept error).
    shutdown.wait();
    stop_accepting(&listener);
    let still_open = server.live.drain(shutdown::GRACE);
    if still_open > 0 {
        eprintln!(
            "shutdown: {still_open} connection(s) still busy after {:?}; closing them",
            shutdown::GRACE
        );
    }
    stats::report();
    // Threads still running (the acceptor if it waits for a busy pool, connections past the
    // grace period) end with the process.
    drop(acceptor);
    let failed = server.accept_failed.load(Ordering::SeqCst);
    std::process::exit(if failed { 1 } else { 0 });
}

/// The acceptor thread: block in `accept`, hand each new connection to a thread, repeat.
fn accept_loop(
    listener: &TcpListener,
    server: &Arc<Server>,
    workers: &Workers,
    shutdown: &Shutdown,
) {
    // ANCHOR: accept_loop
    loop {
        // The thread sleeps here until a client connects (or the listener is shut down).
        match listener.accept() {
            Ok((stream, peer)) => on_accept(stream, peer, server, workers),
            Err(err) => match accept::classify(&err) {
                // A blocking listener never says EAGAIN; if it did, accepting again is right.
                AcceptVerdict::WouldBlock => continue,
                // EINTR, or the client gave up while still in the backlog (ECONNABORTED).
                AcceptVerdict::Retry => continue,
                // EMFILE/ENFILE: the connections we have keep being served; accept again later.
                AcceptVerdict::Backoff => thread::sleep(accept::BACKOFF),
                // `shutdown(SHUT_RD)` on the listener makes a blocked `accept` fail with EINVAL:
                // that is how the supervisor stops us.
                AcceptVerdict::Fatal if shutdown.requested() => return,
                AcceptVerdict::Fatal => {
                    eprintln!("error: accept: {err}; shutting down");
                    server.accept_failed.store(true, Ordering::SeqCst);
                    shutdown.request();
                    return;
                }
            },
        }
    }
    // ANCHOR_END: accept_loop
}

/// A connection was accepted: register it, then give it a thread (a new one, or a pool worker).
fn on_accept(stream: TcpStream, peer: SocketAddr, server: &Arc<Server>, workers: &Workers) {
    let slot = server.live.register(stream);
    let job = {
        let (server, slot) = (Arc::clone(server), Arc::clone(&slot));
        move || serve(&server, &slot, peer)
    };
    // ANCHOR: start_thread
    let started = match workers {
        // clone(2) with a fresh stack: this is the cost of one more connection.
        Workers::ThreadPerConnection { stack_size } => thread::Builder::new()
            .name("conn".into())
            .stack_size(*stack_size)
            .spawn(job)
            .map(drop), // detached: the thread cleans up after itself
        // Blocks while the pool's queue is full: accepting stops until a worker is free.
        Workers::Pool(pool) => pool.execute(job).map_err(io::Error::other),
    };
    // ANCHOR_END: start_thread
    if let Err(err) = started {
        // EAGAIN: too many threads (ulimit -u, threads-max) or no memory for a stack. Drop this
        // one connection, keep serving the others.
        eprintln!("warning: cannot start a thread for {peer}: {err}; closing that connection");
        close(server, &slot, 0);
    }
}

/// Body of a connection thread (or of a pool job): serve, then close.
fn serve(server: &Server, slot: &Slot, peer: SocketAddr) {
    let mut conn = Connection::new(Arc::clone(&server.config), Instant::now());
    if let Err(err) = serve_connection(server, slot, &mut conn, peer) {
        // A client that resets or vanishes is normal traffic, not worth a log line.
        if !is_disconnect(&err) {
            eprintln!("{peer}: {err}");
        }
    }
    if server.config.log_requests {
        stats::log_exchanges(peer, &mut conn);
    }
    close(server, slot, conn.responses_sent());
}

/// The per-connection loop — the whole I/O model. Every call below may put the thread to sleep.
fn serve_connection(
    server: &Server,
    slot: &Slot,
    conn: &mut Connection,
    peer: SocketAddr,
) -> io::Result<()> {
    set_socket_options(&slot.stream, server.timeout)?;
    // One buffer per connection (= per thread). Zeroed memory from the allocator: pages fresh
    // from the kernel stay untouched (cost nothing) until a read fills them.
    let mut buf = vec![0u8; pump::READ_BUF_SIZE];
    // No byte of a next request has arrived since the last response (or since accept).
    let mut between_requests = true;
    // ANCHOR: connection_loop
    loop {
        if conn.is_closed() {
            return Ok(());
        }
        if conn.wants_write() {
            let answered = conn.responses_sent();
            on_writable(&slot.stream, conn)?;
            if conn.responses_sent() != answered {
                between_requests = true;
                if server.config.log_requests {
                    stats::log_exchanges(peer, conn);
                }
            }
        } else if conn.wants_read() {
            if between_requests {
                server.live.mark_idle(slot);
            }
            let got_bytes = on_readable(&slot.stream, conn, &mut buf)?;
            if got_bytes && between_requests {
                between_requests = false;
                server.live.mark_busy(slot);
            }
        } else {
            // http-core wants neither to read nor to write yet is not closed: nothing the socket
            // could do will change that, so end the connection rather than spin.
            return Ok(());
        }
    }
    // ANCHOR_END: connection_loop
}

/// Block in `read` until bytes arrive, then feed them to http-core. Returns whether bytes came.
fn on_readable(stream: &TcpStream, conn: &mut Connection, buf: &mut [u8]) -> io::Result<bool> {
    // ANCHOR: blocking_read
    // The thread sleeps here until the client sends, closes, or SO_RCVTIMEO expires.
    let result = (&*stream).read(buf);
    let now = Instant::now(); // after the call: it may have slept for seconds
    // ANCHOR_END: blocking_read
    match result {
        // Zero bytes from a stream socket is end-of-file: the client shut down its sending half
        // (or, while draining, we shut down our receiving half).
        Ok(0) => {
            conn.handle_eof(now);
            Ok(false)
        }
        Ok(n) => {
            conn.handle_input(&buf[..n], now);
            // A work route's logic runs on this connection's own thread.
            server_common::work::run_due(conn);
            Ok(true)
        }
        // SO_RCVTIMEO expired (EAGAIN on a blocking socket): the client sent nothing for a while.
        Err(err) if is_timeout(&err) => {
            on_timeout(stream, conn, now, Direction::Read)?;
            Ok(false)
        }
        // A signal interrupted the wait before any byte arrived: simply read again.
        Err(err) if err.kind() == io::ErrorKind::Interrupted => Ok(false),
        // ECONNRESET and friends: the connection is gone; the caller closes it.
        Err(err) => Err(err),
    }
}

/// Block in `write` (or `sendfile`) until the kernel took some of the output.
fn on_writable(stream: &TcpStream, conn: &mut Connection) -> io::Result<()> {
    // A file body with no buffered bytes before it goes out with sendfile(2): the kernel copies
    // from the page cache to the socket, never through our memory.
    if let Some(result) = conn.sendfile_range().map(|range| send_file(stream, &range)) {
        let now = Instant::now();
        return match result {
            // The file shrank under us: what the headers promised cannot be sent.
            Ok(0) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file truncated while sending",
            )),
            // Maybe less than asked (SO_SNDTIMEO expired mid-way, or a signal): the rest next time.
            Ok(n) => {
                conn.consume_file(n as u64, now);
                server_common::work::run_due(conn);
                Ok(())
            }
            // SO_SNDTIMEO expired before the client took a single byte.
            Err(nix::errno::Errno::EAGAIN) => on_timeout(stream, conn, now, Direction::Write),
            Err(nix::errno::Errno::EINTR) => Ok(()),
            Err(errno) => Err(io::Error::new(
                io::Error::from(errno).kind(),
                format!("sendfile: {errno}"),
            )),
        };
    }
    // A file body is read here, on this thread, with `pread` (a small one joins its head).
    pump::read_file(conn, Instant::now())?;
    let output = conn.next_output();
    if output.is_empty() {
        return Err(io::Error::other(
            "http-core wants to write but gave no output",
        ));
    }
    // The thread sleeps here until the send buffer has room (a slow client keeps it full). The
    // connection's last bytes go with `MSG_MORE`, to leave with the FIN (`pump::write_output_bytes`).
    let result = pump::write_output_bytes(&mut &*stream, output, conn.closes_after_output());
    let now = Instant::now();
    match result {
        // A zero-length write of a non-empty buffer should not happen on a socket.
        Ok(0) => Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "socket accepted no bytes",
        )),
        // A blocking write normally takes everything; a short write (timeout or signal mid-way)
        // is fine too: the loop comes back for the rest.
        Ok(n) => {
            conn.consume(n, now);
            // Writing may uncover a pipelined work route: its logic runs on this thread too.
            server_common::work::run_due(conn);
            Ok(())
        }
        // SO_SNDTIMEO expired with nothing written: the client stopped reading.
        Err(err) if is_timeout(&err) => on_timeout(stream, conn, now, Direction::Write),
        Err(err) if err.kind() == io::ErrorKind::Interrupted => Ok(()),
        // EPIPE / ECONNRESET: the client is gone (SIGPIPE is ignored, so we get the error).
        Err(err) => Err(err),
    }
}

/// A socket timeout expired. The kernel's timer started when the call began; http-core's deadline
/// counts from the last progress in either direction — it decides.
///
/// A blocking `write` that copied a few bytes into the send buffer and then waited returns those
/// bytes only when `SO_SNDTIMEO` expires, and that counts as progress; a blocking `sendfile`
/// may wait out `SO_SNDTIMEO` several times in one call while its internal pipe drains. So a
/// client that stops reading is cut off after two (`write`) to about four (`sendfile`) timeouts,
/// not one: the price of letting the kernel do the waiting.
fn on_timeout(
    stream: &TcpStream,
    conn: &mut Connection,
    now: Instant,
    direction: Direction,
) -> io::Result<()> {
    match conn.deadline() {
        // No progress for `--timeout`: http-core answers 408 or closes.
        Some(deadline) if now >= deadline => {
            conn.handle_timeout(now);
            Ok(())
        }
        // Woke before the deadline (it moved, or the timer is coarse): sleep only for the rest.
        Some(deadline) => set_timeout(stream, direction, deadline - now),
        // Nothing is due: keep waiting.
        None => Ok(()),
    }
}

/// The connection is finished: FIN first, unregister, count it. The socket is closed when the
/// last `Arc<Slot>` is dropped, right after.
fn close(server: &Server, slot: &Slot, responses: u64) {
    pump::close_gracefully(&slot.stream);
    stats::connection_closed(responses);
    server.live.deregister(slot);
}

/// Stop accepting: `shutdown(SHUT_RD)` on a listening socket wakes the thread blocked in `accept`
/// (it returns `EINVAL`) and resets the connections still in the backlog.
fn stop_accepting(listener: &TcpListener) {
    if let Err(errno) =
        nix::sys::socket::shutdown(listener.as_raw_fd(), nix::sys::socket::Shutdown::Read)
    {
        eprintln!("warning: shutdown(listener, SHUT_RD): {errno}");
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// One accepted connection, shared by its thread and the [`Live`] registry.
#[derive(Debug)]
struct Slot {
    id: u64,
    stream: TcpStream,
    /// The thread is (about to be) blocked in `read` waiting for the *next* request.
    idle: AtomicBool,
}

/// The connections currently open, so the supervisor can wake the idle ones at shutdown and
/// wait for the others (a counter + condition variable, the map doubling as the counter).
#[derive(Debug, Default)]
struct Live {
    slots: Mutex<LiveSlots>,
    all_closed: Condvar,
    /// Set once by [`Live::drain`]; idle connections must stop reading.
    draining: AtomicBool,
}

#[derive(Debug, Default)]
struct LiveSlots {
    next_id: u64,
    open: HashMap<u64, Arc<Slot>>,
}

impl Live {
    fn lock(&self) -> MutexGuard<'_, LiveSlots> {
        // Nothing panics while holding the lock; if it did, the map is still consistent.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn register(&self, stream: TcpStream) -> Arc<Slot> {
        let mut slots = self.lock();
        let id = slots.next_id;
        slots.next_id += 1;
        let slot = Arc::new(Slot {
            id,
            stream,
            idle: AtomicBool::new(true),
        });
        slots.open.insert(id, Arc::clone(&slot));
        slot
    }

    fn deregister(&self, slot: &Slot) {
        let mut slots = self.lock();
        slots.open.remove(&slot.id);
        if slots.open.is_empty() {
            self.all_closed.notify_all();
        }
    }

    /// The thread is about to wait for a new request. If the server is draining, shut the read
    /// side: the `read` then returns what the client already sent, then 0.
    ///
    /// Both sides use `SeqCst` (a Dekker-style handshake): either this thread sees `draining`, or
    /// [`Live::drain`] sees `idle` — never neither, so no idle connection is missed.
    fn mark_idle(&self, slot: &Slot) {
        slot.idle.store(true, Ordering::SeqCst);
        if self.draining.load(Ordering::SeqCst) {
            // ENOTCONN: the peer already reset the connection; the read will say so.
            let _ = slot.stream.shutdown(How::Read);
        }
    }

    fn mark_busy(&self, slot: &Slot) {
        slot.idle.store(false, Ordering::SeqCst);
    }

    /// Wake every idle connection, then wait up to `grace` for all connections to close. Returns
    /// how many are still open.
    fn drain(&self, grace: Duration) -> usize {
        self.draining.store(true, Ordering::SeqCst);
        let slots = self.lock();
        for slot in slots.open.values() {
            if slot.idle.load(Ordering::SeqCst) {
                let _ = slot.stream.shutdown(How::Read);
            }
        }
        let (slots, _) = self
            .all_closed
            .wait_timeout_while(slots, grace, |slots| !slots.open.is_empty())
            .unwrap_or_else(PoisonError::into_inner);
        slots.open.len()
    }
}

/// Which socket timeout to adjust.
#[derive(Debug, Clone, Copy)]
enum Direction {
    Read,
    Write,
}

// ANCHOR: socket_timeouts
/// `SO_RCVTIMEO` and `SO_SNDTIMEO` bound every blocking call. (`TCP_NODELAY`, which sends a
/// response's last segment at once instead of waiting for the client's delayed ACK of the
/// previous one, the socket inherits from the listener: `listener::bind`.)
fn set_socket_options(stream: &TcpStream, timeout: Duration) -> io::Result<()> {
    set_timeout(stream, Direction::Read, timeout)?;
    set_timeout(stream, Direction::Write, timeout)
}
// ANCHOR_END: socket_timeouts

fn set_timeout(stream: &TcpStream, direction: Direction, timeout: Duration) -> io::Result<()> {
    // Zero would mean "no timeout" to the kernel (and std refuses it): wait at least 1 ms.
    let timeout = Some(timeout.max(Duration::from_millis(1)));
    match direction {
        Direction::Read => stream
            .set_read_timeout(timeout)
            .map_err(|e| context(e, "setsockopt(SO_RCVTIMEO)")),
        Direction::Write => stream
            .set_write_timeout(timeout)
            .map_err(|e| context(e, "setsockopt(SO_SNDTIMEO)")),
    }
}

/// One blocking `sendfile(2)` of the rest of the file range (the kernel caps one call at ~2 GiB).
fn send_file(stream: &TcpStream, range: &FileRange<'_>) -> nix::Result<usize> {
    let count = usize::try_from(range.len).unwrap_or(usize::MAX);
    let mut offset = i64::try_from(range.offset).map_err(|_| nix::errno::Errno::EOVERFLOW)?;
    nix::sys::sendfile::sendfile64(stream, range.file, Some(&mut offset), count)
}

/// `SO_RCVTIMEO`/`SO_SNDTIMEO` expiring shows up as `EAGAIN` (`WouldBlock`).
fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
