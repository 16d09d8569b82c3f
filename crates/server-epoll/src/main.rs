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
//! socket, setsockopt(SO_REUSEADDR, TCP_NODELAY),       listener::bind (non-blocking listener;
//!   bind, listen                                      accepted sockets inherit TCP_NODELAY)
//! epoll_create1(EPOLL_CLOEXEC)                          one interest list for the whole loop
//! epoll_ctl(ADD, listener, EPOLLIN)                     the listener, watched once, for good
//! epoll_ctl(ADD, shutdown pipe, EPOLLIN)                SIGINT/SIGTERM wake the loop
//! loop:
//!   epoll_wait(timeout = nearest deadline)              ← the ONLY place the thread sleeps
//!   listener ready → accept4(SOCK_NONBLOCK|SOCK_CLOEXEC),
//!                    epoll_ctl(ADD, client, EPOLLIN)
//!   client ready   → read (level: once; edge: until EAGAIN) → http-core → write (until done or
//!                    EAGAIN; file bodies: sendfile)
//!                    epoll_ctl(MOD) only if what we wait for changed (e.g. add EPOLLOUT when the
//!                    send buffer is full, drop it when the response is out)
//!   deadline passed → handle_timeout → maybe a 408, close
//!   finished       → close                           (closing removes it from epoll: it is
//!                                                    the socket's only descriptor, epoll(7) Q6)
//!                    preceded by shutdown(SHUT_WR) and a last read only if input may be left
//!                    unread: http-core's needs_lingering_close, or a last read that filled
//!                    the buffer (pump::close_finished; nginx's lingering_close heuristic)
//! ```
//!
//! What a keep-alive request costs, counted with `strace -c` (20,000 requests, 50 connections):
//!
//! | per request | `recvfrom` | `sendto` | `epoll_wait` | `epoll_ctl` |
//! |---|---:|---:|---:|---:|
//! | `--trigger level` | 1 | 1 | 0.03 | 0 |
//! | `--trigger edge` | 2 (one says `EAGAIN`) | 1 | 0.02 | 0 |
//!
//! One `epoll_wait` returns up to 1024 ready sockets (this program's `maxevents`, not a limit of
//! epoll), so under load its cost is shared by dozens
//! of requests. There is no `epoll_ctl` per request: the loop remembers what each socket is
//! registered for and calls `EPOLL_CTL_MOD` only when that changes (a full send buffer, a closed
//! read side). The response is written right after the read, without waiting for `EPOLLOUT`: the
//! send buffer almost always has room. A file asked for again costs nothing more: the
//! open-file cache keeps its descriptor and, for a small one, its bytes (`strace -c -f` over
//! 20,000 keep-alive requests for a 2.4 KB `index.html`, 50 connections: 2.05 calls per request
//! with the cache, 7.05 with `--no-file-cache`, which adds `openat2`, `statx`, `fcntl` (clearing
//! `O_NONBLOCK`), `pread64` and `close` per request). Large files go out with `sendfile(2)`
//! (zero copy; `--no-sendfile` to compare).
//!
//! Files are read with a plain `pread`, and may make the loop wait for the disk on a page-cache
//! miss: readiness cannot help with regular files. `epoll_ctl` refuses them with `EPERM`
//! (`epoll_ctl(2)`; the test `epoll_refuses_to_watch_a_regular_file` shows it), and `select` and
//! `poll` report them ready at once, always (`server-poll`'s
//! `poll_reports_a_regular_file_ready_at_once`). Only a completion API (`server-aio`,
//! `server-uring`) can hand a file read to someone else.
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
//! | `single` | one thread | the same thread | the same thread | [`single`] |
//! | `reactor` | main thread | pool workers | pool workers | [`reactor`] |
//! | `proactor` | main thread | main thread | pool workers | [`proactor`] |
//! | `multi` | N threads, one epoll + `SO_REUSEPORT` listener each | each its own | each its own | [`multi`] |
//!
//! `--workers N` (default: one per CPU) sizes the pool (`reactor`, `proactor`) or the number of
//! loops (`multi`); `single` ignores it.
//!
//! Which pattern pays depends on the logic. For a small static file the logic is microseconds,
//! and every hand-off to a pool costs more than it saves. With `--work-routes`, `/block/MS`
//! (logic that waits, as a database call does) and `/cpu/US` (logic that computes) are run where
//! each pattern runs logic (`server_common::work::run_due`): `single` then waits for one request
//! at a time, `reactor` and `proactor` for as many as they have workers, and for `/cpu` no
//! pattern passes the CPUs it may use. The committed run's chart `lesson-thread-pool.svg` and its
//! tables *When does a thread pool pay?* (`bench-results/README.md` names the latest run) measure
//! it; course chapter 8 explains it.
//!
//! "Reactor" has two meanings, and these lessons use both, so here they are once. In the
//! pattern literature (POSA, Schmidt's *Reactor*) it is a loop that waits for readiness and
//! dispatches each event to its handler — every readiness server here is a Reactor in that sense,
//! `single` included. In the course notes (and TinyWebServer) it names the split where the main
//! thread only waits and *worker threads do the reads and writes* — that is `--pattern reactor`.
//! When a lesson says "a Reactor" it means the first; "the Reactor pattern" or `reactor` means the
//! course's.
//!
//! ## Timeouts without a thread per connection
//!
//! Each connection's deadline sits in a min-heap (`server_common::timers::Deadlines`, keyed by the
//! connection's token; lazy deletion: a deadline that moved later is re-queued only when its old
//! entry pops). The nearest one, rounded up to a millisecond, is the `epoll_wait` timeout.
//!
//! ## Shutdown
//!
//! The shutdown descriptor (`server_common::shutdown`) sits in the interest list next to the
//! listener, so SIGINT/SIGTERM simply wake `epoll_wait`. The loop then closes the listener (no new
//! connections), closes idle keep-alive connections at once, lets the others finish their
//! exchange for at most `shutdown::GRACE` (`server_common::shutdown::Grace`), and returns; `main`
//! prints the counters and exits 0.
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
//! ## Labs: three classic mistakes, made on purpose
//!
//! `--mistake edge-no-drain | no-oneshot | accept-emfile-spin` (hidden from `--help`; see
//! `setup::Mistake`) makes this server commit one of the mistakes described above, so that
//! `scripts/lab.sh NAME` can show what goes wrong. `tests/labs.rs` checks that it does go wrong
//! with the mistake, and not without it.
//!
//! ## Where the code is
//!
//! | module | what it holds |
//! |---|---|
//! | this file | the lesson, the command line, and the dispatch to a pattern |
//! | [`epoll`] | the thin syscall layer: `epoll_create1`, `epoll_ctl`, `epoll_wait`, `accept4`, `eventfd` |
//! | [`setup`] | what every pattern's loop starts with: options, the epoll instance, the listener |
//! | [`client`] | one connection of `single` and `reactor`: readiness noted, then read, answer, write |
//! | [`single`], [`reactor`], [`proactor`], [`multi`] | the four patterns, one loop each |
//!
//! The connection table (`server_common::slab::Slab`: token → connection, with a serial so that
//! a late event for a closed connection finds nothing) and the deadline table are shared with
//! the other token-keyed servers (`server-aio`, `server-uring`).
//!
//! ## When to choose it
//!
//! Linux servers with many connections, most of them idle or slow: nginx, Redis, Node.js (libuv),
//! Tokio (mio) are built on exactly this loop. Compare with `server-poll` (same loop, but the
//! whole `pollfd` array goes to the kernel on every call), and with `server-uring` (completion
//! instead of readiness).
#![warn(missing_docs)]

