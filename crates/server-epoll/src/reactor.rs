//! `--pattern reactor`: the main thread waits; a thread pool does the work (Reactor + 线程池).
//!
//! ```text
//! main thread                                   pool workers (--workers N)
//! epoll_wait ──► socket ready ──► queue job ──► lock the connection
//!     ▲                                          read → http-core → write
//!     └──────── epoll_ctl(MOD, EPOLLONESHOT) ◄── re-arm the socket, unlock
//! ```
//!
//! * **The main thread only waits** in `epoll_wait` and turns each ready socket into a job on the
//!   pool's queue (it also accepts: a new socket must be registered anyway, and `accept4` costs
//!   less than handing it to a worker). It never blocks on a worker: the queue holds more jobs
//!   than there can be sockets, and it takes a connection's lock only once, to register a socket
//!   no worker knows yet.
//! * **`EPOLLONESHOT`: one worker per socket at a time.** Without it, bytes arriving while a
//!   worker is busy with a socket would wake the main thread again and queue a second job for
//!   it; level-triggered, the main thread would queue one on *every* `epoll_wait` until the
//!   worker has read. A second worker would then read the same socket at the same time (requests
//!   answered out of order, responses interleaved) — or, with the lock below, sit blocked on it,
//!   wasting a pool thread. With it, the kernel reports a socket once and then disables it until
//!   the worker re-arms it with `EPOLL_CTL_MOD` — the last thing the worker does, after it has
//!   written; the re-arm reports at once whatever is already pending, so nothing is lost, edge
//!   triggered or not. (The cost: one `epoll_ctl` per event, which `single` avoids.)
//! * **Connection state** lives in a slab of `Arc<Slot>` (token → slot) behind a mutex that is
//!   held only for a lookup; each slot's connection is behind its own mutex, which in practice
//!   only one worker ever wants. A timeout job from the main thread can race with a readiness
//!   job; the mutex makes them take turns.
//! * **Timeouts**: the main thread keeps the deadline heap. Workers publish each connection's
//!   deadline in an atomic next to it, so the main thread reads it without taking any lock; when a
//!   deadline has passed it queues a timeout job, and the worker calls `handle_timeout`.
//!
//! Compare with `single` (`main.rs`), which does the same work without any hand-off, and with
//! [`crate::proactor`], where the main thread keeps the I/O and gives away only the logic.

use std::cell::RefCell;
use std::io;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use http_core::Connection;
use nix::sys::epoll::{Epoll, EpollEvent, EpollFlags};
use server_common::pool::ThreadPool;
use server_common::pump;
use server_common::shutdown::Grace;
use server_common::slab::Slab;
use server_common::timers::Deadlines;

use crate::client::Client;
use crate::epoll::{self, LISTENER, NOTIFY, Notifier, SHUTDOWN, Trigger};
use crate::setup::{self, Listening, Mistake, Options, open_loop};

/// How soon the main thread looks again at a connection it just sent a timeout job for (the
/// worker may have found it alive: a deadline that moved, or a `408` still being written).
const RECHECK: Duration = Duration::from_secs(1);

/// What the main thread and the workers share.
#[derive(Debug)]
struct Shared {
    epoll: Epoll,
    clients: Mutex<Slab<Arc<Slot>>>,
    options: Options,
    draining: AtomicBool,
    /// Wakes the main thread when the last connection closed during a shutdown.
    notifier: Notifier,
    /// Instant zero of the published deadlines.
    origin: Instant,
}

/// One connection, as workers and the main thread share it.
#[derive(Debug)]
struct Slot {
    /// `None` once closed (a job queued earlier then finds nothing to do).
    client: Mutex<Option<Client>>,
    /// The connection's deadline, published by whoever last touched it (nanoseconds after
    /// [`Shared::origin`]; `u64::MAX` = none), read by the main thread without locking.
    deadline: AtomicU64,
    /// Readiness jobs at work on this connection right now: at most one, which is what
    /// `EPOLLONESHOT` promises and [`Handling`] checks.
    handling: AtomicU32,
}

/// Why a worker runs for a connection.
#[derive(Debug, Clone, Copy)]
enum Job {
    /// epoll reported the socket (it is now disarmed until the worker re-arms it).
    Ready(EpollFlags),
    /// Its published deadline has passed.
    Timeout,
    /// A shutdown started: close it if it is idle.
    Shutdown,
}

/// The main thread's own state.
struct Reactor {
    shared: Arc<Shared>,
    pool: ThreadPool,
    listening: Listening,
    deadlines: Deadlines<u64>,
    grace: Grace,
}

thread_local! {
    /// Each worker's read buffer.
    static BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; pump::READ_BUF_SIZE]);
}

