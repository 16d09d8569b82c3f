//! Unit tests of the internal pieces: path decoding and the chunked decoder. The behaviour of a
//! whole connection is tested in `tests/`.

use crate::body::{self, BodyLimits, Chunk, Decoded, Framing};
use crate::route::{decode_path, origin_path};

#[test]
fn decode_path_table() {
    let cases: &[(&str, Result<&[u8], u16>)] = &[
        ("/", Ok(b"/")),
        ("/a%20b", Ok(b"/a b")),
        ("/%41%42%63", Ok(b"/ABc")),
        ("/caf%C3%A9", Ok("/café".as_bytes())),
        ("/./a", Ok(b"/./a")),
        ("/a..b", Ok(b"/a..b")),
        ("/..", Err(403)),
        ("/a/../b", Err(403)),
        ("/%2e%2e/b", Err(403)),
        ("/%2E./b", Err(403)),
        ("/a%2fb", Err(404)),
        ("/a%2Fb", Err(404)),
        ("/a%00", Err(400)),
        ("/a%", Err(400)),
        ("/a%4", Err(400)),
        ("/a%g1", Err(400)),
    ];
    for (input, expected) in cases {
        let got = decode_path(input).map_err(|(status, _)| status);
        assert_eq!(got.as_deref(), expected.as_deref(), "{input}");
    }
}

#[test]
fn origin_path_table() {
    assert_eq!(origin_path("/a?b=c"), Some("/a"));
    assert_eq!(origin_path("/a#frag"), Some("/a"));
    assert_eq!(origin_path("http://host:80/x/y?z"), Some("/x/y"));
    assert_eq!(origin_path("HTTPS://host"), Some("/"));
    assert_eq!(origin_path("*"), None);
    assert_eq!(origin_path("host:443"), None);
    assert_eq!(origin_path("ftp://x/y"), None);
}

const LIMITS: BodyLimits = BodyLimits {
    max_body: 1024,
    max_line: 64,
};

/// Decode `input` fed in pieces of `step` bytes (unused bytes are kept, as the connection does).
fn decode_in_steps(input: &[u8], step: usize) -> (Vec<u8>, Decoded, usize) {
    let mut framing = Framing::chunked();
    let mut received = 0;
    let mut sink = Vec::new();
    let mut buffered: Vec<u8> = Vec::new();
    let mut fed = 0;
    loop {
        let end = (fed + step).min(input.len());
        buffered.extend_from_slice(&input[fed..end]);
        fed = end;
        let (used, result) = body::decode(
            &mut framing,
            &buffered,
            &mut received,
            LIMITS,
            Some(&mut sink),
        );
        buffered.drain(..used);
        if result != Decoded::NeedMore || fed == input.len() {
            return (sink, result, buffered.len());
        }
    }
}

#[test]
fn chunked_any_split_same_result() {
    let input = b"4;name=value\r\nWiki\r\n5 ; x\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: 1\r\n\r\nNEXT";
    for step in [1, 2, 3, 7, input.len()] {
        let (body, result, left) = decode_in_steps(input, step);
        assert_eq!(result, Decoded::Done, "step {step}");
        assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.", "step {step}");
        if step == input.len() {
            assert_eq!(left, 4, "NEXT belongs to the next request");
        }
    }
}

#[test]
fn chunked_errors() {
    let cases: &[(&[u8], Decoded)] = &[
        (b"x\r\n", Decoded::Error(400, "invalid chunk size")),
        (b"401\r\n", Decoded::Error(413, "request body too large")),
        (
            b"3\r\nabcX",
            Decoded::Error(400, "missing CRLF after chunk data"),
        ),
        (
            b"0\r\nno colon\r\n",
            Decoded::Error(400, "invalid trailer field"),
        ),
        (&[b'1'; 100], Decoded::Error(400, "invalid chunk size")),
        // httparse skips blanks around the size: only the line limit stops these.
        (
            &[b' '; 100],
            Decoded::Error(400, "chunk size line too long"),
        ),
    ];
    for (input, expected) in cases {
        let (_, result, _) = decode_in_steps(input, input.len());
        assert_eq!(result, *expected, "{:?}", String::from_utf8_lossy(input));
    }
    // An extension that never ends is cut off at the line limit.
    let long = [&b"1;"[..], &[b'x'; 100]].concat();
    let (_, result, _) = decode_in_steps(&long, 1);
    assert_eq!(result, Decoded::Error(400, "chunk size line too long"));
}

#[test]
fn content_length_framing_stops_at_the_end() {
    let mut framing = Framing::Length { remaining: 3 };
    let mut received = 0;
    let (used, result) = body::decode(&mut framing, b"abcdef", &mut received, LIMITS, None);
    assert_eq!((used, result, received), (3, Decoded::Done, 3));
    assert_eq!(framing, Framing::Length { remaining: 0 });
    let mut framing = Framing::Chunked(Chunk::DataEnd);
    let (used, result) = body::decode(&mut framing, b"\r", &mut received, LIMITS, None);
    assert_eq!((used, result), (0, Decoded::NeedMore));
}

#[test]
fn the_root_directory_is_opened_once_for_the_openat2_fast_path() {
    // Without the opened root every file request would take the slow path (an extra
    // `readlink` per request); the answers would be the same, so only this test notices.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = crate::Config::new(dir.path()).expect("config");
    assert!(config.root_dir().is_some(), "root directory opened");
}

#[test]
fn every_status_we_send_has_its_rfc_9110_reason_phrase() {
    use crate::response::reason;
    for (status, phrase) in [
        (100, "Continue"),
        (200, "OK"),
        (206, "Partial Content"),
        (301, "Moved Permanently"),
        (304, "Not Modified"),
        (400, "Bad Request"),
        (403, "Forbidden"),
        (404, "Not Found"),
        (405, "Method Not Allowed"),
        (408, "Request Timeout"),
        (413, "Content Too Large"),
        (414, "URI Too Long"),
        (416, "Range Not Satisfiable"),
        (431, "Request Header Fields Too Large"),
        (500, "Internal Server Error"),
        (501, "Not Implemented"),
        (503, "Service Unavailable"),
        (505, "HTTP Version Not Supported"),
    ] {
        assert_eq!(reason(status), phrase, "{status}");
    }
    assert_eq!(reason(299), "Unknown");
}
