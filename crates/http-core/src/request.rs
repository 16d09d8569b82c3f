//! Parsing a request head (request line + header fields) with `httparse`, and what the headers
//! mean for the rest of the exchange: method, keep-alive, body framing, `Expect`.

use crate::Limits;
use crate::body::Framing;
use crate::validators::Conditions;

/// The methods this server knows. A known method on a route that does not take it gets `405`
/// with an `Allow` header; any other token gets `501`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Patch,
    Trace,
    Connect,
}

impl Method {
    fn parse(token: &str) -> Option<Method> {
        Some(match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "PATCH" => Method::Patch,
            "TRACE" => Method::Trace,
            "CONNECT" => Method::Connect,
            _ => return None,
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Patch => "PATCH",
            Method::Trace => "TRACE",
            Method::Connect => "CONNECT",
        }
    }
}

/// A parsed, validated request head.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: Method,
    /// The request target as sent (`/path?query`).
    pub(crate) target: String,
    /// `0` for HTTP/1.0, `1` for HTTP/1.1.
    pub(crate) minor: u8,
    /// The client wants the connection kept open after the response.
    pub(crate) keep_alive: bool,
    /// `Expect: 100-continue` was sent.
    pub(crate) expect_continue: bool,
    /// How the body is delimited; `None`: no body.
    pub(crate) framing: Option<Framing>,
    /// `If-None-Match`, `If-Modified-Since`, `If-Range` and `Range` (for static files).
    pub(crate) conditions: Conditions,
}

/// A head that cannot be answered normally: the status, a one-line reason, and (for the log) the
/// method and target when they could be parsed.
#[derive(Debug)]
pub(crate) struct Rejection {
    pub(crate) status: u16,
    pub(crate) message: &'static str,
    pub(crate) method: Option<String>,
    pub(crate) target: Option<String>,
}

impl Rejection {
    fn new(status: u16, message: &'static str) -> Rejection {
        Rejection {
            status,
            message,
            method: None,
            target: None,
        }
    }
}

/// What the bytes buffered so far hold.
#[derive(Debug)]
pub(crate) enum HeadStatus {
    /// No complete request line yet (`CHECK_STATE_REQUESTLINE`).
    RequestLine,
    /// The request line is there, the blank line is not (`CHECK_STATE_HEADER`).
    Headers,
    /// A complete head of this many bytes.
    Complete(usize, Request),
    /// A bad head; the connection answers with this status and closes.
    Rejected(Rejection),
}

/// Slack allowed on top of `max_uri_bytes` for the method, spaces and `HTTP/1.1\r\n`.
const REQUEST_LINE_SLACK: usize = 32;

/// Look at the bytes buffered for the next request (leading empty lines already skipped).
///
/// The answer is a function of these bytes only, never of how they were split into reads: only
/// the first `max_head_bytes` are looked at, and once the request line is complete the whole
/// head is parsed again on each call (at most `max_head_bytes` of SIMD scanning, a few
/// microseconds, so a client sending one byte per packet cannot make a read cost much more
/// than the `read` itself).
pub(crate) fn parse_head(buf: &[u8], limits: &Limits, log: bool) -> HeadStatus {
    let window = &buf[..buf.len().min(limits.max_head_bytes)];

    // Sub state machine, step 1: is there a whole request line?
    let line_window = &window[..window.len().min(limits.max_uri_bytes + REQUEST_LINE_SLACK)];
    if !line_window.contains(&b'\n') {
        if line_window.len() >= limits.max_uri_bytes + REQUEST_LINE_SLACK {
            return HeadStatus::Rejected(Rejection::new(414, "request line too long"));
        }
        if window.len() >= limits.max_head_bytes {
            return HeadStatus::Rejected(Rejection::new(431, "request head too large"));
        }
        return HeadStatus::RequestLine;
    }

    // Step 2: the header lines, up to the blank line (httparse: Partial, Complete or an error).
    if limits.max_headers <= crate::MAX_HEADERS {
        let mut headers = [httparse::EMPTY_HEADER; crate::MAX_HEADERS];
        parse_with(window, &mut headers[..limits.max_headers], limits, log)
    } else {
        let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
        parse_with(window, &mut headers, limits, log)
    }
}

