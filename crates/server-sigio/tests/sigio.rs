//! Behaviour specific to signal-driven I/O: what `--signal plain` costs, what `--signal rt`
//! queues, and what an idle connection costs. (The queue overflow is the lab, in `labs.rs`.)

mod common;

use common::*;
use conformance::Server;
use conformance::client::{self, Conn};

/// `--signal plain`: the kernel sends classic `SIGIO` only (no real-time signal at all), and the
/// server still answers a burst, by scanning every socket on each signal.
#[test]
fn plain_sigio_serves_a_burst() {
    let mut server = Server::start(BIN, &["--signal", "plain"]);
    warm_up(&server);
    wait_until_idle_in_loop(&server);
    burst_of_requests(&server, 100);
    let stderr = stop_and_read_stderr(&mut server);
    let (rt, sigio, overflows) = signal_counts(&stderr);
    assert_eq!((rt, overflows), (0, 0), "{stderr}");
    assert!(sigio > 0, "no SIGIO taken at all:\n{stderr}");
    assert!(
        stderr.contains("served 101 requests on 101 connections"),
        "{stderr}"
    );
}

/// `--signal rt` under a normal limit: queued signals that name the socket, no overflow and no
/// scans for a modest burst.
#[test]
fn rt_signals_name_the_socket() {
    let mut server = Server::start(BIN, &["--signal", "rt"]);
    warm_up(&server);
    wait_until_idle_in_loop(&server);
    burst_of_requests(&server, 50);
    let stderr = stop_and_read_stderr(&mut server);
    let (rt, sigio, overflows) = signal_counts(&stderr);
    // Not one per connection: one signal may cover several accepts, and bytes that arrived
    // before O_ASYNC was set are read without a signal. But after the warm-up, accepting the
    // burst takes at least one.
    assert!(rt > 0, "no real-time signal taken:\n{stderr}");
    assert_eq!((sigio, overflows), (0, 0), "{stderr}");
}

/// 300 idle keep-alive connections cost no thread: the server stays one thread (the contrast
/// with `server-aio`, where each holds a helper thread), and a new client is served at once.
#[test]
fn idle_connections_cost_no_thread() {
    let mut server = Server::start(BIN, &["--signal", "rt"]);
    let idle: Vec<Conn> = (0..300).map(|_| Conn::open(server.addr())).collect();
    let resp = client::get(server.addr(), "/index.html");
    assert_eq!(resp.status, 200, "a new client behind 300 idle ones");
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid()))
        .expect("read /proc/<pid>/status of the server");
    let threads: usize = status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a Threads: line");
    eprintln!("server-sigio: {threads} thread(s) with 300 idle connections");
    assert_eq!(
        threads, 1,
        "signal-driven I/O needs no thread per connection"
    );
    let exit = server.stop();
    assert!(exit.success(), "exit status {exit:?}");
    drop(idle);
}
