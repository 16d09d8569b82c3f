//! What a static file server answers to caches and download tools: validators (`ETag`,
//! `Last-Modified`), conditional requests (`304`), byte ranges (`206`, `416`), `If-Range`, the
//! directory redirect, and `HEAD` agreeing with `GET` in every case (RFC 9110 §8.8, §13, §14).

mod common;

use common::{BIG_LEN, Resp, Root, big_byte, drain, exchange, exchange_bytewise, parse};

/// The one response to `req`, fed whole; fed byte by byte it must be the same.
fn answer(root: &Root, req: &str) -> Resp {
    let (whole, _) = exchange(root, req.as_bytes());
    let (bytewise, _) = exchange_bytewise(root, req.as_bytes());
    assert_eq!(
        String::from_utf8_lossy(&whole),
        String::from_utf8_lossy(&bytewise),
        "one piece vs byte by byte"
    );
    let head_only = req.starts_with("HEAD ");
    let mut all = parse(&whole, &[head_only]);
    assert_eq!(all.len(), 1, "one response to {req:?}");
    all.remove(0)
}

fn get(path: &str, headers: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: a\r\n{headers}\r\n")
}

fn head(path: &str, headers: &str) -> String {
    format!("HEAD {path} HTTP/1.1\r\nHost: a\r\n{headers}\r\n")
}

fn etag_of(root: &Root, path: &str) -> String {
    answer(root, &get(path, ""))
        .header("etag")
        .expect("ETag")
        .to_owned()
}

fn last_modified_of(root: &Root, path: &str) -> String {
    answer(root, &get(path, ""))
        .header("last-modified")
        .expect("Last-Modified")
        .to_owned()
}

#[test]
fn every_file_response_carries_its_validators() {
    let root = Root::new();
    let resp = answer(&root, &get("/hello.txt", ""));
    assert_eq!(resp.status, 200);
    let etag = resp.header("etag").expect("ETag");
    assert!(
        etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'),
        "{etag}"
    );
    assert!(!etag.starts_with("W/"), "a strong tag");
    let modified = resp.header("last-modified").expect("Last-Modified");
    assert!(httpdate::parse_http_date(modified).is_ok(), "{modified}");
    assert_eq!(resp.header("accept-ranges"), Some("bytes"));
    // Generated answers have no file behind them: no validators.
    let bytes = answer(&root, &get("/bytes/10", ""));
    assert_eq!(bytes.header("etag"), None);
    assert_eq!(bytes.header("accept-ranges"), None);
}

#[test]
fn a_matching_if_none_match_is_304_without_a_body_and_the_connection_goes_on() {
    let root = Root::new();
    let etag = etag_of(&root, "/hello.txt");
    let two = get("/hello.txt", &format!("If-None-Match: {etag}\r\n")) + &get("/style.css", "");
    let (out, conn) = exchange(&root, two.as_bytes());
    let resps = parse(&out, &[]);
    assert_eq!(resps.len(), 2);
    assert_eq!(resps[0].status, 304);
    assert!(resps[0].body.is_empty());
    assert_eq!(resps[0].header("etag"), Some(etag.as_str()));
    assert!(resps[0].header("last-modified").is_some());
    assert_eq!(resps[0].header("content-type"), None);
    assert_eq!(resps[1].status, 200, "the next request on the connection");
    assert_eq!(resps[1].body, b"body{}\n");
    assert!(!conn.is_closed());
}

#[test]
fn if_none_match_compares_weakly_and_takes_lists_and_star() {
    let root = Root::new();
    let etag = etag_of(&root, "/hello.txt");
    for value in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
        "*".to_owned(),
    ] {
        let resp = answer(
            &root,
            &get("/hello.txt", &format!("If-None-Match: {value}\r\n")),
        );
        assert_eq!(resp.status, 304, "{value}");
    }
    // Two fields are one list.
    let two_fields = format!("If-None-Match: \"x\"\r\nIf-None-Match: {etag}\r\n");
    assert_eq!(answer(&root, &get("/hello.txt", &two_fields)).status, 304);
    let other = answer(&root, &get("/hello.txt", "If-None-Match: \"x\"\r\n"));
    assert_eq!(other.status, 200);
    assert_eq!(other.body, b"hello\n");
}

#[test]
fn if_modified_since_is_304_unless_the_file_is_newer() {
    let root = Root::new();
    let modified = last_modified_of(&root, "/hello.txt");
    let resp = answer(
        &root,
        &get("/hello.txt", &format!("If-Modified-Since: {modified}\r\n")),
    );
    assert_eq!(resp.status, 304);
    let time = httpdate::parse_http_date(&modified).expect("a date");
    let earlier = httpdate::fmt_http_date(time - std::time::Duration::from_secs(1));
    let resp = answer(
        &root,
        &get("/hello.txt", &format!("If-Modified-Since: {earlier}\r\n")),
    );
    assert_eq!(resp.status, 200, "changed since {earlier}");
    let garbage = answer(&root, &get("/hello.txt", "If-Modified-Since: soon\r\n"));
    assert_eq!(garbage.status, 200, "an invalid date is ignored");
}

