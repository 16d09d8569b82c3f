//! An incremental HTTP/1.1 *response* parser for the load generator.
//!
//! Bytes arrive in whatever pieces `read(2)` returns; [`ResponseParser::feed`] takes each piece,
//! says how many bytes it used, and reports a finished response as soon as its last body byte is
//! in. Nothing is allocated per response: the head is parsed straight from the read buffer when it
//! arrives whole (the common case), and copied into one reusable per-connection buffer only when it
//! is split across reads. Bodies are counted, never stored.
//!
//! Body framing, in the order RFC 9112 §6.3 gives it:
//! 1. `HEAD` requests and `1xx`/`204`/`304` responses have no body;
//! 2. `Transfer-Encoding: chunked` (sizes, extensions, trailers all handled);
//! 3. `Content-Length: N`;
//! 4. otherwise the body runs until the server closes the connection ([`ResponseParser::eof`]).

/// Longest response head we accept (status line + headers).
pub const MAX_HEAD: usize = 16 * 1024;
/// Most header fields we parse in one response.
const MAX_HEADERS: usize = 32;

/// What a finished response looked like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Body bytes received (after de-chunking).
    pub body_len: u64,
    /// The server said it will close the connection after this response (`Connection: close`,
    /// or an HTTP/1.0 response without `keep-alive`, or a close-delimited body).
    pub close: bool,
}

/// The outcome of feeding some bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// All bytes were used; the response is not finished yet.
    Partial,
    /// A response finished after `used` bytes of the input; the rest belongs to the next one.
    Done {
        /// Bytes of the input that belonged to this response.
        used: usize,
        /// The response.
        response: Response,
    },
    /// The bytes are not a valid HTTP/1.x response.
    Invalid(ParseError),
}

/// Why a response could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Status line or header syntax (from `httparse`).
    Syntax,
    /// The head is longer than [`MAX_HEAD`] or has too many fields.
    HeadTooLarge,
    /// `Content-Length` is not a number, or appears twice with different values.
    BadLength,
    /// A chunk-size line is malformed.
    BadChunk,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ParseError::Syntax => "malformed status line or header",
            ParseError::HeadTooLarge => "response head too large",
            ParseError::BadLength => "invalid Content-Length",
            ParseError::BadChunk => "invalid chunk size line",
        })
    }
}

/// Where the parser is inside one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the status line and headers.
    Head,
    /// `remaining` bytes of a `Content-Length` body still to come.
    Fixed { remaining: u64 },
    /// Reading a chunk-size line (hex digits, optional `;ext`, CRLF); `size` so far.
    ChunkSize { size: u64, digits: u8, in_ext: bool },
    /// `remaining` bytes of chunk data, then its CRLF.
    ChunkData { remaining: u64 },
    /// The CRLF after a chunk's data; `seen` bytes of it so far.
    ChunkDataEnd { seen: u8 },
    /// Trailer section after the last chunk: lines until an empty one. `line_len` counts bytes
    /// of the current line before its LF.
    Trailer { line_len: usize },
    /// Body delimited by the end of the connection.
    UntilEof,
}

/// Parses one response after another from a connection's byte stream.
#[derive(Debug)]
pub struct ResponseParser {
    state: State,
    /// Head bytes kept across reads (only used when a head is split).
    head: Vec<u8>,
    status: u16,
    close: bool,
    body_len: u64,
    /// The request being answered was `HEAD` (no body, whatever the headers say).
    head_request: bool,
    /// Bytes of the current response seen so far (to tell "nothing yet" from "cut short").
    seen: u64,
}

impl ResponseParser {
    /// A parser for responses to `GET`-like requests (`head_request = false`) or `HEAD`.
    pub fn new(head_request: bool) -> ResponseParser {
        ResponseParser {
            state: State::Head,
            head: Vec::new(),
            status: 0,
            close: false,
            body_len: 0,
            head_request,
            seen: 0,
        }
    }

    /// Forget any partial response (after the connection was replaced).
    pub fn reset(&mut self) {
        self.state = State::Head;
        self.head.clear();
        self.status = 0;
        self.close = false;
        self.body_len = 0;
        self.seen = 0;
    }

    /// Whether some bytes of a response have arrived but not the whole response.
    pub fn in_progress(&self) -> bool {
        self.seen > 0
    }

    /// Body bytes of the current response so far.
    #[cfg(test)]
    pub fn body_so_far(&self) -> u64 {
        self.body_len
    }

    /// The server closed the connection. Returns the finished response when the body was
    /// delimited by the close; `None` if a response was cut short (or none had started).
    pub fn eof(&mut self) -> Option<Response> {
        if self.state == State::UntilEof {
            let response = self.finish();
            return Some(response);
        }
        None
    }

