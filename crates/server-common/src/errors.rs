//! What an I/O error means to a server, and error messages that say what was being attempted.

use std::io;

/// The peer reset the connection or is gone (`ECONNRESET`, `EPIPE`, `ECONNABORTED`,
/// `ENOTCONN`): closing is the whole answer, and no log line is due — on the open internet this
/// happens all the time.
pub fn is_disconnect(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::NotConnected
    )
}

/// `err` with what was being attempted in front of its message (`"epoll_ctl(ADD): …"`), keeping
/// its kind. Takes anything that converts into an `io::Error`, such as nix's `Errno`.
pub fn context(err: impl Into<io::Error>, what: &str) -> io::Error {
    let err = err.into();
    io::Error::new(err.kind(), format!("{what}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vanished_peer_is_a_disconnect_other_errors_are_not() {
        for errno in [
            libc::ECONNRESET,
            libc::EPIPE,
            libc::ECONNABORTED,
            libc::ENOTCONN,
        ] {
            assert!(
                is_disconnect(&io::Error::from_raw_os_error(errno)),
                "{errno}"
            );
        }
        for errno in [libc::EAGAIN, libc::EBADF, libc::ENOMEM, libc::EINVAL] {
            assert!(
                !is_disconnect(&io::Error::from_raw_os_error(errno)),
                "{errno}"
            );
        }
    }

    #[test]
    fn context_names_the_attempt_and_keeps_the_kind() {
        let err = context(nix::errno::Errno::EADDRINUSE, "bind 127.0.0.1:80");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        assert!(err.to_string().starts_with("bind 127.0.0.1:80: "), "{err}");
    }
}
