//! Bad input: every error status, each with the connection closed when the stream is no longer trustworthy.

use super::support::*;

/// A known method on a route that does not take it is `405` with an `Allow` header.
pub fn method_not_allowed_405(target: &Target) {
    let server = target.start();
    for (method, path, allowed) in [
        ("POST", "/hello.txt", &["GET", "HEAD"][..]),
        ("DELETE", "/hello.txt", &["GET", "HEAD"]),
        ("PUT", "/", &["GET", "HEAD"]),
        ("POST", "/bytes/10", &["GET", "HEAD"]),
        ("GET", "/echo", &["POST"]),
        ("PUT", "/echo", &["POST"]),
    ] {
        let raw = format!(
            "{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let (conn, resp) = client::exchange(server.addr(), raw.as_bytes());
        conn.expect_status(&resp, 405);
        expect_common_headers(&conn, &resp, false);
        let allow: Vec<String> = resp
            .header("allow")
            .unwrap_or("")
            .split(',')
            .map(|m| m.trim().to_ascii_uppercase())
            .collect();
        for m in allowed {
            conn.check(
                allow.iter().any(|a| a == m),
                &format!("Allow lists {m}"),
                &resp,
            );
        }
        conn.check(
            !allow.iter().any(|a| a == method),
            &format!("Allow does not list the refused {method}"),
            &resp,
        );
    }
}

/// A method the server does not know is `501`.
pub fn unknown_method_501(target: &Target) {
    let server = target.start();
    for method in ["BREW", "FOO", "PROPFIND"] {
        let raw =
            format!("{method} /hello.txt HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n");
        let (conn, resp) = client::exchange(server.addr(), raw.as_bytes());
        conn.expect_status(&resp, 501);
        expect_common_headers(&conn, &resp, false);
    }
}

/// An HTTP version other than 1.0 and 1.1 is `505`, then the connection closes.
pub fn bad_version_505(target: &Target) {
    let server = target.start();
    for version in ["HTTP/2.0", "HTTP/3.0", "HTTP/1.2"] {
        let raw = format!("GET / {version}\r\nHost: {HOST}\r\n\r\n");
        let (mut conn, resp) = client::exchange(server.addr(), raw.as_bytes());
        conn.expect_status(&resp, 505);
        expect_common_headers(&conn, &resp, false);
        conn.expect_closed("after 505 the connection closes");
    }
}

/// A malformed request line or header is `400`, then the connection closes.
pub fn malformed_request_400(target: &Target) {
    let server = target.start();
    for raw in [
        "GET\r\n\r\n".to_string(),
        "GET /hello.txt\r\nHost: x\r\n\r\n".to_string(),
        format!("GET /hello.txt HTTP/1.1\r\nHost: {HOST}\r\nNo colon here\r\n\r\n"),
        format!("GET /hello.txt HTTP/1.1\r\nHost: {HOST}\r\nBad Name: v\r\n\r\n"),
        format!("GET /hello.txt HTTP/1.1\r\nHost: {HOST}\r\n: empty name\r\n\r\n"),
        "\x01\x02\x03 / HTTP/1.1\r\n\r\n".to_string(),
        format!("GET /hello\0.txt HTTP/1.1\r\nHost: {HOST}\r\n\r\n"),
    ] {
        let (mut conn, resp) = client::exchange(server.addr(), raw.as_bytes());
        conn.expect_status(&resp, 400);
        expect_common_headers(&conn, &resp, false);
        conn.expect_closed("after 400 the connection closes");
    }
}

/// HTTP/1.1 without `Host` (or with two) is `400`; HTTP/1.0 does not need one.
pub fn missing_host_400(target: &Target) {
    let server = target.start();
    for raw in [
        "GET /hello.txt HTTP/1.1\r\n\r\n",
        "GET /hello.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    ] {
        let (mut conn, resp) = client::exchange(server.addr(), raw.as_bytes());
        conn.expect_status(&resp, 400);
        conn.expect_closed("after 400 the connection closes");
    }
    let (conn, resp) = client::exchange(server.addr(), b"GET /hello.txt HTTP/1.0\r\n\r\n");
    expect_file(&conn, &resp, HELLO_TXT.as_bytes(), "text/plain");
}

/// Two different `Content-Length` values are `400` (request smuggling), then close.
pub fn conflicting_content_length_400(target: &Target) {
    let server = target.start();
    for lengths in [
        "Content-Length: 5\r\nContent-Length: 6\r\n",
        "Content-Length: 5, 6\r\n",
    ] {
        let raw = format!("POST /echo HTTP/1.1\r\nHost: {HOST}\r\n{lengths}\r\nhello!");
        let (mut conn, resp) = client::exchange(server.addr(), raw.as_bytes());
        conn.expect_status(&resp, 400);
        conn.expect_closed("after 400 the connection closes");
    }
}

/// A `Content-Length` that is not a plain decimal number is `400`, then close.
pub fn invalid_content_length_400(target: &Target) {
    let server = target.start();
    for value in ["-1", "abc", "0x10", "+5", "5 5", ""] {
        let raw =
            format!("POST /echo HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: {value}\r\n\r\nhello");
        let (mut conn, resp) = client::exchange(server.addr(), raw.as_bytes());
        conn.check(
            resp.status == 400,
            &format!("Content-Length {value:?} is 400"),
            &resp,
        );
        conn.expect_closed("after 400 the connection closes");
    }
}

/// `Content-Length` together with `Transfer-Encoding` is `400`, then close.
pub fn content_length_with_transfer_encoding_400(target: &Target) {
    let server = target.start();
    let raw = format!(
        "POST /echo HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    );
    let (mut conn, resp) = client::exchange(server.addr(), raw.as_bytes());
    conn.expect_status(&resp, 400);
    expect_common_headers(&conn, &resp, false);
    conn.expect_closed("after 400 the connection closes");
}

/// A transfer coding the server does not implement (`gzip`) is `501`, then close.
pub fn unsupported_transfer_encoding_501(target: &Target) {
    let server = target.start();
    let raw =
        format!("POST /echo HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x7f");
    let (mut conn, resp) = client::exchange(server.addr(), raw.as_bytes());
    conn.expect_status(&resp, 501);
    conn.expect_closed("after 501 the connection closes");
}

/// A request target longer than the limit (8 KiB by default; 10 000 bytes here) is `414`.
pub fn uri_too_long_414(target: &Target) {
    let server = target.start();
    let path = format!("/{}", "a".repeat(10_000));
    let raw = format!("GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n");
    let (mut conn, resp) = client::exchange(server.addr(), raw.as_bytes());
    conn.expect_status(&resp, 414);
    expect_common_headers(&conn, &resp, false);
    conn.expect_closed("after 414 the connection closes");
}

/// A head over the limit (16 KiB by default; 20 000 bytes of one header here) is `431`, also
/// when the client never finishes the head (the server must not wait for the blank line).
pub fn header_too_large_431(target: &Target) {
    let server = target.start();
    let big = "x".repeat(20_000);
    for end in ["\r\n\r\n", ""] {
        let raw = format!("GET /hello.txt HTTP/1.1\r\nHost: {HOST}\r\nX-Big: {big}{end}");
        let (mut conn, resp) = client::exchange(server.addr(), raw.as_bytes());
        conn.expect_status(&resp, 431);
        expect_common_headers(&conn, &resp, false);
        conn.expect_closed("after 431 the connection closes");
    }
}

/// More header fields than the limit (64 by default; 100 here) is `431`.
pub fn too_many_headers_431(target: &Target) {
    let server = target.start();
    let mut raw = format!("GET /hello.txt HTTP/1.1\r\nHost: {HOST}\r\n");
    for i in 0..100 {
        raw.push_str(&format!("X-Header-{i}: {i}\r\n"));
    }
    raw.push_str("\r\n");
    let (mut conn, resp) = client::exchange(server.addr(), raw.as_bytes());
    conn.expect_status(&resp, 431);
    expect_common_headers(&conn, &resp, false);
    conn.expect_closed("after 431 the connection closes");
}

/// Error responses carry `Date`, `Server`, `Content-Type` and a `Content-Length` that matches
/// their body, like every other response.
pub fn error_responses_have_required_headers(target: &Target) {
    let server = target.start();
    for (raw, status) in [
        (get("/nope"), 404),
        (format!("BREW / HTTP/1.1\r\nHost: {HOST}\r\n\r\n"), 501),
        ("GET / HTTP/1.1\r\n\r\n".to_string(), 400),
        (
            format!("DELETE /hello.txt HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"),
            405,
        ),
        (format!("GET / HTTP/2.0\r\nHost: {HOST}\r\n\r\n"), 505),
    ] {
        let (conn, resp) = client::exchange(server.addr(), raw.as_bytes());
        conn.expect_status(&resp, status);
        expect_common_headers(&conn, &resp, false);
        conn.check(!resp.body.is_empty(), "an error has a short body", &resp);
    }
}