/// Run the Reactor on `listener` with `workers` pool threads until shutdown.
pub(crate) fn run(
    listener: TcpListener,
    options: Options,
    workers: usize,
    fd_limit: u64,
) -> io::Result<()> {
    let (epoll, listening) = open_loop(listener, &options)?;
    let notifier = Notifier::new()?;
    epoll::add(&epoll, notifier.fd(), EpollFlags::EPOLLIN, NOTIFY)?;
    // With EPOLLONESHOT a socket has at most one readiness job queued (plus rare timeout and
    // shutdown jobs), so a queue this long never makes the main thread wait.
    let capacity = usize::try_from(fd_limit.clamp(1024, 65_536)).unwrap_or(65_536) * 2;
    let pool = ThreadPool::new("epoll-reactor", workers, capacity)?;
    let reactor = Reactor {
        shared: Arc::new(Shared {
            epoll,
            clients: Mutex::new(Slab::new()),
            options,
            draining: AtomicBool::new(false),
            notifier,
            origin: Instant::now(),
        }),
        pool,
        listening,
        deadlines: Deadlines::new(),
        grace: Grace::new(),
    };
    reactor.listening.announce()?;
    reactor.run()
}

impl Reactor {
    fn run(mut self) -> io::Result<()> {
        let mut events = vec![EpollEvent::empty(); 1024];
        let mut now = Instant::now();
        let outcome = loop {
            let timeout = self.wait_timeout(now);
            let ready = match epoll::wait(&self.shared.epoll, &mut events, timeout) {
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
                    // A worker closed the last connection of a shutdown: `finished` will see it.
                    NOTIFY => self.shared.notifier.reset(),
                    token => self.dispatch(token, Job::Ready(event.events())),
                }
            }
            self.listening.resume_if_due(&self.shared.epoll, now);
            self.expire(now);
            if self.finished(now) {
                break Ok(());
            }
        };
        self.stop(outcome)
    }

    /// Accept, register with `EPOLLONESHOT`, queue the first deadline.
    fn on_accept(&mut self, now: Instant) -> io::Result<()> {
        let shared = &self.shared;
        while let Some(stream) = self.listening.accept(&shared.epoll, now)? {
            let conn = Connection::new(Arc::clone(&shared.options.config), now);
            let deadline = conn.deadline();
            let client = Client::new(stream, conn, shared.options.trigger);
            let flags = registration(&client, &shared.options);
            let slot = Arc::new(Slot {
                client: Mutex::new(Some(client)),
                deadline: AtomicU64::new(encode(shared.origin, deadline)),
                handling: AtomicU32::new(0),
            });
            let token = lock(&shared.clients).insert(Arc::clone(&slot));
            // Uncontended: no event, hence no job, exists for this socket before the ADD.
            let mut guard = lock(&slot.client);
            let added = match guard.as_ref() {
                Some(client) => epoll::add(&shared.epoll, &client.stream, flags, token),
                None => Ok(()),
            };
            match added {
                Ok(()) => self.deadlines.watch(token, deadline),
                // The kernel refused to watch it (ENOMEM/ENOSPC): drop this one connection.
                Err(_) => {
                    if let Some(client) = guard.take() {
                        client.close(false);
                    }
                    lock(&shared.clients).remove(token);
                }
            }
            drop(guard);
            if shared.options.trigger == Trigger::Level {
                break; // level: the listener is reported again while its backlog is not empty
            }
        }
        Ok(())
    }

    // ANCHOR: reactor_dispatch
    /// Hand a connection to the pool.
    fn dispatch(&self, token: u64, job: Job) {
        let Some(slot) = lock(&self.shared.clients).get(token).cloned() else {
            return; // closed since the event was queued: a stale event
        };
        let shared = Arc::clone(&self.shared);
        // Err only once the pool is shut down, i.e. never while the loop runs.
        let _ = self.pool.execute(move || work(&shared, token, &slot, job));
    }
    // ANCHOR_END: reactor_dispatch

    /// Deadlines that passed. A worker owns the connection, so the main thread only reads the
    /// deadline the workers publish, and keeps every live connection in the table: after a
    /// timeout job it looks again [`RECHECK`] later (the worker may find the connection alive),
    /// and a connection without a deadline right now is looked at again an idle timeout later.
    fn expire(&mut self, now: Instant) {
        let idle_timeout = self.shared.options.config.limits.idle_timeout;
        loop {
            let shared = &self.shared;
            let current = |token| {
                let slot = lock(&shared.clients).get(token).cloned()?;
                let published = decode(shared.origin, slot.deadline.load(Ordering::Acquire));
                Some(Some(published.unwrap_or(now + idle_timeout)))
            };
            let Some(token) = self.deadlines.next_due(now, current) else {
                return;
            };
            self.dispatch(token, Job::Timeout);
            self.deadlines.watch(token, Some(now + RECHECK));
        }
    }

    /// Stop accepting; have the workers close idle connections; the rest may finish.
    fn begin_shutdown(&mut self, now: Instant) {
        if !self.grace.begin(now) {
            return;
        }
        self.shared.draining.store(true, Ordering::Release);
        let _ = epoll::delete(&self.shared.epoll, self.shared.options.shutdown.wake_fd());
        self.listening.close();
        let tokens = lock(&self.shared.clients).tokens();
        for token in tokens {
            self.dispatch(token, Job::Shutdown);
        }
    }

    fn wait_timeout(&self, now: Instant) -> Option<Duration> {
        setup::wait_timeout(now, &self.deadlines, &self.listening, &self.grace)
    }

    fn finished(&self, now: Instant) -> bool {
        self.grace
            .finished(now, lock(&self.shared.clients).is_empty())
    }

    /// Join the workers (they finish the queued jobs), then drop what is still open.
    fn stop(self, outcome: io::Result<()>) -> io::Result<()> {
        self.pool.join();
        Handling::summary();
        let slots: Vec<Arc<Slot>> = {
            let mut clients = lock(&self.shared.clients);
            clients
                .tokens()
                .into_iter()
                .filter_map(|token| clients.remove(token))
                .collect()
        };
        for slot in slots {
            if let Some(client) = lock(&slot.client).take() {
                client.close(false);
            }
        }
        outcome
    }
}

