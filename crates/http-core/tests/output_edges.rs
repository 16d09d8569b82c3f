//! Edges of the output side of the API: short writes, zero-byte writes, and a caller that says
//! it wrote more than it was given.

mod common;

use std::time::Duration;

use common::{Root, drain, parse_one};
use http_core::bytes_pattern_at;

/// Drain the connection as a slow reader would: `step` bytes per write.
fn drain_in_steps(
    conn: &mut http_core::Connection,
    at: std::time::Instant,
    step: usize,
) -> Vec<u8> {
    let mut all = Vec::new();
    loop {
        common::read_files(conn, at);
        let out = conn.next_output();
        if out.is_empty() {
            return all;
        }
        let n = out.len().min(step);
        all.extend_from_slice(&out[..n]);
        conn.consume(n, at);
    }
}

#[test]
fn generated_bytes_written_in_short_pieces_keep_their_place_in_the_pattern() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(b"GET /bytes/300000 HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    let resp = parse_one(&drain_in_steps(&mut conn, root.t0, 1_000));
    assert_eq!(resp.body.len(), 300_000);
    let wrong = resp
        .body
        .iter()
        .enumerate()
        .position(|(i, &b)| b != bytes_pattern_at(i as u64));
    assert_eq!(wrong, None, "first wrong byte");
}

#[test]
fn a_big_file_written_in_short_pieces_arrives_whole() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    let resp = parse_one(&drain_in_steps(&mut conn, root.t0, 777));
    assert_eq!(resp.body.len(), common::BIG_LEN);
    assert!(
        resp.body
            .iter()
            .enumerate()
            .all(|(i, &b)| b == common::big_byte(i))
    );
}

#[test]
fn a_zero_byte_write_is_not_progress() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(b"GET /bytes/100000 HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    let deadline = conn.deadline().expect("open");
    conn.consume(0, root.t0 + Duration::from_secs(5));
    assert_eq!(
        conn.deadline(),
        Some(deadline),
        "nothing written, no later deadline"
    );
    let n = conn.next_output().len().min(10);
    conn.consume(n, root.t0 + Duration::from_secs(5));
    assert_eq!(conn.deadline(), Some(deadline + Duration::from_secs(5)));
}

#[test]
fn consuming_more_than_was_offered_ends_at_the_buffer_and_frees_it() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(b"GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    common::read_files(&mut conn, root.t0);
    let len = conn.next_output().len();
    conn.consume(5, root.t0);
    conn.consume(len - 5 + 100, root.t0);
    assert!(conn.next_output().is_empty());
    assert_eq!(conn.responses_sent(), 1);
    assert_eq!(conn.buffered_bytes(), 0, "the output buffer is given back");
    // And the connection goes on with the next request.
    conn.handle_input(b"GET /style.css HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    assert_eq!(parse_one(&drain(&mut conn, root.t0)).body, b"body{}\n");
}

#[test]
fn sendfile_bookkeeping_ignores_zero_and_out_of_turn_calls() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    // The head is still pending: a caller that claims to have sent file bytes now is wrong, and
    // must not move the file's offset.
    conn.consume_file(1_000, root.t0);
    let head = conn.next_output().len();
    conn.consume(head, root.t0);
    let range = conn.sendfile_range().expect("the file is next");
    assert_eq!(
        range.offset, 0,
        "the file did not move while the head was pending"
    );
    // Sending nothing is not progress.
    let deadline = conn.deadline().expect("open");
    conn.consume_file(0, root.t0 + Duration::from_secs(5));
    assert_eq!(conn.deadline(), Some(deadline));
    conn.consume_file(10, root.t0 + Duration::from_secs(5));
    assert_eq!(conn.deadline(), Some(deadline + Duration::from_secs(5)));
}

#[test]
fn consuming_past_each_file_chunk_still_ends_the_response() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    let mut rounds = 0;
    loop {
        common::read_files(&mut conn, root.t0);
        let offered = conn.next_output().len();
        if offered == 0 {
            break;
        }
        // A short write first, so the claim of too many bytes comes mid-buffer.
        conn.consume(1, root.t0);
        conn.consume(offered - 1 + 100, root.t0);
        rounds += 1;
        assert!(rounds < 100, "the response never ends");
    }
    assert_eq!(conn.responses_sent(), 1);
    assert_eq!(conn.buffered_bytes(), 0);
}

#[test]
fn an_empty_file_is_a_complete_response_at_once() {
    let root = Root::new();
    common::write(&root.www().join("empty.txt"), b"");
    let mut conn = root.conn();
    conn.handle_input(
        b"GET /empty.txt HTTP/1.1\r\nHost: a\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n",
        root.t0,
    );
    assert_eq!(
        conn.file_read().map(|r| r.len),
        Some(6),
        "the empty body needed no read: the next request's file is already asked for"
    );
    let out = drain(&mut conn, root.t0);
    let resps = common::parse(&out, &[]);
    assert_eq!(resps.len(), 2, "the next request is answered too");
    assert_eq!(resps[0].header("content-length"), Some("0"));
    assert_eq!(resps[1].body, b"hello\n");
    assert_eq!(conn.responses_sent(), 2);
}

#[test]
fn a_server_read_that_claims_more_than_was_asked_closes_the_connection() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(b"GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    let asked = conn.file_read().map(|r| r.len).expect("a read is due");
    let result = conn.fill_file_read(root.t0, |_, _, buf| Ok(buf.len() + 1));
    assert!(result.is_err(), "{asked} asked, more claimed");
    assert!(conn.is_closed());
}

#[test]
fn a_small_file_read_in_short_pieces_still_leaves_whole_with_its_head() {
    use std::os::unix::fs::FileExt;
    let root = Root::with(|config| config.set_file_cache(None));
    let mut conn = root.conn();
    conn.handle_input(b"GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    // A server whose reads return two bytes at a time.
    let mut reads = 0;
    while conn.file_read().is_some() {
        let n = conn
            .fill_file_read(root.t0, |file, offset, buf| {
                let two = buf.len().min(2);
                file.read_at(&mut buf[..two], offset)
            })
            .expect("a short read is fine");
        assert_eq!(n, 2);
        reads += 1;
        if reads < 3 {
            assert!(
                conn.next_output().ends_with(b"\r\n\r\n"),
                "nothing of the body is queued before all of it is read"
            );
        }
    }
    assert_eq!(reads, 3);
    let out = drain(&mut conn, root.t0);
    let resp = parse_one(&out);
    assert_eq!(resp.body, b"hello\n");
    assert_eq!(conn.responses_sent(), 1);
}
