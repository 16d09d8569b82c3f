//! # `http-core`: one HTTP/1.1 server connection as a finite-state machine, without I/O
//!
//! Every server in this workspace (blocking, non-blocking, `select`/`poll`/`epoll`, SIGIO, POSIX
//! AIO, `io_uring`) drives the *same* [`Connection`]. The connection never touches a socket, never
//! reads a clock and never spawns anything: the server hands it the bytes it read
//! ([`Connection::handle_input`]) and takes back the bytes to write ([`Connection::next_output`] +
//! [`Connection::consume`]); time comes in as an argument (`now: Instant`). That is what
//! *sans-I/O* means, and it is why the I/O models can be compared fairly: *how the bytes move*
//! differs between the servers, never *what the bytes are*. (Precisely: how file bodies move
//! differs too — `sendfile` in the readiness servers, the model's own reads and a copy in the
//! Proactors — because it follows from the model.)
//!
//! ## The state machine (有限状态机)
//!
//! The course notes (§8, 有限状态机) drive a logic unit by a state variable that each piece of
//! input moves on. The classic C web server built on that idea parses a request with a *main*
//! state machine (主状态机: `CHECK_STATE_REQUESTLINE → CHECK_STATE_HEADER → CHECK_STATE_CONTENT`)
//! fed by a *sub* state machine that cuts lines (从状态机: `LINE_OK / LINE_BAD / LINE_OPEN`).
//! Here the sub state machine is [`httparse`] (it answers `Partial` = `LINE_OPEN`, `Complete` =
//! `LINE_OK`, or an error = `LINE_BAD`; "not complete yet" is a state, not an error), and the
//! main state machine is [`Phase`] (private `ReadState` in `src/connection.rs` carries each
//! state's data):
//!
//! ```text
//!                 bytes without '\n'                 head incomplete (httparse: Partial)
//!                  ┌──────────┐                      ┌──────────┐
//!                  ▼          │                      ▼          │
//!   accept ──► RequestLine ───┴── first '\n' ──► Headers ───────┘
//!   (CHECK_STATE_REQUESTLINE)                   (CHECK_STATE_HEADER)
//!                  ▲                                 │ blank line: head complete
//!                  │                                 ├── Content-Length > 0 or chunked ──► Body ──┐
//!                  │                                 │                  (CHECK_STATE_CONTENT)     │
//!                  │                                 ▼                                  body done │
//!                  │ keep-alive                   Respond ◄───────────────────────────────────────┘
//!                  │ (output in memory             │  │  head + body queued for the server to write
//!                  │  and < 64 KiB, or drained)    │  │
//!                  └───────────────────────────────┘  └── Connection: close / error ──► Closing
//!                                                                                         │
//!                                          output written (or timeout / peer gone) ──► Closed
//! ```
//!
//! Any error in `RequestLine`, `Headers` or `Body` (malformed bytes, a limit exceeded) queues an
//! error response with `Connection: close` and goes to `Closing`: after such an error the byte
//! stream can no longer be trusted (where would the next request start?).
//!
//! ## One request, byte by byte
//!
//! ```text
//! handle_input(b"GET /hello.txt HT")       RequestLine: no '\n' yet, keep the 17 bytes
//! handle_input(b"TP/1.1\r\nHost: a\r\n")   Headers: the line is in, no blank line yet
//! handle_input(b"\r\n")                    blank line → httparse: Complete(36)
//!                                          no body → Respond: open "<root>/hello.txt", fstat,
//!                                          check that it stays inside the root, queue the head
//! file_read() == Some(FileRead { offset: 0, len: 6, .. })
//!                                          the server reads the 6 bytes its own way (pread,
//! fill_file_read(now, |file, offset, buf| …)   aio_read, IORING_OP_READ) and hands them over
//! next_output() == b"HTTP/1.1 200 OK\r\nDate: …\r\nServer: io-models\r\n\
//!                    Content-Type: text/plain; charset=utf-8\r\nContent-Length: 6\r\n\
//!                    Last-Modified: …\r\nETag: \"…\"\r\nAccept-Ranges: bytes\r\n\r\nhello\n"
//! consume(n)                               the server wrote n bytes; when all are written the
//!                                          response counts in responses_sent() and the
//!                                          connection is back in RequestLine, holding no buffer
//! ```
//!
//! The same, as code a server runs (here without a socket):
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//! use http_core::{Config, Connection, Phase};
//!
//! let root = tempfile::tempdir()?;
//! std::fs::write(root.path().join("hello.txt"), "hello\n")?;
//! let config = Arc::new(Config::new(root.path())?);
//! let now = Instant::now();
//! let mut conn = Connection::new(config, now);
//!
//! conn.handle_input(b"GET /hello.txt HT", now);
//! assert_eq!(conn.phase(), Phase::RequestLine);
//! conn.handle_input(b"TP/1.1\r\nHost: a\r\n", now);
//! assert_eq!(conn.phase(), Phase::Headers);
//! conn.handle_input(b"\r\n", now);
//!
//! // The connection never reads the file itself: it asks, and the server reads.
//! let read = conn.file_read().expect("the body is to be read");
//! assert_eq!((read.offset, read.len), (0, 6));
//! use std::os::unix::fs::FileExt;
//! conn.fill_file_read(now, |file, offset, buf| file.read_at(buf, offset))?;
//!
//! let out = conn.next_output();
//! assert!(out.starts_with(b"HTTP/1.1 200 OK\r\n"));
//! assert!(out.ends_with(b"Accept-Ranges: bytes\r\n\r\nhello\n"));
//! let n = out.len(); // a server would write(2) these and learn how many were taken
//! conn.consume(n, now);
//! assert_eq!(conn.responses_sent(), 1);
//! assert_eq!(conn.phase(), Phase::RequestLine);
//! assert!(conn.wants_read() && !conn.wants_write() && !conn.is_closed());
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! A `POST /echo` with `Content-Length: 5` goes through `Body` (5 bytes are collected; with
//! `Transfer-Encoding: chunked`, sizes, chunk extensions and trailers are decoded byte by byte),
//! and `Expect: 100-continue` makes the connection queue `HTTP/1.1 100 Continue` as soon as the
//! head is complete.
//!
//! ## How the server drives it (call order)
//!
//! 1. input: [`Connection::handle_input`] for bytes read, [`Connection::handle_eof`] when `read`
//!    returned 0, [`Connection::handle_timeout`] when [`Connection::deadline`] has passed;
//! 2. output: first the file read the connection asks for, if any ([`Connection::file_read`],
//!    done in the server's own way, then [`Connection::fill_file_read`]); then
//!    [`Connection::next_output`] and [`Connection::consume`] (or, for a big file body with
//!    zero copy, [`Connection::sendfile_range`] then [`Connection::consume_file`]); until there
//!    is neither a read nor output;
//! 3. wait: for readability if [`Connection::wants_read`], writability if
//!    [`Connection::wants_write`]; close the socket when [`Connection::is_closed`].
//!
//! ## Memory
//!
//! A connection between requests holds no buffer at all (see [`Connection`]'s size test). Input
//! is buffered up to [`Limits::max_head_bytes`]; small responses (≤ [`SMALL_BODY_BYTES`]) are
//! built in one buffer with their head, so the server needs one `write`; big files are streamed
//! through one chunk buffer of at most [`FILE_CHUNK_BYTES`], or sent with `sendfile(2)` without
//! any buffer; `/bytes/N` is sliced from a static array.
//!
//! ## What one request costs
//!
//! For a static file: `openat2` (relative to the root opened once, with `RESOLVE_BENEATH`, so the
//! kernel itself refuses any path that leaves the root) + `fstat` here, the server's read of the
//! contents (a `pread` for a readiness server; the Proactors use their own completion
//! mechanism), and `close` when the response is done — four system calls, all on the file
//! system, none on the socket. (`strace` names the `fstat` `statx`: that is what Rust's
//! `File::metadata` calls. nginx without `open_file_cache` does the same work with other calls:
//! `openat`, `newfstatat`, then `writev` for the head and `sendfile` for the body.) Where
//! `openat2` cannot decide (a directory, an absolute symlink inside the root, an old kernel) the
//! slow path adds a `readlink("/proc/self/fd/N")` to learn where the opened file really is.
//!
//! Opening and `fstat` stay in the core: they decide the status line (404, 403, 304, 206) before
//! any byte of the response exists, and on a warm dentry cache they do not wait for the disk.
//! Reading the contents is what may wait for the disk, so that is handed to the server.
//!
//! The open-file cache ([`FileCacheSettings`], on by default; the private module `cache` has the
//! rules) takes all four away for a file asked for again: the descriptor, metadata and
//! validators are kept (re-checked with one open at most every second), and a small file's bytes
//! too, so a keep-alive request for it costs the server one `recv` and one `send`.
//!
//! The CPU cost of parsing, routing and formatting is measured by `cargo bench -p http-core` on
//! your machine (a 900-byte browser request for a small file, and the same request for
//! `/bytes/450`, which makes no system call at all; `/echo` makes none either).
//!
//! ## Routes
//!
//! - `GET`/`HEAD` of static files under [`Config::root`]: `/` → `index.html`, a directory → its
//!   `index.html` (named without its trailing slash: `301` to `path/`, query kept), query string
//!   ignored, percent-decoded, `..`, encoded slashes and symlinks out of the root refused,
//!   `Content-Type` from the extension.
//! - Every file response carries `Last-Modified`, a strong `ETag` and `Accept-Ranges: bytes`.
//!   `If-None-Match` / `If-Modified-Since` give `304 Not Modified` (RFC 9110 §13.2.2 order);
//!   one `Range` gives `206 Partial Content` (several: the whole file, `200`), a range past the
//!   end `416`; `If-Range` is honoured. `HEAD` gets exactly the status and headers `GET` would.
//!   The rules, and what is ignored, are in the private modules `validators` and `ranges`.
//! - `GET`/`HEAD /bytes/N`: exactly `N` bytes of [`BYTES_PATTERN`] repeated (for benchmarks).
//! - `POST /echo`: the request body back.
//! - Only with [`Config::work_routes`] (a server's `--work-routes`; off by default, because one
//!   `/block/1000` from anyone would stall a single-threaded server for a second):
//!   `GET`/`HEAD /cpu/US` and `/block/MS`, the *logic* of a request that computes for about US
//!   µs or waits MS ms as a database call does (each at most one second, else `400`). The core
//!   cannot compute or wait itself (no clock, no blocking): it hands the server a [`Work`]
//!   ([`Connection::work`]), the server runs it where its pattern runs logic — the loop thread,
//!   a pool worker, the connection's thread — and says so with [`Connection::work_done`]; only
//!   then is the `200` queued. These routes exist to measure *when a thread pool pays*.
//!
//! ## Out of scope
//!
//! Sockets, threads and waiting (that is each server's lesson), TLS, HTTP/2 and HTTP/3,
//! `multipart/byteranges` (several ranges are answered with the whole file), compression,
//! directory listings, CGI.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod body;
mod cache;
mod connection;
mod ranges;
mod request;
mod response;
mod route;
mod validators;

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

pub use cache::{CACHED_FD_MIN, FileCacheSettings};
pub use connection::{Connection, Phase};
pub use response::{BYTES_PATTERN, bytes_pattern_at};

/// Default [`Limits::max_head_bytes`]: 16 KiB (request line + headers + blank line).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Default [`Limits::max_headers`].
pub const MAX_HEADERS: usize = 64;
/// Default [`Limits::max_uri_bytes`]: 8 KiB.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Default [`Limits::max_body_bytes`]: 1 MiB.
pub const MAX_BODY_BYTES: u64 = 1024 * 1024;
/// Default [`Limits::max_generated_bytes`]: 1 GiB.
pub const MAX_GENERATED_BYTES: u64 = 1024 * 1024 * 1024;
/// Default [`Limits::idle_timeout`]: 10 s.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bodies up to this size (small files, small `/bytes/N`) are copied into the same buffer as the
/// response head, so a whole small response goes out with one `write`.
pub const SMALL_BODY_BYTES: u64 = 16 * 1024;
/// Largest piece of a big file held in memory at once (one buffer per streaming connection).
pub const FILE_CHUNK_BYTES: usize = 64 * 1024;
/// While less than this much output is waiting, a connection goes on answering pipelined requests
/// that are already buffered, appending to the same output (one `write` for many responses).
pub const PIPELINE_OUTPUT_LIMIT: usize = 64 * 1024;

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

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head_bytes: MAX_HEAD_BYTES,
            max_headers: MAX_HEADERS,
            max_uri_bytes: MAX_URI_BYTES,
            max_body_bytes: MAX_BODY_BYTES,
            max_generated_bytes: MAX_GENERATED_BYTES,
            idle_timeout: IDLE_TIMEOUT,
        }
    }
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
    /// Answer `/cpu/US` and `/block/MS` by handing the server a [`Work`] (off by default: see
    /// the crate docs, *Routes*). Off, those paths are looked up as files like any other.
    pub work_routes: bool,
    /// The root directory opened once, so files can be opened relative to it with
    /// `openat2(RESOLVE_BENEATH)` (see `route.rs`); `None` if it could not be opened.
    root_dir: Option<Arc<route::RootDir>>,
    /// The open-file cache, shared by every connection (and thread) using this configuration;
    /// `None`: off ([`Config::set_file_cache`]).
    file_cache: Option<Arc<cache::FileCache>>,
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

