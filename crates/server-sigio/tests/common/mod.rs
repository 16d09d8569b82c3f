//! Helpers shared by this crate's integration tests (`sigio.rs`, `labs.rs`).
#![allow(dead_code)] // each test file uses a part

use std::thread;
use std::time::{Duration, Instant};

use conformance::Server;
use conformance::client::{self, Conn};

pub const BIN: &str = env!("CARGO_BIN_EXE_server-sigio");

/// Stop the server (SIGTERM), check it exits 0, and return its stderr once the final
/// `served …` line has been read from the pipe (the reader thread may lag the exit a little).
pub fn stop_and_read_stderr(server: &mut Server) -> String {
    let status = server.stop();
    assert!(status.success(), "exit status {status:?}");
    let start = Instant::now();
    loop {
        let stderr = server.stderr_text();
        if stderr.contains("served ") || start.elapsed() > Duration::from_secs(2) {
            return stderr;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// The `signals taken: …` line the server prints at exit, as (real-time, SIGIO, overflows).
pub fn signal_counts(stderr: &str) -> (u64, u64, u64) {
    let line = stderr
        .lines()
        .find(|line| line.starts_with("signals taken:"))
        .unwrap_or_else(|| panic!("no `signals taken` line in stderr:\n{stderr}"));
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|word| word.parse().ok())
        .collect();
    match numbers.as_slice() {
        [rt, sigio, overflows] => (*rt, *sigio, *overflows),
        _ => panic!("cannot parse {line:?}"),
    }
}

/// One request first, so the server is surely past its start-up accept (which serves whatever
/// is already in the backlog without any signal) and inside its loop.
pub fn warm_up(server: &Server) {
    let resp = client::get(server.addr(), "/index.html");
    assert_eq!(resp.status, 200, "warm-up request");
}

/// Send `signal` to the server process.
pub fn kill(server: &Server, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(server.pid()).expect("pid fits pid_t");
    // SAFETY: `kill` takes plain integers and touches no memory of ours.
    let ret = unsafe { libc::kill(pid, signal) };
    assert_eq!(ret, 0, "kill({pid}, {signal})");
}

/// Open `count` connections and send one request on each before reading any answer, so that
/// the server gets a burst of events (connection arrivals and data) all at once; then check that
/// every connection gets its response.
pub fn burst_of_requests(server: &Server, count: usize) {
    let mut conns: Vec<Conn> = (0..count).map(|_| Conn::open(server.addr())).collect();
    for conn in &mut conns {
        conn.send(client::get_request("/index.html").as_bytes());
    }
    for conn in &mut conns {
        let resp = conn.read_response();
        conn.expect_status(&resp, 200);
    }
}

/// Wait (at most 2 s) until the server's thread sleeps in `sigtimedwait`, i.e. it is inside its
/// event loop with nothing left to do.
pub fn wait_until_idle_in_loop(server: &Server) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        let wchan =
            std::fs::read_to_string(format!("/proc/{}/wchan", server.pid())).unwrap_or_default();
        if wchan.contains("sigtimedwait") {
            return;
        }
        thread::sleep(Duration::from_millis(5));
    }
}
