//! Test harness: a temporary document root, a deterministic clock, and a tiny response parser.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http_core::{Config, Connection};

/// Size of `big.bin` in the fixture root (several file chunks, not a multiple of 64 KiB).
pub const BIG_LEN: usize = 200_000;

/// Byte `i` of `big.bin`.
pub fn big_byte(i: usize) -> u8 {
    (i * 7 % 251) as u8
}

/// A temporary document root with fixtures, and a directory outside it.
pub struct Root {
    pub dir: tempfile::TempDir,
    pub config: Arc<Config>,
    pub t0: Instant,
}

pub fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create fixture dir");
    }
    std::fs::write(path, bytes).expect("write fixture");
}

impl Root {
    pub fn new() -> Root {
        Root::with(|_| {})
    }

    pub fn with(tune: impl FnOnce(&mut Config)) -> Root {
        let dir = tempfile::tempdir().expect("tempdir");
        let www = dir.path().join("www");
        write(&www.join("index.html"), b"<h1>index</h1>\n");
        write(&www.join("hello.txt"), b"hello\n");
        write(&www.join("style.css"), b"body{}\n");
        write(&www.join("data.weird-ext"), b"??");
        write(&www.join("sub/index.html"), b"<p>sub</p>\n");
        write(&www.join("sub/a b.txt"), b"space\n");
        std::fs::create_dir_all(www.join("empty")).expect("mkdir empty");
        let big: Vec<u8> = (0..BIG_LEN).map(big_byte).collect();
        write(&www.join("big.bin"), &big);
        write(&dir.path().join("secret.txt"), b"secret\n");
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), www.join("escape.txt"))
            .expect("symlink out");
        std::os::unix::fs::symlink(www.join("hello.txt"), www.join("alias.txt"))
            .expect("symlink in");
        let mut config = Config::new(&www).expect("config");
        let t0 = Instant::now();
        // A fixed wall clock: every Date header is the same, so outputs compare byte for byte.
        config.clock_origin = (
            t0,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        );
        tune(&mut config);
        Root {
            dir,
            config: Arc::new(config),
            t0,
        }
    }

    pub fn conn(&self) -> Connection {
        Connection::new(self.config.clone(), self.t0)
    }

    pub fn www(&self) -> std::path::PathBuf {
        self.dir.path().join("www")
    }
}

/// Do the file reads the connection asks for, with `pread`, as a readiness server does.
pub fn read_files(conn: &mut Connection, now: Instant) {
    use std::os::unix::fs::FileExt;
    while conn.file_read().is_some() {
        if conn
            .fill_file_read(now, |file, offset, buf| file.read_at(buf, offset))
            .is_err()
        {
            return; // the connection is closed
        }
    }
}

/// Take all output the connection has, consuming it as a server would (file reads included).
pub fn drain(conn: &mut Connection, now: Instant) -> Vec<u8> {
    let mut all = Vec::new();
    loop {
        read_files(conn, now);
        let out = conn.next_output();
        if out.is_empty() {
            return all;
        }
        let n = out.len();
        all.extend_from_slice(out);
        conn.consume(n, now);
    }
}

/// Feed `input` in one piece, then drain.
pub fn exchange(root: &Root, input: &[u8]) -> (Vec<u8>, Connection) {
    let mut conn = root.conn();
    conn.handle_input(input, root.t0);
    let out = drain(&mut conn, root.t0);
    (out, conn)
}

/// Feed `input` one byte at a time, draining after each byte.
pub fn exchange_bytewise(root: &Root, input: &[u8]) -> (Vec<u8>, Connection) {
    let mut conn = root.conn();
    let mut out = Vec::new();
    for b in input {
        conn.handle_input(std::slice::from_ref(b), root.t0);
        out.extend(drain(&mut conn, root.t0));
    }
    (out, conn)
}

/// One parsed response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Split output into responses. `head_only[i]` says response `i` answers a HEAD (no body).
/// `100 Continue` responses are returned too (they have no body).
pub fn parse(mut bytes: &[u8], head_only: &[bool]) -> Vec<Resp> {
    let mut out = Vec::new();
    let mut index = 0;
    while !bytes.is_empty() {
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("response head ends with a blank line");
        let head = std::str::from_utf8(&bytes[..end]).expect("head is UTF-8");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().expect("status line");
        assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
        let status: u16 = status_line[9..12].parse().expect("status code");
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(": ").expect("header line");
                (n.to_owned(), v.to_owned())
            })
            .collect();
        bytes = &bytes[end + 4..];
        let mut resp = Resp {
            status,
            headers,
            body: Vec::new(),
        };
        if status == 304 {
            // No content, and no Content-Length to say so (RFC 9110 §15.4.5).
            assert!(resp.header("content-length").is_none(), "304 with a length");
            index += 1;
        } else if status != 100 {
            let len: usize = resp
                .header("content-length")
                .expect("Content-Length")
                .parse()
                .expect("numeric Content-Length");
            if !head_only.get(index).copied().unwrap_or(false) {
                resp.body = bytes[..len].to_vec();
                bytes = &bytes[len..];
            }
            index += 1;
        }
        out.push(resp);
    }
    out
}

pub fn parse_one(bytes: &[u8]) -> Resp {
    let mut all = parse(bytes, &[]);
    assert_eq!(
        all.len(),
        1,
        "exactly one response in {:?}",
        String::from_utf8_lossy(bytes)
    );
    all.remove(0)
}
