//! Binding the listening socket, and the announce line every harness and test waits for.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{FromRawFd, IntoRawFd};

use nix::sys::socket::{
    self, AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage, sockopt,
};

use crate::errors::context;

/// How to set up the listening socket.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListenOptions {
    /// `O_NONBLOCK` on the listener (every readiness and signal-driven server wants this).
    pub nonblocking: bool,
    /// `SO_REUSEPORT`, so several sockets (one per event loop) can bind the same port and the
    /// kernel spreads new connections across them.
    pub reuse_port: bool,
}

// ANCHOR: listen_backlog
/// The listen backlog we ask for; the kernel caps it at `net.core.somaxconn` (4096 here).
pub const BACKLOG: i32 = 4096;

/// Create, configure, bind and listen. `SO_REUSEADDR` is always set so a restarted server does
/// not fail on connections still in `TIME_WAIT`; `TCP_NODELAY` is set for every connection the
/// listener will accept.
pub fn bind(addr: SocketAddr, options: ListenOptions) -> io::Result<TcpListener> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let mut flags = SockFlag::SOCK_CLOEXEC;
    if options.nonblocking {
        flags |= SockFlag::SOCK_NONBLOCK;
    }
    let fd =
        socket::socket(family, SockType::Stream, flags, None).map_err(|e| context(e, "socket"))?;
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true).map_err(|e| context(e, "SO_REUSEADDR"))?;
    // TCP_NODELAY once, here: Linux builds each socket `accept` returns as a clone of the
    // listening socket, options included, so every connection starts with Nagle's algorithm off
    // (a response is one write; Nagle would hold its short tail until the previous segment is
    // acknowledged) without a `setsockopt` per connection. `tests` below checks the inheritance.
    socket::setsockopt(&fd, sockopt::TcpNoDelay, &true).map_err(|e| context(e, "TCP_NODELAY"))?;
    if options.reuse_port {
        socket::setsockopt(&fd, sockopt::ReusePort, &true)
            .map_err(|e| context(e, "SO_REUSEPORT"))?;
    }
    socket::bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrStorage::from(addr),
    )
    .map_err(|e| context(e, &format!("bind {addr}")))?;
    let backlog = Backlog::new(BACKLOG).unwrap_or(Backlog::MAXCONN);
    socket::listen(&fd, backlog).map_err(|e| context(e, "listen"))?;
    // SAFETY: `fd` is a freshly created, owned, listening TCP socket; ownership moves into the
    // `TcpListener`, which will close it exactly once.
    Ok(unsafe { TcpListener::from_raw_fd(fd.into_raw_fd()) })
}
// ANCHOR_END: listen_backlog

/// Print the one line that says the server is ready: `listening on http://HOST:PORT`, with the
/// real port, and flush it (stdout may be a pipe read by a test or the harness).
pub fn announce(listener: &TcpListener) -> io::Result<()> {
    let addr = listener.local_addr()?;
    let mut out = io::stdout().lock();
    writeln!(out, "listening on http://{addr}")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::{FcntlArg, OFlag, fcntl};

    fn nonblocking(listener: &TcpListener) -> bool {
        let flags = fcntl(listener, FcntlArg::F_GETFL).expect("F_GETFL");
        OFlag::from_bits_truncate(flags).contains(OFlag::O_NONBLOCK)
    }

    #[test]
    fn the_nonblocking_option_is_the_listeners_o_nonblock() {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        for wanted in [true, false] {
            let options = ListenOptions {
                nonblocking: wanted,
                reuse_port: false,
            };
            let listener = bind(any, options).expect("bind");
            assert_eq!(nonblocking(&listener), wanted);
        }
    }

    /// What makes the one `setsockopt` in `bind` enough: an accepted socket has the listener's
    /// `TCP_NODELAY` (and a plain listener's accepted sockets do not).
    #[test]
    fn accepted_sockets_inherit_tcp_nodelay() {
        let options = ListenOptions {
            nonblocking: false,
            reuse_port: false,
        };
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let ours = bind(any, options).expect("bind");
        let plain = TcpListener::bind(any).expect("bind a plain listener");
        for (listener, expected) in [(&ours, true), (&plain, false)] {
            let _client = std::net::TcpStream::connect(listener.local_addr().expect("address"))
                .expect("connect");
            let (accepted, _) = listener.accept().expect("accept");
            assert_eq!(accepted.nodelay().expect("TCP_NODELAY"), expected);
        }
    }
}
