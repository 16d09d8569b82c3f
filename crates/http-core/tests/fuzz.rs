//! Property tests: whatever bytes arrive, in whatever pieces, the connection never panics, never
//! holds unbounded memory, never produces unbounded output, and (for request streams) answers
//! the same bytes however the input was split.

mod common;

use common::{Root, drain};
use proptest::prelude::*;

/// Feed `input` cut at `cuts`, draining after each piece (and checking the buffer bound).
fn feed_split(root: &Root, input: &[u8], cuts: &[usize]) -> (Vec<u8>, http_core::Connection) {
    let mut conn = root.conn();
    let mut out = Vec::new();
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.push(input.len());
    cuts.sort_unstable();
    let mut start = 0;
    for end in cuts {
        conn.handle_input(&input[start..end], root.t0);
        start = end;
        // Input is bounded by the head limit plus one read; output by one small response batch
        // or one file chunk.
        assert!(
            conn.buffered_bytes() <= 2 * 16 * 1024 + input.len().min(64 * 1024) + 64 * 1024,
            "buffered {}",
            conn.buffered_bytes()
        );
        out.extend(drain(&mut conn, root.t0));
    }
    (out, conn)
}

/// Pieces that request streams are made of: valid requests, bad ones, bodies, garbage.
const FRAGMENTS: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n",
    b"HEAD /hello.txt HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /bytes/100 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /../x HTTP/1.1\r\nHost: a\r\n\r\n",
    b"DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
    b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
    b"GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/9.9\r\n\r\n",
    b"BREW / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n",
    b"\x00\xff garbage",
    // Conditional requests, ranges and the directory redirect.
    b"GET /big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=100-70000\r\n\r\n",
    b"GET /hello.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=-3\r\n\r\n",
    b"GET /hello.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=99-\r\n\r\n",
    b"HEAD /big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=0-\r\n\r\n",
    b"GET /hello.txt HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: Sat, 01 Jan 2050 00:00:00 GMT\r\n\r\n",
    b"HEAD /hello.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: *\r\n\r\n",
    b"GET /hello.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=5-1,,x\r\nIf-Range: W/\"x\"\r\n\r\n",
    b"GET /sub?q=1 HTTP/1.1\r\nHost: a\r\n\r\n",
];

/// 256 cases unless `PROPTEST_CASES` says otherwise (proptest's default reads the variable), so
/// a long run needs no edit: `PROPTEST_CASES=1000000 cargo test --release -p http-core --test fuzz`.
fn runner() -> proptest::test_runner::TestRunner {
    proptest::test_runner::TestRunner::new(ProptestConfig::default())
}

#[test]
fn random_bytes_never_panic_and_stay_bounded() {
    // One document root for all cases (making one per case would dominate the run time).
    let root = Root::new();
    let strategy = (
        proptest::collection::vec(any::<u8>(), 0..4096),
        proptest::collection::vec(any::<usize>(), 0..16),
        any::<bool>(),
    );
    runner()
        .run(&strategy, |(input, cuts, eof)| {
            let (mut out, mut conn) = feed_split(&root, &input, &cuts);
            if eof {
                conn.handle_eof(root.t0);
            } else {
                conn.handle_timeout(root.t0 + std::time::Duration::from_secs(60));
            }
            out.extend(drain(&mut conn, root.t0));
            // Each response answers at least a minimal request's worth of input.
            prop_assert!(
                out.len() <= 512 * (input.len() / 14 + 1),
                "{} bytes out",
                out.len()
            );
            // After end-of-file or a timeout, and the output drained, nothing is left.
            prop_assert!(conn.is_closed());
            prop_assert_eq!(conn.buffered_bytes(), 0);
            Ok(())
        })
        .expect("property holds");
}

#[test]
fn request_streams_answer_the_same_however_split() {
    let root = Root::new();
    let strategy = (
        proptest::collection::vec(0..FRAGMENTS.len(), 1..12),
        proptest::collection::vec(any::<usize>(), 0..24),
    );
    runner()
        .run(&strategy, |(picks, cuts)| {
            let input: Vec<u8> = picks
                .iter()
                .flat_map(|&i| FRAGMENTS[i].iter().copied())
                .collect();
            let (whole, whole_conn) = feed_split(&root, &input, &[]);
            let (split, split_conn) = feed_split(&root, &input, &cuts);
            prop_assert_eq!(
                String::from_utf8_lossy(&whole),
                String::from_utf8_lossy(&split)
            );
            prop_assert_eq!(whole_conn.responses_sent(), split_conn.responses_sent());
            prop_assert_eq!(whole_conn.is_closed(), split_conn.is_closed());
            Ok(())
        })
        .expect("property holds");
}

/// A value for a conditional or range header: mostly near-valid syntax, sometimes anything.
fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "bytes=[0-9]{0,21}-[0-9]{0,21}",
        "bytes=-[0-9]{0,21}",
        "(bytes|BYTES|items)=([0-9]{0,3}-[0-9]{0,3},? ?){0,6}",
        "(W/)?\"[a-z0-9-]{0,12}\"(, ?(W/)?\"[a-z0-9-]{0,12}\"){0,3}",
        "\\*",
        "(Mon|Tue|Sun), [0-9]{2} (Jan|Nov) (1990|2023|2050) [0-9]{2}:[0-9]{2}:[0-9]{2} GMT",
        "[ -~]{0,40}",
    ]
}

#[test]
fn any_conditional_or_range_headers_give_a_consistent_answer() {
    let root = Root::new();
    let hello = b"hello\n";
    let strategy = (
        proptest::collection::vec(
            (
                prop_oneof![
                    Just("Range"),
                    Just("If-Range"),
                    Just("If-None-Match"),
                    Just("If-Modified-Since")
                ],
                header_value(),
            ),
            0..5,
        ),
        any::<bool>(),
        proptest::collection::vec(any::<usize>(), 0..8),
    );
    runner()
        .run(&strategy, |(headers, head_only, cuts)| {
            let mut req = format!(
                "{} /hello.txt HTTP/1.1\r\nHost: a\r\n",
                if head_only { "HEAD" } else { "GET" }
            );
            for (name, value) in &headers {
                req.push_str(&format!("{name}: {value}\r\n"));
            }
            req.push_str("\r\n");
            let (whole, _) = feed_split(&root, req.as_bytes(), &[]);
            let (split, _) = feed_split(&root, req.as_bytes(), &cuts);
            prop_assert_eq!(&whole, &split, "the answer does not depend on the split");
            let resp = &common::parse(&whole, &[head_only])[0];
            match resp.status {
                200 => prop_assert!(head_only || resp.body == hello),
                206 => {
                    let range = resp.header("content-range").expect("Content-Range");
                    let (span, total) = range
                        .strip_prefix("bytes ")
                        .and_then(|r| r.split_once('/'))
                        .expect("bytes a-b/len");
                    prop_assert_eq!(total, "6");
                    let (a, b) = span.split_once('-').expect("a-b");
                    let (a, b): (usize, usize) =
                        (a.parse().expect("first"), b.parse().expect("last"));
                    prop_assert!(a <= b && b < 6);
                    prop_assert!(head_only || resp.body == hello[a..=b]);
                }
                304 => prop_assert!(resp.body.is_empty()),
                416 => prop_assert_eq!(resp.header("content-range"), Some("bytes */6")),
                other => prop_assert!(false, "status {} for {:?}", other, req),
            }
            Ok(())
        })
        .expect("property holds");
}
