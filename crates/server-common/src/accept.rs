//! What each error of `accept(2)` means and what a server should do about it.
//!
//! Running out of descriptors (`EMFILE`, `ENFILE`) is the case that kills naive servers: the
//! pending connection stays in the backlog, so the listener stays readable, and a loop that simply
//! retries spins at 100% CPU. The answer here is to keep serving the connections we have, log once,
//! and stop watching the listener for a short [`BACKOFF`].

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long to stop accepting after running out of file descriptors.
pub const BACKOFF: Duration = Duration::from_millis(100);

/// What to do after `accept` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptVerdict {
    /// No connection is pending (`EAGAIN` on a non-blocking listener): wait for readiness.
    WouldBlock,
    /// Try again now: a signal interrupted the call (`EINTR`), or the client gave up before we
    /// accepted it (`ECONNABORTED`, `EPROTO`, and the network errors Linux passes on).
    Retry,
    /// Out of descriptors or memory: keep serving, do not accept for [`BACKOFF`].
    Backoff,
    /// The listener itself is broken (`EBADF`, `EINVAL` after `shutdown`…): stop accepting.
    Fatal,
}

/// Classify an `accept` error. Logs `EMFILE`/`ENFILE` once per process.
pub fn classify(err: &io::Error) -> AcceptVerdict {
    static LOGGED_FD_LIMIT: AtomicBool = AtomicBool::new(false);
    if err.kind() == io::ErrorKind::WouldBlock {
        return AcceptVerdict::WouldBlock;
    }
    if err.kind() == io::ErrorKind::Interrupted {
        return AcceptVerdict::Retry;
    }
    match err.raw_os_error() {
        Some(
            libc::ECONNABORTED
            | libc::EPROTO
            | libc::ENETDOWN
            | libc::ENOPROTOOPT
            | libc::EHOSTDOWN
            | libc::ENONET
            | libc::EHOSTUNREACH
            | libc::EOPNOTSUPP
            | libc::ENETUNREACH
            | libc::EPERM,
        ) => AcceptVerdict::Retry,
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
            if !LOGGED_FD_LIMIT.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "warning: accept: {err}; pausing accepts for {BACKOFF:?} each time \
                     (raise `ulimit -n`); this is logged once"
                );
            }
            AcceptVerdict::Backoff
        }
        _ => AcceptVerdict::Fatal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(errno: i32) -> AcceptVerdict {
        classify(&io::Error::from_raw_os_error(errno))
    }

    #[test]
    fn a_client_that_gave_up_is_retried_at_once() {
        // accept(2), "Error handling": these are the new connection's errors, already pending
        // on it; the listener is fine and the next connection must not wait.
        for errno in [
            libc::ECONNABORTED,
            libc::EPROTO,
            libc::ENETDOWN,
            libc::ENOPROTOOPT,
            libc::EHOSTDOWN,
            libc::ENONET,
            libc::EHOSTUNREACH,
            libc::EOPNOTSUPP,
            libc::ENETUNREACH,
            libc::EPERM,
            libc::EINTR,
        ] {
            assert_eq!(verdict(errno), AcceptVerdict::Retry, "errno {errno}");
        }
    }

    #[test]
    fn out_of_descriptors_or_memory_backs_off() {
        for errno in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
            assert_eq!(verdict(errno), AcceptVerdict::Backoff, "errno {errno}");
        }
    }

    #[test]
    fn nothing_pending_waits_and_a_broken_listener_is_fatal() {
        assert_eq!(verdict(libc::EAGAIN), AcceptVerdict::WouldBlock);
        assert_eq!(verdict(libc::EBADF), AcceptVerdict::Fatal);
        assert_eq!(verdict(libc::EINVAL), AcceptVerdict::Fatal);
    }
}