    /// Feed the next bytes of the stream.
    // Long: one `match` over the parser's states (head, fixed body, chunk size, chunk data,
    // trailers, until-EOF), each arm a few lines; read top to bottom it is the state diagram,
    // and splitting it into functions per state would scatter that diagram.
    pub fn feed(&mut self, input: &[u8]) -> Feed {
        if !input.is_empty() {
            self.seen += 1;
        }
        let mut pos = 0;
        loop {
            match self.state {
                State::Head => match self.feed_head(&input[pos..]) {
                    Ok(Some(used)) => {
                        pos += used;
                        if let Some(response) = self.finished_without_body() {
                            return Feed::Done {
                                used: pos,
                                response,
                            };
                        }
                    }
                    Ok(None) => return Feed::Partial,
                    Err(e) => return Feed::Invalid(e),
                },
                State::Fixed { remaining } => {
                    let avail = (input.len() - pos) as u64;
                    let take = avail.min(remaining);
                    pos += take as usize;
                    self.body_len += take;
                    if take == remaining {
                        return Feed::Done {
                            used: pos,
                            response: self.finish(),
                        };
                    }
                    self.state = State::Fixed {
                        remaining: remaining - take,
                    };
                    return Feed::Partial;
                }
                State::ChunkSize {
                    mut size,
                    mut digits,
                    mut in_ext,
                } => {
                    loop {
                        let Some(&byte) = input.get(pos) else {
                            self.state = State::ChunkSize {
                                size,
                                digits,
                                in_ext,
                            };
                            return Feed::Partial;
                        };
                        pos += 1;
                        match byte {
                            b'\n' => break,
                            b'\r' => {}
                            _ if in_ext => {}
                            b';' | b' ' | b'\t' => in_ext = true,
                            _ => {
                                let Some(v) = (byte as char).to_digit(16) else {
                                    return Feed::Invalid(ParseError::BadChunk);
                                };
                                digits += 1;
                                if digits > 15 {
                                    return Feed::Invalid(ParseError::BadChunk);
                                }
                                size = size * 16 + u64::from(v);
                            }
                        }
                    }
                    if digits == 0 {
                        return Feed::Invalid(ParseError::BadChunk);
                    }
                    self.state = if size == 0 {
                        State::Trailer { line_len: 0 }
                    } else {
                        State::ChunkData { remaining: size }
                    };
                }
                State::ChunkData { remaining } => {
                    let avail = (input.len() - pos) as u64;
                    let take = avail.min(remaining);
                    pos += take as usize;
                    self.body_len += take;
                    if take < remaining {
                        self.state = State::ChunkData {
                            remaining: remaining - take,
                        };
                        return Feed::Partial;
                    }
                    self.state = State::ChunkDataEnd { seen: 0 };
                }
                State::ChunkDataEnd { seen } => {
                    let Some(&byte) = input.get(pos) else {
                        self.state = State::ChunkDataEnd { seen };
                        return Feed::Partial;
                    };
                    pos += 1;
                    match (seen, byte) {
                        (0, b'\r') => self.state = State::ChunkDataEnd { seen: 1 },
                        (_, b'\n') => {
                            self.state = State::ChunkSize {
                                size: 0,
                                digits: 0,
                                in_ext: false,
                            }
                        }
                        _ => return Feed::Invalid(ParseError::BadChunk),
                    }
                }
                State::Trailer { mut line_len } => loop {
                    let Some(&byte) = input.get(pos) else {
                        self.state = State::Trailer { line_len };
                        return Feed::Partial;
                    };
                    pos += 1;
                    match byte {
                        b'\n' if line_len == 0 => {
                            return Feed::Done {
                                used: pos,
                                response: self.finish(),
                            };
                        }
                        b'\n' => line_len = 0,
                        b'\r' if line_len == 0 => {}
                        _ => {
                            line_len += 1;
                            if line_len > MAX_HEAD {
                                return Feed::Invalid(ParseError::HeadTooLarge);
                            }
                        }
                    }
                },
                State::UntilEof => {
                    self.body_len += (input.len() - pos) as u64;
                    return Feed::Partial;
                }
            }
        }
    }

    /// Consume head bytes. `Ok(Some(n))`: the head ended after `n` bytes of `input` and the
    /// state now describes the body; `Ok(None)`: all of `input` was kept, need more.
    fn feed_head(&mut self, input: &[u8]) -> Result<Option<usize>, ParseError> {
        if self.head.is_empty() {
            // Fast path: the whole head is in this read; parse it in place.
            if let Some(end) = find_head_end(input, 0) {
                self.parse_head_bytes(&input[..end])?;
                return Ok(Some(end));
            }
            if input.len() > MAX_HEAD {
                return Err(ParseError::HeadTooLarge);
            }
            self.head.extend_from_slice(input);
            return Ok(None);
        }
        // The head is split across reads: append, and look for its end near the seam.
        let before = self.head.len();
        self.head.extend_from_slice(input);
        match find_head_end(&self.head, before.saturating_sub(3)) {
            Some(end) => {
                let head = std::mem::take(&mut self.head);
                let result = self.parse_head_bytes(&head[..end]);
                // Keep the allocation for the next split head.
                self.head = head;
                self.head.clear();
                result?;
                Ok(Some(end - before))
            }
            None if self.head.len() > MAX_HEAD => Err(ParseError::HeadTooLarge),
            None => Ok(None),
        }
    }

