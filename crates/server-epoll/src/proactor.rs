//! `--pattern proactor`: simulated Proactor (模拟 Proactor) — the main thread does *all* the I/O,
//! a thread pool runs only the logic.
//!
//! ```text
//! main thread                                         pool workers (--workers N)
//! epoll_wait ─► socket readable ─► read into inbox
//!              inbox + Connection ─── task queue ───► handle_input(bytes)   (the HTTP logic)
//! epoll_wait ◄─ eventfd readable ◄─ results channel ◄─ Connection back, eventfd write
//!              write the response (sendfile for files)
//! ```
//!
//! A real Proactor (see `server-aio`, `server-uring`) asks the *kernel* to do the reads and
//! writes and learns of their *completion*. Here the main thread plays the kernel's part with
//! ordinary non-blocking reads and writes, so that from a worker's point of view the input simply
//! "has been read" and the output "will be written": workers never see a socket.
//!
//! * The `http_core::Connection` itself travels: it is `Send`, so the main thread moves it into
//!   the task together with the bytes read, and the worker moves it back with the response
//!   queued inside. While it is away the main thread keeps reading into the connection's inbox
//!   (at most 64 KiB; then it stops watching for input) but never touches the state machine.
//!   That is why its read path is its own and not `server_common::pump::read_ready`, which the
//!   other loops share: `read_ready` hands each read straight to a `Connection`, and here the
//!   `Connection` is often on another thread; the bytes wait in the inbox, and the inbox travels.
//! * Workers hand results back through a channel and wake the loop through an `eventfd`
//!   registered in epoll: the main thread sleeps in exactly one place, `epoll_wait`, for both
//!   sockets and finished work. A burst of results costs one `eventfd` write and one wake-up.
//! * Per request this costs a hand-off to a worker and one back (two thread wake-ups, a channel
//!   message each way, an `eventfd` write and read), so a request takes more CPU than in
//!   `single`. It pays off only when the logic is heavy enough to keep other cores busy while
//!   one thread shovels bytes — and the one I/O thread stays the ceiling.
//!
//! Compare with [`crate::reactor`] (workers do the I/O too) and `single` (no hand-off at all).

use std::io::{self, Read};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use http_core::Connection;
use nix::sys::epoll::{Epoll, EpollEvent, EpollFlags};
use server_common::pool::ThreadPool;
use server_common::pump::{self, Progress};
use server_common::shutdown::Grace;
use server_common::slab::Slab;
use server_common::stats;
use server_common::timers::Deadlines;

use crate::epoll::{self, LISTENER, NOTIFY, Notifier, SHUTDOWN, Trigger};
use crate::setup::{self, Listening, Options, open_loop};

/// Most bytes read ahead for a connection whose state machine is busy or away.
const INBOX_LIMIT: usize = pump::READ_BUF_SIZE;

/// What workers share with the main thread: the way back.
#[derive(Debug)]
struct Shared {
    results: Sender<Done>,
    notifier: Notifier,
}

/// Work for the logic: a connection and what happened to it.
struct Task {
    token: u64,
    conn: Connection,
    input: Vec<u8>,
    eof: bool,
    timeout: bool,
}

/// A connection coming back from the logic, with its output queued inside.
struct Done {
    token: u64,
    conn: Connection,
    /// The input buffer, emptied, for reuse (no allocation per request).
    input: Vec<u8>,
}

/// One connection as the main thread sees it.
#[derive(Debug)]
struct Client {
    stream: TcpStream,
    /// `None` while a worker runs the logic on it.
    conn: Option<Connection>,
    /// Bytes read and not yet handed to the logic.
    inbox: Vec<u8>,
    /// An empty buffer to swap in when the inbox leaves with a task.
    spare: Option<Vec<u8>>,
    registered: EpollFlags,
    readable: bool,
    writable: bool,
    peer_closed: bool,
    eof_sent: bool,
    /// The socket broke (EPOLLERR/EPOLLHUP) while its connection was away: close on return.
    broken: bool,
}

struct Proactor {
    epoll: Epoll,
    listening: Listening,
    clients: Slab<Client>,
    deadlines: Deadlines<u64>,
    buf: Box<[u8]>,
    options: Options,
    pool: ThreadPool,
    shared: Arc<Shared>,
    results: Receiver<Done>,
    grace: Grace,
}

