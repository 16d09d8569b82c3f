//! # Model 5: asynchronous I/O with POSIX AIO (异步 IO, `aio_read`/`aio_write`)
//!
//! **The model in one sentence:** the program *hands a read or a write over* (`aio_read(cb)`:
//! "fill this buffer from this socket, and tell me when it is done") and later learns that it
//! *completed* — the data is already in the buffer — so it never calls `read`/`write` on a
//! client socket itself. That is the Proactor of the course notes (Proactor 模式).
//!
//! ## The syscalls (library calls), in call order
//! 1. `aio_init` — size glibc's helper-thread pool to `--max-connections` (see "honest" below).
//! 2. `pthread_sigmask(SIG_BLOCK, {SIGRTMIN+2})` (`--notify signal`) before any thread starts.
//! 3. `socket`, `bind`, `listen`; start the **acceptor thread** (below).
//! 4. Per connection: `aio_read(cb)` with `cb.aio_sigevent = {SIGEV_SIGNAL, SIGRTMIN+2,
//!    sigev_value = the connection's token}` → returns at once.
//! 5. Loop: wait for a completion —
//!    - `--notify signal` (default): `sigtimedwait({SIGRTMIN+2}, timeout)` → `si_code ==
//!      SI_ASYNCIO`, `si_value` = the token of the finished operation;
//!    - `--notify suspend`: `aio_suspend(list of every in-flight cb, timeout)` → then
//!      `aio_error` on each to find which finished (O(in-flight) per wake, like `select`).
//! 6. `aio_error(cb)` (≠ `EINPROGRESS`: done) and `aio_return(cb)` (bytes, exactly once):
//!    feed the bytes to `http-core` ([`Server::on_read_complete`]); copy its output into the
//!    buffer and `aio_write(cb)` ([`submit_write`]); when that completes
//!    ([`Server::on_write_complete`]), `aio_read` again ([`submit_read`]).
//!
//! ## How new connections are learned
//! `accept` is not an AIO operation. A dedicated **acceptor thread** waits in `poll` on the
//! listener and on the shutdown descriptor, `accept`s, passes each socket through a channel, and
//! rings a **doorbell**: one byte into a socketpair. The main loop keeps an `aio_read` pending on
//! the other end of that socketpair, so a new connection arrives as just another AIO completion
//! (its own token, `DOORBELL`), in both notify modes — the loop waits in exactly one place.
//!
//! ## Where the thread waits; readiness vs completion
//! The main thread waits only in `sigtimedwait` or `aio_suspend`, and what it learns is
//! *completion*: "your read finished, here are n bytes", never "the socket is readable, go read".
//! Compare `server-sigio` (a signal says *ready*; we copy) with this server (a signal says
//! *done*; it was copied for us).
//!
//! ## Honest: on Linux with glibc, this is threads underneath
//! glibc's POSIX AIO is not kernel AIO: each request is a plain **blocking** `read`/`write` run by
//! a user-space helper thread (`pread` on a socket fails with `ESPIPE`, so it falls back to
//! `read`). An idle keep-alive connection with an `aio_read` pending *holds a helper thread*
//! until its client speaks. So one more connection costs one more thread (a small stack, but a
//! thread: scheduling, a kernel task, a `read` sleeping in the kernel): with 300 idle keep-alive
//! connections this server runs ≥ 300 threads (`tests/aio.rs` counts them in
//! `/proc/<pid>/status`). glibc's default pool has 20 threads and queues the rest FIFO: with 20
//! idle clients, the 21st would never be served. Hence `aio_init` with a pool sized to
//! `--max-connections`, and beyond that limit a connection gets `503` and is closed.
//! `--mistake aio-default-pool` (hidden from `--help`) skips `aio_init`, so that
//! `scripts/lab.sh aio-default-pool` can show the 21st client starve; `tests/labs.rs` checks it
//! starves with the mistake and is served without it.
//!
//! Measured on the project's 2-core machine (one run each, so read them as orders of
//! magnitude): with 300 idle connections, `/proc/<pid>/status` says **303 threads** (300
//! helpers, the main thread, the acceptor, the doorbell's helper) where `server-sigio` runs 1.
//! Its throughput against the other servers and nginx is in the committed benchmark run
//! (`bench-results/2026-12-04T16-07-41Z-vm/results.md`, the keep-alive tables; referenced, not copied):
//! far below `server-epoll`, at several times its CPU per request (column *CPU ms/1k*), because
//! every request is two operations (a read, a write), and each is a hand-off to a helper thread
//! and back — a futex wake-up, a queued signal or an `aio_suspend` return, and context switches —
//! where a Reactor makes two plain syscalls. glibc also keeps ending idle helpers and starting
//! new ones under load (`clone3` in the run's *Syscalls per request* table).
//!
//! ## Limits
//! - Sockets must stay **blocking**: on an `O_NONBLOCK` socket glibc's `read` says `EAGAIN` at
//!   once and the "asynchronous" read completes immediately with that error.
//! - A read blocked in a helper thread cannot be cancelled (`aio_cancel` answers
//!   `AIO_NOTCANCELED`). To time a connection out, or to shut down, we `shutdown(fd, SHUT_RD)`
//!   (or `SHUT_RDWR`) the socket: the blocked `read` returns 0, the operation completes, and only
//!   then is the control block freed. No control block is ever freed while in flight (see
//!   `aio.rs`).
//! - One operation in flight per connection (read *or* write *or* a file read), so each
//!   connection is half-duplex, and every response byte is copied once into the control block's
//!   buffer (no `sendfile`).
//! - File bodies are read with `aio_read` on the regular file, at the offset
//!   [`http_core::Connection::file_read`] names — the use POSIX AIO was designed for — so the
//!   main thread never waits for the disk; a small file's bytes then leave with its head in one
//!   `aio_write`. Opening the file (`openat2`, and `fstat`, which strace shows as `statx`, in
//!   `http-core`; once a second per file with the open-file cache) is still done on the main
//!   thread: it decides the status line.
//! - glibc queues the requests for *one* descriptor behind one another, on one helper thread
//!   (`aio_misc.c`), and the open-file cache gives every response for a hot file the same
//!   descriptor: concurrent reads of it would wait in line. So each file read gets a descriptor
//!   of its own (`dup`, closed when the read is reaped; [`submit_file_read`]). A cached small
//!   file needs no read at all. Measured (`bench-results/2026-12-03-files/README.md`, table 3,
//!   rows `aio` and `aio-one-fd`, the same server without the `dup`): with the file in the page
//!   cache the two are within the noise, because each queued read is a short copy. The `dup`
//!   is for the page-cache miss, where the queue would make every client wait for the others'
//!   disk reads; that case was not measured here.
//! - Reading files with `aio_read` is not free either: the same table's row
//!   `aio-before-files-issue` (the main thread `pread`ing file chunks itself) is, if anything,
//!   faster with a warm page cache. A hand-off to a helper thread per 64 KiB chunk costs more than the copy
//!   it saves the main thread; what `aio_read` buys is that a disk wait no longer stops the loop.
//! - `--notify signal` queues one real-time signal per completion: `RLIMIT_SIGPENDING` must
//!   exceed the connection count or completions are silently lost (a warning at start says
//!   so), or use `--notify suspend`.
//!
//! ## When to choose it
//! On Linux, not for sockets: it is a thread per pending operation with extra steps. POSIX AIO
//! is the portable *interface* of the Proactor; `server-uring` is the real thing on Linux
//! (completions from the kernel, no helper threads). Compare with `server-epoll --pattern
//! proactor` (模拟 Proactor: a Reactor that reads for its workers) and `server-blocking` (the same
//! threads, without pretending).