#[test]
fn if_none_match_takes_precedence_over_if_modified_since() {
    let root = Root::new();
    let modified = last_modified_of(&root, "/hello.txt");
    let both = format!("If-None-Match: \"other\"\r\nIf-Modified-Since: {modified}\r\n");
    assert_eq!(answer(&root, &get("/hello.txt", &both)).status, 200);
}

#[test]
fn a_file_changed_on_disk_gets_new_validators_once_the_cache_looks_again() {
    let root = Root::new();
    let etag = etag_of(&root, "/hello.txt");
    std::fs::write(root.www().join("hello.txt"), b"changed!\n").expect("rewrite");
    let conditional = get("/hello.txt", &format!("If-None-Match: {etag}\r\n"));
    let at = |after: std::time::Duration| {
        let mut conn = root.conn();
        conn.handle_input(conditional.as_bytes(), root.t0 + after);
        parse(&drain(&mut conn, root.t0 + after), &[]).remove(0)
    };
    // Within the open-file cache's validity window (1 s) the cached version still answers.
    assert_eq!(at(std::time::Duration::from_millis(500)).status, 304);
    // Past it, the file is looked at again: the new version, with a new tag.
    let resp = at(std::time::Duration::from_millis(1_000));
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, b"changed!\n");
    assert_ne!(resp.header("etag"), Some(etag.as_str()));
}

