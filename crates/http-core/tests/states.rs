//! One test per state of the connection and per behaviour across requests: keep-alive,
//! pipelining, streaming, zero-copy, timeouts, end-of-file, bounded buffers.

mod common;

use std::time::Duration;

use common::{BIG_LEN, Root, big_byte, drain, exchange, parse, parse_one};
use http_core::{Connection, Exchange, FILE_CHUNK_BYTES, Phase, bytes_pattern_at};

const GET_HELLO: &[u8] = b"GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n";

#[test]
fn state_request_line() {
    let root = Root::new();
    let mut conn = root.conn();
    assert_eq!(conn.phase(), Phase::RequestLine);
    assert!(conn.wants_read() && !conn.wants_write() && !conn.is_closed());
    conn.handle_input(b"GET /hello.txt HT", root.t0);
    assert_eq!(conn.phase(), Phase::RequestLine);
    assert!(conn.next_output().is_empty());
}

#[test]
fn state_headers() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(b"GET /hello.txt HTTP/1.1\r\nHost: a\r\n", root.t0);
    assert_eq!(conn.phase(), Phase::Headers);
    assert!(conn.wants_read() && !conn.wants_write());
    conn.handle_input(b"\r\n", root.t0);
    let resp = parse_one(&drain(&mut conn, root.t0));
    assert_eq!(resp.body, b"hello\n");
}

#[test]
fn state_body_content_length() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n01234",
        root.t0,
    );
    assert_eq!(conn.phase(), Phase::Body);
    assert!(conn.wants_read() && !conn.wants_write());
    conn.handle_input(b"56789", root.t0);
    let resp = parse_one(&drain(&mut conn, root.t0));
    assert_eq!(resp.body, b"0123456789");
    assert_eq!(conn.phase(), Phase::RequestLine);
}

#[test]
fn state_body_chunked() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
        root.t0,
    );
    assert_eq!(conn.phase(), Phase::Body);
    conn.handle_input(b"0\r\n", root.t0);
    assert_eq!(conn.phase(), Phase::Body, "trailers still to come");
    conn.handle_input(b"\r\n", root.t0);
    let resp = parse_one(&drain(&mut conn, root.t0));
    assert_eq!(resp.body, b"abc");
}

#[test]
fn expect_100_continue() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
        root.t0,
    );
    assert_eq!(drain(&mut conn, root.t0), b"HTTP/1.1 100 Continue\r\n\r\n");
    assert_eq!(conn.responses_sent(), 0, "100 is not a final response");
    conn.handle_input(b"data", root.t0);
    let resp = parse_one(&drain(&mut conn, root.t0));
    assert_eq!((resp.status, resp.body.as_slice()), (200, &b"data"[..]));
    assert_eq!(conn.responses_sent(), 1);
}

#[test]
fn expect_100_not_sent_when_body_already_there() {
    let root = Root::new();
    let (out, _) = exchange(
        &root,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi",
    );
    assert_eq!(parse_one(&out).status, 200);
}

#[test]
fn expect_100_over_limit_gets_413_only() {
    let root = Root::new();
    let (out, conn) = exchange(
        &root,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 9999999\r\n\r\n",
    );
    let resp = parse_one(&out);
    assert_eq!(resp.status, 413);
    assert!(conn.is_closed());
}

#[test]
fn expect_100_not_for_http10() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(
        b"POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n",
        root.t0,
    );
    assert!(drain(&mut conn, root.t0).is_empty());
}

