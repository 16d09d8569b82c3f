//! `server-poll`'s own edge: no `FD_SETSIZE`. More than 1024 connections are open at once, all
//! watched by one `poll` call, and every one of them is served.

use std::time::Instant;

use conformance::Server;
use conformance::client::Conn;
use conformance::fixtures::HELLO_TXT;

/// Comfortably more than select's 1024 descriptors.
const CONNECTIONS: usize = 1100;

#[test]
fn more_than_1024_connections_all_served() {
    // The test holds one end of every connection too.
    server_common::sys::raise_fd_limit().expect("raising the test's RLIMIT_NOFILE");
    let mut server = Server::start(env!("CARGO_BIN_EXE_server-poll"), &[]);
    let mut conns: Vec<Conn> = (0..CONNECTIONS)
        .map(|_| Conn::open(server.addr()))
        .collect();
    for conn in &mut conns {
        conn.send(b"GET /hello.txt HTTP/1.1\r\nHost: test\r\n\r\n");
    }
    for (index, conn) in conns.iter_mut().enumerate() {
        let resp = conn.read_response();
        assert_eq!(resp.status, 200, "connection #{index}: {resp}");
        assert_eq!(resp.body, HELLO_TXT.as_bytes(), "connection #{index}");
    }
    // Every connection is still open (keep-alive): the server really held them all at once,
    // most of them on descriptors select could not have watched.
    let open_fds = std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .expect("reading the server's /proc/PID/fd")
        .count();
    assert!(
        open_fds > CONNECTIONS,
        "server holds {open_fds} descriptors, expected more than {CONNECTIONS}"
    );
    // A second round on the first and the last connection: both are still watched.
    for index in [0, CONNECTIONS - 1] {
        conns[index].send(b"GET /hello.txt HTTP/1.1\r\nHost: test\r\n\r\n");
        let resp = conns[index].read_response();
        assert_eq!(
            resp.status, 200,
            "second request on connection #{index}: {resp}"
        );
    }
    // Idle keep-alive connections are closed at once at shutdown: they must not hold the exit
    // for the whole grace period.
    let asked = Instant::now();
    let status = server.stop();
    assert!(status.success(), "exit status {status:?}");
    assert!(
        asked.elapsed() < server_common::shutdown::GRACE,
        "exit took {:?}: idle connections held it",
        asked.elapsed()
    );
    let stderr = server.stderr_text();
    let expected = format!(
        "served {} requests on {CONNECTIONS} connections",
        CONNECTIONS + 2
    );
    assert!(stderr.contains(&expected), "stderr: {stderr}");
}
