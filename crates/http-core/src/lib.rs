//! API SKELETON — to be implemented (see the issue "Foundation"). Signatures are the contract
//! that every server crate codes against; keep them, fill in the bodies, and replace this doc
//! with the real lesson (state graph, walk-through, out of scope).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Size limits and the idle timeout of one connection.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest request head (request line + headers + blank line) before `431`.
    pub max_head_bytes: usize,
    /// Most header fields in one request before `431`.
    pub max_headers: usize,
    /// Longest request target before `414`.
    pub max_uri_bytes: usize,
    /// Largest request body accepted (`POST /echo`, or discarded bodies) before `413`.
    pub max_body_bytes: u64,
    /// Largest `N` accepted by `GET /bytes/N`.
    pub max_generated_bytes: u64,
    /// A connection with no progress (no byte in or out) for this long is timed out.
    pub idle_timeout: Duration,
}

/// Everything a [`Connection`] needs to know about the server it runs in.
#[derive(Debug, Clone)]
pub struct Config {
    /// Document root; canonicalized by [`Config::new`].
    pub root: PathBuf,
    /// Limits.
    pub limits: Limits,
    /// Value of the `Server` header.
    pub server_name: String,
    /// The wall-clock time that corresponds to `clock_origin.0`; the `Date` header is computed as
    /// `clock_origin.1 + (now - clock_origin.0)`, so the core never reads a clock itself.
    pub clock_origin: (Instant, SystemTime),
    /// Record an [`Exchange`] per response for the server to log (off by default: logging is
    /// never on the hot path unless asked for).
    pub log_requests: bool,
}

/// One answered request, recorded only when [`Config::log_requests`] is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// Request method, or `-` when the request line could not be parsed.
    pub method: String,
    /// Request target as sent, or `-`.
    pub target: String,
    /// Response status code.
    pub status: u16,
    /// Response body length in bytes.
    pub body_bytes: u64,
}

/// The part of a response body that a server may send with `sendfile(2)`.
#[derive(Debug)]
pub struct FileRange<'a> {
    /// The open file.
    pub file: &'a File,
    /// Offset of the next byte to send.
    pub offset: u64,
    /// Bytes still to send from `offset`.
    pub len: u64,
}

/// One HTTP/1.1 server connection, without the socket.
#[derive(Debug)]
pub struct Connection {
    _private: (),
}

impl Config {
    /// A configuration with default limits serving `root` (canonicalized; error if it is not a
    /// directory). Reads the wall clock once, to set `clock_origin`.
    pub fn new(root: impl Into<PathBuf>) -> std::io::Result<Config> {
        let _ = root;
        todo!()
    }
}

impl Connection {
    /// A new connection, accepted at `now`.
    pub fn new(config: Arc<Config>, now: Instant) -> Connection {
        let _ = (config, now);
        todo!()
    }
    /// Feed bytes read from the peer.
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        let _ = (bytes, now);
        todo!()
    }
    /// The peer closed its sending half (`read` returned 0).
    pub fn handle_eof(&mut self, now: Instant) {
        let _ = now;
        todo!()
    }
    /// Call when `now >= deadline()`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let _ = now;
        todo!()
    }
    /// The next bytes to write (empty: nothing to write now). May read the next file chunk.
    pub fn next_output(&mut self) -> &[u8] {
        todo!()
    }
    /// `n` bytes of `next_output()` were written.
    pub fn consume(&mut self, n: usize, now: Instant) {
        let _ = (n, now);
        todo!()
    }
    /// When the next output is a file region and no buffered bytes precede it.
    pub fn sendfile_range(&self) -> Option<FileRange<'_>> {
        todo!()
    }
    /// `n` bytes of `sendfile_range()` were sent.
    pub fn consume_file(&mut self, n: u64, now: Instant) {
        let _ = (n, now);
        todo!()
    }
    /// The server should read from the socket now.
    pub fn wants_read(&self) -> bool {
        todo!()
    }
    /// There is output to write.
    pub fn wants_write(&self) -> bool {
        todo!()
    }
    /// Nothing more will be read or written: close the socket.
    pub fn is_closed(&self) -> bool {
        todo!()
    }
    /// How many responses (excluding `100 Continue`) have been fully handed out so far.
    pub fn responses_sent(&self) -> u64 {
        todo!()
    }
    /// The next recorded exchange, if [`Config::log_requests`] is set.
    pub fn take_exchange(&mut self) -> Option<Exchange> {
        todo!()
    }
    /// When `handle_timeout` is due, if ever.
    pub fn deadline(&self) -> Option<Instant> {
        todo!()
    }
}