#[test]
fn state_respond_while_streaming() {
    let root = Root::new();
    let mut conn = root.conn();
    // A big file, then another request right behind it.
    let mut input = b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n".to_vec();
    input.extend_from_slice(GET_HELLO);
    conn.handle_input(&input, root.t0);
    assert_eq!(conn.phase(), Phase::Respond);
    assert!(conn.wants_write());
    let out = drain(&mut conn, root.t0);
    let resps = parse(&out, &[]);
    assert_eq!(resps.len(), 2);
    assert_eq!(resps[0].body.len(), BIG_LEN);
    assert!(
        resps[0]
            .body
            .iter()
            .enumerate()
            .all(|(i, &b)| b == big_byte(i))
    );
    assert_eq!(resps[1].body, b"hello\n");
    assert_eq!(conn.responses_sent(), 2);
    assert_eq!(conn.phase(), Phase::RequestLine);
}

#[test]
fn keepalive_many_requests_one_connection() {
    let root = Root::new();
    let mut conn = root.conn();
    for i in 1..=5 {
        conn.handle_input(GET_HELLO, root.t0);
        let resp = parse_one(&drain(&mut conn, root.t0));
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("connection"), None);
        assert_eq!(conn.responses_sent(), i);
        assert!(!conn.is_closed());
        assert_eq!(
            conn.buffered_bytes(),
            0,
            "idle between requests holds no buffer"
        );
    }
}

#[test]
fn closing_after_connection_close() {
    let root = Root::new();
    let mut conn = root.conn();
    let mut input = b"GET /hello.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".to_vec();
    input.extend_from_slice(GET_HELLO); // never answered
    conn.handle_input(&input, root.t0);
    assert_eq!(conn.phase(), Phase::Respond, "the file is still to be read");
    common::read_files(&mut conn, root.t0);
    assert_eq!(conn.phase(), Phase::Closing);
    assert!(!conn.wants_read());
    assert!(!conn.is_closed(), "the response is still to be written");
    let out = drain(&mut conn, root.t0);
    assert_eq!(parse(&out, &[]).len(), 1);
    assert!(conn.is_closed());
    assert_eq!(conn.phase(), Phase::Closed);
    assert_eq!(conn.deadline(), None);
}

#[test]
fn pipelining_answers_in_order_in_one_write() {
    let root = Root::new();
    let mut conn = root.conn();
    let input = [
        &b"GET /bytes/3 HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nping",
        b"HEAD /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n",
        GET_HELLO,
        b"GET /hel", // the start of a sixth request is kept
    ]
    .concat();
    conn.handle_input(&input, root.t0);
    // The server reads the file the last one needs; then all five responses are in memory, and
    // one next_output() holds them all.
    common::read_files(&mut conn, root.t0);
    let first = conn.next_output().to_vec();
    let resps = parse(&first, &[false, false, true, false, false]);
    let statuses: Vec<u16> = resps.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 200, 404, 200]);
    assert_eq!(resps[0].body, b"abc");
    assert_eq!(resps[1].body, b"ping");
    assert_eq!(resps[4].body, b"hello\n");
    // Responses count as sent only when their last byte is consumed.
    let second_end = first.len() - resps[2..].iter().map(len_on_wire).sum::<usize>();
    conn.consume(second_end - 1, root.t0);
    assert_eq!(conn.responses_sent(), 1);
    conn.consume(1, root.t0);
    assert_eq!(conn.responses_sent(), 2);
    drain(&mut conn, root.t0);
    assert_eq!(conn.responses_sent(), 5);
    assert_eq!(conn.phase(), Phase::RequestLine);
    conn.handle_input(b"lo.txt HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    assert_eq!(parse_one(&drain(&mut conn, root.t0)).body, b"hello\n");
}

fn len_on_wire(r: &common::Resp) -> usize {
    let head: usize = r.headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
    let status_line = "HTTP/1.1 200 OK\r\n".len() - 2 + reason_len(r.status);
    let body = if r.status == 200 && r.body.is_empty() {
        0 // HEAD
    } else {
        r.body.len()
    };
    status_line + head + 2 + body
}

fn reason_len(status: u16) -> usize {
    match status {
        200 => 2,
        404 => "Not Found".len(),
        _ => unreachable!(),
    }
}

