//! What a connection keeps in memory: only the input it has not parsed yet, only the bodies it
//! will answer with, and never a growing prefix of what it has already handled.

mod common;

use common::{Root, drain, exchange, parse, parse_one};

#[test]
fn parsed_input_is_dropped_as_requests_complete_across_reads() {
    let root = Root::new();
    let mut conn = root.conn();
    let one = b"GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n";
    // Reads that always end in the middle of the next request: the leftover is carried from read
    // to read, and what was parsed must not pile up in front of it.
    // Ten requests and one byte per read: a read ends exactly at a request's end only once in
    // `one.len()` reads, so most reads leave a partial request behind.
    let stream = one.repeat(2_000);
    let mut answered = 0;
    let mut peak = 0;
    for piece in stream.chunks(10 * one.len() + 1) {
        conn.handle_input(piece, root.t0);
        peak = peak.max(conn.buffered_bytes());
        answered += parse(&drain(&mut conn, root.t0), &[]).len();
    }
    assert_eq!(answered, 2_000);
    // Ten responses of about 300 bytes (the file's validators make a head of ~280) and one
    // partial request: a few KiB, whereas a kept prefix would grow to 72 KB.
    assert!(peak < 8 * 1024, "peak {peak} bytes buffered");
}

#[test]
fn a_body_nobody_asked_for_is_read_and_dropped() {
    let root = Root::new();
    let mut conn = root.conn();
    // POST to a file: 405, but the body must still be read to keep the stream in step. It is not
    // kept: only `/echo` bodies are.
    conn.handle_input(
        b"POST /hello.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 200000\r\n\r\n",
        root.t0,
    );
    for _ in 0..20 {
        conn.handle_input(&[b'x'; 9_000], root.t0);
    }
    assert!(
        conn.buffered_bytes() < 16 * 1024,
        "{} bytes held for a body that is dropped",
        conn.buffered_bytes()
    );
    conn.handle_input(&[b'x'; 20_000], root.t0);
    let resp = parse_one(&drain(&mut conn, root.t0));
    assert_eq!(resp.status, 405);
    // The same body to /echo is kept, and comes back.
    let mut body = b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 20000\r\n\r\n".to_vec();
    body.extend_from_slice(&[b'e'; 20_000]);
    let (out, _) = exchange(&root, &body);
    assert_eq!(parse_one(&out).body.len(), 20_000);
}

#[test]
fn a_big_body_to_get_echo_is_not_kept_either() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(
        b"GET /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n",
        root.t0,
    );
    conn.handle_input(&[b'x'; 60_000], root.t0);
    assert!(conn.buffered_bytes() < 16 * 1024);
}

#[test]
fn a_new_request_joins_the_output_while_little_of_it_is_left() {
    let root = Root::new();
    let mut conn = root.conn();
    // Just over 64 KiB of answers: pipelining stops there.
    conn.handle_input(
        &b"GET /bytes/1000 HTTP/1.1\r\nHost: a\r\n\r\n".repeat(70),
        root.t0,
    );
    let queued = conn.next_output().len();
    assert!(queued >= 65_536);
    // Most of it is written; what is left is far below the limit, so a new request is answered
    // at once and appended (one write for both).
    conn.consume(queued - 1_000, root.t0);
    conn.handle_input(b"GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    common::read_files(&mut conn, root.t0);
    assert!(
        conn.next_output().ends_with(b"hello\n"),
        "the new answer waits behind {} bytes",
        conn.next_output().len()
    );
}

#[test]
fn thousands_of_empty_lines_before_a_request_are_skipped() {
    // RFC 9112 §2.2 lets a server ignore empty lines before a request line; they are consumed as
    // they come, so they neither count against the head limit nor stay in memory.
    let root = Root::new();
    let mut input = b"\r\n".repeat(20_000);
    input.extend_from_slice(b"GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n");
    let (out, _) = exchange(&root, &input);
    assert_eq!(parse_one(&out).body, b"hello\n");
}
