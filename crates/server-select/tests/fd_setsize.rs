//! `server-select`'s own edge: `FD_SETSIZE`. Connections whose descriptor does not fit in an
//! `fd_set` are answered `503` and closed (never a panic or a write past the set), while the
//! connections that fit keep being served.

use std::thread;
use std::time::{Duration, Instant};

use conformance::Server;
use conformance::client::Conn;
use conformance::fixtures::HELLO_TXT;

/// Comfortably more than 1024 descriptors.
const CONNECTIONS: usize = 1100;
/// The last connections: their server-side descriptors are certainly ≥ 1024.
const SURELY_REFUSED: usize = 50;

const GET_HELLO: &[u8] = b"GET /hello.txt HTTP/1.1\r\nHost: test\r\n\r\n";

#[test]
fn beyond_fd_setsize_refused_with_503_first_connections_still_served() {
    // The test holds one end of every connection too.
    server_common::sys::raise_fd_limit().expect("raising the test's RLIMIT_NOFILE");
    let mut server = Server::start(env!("CARGO_BIN_EXE_server-select"), &[]);
    let mut conns: Vec<Conn> = (0..CONNECTIONS)
        .map(|_| Conn::open(server.addr()))
        .collect();

    for (index, conn) in conns
        .iter_mut()
        .enumerate()
        .skip(CONNECTIONS - SURELY_REFUSED)
    {
        let resp = match conn.try_read_response(false) {
            Ok(resp) => resp,
            Err(err) => panic!("connection #{index}: no 503: {err}"),
        };
        assert_eq!(resp.status, 503, "connection #{index}: {resp}");
        assert!(resp.connection_has("close"), "connection #{index}: {resp}");
        assert!(
            conn.wait_closed(Duration::from_secs(2)).is_ok(),
            "connection #{index}: not closed after the 503"
        );
    }

    // The connections that fit are still watched: the very first one, and one in the middle.
    for index in [0, CONNECTIONS / 2] {
        conns[index].send(GET_HELLO);
        let resp = conns[index].read_response();
        assert_eq!(resp.status, 200, "connection #{index}: {resp}");
        assert_eq!(resp.body, HELLO_TXT.as_bytes(), "connection #{index}");
    }

    // One warning per burst, not one per connection.
    let stderr = server.stderr_text();
    let warnings = stderr.matches("FD_SETSIZE").count();
    assert!(
        (1..=3).contains(&warnings),
        "{warnings} warnings for {SURELY_REFUSED}+ refused connections; stderr:\n{stderr}"
    );

    // Once the crowd leaves, new connections fit again and are served.
    drop(conns);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let mut conn = Conn::open(server.addr());
        conn.send(GET_HELLO);
        let resp = conn.read_response();
        if resp.status == 200 {
            break;
        }
        assert!(
            resp.status == 503 && Instant::now() < deadline,
            "after the crowd left: {resp}"
        );
        thread::sleep(Duration::from_millis(50));
    }
    let status = server.stop();
    assert!(status.success(), "exit status {status:?}");
}
