//! Every size limit is pinned at its boundary: a request exactly *at* a limit is accepted, one
//! byte *over* it is refused with the limit's status. (Found by mutation testing: flipping `>` to
//! `>=` in any of these checks changed nothing that an older test saw.)

mod common;

use common::{Root, exchange, exchange_bytewise, parse, parse_one};

/// The final status of the one response to `req`, fed whole and byte by byte (both must agree).
fn status(root: &Root, req: &[u8]) -> u16 {
    let (whole, _) = exchange(root, req);
    let (bytewise, _) = exchange_bytewise(root, req);
    assert_eq!(
        String::from_utf8_lossy(&whole),
        String::from_utf8_lossy(&bytewise),
        "one piece vs byte by byte"
    );
    let resps = parse(&whole, &[]);
    resps
        .iter()
        .find(|r| r.status != 100)
        .unwrap_or_else(|| panic!("no final response in {:?}", String::from_utf8_lossy(&whole)))
        .status
}

fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n").into_bytes()
}

#[test]
fn request_target_at_the_uri_limit_is_accepted_one_over_is_414() {
    let root = Root::with(|c| c.limits.max_uri_bytes = 64);
    let at = format!("/{}", "a".repeat(63));
    assert_eq!(at.len(), 64);
    assert_eq!(
        status(&root, &get(&at)),
        404,
        "exactly at the limit: routed"
    );
    let over = format!("/{}", "a".repeat(64));
    assert_eq!(status(&root, &get(&over)), 414, "one byte over: refused");
}

#[test]
fn request_line_without_newline_is_414_once_it_reaches_the_limit_and_not_before() {
    let root = Root::with(|c| c.limits.max_uri_bytes = 64);
    // The request line may take the URI limit plus 32 bytes of method, spaces and version.
    let window = 64 + 32;
    let mut conn = root.conn();
    conn.handle_input(b"GET /", root.t0);
    conn.handle_input(&vec![b'a'; window - 6], root.t0);
    assert!(
        conn.next_output().is_empty(),
        "one byte short of the window: still waiting"
    );
    conn.handle_input(b"a", root.t0);
    let out = common::drain(&mut conn, root.t0);
    assert_eq!(parse_one(&out).status, 414);
}

#[test]
fn a_whole_request_line_longer_than_the_window_is_414_even_with_a_short_target() {
    // The window bounds the whole line, not only the target: a 100-byte method with `/` as its
    // target is still a request line too long to look at, whatever follows its newline.
    let root = Root::with(|c| c.limits.max_uri_bytes = 64);
    let line = format!("{} / HTTP/1.1\r\nHost: a\r\n\r\n", "M".repeat(100));
    assert_eq!(status(&root, line.as_bytes()), 414);
    let fits = format!("{} / HTTP/1.1\r\nHost: a\r\n\r\n", "M".repeat(20));
    assert_eq!(
        status(&root, fits.as_bytes()),
        501,
        "a line inside the window is parsed"
    );
}

#[test]
fn content_length_at_the_body_limit_is_accepted_one_over_is_413() {
    let root = Root::with(|c| c.limits.max_body_bytes = 10);
    assert_eq!(
        status(
            &root,
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789"
        ),
        200
    );
    assert_eq!(
        status(
            &root,
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n0123456789X"
        ),
        413
    );
}

#[test]
fn chunked_body_at_the_body_limit_is_accepted_one_over_is_413() {
    let root = Root::with(|c| c.limits.max_body_bytes = 10);
    let at = b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
        6\r\n012345\r\n4\r\n6789\r\n0\r\n\r\n";
    let (out, _) = exchange(&root, at);
    let resp = parse_one(&out);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"0123456789");
    let over = b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
        6\r\n012345\r\n5\r\n6789X\r\n0\r\n\r\n";
    assert_eq!(status(&root, over), 413);
}