// ANCHOR: parse_head
fn parse_with<'b>(
    window: &'b [u8],
    headers: &mut [httparse::Header<'b>],
    limits: &Limits,
    log: bool,
) -> HeadStatus {
    let mut req = httparse::Request::new(headers);
    let len = match req.parse(window) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            return if window.len() >= limits.max_head_bytes {
                HeadStatus::Rejected(Rejection::new(431, "request head too large"))
            } else {
                HeadStatus::Headers
            };
        }
        Err(e) => {
            let (status, message) = match e {
                httparse::Error::Version => (505, "only HTTP/1.0 and HTTP/1.1 are supported"),
                httparse::Error::TooManyHeaders => (431, "too many header fields"),
                httparse::Error::Token => (400, "malformed request line"),
                httparse::Error::HeaderName => (400, "invalid header name"),
                httparse::Error::HeaderValue => (400, "invalid header value"),
                httparse::Error::NewLine => (400, "invalid line ending"),
                httparse::Error::Status => (400, "malformed request line"),
            };
            return HeadStatus::Rejected(Rejection::new(status, message));
        }
    };
    // ANCHOR_END: parse_head
    // `Complete` guarantees these three are set.
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return HeadStatus::Rejected(Rejection::new(400, "malformed request line"));
    };
    match validate(method, target, minor, req.headers, limits) {
        Ok(request) => HeadStatus::Complete(len, request),
        Err(mut rejection) => {
            if log {
                rejection.method = Some(method.to_owned());
                rejection.target = Some(target.to_owned());
            }
            HeadStatus::Rejected(rejection)
        }
    }
}

/// The checks after a syntactically valid head, in the order their statuses take precedence.
fn validate(
    method: &str,
    target: &str,
    minor: u8,
    headers: &[httparse::Header<'_>],
    limits: &Limits,
) -> Result<Request, Rejection> {
    if target.len() > limits.max_uri_bytes {
        return Err(Rejection::new(414, "request target too long"));
    }
    let Some(method) = Method::parse(method) else {
        return Err(Rejection::new(501, "unknown method"));
    };

    let mut hosts = 0;
    let mut close = false;
    let mut keep_alive = false;
    let mut expect_continue = false;
    let mut content_length: Option<u64> = None;
    let mut transfer_encoding = false;
    let mut chunked_only = true;
    let mut codings = 0;
    let mut conditions = Conditions::default();
    let mut ranges = 0;
    for h in headers {
        let name = h.name;
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in tokens(h.value) {
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            for token in h.value.split(|&b| b == b',') {
                let n = parse_content_length(trim(token))
                    .ok_or_else(|| Rejection::new(400, "invalid Content-Length"))?;
                if content_length.is_some_and(|old| old != n) {
                    return Err(Rejection::new(400, "conflicting Content-Length values"));
                }
                content_length = Some(n);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
            for token in tokens(h.value) {
                codings += 1;
                if !token.eq_ignore_ascii_case(b"chunked") {
                    chunked_only = false;
                }
            }
        } else if name.eq_ignore_ascii_case("expect")
            && trim(h.value).eq_ignore_ascii_case(b"100-continue")
        {
            expect_continue = true;
        } else if name.eq_ignore_ascii_case("if-none-match") {
            // A list field: several fields are one list (RFC 9110 §5.3).
            if let Some(value) = text(h.value) {
                let list = conditions.if_none_match.get_or_insert_with(String::new);
                if !list.is_empty() {
                    list.push(',');
                }
                list.push_str(value);
            }
        } else if name.eq_ignore_ascii_case("if-modified-since") {
            if conditions.if_modified_since.is_none() {
                conditions.if_modified_since = text(h.value).map(str::to_owned);
            }
        } else if name.eq_ignore_ascii_case("if-range") {
            if conditions.if_range.is_none() {
                conditions.if_range = text(h.value).map(str::to_owned);
            }
        } else if name.eq_ignore_ascii_case("range") {
            ranges += 1;
            conditions.range = text(h.value).map(str::to_owned);
        }
    }
    if ranges > 1 {
        conditions.range = None; // which one would the client mean? Ignore both.
    }

    if minor == 1 && hosts == 0 {
        return Err(Rejection::new(400, "missing Host header"));
    }
    if hosts > 1 {
        return Err(Rejection::new(400, "more than one Host header"));
    }
    let framing = if transfer_encoding {
        if content_length.is_some() {
            return Err(Rejection::new(
                400,
                "Content-Length together with Transfer-Encoding",
            ));
        }
        if codings == 0 {
            return Err(Rejection::new(400, "empty Transfer-Encoding"));
        }
        if !chunked_only || codings != 1 {
            return Err(Rejection::new(
                501,
                "only Transfer-Encoding: chunked is supported",
            ));
        }
        Some(Framing::chunked())
    } else {
        match content_length {
            Some(n) if n > limits.max_body_bytes => {
                return Err(Rejection::new(413, "request body too large"));
            }
            Some(0) | None => None,
            Some(n) => Some(Framing::Length { remaining: n }),
        }
    };
    let keep_alive = if minor == 1 {
        !close
    } else {
        keep_alive && !close
    };
    Ok(Request {
        method,
        target: target.to_owned(),
        minor,
        keep_alive,
        expect_continue,
        framing,
        conditions,
    })
}

/// A header value as text; `None` if it is not UTF-8 (such a value is ignored).
fn text(value: &[u8]) -> Option<&str> {
    std::str::from_utf8(value).ok()
}

/// Comma-separated list elements, trimmed, empty ones skipped.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim)
        .filter(|t| !t.is_empty())
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// A decimal `Content-Length`: digits only (no sign, no spaces inside), no overflow.
fn parse_content_length(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}
