//! The syscalls of signal-driven I/O, each behind a small safe function: arming a socket
//! (`F_SETOWN`, `F_SETSIG`, `O_ASYNC`), blocking a set of signals, and taking one queued signal
//! with `sigtimedwait`.
//!
//! Nothing here installs a signal handler: the signals are *blocked*, so the kernel queues them
//! on the process, and the event loop takes them one at a time, synchronously, like events from
//! `epoll_wait`. A handler would run at an arbitrary point of the program, where almost nothing
//! (no allocation, no lock, no `http-core` call) is allowed.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::ptr;
use std::time::Duration;

use libc::c_int;
use server_common::sys::cvt;

// --- Constants `libc` 0.2 does not define for linux-gnu -------------------------------------
// They are in <fcntl.h> behind `_GNU_SOURCE`; the values are the kernel's
// (include/uapi/asm-generic/fcntl.h) and the same on every Linux architecture.

/// `fcntl(fd, F_SETSIG, signo)`: send `signo` instead of `SIGIO` when the socket becomes ready.
/// With a real-time signal (and any nonzero `signo`) the kernel queues one signal per event and
/// fills in `si_fd` (which socket) and `si_band` (which `POLL*` event); with `0` it sends classic
/// `SIGIO`, which carries neither and coalesces with any `SIGIO` already pending.
pub const F_SETSIG: c_int = 10;
/// `fcntl(fd, F_GETSIG)`: the signal set by `F_SETSIG` (0 = classic `SIGIO`). Listed so the
/// four constants `libc` lacks sit together, documented, in one place.
#[allow(dead_code)] // documented for readers; the server only sets the signal
pub const F_GETSIG: c_int = 11;
/// `fcntl(fd, F_SETOWN_EX, &f_owner_ex)`: like `F_SETOWN`, but the owner may be one *thread*
/// (`F_OWNER_TID`), so a multi-threaded program can direct each socket's signals to the thread
/// that serves it. This server is single-threaded and uses plain `F_SETOWN` with its PID.
#[allow(dead_code)] // documented for readers; see F_SETOWN_EX above
pub const F_SETOWN_EX: c_int = 15;
/// `f_owner_ex.type` value meaning "the owner is a thread ID" (for [`F_SETOWN_EX`]).
#[allow(dead_code)] // documented for readers; see F_SETOWN_EX above
pub const F_OWNER_TID: c_int = 0;

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

/// A set of signals (`sigset_t`).
#[derive(Clone, Copy)]
pub struct SigSet {
    raw: libc::sigset_t,
}

impl std::fmt::Debug for SigSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigSet")
    }
}

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

impl SigSet {
    /// The set holding exactly `signals`.
    pub fn of(signals: &[c_int]) -> io::Result<SigSet> {
        let mut raw = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: `sigemptyset` initializes the whole set it is given a valid pointer to.
        let ret = unsafe { libc::sigemptyset(raw.as_mut_ptr()) };
        cvt(ret, "sigemptyset")?;
        // SAFETY: initialized by the successful `sigemptyset` just above.
        let mut raw = unsafe { raw.assume_init() };
        for &signal in signals {
            // SAFETY: `raw` is an initialized set; an invalid number only yields EINVAL.
            cvt(unsafe { libc::sigaddset(&mut raw, signal) }, "sigaddset")?;
        }
        Ok(SigSet { raw })
    }

    /// Block these signals in the calling thread (threads created later inherit the mask). A
    /// blocked signal is not delivered: it stays queued until [`SigSet::wait`] takes it.
    pub fn block(&self) -> io::Result<()> {
        // SAFETY: `raw` is an initialized set; the old mask is not wanted (null is allowed).
        let ret = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &self.raw, ptr::null_mut()) };
        if ret == 0 {
            Ok(())
        } else {
            // pthread_* functions return the error number instead of setting errno.
            let err = io::Error::from_raw_os_error(ret);
            Err(io::Error::new(
                err.kind(),
                format!("pthread_sigmask: {err}"),
            ))
        }
    }

    /// Take one pending signal of this set, waiting at most `timeout` (`None`: forever).
    /// `Ok(None)` means the timeout passed (`EAGAIN`); `Err` of kind `Interrupted` means a signal
    /// outside the set ran a handler (`EINTR`): just wait again.
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<Option<Siginfo>> {
        let ts = timeout.map(|t| libc::timespec {
            tv_sec: libc::time_t::try_from(t.as_secs()).unwrap_or(libc::time_t::MAX),
            // Below 1e9, so it fits every `c_long`.
            tv_nsec: t.subsec_nanos() as libc::c_long,
        });
        let ts_ptr = ts
            .as_ref()
            .map_or(ptr::null(), |ts| ts as *const libc::timespec);
        let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
        // SAFETY: `raw` is an initialized set, `info` points to writable memory of the right
        // size, and `ts_ptr` is null or points to `ts`, which outlives the call.
        let ret = unsafe { libc::sigtimedwait(&self.raw, info.as_mut_ptr(), ts_ptr) };
        if ret == -1 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                // The timeout passed with no signal of the set pending.
                Some(libc::EAGAIN) => Ok(None),
                _ => Err(err),
            };
        }
        // SAFETY: `sigtimedwait` succeeded, so it filled in `info` (and it was zeroed before).
        let info = unsafe { info.assume_init() };
        // SAFETY: reading the `_sigpoll` member of the union: meaningful for our F_SETSIG
        // signal, and plain integers (zero or leftovers) for any other; never a pointer.
        let (fd, band) = unsafe { (info.si_fd(), info.si_band()) };
        Ok(Some(Siginfo {
            signo: ret,
            code: info.si_code,
            fd,
            band,
        }))
    }
}
