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
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use signal_hook::consts::{SIGINT, SIGTERM};

/// How long in-flight responses may still run after a shutdown was requested.
pub const GRACE: Duration = Duration::from_secs(5);

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
