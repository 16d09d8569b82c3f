//! What every pattern's loop starts with: the options it runs under, an epoll instance watching
//! the listener and the shutdown descriptor, the listening socket with its `EMFILE` back-off,
//! and how long the loop may wait.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_core::Config;
use nix::sys::epoll::{Epoll, EpollFlags};
use server_common::accept::{self, AcceptVerdict};
use server_common::listener;
use server_common::shutdown::{Grace, Shutdown};
use server_common::timers::{self, Deadlines};

use crate::epoll::{self, LISTENER, SHUTDOWN, Trigger};

/// What every loop of every pattern needs to know.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) config: Arc<Config>,
    pub(crate) trigger: Trigger,
    pub(crate) zero_copy: bool,
    pub(crate) shutdown: Shutdown,
    /// A classic mistake made on purpose for a lab (`--mistake`); `None` when serving for real.
    pub(crate) mistake: Option<Mistake>,
}

/// The classic mistakes this server can make on purpose (`--mistake NAME`, hidden from `--help`),
/// each the subject of a lab: `scripts/lab.sh NAME` shows what goes wrong, and a test in
/// `tests/labs.rs` checks that it does go wrong with the mistake and not without it. These exist
/// **only to demonstrate the mistake**; without the flag none of them changes anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Mistake {
    /// Lab `edge-no-drain` (`--trigger edge`): read once per readiness event instead of until
    /// `EAGAIN`. Bytes left in the socket make no new edge: the client waits for its answer until
    /// the idle timeout.
    EdgeNoDrain,
    /// Lab `no-oneshot` (`--pattern reactor`): register sockets without `EPOLLONESHOT`. A socket
    /// a worker is handling is reported again, and a second worker gets it (`race: …` on stderr).
    NoOneshot,
    /// Lab `accept-emfile-spin` (`--trigger level`): when `accept` fails with `EMFILE`, keep
    /// watching the listener instead of pausing it. Its backlog is not empty, so it is reported
    /// again at once, forever: 100 % CPU.
    AcceptEmfileSpin,
}

/// What every pattern's loop starts with: an epoll instance watching the listener (token
/// `LISTENER`) and the shutdown wake-up descriptor (token `SHUTDOWN`).
pub(crate) fn open_loop(
    listener: TcpListener,
    options: &Options,
) -> io::Result<(Epoll, Listening)> {
    let epoll = epoll::create()?;
    let listening = Listening::new(&epoll, listener, options)?;
    epoll::add(
        &epoll,
        options.shutdown.wake_fd(),
        EpollFlags::EPOLLIN,
        SHUTDOWN,
    )?;
    Ok((epoll, listening))
}

// ANCHOR: timers_epoll_wait_timeout
/// How long a pattern's loop may wait in `epoll_wait`: until the nearest connection deadline,
/// the end of an accept back-off, or the end of the grace period.
pub(crate) fn wait_timeout(
    now: Instant,
    deadlines: &Deadlines<u64>,
    listening: &Listening,
    grace: &Grace,
) -> Option<Duration> {
    let nearest = [
        deadlines.next_deadline(),
        listening.paused_until(),
        grace.end(),
    ];
    timers::wait_until_nearest(now, nearest)
}
// ANCHOR_END: timers_epoll_wait_timeout

/// The listening socket of one loop, and whether epoll watches it right now.
#[derive(Debug)]
pub(crate) struct Listening {
    listener: Option<TcpListener>,
    trigger: Trigger,
    /// `EMFILE` backoff: the listener is out of the interest list until this deadline.
    paused_until: Option<Instant>,
    /// `--mistake accept-emfile-spin` (lab only): no back-off at `EMFILE`.
    spin_at_emfile: bool,
}

impl Listening {
    /// Register `listener` (level- or edge-triggered like the clients).
    pub(crate) fn new(epoll: &Epoll, listener: TcpListener, options: &Options) -> io::Result<Self> {
        let trigger = options.trigger;
        epoll::add(epoll, &listener, Self::flags(trigger), LISTENER)?;
        Ok(Listening {
            listener: Some(listener),
            trigger,
            paused_until: None,
            spin_at_emfile: options.mistake == Some(Mistake::AcceptEmfileSpin),
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
    pub(crate) fn accept(&mut self, epoll: &Epoll, now: Instant) -> io::Result<Option<TcpStream>> {
        loop {
            let Some(listener) = &self.listener else {
                return Ok(None); // closed by a shutdown earlier in this batch
            };
            if self.paused_until.is_some() {
                return Ok(None);
            }
            // ANCHOR: emfile_backoff
            match epoll::accept_nonblocking(listener) {
                Ok(stream) => return Ok(Some(stream)),
                Err(err) => match accept::classify(&err) {
                    // The backlog is empty: the normal end of a drain (or a spurious report).
                    AcceptVerdict::WouldBlock => return Ok(None),
                    // EINTR, or the client gave up before we took it: try the next one.
                    AcceptVerdict::Retry => continue,
                    // The mistake of lab `accept-emfile-spin`: give up for now, listener still
                    // watched. Level-triggered, its backlog is reported again at once: a spin.
                    AcceptVerdict::Backoff if self.spin_at_emfile => return Ok(None),
                    // EMFILE/ENFILE: the connection stays in the backlog, so the listener stays
                    // readable; stop watching it for a while instead of spinning (logged once).
                    AcceptVerdict::Backoff => {
                        let until = now + accept::BACKOFF;
                        epoll::delete(epoll, listener)?;
                        self.paused_until = Some(until);
                        return Ok(None);
                    }
                    // The listener itself is broken: nothing sensible is left to do.
                    AcceptVerdict::Fatal => {
                        return Err(io::Error::new(err.kind(), format!("accept: {err}")));
                    }
                },
            }
            // ANCHOR_END: emfile_backoff
        }
    }

    /// When the `EMFILE` back-off ends, if one is running (a deadline for the loop's wait).
    pub(crate) fn paused_until(&self) -> Option<Instant> {
        self.paused_until
    }

    /// Once the back-off has ended, watch the listener again (what waits in its backlog is
    /// reported at once: level and edge alike report a non-empty backlog right after
    /// `EPOLL_CTL_ADD`).
    pub(crate) fn resume_if_due(&mut self, epoll: &Epoll, now: Instant) {
        if self.paused_until.is_none_or(|until| now < until) {
            return;
        }
        self.paused_until = None;
        if let Some(listener) = &self.listener {
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
