//! The lab of `server-select` (`scripts/lab.sh select-past-fd-setsize`), checked: without the
//! guard (`--mistake select-past-fd-setsize`) the first descriptor ≥ 1024 reaches
//! `FdSet::insert`, which panics and ends the server with every connection; with the guard the
//! same crowd gets `503`s past the limit and the server keeps serving. (`fd_setsize.rs` checks
//! the guarded behaviour in detail.) One test per lab, `lab_NAME`.

use std::time::Duration;

use conformance::Server;
use conformance::client::Conn;

const BIN: &str = env!("CARGO_BIN_EXE_server-select");
/// Comfortably more than 1024 descriptors on the server's side.
const CONNECTIONS: usize = 1100;
const GET_HELLO: &[u8] = b"GET /hello.txt HTTP/1.1\r\nHost: lab\r\n\r\n";

/// Open `CONNECTIONS` connections; a connect that fails (the server died) ends the crowd early.
fn crowd(server: &Server) -> Vec<Conn> {
    let mut conns = Vec::new();
    for _ in 0..CONNECTIONS {
        match Conn::try_open(server.addr()) {
            Ok(conn) => conns.push(conn),
            Err(_) => break,
        }
    }
    conns
}

/// Lab `select-past-fd-setsize`.
#[test]
fn lab_select_past_fd_setsize() {
    // The test holds one end of every connection too.
    server_common::sys::raise_fd_limit().expect("raising the test's RLIMIT_NOFILE");

    let mut server = Server::start(BIN, &["--mistake", "select-past-fd-setsize"]);
    let conns = crowd(&server);
    let status = server.wait_exit(Duration::from_secs(10));
    let stderr = server.stderr_text();
    println!(
        "with the mistake: exit {status:?} after {} connections",
        conns.len()
    );
    assert!(
        status.is_some_and(|s| !s.success()),
        "with the mistake the server survived {} connections:\n{stderr}",
        conns.len()
    );
    assert!(
        stderr.contains("panicked"),
        "with the mistake the server died without a panic:\n{stderr}"
    );
    drop(conns);

    let mut server = Server::start(BIN, &[]);
    let mut conns = crowd(&server);
    assert_eq!(
        conns.len(),
        CONNECTIONS,
        "without the mistake a connect failed"
    );
    let last = conns.last_mut().expect("connections");
    let resp = last.read_response();
    assert_eq!(
        resp.status, 503,
        "the last connection, past FD_SETSIZE: {resp}"
    );
    conns[0].send(GET_HELLO);
    let resp = conns[0].read_response();
    assert_eq!(
        resp.status, 200,
        "the first connection, after the crowd: {resp}"
    );
    drop(conns);
    let status = server.stop();
    assert!(
        status.success(),
        "without the mistake: exit status {status:?}"
    );
}
