//! `server-uring` — io_uring: one thread hands the kernel whole operations (accept, receive, send,
//! close) and later reads their results; a true Proactor.
//!
//! # The model in one sentence
//!
//! Instead of asking "which socket is ready?" and then doing the I/O itself, the thread says
//! "receive into a buffer from this pool", "send these bytes", "accept connections on this
//! listener", and the kernel performs the I/O and posts one *completion* per result.
//!
//! # The syscalls, in the order they happen
//!
//! 1. `io_uring_setup(2)` ([`uring::Ring::new`]) creates two rings shared with the kernel: the
//!    submission queue (SQ), where we write operation descriptions, and the completion queue (CQ),
//!    where the kernel writes results (asking for `SINGLE_ISSUER | DEFER_TASKRUN`: one thread
//!    submits, and completion work waits until that thread asks for it). `io_uring_register(2)`
//!    (`IORING_REGISTER_PROBE`) asks which operations this kernel knows. If either fails the
//!    server exits with `error: io_uring unavailable: …` and status 2.
//! 2. `socket`/`bind`/`listen` as usual; then, queued in the SQ (no syscall yet): a `PollAdd` on
//!    the shutdown wake-up descriptor, a `ProvideBuffers` lending the receive-buffer pool, and a
//!    **multishot** `Accept` (one submission, one completion per new connection; single-shot,
//!    resubmitted after each connection, with `--accept single` or on kernels that refuse it).
//! 3. The loop: **one `io_uring_enter(2)` per turn** ([`uring::Ring::submit_and_wait`]) submits
//!    everything queued since the last turn (a batch: every recv, send, buffer return, cancel and
//!    close of the previous turn's completions) *and* sleeps until at least one completion is
//!    ready. Then the completions are read straight from shared memory: no syscall per event.
//! 4. Per connection: `Recv` (the kernel picks a buffer from the pool when bytes arrive) →
//!    [`http_core::Connection::handle_input`] → for a small file body, a `Read` of the file
//!    (`IORING_OP_READ` at the offset [`http_core::Connection::file_read`] names, into a buffer the
//!    connection holds until the completion), which then leaves with its head in one `Send` of
//!    `next_output()`; for a big one, the head is sent, then the body goes chunk by chunk through
//!    a pipe: `Splice` file → pipe *linked* to `Splice` pipe → socket, 256 KiB a pair (with
//!    `--file-io read`: `Read`, `Send`, `Read`… of 64 KiB chunks instead; see [`file_body`] for
//!    the two ways and why splice is the default) → `Recv` … → on an idle
//!    timeout, `AsyncCancel` of the pending receive or send (a
//!    reader that stopped reading), and on shutdown of the pending receive → `shutdown(SHUT_WR)`
//!    and a short drain (the polite close of `server_common::pump`, two plain syscalls) →
//!    `Close`.
//!
//! # Where the thread waits
//!
//! In `io_uring_enter`, for completions: socket bytes *and file contents* arrive as completions,
//! so a page-cache miss does not stop the loop (the kernel's io-wq workers wait for the disk).
//! A splice is always run by an io-wq worker (`iou-wrk-*` in `ps -L`), never inline: that
//! worker, not this thread, waits when a client reads slowly, until the idle timeout cancels
//! the splice.
//! Deadlines (the idle timeout, the shutdown grace, the accept back-off) are kept in a
//! [`Deadlines`] table and a [`Grace`]; one `Timeout` operation is kept armed for the nearest of
//! them, so that "time passed" arrives as one more completion.
//!
//! Precisely: *opening* a file is still synchronous. `http-core` resolves the path with
//! `openat2(RESOLVE_BENEATH)` and `fstat`s it (`statx` in strace) on this thread, because the
//! status line (404, 403, 304, 206) depends on the answers. Both touch only metadata, usually in the dentry and inode
//! caches; a cold metadata lookup does wait for the disk. (`IORING_OP_OPENAT2` and
//! `IORING_OP_STATX` could move them into the ring too; not done here.)
//!
//! # Readiness vs completion
//!
//! `select`/`poll`/`epoll` (and SIGIO) report *readiness*: "a `read` now would not block"; the
//! program then makes the `read` itself, one syscall per socket per event. io_uring reports
//! *completion*: "your receive finished, 312 bytes are in buffer 17". The consequences are all
//! visible below:
//!
//! * memory handed to an operation belongs to the kernel until the completion arrives: a send's
//!   bytes must not move or change, which is why each connection is boxed and never touched while
//!   its send is in flight, and why a connection is freed only when its count of operations in
//!   flight is zero (cancellation is itself an operation, whose completion we wait for too);
//! * a pending receive needs a buffer *before* data arrives — with one buffer per connection,
//!   10,000 idle keep-alive clients would pin 10,000 buffers. This server uses **provided
//!   buffers**: the receive names a *group*, the kernel takes a buffer only when bytes arrive, we
//!   copy them into the connection and give the buffer back in the same turn. The pool then
//!   covers one turn's completions, not every connection (see [`uring::BufferPool`]);
//! * at most one receive *or* send is in flight per connection (the connection is half-duplex,
//!   like the readiness servers that stop watching reads while writing), so input never changes
//!   the output buffer the kernel is reading from.
//!
//! # Proactor, three ways
//!
//! The course's Proactor (Proactor 模式) hands the I/O itself to "the main thread and the kernel";
//! the program only sees finished reads and writes. Compare:
//!
//! * `server-epoll --pattern proactor` *simulates* it (模拟 Proactor): the main thread learns
//!   readiness from `epoll_wait`, does the `read`/`write` itself, and passes finished requests to
//!   workers. Completion is an illusion built from readiness plus our own syscalls.
//! * `server-aio` uses POSIX AIO, the textbook's completion API; on Linux/glibc it is a pool of
//!   user-space threads each blocked in a plain `read`: completion, paid for with one thread per
//!   pending operation.
//! * `server-uring` (this crate) is the real thing: the kernel performs the receive or send (in
//!   the context of our own `io_uring_enter`, or from a socket's wake-up for one that was not ready
//!   yet) and posts the result. One thread, no per-event syscall, no helper threads for sockets.
//!
//! Completion is not free CPU, though. With `DEFER_TASKRUN` the deferred work — the copy of a
//! received packet into the provided buffer, the posting of completions — runs on *this* thread,
//! inside its next `io_uring_enter`: the same copy a readiness server makes in `recv`, moved, not
//! removed. That is why `server-uring`'s CPU per request is not lower than `server-epoll`'s in
//! the committed benchmark run (`bench-results/`, column *CPU ms/1k*): what it saves is
//! syscalls, not copying.
//!
//! # What one more connection costs
//!
//! One socket, one boxed [`Client`] (the `http-core` connection, a few counters), one pending
//! `Recv` in the kernel (no buffer while idle) and one timer-heap entry. No thread, no stack.
//! Measured on the course machine: with 300 or 10,000 idle connections the process has exactly
//! one thread (the kernel adds `iou-wrk-*` workers only for operations that cannot proceed
//! without blocking; socket I/O is not one), and 10,000 idle connections add about 4 MB of
//! resident memory. Under `wrk -c50` one `io_uring_enter` carries about 24 requests' worth of
//! receives and sends (strace counts ~600 enters for ~14,000 requests). While a big file body
//! is on its way, the connection also holds a pipe: two descriptors, and references to at most
//! 256 KiB of page-cache pages.
//!
//! # Limits
//!
//! * `RLIMIT_NOFILE` (raised to the hard limit at start), and the ring sizes: a full SQ is
//!   submitted early (an extra `io_uring_enter`), a full CQ is held by the kernel
//!   (`IORING_FEAT_NODROP`) until we reap.
//! * Needs Linux 5.19+ for multishot accept (older: single-shot, detected at run time), 5.11+ for
//!   `TimeoutUpdate`; containers and hardened kernels often disable io_uring altogether
//!   (`kernel.io_uring_disabled`, seccomp): then the binary exits 2 with one clear line.
//! * Still one thread: request handling in `http-core` runs between two `io_uring_enter` calls,
//!   so one core is the ceiling (run one ring per core with `SO_REUSEPORT` to go further).
//!
//! # Shortcuts, named as such
//!
//! This is the plainest correct io_uring server, not the fastest. A tuned one would keep one
//! *multishot* `Recv` per connection (no resubmission and no readiness re-arming per request,
//! at the price of parking bytes that arrive while a send is in flight), return buffers through a
//! registered buffer *ring* (shared memory instead of one `ProvideBuffers` per receive), keep a
//! pool of pipes for spliced bodies instead of one new pipe per response, and use registered
//! ("fixed") descriptors. Each is a refinement of the same completion loop.
//!
//! # Testing where io_uring is refused
//!
//! The tests (`tests/conformance.rs`, `tests/uring.rs`) first start the binary once; if it exits
//! 2 with the `io_uring unavailable` line, every test **fails** with that reason, because a test
//! that did not run is not a pass. Set `IO_MODELS_ALLOW_NO_URING=1` to have them print
//! `SKIPPED: io_uring unavailable: …` and return instead (e.g. in a sandboxed CI).
//! `refused_io_uring_exits_2_with_one_line` forces the refusal with a seccomp filter.
//!
//! # When to choose it
//!
//! Linux-only servers with many connections where syscalls per event dominate; storage + network
//! servers (the same ring does file I/O truly asynchronously, which `epoll` cannot). Not where
//! the kernel or sandbox refuses io_uring, nor when portability matters.
//!
//! Compare with `server-epoll` (readiness, the same single thread, one `epoll_wait` plus one
//! `read`/`write` per event) and `server-aio` (completion via threads).

