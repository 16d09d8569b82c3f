//! `--pattern multi`: one complete epoll loop per thread, nothing shared on the hot path.
//!
//! Each thread owns an epoll instance, a listening socket and its connections: exactly the
//! `single` loop ([`crate::single::EventLoop`]), N times. The listeners are N sockets bound to the same
//! address with `SO_REUSEPORT`; the kernel hashes each new connection (its address and port pair)
//! onto one of them, so connections spread across the loops without any lock, queue or hand-off
//! between threads, and a connection lives on one core from `accept` to `close`. This is how
//! nginx (`reuseport`), Envoy and most high-throughput servers use several cores.
//!
//! Shared: nothing but the read-only `http_core::Config`, the shutdown descriptor (every loop
//! watches it) and the exit counters (one atomic add per *closed connection*).
//!
//! The price: the kernel's hash, not the load, decides which loop gets a connection, so a few
//! heavy connections can land on one thread while another idles; and a loop that blocks (a slow
//! disk read) stalls only its own connections.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::thread;

use server_common::listener::{self, ListenOptions};

use crate::setup::Options;
use crate::single::EventLoop;

/// Bind `workers` `SO_REUSEPORT` listeners to `addr` (port 0: the port the first one got), run one
/// loop per listener on its own thread, and wait for all of them.
pub(crate) fn run(addr: SocketAddr, options: Options, workers: usize) -> io::Result<()> {
    let listeners = bind_all(addr, workers.max(1))?;
    // A second descriptor of the first listener, to announce once every loop runs.
    let announcer = match listeners.first() {
        Some(first) => Some(first.try_clone()?),
        None => None,
    };
    let event_loops = listeners
        .into_iter()
        .map(|listener| EventLoop::new(listener, options.clone()))
        .collect::<io::Result<Vec<_>>>()?;
    let mut loops = Vec::with_capacity(event_loops.len());
    for (i, event_loop) in event_loops.into_iter().enumerate() {
        let shutdown = options.shutdown.clone();
        let handle = thread::Builder::new()
            .name(format!("epoll-loop-{i}"))
            .spawn(move || {
                let outcome = event_loop.run();
                if outcome.is_err() {
                    shutdown.request(); // one loop failed: stop the others too, then exit 1
                }
                outcome
            })?;
        loops.push(handle);
    }
    if let Some(listener) = announcer {
        // Dropping this duplicate descriptor afterwards leaves the listener itself open.
        listener::announce(&listener)?;
    }
    let mut result = Ok(());
    for handle in loops {
        let outcome = handle
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("an event loop thread panicked")));
        if let Err(err) = outcome {
            if result.is_ok() {
                result = Err(err); // report the first failure
            }
        }
    }
    result
}

// ANCHOR: reuseport_bind
/// N listening sockets on one address. With port 0 the first bind picks the port and the others
/// must use that same port, or they would each get a different one.
fn bind_all(addr: SocketAddr, count: usize) -> io::Result<Vec<TcpListener>> {
    let options = ListenOptions {
        nonblocking: true,
        reuse_port: true,
    };
    let first = listener::bind(addr, options)?;
    let bound = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..count {
        listeners.push(listener::bind(bound, options)?);
    }
    Ok(listeners)
}
// ANCHOR_END: reuseport_bind
