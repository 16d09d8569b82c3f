//! The rule written in `request.rs`: a method the server knows gets `405` with `Allow` on a route
//! that does not take it; any other token gets `501`. And the header checks that decide how a
//! body is framed: `Expect`, `Transfer-Encoding`, `Content-Length`.

mod common;

use common::{Root, exchange, parse, parse_one};

fn answer(root: &Root, req: &[u8]) -> (Vec<common::Resp>, Vec<u8>) {
    let (out, _) = exchange(root, req);
    (parse(&out, &[]), out)
}

#[test]
fn patch_trace_and_connect_are_known_methods_405_with_allow() {
    let root = Root::new();
    for (req, allow) in [
        (
            &b"PATCH /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            "GET, HEAD",
        ),
        (b"TRACE /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", "GET, HEAD"),
        (b"PATCH /echo HTTP/1.1\r\nHost: a\r\n\r\n", "POST"),
        (b"TRACE /bytes/3 HTTP/1.1\r\nHost: a\r\n\r\n", "GET, HEAD"),
        (
            b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
            "GET, HEAD, POST",
        ),
    ] {
        let (out, conn) = exchange(&root, req);
        let resp = parse_one(&out);
        assert_eq!(resp.status, 405, "{}", String::from_utf8_lossy(req));
        assert_eq!(
            resp.header("allow"),
            Some(allow),
            "{}",
            String::from_utf8_lossy(req)
        );
        assert!(!conn.is_closed(), "a 405 keeps the connection usable");
    }
}

#[test]
fn a_token_that_is_not_a_method_is_501_and_closes() {
    let root = Root::new();
    for req in [
        &b"PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"Patch / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"CONNECTX a:443 HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        let (out, conn) = exchange(&root, req);
        assert_eq!(
            parse_one(&out).status,
            501,
            "{}",
            String::from_utf8_lossy(req)
        );
        assert!(conn.is_closed());
    }
}

#[test]
fn only_expect_100_continue_sends_an_interim_100() {
    let root = Root::new();
    // Another expectation: no `100 Continue`.
    let mut conn = root.conn();
    conn.handle_input(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: something-else\r\nContent-Length: 2\r\n\r\n",
        root.t0,
    );
    assert!(
        conn.next_output().is_empty(),
        "nothing to send before the body"
    );
    // `100-continue` as the value of another header: no `100 Continue` either.
    let mut conn = root.conn();
    conn.handle_input(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nX-Note: 100-continue\r\nContent-Length: 2\r\n\r\n",
        root.t0,
    );
    assert!(conn.next_output().is_empty());
    conn.handle_input(b"hi", root.t0);
    let out = common::drain(&mut conn, root.t0);
    let resp = parse_one(&out);
    assert_eq!((resp.status, resp.body.as_slice()), (200, &b"hi"[..]));
}

#[test]
fn chunked_twice_is_501() {
    let root = Root::new();
    let (resps, _) = answer(
        &root,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
    );
    assert_eq!(resps[0].status, 501);
    let (resps, _) = answer(
        &root,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    assert_eq!(resps[0].status, 501);
}

#[test]
fn a_single_coding_other_than_chunked_is_501() {
    let root = Root::new();
    for coding in ["gzip", "identity", "chunkedx"] {
        let req = format!(
            "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {coding}\r\n\r\n0\r\n\r\n"
        );
        let (resps, _) = answer(&root, req.as_bytes());
        assert_eq!(resps[0].status, 501, "{coding}");
    }
}

#[test]
fn empty_transfer_encoding_is_400() {
    let root = Root::new();
    let (resps, _) = answer(
        &root,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\n\r\n",
    );
    assert_eq!(resps[0].status, 400);
}

#[test]
fn http10_keeps_alive_only_when_asked_and_not_told_to_close() {
    let root = Root::new();
    for (req, closed) in [
        (&b"GET /hello.txt HTTP/1.0\r\n\r\n"[..], true),
        (
            b"GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            false,
        ),
        (
            b"GET /hello.txt HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
            true,
        ),
        (
            b"GET /hello.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            true,
        ),
        (b"GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n", false),
    ] {
        let (_, conn) = exchange(&root, req);
        assert_eq!(conn.is_closed(), closed, "{}", String::from_utf8_lossy(req));
    }
}