    fn parse_head_bytes(&mut self, head: &[u8]) -> Result<(), ParseError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut headers);
        match parsed.parse(head) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Err(ParseError::Syntax),
            Err(httparse::Error::TooManyHeaders) => return Err(ParseError::HeadTooLarge),
            Err(_) => return Err(ParseError::Syntax),
        }
        let status = parsed.code.ok_or(ParseError::Syntax)?;
        let http10 = parsed.version == Some(0);
        let mut length: Option<u64> = None;
        let mut chunked = false;
        let mut close = http10;
        for header in parsed.headers.iter() {
            let name = header.name.as_bytes();
            if name.eq_ignore_ascii_case(b"content-length") {
                let value = parse_decimal(header.value).ok_or(ParseError::BadLength)?;
                if length.is_some_and(|l| l != value) {
                    return Err(ParseError::BadLength);
                }
                length = Some(value);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                chunked = last_token_is(header.value, b"chunked");
            } else if name.eq_ignore_ascii_case(b"connection") {
                if contains_token(header.value, b"close") {
                    close = true;
                } else if contains_token(header.value, b"keep-alive") {
                    close = false;
                }
            }
        }
        self.status = status;
        self.close = close;
        self.body_len = 0;
        self.state = if self.head_request || matches!(status, 100..=199 | 204 | 304) {
            State::Fixed { remaining: 0 }
        } else if chunked {
            State::ChunkSize {
                size: 0,
                digits: 0,
                in_ext: false,
            }
        } else if let Some(len) = length {
            State::Fixed { remaining: len }
        } else {
            self.close = true;
            State::UntilEof
        };
        Ok(())
    }

    /// After the head: a response with an empty body is finished right away.
    fn finished_without_body(&mut self) -> Option<Response> {
        if self.state == (State::Fixed { remaining: 0 }) {
            return Some(self.finish());
        }
        None
    }

    fn finish(&mut self) -> Response {
        let response = Response {
            status: self.status,
            body_len: self.body_len,
            close: self.close,
        };
        self.state = State::Head;
        self.status = 0;
        self.body_len = 0;
        self.seen = 0;
        response
    }
}

/// Index just past the first `\r\n\r\n` (or bare `\n\n`) at or after `from`.
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < buf.len() {
        // Jump to the next LF; only LFs can end a head.
        let lf = i + buf[i..].iter().position(|&b| b == b'\n')?;
        if lf >= 1 && buf[lf - 1] == b'\n' {
            return Some(lf + 1);
        }
        if lf >= 2 && buf[lf - 1] == b'\r' && buf[lf - 2] == b'\n' {
            return Some(lf + 1);
        }
        i = lf + 1;
    }
    None
}

