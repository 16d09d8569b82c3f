//! The lab of `server-blocking` (`scripts/lab.sh blocking-hol`), checked: with a pool of two
//! threads, two idle keep-alive connections hold both, and a third client is not served — not
//! even read — until one of them leaves (head-of-line blocking). With a thread per connection
//! (no `--pool`) the third client is answered at once. No mistake flag: `--pool` is the mistake,
//! for keep-alive traffic.

use std::time::Duration;

use conformance::Server;
use conformance::client::Conn;
use conformance::lab::answered_within;

const BIN: &str = env!("CARGO_BIN_EXE_server-blocking");

const REQUEST: &[u8] = b"GET /hello.txt HTTP/1.1\r\nHost: lab\r\n\r\n";

/// A keep-alive client that asked once, got its answer, and now keeps its connection idle.
fn idle_client(server: &Server) -> Conn {
    let mut conn = Conn::open(server.addr());
    conn.send(REQUEST);
    let resp = conn.read_response();
    conn.expect_status(&resp, 200);
    conn
}

#[test]
fn lab_blocking_hol() {
    for pool in [Some("2"), None] {
        let mut args = vec!["--timeout", "5"];
        if let Some(threads) = pool {
            args.extend(["--pool", threads]);
        }
        let mut server = Server::start(BIN, &args);
        let mut idle = vec![idle_client(&server), idle_client(&server)];
        let mut third = Conn::open(server.addr());
        third.send(REQUEST);
        let answered = answered_within(third.stream(), Duration::from_secs(1));
        println!("pool {pool:?}: third client answered within 1 s: {answered}");
        if pool.is_some() {
            assert!(
                !answered,
                "with --pool 2 and two idle connections, the third client was answered"
            );
            // One idle client leaves: its worker reads EOF and takes the waiting connection.
            drop(idle.pop());
            assert!(
                answered_within(third.stream(), Duration::from_secs(1)),
                "with --pool 2, the third client was still not answered 1 s after a worker freed up"
            );
        } else {
            assert!(answered, "thread per connection: the third client waited");
        }
        let resp = third.read_response();
        third.expect_status(&resp, 200);
        drop(idle);
        drop(third);
        let status = server.stop();
        assert!(status.success(), "{pool:?}: exit status {status:?}");
    }
}
