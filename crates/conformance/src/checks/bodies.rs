//! Request bodies: `Content-Length`, chunked, `100-continue`, too large, and bodies nobody asked for.

use super::support::*;

/// `POST /echo` with a `Content-Length` body returns the body, also an empty one and a binary
/// 100 kB one.
pub fn echo_content_length(target: &Target) {
    let server = target.start();
    let binary: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
    for body in [&b"hello, echo"[..], b"", &binary] {
        let mut raw = format!(
            "POST /echo HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(body);
        let (conn, resp) = client::exchange(server.addr(), &raw);
        conn.expect_status(&resp, 200);
        expect_common_headers(&conn, &resp, false);
        expect_body(&conn, &resp, body, "POST /echo");
    }
}

/// `POST /echo` with `Transfer-Encoding: chunked` (chunk extensions, upper-case hex, a trailer)
/// returns the de-chunked body, and the connection stays usable after the trailer.
pub fn echo_chunked(target: &Target) {
    let server = target.start();
    let mut conn = Conn::open(server.addr());
    conn.send(
        format!(
            "POST /echo HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: chunked\r\n\r\n\
             5;name=value\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: yes\r\n\r\n"
        )
        .as_bytes(),
    );
    let resp = conn.read_response();
    conn.expect_status(&resp, 200);
    expect_common_headers(&conn, &resp, false);
    expect_body(&conn, &resp, b"hello 0123456789", "chunked POST /echo");
    // The trailer was consumed: the next request on the connection is answered normally.
    conn.send(get("/hello.txt").as_bytes());
    let next = conn.read_response();
    expect_file(&conn, &next, HELLO_TXT.as_bytes(), "text/plain");

    // An empty chunked body.
    let raw = format!(
        "POST /echo HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n"
    );
    let (conn, resp) = client::exchange(server.addr(), raw.as_bytes());
    conn.expect_status(&resp, 200);
    expect_body(&conn, &resp, b"", "empty chunked POST /echo");
}

/// `Expect: 100-continue`: the server answers `100 Continue` before the body is sent, then the
/// final response once it arrives.
pub fn expect_100_continue(target: &Target) {
    let server = target.start();
    let mut conn = Conn::open(server.addr());
    conn.send(
        format!(
            "POST /echo HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n"
        )
        .as_bytes(),
    );
    let interim = conn.read_response();
    conn.expect_status(&interim, 100);
    conn.send(b"hello world");
    let resp = conn.read_response();
    conn.expect_status(&resp, 200);
    expect_body(
        &conn,
        &resp,
        b"hello world",
        "POST /echo after 100 Continue",
    );

    // The same with a chunked body on the same connection.
    conn.send(
        format!(
            "POST /echo HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
        )
        .as_bytes(),
    );
    let interim = conn.read_response();
    conn.expect_status(&interim, 100);
    conn.send(b"3\r\nabc\r\n0\r\n\r\n");
    let resp = conn.read_response();
    conn.expect_status(&resp, 200);
    expect_body(
        &conn,
        &resp,
        b"abc",
        "chunked POST /echo after 100 Continue",
    );

    // A client that does not wait for `100 Continue` and sends its body at once is answered too
    // (with or without a `100` first).
    conn.send(
        format!(
            "POST /echo HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\neager"
        )
        .as_bytes(),
    );
    let mut resp = conn.read_response();
    if resp.status == 100 {
        resp = conn.read_response();
    }
    conn.expect_status(&resp, 200);
    expect_body(
        &conn,
        &resp,
        b"eager",
        "POST /echo with the body sent before 100 Continue",
    );
}

/// A body over the limit is answered `413` from the headers alone (no body is ever sent, no
/// `100 Continue` first), then the connection closes.
pub fn body_too_large_413(target: &Target) {
    let server = target.start();
    for expect in ["", "Expect: 100-continue\r\n"] {
        let raw = format!(
            "POST /echo HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 10737418240\r\n{expect}\r\n"
        );
        let (mut conn, resp) = client::exchange(server.addr(), raw.as_bytes());
        conn.expect_status(&resp, 413);
        expect_common_headers(&conn, &resp, false);
        conn.expect_closed("after 413 the connection closes");
    }
    // A chunked body announcing a 1 GiB chunk is refused from the chunk-size line.
    let raw = format!(
        "POST /echo HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: chunked\r\n\r\n40000000\r\nabc"
    );
    let (mut conn, resp) = client::exchange(server.addr(), raw.as_bytes());
    conn.expect_status(&resp, 413);
    conn.expect_closed("after 413 the connection closes");
}

/// A body on a `GET` is read and discarded: the next pipelined request is still parsed right.
pub fn get_with_body_keeps_sync(target: &Target) {
    let server = target.start();
    let mut conn = Conn::open(server.addr());
    conn.send(
        format!(
            "GET /hello.txt HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 20\r\n\r\nGET /style.css HTTP/"
        )
        .as_bytes(),
    );
    let first = conn.read_response();
    expect_file(&conn, &first, HELLO_TXT.as_bytes(), "text/plain");
    conn.send(get("/dir/").as_bytes());
    let second = conn.read_response();
    expect_file(&conn, &second, DIR_INDEX_HTML.as_bytes(), "text/html");
}