fn parse_decimal(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii();
    if value.is_empty() || value.len() > 19 {
        return None;
    }
    value.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

fn contains_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

fn last_token_is(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .next_back()
        .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `stream` in pieces split at `cuts`, collecting every finished response.
    fn run(parser: &mut ResponseParser, stream: &[u8], cuts: &[usize]) -> Vec<Response> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut bounds: Vec<usize> = cuts.to_vec();
        bounds.push(stream.len());
        for end in bounds {
            let mut piece = &stream[start..end];
            loop {
                match parser.feed(piece) {
                    Feed::Partial => break,
                    Feed::Done { used, response } => {
                        out.push(response);
                        piece = &piece[used..];
                        if piece.is_empty() {
                            break;
                        }
                    }
                    Feed::Invalid(e) => panic!("unexpected parse error {e}"),
                }
            }
            start = end;
        }
        out
    }

    const TWO_RESPONSES: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello\
HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\nConnection: close\r\n\r\nnop";

    #[test]
    fn whole_stream_in_one_read() {
        let mut p = ResponseParser::new(false);
        let got = run(&mut p, TWO_RESPONSES, &[]);
        assert_eq!(
            got,
            vec![
                Response {
                    status: 200,
                    body_len: 5,
                    close: false
                },
                Response {
                    status: 404,
                    body_len: 3,
                    close: true
                }
            ]
        );
    }

    #[test]
    fn split_at_every_byte_gives_the_same_responses() {
        let whole = run(&mut ResponseParser::new(false), TWO_RESPONSES, &[]);
        for cut in 1..TWO_RESPONSES.len() {
            let mut p = ResponseParser::new(false);
            assert_eq!(run(&mut p, TWO_RESPONSES, &[cut]), whole, "cut at {cut}");
        }
        // And one byte per read.
        let every: Vec<usize> = (1..TWO_RESPONSES.len()).collect();
        assert_eq!(
            run(&mut ResponseParser::new(false), TWO_RESPONSES, &every),
            whole
        );
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers() {
        let stream = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
4;name=value\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: 1\r\n\r\n\
HTTP/1.1 204 No Content\r\n\r\n";
        let expected = vec![
            Response {
                status: 200,
                body_len: 23,
                close: false,
            },
            Response {
                status: 204,
                body_len: 0,
                close: false,
            },
        ];
        assert_eq!(run(&mut ResponseParser::new(false), stream, &[]), expected);
        for cut in 1..stream.len() {
            assert_eq!(
                run(&mut ResponseParser::new(false), stream, &[cut]),
                expected,
                "cut at {cut}"
            );
        }
        let every: Vec<usize> = (1..stream.len()).collect();
        assert_eq!(
            run(&mut ResponseParser::new(false), stream, &every),
            expected
        );
    }

    #[test]
    fn short_body_is_not_a_response() {
        let mut p = ResponseParser::new(false);
        assert_eq!(
            p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
            Feed::Partial
        );
        assert!(p.in_progress());
        assert_eq!(p.body_so_far(), 3);
        // The peer closed (or reset) here: no response, the caller counts a short body.
        assert_eq!(p.eof(), None);
    }

    #[test]
    fn eof_before_any_byte_is_not_in_progress() {
        let p = ResponseParser::new(false);
        assert!(!p.in_progress());
    }

    #[test]
    fn close_delimited_body_ends_at_eof() {
        let mut p = ResponseParser::new(false);
        assert_eq!(p.feed(b"HTTP/1.0 200 OK\r\n\r\nabc"), Feed::Partial);
        assert_eq!(p.feed(b"defg"), Feed::Partial);
        assert_eq!(
            p.eof(),
            Some(Response {
                status: 200,
                body_len: 7,
                close: true
            })
        );
    }

    #[test]
    fn head_request_has_no_body_whatever_content_length_says() {
        let mut p = ResponseParser::new(true);
        let stream = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
        assert_eq!(
            p.feed(stream),
            Feed::Done {
                used: stream.len(),
                response: Response {
                    status: 200,
                    body_len: 0,
                    close: false
                }
            }
        );
    }

    #[test]
    fn http10_closes_unless_keep_alive() {
        let mut p = ResponseParser::new(false);
        let got = run(
            &mut p,
            b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
            &[],
        );
        assert_eq!(
            got.iter().map(|r| r.close).collect::<Vec<_>>(),
            [true, false]
        );
    }

    #[test]
    fn invalid_input_is_reported() {
        let cases: &[(&[u8], ParseError)] = &[
            (b"HTTP/1.1 2x0 OK\r\n\r\n", ParseError::Syntax),
            (b"garbage\r\n\r\n", ParseError::Syntax),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                ParseError::BadLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                ParseError::BadLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                ParseError::BadChunk,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc",
                ParseError::BadChunk,
            ),
        ];
        for (input, expected) in cases {
            let mut p = ResponseParser::new(false);
            assert_eq!(
                p.feed(input),
                Feed::Invalid(*expected),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn endless_head_is_rejected() {
        let mut p = ResponseParser::new(false);
        assert_eq!(p.feed(b"HTTP/1.1 200 OK\r\n"), Feed::Partial);
        let filler = [b'a'; 1024];
        let mut verdict = Feed::Partial;
        for _ in 0..(MAX_HEAD / filler.len() + 2) {
            verdict = p.feed(&filler);
            if verdict != Feed::Partial {
                break;
            }
        }
        assert_eq!(verdict, Feed::Invalid(ParseError::HeadTooLarge));
    }

    #[test]
    fn large_fixed_body_counts_every_byte() {
        let mut p = ResponseParser::new(false);
        assert_eq!(
            p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n"),
            Feed::Partial
        );
        let chunk = [0u8; 65536];
        for _ in 0..15 {
            assert_eq!(p.feed(&chunk), Feed::Partial);
        }
        // The last read carries the end of this body and the start of the next response.
        let mut last = chunk.to_vec();
        last.extend_from_slice(b"HTTP/1.1");
        assert_eq!(
            p.feed(&last),
            Feed::Done {
                used: 65536,
                response: Response {
                    status: 200,
                    body_len: 1 << 20,
                    close: false
                }
            }
        );
    }
}
