//! What caches and download tools rely on: validators and `304`, byte ranges (`206`, `416`),
//! `If-Range`, the directory redirect, `HEAD` agreeing with `GET`, and `--max-body`.

use super::support::*;

/// `GET path` on a kept-alive connection with extra header lines (each ending in CRLF).
fn get_with(path: &str, headers: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {HOST}\r\n{headers}\r\n")
}

fn head_with(path: &str, headers: &str) -> String {
    format!("HEAD {path} HTTP/1.1\r\nHost: {HOST}\r\n{headers}\r\n")
}

/// Send one request on `conn` and read its answer.
fn ask(conn: &mut Conn, raw: &str) -> Response {
    conn.send(raw.as_bytes());
    if raw.starts_with("HEAD ") {
        conn.read_head_response()
    } else {
        conn.read_response()
    }
}

/// A file response carries `ETag`, `Last-Modified` and `Accept-Ranges: bytes`; asking again with
/// either validator gives `304` with no body, and the connection serves the next request.
pub fn validators_give_304(target: &Target) {
    let server = target.start();
    let mut conn = Conn::open(server.addr());
    let first = ask(&mut conn, &get_with("/hello.txt", ""));
    expect_file(&conn, &first, HELLO_TXT.as_bytes(), "text/plain");
    let etag = first.header("etag").unwrap_or("").to_owned();
    let modified = first.header("last-modified").unwrap_or("").to_owned();
    conn.check(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
        "a strong ETag",
        &first,
    );
    conn.check(
        parse_imf_fixdate(&modified).is_some(),
        "Last-Modified is an IMF-fixdate",
        &first,
    );
    conn.check(
        first.header("accept-ranges") == Some("bytes"),
        "Accept-Ranges: bytes",
        &first,
    );
    for condition in [
        format!("If-None-Match: {etag}\r\n"),
        format!("If-None-Match: \"other\", W/{etag}\r\n"),
        format!("If-Modified-Since: {modified}\r\n"),
    ] {
        let resp = ask(&mut conn, &get_with("/hello.txt", &condition));
        conn.expect_status(&resp, 304);
        conn.check(resp.body.is_empty(), "304 has no body", &resp);
        conn.check(
            resp.header("etag") == Some(etag.as_str()),
            "304 repeats the ETag",
            &resp,
        );
    }
    // If-None-Match decides alone when present (RFC 9110 §13.2.2).
    let both = format!("If-None-Match: \"other\"\r\nIf-Modified-Since: {modified}\r\n");
    let resp = ask(&mut conn, &get_with("/hello.txt", &both));
    expect_file(&conn, &resp, HELLO_TXT.as_bytes(), "text/plain");
    let resp = ask(
        &mut conn,
        &get_with("/hello.txt", "If-Modified-Since: never\r\n"),
    );
    expect_file(&conn, &resp, HELLO_TXT.as_bytes(), "text/plain");
}

/// A file rewritten on disk is served anew: a new ETag, and the old one no longer gives 304.
pub fn changed_file_is_served_anew(target: &Target) {
    let server = target.start();
    let path = server.root().join("changing.txt");
    std::fs::write(&path, b"first version\n").expect("write the fixture");
    let (conn, first) = client::exchange(server.addr(), get("/changing.txt").as_bytes());
    conn.expect_status(&first, 200);
    let etag = first.header("etag").unwrap_or("").to_owned();
    // Past any validity window a cache may have (whole seconds in Last-Modified, too).
    thread::sleep(Duration::from_millis(1100));
    std::fs::write(&path, b"second version, longer\n").expect("rewrite the fixture");
    let raw = format!(
        "GET /changing.txt HTTP/1.1\r\nHost: {HOST}\r\nIf-None-Match: {etag}\r\nConnection: close\r\n\r\n"
    );
    let (conn, resp) = client::exchange(server.addr(), raw.as_bytes());
    conn.expect_status(&resp, 200);
    expect_body(&conn, &resp, b"second version, longer\n", "the new content");
    conn.check(
        resp.header("etag").is_some_and(|e| e != etag),
        "a new ETag",
        &resp,
    );
}

/// One range in each of its three forms is `206` with the right `Content-Range` and bytes, from
/// a small file and from deep inside the 6 MiB file (the server's large-file path: `sendfile`,
/// a file chunk buffer, or its own file reads).
pub fn single_range_206(target: &Target) {
    let server = target.start();
    let mut conn = Conn::open(server.addr());
    let hello = HELLO_TXT.as_bytes();
    let len = hello.len();
    for (range, first, last) in [
        ("0-4".to_owned(), 0, 4),
        ("7-".to_owned(), 7, len - 1),
        (format!("-{}", 3), len - 3, len - 1),
        ("2-100000".to_owned(), 2, len - 1),
    ] {
        let resp = ask(
            &mut conn,
            &get_with("/hello.txt", &format!("Range: bytes={range}\r\n")),
        );
        conn.expect_status(&resp, 206);
        expect_body(&conn, &resp, &hello[first..=last], "the range");
        let expected = format!("bytes {first}-{last}/{len}");
        conn.check(
            resp.header("content-range") == Some(expected.as_str()),
            &format!("Content-Range: {expected}"),
            &resp,
        );
    }
    let big = fixtures::big_bin();
    for (first, last) in [
        (1_000_000, 3_500_000),
        (BIG_BIN_LEN - 70_000, BIG_BIN_LEN - 1),
    ] {
        let resp = ask(
            &mut conn,
            &get_with("/big.bin", &format!("Range: bytes={first}-{last}\r\n")),
        );
        conn.expect_status(&resp, 206);
        expect_body(&conn, &resp, &big[first..=last], "a range of big.bin");
    }
}

