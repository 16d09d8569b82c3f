//! Behaviour specific to POSIX AIO on glibc: the helper-thread pool (one thread per pending
//! read), `--max-connections`, and waking reads that cannot be cancelled.

use std::thread;
use std::time::{Duration, Instant};

use conformance::Server;
use conformance::client;

mod common;

use common::*;

/// 300 idle connections each hold a glibc helper thread blocked in `read` (the cost of this
/// model, counted in /proc), yet a new client is served at once because `aio_init` sized the
/// pool; SIGTERM then wakes all 300 blocked reads (`shutdown(SHUT_RDWR)`) and the server exits 0.
fn idle_connections_hold_threads(notify: &str) {
    let mut server = Server::start(BIN, &["--notify", notify]);
    let idle = idle_connections(&server, 300);
    let threads = wait_for_threads(&server, 300);
    eprintln!("server-aio --notify {notify}: {threads} threads with 300 idle connections");
    assert!(
        threads >= 300,
        "expected a helper thread per idle connection, /proc says {threads} threads"
    );
    let start = Instant::now();
    let resp = client::get(server.addr(), "/index.html");
    assert_eq!(resp.status, 200, "a new client behind 300 idle ones");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the new client waited {:?}",
        start.elapsed()
    );
    let status = server.stop();
    assert!(status.success(), "exit status {status:?}");
    let stderr = server.stderr_text();
    assert!(
        stderr.contains("served 1 requests on 301 connections"),
        "{stderr}"
    );
    drop(idle);
}

#[test]
fn idle_connections_hold_threads_signal() {
    idle_connections_hold_threads("signal");
}

#[test]
fn idle_connections_hold_threads_suspend() {
    idle_connections_hold_threads("suspend");
}

/// Beyond `--max-connections` a client gets `503` (and the log line), not a hang; once a slot
/// is free again, clients are served.
#[test]
fn beyond_max_connections_is_503() {
    let mut server = Server::start(BIN, &["--max-connections", "2"]);
    let mut idle = idle_connections(&server, 2);
    // Both are accepted (and counted) before the acceptor sees the third.
    wait_for_threads(&server, 4);
    let resp = client::get(server.addr(), "/index.html");
    assert_eq!(resp.status, 503, "the third connection");
    // Free a slot: the server sees EOF on the idle connection and closes it.
    drop(idle.pop());
    let start = Instant::now();
    loop {
        let resp = client::get(server.addr(), "/index.html");
        if resp.status == 200 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "still {} after a slot was freed",
            resp.status
        );
        thread::sleep(Duration::from_millis(50));
    }
    let status = server.stop();
    assert!(status.success(), "exit status {status:?}");
    let stderr = server.stderr_text();
    assert!(stderr.contains("--max-connections 2"), "{stderr}");
    drop(idle);
}

/// A read blocked in a helper thread cannot be cancelled; the idle timeout must still close the
/// connection (by shutting the socket down) and free its thread.
#[test]
fn idle_timeout_wakes_blocked_read() {
    let server = Server::start(BIN, &["--timeout", "1"]);
    let mut conn = client::Conn::open(server.addr());
    let before = wait_for_threads(&server, 3);
    assert!(
        before >= 3,
        "main, acceptor and one helper thread: {before}"
    );
    if let Err(err) = conn.wait_closed(Duration::from_secs(5)) {
        panic!("an idle connection outlived --timeout 1: {err}");
    }
}
