//! Request bodies (`CHECK_STATE_CONTENT`): `Content-Length` and `Transfer-Encoding: chunked`,
//! decoded incrementally, so a body may arrive one byte at a time.
//!
//! ```text
//! chunked:   Size ──"5;ext=1\r\n"──► Data{5} ──"hello"──► DataEnd ──"\r\n"──► Size
//!              └──"0\r\n"──► Trailers ──"X-Sum: 1\r\n"──► Trailers ──"\r\n"──► done
//! ```

/// How a request body is delimited, and how far decoding has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Content-Length`: this many bytes are still to come.
    Length { remaining: u64 },
    /// `Transfer-Encoding: chunked`.
    Chunked(Chunk),
}

// ANCHOR: fsm_chunk_states
/// Where a chunked body decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// Expecting `hex-size [; extensions] CRLF`.
    Size,
    /// Inside a chunk's data.
    Data { remaining: u64 },
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last (`0`) chunk: trailer fields until an empty line.
    Trailers,
}
// ANCHOR_END: fsm_chunk_states

impl Framing {
    pub(crate) fn chunked() -> Framing {
        Framing::Chunked(Chunk::Size)
    }
}

/// Result of feeding bytes to the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// All given bytes were used; the body is not complete.
    NeedMore,
    /// The body is complete; bytes after it belong to the next request.
    Done,
    /// Bad framing or over the limit: answer with this status and close.
    Error(u16, &'static str),
}

/// Limits that apply while decoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimits {
    /// Most body bytes in total.
    pub(crate) max_body: u64,
    /// Longest chunk-size line or trailer line.
    pub(crate) max_line: usize,
}

/// Decode body bytes from `input`. Data bytes are appended to `sink` when it is `Some` (the
/// `/echo` body) and dropped otherwise (a body nobody asked for still has to be read to keep the
/// stream in step). `received` counts data bytes so far. Returns how many bytes of `input` were
/// used.
pub(crate) fn decode(
    framing: &mut Framing,
    input: &[u8],
    received: &mut u64,
    limits: BodyLimits,
    mut sink: Option<&mut Vec<u8>>,
) -> (usize, Decoded) {
    let mut pos = 0;
    loop {
        let rest = &input[pos..];
        match framing {
            Framing::Length { remaining } => {
                let take = take_len(*remaining, rest.len());
                if let Some(sink) = sink.as_deref_mut() {
                    sink.extend_from_slice(&rest[..take]);
                }
                pos += take;
                *remaining -= take as u64;
                *received += take as u64;
                return if *remaining == 0 {
                    (pos, Decoded::Done)
                } else {
                    (pos, Decoded::NeedMore)
                };
            }
            Framing::Chunked(chunk) => match *chunk {
                Chunk::Size => match httparse::parse_chunk_size(rest) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        pos += used;
                        if received.saturating_add(size) > limits.max_body {
                            return (pos, Decoded::Error(413, "request body too large"));
                        }
                        *chunk = if size == 0 {
                            Chunk::Trailers
                        } else {
                            Chunk::Data { remaining: size }
                        };
                    }
                    Ok(httparse::Status::Partial) => {
                        if rest.len() > limits.max_line {
                            return (pos, Decoded::Error(400, "chunk size line too long"));
                        }
                        return (pos, Decoded::NeedMore);
                    }
                    Err(_) => return (pos, Decoded::Error(400, "invalid chunk size")),
                },
                Chunk::Data { remaining } => {
                    let take = take_len(remaining, rest.len());
                    if let Some(sink) = sink.as_deref_mut() {
                        sink.extend_from_slice(&rest[..take]);
                    }
                    pos += take;
                    *received += take as u64;
                    let remaining = remaining - take as u64;
                    if remaining == 0 {
                        *chunk = Chunk::DataEnd;
                    } else {
                        *chunk = Chunk::Data { remaining };
                        return (pos, Decoded::NeedMore);
                    }
                }
                Chunk::DataEnd => match rest {
                    [b'\r', b'\n', ..] => {
                        pos += 2;
                        *chunk = Chunk::Size;
                    }
                    [] | [b'\r'] => return (pos, Decoded::NeedMore),
                    _ => return (pos, Decoded::Error(400, "missing CRLF after chunk data")),
                },
                Chunk::Trailers => match rest.iter().position(|&b| b == b'\n') {
                    Some(end) => {
                        let line = &rest[..end];
                        let line = line.strip_suffix(b"\r").unwrap_or(line);
                        pos += end + 1;
                        if line.is_empty() {
                            return (pos, Decoded::Done);
                        }
                        // A trailer field; we have no use for it, but it must look like one.
                        if !line.contains(&b':') {
                            return (pos, Decoded::Error(400, "invalid trailer field"));
                        }
                    }
                    None => {
                        if rest.len() > limits.max_line {
                            return (pos, Decoded::Error(431, "trailer field too large"));
                        }
                        return (pos, Decoded::NeedMore);
                    }
                },
            },
        }
    }
}

/// `min(remaining, available)` without lossy casts.
fn take_len(remaining: u64, available: usize) -> usize {
    usize::try_from(remaining).map_or(available, |r| r.min(available))
}