/// A worker's job: use the readiness (or the timeout), then close or re-arm.
fn work(shared: &Shared, token: u64, slot: &Slot, job: Job) {
    let mut handling = Handling::begin(slot, token, job);
    let mut guard = lock(&slot.client);
    let Some(client) = guard.as_mut() else {
        return; // closed by an earlier job
    };
    let now = Instant::now();
    let options = &shared.options;
    match job {
        Job::Ready(flags) if epoll::is_broken(flags) => {
            // Reset by the peer (EPOLLERR) or shut both ways (EPOLLHUP).
            return close(shared, token, guard, false);
        }
        Job::Ready(flags) => client.note_readiness(flags),
        Job::Timeout => match client.conn.deadline() {
            Some(deadline) if deadline <= now => client.conn.handle_timeout(now),
            // Progress since the main thread looked: nothing to do. The socket is still armed
            // (or a readiness job will re-arm it), so do not touch epoll.
            _ => {
                slot.deadline.store(
                    encode(shared.origin, client.conn.deadline()),
                    Ordering::Release,
                );
                return;
            }
        },
        Job::Shutdown if client.is_idle() => return close(shared, token, guard, true),
        Job::Shutdown => return, // in flight: it closes when done (see below)
    }
    // ANCHOR: reactor_rearm
    let outcome = BUF.with_borrow_mut(|buf| client.drive(buf, options, now));
    if options.config.log_requests {
        client.log_exchanges();
    }
    let draining = shared.draining.load(Ordering::Acquire);
    match outcome {
        // ECONNRESET, EPIPE…: the peer is gone.
        Err(_) => close(shared, token, guard, false),
        Ok(()) if client.conn.is_closed() => close(shared, token, guard, true),
        Ok(()) if draining && client.is_idle() => close(shared, token, guard, true),
        Ok(()) => {
            slot.deadline.store(
                encode(shared.origin, client.conn.deadline()),
                Ordering::Release,
            );
            // Re-arm: from here on another worker may get this socket.
            handling.end();
            let flags = registration(client, options);
            if epoll::modify(&shared.epoll, &client.stream, flags, token).is_err() {
                // ENOMEM: we would never hear from this socket again.
                close(shared, token, guard, false);
            }
        }
    }
    // ANCHOR_END: reactor_rearm
}

/// Close the connection in `guard` and forget its token.
fn close(shared: &Shared, token: u64, mut guard: MutexGuard<'_, Option<Client>>, politely: bool) {
    if let Some(client) = guard.take() {
        client.close(politely);
    }
    drop(guard);
    let now_empty = {
        let mut clients = lock(&shared.clients);
        clients.remove(token);
        clients.is_empty()
    };
    if now_empty && shared.draining.load(Ordering::Acquire) {
        shared.notifier.notify(); // the main thread may be waiting for exactly this
    }
}

// ANCHOR: oneshot_armed
/// The flags that re-arm a socket: what the connection waits for, once.
fn armed(client: &Client, trigger: Trigger) -> EpollFlags {
    let mut flags = client.interest() | EpollFlags::EPOLLONESHOT;
    if trigger == Trigger::Edge {
        flags |= EpollFlags::EPOLLET;
    }
    flags
}
// ANCHOR_END: oneshot_armed

/// What a socket is registered with: [`armed`] — except under `--mistake no-oneshot` (lab
/// `no-oneshot`, only to demonstrate the mistake), which leaves `EPOLLONESHOT` out: the socket
/// is then reported again while a worker handles it, and a second worker gets it too.
fn registration(client: &Client, options: &Options) -> EpollFlags {
    let flags = armed(client, options.trigger);
    if options.mistake == Some(Mistake::NoOneshot) {
        return flags.difference(EpollFlags::EPOLLONESHOT);
    }
    flags
}