/// Run the simulated Proactor on `listener` with `workers` logic threads until shutdown.
pub(crate) fn run(
    listener: TcpListener,
    options: Options,
    workers: usize,
    fd_limit: u64,
) -> io::Result<()> {
    let (epoll, listening) = open_loop(listener, &options)?;
    let notifier = Notifier::new()?;
    epoll::add(&epoll, notifier.fd(), EpollFlags::EPOLLIN, NOTIFY)?;
    let (results_tx, results) = mpsc::channel();
    // A connection is in at most one task at a time, so the queue never fills.
    let capacity = usize::try_from(fd_limit.clamp(1024, 65_536)).unwrap_or(65_536);
    let pool = ThreadPool::new("epoll-logic", workers, capacity)?;
    let proactor = Proactor {
        epoll,
        listening,
        clients: Slab::new(),
        deadlines: Deadlines::new(),
        buf: vec![0; pump::READ_BUF_SIZE].into_boxed_slice(),
        options,
        pool,
        shared: Arc::new(Shared {
            results: results_tx,
            notifier,
        }),
        results,
        grace: Grace::new(),
    };
    proactor.listening.announce()?;
    proactor.run()
}

impl Proactor {
    fn run(mut self) -> io::Result<()> {
        let mut events = vec![EpollEvent::empty(); 1024];
        let mut now = Instant::now();
        let outcome = loop {
            let timeout = self.wait_timeout(now);
            let ready = match epoll::wait(&self.epoll, &mut events, timeout) {
                Ok(ready) => ready,
                Err(err) => break Err(err),
            };
            now = Instant::now();
            for event in &events[..ready] {
                match event.data() {
                    LISTENER => {
                        if let Err(err) = self.on_accept(now) {
                            return self.stop(Err(err));
                        }
                    }
                    SHUTDOWN => self.begin_shutdown(now),
                    NOTIFY => self.on_completions(now),
                    token => self.on_event(token, event.events(), now),
                }
            }
            self.listening.resume_if_due(&self.epoll, now);
            self.expire(now);
            if self.grace.finished(now, self.clients.is_empty()) {
                break Ok(());
            }
        };
        self.stop(outcome)
    }

    fn on_accept(&mut self, now: Instant) -> io::Result<()> {
        let trigger = self.options.trigger;
        while let Some(stream) = self.listening.accept(&self.epoll, now)? {
            let conn = Connection::new(Arc::clone(&self.options.config), now);
            let mut client = Client {
                stream,
                conn: Some(conn),
                inbox: Vec::new(),
                spare: None,
                registered: EpollFlags::empty(),
                readable: false,
                writable: true,
                peer_closed: false,
                eof_sent: false,
                broken: false,
            };
            client.registered = client.wanted(trigger);
            let flags = client.registered;
            let token = self.clients.insert(client);
            let Some(client) = self.clients.get_mut(token) else {
                continue;
            };
            match epoll::add(&self.epoll, &client.stream, flags, token) {
                Ok(()) => self.deadlines.watch(token, client.deadline()),
                // The kernel refused to watch one more socket: drop this one connection.
                Err(_) => self.close(token, false),
            }
            if trigger == Trigger::Level {
                break; // level: the listener is reported again while its backlog is not empty
            }
        }
        Ok(())
    }

