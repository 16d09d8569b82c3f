//! Helpers shared by this crate's integration tests (`aio.rs`, `labs.rs`).
#![allow(dead_code)] // each test file uses a part

use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use conformance::Server;

pub const BIN: &str = env!("CARGO_BIN_EXE_server-aio");

/// The `Threads:` line of `/proc/<pid>/status`.
pub fn thread_count(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("read /proc/<pid>/status of the server");
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a Threads: line in /proc/<pid>/status")
}

/// Wait (at most 10 s) until the server runs at least `want` threads; returns the count seen.
pub fn wait_for_threads(server: &Server, want: usize) -> usize {
    let start = Instant::now();
    loop {
        let n = thread_count(server.pid());
        if n >= want || start.elapsed() > Duration::from_secs(10) {
            return n;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Open `count` keep-alive connections that send nothing.
pub fn idle_connections(server: &Server, count: usize) -> Vec<TcpStream> {
    (0..count)
        .map(|_| TcpStream::connect(server.addr()).expect("connect an idle client"))
        .collect()
}
