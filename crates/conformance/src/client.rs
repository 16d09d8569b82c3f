//! A small, strict, blocking HTTP/1.1 client for the checks.
//!
//! Every read and write has a timeout ([`TIMEOUT`]), so a server that hangs fails the check
//! instead of hanging the test run. A [`Conn`] records what it sent and received, and every
//! failure it reports ([`Conn::fail`]) prints that transcript.
//!
//! The response parser is deliberately strict (CRLF line ends, a three-digit status, `name:
//! value` headers, exact `Content-Length`), because it checks the server's output; its pure parts
//! ([`parse_head`], [`decode_chunked`]) are unit-tested with canned bytes below.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Timeout of every single read, write and connect.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Largest response body the client accepts (a server that announces or streams more fails the
/// check instead of filling the test's memory).
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// How many bytes of each direction a transcript keeps.
pub const TRANSCRIPT_LIMIT: usize = 4096;

/// One parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    /// Status code.
    pub status: u16,
    /// Reason phrase (may be empty).
    pub reason: String,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked if it was chunked; empty for `HEAD`, 1xx, 204, 304).
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header called `name` (case-insensitive).
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The `Content-Type` without parameters, lowercased (`text/html; charset=utf-8` →
    /// `text/html`).
    pub fn media_type(&self) -> Option<String> {
        let value = self.header("content-type")?;
        let media = value.split(';').next().unwrap_or("").trim();
        Some(media.to_ascii_lowercase())
    }

    /// The `Content-Length` as a number, if present and numeric.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")?.trim().parse().ok()
    }

    /// Whether the `Connection` header has the token `token` (case-insensitive).
    pub fn connection_has(&self, token: &str) -> bool {
        self.headers_named("connection").iter().any(|value| {
            value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    }

    /// The body as text (lossy), for messages.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} {} {}", self.version, self.status, self.reason)?;
        for (name, value) in &self.headers {
            writeln!(f, "{name}: {value}")?;
        }
        write!(
            f,
            "\n<body: {} bytes> {}",
            self.body.len(),
            escape(&self.body, 300)
        )
    }
}

/// The status line and headers of a response, before its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: String,
    /// Header fields in order.
    pub headers: Vec<(String, String)>,
}

/// Parse a response head from the start of `buf`: `Ok(None)` if the blank line has not arrived
/// yet, else the head and how many bytes it took (including the blank line).
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, String> {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        if buf.len() > 64 * 1024 {
            return Err("response head longer than 64 KiB".into());
        }
        return Ok(None);
    };
    let text =
        std::str::from_utf8(&buf[..end]).map_err(|_| "response head is not UTF-8".to_string())?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    if status_line.contains('\n') {
        return Err(format!("bare LF in status line {status_line:?}"));
    }
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let code = parts.next().unwrap_or("");
    let reason = parts.next().unwrap_or("");
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(format!("bad status line {status_line:?} (version)"));
    }
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad status line {status_line:?} (status code)"));
    }
    let status: u16 = code
        .parse()
        .map_err(|_| format!("bad status code in {status_line:?}"))?;
    let mut headers = Vec::new();
    for line in lines {
        if line.contains('\n') || line.contains('\r') {
            return Err(format!("bare CR or LF in header line {line:?}"));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("header line without a colon: {line:?}"));
        };
        if name.is_empty() || name.bytes().any(|b| b <= b' ' || b >= 0x7f) {
            return Err(format!("bad header name in {line:?}"));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let head = Head {
        version: version.to_string(),
        status,
        reason: reason.to_string(),
        headers,
    };
    Ok(Some((head, end + 4)))
}

/// Decode a chunked body from the start of `buf`: `Ok(None)` if it is not complete yet, else the
/// body and how many bytes the chunked encoding took (including the trailer section).
pub fn decode_chunked(buf: &[u8]) -> Result<Option<(Vec<u8>, usize)>, String> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let Some(line_end) = find(&buf[at..], b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&buf[at..at + line_end])
            .map_err(|_| "chunk size line is not UTF-8".to_string())?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size line {line:?}"))?;
        at += line_end + 2;
        if size == 0 {
            // Trailer fields, then an empty line.
            loop {
                let Some(end) = find(&buf[at..], b"\r\n") else {
                    return Ok(None);
                };
                at += end + 2;
                if end == 0 {
                    return Ok(Some((body, at)));
                }
            }
        }
        if buf.len() < at + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[at..at + size]);
        at += size;
        if &buf[at..at + 2] != b"\r\n" {
            return Err("chunk data not followed by CRLF".into());
        }
        at += 2;
    }
}