    fn on_event(&mut self, token: u64, flags: EpollFlags, now: Instant) {
        let Some(client) = self.clients.get_mut(token) else {
            return; // a stale event
        };
        if epoll::is_broken(flags) {
            if client.conn.is_some() {
                self.close(token, false);
            } else {
                // Its state machine is with a worker: close when it comes back; until then stop
                // watching (level-triggered, the error would be reported on every wait).
                client.broken = true;
                let _ = epoll::delete(&self.epoll, &client.stream);
            }
            return;
        }
        if flags.intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP) {
            client.readable = true;
        }
        if flags.contains(EpollFlags::EPOLLOUT) {
            client.writable = true;
        }
        self.advance(token, now);
    }

    // ANCHOR: proactor_completions
    /// Workers finished some tasks: take each connection back and write what it produced.
    fn on_completions(&mut self, now: Instant) {
        self.shared.notifier.reset();
        while let Ok(done) = self.results.try_recv() {
            let Some(client) = self.clients.get_mut(done.token) else {
                stats::connection_closed(done.conn.responses_sent());
                continue;
            };
            client.conn = Some(done.conn);
            if client.spare.is_none() {
                client.spare = Some(done.input);
            }
            if client.broken {
                self.close(done.token, false);
                continue;
            }
            self.advance(done.token, now);
        }
    }
    // ANCHOR_END: proactor_completions

    /// Do all the I/O this connection allows now, hand new input to the logic, then close it or
    /// update its registration and deadline.
    fn advance(&mut self, token: u64, now: Instant) {
        let trigger = self.options.trigger;
        let Some(client) = self.clients.get_mut(token) else {
            return;
        };
        let outcome = client
            .on_readable(&mut self.buf, trigger)
            .and_then(|()| client.on_writable(self.options.zero_copy, now));
        if outcome.is_ok() {
            client.hand_off(token, false, &self.pool, &self.shared);
        }
        if self.options.config.log_requests {
            if let Some(conn) = client.conn.as_mut() {
                stats::log_exchanges_of(&client.stream, conn);
            }
        }
        let draining = self.grace.begun();
        match outcome {
            // ECONNRESET, EPIPE…: the peer is gone.
            Err(_) => self.close(token, false),
            Ok(()) if client.conn.as_ref().is_some_and(Connection::is_closed) => {
                self.close(token, true);
            }
            Ok(()) if draining && client.is_idle() => self.close(token, true),
            Ok(()) => {
                let wanted = client.wanted(trigger);
                if wanted != client.registered {
                    if epoll::modify(&self.epoll, &client.stream, wanted, token).is_err() {
                        self.close(token, false); // ENOMEM: we would never hear from it again
                        return;
                    }
                    client.registered = wanted;
                }
                self.deadlines.watch(token, client.deadline());
            }
        }
    }

    /// Deadlines that passed. A connection away with a worker has no deadline here: its
    /// deadline is watched again when it comes back.
    fn expire(&mut self, now: Instant) {
        loop {
            let due = self
                .deadlines
                .next_due_in(now, &self.clients, Client::deadline);
            let Some(token) = due else {
                return;
            };
            if let Some(client) = self.clients.get_mut(token) {
                // Timing out is logic too: a worker calls handle_timeout.
                client.hand_off(token, true, &self.pool, &self.shared);
            }
        }
    }

    fn begin_shutdown(&mut self, now: Instant) {
        if !self.grace.begin(now) {
            return;
        }
        let _ = epoll::delete(&self.epoll, self.options.shutdown.wake_fd());
        self.listening.close();
        for token in self.clients.tokens() {
            if self.clients.get(token).is_some_and(Client::is_idle) {
                self.close(token, true);
            }
        }
    }

    /// Close a connection whose state machine is here (at exit, also one that is away: it is
    /// counted when its task comes back).
    fn close(&mut self, token: u64, politely: bool) {
        let Some(client) = self.clients.remove(token) else {
            return;
        };
        if politely {
            pump::close_gracefully(&client.stream);
        }
        if let Some(conn) = &client.conn {
            stats::connection_closed(conn.responses_sent());
        }
        // Dropping the stream closes it, which also removes it from epoll.
    }

    fn wait_timeout(&self, now: Instant) -> Option<Duration> {
        setup::wait_timeout(now, &self.deadlines, &self.listening, &self.grace)
    }

    /// Join the workers, count the connections they still held, close everything.
    fn stop(mut self, outcome: io::Result<()>) -> io::Result<()> {
        for token in self.clients.tokens() {
            self.close(token, false);
        }
        self.pool.join();
        // Every task has finished, so every result is in the channel.
        while let Ok(done) = self.results.try_recv() {
            stats::connection_closed(done.conn.responses_sent());
        }
        outcome
    }
}