mod file_body;
mod uring;

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use http_core::{Config, Connection};
use io_uring::cqueue;
use server_common::accept::{self, AcceptVerdict};
use server_common::cli::{self, CommonArgs};
use server_common::listener::{self, ListenOptions};
use server_common::shutdown::{Grace, Shutdown};
use server_common::slab::{self, Slab};
use server_common::timers::Deadlines;
use server_common::{pump, stats, sys};

use file_body::{FileIo, Pipe};
use server_common::errors::context;
use uring::{BufferPool, Ring, Token, completion_error};

/// Submission-queue slots: how many operations one turn can queue before an early submit.
const SQ_ENTRIES: u32 = 1024;
/// Completion-queue slots (the kernel keeps any overflow until we reap it).
const CQ_ENTRIES: u32 = 8192;
/// Size of each receive buffer in the provided pool (`--buffers` says how many).
const POOL_BUF_LEN: usize = 16 * 1024;
/// The provided-buffer group id of that pool.
const POOL_GROUP: u16 = 0;
/// Exit status when the kernel refuses io_uring (distinct from 1, a start-up error).
const EXIT_URING_UNAVAILABLE: u8 = 2;

/// io_uring server: accept, recv and send are operations whose completions one thread reaps.
#[derive(Debug, Parser)]
#[command(name = "server-uring", version, about)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,

    /// How connections are accepted: one multishot accept (one submission, a completion per
    /// connection), a single-shot accept resubmitted after each connection, or auto (multishot,
    /// falling back to single-shot if the kernel refuses it).
    #[arg(long, value_enum, default_value_t = AcceptMode::Auto)]
    accept: AcceptMode,

    /// Receive buffers (16 KiB each) lent to the kernel. They are shared by all connections and
    /// only taken while bytes arrive, so this bounds one loop turn's receives, not connections;
    /// when they run out a receive completes with ENOBUFS and is retried next turn.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u16).range(1..=32_768))]
    buffers: u16,

    /// How big file bodies reach the socket: `read` (IORING_OP_READ into a buffer, then a send)
    /// or `splice` (IORING_OP_SPLICE file → pipe → socket, no copy through this process).
    #[arg(long, value_enum, default_value_t = FileIo::Splice)]
    file_io: FileIo,
}