mod aio;

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use http_core::{Config, Connection};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{MsgFlags, send};
use server_common::accept::{self, AcceptVerdict};
use server_common::cli::{CommonArgs, exit_on_error};
use server_common::errors::{context, is_disconnect};
use server_common::listener::{self, ListenOptions};
use server_common::pump;
use server_common::shutdown::{GRACE, Grace, Shutdown};
use server_common::slab::Slab;
use server_common::timers::{self, Deadlines};
use server_common::{stats, sys};

use aio::{BUF_SIZE, Kind, Notify, Op};
use server_common::signals::SigSet;

/// An HTTP/1.1 server on POSIX AIO: aio_read/aio_write, completions by signal or aio_suspend.
#[derive(Debug, Parser)]
#[command(name = "server-aio", version)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,

    /// How completions are learned: `signal` = a real-time signal per completion carrying the
    /// connection's token (sigtimedwait); `suspend` = aio_suspend over every in-flight request.
    #[arg(long, value_enum, default_value_t = NotifyMode::Signal)]
    notify: NotifyMode,

    /// Most connections served at once (each idle one holds a glibc helper thread); beyond it a
    /// new connection gets `503 Service Unavailable` and is closed.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_connections: u32,

    /// Make one classic mistake on purpose, for the lab of the same name (`scripts/lab.sh NAME`):
    /// `aio-default-pool` (see [`Mistake`]). Hidden from `--help`: it exists only to demonstrate
    /// the mistake.
    #[arg(long, hide = true, value_enum)]
    mistake: Option<Mistake>,
}

