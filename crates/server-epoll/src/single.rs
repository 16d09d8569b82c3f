//! `--pattern single` (the default): one thread waits in `epoll_wait`, reads, runs the HTTP state
//! machine and writes. `--pattern multi` runs N of these loops side by side.

use std::io;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_core::Connection;
use nix::sys::epoll::{Epoll, EpollEvent, EpollFlags};
use server_common::pump;
use server_common::shutdown::Grace;
use server_common::slab::Slab;
use server_common::timers::Deadlines;

use crate::client::Client;
use crate::epoll::{self, LISTENER, SHUTDOWN, Trigger};
use crate::setup::{self, Listening, Options, open_loop};

/// One epoll event loop: `--pattern single`, and each of the threads of `--pattern multi`.
#[derive(Debug)]
pub(crate) struct EventLoop {
    epoll: Epoll,
    listening: Listening,
    clients: Slab<Client>,
    deadlines: Deadlines<u64>,
    /// One read buffer for the whole loop (a connection keeps only what it has not parsed yet).
    buf: Box<[u8]>,
    options: Options,
    /// Begun when a shutdown is requested.
    grace: Grace,
}

impl EventLoop {
    /// A loop serving `listener` (non-blocking), watching the shutdown descriptor.
    pub(crate) fn new(listener: TcpListener, options: Options) -> io::Result<EventLoop> {
        let (epoll, listening) = open_loop(listener, &options)?;
        Ok(EventLoop {
            epoll,
            listening,
            clients: Slab::new(),
            deadlines: Deadlines::new(),
            buf: vec![0; pump::READ_BUF_SIZE].into_boxed_slice(),
            options,
            grace: Grace::new(),
        })
    }

    /// Print the announce line (once the listener is registered).
    pub(crate) fn announce(&self) -> io::Result<()> {
        self.listening.announce()
    }

    /// Wait, dispatch, repeat, until a shutdown has drained every connection (or the grace
    /// period ended).
    pub(crate) fn run(mut self) -> io::Result<()> {
        // ANCHOR: epoll_loop
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
            self.listening.resume_if_due(&self.epoll, now);
            self.expire(now);
            if self.grace.finished(now, self.clients.is_empty()) {
                break;
            }
        }
        // ANCHOR_END: epoll_loop
        for token in self.clients.tokens() {
            self.close(token, false); // grace period over: drop what is left
        }
        Ok(())
    }

    // ANCHOR: epoll_accept
    /// The listener is readable: accept what is pending and register each new socket.
    fn on_accept(&mut self, now: Instant) -> io::Result<()> {
        let trigger = self.options.trigger;
        while let Some(stream) = self.listening.accept(&self.epoll, now)? {
            let conn = Connection::new(Arc::clone(&self.options.config), now);
            let client = Client::new(stream, conn, self.options.trigger);
            let flags = client.registered;
            let token = self.clients.insert(client);
            let Some(client) = self.clients.get_mut(token) else {
                continue;
            };
            match epoll::add(&self.epoll, &client.stream, flags, token) {
                Ok(()) => self.deadlines.watch(token, client.conn.deadline()),
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
    // ANCHOR_END: epoll_accept

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

    // ANCHOR: timers_epoll_expire
    /// Deadlines that passed: time those connections out.
    fn expire(&mut self, now: Instant) {
        loop {
            let due = self
                .deadlines
                .next_due_in(now, &self.clients, |client| client.conn.deadline());
            let Some(token) = due else {
                return;
            };
            if let Some(client) = self.clients.get_mut(token) {
                client.conn.handle_timeout(now);
                let outcome = client.drive(&mut self.buf, &self.options, now);
                self.after_event(token, outcome);
            }
        }
    }
    // ANCHOR_END: timers_epoll_expire

    /// SIGINT/SIGTERM: stop accepting, close idle connections now, let the others finish.
    fn begin_shutdown(&mut self, now: Instant) {
        if !self.grace.begin(now) {
            return;
        }
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
        let draining = self.grace.begun();
        let Some(client) = self.clients.get_mut(token) else {
            return;
        };
        if self.options.config.log_requests {
            client.log_exchanges();
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
                self.deadlines.watch(token, client.conn.deadline());
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
        setup::wait_timeout(now, &self.deadlines, &self.listening, &self.grace)
    }
}