/// The `--accept` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum AcceptMode {
    /// Multishot, falling back to single-shot on kernels older than 5.19.
    Auto,
    /// Multishot only (`EINVAL` from the kernel is then fatal).
    Multishot,
    /// One `Accept` per connection.
    Single,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = cli::exit_on_error("configuration", args.common.http_config());
    let shutdown = cli::exit_on_error("signal handlers", Shutdown::install());
    // Best effort: more descriptors means more connections; the default limit still works.
    sys::raise_fd_limit_or_warn();
    let ring = match Ring::new(SQ_ENTRIES, CQ_ENTRIES) {
        Ok(ring) => ring,
        Err(why) => {
            eprintln!("error: io_uring unavailable: {why}");
            return ExitCode::from(EXIT_URING_UNAVAILABLE);
        }
    };
    // A blocking listener: io_uring's accept waits inside the kernel either way.
    let options = ListenOptions {
        nonblocking: false,
        reuse_port: false,
    };
    let listener = cli::exit_on_error("listen", listener::bind(args.common.addr, options));
    cli::exit_on_error("announce", listener::announce(&listener));

    let pool = BufferPool::new(args.buffers, POOL_BUF_LEN, POOL_GROUP);
    let mut server = Server::new(ring, pool, listener, config, shutdown, &args);
    let result = server.run();
    eprintln!(
        "receives that found the buffer pool empty (ENOBUFS, retried next turn): {}",
        server.enobufs
    );
    stats::report();
    match result {
        Ok(()) if !server.accept.failed => ExitCode::SUCCESS,
        Ok(()) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("error: event loop: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Which operation of a connection the kernel is working on (at most one at a time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Io {
    /// Nothing: the loop decides what to submit next.
    Idle,
    /// A `Recv` into the provided pool.
    Recv,
    /// A `Send` of bytes inside this client's connection.
    Send,
    /// A `Read` of the response's file into `Client::file_buf`.
    FileRead,
    /// `Client::splices` splices of the response's file (into the pipe, out to the socket).
    Splice,
}

/// How a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CloseHow {
    /// Finished normally: send our FIN and drain unread input first, so no reset destroys a
    /// response the peer has not read yet.
    Graceful,
    /// The peer is gone (reset, broken pipe): just close.
    Abort,
}

// ANCHOR: uring_client
/// One connection. Boxed in the slab, so its address (and that of the output bytes a pending
/// send points at) never changes while the kernel holds a reference to it.
#[derive(Debug)]
struct Client {
    /// `None` once the `Close` operation owns the descriptor.
    stream: Option<TcpStream>,
    conn: Connection,
    /// The buffer a file `Read` fills (`Some` only while one is in flight): it lives in the
    /// client so that a client abandoned at exit takes it along (see `abandon_leftovers`).
    file_buf: Option<Box<[u8]>>,
    /// The pipe a big file body is spliced through (`--file-io splice`), while one is sent.
    pipe: Option<Pipe>,
    /// Splices of this client in flight (`io == Io::Splice` while this is above zero).
    splices: u8,
    /// Only looked up with `--log`.
    peer: Option<SocketAddr>,
    io: Io,
    /// Operations the kernel still holds for this client (its recv or send, a cancel, the close).
    /// The client is freed only when this reaches zero.
    in_flight: u32,
    /// An `AsyncCancel` for the current recv/send has been submitted.
    cancelling: bool,
    /// Set once the connection is to be closed; the close happens when nothing is in flight.
    closing: Option<CloseHow>,
}
// ANCHOR_END: uring_client

/// The accept side: what is in flight and whether to (re)submit.
#[derive(Debug)]
struct AcceptState {
    /// Multishot (`true`) or single-shot.
    multishot: bool,
    /// `--accept auto`: multishot may fall back to single-shot.
    may_fall_back: bool,
    /// An accept operation is in the kernel (a multishot one until a completion without
    /// `IORING_CQE_F_MORE`).
    armed: bool,
    /// A cancel of it was submitted and its final completion is still to come.
    cancelling: bool,
    /// After `EMFILE`/`ENFILE`: do not resubmit before this.
    paused_until: Option<Instant>,
    /// The accept failed for good (`Fatal`): the server shuts down and exits 1.
    failed: bool,
    /// At least one connection was accepted by the current mode (so `EINVAL` is not "unsupported").
    accepted_any: bool,
}