#[test]
fn pipelining_stops_when_output_is_large() {
    let root = Root::new();
    let mut conn = root.conn();
    // 30 requests for 16 KiB each: all buffered, but at most ~64 KiB of answers is queued.
    let one = b"GET /bytes/16384 HTTP/1.1\r\nHost: a\r\n\r\n";
    let input: Vec<u8> = one.repeat(30);
    conn.handle_input(&input, root.t0);
    let queued = conn.next_output().len();
    assert!(queued < 100 * 1024, "queued {queued}");
    assert!(conn.buffered_bytes() < 200 * 1024);
    let out = drain(&mut conn, root.t0);
    let resps = parse(&out, &[]);
    assert_eq!(resps.len(), 30);
    assert!(resps.iter().all(|r| r.body.len() == 16384));
    assert_eq!(conn.responses_sent(), 30);
}

#[test]
fn bounded_input_when_client_never_reads() {
    let root = Root::new();
    let mut conn = root.conn();
    let one = b"GET /bytes/20000 HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut fed = 0;
    // The client sends and sends, and never reads: the server feeds input while asked to.
    for _ in 0..10_000 {
        if !conn.wants_read() {
            break;
        }
        conn.handle_input(&one.repeat(100), root.t0);
        fed += 1;
    }
    assert!(!conn.wants_read(), "the connection stops asking for input");
    assert!(conn.wants_write());
    assert!(fed < 100, "fed {fed} times");
    assert!(
        conn.buffered_bytes() < 512 * 1024,
        "buffered {}",
        conn.buffered_bytes()
    );
}

#[test]
fn big_file_streams_in_bounded_chunks() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    let mut all = Vec::new();
    let mut peak = 0;
    loop {
        common::read_files(&mut conn, root.t0);
        let out = conn.next_output();
        if out.is_empty() {
            break;
        }
        assert!(out.len() <= FILE_CHUNK_BYTES.max(1024));
        // A slow reader: write 1000 bytes at a time.
        let n = out.len().min(1000);
        all.extend_from_slice(&out[..n]);
        conn.consume(n, root.t0);
        peak = peak.max(conn.buffered_bytes());
    }
    assert!(peak <= FILE_CHUNK_BYTES + 1024, "peak {peak}");
    let resp = parse_one(&all);
    assert_eq!(resp.body.len(), BIG_LEN);
    assert!(resp.body.iter().enumerate().all(|(i, &b)| b == big_byte(i)));
    assert_eq!(
        conn.buffered_bytes(),
        0,
        "chunk buffer freed after the file"
    );
}

#[test]
fn sendfile_range_after_head() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    assert!(conn.sendfile_range().is_none(), "the head comes first");
    assert!(
        conn.file_read().is_none(),
        "no chunk is read before the head is out: the server may still choose sendfile"
    );
    let head_len = conn.next_output().len();
    conn.consume(head_len - 1, root.t0);
    assert!(conn.file_read().is_none(), "one byte of the head is left");
    conn.consume(1, root.t0);
    assert_eq!(
        conn.file_read().map(|r| (r.offset, r.len)),
        Some((0, 65_536))
    );
    let range = conn.sendfile_range().expect("file part is next");
    assert_eq!((range.offset, range.len), (0, BIG_LEN as u64));
    conn.consume_file(50_000, root.t0);
    let range = conn.sendfile_range().expect("rest of the file");
    assert_eq!((range.offset, range.len), (50_000, BIG_LEN as u64 - 50_000));
    // Mixing: the rest may also be read and written through next_output.
    assert_eq!(conn.file_read().map(|r| r.offset), Some(50_000));
    common::read_files(&mut conn, root.t0);
    let chunk = conn.next_output().to_vec();
    assert_eq!(chunk[0], big_byte(50_000));
    assert!(
        conn.sendfile_range().is_none(),
        "buffered bytes precede the file"
    );
    conn.consume(chunk.len(), root.t0);
    let range = conn.sendfile_range().expect("after the chunk");
    assert_eq!(range.offset, 50_000 + chunk.len() as u64);
    let rest = range.len;
    assert_eq!(conn.responses_sent(), 0);
    conn.consume_file(rest, root.t0);
    assert_eq!(conn.responses_sent(), 1);
    assert!(!conn.wants_write());
    assert!(conn.sendfile_range().is_none());
}

