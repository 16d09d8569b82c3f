//! One connection of the `single` and `reactor` patterns: the socket, the HTTP state machine,
//! and the readiness the loop knows of. Whoever holds it — the loop thread, or the one worker
//! `EPOLLONESHOT` lets at it — calls [`Client::drive`]: read, let `http-core` answer, write.

use std::io;
use std::net::TcpStream;
use std::time::Instant;

use http_core::Connection;
use nix::sys::epoll::{Epoll, EpollFlags};
use server_common::pump::{self, Progress, ReadMode};
use server_common::stats;

use crate::epoll::{self, Trigger};
use crate::setup::{Mistake, Options};

/// One connection: the socket, the HTTP state machine, and what the loop knows about both.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) stream: TcpStream,
    pub(crate) conn: Connection,
    /// What epoll watches this socket for (level-triggered: so that `EPOLL_CTL_MOD` is called only
    /// when the interest changes, not once per request).
    pub(crate) registered: EpollFlags,
    /// Readiness we know of and have not used up: set by an event, cleared by `EAGAIN` (and, under
    /// level triggering, by the one read per report).
    readable: bool,
    writable: bool,
    /// `read` returned 0: the peer sends nothing more; never wait for input again (a closed read
    /// side stays readable forever: level-triggered, waiting for it would spin).
    peer_closed: bool,
    /// The socket was empty after our last read (a short read, `EAGAIN`, or end of file): if
    /// http-core also left nothing unread, closing needs no lingering ([`pump::close_finished`]).
    drained: bool,
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
            drained: false,
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
                self.on_readable(buf, options, now)?;
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

    // ANCHOR: read_mode
    /// The socket is readable: feed http-core (one read, or until `EAGAIN` under `EPOLLET`).
    fn on_readable(&mut self, buf: &mut [u8], options: &Options, now: Instant) -> io::Result<()> {
        let mode = match options.trigger {
            Trigger::Level => ReadMode::Once,
            // The mistake of lab `edge-no-drain`: one read per edge. What it leaves in the
            // socket makes no new edge, so it is never read.
            Trigger::Edge if options.mistake == Some(Mistake::EdgeNoDrain) => ReadMode::Once,
            Trigger::Edge => ReadMode::UntilWouldBlock,
        };
        // Err (ECONNRESET…) goes up: the caller closes the connection.
        let progress = pump::read_ready(&mut self.stream, &mut self.conn, buf, mode, now)?;
        self.drained = progress != Progress::Done;
        match progress {
            // Drained: nothing more until the next report.
            Progress::WouldBlock => self.readable = false,
            // One read (level: reported again if bytes remain), or http-core wants no more now
            // (edge: `readable` stays set, so we come back once it does).
            Progress::Done | Progress::Drained => {
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
    // ANCHOR_END: read_mode

    /// The socket is writable: write what http-core has (sendfile for file bodies).
    fn on_writable(&mut self, zero_copy: bool, now: Instant) -> io::Result<()> {
        match pump::write_ready(&mut self.stream, &mut self.conn, zero_copy, now)? {
            // The send buffer is full (a slow reader): wait for EPOLLOUT.
            Progress::WouldBlock => self.writable = false,
            // Everything is written (partial writes were retried inside).
            Progress::Done | Progress::PeerClosed | Progress::Drained => {}
        }
        Ok(())
    }

    // ANCHOR: epoll_interest
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
    pub(crate) fn reregister(
        &mut self,
        epoll: &Epoll,
        trigger: Trigger,
        token: u64,
    ) -> io::Result<()> {
        let wanted = self.wanted(trigger);
        if wanted != self.registered {
            epoll::modify(epoll, &self.stream, wanted, token)?;
            self.registered = wanted;
        }
        Ok(())
    }
    // ANCHOR_END: epoll_interest

    /// Between requests (nothing to write, no request started beyond part of a request line):
    /// an idle keep-alive connection, which a shutdown closes at once.
    pub(crate) fn is_idle(&self) -> bool {
        pump::is_idle(&self.conn)
    }

    /// `--log`: one line per answered request (never on the hot path unless asked for).
    pub(crate) fn log_exchanges(&mut self) {
        stats::log_exchanges_of(&self.stream, &mut self.conn);
    }

    /// Close the socket and count the connection. Dropping the stream closes the descriptor,
    /// which also removes it from every epoll interest list (no `EPOLL_CTL_DEL` needed) — because
    /// it is the last descriptor of its open file description: epoll watches the description, and
    /// a `dup` of the socket elsewhere would keep it registered (epoll(7), Q6).
    pub(crate) fn close(self, politely: bool) {
        if politely {
            // Lingering (shutdown, discard what came) only if input may be left unread.
            pump::close_finished(&self.stream, &self.conn, self.drained);
        }
        stats::connection_closed(self.conn.responses_sent());
    }
}