/// How the body of a response is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(usize),
    Chunked,
    UntilClose,
}

fn framing(head: &Head, head_only: bool) -> Result<Framing, String> {
    if head_only || head.status / 100 == 1 || head.status == 204 || head.status == 304 {
        return Ok(Framing::None);
    }
    let find_all = |name: &str| -> Vec<&str> {
        head.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let te = find_all("transfer-encoding");
    let cl = find_all("content-length");
    if !te.is_empty() {
        if !cl.is_empty() {
            return Err("response has both Transfer-Encoding and Content-Length".into());
        }
        if te.iter().any(|v| v.trim().eq_ignore_ascii_case("chunked")) {
            return Ok(Framing::Chunked);
        }
        return Err(format!("unsupported response Transfer-Encoding {te:?}"));
    }
    match cl.as_slice() {
        [] => Ok(Framing::UntilClose),
        [one] => one
            .trim()
            .parse()
            .map(Framing::Length)
            .map_err(|_| format!("bad Content-Length {one:?}")),
        many => Err(format!("several Content-Length headers {many:?}")),
    }
}

/// One client connection with a transcript.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    /// Bytes received and not yet parsed.
    buf: Vec<u8>,
    /// Whether the peer closed (read returned 0 or the connection was reset).
    eof: bool,
    /// Whether that end was a reset (`ECONNRESET`) rather than a FIN.
    reset: bool,
    sent_log: Vec<u8>,
    sent_total: usize,
    received_log: Vec<u8>,
    received_total: usize,
    /// Largest single read (smaller = a slower reader).
    read_piece: usize,
    /// Pause before each read (a slow reader).
    read_pause: Duration,
}

impl Conn {
    /// Connect to `addr` (panics with the error if that fails).
    #[track_caller]
    pub fn open(addr: SocketAddr) -> Conn {
        match Conn::try_open(addr) {
            Ok(conn) => conn,
            Err(err) => panic!("connect to {addr} failed: {err}"),
        }
    }