#[test]
fn small_file_is_one_buffer_with_head() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(GET_HELLO, root.t0);
    assert!(
        conn.sendfile_range().is_none(),
        "a small body is never sent with sendfile"
    );
    assert!(
        conn.next_output().ends_with(b"\r\n\r\n"),
        "the head, before the read"
    );
    assert_eq!(conn.file_read().map(|r| (r.offset, r.len)), Some((0, 6)));
    common::read_files(&mut conn, root.t0);
    assert!(conn.file_read().is_none());
    let out = conn.next_output();
    assert!(out.ends_with(b"\r\n\r\nhello\n"));
}

#[test]
fn generated_bytes_large_streams_from_static_pattern() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(b"GET /bytes/1000000 HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    let resp = parse_one(&drain(&mut conn, root.t0));
    assert_eq!(resp.body.len(), 1_000_000);
    assert!(
        resp.body
            .iter()
            .enumerate()
            .all(|(i, &b)| b == bytes_pattern_at(i as u64))
    );
    assert_eq!(conn.buffered_bytes(), 0);
}

#[test]
fn truncated_file_closes_connection() {
    let root = Root::new();
    let path = root.www().join("shrinks.bin");
    common::write(&path, &vec![7u8; 300_000]);
    let mut conn = root.conn();
    conn.handle_input(b"GET /shrinks.bin HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    let head = conn.next_output().len();
    conn.consume(head, root.t0);
    common::read_files(&mut conn, root.t0);
    let n = conn.next_output().len();
    conn.consume(n, root.t0);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .expect("open")
        .set_len(100)
        .expect("truncate");
    let read = conn.fill_file_read(root.t0, |file, offset, buf| {
        use std::os::unix::fs::FileExt;
        file.read_at(buf, offset)
    });
    assert_eq!(
        read.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::UnexpectedEof)
    );
    assert!(conn.next_output().is_empty());
    assert!(conn.is_closed());
    assert_eq!(conn.responses_sent(), 0);
}

#[test]
fn timeout_idle_closes_at_once() {
    let root = Root::new();
    let mut conn = root.conn();
    let deadline = conn.deadline().expect("deadline");
    assert_eq!(deadline, root.t0 + Duration::from_secs(10));
    conn.handle_timeout(deadline - Duration::from_millis(1));
    assert!(!conn.is_closed(), "early wake-up is ignored");
    conn.handle_timeout(deadline);
    assert!(conn.is_closed());
    assert!(conn.next_output().is_empty());
}

#[test]
fn timeout_idle_after_keepalive_request() {
    let root = Root::new();
    let mut conn = root.conn();
    let t1 = root.t0 + Duration::from_secs(3);
    conn.handle_input(GET_HELLO, t1);
    drain(&mut conn, t1);
    assert_eq!(conn.deadline(), Some(t1 + Duration::from_secs(10)));
    conn.handle_timeout(t1 + Duration::from_secs(10));
    assert!(conn.is_closed());
}

fn assert_408(conn: &mut Connection, at: std::time::Instant) {
    conn.handle_timeout(at);
    assert!(!conn.is_closed());
    let resp = parse_one(&drain(conn, at));
    assert_eq!(resp.status, 408);
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(conn.is_closed());
}

#[test]
fn timeout_in_request_line_gives_408() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(b"GET /hel", root.t0);
    assert_408(&mut conn, root.t0 + Duration::from_secs(10));
}