/// The classic mistake this server can make on purpose (`--mistake NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mistake {
    /// Lab `aio-default-pool`: skip `aio_init`, so glibc's default pool of 20 helper threads
    /// serves every connection; 20 idle keep-alive clients, each with an `aio_read` parked in a
    /// helper's blocking `read`, starve the 21st.
    AioDefaultPool,
}

/// The two ways to learn about completions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum NotifyMode {
    /// `SIGEV_SIGNAL` with `SIGRTMIN+2`, taken with `sigtimedwait`.
    Signal,
    /// `SIGEV_NONE`, wait in `aio_suspend`.
    Suspend,
}

/// The token of the doorbell's read (connections have `Slab` tokens, which never reach it).
const DOORBELL: u64 = u64::MAX;

/// What the acceptor thread sends to a client beyond `--max-connections`.
const RESPONSE_503: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\
Content-Length: 20\r\nConnection: close\r\n\r\nserver at capacity\r\n";

/// Connections refused because of `--max-connections` (printed at exit).
static REFUSED: AtomicU64 = AtomicU64::new(0);

/// One connection. Field order matters: `op` is dropped before `stream` and `file_fd`, so the
/// socket is still open if the drop guard ever has to shut it down, and a file read in flight
/// still has its descriptor while the guard waits for it (see `aio.rs`).
#[derive(Debug)]
struct Client {
    /// The control block and buffer of this connection's one operation.
    op: Op,
    /// A descriptor of its own for the file read in flight (see [`submit_file_read`]).
    file_fd: Option<OwnedFd>,
    stream: TcpStream,
    conn: Connection,
    peer: SocketAddr,
    /// Bytes of `op`'s buffer that are handed to `aio_write` but not yet written (a short write
    /// leaves the rest here).
    unwritten: Range<usize>,
    /// We shut the socket down ourselves (timeout or shutdown): the read that completes with 0
    /// is our doing, not the peer's end of file.
    cut: bool,
}

/// The doorbell's receiving end and its pending read (`op` first, dropped while the socket is
/// still open, as in [`Client`]).
#[derive(Debug)]
struct Doorbell {
    op: Op,
    socket: UnixStream,
    armed: bool,
}

/// The state of the event loop.
#[derive(Debug)]
struct Server {
    config: Arc<Config>,
    notify: Notify,
    /// The completion signal, blocked (signal mode).
    waited: SigSet,
    shutdown: Shutdown,
    doorbell: Doorbell,
    incoming: Receiver<(TcpStream, SocketAddr)>,
    acceptor: Option<JoinHandle<()>>,
    /// Connections being served (the acceptor compares it with `--max-connections`).
    live: Arc<AtomicUsize>,
    clients: Slab<Client>,
    deadlines: Deadlines<u64>,
    grace: Grace,
    /// The grace period ran out and every remaining socket was shut down.
    forced: bool,
}

