//! When a server may close without lingering: `Connection::needs_lingering_close` says whether
//! the peer may still send, or has sent, bytes the connection never read (which would turn the
//! server's FIN into a reset).

mod common;

use common::{Root, drain, parse_one};

const CLOSE_HELLO: &[u8] = b"GET /hello.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";

#[test]
fn a_request_read_to_its_end_needs_no_lingering() {
    let root = Root::new();
    let mut conn = root.conn();
    assert!(!conn.needs_lingering_close(), "nothing was sent yet");
    conn.handle_input(CLOSE_HELLO, root.t0);
    assert_eq!(parse_one(&drain(&mut conn, root.t0)).body, b"hello\n");
    assert!(conn.is_closed());
    assert!(!conn.needs_lingering_close());
}

#[test]
fn an_http10_request_without_keep_alive_needs_no_lingering() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(b"GET /hello.txt HTTP/1.0\r\n\r\n", root.t0);
    drain(&mut conn, root.t0);
    assert!(conn.is_closed());
    assert!(!conn.needs_lingering_close());
}

#[test]
fn bytes_behind_the_closing_request_need_lingering() {
    let root = Root::new();
    let mut conn = root.conn();
    let mut input = CLOSE_HELLO.to_vec();
    input.extend_from_slice(b"GET /hello.txt HTTP/1.1\r\n");
    conn.handle_input(&input, root.t0);
    drain(&mut conn, root.t0);
    assert!(conn.is_closed());
    assert!(
        conn.needs_lingering_close(),
        "a pipelined request was never read"
    );
}

#[test]
fn bytes_arriving_after_the_closing_request_need_lingering() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(CLOSE_HELLO, root.t0);
    drain(&mut conn, root.t0);
    assert!(!conn.needs_lingering_close());
    // A server that reads after the closing request hands over bytes that are then dropped.
    conn.handle_input(b"GET /", root.t0);
    assert!(conn.needs_lingering_close(), "dropped input");
}

#[test]
fn a_refused_request_needs_lingering_until_the_peer_closes() {
    let root = Root::new();
    let mut conn = root.conn();
    // A body far over the limit: 413 at once, with the body still on its way.
    conn.handle_input(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999\r\n\r\n",
        root.t0,
    );
    assert!(conn.needs_lingering_close());
    drain(&mut conn, root.t0);
    assert!(conn.needs_lingering_close());
    // After the peer's FIN nothing more can come: every byte before it was read.
    conn.handle_eof(root.t0);
    assert!(!conn.needs_lingering_close());
}

#[test]
fn a_malformed_request_needs_lingering() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(b"NOT HTTP AT ALL\r\n\r\n", root.t0);
    drain(&mut conn, root.t0);
    assert!(conn.needs_lingering_close());
}

#[test]
fn a_keep_alive_exchange_needs_no_lingering() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(b"GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    drain(&mut conn, root.t0);
    assert!(!conn.is_closed());
    assert!(!conn.needs_lingering_close());
    // The peer closes between requests: nothing is left unread.
    conn.handle_eof(root.t0);
    assert!(conn.is_closed());
    assert!(!conn.needs_lingering_close());
}

// ----- `closes_after_output`: the last response, which may leave together with the FIN -------

#[test]
fn a_closing_response_is_the_last_output_a_keep_alive_one_is_not() {
    let root = Root::new();
    let mut conn = root.conn();
    assert!(!conn.closes_after_output(), "nothing asked yet");
    conn.handle_input(b"GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    assert!(conn.wants_write());
    assert!(!conn.closes_after_output(), "keep-alive: more may follow");
    drain(&mut conn, root.t0);
    assert!(!conn.closes_after_output());
    conn.handle_input(CLOSE_HELLO, root.t0);
    assert!(conn.wants_write());
    assert!(conn.closes_after_output(), "Connection: close");
    drain(&mut conn, root.t0);
    assert!(conn.is_closed());
    assert!(!conn.closes_after_output(), "closed: no output at all");
}

#[test]
fn an_http10_response_and_an_error_are_the_last_output() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(b"GET /hello.txt HTTP/1.0\r\n\r\n", root.t0);
    assert!(conn.closes_after_output(), "HTTP/1.0 without keep-alive");
    let mut conn = root.conn();
    conn.handle_input(b"BAD\r\n\r\n", root.t0);
    assert!(conn.wants_write());
    assert!(conn.closes_after_output(), "400 closes the connection");
}

#[test]
fn a_closing_request_with_work_to_run_is_not_the_last_output_yet() {
    let root = Root::with(|c| c.work_routes = true);
    let mut conn = root.conn();
    // A keep-alive request, then a closing one whose logic the server has not run yet: the
    // first response must not wait for the second.
    conn.handle_input(
        b"GET /cpu/1 HTTP/1.1\r\nHost: a\r\n\r\nGET /block/1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        root.t0,
    );
    assert!(conn.work().is_some(), "the /cpu logic is due");
    conn.work_done(root.t0);
    assert!(conn.work().is_some(), "the /block logic is due");
    assert!(conn.wants_write(), "the /cpu response is queued");
    assert!(!conn.closes_after_output());
    conn.work_done(root.t0);
    assert!(
        conn.closes_after_output(),
        "the closing response now exists"
    );
}