/// The event loop's state.
struct Server {
    ring: Ring,
    pool: BufferPool,
    listener: Option<TcpListener>,
    config: Arc<Config>,
    shutdown: Shutdown,
    log: bool,
    file_io: FileIo,
    accept: AcceptState,
    /// The connections. Operations name a connection by its slot (`Token::Recv(slot)`…): a
    /// slot is freed only when no operation holds it (`in_flight == 0`). Deadlines name it by
    /// its token, whose serial tells it from a later occupant of the same slot.
    clients: Slab<Box<Client>>,
    deadlines: Deadlines<u64>,
    /// The deadline the armed `Timeout` operation fires at, if one is in flight.
    timer_armed: Option<Instant>,
    /// Begun when shutdown is requested.
    grace: Grace,
    /// Connections whose receive found the pool empty (`ENOBUFS`): resubmitted next turn, after
    /// this turn's buffers have gone back to the kernel.
    starved: VecDeque<usize>,
    /// Receives that completed with `ENOBUFS` (printed at exit: the lab `uring-few-buffers`
    /// reads it).
    enobufs: u64,
    /// Reused between turns to hold the reaped completions.
    completions: Vec<cqueue::Entry>,
    /// File read buffers ([`FILE_CHUNK_BYTES`] each) not in use, kept for the next read
    /// (at most [`SPARE_FILE_BUFS`]).
    spare_file_bufs: Vec<Box<[u8]>>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("ring", &self.ring)
            .field("live_clients", &self.clients.len())
            .field("accept", &self.accept)
            .finish_non_exhaustive()
    }
}

impl Server {
    fn new(
        ring: Ring,
        pool: BufferPool,
        listener: TcpListener,
        config: Arc<Config>,
        shutdown: Shutdown,
        args: &Args,
    ) -> Server {
        let mode = args.accept;
        Server {
            ring,
            pool,
            listener: Some(listener),
            config,
            shutdown,
            log: args.common.log,
            file_io: args.file_io,
            accept: AcceptState {
                multishot: mode != AcceptMode::Single,
                may_fall_back: mode == AcceptMode::Auto,
                armed: false,
                cancelling: false,
                paused_until: None,
                failed: false,
                accepted_any: false,
            },
            clients: Slab::new(),
            deadlines: Deadlines::new(),
            timer_armed: None,
            grace: Grace::new(),
            starved: VecDeque::new(),
            enobufs: 0,
            completions: Vec::with_capacity(CQ_ENTRIES as usize),
            spare_file_bufs: Vec::new(),
        }
    }

    /// Run the event loop until shutdown has finished, or an error ends it. On every way out,
    /// the connections still open are abandoned, not freed (see [`Server::abandon_leftovers`]).
    fn run(&mut self) -> io::Result<()> {
        let result = self.event_loop();
        self.abandon_leftovers();
        result
    }