    /// Connect to `addr`, with [`TIMEOUT`] on connect, reads and writes.
    pub fn try_open(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::new(),
            eof: false,
            reset: false,
            sent_log: Vec::new(),
            sent_total: 0,
            received_log: Vec::new(),
            received_total: 0,
            read_piece: 64 * 1024,
            read_pause: Duration::ZERO,
        })
    }

    /// The socket, for options such as `SO_LINGER` or a smaller receive buffer.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Make this a slow reader: each read takes at most `piece` bytes and waits `pause` first,
    /// so the server's send buffer fills and its writes come back short or with `EAGAIN`.
    pub fn throttle(&mut self, piece: usize, pause: Duration) {
        self.read_piece = piece.clamp(1, 64 * 1024);
        self.read_pause = pause;
    }

    /// Bytes received so far on this connection.
    pub fn received_total(&self) -> usize {
        self.received_total
    }

    /// Send all of `bytes` (panics with the transcript on error).
    #[track_caller]
    pub fn send(&mut self, bytes: &[u8]) {
        if let Err(err) = self.try_send(bytes) {
            self.fail(&format!("write failed: {err}"));
        }
    }

    /// Send all of `bytes`.
    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        log_into(&mut self.sent_log, bytes);
        self.sent_total += bytes.len();
        self.stream.write_all(bytes)
    }

    /// Close our sending half (`shutdown(SHUT_WR)`): the server reads EOF.
    #[track_caller]
    pub fn shutdown_write(&mut self) {
        if let Err(err) = self.stream.shutdown(Shutdown::Write) {
            self.fail(&format!("shutdown(SHUT_WR) failed: {err}"));
        }
    }

    /// Read one more piece from the socket into the buffer; `Ok(0)` = peer closed.
    fn fill(&mut self) -> io::Result<usize> {
        if self.eof {
            return Ok(0);
        }
        let mut chunk = [0u8; 64 * 1024];
        if !self.read_pause.is_zero() {
            std::thread::sleep(self.read_pause);
        }
        loop {
            match self.stream.read(&mut chunk[..self.read_piece]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(0);
                }
                Ok(n) => {
                    log_into(&mut self.received_log, &chunk[..n]);
                    self.received_total += n;
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) if is_reset(&err) => {
                    self.eof = true;
                    self.reset = true;
                    return Ok(0);
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Read one response whose body is framed by its headers (panics with the transcript).
    #[track_caller]
    pub fn read_response(&mut self) -> Response {
        match self.try_read_response(false) {
            Ok(resp) => resp,
            Err(err) => self.fail(&err),
        }
    }

    /// Read the response to a `HEAD` request (no body whatever the headers say).
    #[track_caller]
    pub fn read_head_response(&mut self) -> Response {
        match self.try_read_response(true) {
            Ok(resp) => resp,
            Err(err) => self.fail(&err),
        }
    }

    /// Read one response; `head_only` for a response to `HEAD`. Errors are descriptions.
    pub fn try_read_response(&mut self, head_only: bool) -> Result<Response, String> {
        let (head, used) = loop {
            if let Some(found) = parse_head(&self.buf)? {
                break found;
            }
            match self.fill() {
                Ok(0) if self.buf.is_empty() => {
                    return Err("connection closed before any response byte".into());
                }
                Ok(0) => return Err("connection closed in the middle of a response head".into()),
                Ok(_) => {}
                Err(err) => return Err(format!("reading the response head: {err}")),
            }
        };
        self.buf.drain(..used);
        let body = match framing(&head, head_only)? {
            Framing::None => Vec::new(),
            Framing::Length(len) if len > MAX_BODY => {
                return Err(format!(
                    "Content-Length {len} is over the test client's limit of {MAX_BODY} bytes"
                ));
            }
            Framing::Length(len) => {
                while self.buf.len() < len {
                    match self.fill() {
                        Ok(0) => {
                            return Err(format!(
                                "connection closed after {} of {len} body bytes",
                                self.buf.len()
                            ));
                        }
                        Ok(_) => {}
                        Err(err) => {
                            return Err(format!(
                                "reading the body ({} of {len} bytes): {err}",
                                self.buf.len()
                            ));
                        }
                    }
                }
                self.buf.drain(..len).collect()
            }
            Framing::Chunked => loop {
                if let Some((body, used)) = decode_chunked(&self.buf)? {
                    self.buf.drain(..used);
                    break body;
                }
                if self.buf.len() > MAX_BODY {
                    return Err(format!("chunked body over {MAX_BODY} bytes"));
                }
                match self.fill() {
                    Ok(0) => return Err("connection closed inside a chunked body".into()),
                    Ok(_) => {}
                    Err(err) => return Err(format!("reading a chunked body: {err}")),
                }
            },
            Framing::UntilClose => {
                self.read_until_close()?;
                std::mem::take(&mut self.buf)
            }
        };
        Ok(Response {
            version: head.version,
            status: head.status,
            reason: head.reason,
            headers: head.headers,
            body,
        })
    }

    fn read_until_close(&mut self) -> Result<(), String> {
        loop {
            if self.buf.len() > MAX_BODY {
                return Err(format!(
                    "more than {MAX_BODY} bytes before the server closed"
                ));
            }
            match self.fill() {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(err) => return Err(format!("reading until the server closes: {err}")),
            }
        }
    }

    /// Everything until the server closes the connection (panics on a timeout).
    #[track_caller]
    pub fn read_to_end(&mut self) -> Vec<u8> {
        if let Err(err) = self.read_until_close() {
            self.fail(&err);
        }
        std::mem::take(&mut self.buf)
    }

    /// Read at most `max` bytes, waiting at most [`TIMEOUT`] (an empty result: the peer closed).
    #[track_caller]
    pub fn read_some(&mut self, max: usize) -> Vec<u8> {
        if self.buf.is_empty() {
            if let Err(err) = self.fill() {
                self.fail(&format!("read failed: {err}"));
            }
        }
        let n = max.min(self.buf.len());
        self.buf.drain(..n).collect()
    }

    /// Wait up to `within` for the server to close the connection with no further byte.
    /// `Err` says what happened instead (bytes arrived, or it stayed open).
    pub fn wait_closed(&mut self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        loop {
            if !self.buf.is_empty() {
                return Err(format!(
                    "expected the connection to close, but {} more bytes arrived: {}",
                    self.buf.len(),
                    escape(&self.buf, 200)
                ));
            }
            if self.eof {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("connection still open after {within:?}"));
            }
            let _ = self.stream.set_read_timeout(Some(left));
            let result = self.fill();
            let _ = self.stream.set_read_timeout(Some(TIMEOUT));
            match result {
                Ok(_) => {}
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(err) => return Err(format!("read failed: {err}")),
            }
        }
    }

    /// Assert that the server closes the connection within [`TIMEOUT`] without sending more,
    /// and with a FIN: a reset (which [`Conn::expect_closed`] also accepts) fails.
    #[track_caller]
    pub fn expect_fin(&mut self, why: &str) {
        self.expect_closed(why);
        if self.reset {
            self.fail(&format!(
                "{why}: the connection was reset, not closed with a FIN"
            ));
        }
    }

    /// Whether the server closes the connection within [`TIMEOUT`] without sending more.
    pub fn is_closed(&mut self) -> bool {
        self.wait_closed(TIMEOUT).is_ok()
    }

    /// Assert that the server closes the connection within [`TIMEOUT`] without sending more.
    #[track_caller]
    pub fn expect_closed(&mut self, why: &str) {
        if let Err(err) = self.wait_closed(TIMEOUT) {
            self.fail(&format!("{why}: {err}"));
        }
    }

    /// What was sent and received on this connection (first [`TRANSCRIPT_LIMIT`] bytes each way).
    pub fn transcript(&self) -> String {
        format!(
            "--- sent ({} bytes):\n{}\n--- received ({} bytes):\n{}\n--- unparsed: {} bytes",
            self.sent_total,
            escape(&self.sent_log, TRANSCRIPT_LIMIT),
            self.received_total,
            escape(&self.received_log, TRANSCRIPT_LIMIT),
            self.buf.len(),
        )
    }

    /// Fail the check with `msg` and the transcript.
    #[track_caller]
    pub fn fail(&self, msg: &str) -> ! {
        panic!("{msg}\n{}", self.transcript());
    }

    /// Fail with `msg`, the transcript and the response, unless `ok`.
    #[track_caller]
    pub fn check(&self, ok: bool, msg: &str, resp: &Response) {
        if !ok {
            self.fail(&format!("{msg}\n--- parsed response:\n{resp}"));
        }
    }

    /// Fail unless `resp` has status `status`.
    #[track_caller]
    pub fn expect_status(&self, resp: &Response, status: u16) {
        self.check(
            resp.status == status,
            &format!("expected status {status}, got {}", resp.status),
            resp,
        );
    }
}

/// Open a connection, send `raw`, read one response (no body if `raw` starts with `HEAD `).
/// Returns the connection too, so the caller can keep checking (e.g. that it closes).
#[track_caller]
pub fn exchange(addr: SocketAddr, raw: &[u8]) -> (Conn, Response) {
    let mut conn = Conn::open(addr);
    conn.send(raw);
    let resp = if raw.starts_with(b"HEAD ") {
        conn.read_head_response()
    } else {
        conn.read_response()
    };
    (conn, resp)
}

/// Send `raw` on a new connection and read one response.
#[track_caller]
pub fn request(addr: SocketAddr, raw: &[u8]) -> Response {
    exchange(addr, raw).1
}

/// `GET path` with `Connection: close` on a new connection.
#[track_caller]
pub fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, get_request(path).as_bytes())
}