fn main() {
    let args = Args::parse();
    let config = exit_on_error("configuration", args.common.http_config());
    sys::raise_fd_limit_or_warn();
    let max = args.max_connections as usize;
    // One helper thread per connection that may wait in `read`, plus the doorbell's, plus slack
    // for writes of connections being closed. Before any other aio_* call. (The lab's mistake
    // leaves glibc's defaults: 20 threads.)
    if args.mistake != Some(Mistake::AioDefaultPool) {
        aio::init_pool(max + 4);
    }
    let shutdown = exit_on_error("installing signal handlers", Shutdown::install());
    let signal = libc::SIGRTMIN() + 2;
    let waited = exit_on_error("signal set", SigSet::of(&[signal]));
    let notify = match args.notify {
        NotifyMode::Signal => {
            // Blocked before any thread starts, so only `sigtimedwait` ever takes it.
            exit_on_error("blocking the completion signal", waited.block());
            warn_if_signal_queue_too_small(max);
            Notify::Signal(signal)
        }
        NotifyMode::Suspend => Notify::None,
    };

    let options = ListenOptions {
        nonblocking: true,
        reuse_port: false,
    };
    let listener = exit_on_error("listen", listener::bind(args.common.addr, options));
    // Connections that arrive before the loop runs wait in the listen backlog.
    exit_on_error("announce", listener::announce(&listener));
    let (bell_rx, bell_tx) = exit_on_error("doorbell socketpair", UnixStream::pair());
    // The acceptor must never block on a full doorbell; the main loop's end stays blocking,
    // as every AIO descriptor must.
    exit_on_error("doorbell O_NONBLOCK", bell_tx.set_nonblocking(true));
    let (to_loop, incoming) = mpsc::channel();
    let live = Arc::new(AtomicUsize::new(0));
    let acceptor = {
        let shutdown = shutdown.clone();
        let live = Arc::clone(&live);
        std::thread::Builder::new()
            .name("acceptor".into())
            .spawn(move || acceptor_loop(&listener, &shutdown, &bell_tx, &to_loop, &live, max))
    };
    let acceptor = exit_on_error("starting the acceptor thread", acceptor);

    let mut server = Server {
        config,
        notify,
        waited,
        shutdown,
        doorbell: Doorbell {
            op: Op::new(DOORBELL),
            socket: bell_rx,
            armed: false,
        },
        incoming,
        acceptor: Some(acceptor),
        live,
        clients: Slab::new(),
        deadlines: Deadlines::new(),
        grace: Grace::new(),
        forced: false,
    };
    exit_on_error("arming the doorbell", server.arm_doorbell());
    let result = server.run();
    server.finish();
    exit_on_error("event loop", result);
    let refused = REFUSED.load(Ordering::Relaxed);
    if refused > 0 {
        eprintln!("refused {refused} connections beyond --max-connections {max}");
    }
    stats::report();
}

impl Server {
    /// The event loop: wait for one (or more) completions, handle them, run due timers.
    fn run(&mut self) -> io::Result<()> {
        loop {
            let now = Instant::now();
            if self.shutdown.requested() {
                self.begin_shutdown(now);
            }
            if let Some(end) = self.grace.end() {
                if self.clients.is_empty() {
                    return Ok(());
                }
                if self.grace.over(now) && !self.forced {
                    self.force_close_all();
                }
                if now >= end + GRACE {
                    // Should not happen: every shut-down socket completes at once. The drop
                    // guards of what is left wait for their operations.
                    return Ok(());
                }
            }
            let timeout = self.wait_timeout(now);
            // ANCHOR: aio_wait
            match self.notify {
                Notify::Signal(_) => match aio::take_completion(&self.waited, timeout) {
                    Ok(Some(token)) => self.on_complete(token),
                    // Timeout: a deadline is due (below). Or a signal not from glibc.
                    Ok(None) => {}
                    // SIGINT/SIGTERM's handler ran on this thread: the flag is checked above.
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => return Err(context(err, "sigtimedwait")),
                },
                Notify::None => self.wait_suspend(timeout)?,
            }
            // ANCHOR_END: aio_wait
            self.expire_timers(Instant::now());
        }
    }

    /// `--notify suspend`: `aio_suspend` over every operation in flight, then ask each one.
    fn wait_suspend(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let mut list = Vec::with_capacity(self.clients.len() + 1);
        let mut tokens = Vec::with_capacity(self.clients.len() + 1);
        if self.doorbell.armed {
            list.push(self.doorbell.op.control_block());
            tokens.push(DOORBELL);
        }
        for (token, client) in self.clients.iter_mut() {
            if client.op.in_flight().is_some() {
                list.push(client.op.control_block());
                tokens.push(token);
            }
        }
        if list.is_empty() {
            // Nothing in flight (glibc's aio_suspend would return at once): just sleep until
            // the next deadline; only timers can move anything now.
            std::thread::sleep(timeout.unwrap_or(Duration::from_millis(100)));
            return Ok(());
        }
        match aio::suspend(&list, timeout) {
            // At least one finished; which ones, only `aio_error` on each can say.
            Ok(true) => {
                for token in tokens {
                    self.on_complete(token);
                }
                Ok(())
            }
            // Timeout: a deadline is due.
            Ok(false) => Ok(()),
            // A handler ran (SIGINT/SIGTERM): the flag is checked at the top of the loop.
            Err(err) if err.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(err) => Err(context(err, "aio_suspend")),
        }
    }

    /// How long the wait may last: until the nearest deadline or the end of the grace period.
    fn wait_timeout(&self, now: Instant) -> Option<Duration> {
        timers::wait_until_nearest(now, [self.deadlines.next_deadline(), self.grace.end()])
    }