/// A range past the end is `416` with `Content-Range: bytes */LEN`; several ranges, or a range
/// that does not parse, get the whole file with `200`. The connection stays usable throughout.
pub fn unsatisfiable_and_ignored_ranges(target: &Target) {
    let server = target.start();
    let mut conn = Conn::open(server.addr());
    let len = HELLO_TXT.len();
    let resp = ask(
        &mut conn,
        &get_with("/hello.txt", &format!("Range: bytes={len}-\r\n")),
    );
    conn.expect_status(&resp, 416);
    let expected = format!("bytes */{len}");
    conn.check(
        resp.header("content-range") == Some(expected.as_str()),
        &format!("Content-Range: {expected}"),
        &resp,
    );
    let thousand = format!("Range: bytes={}\r\n", vec!["0-1"; 1000].join(","));
    for headers in [
        "Range: bytes=0-1,4-5\r\n".to_owned(),
        "Range: bytes=abc\r\n".to_owned(),
        "Range: bytes=5-1\r\n".to_owned(),
        "Range: bytes=184467440737095516160-\r\n".to_owned(),
        "Range: pages=1-2\r\n".to_owned(),
        "If-Range: garbage\r\nIf-None-Match: ,,,\r\n".to_owned(),
        thousand,
    ] {
        let resp = ask(&mut conn, &get_with("/hello.txt", &headers));
        expect_file(&conn, &resp, HELLO_TXT.as_bytes(), "text/plain");
    }
}

/// `If-Range` keeps a range only for the version the client has part of.
pub fn if_range_honoured(target: &Target) {
    let server = target.start();
    let mut conn = Conn::open(server.addr());
    let first = ask(&mut conn, &get_with("/hello.txt", ""));
    let etag = first.header("etag").unwrap_or("").to_owned();
    let modified = first.header("last-modified").unwrap_or("").to_owned();
    for (if_range, status) in [
        (etag.as_str(), 206),
        (modified.as_str(), 206),
        ("\"another-version\"", 200),
        ("Mon, 01 Jan 1990 00:00:00 GMT", 200),
    ] {
        let headers = format!("Range: bytes=0-4\r\nIf-Range: {if_range}\r\n");
        let resp = ask(&mut conn, &get_with("/hello.txt", &headers));
        conn.expect_status(&resp, status);
    }
}

/// `HEAD` gets the status and headers `GET` gets (apart from `Date`), in every case above.
pub fn head_agrees_with_get(target: &Target) {
    let server = target.start();
    let mut conn = Conn::open(server.addr());
    let etag = ask(&mut conn, &get_with("/hello.txt", ""))
        .header("etag")
        .unwrap_or("")
        .to_owned();
    for (path, headers) in [
        ("/hello.txt", String::new()),
        ("/hello.txt", format!("If-None-Match: {etag}\r\n")),
        ("/hello.txt", "Range: bytes=1-3\r\n".to_owned()),
        ("/hello.txt", "Range: bytes=1000-\r\n".to_owned()),
        ("/big.bin", "Range: bytes=-100000\r\n".to_owned()),
        ("/dir", String::new()),
        ("/missing.txt", String::new()),
    ] {
        let full = ask(&mut conn, &get_with(path, &headers));
        let head = ask(&mut conn, &head_with(path, &headers));
        let without_date = |r: &Response| -> Vec<(String, String)> {
            r.headers
                .iter()
                .filter(|(n, _)| !n.eq_ignore_ascii_case("date"))
                .cloned()
                .collect()
        };
        conn.check(
            head.status == full.status && without_date(&head) == without_date(&full),
            &format!("HEAD {path} {headers:?} answers as GET does: {full}"),
            &head,
        );
    }
}

/// A directory named without its trailing slash is redirected (`301`) to `path/`, query kept.
pub fn directory_redirect_301(target: &Target) {
    let server = target.start();
    let (conn, resp) = client::exchange(server.addr(), get("/dir?a=1&b=2").as_bytes());
    conn.expect_status(&resp, 301);
    conn.check(
        resp.header("location") == Some("/dir/?a=1&b=2"),
        "Location: /dir/?a=1&b=2",
        &resp,
    );
    expect_common_headers(&conn, &resp, false);
}

/// `--max-body BYTES` sets the largest accepted body: at the limit it is echoed, one byte over
/// is `413`.
pub fn max_body_flag(target: &Target) {
    let server = target.start_with(&["--max-body", "2000000"]);
    let body = vec![b'b'; 2_000_000];
    let mut raw = format!("POST /echo HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 2000000\r\n\r\n")
        .into_bytes();
    raw.extend_from_slice(&body);
    let (conn, resp) = client::exchange(server.addr(), &raw);
    conn.expect_status(&resp, 200);
    expect_body(&conn, &resp, &body, "the echoed 2 MB body");
    let over = format!("POST /echo HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 2000001\r\n\r\n");
    let (conn, resp) = client::exchange(server.addr(), over.as_bytes());
    conn.expect_status(&resp, 413);
}