#[test]
fn timeout_in_headers_gives_408() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(b"GET / HTTP/1.1\r\nHost: a\r\n", root.t0);
    let t1 = root.t0 + Duration::from_secs(4);
    conn.handle_input(b"X-Slow: 1\r\n", t1); // progress moves the deadline
    assert_eq!(conn.deadline(), Some(t1 + Duration::from_secs(10)));
    conn.handle_timeout(root.t0 + Duration::from_secs(10));
    assert!(!conn.wants_write(), "not yet due");
    assert_408(&mut conn, t1 + Duration::from_secs(10));
}

#[test]
fn timeout_in_body_gives_408() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc",
        root.t0,
    );
    assert_408(&mut conn, root.t0 + Duration::from_secs(11));
}

#[test]
fn timeout_while_client_does_not_read_closes() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    let n = conn.next_output().len();
    conn.consume(n, root.t0);
    assert!(conn.wants_write());
    conn.handle_timeout(root.t0 + Duration::from_secs(10));
    assert!(conn.is_closed());
    assert!(!conn.wants_write());
}

#[test]
fn timeout_while_408_not_read_closes() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(b"GET /", root.t0);
    let t1 = root.t0 + Duration::from_secs(10);
    conn.handle_timeout(t1);
    assert!(conn.wants_write());
    conn.handle_timeout(t1 + Duration::from_secs(10));
    assert!(conn.is_closed());
}

#[test]
fn eof_between_requests_closes() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_eof(root.t0);
    assert!(conn.is_closed());
}

#[test]
fn eof_after_requests_still_answers() {
    let root = Root::new();
    let mut conn = root.conn();
    // Half-close right after pipelining two requests (one behind a big file).
    let input = [&b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n"[..], GET_HELLO].concat();
    conn.handle_input(&input, root.t0);
    conn.handle_eof(root.t0);
    assert!(!conn.wants_read());
    assert!(!conn.is_closed());
    let resps = parse(&drain(&mut conn, root.t0), &[]);
    assert_eq!(resps.len(), 2);
    assert!(conn.is_closed());
    assert_eq!(conn.responses_sent(), 2);
}

#[test]
fn eof_mid_request_closes_without_answer() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nab",
        root.t0,
    );
    conn.handle_eof(root.t0);
    assert!(conn.is_closed());
    assert!(conn.next_output().is_empty());
}

#[test]
fn errors_close_and_ignore_the_rest() {
    let root = Root::new();
    let mut input = b"GET / HTTP/1.1\r\n\r\n".to_vec(); // missing Host
    input.extend_from_slice(GET_HELLO);
    let (out, mut conn) = exchange(&root, &input);
    let resps = parse(&out, &[]);
    assert_eq!(resps.len(), 1);
    assert_eq!(resps[0].status, 400);
    assert!(conn.is_closed());
    conn.handle_input(GET_HELLO, root.t0);
    assert!(conn.next_output().is_empty());
}

#[test]
fn body_over_limit_answered_without_reading_it() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5000000\r\n\r\n",
        root.t0,
    );
    assert!(!conn.wants_read(), "the body is never read");
    assert_eq!(parse_one(&drain(&mut conn, root.t0)).status, 413);
}