    /// The operation with this token may have finished: reap it and go on.
    fn on_complete(&mut self, token: u64) {
        let now = Instant::now();
        if token == DOORBELL {
            return self.on_doorbell(now);
        }
        // No entry: a late signal for a connection already closed (a slab token names one
        // connection only: a reused slot gets a new serial).
        let Some(client) = self.clients.get_mut(token) else {
            return;
        };
        // Still running: `aio_suspend` woke for another operation of the list.
        let Some((kind, result)) = client.op.reap() else {
            return;
        };
        match kind {
            Kind::Read => self.on_read_complete(token, result, now),
            Kind::Write => self.on_write_complete(token, result, now),
            Kind::FileRead => self.on_file_read_complete(token, result, now),
        }
    }

    /// An `aio_read` of the response's file finished: hand the bytes to `http-core` (a failed
    /// read, or a file that ended early, makes it give the connection up), then go on.
    fn on_file_read_complete(&mut self, token: u64, result: io::Result<usize>, now: Instant) {
        let Some(client) = self.clients.get_mut(token) else {
            return;
        };
        client.file_fd = None; // the read is reaped: its descriptor closes
        let op = &client.op;
        let read = client.conn.fill_file_read(now, |_, _, dest| {
            let n = result?.min(dest.len());
            dest[..n].copy_from_slice(op.data(n));
            Ok(n)
        });
        match read {
            Ok(_) => self.next_step(token, now),
            Err(err) => self.close_after_error(token, &err),
        }
    }

    /// The doorbell's read completed: new connections wait in the channel (or the acceptor
    /// stopped). Re-arm it, then take every waiting connection.
    fn on_doorbell(&mut self, now: Instant) {
        let Some((_, result)) = self.doorbell.op.reap() else {
            return;
        };
        self.doorbell.armed = false;
        match result {
            // End of file: the acceptor thread is gone (shutdown); nothing more will come.
            Ok(0) => {}
            Ok(_) => {
                if let Err(err) = self.arm_doorbell() {
                    eprintln!("error: {err}; no longer accepting connections");
                }
            }
            Err(err) => eprintln!("error: doorbell read: {err}; no longer accepting connections"),
        }
        while let Ok((stream, peer)) = self.incoming.try_recv() {
            self.on_accept(stream, peer, now);
        }
    }

    /// Keep an `aio_read` pending on the doorbell.
    fn arm_doorbell(&mut self) -> io::Result<()> {
        let fd = self.doorbell.socket.as_raw_fd();
        self.doorbell.op.submit_read(fd, self.notify)?;
        self.doorbell.armed = true;
        Ok(())
    }

    /// A new connection from the acceptor thread: start reading its first request.
    fn on_accept(&mut self, stream: TcpStream, peer: SocketAddr, now: Instant) {
        if self.grace.begun() {
            // Accepted just before the shutdown: close it unanswered.
            self.live.fetch_sub(1, Ordering::Relaxed);
            stats::connection_closed(0);
            return;
        }
        let conn = Connection::new(Arc::clone(&self.config), now);
        let token = self.clients.insert_with(|token| Client {
            op: Op::new(token),
            file_fd: None,
            stream,
            conn,
            peer,
            unwritten: 0..0,
            cut: false,
        });
        self.next_step(token, now);
    }

    /// An `aio_read` finished: its bytes are already in the buffer.
    fn on_read_complete(&mut self, token: u64, result: io::Result<usize>, now: Instant) {
        let Some(client) = self.clients.get_mut(token) else {
            return;
        };
        match result {
            // We shut the socket down ourselves (timeout, shutdown): not the peer's EOF, and
            // bytes that raced in are too late.
            Ok(_) if client.cut => {}
            // Zero bytes: the peer shut down its sending half.
            Ok(0) => client.conn.handle_eof(now),
            Ok(n) => {
                client.conn.handle_input(client.op.data(n), now);
                // A work route's logic runs on the main thread, between completions.
                server_common::work::run_due(&mut client.conn);
            }
            // Interrupted in the helper thread before any byte: simply read again (next_step).
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            // ECONNRESET and friends: the connection is gone.
            Err(err) => return self.close_after_error(token, &err),
        }
        self.next_step(token, now);
    }

