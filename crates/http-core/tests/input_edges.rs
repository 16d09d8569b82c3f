//! Edges of the input side of the API: what counts as progress, what happens to bytes that
//! arrive after the peer's end-of-file or after an error, and where the `Date` comes from.

mod common;

use std::time::Duration;

use common::{Root, drain, parse, parse_one};

#[test]
fn an_empty_read_is_not_progress() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(b"GET / HT", root.t0);
    let deadline = conn.deadline().expect("open");
    conn.handle_input(b"", root.t0 + Duration::from_secs(9));
    assert_eq!(
        conn.deadline(),
        Some(deadline),
        "no byte, no later deadline"
    );
    conn.handle_input(b"T", root.t0 + Duration::from_secs(9));
    assert_eq!(
        conn.deadline(),
        Some(deadline + Duration::from_secs(9)),
        "a byte is progress"
    );
}

#[test]
fn bytes_after_the_peers_eof_are_ignored() {
    let root = Root::new();
    let mut conn = root.conn();
    // A streamed answer keeps the connection in its Respond state after the end-of-file.
    conn.handle_input(b"GET /bytes/100000 HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    conn.handle_eof(root.t0);
    // A buggy caller keeps feeding: the connection must not answer a second request.
    conn.handle_input(b"GET /style.css HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    let out = drain(&mut conn, root.t0);
    let resps = parse(&out, &[]);
    assert_eq!(resps.len(), 1);
    assert_eq!(resps[0].body.len(), 100_000);
    assert!(conn.is_closed());
}

#[test]
fn bytes_after_an_error_are_not_kept() {
    let root = Root::new();
    let mut conn = root.conn();
    let mut input = b"GET / HTTP/1.1\r\n\r\n".to_vec(); // no Host: 400, then close
    input.extend_from_slice(&[b'x'; 10_000]);
    conn.handle_input(&input, root.t0);
    let out = drain(&mut conn, root.t0);
    assert_eq!(parse_one(&out).status, 400);
    assert_eq!(
        conn.buffered_bytes(),
        0,
        "nothing after a rejected head is buffered"
    );
}

#[test]
fn the_date_header_moves_with_the_time_given() {
    let root = Root::new();
    let mut conn = root.conn();
    let later = root.t0 + Duration::from_secs(61);
    conn.handle_input(b"GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", later);
    let resp = parse_one(&drain(&mut conn, later));
    // The fixture's clock origin is 2023-11-14 22:13:20 UTC at `t0`.
    assert_eq!(resp.header("date"), Some("Tue, 14 Nov 2023 22:14:21 GMT"));
}

#[test]
fn unparsed_input_at_the_head_limit_stops_reading_one_byte_less_does_not() {
    let root = Root::with(|c| c.limits.max_head_bytes = 1024);
    // A streamed answer holds the pipeline: what follows it stays unparsed in the buffer.
    let first = b"GET /bytes/100000 HTTP/1.1\r\nHost: a\r\n\r\n";
    for (waiting, wants) in [(1023, true), (1024, false)] {
        let mut conn = root.conn();
        let mut input = first.to_vec();
        input.extend(std::iter::repeat_n(b'G', waiting));
        conn.handle_input(&input, root.t0);
        assert_eq!(conn.wants_read(), wants, "{waiting} bytes waiting");
    }
}

#[test]
fn trailers_arriving_in_their_own_read_end_the_body() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n",
        root.t0,
    );
    conn.handle_input(
        b"X-Sum: 1\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n",
        root.t0,
    );
    let out = drain(&mut conn, root.t0);
    let resps = parse(&out, &[]);
    assert_eq!(resps.len(), 2);
    assert_eq!(resps[0].body, b"hi");
    assert_eq!(resps[1].body, b"hello\n");
}
