//! The default limits and buffer sizes are the ones the crate documents, seen from outside: a
//! request exactly at a default limit passes, one byte over is refused; output is cut where the
//! docs say. (A test with custom limits cannot notice a wrong default.)

mod common;

use common::{Root, drain, exchange, parse, parse_one};
use http_core::{
    FILE_CHUNK_BYTES, MAX_BODY_BYTES, MAX_GENERATED_BYTES, MAX_HEAD_BYTES, MAX_URI_BYTES,
    PIPELINE_OUTPUT_LIMIT, SMALL_BODY_BYTES,
};

#[test]
fn default_limits_are_the_documented_sizes() {
    assert_eq!(MAX_HEAD_BYTES, 16_384, "16 KiB head");
    assert_eq!(MAX_URI_BYTES, 8_192, "8 KiB request target");
    assert_eq!(MAX_BODY_BYTES, 1_048_576, "1 MiB body");
    assert_eq!(MAX_GENERATED_BYTES, 1_073_741_824, "1 GiB of /bytes/N");
    assert_eq!(SMALL_BODY_BYTES, 16_384, "16 KiB small body");
    assert_eq!(FILE_CHUNK_BYTES, 65_536, "64 KiB file chunk");
    assert_eq!(PIPELINE_OUTPUT_LIMIT, 65_536, "64 KiB pipelined output");
}

#[test]
fn default_uri_limit_8_kib() {
    let root = Root::new();
    let status = |len: usize| {
        let target = format!("/{}", "u".repeat(len - 1));
        let req = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        parse_one(&exchange(&root, req.as_bytes()).0).status
    };
    assert_eq!(status(8_192), 404);
    assert_eq!(status(8_193), 414);
}

#[test]
fn default_head_limit_16_kib() {
    let root = Root::new();
    // A head (request line + fields + blank line) of exactly `len` bytes.
    let head = |len: usize| {
        let start = b"GET /hello.txt HTTP/1.1\r\nHost: a\r\nX-Pad: ".to_vec();
        let mut h = start.clone();
        h.resize(len - 4, b'p');
        h.extend_from_slice(b"\r\n\r\n");
        assert_eq!(h.len(), len);
        h
    };
    assert_eq!(parse_one(&exchange(&root, &head(16_384)).0).status, 200);
    assert_eq!(parse_one(&exchange(&root, &head(16_385)).0).status, 431);
}

#[test]
fn default_body_limit_1_mib() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1048576\r\n\r\n",
        root.t0,
    );
    assert!(
        conn.next_output().is_empty() && conn.wants_read(),
        "exactly 1 MiB: the body is awaited"
    );
    let (out, _) = exchange(
        &root,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1048577\r\n\r\n",
    );
    assert_eq!(parse_one(&out).status, 413);
}

#[test]
fn default_generated_limit_1_gib() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(
        b"GET /bytes/1073741824 HTTP/1.1\r\nHost: a\r\n\r\n",
        root.t0,
    );
    let first = conn.next_output();
    assert!(
        first.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "{:?}",
        String::from_utf8_lossy(&first[..first.len().min(200)])
    );
    let (out, _) = exchange(&root, b"GET /bytes/1073741825 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(parse_one(&out).status, 400);
}

#[test]
fn a_small_body_is_sent_with_its_head_in_one_buffer_a_bigger_one_is_not() {
    let root = Root::new();
    common::write(&root.www().join("at.bin"), &[b'a'; 16_384]);
    common::write(&root.www().join("over.bin"), &[b'o'; 16_385]);
    let mut conn = root.conn();
    conn.handle_input(b"GET /at.bin HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    assert!(conn.sendfile_range().is_none());
    assert_eq!(
        conn.file_read().map(|r| r.len),
        Some(16_384),
        "one read for the body"
    );
    common::read_files(&mut conn, root.t0);
    assert!(
        conn.next_output().ends_with(&[b'a'; 16_384]),
        "head + body in one buffer"
    );
    let mut conn = root.conn();
    conn.handle_input(b"GET /over.bin HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    common::read_files(&mut conn, root.t0);
    assert!(
        conn.next_output().ends_with(b"\r\n\r\n"),
        "the head alone first"
    );
    // Generated bodies follow the same rule.
    let mut conn = root.conn();
    conn.handle_input(b"GET /bytes/16384 HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    let out = conn.next_output().to_vec();
    let resp = parse_one(&out);
    assert_eq!(
        resp.body.len(),
        16_384,
        "one buffer holds the whole response"
    );
    let mut conn = root.conn();
    conn.handle_input(b"GET /bytes/16385 HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    assert!(conn.next_output().ends_with(b"\r\n\r\n"));
}

#[test]
fn a_big_file_is_read_in_64_kib_chunks() {
    let root = Root::new();
    let mut conn = root.conn();
    conn.handle_input(b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n", root.t0);
    let head = conn.next_output().len();
    conn.consume(head, root.t0);
    assert_eq!(conn.file_read().map(|r| r.len), Some(65_536), "first chunk");
    common::read_files(&mut conn, root.t0);
    assert_eq!(conn.next_output().len(), 65_536, "first chunk");
    assert_eq!(drain(&mut conn, root.t0).len(), common::BIG_LEN);
}

#[test]
fn pipelined_answers_are_batched_up_to_64_kib() {
    let root = Root::new();
    let mut conn = root.conn();
    // Each answer is a head plus 1,000 bytes; 100 of them are far more than 64 KiB.
    let one = b"GET /bytes/1000 HTTP/1.1\r\nHost: a\r\n\r\n";
    conn.handle_input(&one.repeat(100), root.t0);
    let first = conn.next_output().to_vec();
    assert!(
        (65_536..65_536 + 2_000).contains(&first.len()),
        "the first write holds just over 64 KiB of answers, got {}",
        first.len()
    );
    conn.consume(first.len(), root.t0);
    let rest = drain(&mut conn, root.t0);
    assert_eq!(parse(&first, &[]).len() + parse(&rest, &[]).len(), 100);
}

#[test]
fn a_root_changed_after_new_is_the_root_that_is_served() {
    // `Config::root` is public: a caller may point an existing configuration at another
    // directory. The directory `new` opened for the `openat2` fast path belongs to the old root
    // and must not be used for the new one: here the new root is `www/sub`, and a symlink in it
    // that leads back up to `www/hello.txt` leaves the new root although it stays beneath the
    // old one.
    let root = Root::with(|config| {
        let sub = config.root.join("sub");
        std::os::unix::fs::symlink("../hello.txt", sub.join("up.txt")).expect("symlink up");
        config.root = sub;
    });
    let get = |path: &str| {
        let req = format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n");
        parse_one(&exchange(&root, req.as_bytes()).0)
    };
    let here = get("/a%20b.txt");
    assert_eq!(here.status, 200);
    assert_eq!(here.body, b"space\n");
    assert_eq!(
        get("/up.txt").status,
        403,
        "a symlink out of the new root is refused"
    );
}
