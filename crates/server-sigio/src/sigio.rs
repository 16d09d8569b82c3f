//! The syscalls of signal-driven I/O, each behind a small safe function: arming a socket
//! (`F_SETOWN`, `F_SETSIG`, `O_ASYNC`), blocking a set of signals, and taking one queued signal
//! with `sigtimedwait`.
//!
//! Three more `fcntl` commands of the same family, which `libc` 0.2 also lacks (values from the
//! kernel's `include/uapi/asm-generic/fcntl.h`; see `fcntl(2)`, "Managing signals"):
//!
//! | command | value | what it does |
//! |---|---:|---|
//! | `F_GETSIG` | 11 | read back the signal set by `F_SETSIG` (0 = classic `SIGIO`) |
//! | `F_SETOWN_EX` | 15 | like `F_SETOWN`, but the owner may be one *thread*: with `type = F_OWNER_TID` (0) a multi-threaded program sends each socket's signals to the thread that serves it |
//! | `F_GETOWN_EX` | 16 | read back that owner |
//!
//! This server is single-threaded, so plain `F_SETOWN` with its PID is enough.
//!
//! Nothing here installs a signal handler: the signals are *blocked*, so the kernel queues them
//! on the process, and the event loop takes them one at a time, synchronously, like events from
//! `epoll_wait`. A handler would run at an arbitrary point of the program, where almost nothing
//! (no allocation, no lock, no `http-core` call) is allowed.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use libc::c_int;
use server_common::signals::SigSet;
use server_common::sys::cvt;

// --- A constant `libc` 0.2 does not define for linux-gnu ------------------------------------
// It is in <fcntl.h> behind `_GNU_SOURCE`; the value is the kernel's
// (include/uapi/asm-generic/fcntl.h) and the same on every Linux architecture. Its relatives,
// which this single-threaded server does not need, are listed in the module doc.

/// `fcntl(fd, F_SETSIG, signo)`: send `signo` instead of `SIGIO` when the socket becomes ready.
/// With a real-time signal (and any nonzero `signo`) the kernel queues one signal per event and
/// fills in `si_fd` (which socket) and `si_band` (which `POLL*` event); with `0` it sends classic
/// `SIGIO`, which carries neither and coalesces with any `SIGIO` already pending.
pub const F_SETSIG: c_int = 10;

/// The real-time signal this server asks the kernel to send for socket events. glibc keeps the
/// first two real-time signals for itself (threads, timers), so `SIGRTMIN()` is already the first
/// free one; we take the next, leaving `SIGRTMIN()` to any library that assumes it.
pub fn io_signal() -> c_int {
    libc::SIGRTMIN() + 1
}

/// Make `fd` signal-driven: the kernel sends `signal` (or classic `SIGIO` when `None`) to this
/// process each time the socket becomes readable or writable, or a connection arrives on it.
///
/// Order matters: owner and signal first, `O_ASYNC` last, so no event is signalled before the
/// kernel knows where and what to send. Accepted sockets inherit none of these settings from the
/// listener: call this on each one.
// ANCHOR: sigio_enable
pub fn enable(fd: RawFd, signal: Option<c_int>) -> io::Result<()> {
    // SAFETY: `fcntl(F_SETOWN)` takes an int argument and touches no memory of ours; a bad fd
    // only yields EBADF.
    let ret = unsafe { libc::fcntl(fd, libc::F_SETOWN, libc::getpid()) };
    cvt(ret, "fcntl(F_SETOWN)")?;
    // SAFETY: as above; `F_SETSIG` takes an int (0 = classic SIGIO).
    let ret = unsafe { libc::fcntl(fd, F_SETSIG, signal.unwrap_or(0)) };
    cvt(ret, "fcntl(F_SETSIG)")?;
    // SAFETY: `F_GETFL` takes no argument and returns the status flags.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) }, "fcntl(F_GETFL)")?;
    // SAFETY: `F_SETFL` takes an int of status flags; we only add O_ASYNC and O_NONBLOCK.
    let ret = unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_ASYNC | libc::O_NONBLOCK) };
    cvt(ret, "fcntl(F_SETFL, O_ASYNC|O_NONBLOCK)")?;
    Ok(())
}
// ANCHOR_END: sigio_enable

/// One signal taken from the queue, with the fields signal-driven I/O fills in.
#[derive(Debug, Clone, Copy)]
pub struct Siginfo {
    /// Which signal.
    pub signo: c_int,
    /// Why it was sent: `POLL_IN`/`POLL_OUT`/… for a socket event, `SI_KERNEL` for the plain
    /// `SIGIO` the kernel sends when the real-time queue is full, `SI_USER` for `kill`.
    pub code: c_int,
    /// The socket the event is about (meaningful for the `F_SETSIG` signal only).
    pub fd: RawFd,
    /// The `poll(2)` bits of the event (`POLLIN|POLLRDNORM`, `POLLOUT|…`, `POLLHUP`, `POLLERR`).
    pub band: libc::c_long,
}

/// Take one pending signal of `set`, waiting at most `timeout` (`None`: forever), with the
/// fields signal-driven I/O fills in. `Ok(None)`: the timeout passed; `Err` of kind
/// `Interrupted`: a handler ran, wait again.
pub fn take(set: &SigSet, timeout: Option<Duration>) -> io::Result<Option<Siginfo>> {
    let Some(info) = set.wait(timeout)? else {
        return Ok(None);
    };
    // SAFETY: reading the `_sigpoll` member of the union: meaningful for our F_SETSIG signal,
    // and plain integers (zero or leftovers) for any other; never a pointer.
    let (fd, band) = unsafe { (info.si_fd(), info.si_band()) };
    Ok(Some(Siginfo {
        signo: info.si_signo,
        code: info.si_code,
        fd,
        band,
    }))
}
