//! Building response heads and the deterministic `/bytes/N` body.

use std::io::Write;
use std::time::SystemTime;

use crate::validators::Validators;

/// The 32 bytes that `GET /bytes/N` repeats: byte `i` of the body is `BYTES_PATTERN[i % 32]`.
pub const BYTES_PATTERN: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz012345";

/// Byte `i` of every `/bytes/N` body (so a client can check what it received).
pub fn bytes_pattern_at(i: u64) -> u8 {
    BYTES_PATTERN[(i % 32) as usize]
}

/// Longest slice of the generated body handed out at once.
pub(crate) const GENERATED_SLICE: usize = 64 * 1024;

/// The pattern repeated, 32 bytes longer than [`GENERATED_SLICE`] so that a slice of that length
/// can start at any phase of the pattern: `/bytes/N` never allocates, it slices this array.
pub(crate) static GENERATED: [u8; GENERATED_SLICE + 32] = {
    let mut a = [0u8; GENERATED_SLICE + 32];
    let mut i = 0;
    while i < a.len() {
        a[i] = BYTES_PATTERN[i % 32];
        i += 1;
    }
    a
};

/// `len` bytes of the generated body starting at body offset `offset`.
pub(crate) fn generated_slice(offset: u64, len: u64) -> &'static [u8] {
    let start = (offset % 32) as usize;
    let len = usize::try_from(len)
        .unwrap_or(GENERATED_SLICE)
        .min(GENERATED_SLICE);
    &GENERATED[start..start + len]
}

/// The reason phrase of a status code we send.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        206 => "Partial Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Statuses after which the byte stream cannot be trusted, or (503) the server is short of
/// descriptors and should free one: the response closes the connection.
pub(crate) fn closes_connection(status: u16) -> bool {
    matches!(status, 400 | 408 | 413 | 414 | 431 | 500 | 501 | 503 | 505)
}

/// What the `Connection` header of a response says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectionHeader {
    /// HTTP/1.1 default: no header, the connection stays open.
    None,
    /// HTTP/1.0 client that asked for keep-alive.
    KeepAlive,
    /// The server closes after this response.
    Close,
}

/// A `Content-Type`: a static MIME type, plus `; charset=utf-8` for text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ContentType {
    pub(crate) mime: &'static str,
    pub(crate) utf8: bool,
}

impl ContentType {
    pub(crate) const OCTETS: ContentType = ContentType {
        mime: "application/octet-stream",
        utf8: false,
    };
    pub(crate) const TEXT: ContentType = ContentType {
        mime: "text/plain",
        utf8: true,
    };

    /// From a file name's extension (`application/octet-stream` when unknown).
    pub(crate) fn for_path(path: &std::path::Path) -> ContentType {
        match mime_guess::from_path(path).first_raw() {
            Some(mime) => ContentType {
                mime,
                utf8: mime.starts_with("text/")
                    || mime == "application/javascript"
                    || mime == "application/json"
                    || mime == "image/svg+xml",
            },
            None => ContentType::OCTETS,
        }
    }
}

/// `Content-Range` of a `206` or a `416`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContentRange {
    /// `bytes FIRST-LAST/TOTAL`: `len` bytes from `start` of `total`.
    Bytes { start: u64, len: u64, total: u64 },
    /// `bytes */TOTAL`: no range of the `total` bytes could be served.
    Unsatisfied { total: u64 },
}

/// Everything that goes into a response head.
#[derive(Debug)]
pub(crate) struct Head<'a> {
    pub(crate) status: u16,
    pub(crate) content_type: ContentType,
    pub(crate) content_length: u64,
    pub(crate) allow: Option<&'static str>,
    pub(crate) connection: ConnectionHeader,
    pub(crate) date: SystemTime,
    pub(crate) server: &'a str,
    /// A file's `Last-Modified` and `ETag`, and `Accept-Ranges: bytes`.
    pub(crate) validators: Option<&'a Validators>,
    pub(crate) content_range: Option<ContentRange>,
    /// `Location` of a redirect.
    pub(crate) location: Option<&'a str>,
}

/// Append a response head (status line, headers, blank line) to `out`. A `304` carries no
/// content, so it has no `Content-Type` and no `Content-Length` (RFC 9110 §15.4.5).
pub(crate) fn write_head(out: &mut Vec<u8>, head: &Head<'_>) {
    // Writing into a Vec cannot fail; the `io::Result`s below are always Ok.
    let _ = write!(
        out,
        "HTTP/1.1 {} {}\r\nDate: {}\r\nServer: {}\r\n",
        head.status,
        reason(head.status),
        httpdate::HttpDate::from(head.date),
        head.server,
    );
    if head.status != 304 {
        let _ = write!(
            out,
            "Content-Type: {}{}\r\nContent-Length: {}\r\n",
            head.content_type.mime,
            if head.content_type.utf8 {
                "; charset=utf-8"
            } else {
                ""
            },
            head.content_length,
        );
    }
    if let Some(validators) = head.validators {
        let _ = write!(
            out,
            "Last-Modified: {}\r\nETag: {}\r\nAccept-Ranges: bytes\r\n",
            validators.last_modified_text, validators.etag,
        );
    }
    match head.content_range {
        None => {}
        Some(ContentRange::Bytes { start, len, total }) => {
            let last = start + len - 1;
            let _ = write!(out, "Content-Range: bytes {start}-{last}/{total}\r\n");
        }
        Some(ContentRange::Unsatisfied { total }) => {
            let _ = write!(out, "Content-Range: bytes */{total}\r\n");
        }
    }
    if let Some(location) = head.location {
        out.extend_from_slice(b"Location: ");
        out.extend_from_slice(location.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(allow) = head.allow {
        out.extend_from_slice(b"Allow: ");
        out.extend_from_slice(allow.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match head.connection {
        ConnectionHeader::None => {}
        ConnectionHeader::KeepAlive => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        ConnectionHeader::Close => out.extend_from_slice(b"Connection: close\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// The interim response to `Expect: 100-continue`.
pub(crate) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The body of an error response: one line naming the status and the reason.
pub(crate) fn error_body(status: u16, message: &str) -> String {
    format!("{status} {}: {message}\n", reason(status))
}