    /// An `aio_write` finished: `n` bytes of the buffer went into the socket.
    fn on_write_complete(&mut self, token: u64, result: io::Result<usize>, now: Instant) {
        let Some(client) = self.clients.get_mut(token) else {
            return;
        };
        match result {
            // A blocking write of a non-empty buffer that wrote nothing: a dead peer.
            Ok(0) => {
                let err = io::Error::new(io::ErrorKind::WriteZero, "socket accepted no bytes");
                return self.close_after_error(token, &err);
            }
            // All of it, or a short write (a signal in the helper thread): the rest stays in
            // `unwritten` and `next_step` writes it.
            Ok(n) => {
                client.unwritten.start = (client.unwritten.start + n).min(client.unwritten.end)
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            // EPIPE / ECONNRESET: the peer is gone.
            Err(err) => return self.close_after_error(token, &err),
        }
        self.next_step(token, now);
    }

    /// Nothing is in flight for this connection: decide its next operation from its state.
    fn next_step(&mut self, token: u64, now: Instant) {
        let draining = self.grace.begun();
        let notify = self.notify;
        let Some(client) = self.clients.get_mut(token) else {
            return;
        };
        if self.config.log_requests {
            stats::log_exchanges(client.peer, &mut client.conn);
        }
        let submitted = if !client.unwritten.is_empty() {
            // The rest of a short write first.
            Some(submit_write(client, notify))
        } else if pump::interest(&client.conn).is_none() {
            None // http-core is done with it
        } else if client.conn.file_read().is_some() {
            // The response's body comes from a file: `aio_read` it (a small one then leaves
            // with its head in one write).
            Some(submit_file_read(client, notify))
        } else if client.conn.wants_write() {
            client.unwritten = fill_buffer(client, now);
            Some(submit_write(client, notify))
        } else if client.cut || (draining && pump::is_idle(&client.conn)) {
            None // timed out, or shutting down between requests: nothing left to write
        } else if client.conn.wants_read() {
            Some(submit_read(client, notify))
        } else {
            // Neither: wait for the deadline (below), if there is one.
            Some(Ok(()))
        };
        match submitted {
            Some(Ok(())) if client.op.in_flight().is_some() || client.conn.deadline().is_some() => {
                self.deadlines.watch(token, client.conn.deadline());
            }
            Some(Ok(())) | None => self.close(token),
            Some(Err(err)) => self.close_after_error(token, &err),
        }
    }

    /// Run every deadline that has passed. A connection waiting in `aio_read` cannot be
    /// cancelled: `shutdown(SHUT_RD)` makes the blocked `read` return 0, and the completion
    /// (with `cut` set) carries on: write the 408 http-core may have, then close.
    fn expire_timers(&mut self, now: Instant) {
        loop {
            let due = self
                .deadlines
                .next_due_in(now, &self.clients, |client| client.conn.deadline());
            let Some(token) = due else {
                return;
            };
            let Some(client) = self.clients.get_mut(token) else {
                continue;
            };
            match client.op.in_flight() {
                // A file read ends on its own, soon; the connection (and the file it reads)
                // must stay as they are until then. Its completion watches the deadline again.
                Some(Kind::FileRead) => {}
                Some(Kind::Read) => {
                    client.conn.handle_timeout(now);
                    cut(client, libc::SHUT_RD);
                }
                // A write blocked on a full send buffer: the peer stopped reading.
                Some(Kind::Write) => {
                    client.conn.handle_timeout(now);
                    cut(client, libc::SHUT_RDWR);
                }
                None => {
                    client.conn.handle_timeout(now);
                    self.next_step(token, now);
                }
            }
        }
    }

    /// SIGINT/SIGTERM: the acceptor stops by itself (it watches the shutdown descriptor).
    /// Connections between requests are cut (their pending read completes with 0, then they
    /// close); the ones in the middle of an exchange go on until [`GRACE`] runs out.
    fn begin_shutdown(&mut self, now: Instant) {
        if !self.grace.begin(now) {
            return;
        }
        let mut idle = Vec::new();
        for (token, client) in self.clients.iter_mut() {
            match client.op.in_flight() {
                Some(Kind::Read) if pump::is_idle(&client.conn) => cut(client, libc::SHUT_RDWR),
                Some(_) => {}
                None => idle.push(token),
            }
        }
        for token in idle {
            self.next_step(token, now);
        }
    }

    /// The grace period is over: cut every socket; the completions close them.
    fn force_close_all(&mut self) {
        self.forced = true;
        let mut idle = Vec::new();
        for (token, client) in self.clients.iter_mut() {
            match client.op.in_flight() {
                Some(_) => cut(client, libc::SHUT_RDWR),
                None => idle.push(token),
            }
        }
        for token in idle {
            self.close(token);
        }
    }

    fn close_after_error(&mut self, token: u64, err: &io::Error) {
        if !is_disconnect(err) {
            if let Some(client) = self.clients.get(token) {
                eprintln!("warning: {}: {err}; closing the connection", client.peer);
            }
        }
        self.close(token);
    }

    /// Forget a connection and close its socket. Only called with nothing in flight (the drop
    /// guard in `aio.rs` covers a mistake).
    fn close(&mut self, token: u64) {
        if let Some(mut client) = self.clients.remove(token) {
            if self.config.log_requests {
                stats::log_exchanges(client.peer, &mut client.conn);
            }
            stats::connection_closed(client.conn.responses_sent());
            self.live.fetch_sub(1, Ordering::Relaxed);
            // shutdown(SHUT_WR) and discard unread input with a non-blocking recv, so the peer
            // gets our FIN, not a reset (the one time this program reads a client socket itself,
            // and only to throw bytes away).
            pump::close_gracefully(&client.stream);
        }
    }

    /// At exit: stop the acceptor, then close every connection still open. A connection with an
    /// operation in flight is cut first (`shutdown(SHUT_RDWR)`, so a helper thread blocked in
    /// `read` or `write` returns) and then dropped: its `Op`'s drop guard waits up to
    /// `aio::DROP_WAIT` for the operation to end before freeing the buffer, and leaks it with a
    /// warning if it does not (see `aio.rs`).
    fn finish(&mut self) {
        self.shutdown.request();
        if let Some(acceptor) = self.acceptor.take() {
            // The acceptor watches the shutdown descriptor and returns within one `poll`.
            let _ = acceptor.join();
        }
        for token in self.clients.tokens() {
            if let Some(client) = self.clients.get_mut(token) {
                if client.op.in_flight().is_some() {
                    cut(client, libc::SHUT_RDWR);
                }
            }
            self.close(token);
        }
        while let Ok((stream, _)) = self.incoming.try_recv() {
            drop(stream);
            stats::connection_closed(0);
        }
    }
}

/// Copy as much of the connection's output as fits into the operation's buffer, telling
/// `http-core` it is consumed (it now belongs to the control block). Returns the filled range.
fn fill_buffer(client: &mut Client, now: Instant) -> Range<usize> {
    let Some(buf) = client.op.buffer_mut() else {
        return 0..0;
    };
    let mut len = 0;
    while len < BUF_SIZE {
        // Output may uncover a pipelined work route: its logic runs here, on the main thread.
        server_common::work::run_due(&mut client.conn);
        // A file read that is due stops the copy: it is submitted next (`next_step`).
        let out = client.conn.next_output();
        if out.is_empty() {
            break;
        }
        let n = out.len().min(BUF_SIZE - len);
        buf[len..len + n].copy_from_slice(&out[..n]);
        client.conn.consume(n, now);
        len += n;
    }
    0..len
}

// ANCHOR: aio_file_read
/// `aio_read` the file bytes the connection asks for, through a descriptor of this read's own:
/// glibc runs the requests queued for one descriptor one after another on one helper thread, and
/// the open-file cache hands every response for a hot file the same descriptor, so without the
/// duplicate concurrent reads of that file would wait in line. (A `dup` and a `close` per read.)
fn submit_file_read(client: &mut Client, notify: Notify) -> io::Result<()> {
    let Some(read) = client.conn.file_read() else {
        return Ok(());
    };
    let (offset, len) = (read.offset, read.len);
    let own = read
        .file
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| context(e, "dup of a file descriptor for aio_read"))?;
    let fd = own.as_raw_fd();
    // Kept until the read is reaped (and, at exit, until the drop guard is done with `op`).
    client.file_fd = Some(own);
    client.op.submit_file_read(fd, offset, len, notify)
}
// ANCHOR_END: aio_file_read

