//! The lab of `server-uring` (`scripts/lab.sh uring-few-buffers`), checked: with one provided
//! buffer for 50 connections whose requests arrive together, receives complete with `ENOBUFS`
//! and are retried, and every request is still answered; with the default pool (512 buffers)
//! none does. Throughput is the script's business (printed, never asserted). One test per lab,
//! `lab_NAME`.

mod common;

use std::time::Duration;

use common::{BIN, skip_without_uring};
use conformance::Server;
use conformance::client::Conn;
use conformance::lab::wait_until_stopped;
use nix::sys::signal::Signal;

const CLIENTS: usize = 50;
const ROUNDS: usize = 3;

/// `ROUNDS` times: pause the server, let all `CLIENTS` keep-alive connections send a request,
/// resume it, and read every answer. Returns the server's count of `ENOBUFS` receives.
fn burst(buffers: &str) -> u64 {
    let mut server = Server::start(BIN, &["--buffers", buffers]);
    let mut conns: Vec<Conn> = (0..CLIENTS).map(|_| Conn::open(server.addr())).collect();
    for conn in &mut conns {
        conn.send(b"GET /hello.txt HTTP/1.1\r\nHost: lab\r\n\r\n");
        let resp = conn.read_response();
        conn.expect_status(&resp, 200);
    }
    for _ in 0..ROUNDS {
        server.signal(Signal::SIGSTOP);
        assert!(
            wait_until_stopped(server.pid(), Duration::from_secs(5)),
            "the server did not stop"
        );
        for conn in &mut conns {
            conn.send(b"GET /hello.txt HTTP/1.1\r\nHost: lab\r\n\r\n");
        }
        server.signal(Signal::SIGCONT);
        for conn in &mut conns {
            let resp = conn.read_response();
            conn.expect_status(&resp, 200);
        }
    }
    drop(conns);
    let status = server.stop();
    assert!(
        status.success(),
        "--buffers {buffers}: exit status {status:?}"
    );
    let stderr = server.stderr_text();
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("receives that found the buffer pool empty"))
        .and_then(|rest| rest.rsplit(' ').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no ENOBUFS count in stderr:\n{stderr}"))
}

/// Lab `uring-few-buffers`.
#[test]
fn lab_uring_few_buffers() {
    if skip_without_uring() {
        return;
    }
    let few = burst("1");
    println!("--buffers 1: {few} receives found the pool empty");
    assert!(
        few > 0,
        "with one buffer for {CLIENTS} simultaneous requests, no receive got ENOBUFS"
    );
    let many = burst("512");
    println!("--buffers 512: {many} receives found the pool empty");
    assert_eq!(many, 0, "the default pool ran out");
}