/// A read of file contents the connection needs ([`Connection::file_read`]): the server does it
/// in its I/O model's own way and hands the bytes over with [`Connection::fill_file_read`].
#[derive(Debug)]
pub struct FileRead<'a> {
    /// The open file.
    pub file: &'a File,
    /// Offset of the first byte to read.
    pub offset: u64,
    /// Bytes to read (at most [`FILE_CHUNK_BYTES`]; fewer is fine, the rest is asked again).
    pub len: usize,
}

/// The most work one request may ask for with `/cpu/US` or `/block/MS`: one second.
pub const MAX_WORK: Duration = Duration::from_secs(1);

/// The logic a request of the work routes asks for ([`Config::work_routes`]): the server runs it
/// wherever its pattern runs a request's logic, then calls [`Connection::work_done`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// `GET /cpu/US`: compute for about this long (CPU time, not waiting).
    Cpu(Duration),
    /// `GET /block/MS`: block the thread for this long, as a call to a database does.
    Block(Duration),
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

impl Config {
    /// A configuration with default limits serving `root` (canonicalized; error if it is not a
    /// directory). Reads the wall clock once, to set `clock_origin`.
    pub fn new(root: impl Into<PathBuf>) -> io::Result<Config> {
        let given = root.into();
        let root = std::fs::canonicalize(&given).map_err(|e| {
            io::Error::new(e.kind(), format!("document root {}: {e}", given.display()))
        })?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("document root {}: not a directory", given.display()),
            ));
        }
        let root_dir = route::RootDir::open(&root).map(Arc::new);
        Ok(Config {
            root,
            root_dir,
            limits: Limits::default(),
            server_name: "io-models".to_owned(),
            clock_origin: (Instant::now(), SystemTime::now()),
            log_requests: false,
            work_routes: false,
            file_cache: Some(Arc::new(
                cache::FileCache::new(FileCacheSettings::default()),
            )),
        })
    }

    /// Turn the open-file cache on with `settings`, or off with `None` (it is on, with the
    /// default settings, after [`Config::new`]). A fresh, empty cache either way.
    pub fn set_file_cache(&mut self, settings: Option<FileCacheSettings>) {
        self.file_cache = settings.map(|s| Arc::new(cache::FileCache::new(s)));
    }

    /// The open-file cache's settings; `None` when it is off.
    pub fn file_cache_settings(&self) -> Option<&FileCacheSettings> {
        self.file_cache.as_deref().map(cache::FileCache::settings)
    }

    /// The open-file cache, if on.
    pub(crate) fn file_cache(&self) -> Option<&cache::FileCache> {
        self.file_cache.as_deref()
    }

    /// The opened root directory, if it is still the one `root` names.
    pub(crate) fn root_dir(&self) -> Option<&route::RootDir> {
        self.root_dir.as_deref()
    }

    /// The wall-clock time at `now` (for the `Date` header), without reading a clock.
    pub fn wall_clock(&self, now: Instant) -> SystemTime {
        let (origin, wall) = self.clock_origin;
        wall + now.saturating_duration_since(origin)
    }
}

#[cfg(test)]
mod tests;