    /// The event loop: submit everything queued and wait, react to each completion, handle
    /// expired deadlines, queue the next operations; until shutdown has finished. An `Err` from
    /// any step returns at once; [`Server::run`] then abandons what the kernel may still touch.
    fn event_loop(&mut self) -> io::Result<()> {
        let wake_fd = self.shutdown.wake_fd().as_raw_fd();
        self.ring.push_poll_readable(wake_fd, Token::Wake)?;
        self.ring.push_provide_all(&mut self.pool)?;
        self.resume_accept(Instant::now())?;
        // ANCHOR: uring_loop
        loop {
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                // A signal (SIGTERM's handler) interrupted the wait; the wake-up poll completes
                // too, and anything not yet submitted stays queued for the next call.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // EBUSY: completions are backed up in the kernel; reaping below makes room.
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
                Err(e) => return Err(context(e, "io_uring_enter")),
            }
            let now = Instant::now();
            let mut completions = std::mem::take(&mut self.completions);
            self.ring.reap(&mut completions);
            for cqe in completions.drain(..) {
                self.on_completion(&cqe, now)?;
            }
            self.completions = completions;
            self.on_deadlines(now)?;
            self.retry_starved(now)?;
            self.resume_accept(now)?;
            if self.finished(now) {
                break;
            }
            self.arm_timer(Instant::now())?;
        }
        // ANCHOR_END: uring_loop
        Ok(())
    }

    /// Dispatch one completion by its token.
    fn on_completion(&mut self, cqe: &cqueue::Entry, now: Instant) -> io::Result<()> {
        let result = cqe.result();
        match Token::from_user_data(cqe.user_data()) {
            Some(Token::Accept) => self.on_accept_complete(result, cqe.flags(), now),
            // The cancel's own completion; the accept's final completion reports the end.
            Some(Token::AcceptCancel) => Ok(()),
            Some(Token::Wake) => self.on_wake_complete(now),
            Some(Token::Timer) => {
                // ETIME: it fired; ECANCELED: the ring is going away. Either way it is no longer
                // armed; expired deadlines are handled after this turn's completions.
                self.timer_armed = None;
                Ok(())
            }
            // 0: the timeout was moved; ENOENT: it had already fired (its own completion says so).
            Some(Token::TimerUpdate) => Ok(()),
            Some(Token::Provide) => {
                if result < 0 {
                    // Never seen in practice; the pool shrinks by that buffer, and receives that
                    // find it empty are retried each turn.
                    eprintln!(
                        "warning: IORING_OP_PROVIDE_BUFFERS: {}",
                        completion_error(result)
                    );
                }
                Ok(())
            }
            Some(Token::Recv(slot)) => self.on_recv_complete(slot, result, cqe.flags(), now),
            Some(Token::Send(slot)) => self.on_send_complete(slot, result, now),
            Some(Token::Cancel(slot)) => self.on_cancel_complete(slot, now),
            Some(Token::Close(slot)) => self.on_close_complete(slot, result),
            Some(Token::FileRead(slot)) => self.on_file_read_complete(slot, result, now),
            Some(Token::SpliceIn(slot)) => self.on_splice_in_complete(slot, result, now),
            Some(Token::SpliceOut(slot)) => self.on_splice_out_complete(slot, result, now),
            None => {
                eprintln!(
                    "warning: completion with unknown user_data {}",
                    cqe.user_data()
                );
                Ok(())
            }
        }
    }

    /// (Re)submit the accept if it is not in flight and accepting is allowed now.
    fn resume_accept(&mut self, now: Instant) -> io::Result<()> {
        let Some(listener) = &self.listener else {
            return Ok(());
        };
        if self.grace.begun() || self.accept.failed {
            if !self.accept.armed {
                // Nothing references the listener any more: close it, so new clients are refused
                // by the kernel instead of waiting in the backlog.
                self.listener = None;
            }
            return Ok(());
        }
        if self.accept.armed || self.accept.paused_until.is_some_and(|until| now < until) {
            return Ok(());
        }
        self.accept.paused_until = None;
        let fd = listener.as_raw_fd();
        if self.accept.multishot {
            self.ring.push_accept_multi(fd)?;
        } else {
            self.ring.push_accept_single(fd)?;
        }
        self.accept.armed = true;
        Ok(())
    }

    // ANCHOR: uring_accept_more
    /// An accept completed: a new connection (result = its descriptor) or an error. A multishot
    /// accept stays armed as long as the completion carries `IORING_CQE_F_MORE`.
    fn on_accept_complete(&mut self, result: i32, flags: u32, now: Instant) -> io::Result<()> {
        let more = cqueue::more(flags);
        if !more {
            // Single-shot, or the multishot accept ended: `resume_accept` resubmits at the end of
            // this turn unless we are stopping or backing off.
            self.accept.armed = false;
            self.accept.cancelling = false;
        }
        if result >= 0 {
            // SAFETY: a successful accept completion's result is a new descriptor for the
            // accepted socket, owned by nobody else; the `TcpStream` becomes its only owner.
            let stream = unsafe { TcpStream::from_raw_fd(result) };
            self.accept.accepted_any = true;
            if self.grace.begun() {
                // Accepted after shutdown began (the cancel raced with it): refuse politely.
                pump::close_gracefully(&stream);
                return Ok(());
            }
            return self.on_new_connection(stream, now);
        }
        // ANCHOR_END: uring_accept_more
        let err = completion_error(result);
        match result.saturating_neg() {
            // We cancelled it (shutdown or back-off).
            libc::ECANCELED => return Ok(()),
            // A kernel without multishot accept (before 5.19) rejects the request itself.
            libc::EINVAL
                if self.accept.multishot
                    && self.accept.may_fall_back
                    && !self.accept.accepted_any =>
            {
                eprintln!("warning: multishot accept refused ({err}); using single-shot accept");
                self.accept.multishot = false;
                return Ok(());
            }
            _ => {}
        }
        match accept::classify(&err) {
            // Cannot happen inside the kernel's accept (it waits instead), but harmless.
            AcceptVerdict::WouldBlock => {}
            // The client gave up before we got it (ECONNABORTED…): the accept goes on (a
            // terminated multishot is resubmitted at the end of the turn).
            AcceptVerdict::Retry => {}
            // Out of descriptors: keep serving, stop accepting for a while.
            AcceptVerdict::Backoff => {
                self.accept.paused_until = Some(now + accept::BACKOFF);
                self.cancel_accept()?;
            }
            AcceptVerdict::Fatal => {
                eprintln!("error: accept: {err}; shutting down");
                self.accept.failed = true;
                self.begin_shutdown(now)?;
            }
        }
        Ok(())
    }

    /// Ask the kernel to stop a (multishot) accept that is still armed.
    fn cancel_accept(&mut self) -> io::Result<()> {
        if self.accept.armed && !self.accept.cancelling {
            self.ring.push_cancel(Token::Accept, Token::AcceptCancel)?;
            self.accept.cancelling = true;
        }
        Ok(())
    }

    /// Give a newly accepted socket a slot and start its first receive.
    fn on_new_connection(&mut self, stream: TcpStream, now: Instant) -> io::Result<()> {
        let peer = if self.log {
            stream.peer_addr().ok()
        } else {
            None
        };
        let client = Box::new(Client {
            stream: Some(stream),
            conn: Connection::new(Arc::clone(&self.config), now),
            file_buf: None,
            pipe: None,
            splices: 0,
            peer,
            io: Io::Idle,
            in_flight: 0,
            cancelling: false,
            closing: None,
        });
        let slot = slab::slot_of(self.clients.insert(client));
        self.advance(slot, now)
    }

    /// Decide a connection's next operation. Called whenever it has nothing in flight: after a
    /// completion, a deadline, or shutdown. Never touches a connection whose send is in flight.
    fn advance(&mut self, slot: usize, now: Instant) -> io::Result<()> {
        let stopping = self.grace.begun();
        let log = self.log;
        let Some(client) = client_mut(&mut self.clients, slot) else {
            return Ok(());
        };
        if client.io != Io::Idle {
            // Its recv or send completes first; we are called again then.
            return Ok(());
        }
        if let Some(how) = client.closing {
            if client.in_flight == 0 {
                return self.finish_close(slot, how);
            }
            return Ok(()); // a cancel is still in flight
        }
        if log {
            stats::log_exchanges(PeerName(client.peer), &mut client.conn);
        }
        if client
            .conn
            .deadline()
            .is_some_and(|deadline| deadline <= now)
        {
            client.conn.handle_timeout(now);
        }
        if client.conn.is_closed() {
            return self.close(slot, CloseHow::Graceful);
        }
        // A work route's logic (new input, or a pipelined request a send uncovered) runs here,
        // on the ring's thread, between completions: every other connection waits meanwhile.
        server_common::work::run_due(&mut client.conn);
        let (wants_write, wants_read) = (client.conn.wants_write(), client.conn.wants_read());
        let has_deadline = client.conn.deadline().is_some();
        if wants_write && self.submit_file_body(slot)? {
            // The body comes from a file: the kernel reads it first (a small one then leaves
            // with its head in one send), or splices it into the socket (`--file-io splice`),
            // where a reader that stopped reading holds it until the deadline cancels it.
        } else if wants_write && self.submit_send(slot)? {
            // The response (or its next chunk) is on its way.
        } else if stopping {
            // Shutting down: the response is finished; do not start reading another request.
            return self.close(slot, CloseHow::Graceful);
        } else if wants_read {
            self.submit_recv(slot)?;
        } else if !has_deadline {
            // Neither reading nor writing nor waiting for a deadline: nothing would ever wake it.
            return self.close(slot, CloseHow::Graceful);
        }
        self.schedule_deadline(slot);
        Ok(())
    }

    /// Queue a receive for the connection (the kernel picks a pool buffer when bytes arrive).
    fn submit_recv(&mut self, slot: usize) -> io::Result<()> {
        let Some(client) = client_mut(&mut self.clients, slot) else {
            return Ok(());
        };
        let Some(fd) = client.stream.as_ref().map(AsRawFd::as_raw_fd) else {
            return Ok(());
        };
        self.ring.push_recv(fd, &self.pool, Token::Recv(slot))?;
        client.io = Io::Recv;
        client.in_flight += 1;
        Ok(())
    }

    /// A receive completed: bytes (copied into the connection at once, buffer given back), end of
    /// file, or an error.
    fn on_recv_complete(
        &mut self,
        slot: usize,
        result: i32,
        flags: u32,
        now: Instant,
    ) -> io::Result<()> {
        let Some(client) = client_mut(&mut self.clients, slot) else {
            return Ok(());
        };
        // ANCHOR: uring_recv_complete
        client.io = Io::Idle;
        client.cancelling = false;
        client.in_flight -= 1;
        // Whatever the result, a buffer the kernel picked must go back to it.
        let buffer = cqueue::buffer_select(flags);
        match result {
            // Bytes arrived: hand them to the connection (it copies what it keeps).
            n if n > 0 => {
                let len = usize::try_from(n).unwrap_or(0);
                // SAFETY: `bid` was reported by this completion, so the kernel has finished
                // writing it and will not reuse it until we provide it again (just below).
                let bytes = buffer.and_then(|bid| unsafe { self.pool.filled(bid, len) });
                match bytes {
                    Some(bytes) => client.conn.handle_input(bytes, now),
                    None => {
                        // A data completion without a valid pool buffer would be a kernel bug.
                        eprintln!("warning: receive completed without a provided buffer");
                        client.closing = Some(CloseHow::Abort);
                    }
                }
            }
            // Zero bytes from a stream socket: the peer shut down its sending half.
            0 => client.conn.handle_eof(now),
            // The pool was empty when the bytes arrived: try again next turn, after this turn's
            // buffers have been given back.
            e if e == -libc::ENOBUFS => {
                self.enobufs += 1;
                self.starved.push_back(slot);
                return Ok(());
            }
            // We cancelled it (idle timeout, shutdown): `advance` decides what comes next.
            e if e == -libc::ECANCELED => {}
            // Interrupted or spuriously not ready: simply receive again.
            e if e == -libc::EINTR || e == -libc::EAGAIN => {}
            // ECONNRESET and friends: the connection is gone.
            _ => client.closing = Some(CloseHow::Abort),
        }
        if let Some(bid) = buffer {
            self.ring.push_provide(&mut self.pool, bid)?;
        }
        self.advance(slot, now)
        // ANCHOR_END: uring_recv_complete
    }

    // ANCHOR: uring_send
    /// Queue a send of the connection's next output bytes; `false` if there was nothing to send.
    fn submit_send(&mut self, slot: usize) -> io::Result<bool> {
        let Some(client) = client_mut(&mut self.clients, slot) else {
            return Ok(false);
        };
        let Some(fd) = client.stream.as_ref().map(AsRawFd::as_raw_fd) else {
            return Ok(false);
        };
        let pending = client.conn.next_output();
        if pending.is_empty() {
            // Nothing to send after all (it may come after more input).
            return Ok(false);
        }
        let len = u32::try_from(pending.len()).unwrap_or(u32::MAX);
        let bytes = pending.as_ptr();
        let last = client.conn.closes_after_output();
        // SAFETY: `bytes..bytes+len` is the connection's pending output. The connection lives in
        // this boxed client, which is not moved or freed while `in_flight > 0`, and no `&mut`
        // method of the connection is called while `io == Io::Send` (`advance` returns early,
        // closing waits for the completion), so the bytes stay put until the send completes.
        unsafe { self.ring.push_send(fd, bytes, len, last, Token::Send(slot)) }?;
        client.io = Io::Send;
        client.in_flight += 1;
        Ok(true)
    }
    // ANCHOR_END: uring_send

    /// A send completed: `n` bytes went out (perhaps fewer than asked), or an error.
    fn on_send_complete(&mut self, slot: usize, result: i32, now: Instant) -> io::Result<()> {
        let Some(client) = client_mut(&mut self.clients, slot) else {
            return Ok(());
        };
        client.io = Io::Idle;
        client.cancelling = false;
        client.in_flight -= 1;
        match result {
            // A short send is normal (the socket buffer had room for `n` bytes): `advance`
            // submits the rest.
            n if n > 0 => client.conn.consume(usize::try_from(n).unwrap_or(0), now),
            // Zero bytes of a non-empty buffer: treat as a dead peer rather than loop forever.
            0 => client.closing = Some(CloseHow::Abort),
            // We cancelled it (a slow reader hit the idle timeout, or shutdown's grace ran out).
            e if e == -libc::ECANCELED => {}
            // Interrupted or spuriously full: send again.
            e if e == -libc::EINTR || e == -libc::EAGAIN => {}
            // EPIPE, ECONNRESET: the peer is gone.
            _ => client.closing = Some(CloseHow::Abort),
        }
        self.advance(slot, now)
    }

    /// The completion of an `AsyncCancel` for this connection (0, `ENOENT` or `EALREADY`: the
    /// target reports its own end, so only the count matters).
    fn on_cancel_complete(&mut self, slot: usize, now: Instant) -> io::Result<()> {
        if let Some(client) = client_mut(&mut self.clients, slot) {
            client.in_flight -= 1;
        }
        self.advance(slot, now)
    }

    /// Begin closing: cancel whatever is in flight; the socket is closed once nothing is.
    fn close(&mut self, slot: usize, how: CloseHow) -> io::Result<()> {
        let Some(client) = client_mut(&mut self.clients, slot) else {
            return Ok(());
        };
        if client.closing != Some(CloseHow::Abort) {
            client.closing = Some(how);
        }
        if client.io != Io::Idle {
            return self.cancel_io(slot);
        }
        if client.in_flight == 0 {
            return self.finish_close(slot, how);
        }
        Ok(())
    }

    // ANCHOR: uring_cancel
    /// Submit an `AsyncCancel` for the connection's pending recv or send (once).
    fn cancel_io(&mut self, slot: usize) -> io::Result<()> {
        let Some(client) = client_mut(&mut self.clients, slot) else {
            return Ok(());
        };
        let targets: &[Token] = match client.io {
            Io::Idle => return Ok(()),
            Io::Recv => &[Token::Recv(slot)],
            Io::Send => &[Token::Send(slot)],
            Io::FileRead => &[Token::FileRead(slot)],
            // Either half may be the one still pending (a cancel of the other says ENOENT).
            Io::Splice => &[Token::SpliceIn(slot), Token::SpliceOut(slot)],
        };
        if !client.cancelling {
            for &target in targets {
                self.ring.push_cancel(target, Token::Cancel(slot))?;
                client.in_flight += 1;
            }
            client.cancelling = true;
        }
        Ok(())
    }
    // ANCHOR_END: uring_cancel

    /// Nothing is in flight any more: say goodbye and submit the `Close`.
    fn finish_close(&mut self, slot: usize, how: CloseHow) -> io::Result<()> {
        let Some(client) = client_mut(&mut self.clients, slot) else {
            return Ok(());
        };
        let Some(stream) = client.stream.take() else {
            return Ok(()); // the close is already in flight
        };
        if how == CloseHow::Graceful {
            pump::close_gracefully(&stream);
        }
        // The descriptor's ownership passes to the `Close` operation.
        self.ring
            .push_close(OwnedFd::from(stream), Token::Close(slot))?;
        client.in_flight += 1;
        Ok(())
    }

    /// The socket is closed: free the slot (nothing else references this client now).
    fn on_close_complete(&mut self, slot: usize, result: i32) -> io::Result<()> {
        if result < 0 {
            // On Linux the descriptor is released even when close reports an error.
            eprintln!("warning: close: {}", completion_error(result));
        }
        let Some(mut client) = self
            .clients
            .token_at(slot)
            .and_then(|t| self.clients.remove(t))
        else {
            return Ok(());
        };
        if self.log {
            stats::log_exchanges(PeerName(client.peer), &mut client.conn);
        }
        stats::connection_closed(client.conn.responses_sent());
        Ok(())
    }

    /// Queue the connection's deadline if it is earlier than the one it has queued.
    fn schedule_deadline(&mut self, slot: usize) {
        let Some(token) = self.clients.token_at(slot) else {
            return;
        };
        let deadline = self
            .clients
            .get(token)
            .and_then(|client| client.conn.deadline());
        self.deadlines.watch(token, deadline);
    }

    // ANCHOR: uring_deadlines
    /// Handle every connection whose deadline has passed: cancel the pending operation first,
    /// so the kernel lets go of the connection; with nothing pending, `advance` times it out.
    fn on_deadlines(&mut self, now: Instant) -> io::Result<()> {
        loop {
            let due = self
                .deadlines
                .next_due_in(now, &self.clients, |client| client.conn.deadline());
            let Some(token) = due else {
                return Ok(());
            };
            let slot = slab::slot_of(token);
            let Some(client) = client_mut(&mut self.clients, slot) else {
                continue;
            };
            match client.io {
                // Nothing in flight: `advance` calls `handle_timeout` and queues what follows.
                Io::Idle => self.advance(slot, now)?,
                // A receive or send is pending: cancel it; its `ECANCELED` completion leads to
                // `advance`, which then sees the passed deadline.
                Io::Recv | Io::Send | Io::FileRead | Io::Splice => self.cancel_io(slot)?,
            }
        }
    }
    // ANCHOR_END: uring_deadlines

    /// Resubmit the receives that found the buffer pool empty.
    fn retry_starved(&mut self, now: Instant) -> io::Result<()> {
        for _ in 0..self.starved.len() {
            if let Some(slot) = self.starved.pop_front() {
                self.advance(slot, now)?;
            }
        }
        Ok(())
    }

    /// The wake-up descriptor became readable: SIGINT/SIGTERM arrived.
    fn on_wake_complete(&mut self, now: Instant) -> io::Result<()> {
        if self.shutdown.requested() {
            return self.begin_shutdown(now);
        }
        // Readable without a request cannot happen (only the signal handler writes); poll again.
        let wake_fd = self.shutdown.wake_fd().as_raw_fd();
        self.ring.push_poll_readable(wake_fd, Token::Wake)
    }

    /// Stop accepting, cut idle connections, let responses in flight finish within `GRACE`.
    fn begin_shutdown(&mut self, now: Instant) -> io::Result<()> {
        if !self.grace.begin(now) {
            return Ok(());
        }
        self.cancel_accept()?;
        for slot in self.clients.tokens().into_iter().map(slab::slot_of) {
            let Some(client) = client_mut(&mut self.clients, slot) else {
                continue;
            };
            match client.io {
                // Waiting for a request: cancel the receive and close.
                Io::Recv => self.close(slot, CloseHow::Graceful)?,
                // Nothing in flight (waiting for a deadline): `advance` closes it.
                Io::Idle => self.advance(slot, now)?,
                // A response is being sent: let it finish; `advance` closes it afterwards.
                Io::Send | Io::FileRead | Io::Splice => {}
            }
        }
        Ok(())
    }

    /// Whether the loop is done: shutdown requested and everything closed, or the grace is over.
    fn finished(&self, now: Instant) -> bool {
        let nothing_open = self.clients.is_empty() && !self.accept.armed;
        self.grace.finished(now, nothing_open)
    }

    /// Keep one `Timeout` operation armed for the nearest deadline (the loop's alarm clock).
    fn arm_timer(&mut self, now: Instant) -> io::Result<()> {
        let accept_resume = self
            .accept
            .paused_until
            .filter(|_| !self.accept.armed && !self.grace.begun());
        let nearest = [
            self.deadlines.next_deadline(),
            self.grace.end(),
            accept_resume,
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(nearest) = nearest else {
            return Ok(());
        };
        let after = nearest.saturating_duration_since(now);
        match self.timer_armed {
            None => self.ring.push_timeout(after)?,
            // Armed for a later time: move it earlier (in place, `IORING_TIMEOUT_UPDATE`).
            Some(armed) if nearest < armed => self.ring.push_timeout_update(after)?,
            Some(_) => return Ok(()),
        }
        self.timer_armed = Some(nearest);
        Ok(())
    }

    // ANCHOR: uring_leftovers
    /// The loop ended (grace period over, or an error) with connections still open: count them,
    /// and leave their memory alone — the kernel may still be sending from it until the process
    /// exits. Called by [`Server::run`] on every return and again by `Drop` (a panic unwinding
    /// through the loop); the second call finds nothing left.
    fn abandon_leftovers(&mut self) {
        let leftovers = std::mem::take(&mut self.clients);
        for client in leftovers.values() {
            stats::connection_closed(client.conn.responses_sent());
        }
        // Deliberately never freed: a pending send may still point into these connections.
        std::mem::forget(leftovers);
    }
}
// ANCHOR_END: uring_leftovers

/// Dropping the server (after `run`, or while a panic unwinds) drops the ring, and with it the
/// kernel's last reference to our memory only some time later: closing an io_uring descriptor
/// cancels its operations asynchronously. So connections a send may point into are never freed
/// here; they are leaked on purpose, as the provided-buffer pool is.
impl Drop for Server {
    fn drop(&mut self) {
        self.abandon_leftovers();
    }
}

/// The client in `slot`, if that slot is occupied.
fn client_mut(clients: &mut Slab<Box<Client>>, slot: usize) -> Option<&mut Client> {
    clients.at_mut(slot).map(|client| &mut **client)
}

/// A peer address for log lines (`-` when unknown).
struct PeerName(Option<SocketAddr>);

impl fmt::Display for PeerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(addr) => write!(f, "{addr}"),
            None => f.write_str("-"),
        }
    }
}