#[test]
fn custom_limits_apply() {
    let root = Root::with(|c| {
        c.limits.max_body_bytes = 4;
        c.limits.max_generated_bytes = 10;
        c.limits.max_headers = 2;
        c.server_name = "test-server".into();
    });
    let status = |req: &[u8]| parse_one(&exchange(&root, req).0).status;
    assert_eq!(
        status(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"),
        413
    );
    assert_eq!(
        status(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nhell"),
        200
    );
    assert_eq!(status(b"GET /bytes/11 HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(status(b"GET /bytes/10 HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
    assert_eq!(
        status(b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n"),
        431
    );
    let resp = parse_one(&exchange(&root, GET_HELLO).0);
    assert_eq!(resp.header("server"), Some("test-server"));
}

#[test]
fn exchanges_recorded_only_when_asked() {
    let root = Root::new();
    let (_, mut conn) = exchange(&root, GET_HELLO);
    assert_eq!(conn.take_exchange(), None);

    let root = Root::with(|c| c.log_requests = true);
    let input = [
        GET_HELLO,
        b"HEAD /nope HTTP/1.1\r\nHost: a\r\n\r\n",
        b"BREW / HTTP/1.1\r\n\r\n",
    ]
    .concat();
    let (_, mut conn) = exchange(&root, &input);
    let x = |m: &str, t: &str, status, body_bytes| Exchange {
        method: m.into(),
        target: t.into(),
        status,
        body_bytes,
    };
    assert_eq!(conn.take_exchange(), Some(x("GET", "/hello.txt", 200, 6)));
    assert_eq!(conn.take_exchange(), Some(x("HEAD", "/nope", 404, 0)));
    let brew = conn.take_exchange().expect("501 recorded");
    assert_eq!((brew.method.as_str(), brew.status), ("BREW", 501));
    assert_eq!(conn.take_exchange(), None);

    let (_, mut conn) = exchange(&root, b"\x01\x02 garbage\r\n\r\n");
    assert_eq!(
        conn.take_exchange().map(|e| (e.method, e.status)),
        Some(("-".into(), 400))
    );
}

#[test]
fn connection_is_small_and_send() {
    fn assert_send<T: Send>() {}
    assert_send::<Connection>();
    let size = std::mem::size_of::<Connection>();
    // 240 bytes on x86_64 (Rust 1.95), and nothing on the heap while idle (see keepalive test).
    assert!(size <= 256, "Connection is {size} bytes");
}

#[test]
fn config_new_rejects_non_directory() {
    let root = Root::new();
    let err = http_core::Config::new(root.www().join("hello.txt")).expect_err("a file");
    assert!(err.to_string().contains("not a directory"), "{err}");
    assert!(http_core::Config::new(root.www().join("missing")).is_err());
}

#[test]
fn fifo_in_root_is_refused_without_blocking() {
    let root = Root::new();
    let fifo = root.www().join("pipe");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(status.success());
    let (out, _) = exchange(&root, b"GET /pipe HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(parse_one(&out).status, 403);
}

#[test]
fn last_response_stops_reading() {
    let root = Root::new();
    let mut conn = root.conn();
    // HTTP/1.0 without keep-alive: this is the last response, nothing more is read.
    conn.handle_input(b"GET /big.bin HTTP/1.0\r\n\r\n", root.t0);
    assert_eq!(conn.phase(), Phase::Respond);
    assert!(!conn.wants_read());
    let resp = parse_one(&drain(&mut conn, root.t0));
    assert_eq!(resp.header("connection"), Some("close"));
    assert_eq!(resp.body.len(), BIG_LEN);
    assert!(conn.is_closed());
}

#[test]
fn expect_100_continue_chunked() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nTransfer-Encoding: chunked\r\n\r\n",
        root.t0,
    );
    assert_eq!(drain(&mut conn, root.t0), b"HTTP/1.1 100 Continue\r\n\r\n");
    conn.handle_input(b"3\r\nabc\r\n0\r\n\r\n", root.t0);
    assert_eq!(parse_one(&drain(&mut conn, root.t0)).body, b"abc");
}

#[test]
fn more_headers_than_default_when_configured() {
    let root = Root::with(|c| c.limits.max_headers = 100);
    let mut req = b"GET /hello.txt HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..90 {
        req.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    assert_eq!(parse_one(&exchange(&root, &req).0).status, 200);
    let mut more = req[..req.len() - 2].to_vec();
    for i in 0..10 {
        more.extend_from_slice(format!("X-M{i}: v\r\n").as_bytes());
    }
    more.extend_from_slice(b"\r\n");
    assert_eq!(parse_one(&exchange(&root, &more).0).status, 431);
}
