//! Idle keep-alive connections held open during a run (the C10K scenarios): each sends one
//! request and then stays silent.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::sys::{self, Epoll, WRITABLE};

/// Idle keep-alive connections held open during a run.
#[derive(Debug)]
pub struct IdleConnections {
    fds: Vec<OwnedFd>,
    /// How many were asked for.
    pub requested: usize,
}

impl IdleConnections {
    /// Connections that were established.
    pub fn established(&self) -> usize {
        self.fds.len()
    }

    /// Open `count` connections to `addr` (non-blocking, all at once) and wait up to `within`
    /// for them to be established; failures are dropped. Towards a loopback IPv4 address the
    /// sources are spread over 127.0.0.2–127.0.0.201 so that large counts do not run out of
    /// ephemeral ports (about 28k per source and destination).
    pub fn open(addr: SocketAddr, count: usize, within: Duration) -> io::Result<IdleConnections> {
        let epoll = Epoll::new()?;
        let mut pending: Vec<Option<OwnedFd>> = Vec::with_capacity(count);
        let mut fds = Vec::with_capacity(count);
        let spread = matches!(addr, SocketAddr::V4(v4) if v4.ip().is_loopback()) && count > 1000;
        for i in 0..count {
            let fd = sys::tcp_socket(&addr).map_err(|e| sys::context(e, "socket (idle)"))?;
            if spread {
                let source = Ipv4Addr::new(127, 0, 0, 2 + (i % 200) as u8);
                sys::bind_source(&fd, source).map_err(|e| sys::context(e, "bind (idle)"))?;
            }
            match sys::connect(&fd, &addr) {
                Ok(true) => fds.push(fd),
                Ok(false) => {
                    epoll.add(fd.as_raw_fd(), WRITABLE, pending.len() as u64)?;
                    pending.push(Some(fd));
                }
                Err(_) => {} // refused or out of ports: counted as not established
            }
        }
        let deadline = Instant::now() + within;
        let mut waiting = pending.len();
        let mut events = vec![sys::EMPTY_EVENT; 1024];
        while waiting > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let n = epoll.wait(&mut events, left.as_millis().clamp(1, 1000) as i32)?;
            for event in &events[..n] {
                let slot = event.u64 as usize;
                if let Some(fd) = pending.get_mut(slot).and_then(Option::take) {
                    waiting -= 1;
                    if matches!(sys::socket_error(fd.as_raw_fd()), Ok(None)) {
                        // Leave the epoll set (it would report writability forever).
                        let _ = epoll.modify(fd.as_raw_fd(), 0, slot as u64);
                        fds.push(fd);
                    }
                }
            }
        }
        Ok(IdleConnections {
            fds,
            requested: count,
        })
    }

    /// No idle connections.
    pub fn none() -> IdleConnections {
        IdleConnections {
            fds: Vec::new(),
            requested: 0,
        }
    }
}