#[test]
fn many_small_chunks_adding_up_past_the_body_limit_get_413() {
    // No single chunk is over the limit; only their sum is. A decoder that stopped counting
    // would buffer an unbounded `/echo` body.
    let root = Root::with(|c| c.limits.max_body_bytes = 100);
    let mut req = b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..11 {
        req.extend_from_slice(b"a\r\n0123456789\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(status(&root, &req), 413);
    // Ten of them are exactly the limit, and fine.
    let mut req = b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..10 {
        req.extend_from_slice(b"a\r\n0123456789\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(status(&root, &req), 200);
}

#[test]
fn chunk_size_line_at_the_line_limit_waits_one_over_is_400() {
    // A chunk-size line (with extensions) may be as long as the head limit.
    let root = Root::with(|c| c.limits.max_head_bytes = 1024);
    let head = b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut conn = root.conn();
    conn.handle_input(head, root.t0);
    let mut line = b"1;ext=".to_vec();
    line.resize(1024, b'x');
    conn.handle_input(&line, root.t0);
    assert!(
        conn.next_output().is_empty(),
        "a line exactly at the limit is still waited for"
    );
    conn.handle_input(b"x", root.t0);
    assert_eq!(parse_one(&common::drain(&mut conn, root.t0)).status, 400);
}

#[test]
fn trailer_line_at_the_line_limit_waits_one_over_is_431() {
    let root = Root::with(|c| c.limits.max_head_bytes = 1024);
    let head = b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
    let mut conn = root.conn();
    conn.handle_input(head, root.t0);
    let mut line = b"X-Trailer: ".to_vec();
    line.resize(1024, b'x');
    conn.handle_input(&line, root.t0);
    assert!(conn.next_output().is_empty());
    conn.handle_input(b"x", root.t0);
    assert_eq!(parse_one(&common::drain(&mut conn, root.t0)).status, 431);
}

#[test]
fn nineteen_digit_content_length_is_a_number_and_gets_413() {
    // The longest length the parser reads: 19 digits (it cannot overflow a u64). It is a valid
    // length, just far over the body limit.
    let root = Root::new();
    let req = b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 9999999999999999999\r\n\r\n";
    assert_eq!(status(&root, req), 413);
}

#[test]
fn twenty_digit_content_length_is_refused_as_malformed() {
    // Past 19 digits the parser stops reading (even `0000…1`), so no length can overflow.
    let root = Root::new();
    let req = b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 00000000000000000001\r\n\r\nx";
    assert_eq!(status(&root, req), 400);
}

#[test]
fn empty_content_length_is_400() {
    let root = Root::new();
    assert_eq!(
        status(
            &root,
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n"
        ),
        400
    );
    assert_eq!(
        status(
            &root,
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3,\r\n\r\nabc"
        ),
        400
    );
}

#[test]
fn a_byte_count_is_one_to_twenty_plain_digits() {
    let root = Root::new();
    let get_bytes = |n: &str| {
        let req = format!("GET /bytes/{n} HTTP/1.1\r\nHost: a\r\n\r\n");
        parse_one(&exchange(&root, req.as_bytes()).0)
    };
    let twenty = get_bytes("00000000000000000100");
    assert_eq!((twenty.status, twenty.body.len()), (200, 100), "20 digits");
    assert_eq!(get_bytes("000000000000000000100").status, 400, "21 digits");
    assert_eq!(get_bytes("+5").status, 400, "a sign is not a digit");
    assert_eq!(get_bytes("").status, 400, "no digits");
    assert_eq!(get_bytes("99999999999999999999").status, 400, "past u64");
}

#[test]
fn a_path_segment_longer_than_name_max_is_404_not_500() {
    // ENAMETOOLONG from the file system: no file has that name.
    let root = Root::new();
    let req = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "n".repeat(300));
    assert_eq!(parse_one(&exchange(&root, req.as_bytes()).0).status, 404);
}

#[test]
fn empty_and_dot_segments_name_the_same_file() {
    let root = Root::new();
    for path in [
        "/./hello.txt",
        "//hello.txt",
        "/sub/./a%20b.txt",
        "/sub//a%20b.txt",
    ] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(
            parse_one(&exchange(&root, req.as_bytes()).0).status,
            200,
            "{path}"
        );
    }
}
