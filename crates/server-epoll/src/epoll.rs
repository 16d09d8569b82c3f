//! The model's own syscalls: `epoll_create1`, `epoll_ctl`, `epoll_wait`, `accept4` and
//! `eventfd`, each behind a small safe function that turns every outcome into an `io::Result`
//! with context. `nix` does the raw calls, so this crate needs no `unsafe` of its own.
//!
//! It also defines the *tokens*: the `u64` a socket is registered with, which `epoll_wait` hands
//! back with each event. That number is all the kernel tells us, so it must say which socket it
//! was: the listener, the shutdown pipe, the wake-up `eventfd`, or a client (slot + serial, see
//! [`crate::slab`]).

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::socket::{SockFlag, accept4};
use server_common::errors::context;
use server_common::timers::ceil_millis;

/// Token of the listening socket.
pub const LISTENER: u64 = u64::MAX;
/// Token of the shutdown descriptor (readable once SIGINT/SIGTERM arrived).
pub const SHUTDOWN: u64 = u64::MAX - 1;
/// Token of the `eventfd` worker threads write to wake the event loop.
pub const NOTIFY: u64 = u64::MAX - 2;

/// How `epoll` reports readiness (the `--trigger` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Trigger {
    /// Level-triggered (the default of `epoll`, and how `select`/`poll` behave): a socket is
    /// reported on every `epoll_wait` for as long as it is readable (or writable, if asked).
    Level,
    /// Edge-triggered (`EPOLLET`): a socket is reported when its state *changes* (new bytes
    /// arrived, send-buffer space freed). The loop must drain it until `EAGAIN`.
    Edge,
}

/// A new epoll instance (`epoll_create1(EPOLL_CLOEXEC)`).
pub fn create() -> io::Result<Epoll> {
    Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| context(e, "epoll_create1"))
}

/// `EPOLL_CTL_ADD`: start watching `fd` for `flags`; events come back with `token`.
pub fn add(epoll: &Epoll, fd: impl AsFd, flags: EpollFlags, token: u64) -> io::Result<()> {
    epoll
        .add(fd, EpollEvent::new(flags, token))
        .map_err(|e| context(e, "epoll_ctl(ADD)"))
}

/// `EPOLL_CTL_MOD`: change what `fd` is watched for (and re-arm it after `EPOLLONESHOT`).
pub fn modify(epoll: &Epoll, fd: impl AsFd, flags: EpollFlags, token: u64) -> io::Result<()> {
    epoll
        .modify(fd, &mut EpollEvent::new(flags, token))
        .map_err(|e| context(e, "epoll_ctl(MOD)"))
}

/// `EPOLL_CTL_DEL`: stop watching `fd`. (Closing a socket removes it by itself; this is for
/// descriptors that stay open, such as a paused listener.)
pub fn delete(epoll: &Epoll, fd: impl AsFd) -> io::Result<()> {
    epoll.delete(fd).map_err(|e| context(e, "epoll_ctl(DEL)"))
}

/// `epoll_wait`: sleep until an event arrives or `timeout` passes (`None` = no timeout), rounding
/// the timeout *up* to whole milliseconds so the loop never wakes just before a deadline.
pub fn wait(
    epoll: &Epoll,
    events: &mut [EpollEvent],
    timeout: Option<Duration>,
) -> io::Result<usize> {
    let timeout = match timeout {
        None => EpollTimeout::NONE,
        Some(t) => EpollTimeout::try_from(ceil_millis(t)).unwrap_or(EpollTimeout::MAX),
    };
    match epoll.wait(events, timeout) {
        Ok(n) => Ok(n),
        // A signal handler ran (SIGTERM's, say) before any event arrived: report no events; the
        // loop checks its deadlines and waits again, and will see the shutdown descriptor.
        Err(Errno::EINTR) => Ok(0),
        Err(e) => Err(context(e, "epoll_wait")),
    }
}

/// `accept4(SOCK_NONBLOCK | SOCK_CLOEXEC)`: the next pending connection, already non-blocking,
/// and with `TCP_NODELAY`, which it inherits from the listener (`listener::bind`). Errors are
/// classified by `server_common::accept::classify`.
pub fn accept_nonblocking(listener: &TcpListener) -> io::Result<TcpStream> {
    let fd = accept4(listener, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC)
        .map_err(io::Error::from)?;
    Ok(TcpStream::from(fd))
}

/// Whether an event says the socket is broken: `EPOLLERR` (an error is pending, e.g. the peer
/// reset the connection) or `EPOLLHUP` (both directions are shut: nothing can be read or written
/// any more). `epoll` reports both even when they were not asked for.
pub fn is_broken(flags: EpollFlags) -> bool {
    flags.intersects(EpollFlags::EPOLLERR | EpollFlags::EPOLLHUP)
}

/// A wake-up call from worker threads to the event loop: an `eventfd` registered in epoll under
/// [`NOTIFY`], plus a flag so that a burst of notifications costs one `write` and one wake-up,
/// not one per message.
#[derive(Debug)]
pub struct Notifier {
    fd: EventFd,
    pending: AtomicBool,
}

impl Notifier {
    /// `eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)`.
    pub fn new() -> io::Result<Notifier> {
        let fd = EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)
            .map_err(|e| context(e, "eventfd"))?;
        Ok(Notifier {
            fd,
            pending: AtomicBool::new(false),
        })
    }

    /// The descriptor to register for `EPOLLIN`.
    pub fn fd(&self) -> &EventFd {
        &self.fd
    }

    /// Worker side: call *after* publishing the message (queue push, state change).
    pub fn notify(&self) {
        if self.pending.swap(true, Ordering::AcqRel) {
            return; // a wake-up is already on its way and the loop has not yet looked
        }
        match self.fd.write(1) {
            // The counter is non-zero: the descriptor is readable and the loop wakes up.
            Ok(_) => {}
            // EAGAIN: the counter is at its maximum, so the descriptor is readable anyway.
            Err(Errno::EAGAIN) => {}
            // Nothing else can fail on a valid eventfd; the loop still wakes on its next timer.
            Err(_) => {}
        }
    }

    /// Loop side: call when [`NOTIFY`] is reported, *before* collecting the messages; a message
    /// published after this call notifies again.
    pub fn reset(&self) {
        // Ok: the counter is back to zero. EAGAIN: it already was (a spurious report).
        let _ = self.fd.read();
        // A swap, not a store: reading the workers' `true` makes their messages visible to us.
        self.pending.swap(false, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Why a readiness loop reads files with a plain `pread`: epoll will not even watch a regular
    /// file (`epoll_ctl(2)`: `EPERM`, "the target file fd does not support epoll").
    #[test]
    fn epoll_refuses_to_watch_a_regular_file() {
        let epoll = create().expect("epoll_create1");
        let file = std::fs::File::open(std::env::current_exe().expect("test binary path"))
            .expect("open a regular file");
        let err = add(&epoll, &file, EpollFlags::EPOLLIN, 1).expect_err("EPERM");
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
        assert!(err.to_string().contains("os error 1"), "EPERM: {err}");
    }
}