/// A readiness job at work on a connection, counted in [`Slot::handling`] from the moment a
/// worker takes the job until just before it re-arms the socket (or drops the job). A second
/// readiness job starting in that window means two workers have the same socket — what
/// `EPOLLONESHOT` rules out, and what lab `no-oneshot` shows happening without it. The check
/// costs two atomic operations per job and runs always, so the lab's test can also show that
/// it stays silent with `EPOLLONESHOT`.
struct Handling<'a> {
    /// The slot's counter while this job is counted in it.
    counter: Option<&'a AtomicU32>,
}

/// How many readiness jobs started on a socket another worker was handling.
static RACES: AtomicU64 = AtomicU64::new(0);
/// Races reported one line each; the rest are only counted.
const RACES_PRINTED: u64 = 5;

impl<'a> Handling<'a> {
    /// Count `job` in if it is a readiness job, reporting a race if another one is at work.
    fn begin(slot: &'a Slot, token: u64, job: Job) -> Handling<'a> {
        if !matches!(job, Job::Ready(_)) {
            // Timeout and shutdown jobs come from the main thread, not from epoll.
            return Handling { counter: None };
        }
        let others = slot.handling.fetch_add(1, Ordering::AcqRel);
        if others > 0 {
            let seen = RACES.fetch_add(1, Ordering::Relaxed);
            if seen < RACES_PRINTED {
                eprintln!(
                    "race: socket (token {token:#x}) went to a second worker while {others} other(s) \
                     handled it (this one now waits for the connection's lock)"
                );
            } else if seen == RACES_PRINTED {
                eprintln!("race: more races are counted, not printed");
            }
        }
        Handling {
            counter: Some(&slot.handling),
        }
    }

    /// The job is done with the socket (call it before the re-arm).
    fn end(&mut self) {
        if let Some(counter) = self.counter.take() {
            counter.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// At exit: the total, if there was any race.
    fn summary() {
        let races = RACES.load(Ordering::Relaxed);
        if races > 0 {
            eprintln!("race: {races} readiness job(s) in all started on a socket already in hand");
        }
    }
}

impl Drop for Handling<'_> {
    fn drop(&mut self) {
        self.end();
    }
}

fn encode(origin: Instant, deadline: Option<Instant>) -> u64 {
    deadline.map_or(u64::MAX, |at| {
        let nanos = at.saturating_duration_since(origin).as_nanos();
        u64::try_from(nanos)
            .unwrap_or(u64::MAX - 1)
            .min(u64::MAX - 1)
    })
}

fn decode(origin: Instant, nanos: u64) -> Option<Instant> {
    (nanos != u64::MAX).then(|| origin + Duration::from_nanos(nanos))
}

/// A poisoned lock means a worker panicked mid-job; the data is still the best we have.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};

    use http_core::Config;

    use super::*;

    /// What the Reactor relies on: a socket armed with [`armed`] is reported once, stays silent
    /// while "a worker has it" even as more bytes arrive, and is reported again at once when
    /// re-armed with `EPOLL_CTL_MOD` — under edge triggering too, although no new edge came.
    #[test]
    fn oneshot_reports_a_socket_once_until_rearmed() {
        for trigger in [Trigger::Level, Trigger::Edge] {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind a test listener");
            let mut peer = TcpStream::connect(listener.local_addr().expect("listener address"))
                .expect("connect");
            let (stream, _) = listener.accept().expect("accept");
            stream.set_nonblocking(true).expect("O_NONBLOCK");
            let config = Arc::new(Config::new(std::env::temp_dir()).expect("a document root"));
            let client = Client::new(stream, Connection::new(config, Instant::now()), trigger);
            let epoll = epoll::create().expect("epoll_create1");
            epoll::add(&epoll, &client.stream, armed(&client, trigger), 7).expect("ADD");
            let mut events = [EpollEvent::empty(); 4];
            let mut wait = |ms| {
                epoll::wait(&epoll, &mut events, Some(Duration::from_millis(ms))).expect("wait")
            };
            peer.write_all(b"GET / HTTP/1.1\r\n").expect("send");
            assert_eq!(wait(1000), 1, "{trigger:?}: the first bytes are reported");
            peer.write_all(b"Host: x\r\n").expect("send more");
            assert_eq!(
                wait(100),
                0,
                "{trigger:?}: disarmed until the worker re-arms it"
            );
            epoll::modify(&epoll, &client.stream, armed(&client, trigger), 7).expect("MOD");
            assert_eq!(
                wait(1000),
                1,
                "{trigger:?}: re-armed, unread bytes are reported"
            );
        }
    }
}
