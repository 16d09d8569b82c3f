//! Turning SIGINT/SIGTERM into something an event loop can wait on.
//!
//! A signal handler may do almost nothing safely, so ours (installed through `signal-hook`) only
//! sets a flag and writes one byte into a pipe. The pipe's read end is never drained: once a
//! shutdown is requested it stays readable, so every event loop that registered it (`select`,
//! `poll`, `epoll`, one loop or eight) wakes up and sees the flag.
//!
//! Shutdown protocol shared by every server: stop accepting, let in-flight responses finish for at
//! most [`GRACE`], then exit 0.

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use signal_hook::consts::{SIGINT, SIGTERM};

/// How long in-flight responses may still run after a shutdown was requested.
pub const GRACE: Duration = Duration::from_secs(5);

/// One event loop's shutdown grace period: not begun, or running until its end. Every loop
/// follows the same protocol with it: [`Grace::begin`] when the shutdown descriptor wakes it
/// (stop accepting, close idle connections), [`Grace::end`] among the deadlines of its wait, and
/// [`Grace::finished`] after each turn.
#[derive(Debug, Clone, Copy, Default)]
pub struct Grace {
    end: Option<Instant>,
}

impl Grace {
    /// Not begun.
    pub fn new() -> Grace {
        Grace::default()
    }

    /// Begin the grace period at `now`. `false` if it had begun already: the caller has already
    /// stopped accepting and closed what was idle.
    pub fn begin(&mut self, now: Instant) -> bool {
        if self.end.is_some() {
            return false;
        }
        self.end = Some(now + GRACE);
        true
    }

    /// Whether a shutdown is under way: a connection that becomes idle now is closed, not kept.
    pub fn begun(&self) -> bool {
        self.end.is_some()
    }

    /// When the grace period ends (a deadline for the loop's wait); `None` before it begins.
    pub fn end(&self) -> Option<Instant> {
        self.end
    }

    /// Whether the grace period has run out at `now`.
    pub fn over(&self, now: Instant) -> bool {
        self.end.is_some_and(|end| now >= end)
    }

    /// Whether the loop may stop: the grace period has begun, and either no connection is left
    /// (`nothing_open`) or its time is over.
    pub fn finished(&self, now: Instant, nothing_open: bool) -> bool {
        self.end.is_some_and(|end| nothing_open || now >= end)
    }
}

/// The shutdown request: a flag plus a file descriptor that becomes (and stays) readable.
#[derive(Debug, Clone)]
pub struct Shutdown {
    flag: Arc<AtomicBool>,
    wake_read: Arc<UnixStream>,
    wake_write: Arc<UnixStream>,
}

impl Shutdown {
    /// Install the SIGINT and SIGTERM handlers. Call once, early in `main`.
    pub fn install() -> io::Result<Shutdown> {
        let flag = Arc::new(AtomicBool::new(false));
        let (wake_read, wake_write) = UnixStream::pair()?;
        wake_read.set_nonblocking(true)?;
        wake_write.set_nonblocking(true)?;
        for signal in [SIGINT, SIGTERM] {
            signal_hook::flag::register(signal, Arc::clone(&flag))?;
            signal_hook::low_level::pipe::register(signal, wake_write.try_clone()?)?;
        }
        Ok(Shutdown {
            flag,
            wake_read: Arc::new(wake_read),
            wake_write: Arc::new(wake_write),
        })
    }

    /// Whether SIGINT or SIGTERM has arrived (or [`Shutdown::request`] was called).
    pub fn requested(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Ask for a shutdown from inside the program, exactly as a signal would.
    pub fn request(&self) {
        self.flag.store(true, Ordering::Release);
        // One byte makes the wake descriptor readable; a full buffer means it already is.
        let _ = (&*self.wake_write).write(&[1]);
    }

    /// A descriptor that is readable from the moment a shutdown is requested (never drained):
    /// register it for read readiness next to the listener.
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake_read.as_fd()
    }

    /// Block the calling thread until a shutdown is requested (for servers without an event loop,
    /// such as the supervisor thread of `server-blocking`).
    pub fn wait(&self) {
        while !self.requested() {
            let mut fds = [PollFd::new(self.wake_read.as_fd(), PollFlags::POLLIN)];
            // EINTR (a signal arrived) and readiness both lead back to the flag check.
            let _ = poll(&mut fds, PollTimeout::NONE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_begins_once_and_ends_after_grace() {
        let t0 = Instant::now();
        let mut grace = Grace::new();
        assert!(!grace.begun());
        assert_eq!(grace.end(), None);
        assert!(!grace.finished(t0, true), "no shutdown yet: never finished");
        assert!(!grace.over(t0 + GRACE * 2));
        assert!(grace.begin(t0));
        assert!(!grace.begin(t0 + GRACE), "a second begin changes nothing");
        assert!(grace.begun());
        assert_eq!(grace.end(), Some(t0 + GRACE));
        assert!(grace.finished(t0, true), "nothing open: done at once");
        assert!(!grace.finished(t0, false));
        let just_before = t0 + GRACE - Duration::from_millis(1);
        assert!(!grace.over(just_before));
        assert!(!grace.finished(just_before, false));
        assert!(grace.over(t0 + GRACE));
        assert!(grace.finished(t0 + GRACE, false), "time is up");
    }

    /// One test for the process-wide handlers: `install` registers SIGINT/SIGTERM once.
    #[test]
    fn a_request_sets_the_flag_wakes_the_descriptor_and_ends_wait() {
        let shutdown = Shutdown::install().expect("signal handlers");
        assert!(!shutdown.requested());
        let mut fds = [PollFd::new(shutdown.wake_fd(), PollFlags::POLLIN)];
        assert_eq!(poll(&mut fds, PollTimeout::ZERO).expect("poll"), 0, "quiet");
        let requester = shutdown.clone();
        let started = std::time::Instant::now();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            requester.request();
        });
        shutdown.wait();
        assert!(
            started.elapsed() >= Duration::from_millis(50),
            "wait returned before the request"
        );
        assert!(shutdown.requested());
        let mut fds = [PollFd::new(shutdown.wake_fd(), PollFlags::POLLIN)];
        assert_eq!(
            poll(&mut fds, PollTimeout::ZERO).expect("poll"),
            1,
            "readable"
        );
        thread.join().expect("requester");
        // Requested stays requested; waiting again returns at once.
        shutdown.wait();
    }

    #[test]
    fn grace_is_five_seconds() {
        assert_eq!(GRACE, Duration::from_secs(5));
    }
}
