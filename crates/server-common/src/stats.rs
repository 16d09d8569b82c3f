//! Process-wide counters, printed once at exit.
//!
//! Servers add a connection's totals when it closes (one atomic add per connection, not per
//! request), so the hot path stays free of shared writes. The harness compares the printed
//! request count with what its load generator counted.

use std::sync::atomic::{AtomicU64, Ordering};

static REQUESTS: AtomicU64 = AtomicU64::new(0);
static CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// Record a closed connection that answered `responses` requests.
pub fn connection_closed(responses: u64) {
    CONNECTIONS.fetch_add(1, Ordering::Relaxed);
    REQUESTS.fetch_add(responses, Ordering::Relaxed);
}

/// Requests answered so far, on connections that have closed.
pub fn requests() -> u64 {
    REQUESTS.load(Ordering::Relaxed)
}

/// Connections closed so far.
pub fn connections() -> u64 {
    CONNECTIONS.load(Ordering::Relaxed)
}

/// Print `served N requests on M connections` to stderr (called by every server on exit).
pub fn report() {
    eprintln!(
        "served {} requests on {} connections",
        requests(),
        connections()
    );
}

/// Print the exchanges a connection recorded (only when `--log` is set; see
/// [`http_core::Config::log_requests`]).
pub fn log_exchanges(peer: impl std::fmt::Display, conn: &mut http_core::Connection) {
    while let Some(x) = conn.take_exchange() {
        eprintln!(
            "{peer} \"{} {}\" {} {}",
            x.method, x.target, x.status, x.body_bytes
        );
    }
}

/// [`log_exchanges`] for a loop that does not keep its peers' addresses: asks the socket
/// (`getpeername`, once per logged batch; only with `--log`), `-` if it cannot say.
pub fn log_exchanges_of(stream: &std::net::TcpStream, conn: &mut http_core::Connection) {
    match stream.peer_addr() {
        Ok(peer) => log_exchanges(peer, conn),
        Err(_) => log_exchanges("-", conn),
    }
}