#[test]
fn one_range_of_a_small_file_is_206_with_its_content_range() {
    let root = Root::new();
    // hello.txt is "hello\n", 6 bytes.
    for (range, body, content_range) in [
        ("bytes=0-3", &b"hell"[..], "bytes 0-3/6"),
        ("bytes=2-", b"llo\n", "bytes 2-5/6"),
        ("bytes=-2", b"o\n", "bytes 4-5/6"),
        ("bytes=1-100", b"ello\n", "bytes 1-5/6"),
        ("bytes=-100", b"hello\n", "bytes 0-5/6"),
        ("bytes=5-5", b"\n", "bytes 5-5/6"),
    ] {
        let resp = answer(&root, &get("/hello.txt", &format!("Range: {range}\r\n")));
        assert_eq!(resp.status, 206, "{range}");
        assert_eq!(resp.body, body, "{range}");
        assert_eq!(resp.header("content-range"), Some(content_range), "{range}");
        let len = body.len().to_string();
        assert_eq!(resp.header("content-length"), Some(len.as_str()), "{range}");
        assert_eq!(
            resp.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
    }
}

#[test]
fn a_range_of_a_big_file_is_streamed_from_its_offset() {
    let root = Root::new();
    let (start, end) = (70_000usize, 150_000usize);
    let req = get("/big.bin", &format!("Range: bytes={start}-{end}\r\n"));
    let (out, _) = exchange(&root, req.as_bytes());
    let resp = &parse(&out, &[])[0];
    assert_eq!(resp.status, 206);
    let expected: Vec<u8> = (start..=end).map(big_byte).collect();
    assert!(
        resp.body == expected,
        "the streamed part is the file's bytes"
    );
    assert_eq!(
        resp.header("content-range"),
        Some(format!("bytes {start}-{end}/{BIG_LEN}").as_str())
    );
}

#[test]
fn a_range_of_a_big_file_goes_to_sendfile_at_its_offset() {
    let root = Root::new();
    let mut conn = root.conn();
    let req = get("/big.bin", "Range: bytes=100000-\r\n");
    conn.handle_input(req.as_bytes(), root.t0);
    let head = conn.next_output().to_vec();
    assert!(head.starts_with(b"HTTP/1.1 206 "), "{head:?}");
    let n = head.len();
    conn.consume(n, root.t0);
    let range = conn.sendfile_range().expect("a file region to send");
    assert_eq!(range.offset, 100_000);
    assert_eq!(range.len, (BIG_LEN - 100_000) as u64);
    let len = range.len;
    conn.consume_file(len, root.t0);
    assert_eq!(conn.responses_sent(), 1);
}

#[test]
fn a_range_past_the_end_is_416_and_the_connection_goes_on() {
    let root = Root::new();
    let two = get("/hello.txt", "Range: bytes=6-\r\n") + &get("/hello.txt", "");
    let (out, conn) = exchange(&root, two.as_bytes());
    let resps = parse(&out, &[]);
    assert_eq!(resps[0].status, 416);
    assert_eq!(resps[0].header("content-range"), Some("bytes */6"));
    assert_eq!(resps[1].status, 200);
    assert!(!conn.is_closed());
    let suffix_zero = answer(&root, &get("/hello.txt", "Range: bytes=-0\r\n"));
    assert_eq!(suffix_zero.status, 416);
}

#[test]
fn several_ranges_and_malformed_ones_get_the_whole_file() {
    let root = Root::new();
    let thousand = format!("Range: bytes={}\r\n", vec!["0-1"; 1000].join(","));
    for headers in [
        "Range: bytes=0-1,3-4\r\n".to_owned(),
        "Range: bytes=abc\r\n".to_owned(),
        "Range: bytes=5-1\r\n".to_owned(),
        "Range: bytes=99999999999999999999-\r\n".to_owned(),
        "Range: lines=1-2\r\n".to_owned(),
        "Range: bytes=0-1\r\nRange: bytes=2-3\r\n".to_owned(),
        "Range: bytes=\u{e9}-1\r\n".to_owned(),
        thousand,
    ] {
        let resp = answer(&root, &get("/hello.txt", &headers));
        assert_eq!(resp.status, 200, "{headers:?}");
        assert_eq!(resp.body, b"hello\n", "{headers:?}");
        assert_eq!(resp.header("content-range"), None);
    }
}

#[test]
fn if_range_keeps_the_range_only_for_the_same_file() {
    let root = Root::new();
    let etag = etag_of(&root, "/hello.txt");
    let modified = last_modified_of(&root, "/hello.txt");
    let ranged = |if_range: &str| {
        answer(
            &root,
            &get(
                "/hello.txt",
                &format!("Range: bytes=0-1\r\nIf-Range: {if_range}\r\n"),
            ),
        )
    };
    assert_eq!(ranged(&etag).status, 206);
    assert_eq!(ranged(&modified).status, 206);
    let other = ranged("\"other\"");
    assert_eq!(other.status, 200, "another version: all of it");
    assert_eq!(other.body, b"hello\n");
    assert_eq!(
        ranged(&format!("W/{etag}")).status,
        200,
        "weak tags never match"
    );
    assert_eq!(ranged("Mon, 01 Jan 1990 00:00:00 GMT").status, 200);
}

#[test]
fn head_answers_exactly_as_get_without_the_body() {
    let root = Root::new();
    let etag = etag_of(&root, "/hello.txt");
    for (path, headers) in [
        ("/hello.txt", String::new()),
        ("/hello.txt", format!("If-None-Match: {etag}\r\n")),
        ("/hello.txt", "Range: bytes=1-2\r\n".to_owned()),
        ("/hello.txt", "Range: bytes=9-\r\n".to_owned()),
        ("/big.bin", "Range: bytes=-70000\r\n".to_owned()),
        ("/sub", String::new()),
        ("/nope", String::new()),
    ] {
        let full = answer(&root, &get(path, &headers));
        let head_only = answer(&root, &head(path, &headers));
        assert_eq!(head_only.status, full.status, "{path} {headers:?}");
        assert_eq!(head_only.headers, full.headers, "{path} {headers:?}");
        assert!(head_only.body.is_empty());
    }
}

#[test]
fn head_of_a_range_sends_no_body_bytes() {
    let root = Root::new();
    let (out, conn) = exchange(
        &root,
        head("/big.bin", "Range: bytes=0-99999\r\n").as_bytes(),
    );
    assert!(out.ends_with(b"\r\n\r\n"), "head only");
    assert!(out.starts_with(b"HTTP/1.1 206 "));
    assert_eq!(conn.responses_sent(), 1);
    let mut conn = conn;
    assert!(drain(&mut conn, root.t0).is_empty());
}

#[test]
fn the_log_records_the_status_that_was_sent() {
    let root = Root::with(|config| config.log_requests = true);
    let etag = etag_of(&root, "/hello.txt");
    for (req, status) in [
        (get("/sub", ""), 301),
        (get("/hello.txt", "Range: bytes=0-1\r\n"), 206),
        (
            get("/hello.txt", &format!("If-None-Match: {etag}\r\n")),
            304,
        ),
        (get("/hello.txt", "Range: bytes=50-\r\n"), 416),
        (get("/hello.txt", ""), 200),
    ] {
        let mut conn = root.conn();
        conn.handle_input(req.as_bytes(), root.t0);
        drain(&mut conn, root.t0);
        let exchange = conn.take_exchange().expect("logged");
        assert_eq!(exchange.status, status, "{req:?}");
    }
}

#[test]
fn a_redirect_and_a_416_are_plain_text_whatever_the_file() {
    let root = Root::new();
    let redirect = answer(&root, &get("/sub", ""));
    assert_eq!(
        redirect.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    let unsatisfiable = answer(&root, &get("/big.bin", "Range: bytes=999999999-\r\n"));
    assert_eq!(unsatisfiable.status, 416);
    assert_eq!(
        unsatisfiable.header("content-type"),
        Some("text/plain; charset=utf-8"),
        "the error text, not the file's type"
    );
}

#[test]
fn a_directory_named_with_its_slash_is_never_redirected() {
    let root = Root::new();
    // An `index.html` that is itself a directory: the request names a directory with its slash,
    // so the answer is about that directory's index (none: 404), not a redirect.
    std::fs::create_dir_all(root.www().join("odd/index.html")).expect("mkdir");
    let resp = answer(&root, &get("/odd/", ""));
    assert_eq!(resp.status, 404);
    assert_eq!(resp.header("location"), None);
}