/// Hand the unwritten part of the buffer to `aio_write`.
fn submit_write(client: &mut Client, notify: Notify) -> io::Result<()> {
    let fd = client.stream.as_raw_fd();
    client.op.submit_write(fd, client.unwritten.clone(), notify)
}

// ANCHOR: aio_submit_read
/// Hand a read of the next request bytes to `aio_read`.
fn submit_read(client: &mut Client, notify: Notify) -> io::Result<()> {
    let fd = client.stream.as_raw_fd();
    client.op.submit_read(fd, notify)
}
// ANCHOR_END: aio_submit_read

/// Wake an operation blocked in a helper thread by shutting the socket down (`aio_cancel`
/// cannot: it answers `AIO_NOTCANCELED` for a request already running).
fn cut(client: &mut Client, how: libc::c_int) {
    client.cut = true;
    // SAFETY: `shutdown` touches no memory of ours; the fd is open (owned by `client.stream`).
    // ENOTCONN (the peer is already gone) is fine: the operation completes either way.
    unsafe { libc::shutdown(client.stream.as_raw_fd(), how) };
}

/// The acceptor thread: `poll` on the listener and the shutdown descriptor, `accept` until
/// `EAGAIN`, pass the sockets to the main loop and ring the doorbell.
fn acceptor_loop(
    listener: &TcpListener,
    shutdown: &Shutdown,
    doorbell: &UnixStream,
    to_loop: &Sender<(TcpStream, SocketAddr)>,
    live: &AtomicUsize,
    max: usize,
) {
    loop {
        let mut fds = [
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(shutdown.wake_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            // A signal (SIGINT/SIGTERM's handler may run on this thread): check the flag.
            Err(nix::errno::Errno::EINTR) => {}
            Err(err) => {
                eprintln!("error: acceptor poll: {err}; no longer accepting connections");
                return;
            }
        }
        if shutdown.requested() {
            // Wake the loop. Returning also drops the doorbell's sending end, so the loop's
            // next doorbell read completes with end-of-file and is not re-armed.
            ring(doorbell);
            return;
        }
        let mut accepted = false;
        loop {
            match listener.accept() {
                Ok((stream, peer)) => {
                    if live.load(Ordering::Relaxed) >= max {
                        refuse(&stream, peer, max);
                        continue;
                    }
                    // AIO needs a blocking socket (accepted sockets do not inherit O_NONBLOCK
                    // on Linux; make it explicit).
                    if let Err(err) = stream.set_nonblocking(false) {
                        eprintln!("warning: {peer}: {err}; closing the connection");
                        continue;
                    }
                    // TCP_NODELAY it has from the listener (`listener::bind`).
                    live.fetch_add(1, Ordering::Relaxed);
                    if to_loop.send((stream, peer)).is_err() {
                        return; // the main loop is gone
                    }
                    accepted = true;
                }
                Err(err) => match accept::classify(&err) {
                    AcceptVerdict::WouldBlock => break,
                    AcceptVerdict::Retry => continue,
                    // Out of descriptors: this thread may simply sleep; the loop keeps serving.
                    AcceptVerdict::Backoff => {
                        std::thread::sleep(accept::BACKOFF);
                        break;
                    }
                    AcceptVerdict::Fatal => {
                        eprintln!("error: accept: {err}; no longer accepting connections");
                        ring(doorbell);
                        return;
                    }
                },
            }
        }
        if accepted {
            ring(doorbell);
        }
    }
}

/// One byte into the doorbell completes the main loop's pending read. A full socketpair
/// (`EAGAIN`) means it is ringing already.
fn ring(mut doorbell: &UnixStream) {
    let _ = doorbell.write(&[1]);
}

/// Beyond `--max-connections`: say 503 with one non-blocking send (a fresh socket's send buffer
/// is empty, so it fits) and close. Logged once; counted and printed at exit.
fn refuse(stream: &TcpStream, peer: SocketAddr, max: usize) {
    if REFUSED.fetch_add(1, Ordering::Relaxed) == 0 {
        eprintln!(
            "warning: {peer}: more than --max-connections {max} connections; answering 503 and \
             closing (logged once)"
        );
    }
    let _ = send(
        stream.as_raw_fd(),
        RESPONSE_503,
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
    );
    pump::close_gracefully(stream);
}

/// `--notify signal` queues one signal per completion; if the per-user queue is smaller than
/// the number of operations that can complete at once, completions would be lost.
fn warn_if_signal_queue_too_small(max: usize) {
    use nix::sys::resource::{Resource, getrlimit};
    if let Ok((soft, _)) = getrlimit(Resource::RLIMIT_SIGPENDING) {
        if soft < (max as u64) + 1 {
            eprintln!(
                "warning: RLIMIT_SIGPENDING is {soft}, below --max-connections {max}: completion \
                 signals may be lost; use --notify suspend or raise `ulimit -i`"
            );
        }
    }
}