mod client;
mod epoll;
mod multi;
mod proactor;
mod reactor;
mod setup;
mod single;

use clap::{CommandFactory, Parser};
use server_common::cli::{self, CommonArgs};
use server_common::listener::{self, ListenOptions};
use server_common::shutdown::Shutdown;
use server_common::stats;

use crate::epoll::Trigger;
use crate::setup::{Mistake, Options};
use crate::single::EventLoop;

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

    /// Make one classic mistake on purpose, for the lab of the same name (`scripts/lab.sh NAME`):
    /// `edge-no-drain`, `no-oneshot`, `accept-emfile-spin` (see [`Mistake`]). Hidden from
    /// `--help`: it exists only to demonstrate the mistake.
    #[arg(long, hide = true, value_enum)]
    mistake: Option<Mistake>,
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

fn main() {
    let args = Args::parse();
    if let Err(why) = check_mistake(&args) {
        Args::command()
            .error(clap::error::ErrorKind::ArgumentConflict, why)
            .exit();
    }
    let config = cli::exit_on_error("configuration", args.common.http_config());
    let shutdown = cli::exit_on_error("signal handlers", Shutdown::install());
    // More connections than the default soft limit (often 1024); failure only lowers the ceiling.
    let fd_limit = server_common::sys::raise_fd_limit_or_warn();
    let workers = args.workers.map_or_else(cli::default_workers, usize::from);
    let options = Options {
        config,
        trigger: args.trigger,
        zero_copy: !args.no_sendfile,
        shutdown,
        mistake: args.mistake,
    };
    let addr = args.common.addr;
    let nonblocking = ListenOptions {
        nonblocking: true,
        reuse_port: false,
    };
    let result = match args.pattern {
        Pattern::Single => listener::bind(addr, nonblocking).and_then(|listener| {
            let event_loop = EventLoop::new(listener, options)?;
            event_loop.announce()?;
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

/// A `--mistake` shows only in the mode where it does harm; asked for elsewhere it would change
/// nothing, and the lab would show nothing.
fn check_mistake(args: &Args) -> Result<(), &'static str> {
    match args.mistake {
        Some(Mistake::EdgeNoDrain) if args.trigger != Trigger::Edge => {
            Err("--mistake edge-no-drain needs --trigger edge")
        }
        Some(Mistake::NoOneshot) if args.pattern != Pattern::Reactor => {
            Err("--mistake no-oneshot needs --pattern reactor")
        }
        Some(Mistake::AcceptEmfileSpin) if args.trigger != Trigger::Level => Err(
            "--mistake accept-emfile-spin needs --trigger level (edge-triggered, it does not spin)",
        ),
        _ => Ok(()),
    }
}