impl Client {
    /// Read into the inbox: once per report (level) or until `EAGAIN` (edge), never beyond
    /// [`INBOX_LIMIT`].
    fn on_readable(&mut self, buf: &mut [u8], trigger: Trigger) -> io::Result<()> {
        while self.readable && !self.peer_closed && self.inbox.len() < INBOX_LIMIT {
            let room = (INBOX_LIMIT - self.inbox.len()).min(buf.len());
            match self.stream.read(&mut buf[..room]) {
                // The peer shut its sending half; the logic learns it after the bytes before it.
                Ok(0) => {
                    self.peer_closed = true;
                    self.readable = false;
                }
                Ok(n) => {
                    self.inbox.extend_from_slice(&buf[..n]);
                    if trigger == Trigger::Level {
                        self.readable = false; // level: reported again if bytes remain
                    }
                }
                // Drained: wait for the next report.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                // A signal arrived before any byte did: read again.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // ECONNRESET and friends: the caller closes the connection.
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Write what the logic produced, if the connection is here and the socket can take it.
    fn on_writable(&mut self, zero_copy: bool, now: Instant) -> io::Result<()> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(()); // away: nothing to write yet
        };
        if self.writable && conn.wants_write() {
            match pump::write_output(&mut self.stream, conn, zero_copy, now)? {
                // The send buffer is full (a slow reader): wait for EPOLLOUT.
                Progress::WouldBlock => self.writable = false,
                Progress::Done | Progress::PeerClosed | Progress::Drained => {}
            }
        }
        Ok(())
    }

    /// Give the connection to a worker if there is something for the logic to do: new input
    /// (or end of input) it is ready for, or (`timeout`) a deadline that passed.
    fn hand_off(&mut self, token: u64, timeout: bool, pool: &ThreadPool, shared: &Arc<Shared>) {
        let Some(conn) = &self.conn else {
            return; // already away
        };
        let has_input = !self.inbox.is_empty() || (self.peer_closed && !self.eof_sent);
        let ready_for_input = has_input && conn.wants_read();
        // A pipelined work route uncovered by a write is logic too: a worker runs it.
        if !timeout && !ready_for_input && conn.work().is_none() {
            return;
        }
        let Some(conn) = self.conn.take() else {
            return;
        };
        let (input, eof) = if timeout {
            (self.spare.take().unwrap_or_default(), false)
        } else {
            let fresh = self.spare.take().unwrap_or_default();
            self.eof_sent = self.peer_closed;
            (std::mem::replace(&mut self.inbox, fresh), self.peer_closed)
        };
        let task = Task {
            token,
            conn,
            input,
            eof,
            timeout,
        };
        let shared = Arc::clone(shared);
        // Err only once the pool is shut down, i.e. never while the loop runs.
        let _ = pool.execute(move || logic(task, &shared));
    }

    /// Level-triggered: input while the inbox has room; output only when stuck. Edge: all, once.
    fn wanted(&self, trigger: Trigger) -> EpollFlags {
        if trigger == Trigger::Edge {
            return EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT | EpollFlags::EPOLLET;
        }
        let mut flags = EpollFlags::empty();
        if !self.peer_closed && self.inbox.len() < INBOX_LIMIT {
            flags |= EpollFlags::EPOLLIN;
        }
        if !self.writable && self.conn.as_ref().is_some_and(Connection::wants_write) {
            flags |= EpollFlags::EPOLLOUT;
        }
        flags
    }

    /// The connection's deadline; `None` while it is away with a worker (the main thread
    /// watches it again when it comes back).
    fn deadline(&self) -> Option<Instant> {
        self.conn.as_ref().and_then(Connection::deadline)
    }

    /// Here, between requests, nothing to write, nothing read ahead: an idle keep-alive
    /// connection, which a shutdown closes at once.
    fn is_idle(&self) -> bool {
        self.inbox.is_empty() && self.conn.as_ref().is_some_and(pump::is_idle)
    }
}

// ANCHOR: proactor_logic
/// A worker: run the HTTP state machine on what the main thread read, send the connection back.
fn logic(task: Task, shared: &Shared) {
    let Task {
        token,
        mut conn,
        mut input,
        eof,
        timeout,
    } = task;
    let now = Instant::now();
    if timeout {
        if conn.deadline().is_some_and(|deadline| deadline <= now) {
            conn.handle_timeout(now);
        }
    } else {
        if !input.is_empty() {
            conn.handle_input(&input, now);
        }
        if eof {
            conn.handle_eof(now);
        }
        // A work route's logic runs here too, on the worker, while the main thread goes on.
        server_common::work::run_due(&mut conn);
    }
    input.clear();
    // Err: the main thread has exited; the connection is dropped with the message.
    let _ = shared.results.send(Done { token, conn, input });
    shared.notifier.notify();
}
// ANCHOR_END: proactor_logic