/// The text of a minimal `GET path HTTP/1.1` request with `Connection: close`.
pub fn get_request(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: conformance\r\nConnection: close\r\n\r\n")
}

/// Whether `err` means the peer reset or aborted the connection.
pub fn is_reset(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
    )
}

/// `bytes` as printable text (escapes for control and non-ASCII bytes), cut at `limit`.
pub fn escape(bytes: &[u8], limit: usize) -> String {
    let mut out = String::new();
    for &b in bytes.iter().take(limit) {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n\n"),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    if bytes.len() > limit {
        out.push_str(&format!("… ({} more bytes)", bytes.len() - limit));
    }
    out
}

fn log_into(log: &mut Vec<u8>, bytes: &[u8]) {
    let room = TRANSCRIPT_LIMIT.saturating_sub(log.len());
    log.extend_from_slice(&bytes[..room.min(bytes.len())]);
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_incomplete_until_blank_line() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n";
        assert_eq!(parse_head(raw), Ok(None));
    }

    #[test]
    fn head_parsed_with_headers_and_length() {
        let raw = b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nX-A:  b \r\n\r\nabc";
        let (head, used) = parse_head(raw).expect("valid").expect("complete");
        assert_eq!(used, raw.len() - 3);
        assert_eq!(head.version, "HTTP/1.1");
        assert_eq!(head.status, 404);
        assert_eq!(head.reason, "Not Found");
        assert_eq!(
            head.headers,
            vec![
                ("Content-Length".to_string(), "3".to_string()),
                ("X-A".to_string(), "b".to_string())
            ]
        );
    }

    #[test]
    fn head_rejects_bad_status_lines() {
        for raw in [
            &b"HTTP/2 200 OK\r\n\r\n"[..],
            b"HTTP/1.1 20 OK\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
            b"HTTP/1.1 200 OK\nX: y\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nBad Name: y\r\n\r\n",
        ] {
            assert!(parse_head(raw).is_err(), "{}", escape(raw, 100));
        }
    }

    #[test]
    fn chunked_body_with_extension_and_trailer() {
        let raw = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: t\r\n\r\nNEXT";
        let (body, used) = decode_chunked(raw).expect("valid").expect("complete");
        assert_eq!(body, b"Wikipedia");
        assert_eq!(&raw[used..], b"NEXT");
    }

    #[test]
    fn chunked_body_incomplete_at_every_cut() {
        let raw = b"4\r\nWiki\r\n0\r\n\r\n";
        for cut in 0..raw.len() {
            assert_eq!(decode_chunked(&raw[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(decode_chunked(b"zz\r\n").is_err());
        assert!(decode_chunked(b"1\r\nab\r\n").is_err());
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let head = |status, headers: &[(&str, &str)]| Head {
            version: "HTTP/1.1".into(),
            status,
            reason: String::new(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        };
        let cl = [("Content-Length", "7")];
        assert_eq!(framing(&head(200, &cl), false), Ok(Framing::Length(7)));
        assert_eq!(framing(&head(200, &cl), true), Ok(Framing::None));
        assert_eq!(framing(&head(100, &[]), false), Ok(Framing::None));
        assert_eq!(framing(&head(200, &[]), false), Ok(Framing::UntilClose));
        let te = [("Transfer-Encoding", "chunked")];
        assert_eq!(framing(&head(200, &te), false), Ok(Framing::Chunked));
        let both = [("Transfer-Encoding", "chunked"), ("Content-Length", "1")];
        assert!(framing(&head(200, &both), false).is_err());
        let two = [("Content-Length", "1"), ("content-length", "2")];
        assert!(framing(&head(200, &two), false).is_err());
    }

    #[test]
    fn response_helpers() {
        let resp = Response {
            version: "HTTP/1.1".into(),
            status: 200,
            reason: "OK".into(),
            headers: vec![
                ("Content-Type".into(), "Text/HTML; charset=utf-8".into()),
                ("Connection".into(), "keep-alive, Close".into()),
                ("Content-Length".into(), "12".into()),
            ],
            body: b"hello".to_vec(),
        };
        assert_eq!(resp.media_type().as_deref(), Some("text/html"));
        assert!(resp.connection_has("close"));
        assert!(!resp.connection_has("upgrade"));
        assert_eq!(resp.content_length(), Some(12));
        assert_eq!(resp.header("CONTENT-LENGTH"), Some("12"));
    }
}
