//! [`Connection`]: the main state machine and its output queue.

use std::collections::VecDeque;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::body::{self, BodyLimits, Decoded, Framing};
use crate::request::{self, HeadStatus, Method, Rejection, Request};
use crate::response::{self, ConnectionHeader, ContentRange, ContentType, Head};
use crate::route::{self, Reply};
use crate::validators::{self, FileAnswer, Validators};
use crate::{
    Config, Exchange, FILE_CHUNK_BYTES, FileRange, FileRead, PIPELINE_OUTPUT_LIMIT,
    SMALL_BODY_BYTES, Work,
};

// ANCHOR: fsm_phase
/// Where a connection is in its life; see the state graph in the [crate docs](crate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for (the rest of) a request line (`CHECK_STATE_REQUESTLINE`). A connection between
    /// requests is here, holding no buffer.
    RequestLine,
    /// The request line is in; waiting for the blank line that ends the head
    /// (`CHECK_STATE_HEADER`).
    Headers,
    /// Reading a request body (`CHECK_STATE_CONTENT`).
    Body,
    /// A response is queued and still too big (or streaming from a file) to start on the next
    /// request.
    Respond,
    /// No more requests: the queued output is written, then the connection is closed.
    Closing,
    /// Finished: close the socket.
    Closed,
}
// ANCHOR_END: fsm_phase

/// The main state machine's state, with the data each state needs.
#[derive(Debug)]
enum ReadState {
    RequestLine,
    Headers,
    Body(Box<BodyState>),
    /// `work`: a work route's logic the server has to run before the response exists
    /// ([`Connection::work`]).
    Respond {
        close: bool,
        work: Option<Box<PendingWork>>,
    },
    Closing,
}

/// A request whose head is parsed and whose body is being read.
#[derive(Debug)]
struct BodyState {
    request: Request,
    framing: Framing,
    /// Kept only for `POST /echo`; other bodies are read and dropped.
    keep: bool,
    body: Vec<u8>,
    received: u64,
}

/// A response body that does not sit in the output buffer.
#[derive(Debug)]
enum Source {
    /// A file body: `remaining` bytes from `offset` are still to be read by the server
    /// ([`Connection::file_read`]) or, for a big one, sent with `sendfile`; `chunk[chunk_pos..]`
    /// was read and not written yet. `inline`: a small body, appended to `out` right behind its
    /// head once read, so that head and body leave in one write.
    File {
        file: Arc<File>,
        offset: u64,
        remaining: u64,
        chunk: Vec<u8>,
        chunk_pos: usize,
        inline: bool,
        /// Where the open-file cache keeps this (small, whole) file and the validators it was
        /// opened with: its bytes are stored there once read. (Boxed: it is rare, and the
        /// connection stays small.)
        store: Option<Box<(PathBuf, Arc<Validators>)>>,
    },
    /// `/bytes/N`: `remaining` bytes from body offset `offset`, sliced from a static array.
    Generated { offset: u64, remaining: u64 },
}

/// A request of the work routes whose logic the server is running ([`Connection::work`]): its
/// response is queued by [`Connection::work_done`].
#[derive(Debug)]
struct PendingWork {
    work: Work,
    head_only: bool,
    connection: ConnectionHeader,
    /// Method and target, for the exchange log (only when logging).
    logged: Option<(String, String)>,
}

/// One HTTP/1.1 server connection, without the socket.
///
/// Methods come in four groups, in the order a server calls them: input (`handle_*`), output
/// (`next_output`/`consume`, `sendfile_range`/`consume_file`), what to wait for (`wants_read`,
/// `wants_write`, `deadline`, `is_closed`), and counters (`responses_sent`, `take_exchange`).
///
/// What one more connection costs: this struct (240 bytes on x86_64) and, between requests, no
/// heap memory at all — buffers exist only while a request or response is in flight.
#[derive(Debug)]
pub struct Connection {
    config: Arc<Config>,
    state: ReadState,
    /// Bytes received and not parsed yet are `input[in_pos..]`.
    input: Vec<u8>,
    in_pos: usize,
    /// Output not written yet is `out[out_pos..]`; then `source`.
    out: Vec<u8>,
    out_pos: usize,
    /// Offsets in `out` where a queued response ends (for `responses_sent`).
    ends: VecDeque<usize>,
    source: Option<Source>,
    exchanges: VecDeque<Exchange>,
    last_progress: Instant,
    responses_sent: u64,
    peer_eof: bool,
    closed: bool,
    /// Bytes from the peer were, or may still be, left unread: a rejected request (its body or
    /// the rest of its head may still be coming), or input after the request that closes the
    /// connection ([`Connection::needs_lingering_close`]).
    unread_input: bool,
}

impl Connection {
    /// A new connection, accepted at `now`.
    pub fn new(config: Arc<Config>, now: Instant) -> Connection {
        Connection {
            config,
            state: ReadState::RequestLine,
            input: Vec::new(),
            in_pos: 0,
            out: Vec::new(),
            out_pos: 0,
            ends: VecDeque::new(),
            source: None,
            exchanges: VecDeque::new(),
            last_progress: now,
            responses_sent: 0,
            peer_eof: false,
            closed: false,
            unread_input: false,
        }
    }

    // ----- input -------------------------------------------------------------------------------

    // ANCHOR: fsm_handle_input
    /// Feed bytes read from the peer.
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        if bytes.is_empty() || self.closed || self.peer_eof {
            return;
        }
        self.last_progress = now;
        if matches!(self.state, ReadState::Closing) {
            // We will answer nothing more: the bytes are dropped (the server discards the rest
            // when it closes).
            self.unread_input = true;
            return;
        }
        if self.in_pos == self.input.len() {
            // Nothing buffered (the usual case: a whole request in one read): parse straight
            // from the caller's slice and keep only what is left over.
            let used = self.run(bytes, now);
            if used < bytes.len() && !matches!(self.state, ReadState::Closing) {
                self.input.clear();
                self.in_pos = 0;
                self.input.extend_from_slice(&bytes[used..]);
            }
            self.compact_input();
        } else {
            self.input.extend_from_slice(bytes);
            self.advance(now);
        }
    }
    // ANCHOR_END: fsm_handle_input

    /// The peer closed its sending half (`read` returned 0).
    ///
    /// Requests already buffered are still answered; a request cut off in the middle is dropped
    /// (there is nothing to answer). The connection closes once its output is written: a client
    /// that half-closes after sending still gets its responses.
    pub fn handle_eof(&mut self, now: Instant) {
        if self.closed || self.peer_eof {
            return;
        }
        self.peer_eof = true;
        self.advance(now);
    }

    /// Call when `now >= deadline()`.
    ///
    /// A request partly received gets `408 Request Timeout` (then close); a connection idle
    /// between requests, or whose client does not read its response, closes at once.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.deadline() {
            Some(deadline) if now >= deadline => {}
            _ => return, // early or spurious wake-up
        }
        if self.wants_write() {
            // The client does not read what we send (or never finishes reading the 408).
            self.abort();
            return;
        }
        let partial = match self.state {
            ReadState::Body(_) | ReadState::Headers => true,
            ReadState::RequestLine => self.in_pos < self.input.len(),
            ReadState::Respond { .. } | ReadState::Closing => false,
        };
        if partial {
            self.last_progress = now;
            self.reject(
                Rejection {
                    status: 408,
                    message: "no complete request within the timeout",
                    method: None,
                    target: None,
                },
                now,
            );
        } else {
            self.abort();
        }
    }

    // ----- output ------------------------------------------------------------------------------

    /// The next bytes to write (empty: nothing to write now, or a file read is due first:
    /// see [`Connection::file_read`]).
    pub fn next_output(&self) -> &[u8] {
        if self.out_pos < self.out.len() {
            return &self.out[self.out_pos..];
        }
        match &self.source {
            Some(Source::Generated { offset, remaining }) => {
                response::generated_slice(*offset, *remaining)
            }
            Some(Source::File {
                chunk,
                chunk_pos,
                inline: false,
                ..
            }) => &chunk[*chunk_pos..],
            _ => &[],
        }
    }

    /// The file read the connection needs before it can go on writing: `len` bytes of `file`
    /// from `offset`. The server reads them its own way — `pread`, `aio_read`,
    /// `IORING_OP_READ` — and hands them over with [`Connection::fill_file_read`]. (Or, for a
    /// big body with nothing before it in the output, it sends the file with `sendfile` instead:
    /// [`Connection::sendfile_range`].) A server should do the read before it takes
    /// [`Connection::next_output`], so that a small file's head and body leave in one write.
    pub fn file_read(&self) -> Option<FileRead<'_>> {
        let out_pending = self.out_pos < self.out.len();
        match &self.source {
            Some(Source::File {
                file,
                offset,
                remaining,
                chunk,
                chunk_pos,
                inline,
                ..
                // A big body's chunk is read only once what precedes it is written: until
                // then the server may still choose to `sendfile` the whole rest instead.
            }) if *remaining > 0 && (*inline || (*chunk_pos == chunk.len() && !out_pending)) => {
                let cap = if *inline {
                    SMALL_BODY_BYTES
                } else {
                    FILE_CHUNK_BYTES as u64
                };
                Some(FileRead {
                    file,
                    offset: *offset,
                    len: usize::try_from((*remaining).min(cap)).unwrap_or(FILE_CHUNK_BYTES),
                })
            }
            _ => None,
        }
    }

    /// Do the read [`Connection::file_read`] asks for: `read(file, offset, buf)` fills `buf`
    /// (at most its length, which is the asked `len`) and returns how many bytes it read.
    /// Returns that number (`0`: no read was due). A read that fails, or finds the file shorter
    /// than promised by the `Content-Length` already queued, closes the connection
    /// ([`Connection::is_closed`]) and returns the error.
    pub fn fill_file_read(
        &mut self,
        now: Instant,
        read: impl FnOnce(&File, u64, &mut [u8]) -> std::io::Result<usize>,
    ) -> std::io::Result<usize> {
        let Some(len) = self.file_read().map(|r| r.len) else {
            return Ok(0);
        };
        let Some(Source::File {
            file,
            offset,
            remaining,
            chunk,
            chunk_pos,
            inline,
            store,
        }) = &mut self.source
        else {
            return Ok(0);
        };
        // A small body gathers in `chunk` until it is whole; a big one's chunk is replaced.
        let start = if *inline { chunk.len() } else { 0 };
        chunk.resize(start + len, 0);
        let n = match read(file, *offset, &mut chunk[start..]) {
            Ok(0) => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "file shorter than its Content-Length (changed while being sent)",
            )),
            Ok(n) if n <= len => Ok(n),
            Ok(_) => Err(std::io::Error::other("read more bytes than asked")),
            Err(err) => Err(err),
        };
        let n = match n {
            Ok(n) => n,
            Err(err) => {
                self.abort();
                return Err(err);
            }
        };
        chunk.truncate(start + n);
        *chunk_pos = 0;
        *offset += n as u64;
        *remaining -= n as u64;
        if *inline && *remaining == 0 {
            if let (Some(store), Some(cache)) = (store, self.config.file_cache()) {
                let (key, validators) = &**store;
                cache.store_content(key, validators, chunk);
            }
            self.out.extend_from_slice(chunk);
            self.source = None; // frees the chunk; closes the file unless the cache holds it
            self.ends.push_back(self.out.len());
            self.advance(now);
        }
        Ok(n)
    }

    /// The logic the connection is waiting for (work routes only, [`Config::work_routes`]): the
    /// server runs it where its pattern runs a request's logic — compute for about the time of
    /// [`Work::Cpu`], block the thread for the time of [`Work::Block`] — and then calls
    /// [`Connection::work_done`]. Until then no later request is parsed and nothing more is
    /// queued. The server should run it right after the `handle_input` that made it due.
    pub fn work(&self) -> Option<Work> {
        match &self.state {
            // (An aborted connection is in `Closing`: nothing is pending there.)
            ReadState::Respond {
                work: Some(pending),
                ..
            } => Some(pending.work),
            _ => None,
        }
    }

    /// The work [`Connection::work`] asked for is done, at `now`: queue its `200` and go on with
    /// any pipelined request.
    pub fn work_done(&mut self, now: Instant) {
        let ReadState::Respond { work, .. } = &mut self.state else {
            return;
        };
        let Some(pending) = work.take() else {
            return;
        };
        let PendingWork {
            work,
            head_only,
            connection,
            logged,
        } = *pending;
        let body_bytes = self.queue_reply(
            Reply::Work(work),
            FileAnswer::Whole,
            head_only,
            connection,
            now,
        );
        if let Some((method, target)) = logged {
            self.exchanges.push_back(Exchange {
                method,
                target,
                status: 200,
                body_bytes,
            });
        }
        self.last_progress = now;
        self.advance(now);
    }

    /// `n` bytes of `next_output()` were written.
    pub fn consume(&mut self, n: usize, now: Instant) {
        if n == 0 || self.closed {
            return;
        }
        self.last_progress = now;
        if self.out_pos < self.out.len() {
            self.out_pos += n.min(self.out.len() - self.out_pos);
            while self.ends.front().is_some_and(|&end| end <= self.out_pos) {
                self.ends.pop_front();
                self.responses_sent += 1;
            }
            if self.out_pos == self.out.len() {
                // All written: give the memory back (an idle connection holds no buffer).
                self.out = Vec::new();
                self.out_pos = 0;
                self.ends = VecDeque::new();
            }
        } else {
            match &mut self.source {
                None => return,
                Some(Source::Generated { offset, remaining }) => {
                    let n = (n as u64).min(*remaining);
                    *offset += n;
                    *remaining -= n;
                }
                Some(Source::File {
                    chunk, chunk_pos, ..
                }) => {
                    *chunk_pos += n.min(chunk.len() - *chunk_pos);
                }
            }
            self.finish_source_if_done();
        }
        self.advance(now);
    }

    /// When the next output is a file region and no buffered bytes precede it.
    pub fn sendfile_range(&self) -> Option<FileRange<'_>> {
        if self.out_pos < self.out.len() {
            return None;
        }
        match &self.source {
            Some(Source::File {
                file,
                offset,
                remaining,
                chunk,
                chunk_pos,
                inline: false,
                ..
            }) if *chunk_pos == chunk.len() && *remaining > 0 => Some(FileRange {
                file,
                offset: *offset,
                len: *remaining,
            }),
            _ => None,
        }
    }

    /// `n` bytes of `sendfile_range()` were sent.
    pub fn consume_file(&mut self, n: u64, now: Instant) {
        if n == 0 || self.sendfile_range().is_none() {
            return;
        }
        self.last_progress = now;
        if let Some(Source::File {
            offset, remaining, ..
        }) = &mut self.source
        {
            let n = n.min(*remaining);
            *offset += n;
            *remaining -= n;
        }
        self.finish_source_if_done();
        self.advance(now);
    }

    // ----- what to wait for --------------------------------------------------------------------

    /// The server should read from the socket now.
    ///
    /// False while the connection is closing (or writing its last response), after end-of-file,
    /// and while unparsed input has
    /// reached [`Limits::max_head_bytes`](crate::Limits::max_head_bytes) (a client that
    /// pipelines without reading its responses cannot make the connection grow).
    pub fn wants_read(&self) -> bool {
        !self.closed
            && !self.peer_eof
            && !matches!(
                self.state,
                ReadState::Closing | ReadState::Respond { close: true, .. }
            )
            && self.input.len() - self.in_pos < self.config.limits.max_head_bytes
    }

    /// There is output to write.
    pub fn wants_write(&self) -> bool {
        !self.closed && (self.out_pos < self.out.len() || self.source.is_some())
    }

    /// There is output, and it is the last the connection will ever produce: once it is written,
    /// [`Connection::is_closed`] says so (a response that closes the connection, or one behind
    /// which nothing more will be read). A server can then write it with `MSG_MORE` (`send(2)`),
    /// so that the kernel holds the last partial segment until the close and sends it together
    /// with the FIN: one segment, and one acknowledgement, fewer per connection. False while a
    /// work route's logic is still to run: the response does not exist yet, and what is queued
    /// before it must not wait for it.
    pub fn closes_after_output(&self) -> bool {
        self.wants_write()
            && matches!(
                self.state,
                ReadState::Closing
                    | ReadState::Respond {
                        close: true,
                        work: None
                    }
            )
    }

    /// Nothing more will be read or written: close the socket.
    pub fn is_closed(&self) -> bool {
        self.closed || (matches!(self.state, ReadState::Closing) && !self.wants_write())
    }

    // ANCHOR: timers_idle_deadline
    /// When `handle_timeout` is due, if ever: the last progress (a byte in or out) plus the idle
    /// timeout.
    pub fn deadline(&self) -> Option<Instant> {
        if self.is_closed() {
            None
        } else {
            Some(self.last_progress + self.config.limits.idle_timeout)
        }
    }
    // ANCHOR_END: timers_idle_deadline

    // ANCHOR: lingering_close
    /// Whether closing the socket needs care about input: the peer may still send, or has
    /// sent, bytes this connection did not read — the body of a request it refused, or requests
    /// pipelined after the one that closes the connection. Closing a socket with unread input
    /// makes Linux answer with a reset instead of a FIN (RFC 1122 §4.2.2.13: "data was lost"), and a
    /// reset can destroy the response before the peer has read it (RFC 9112 §9.6). So the
    /// server half-closes first and discards what comes: a *lingering close*.
    ///
    /// `false` after a request that was read to its end with nothing behind it, or once the
    /// peer closed its sending half: if the server also knows its socket held nothing more at
    /// its last read, a plain `close` sends a FIN and loses nothing. That is nginx's heuristic
    /// (`lingering_close on`: linger only "if heuristics suggest that a client may be sending
    /// more data"), and it saves a connection-per-request exchange two syscalls.
    pub fn needs_lingering_close(&self) -> bool {
        self.unread_input && !self.peer_eof
    }
    // ANCHOR_END: lingering_close

    /// Where the main state machine is.
    pub fn phase(&self) -> Phase {
        if self.is_closed() {
            return Phase::Closed;
        }
        match self.state {
            ReadState::RequestLine => Phase::RequestLine,
            ReadState::Headers => Phase::Headers,
            ReadState::Body(_) => Phase::Body,
            ReadState::Respond { .. } => Phase::Respond,
            ReadState::Closing => Phase::Closing,
        }
    }

    // ----- counters ----------------------------------------------------------------------------

    /// How many responses (excluding `100 Continue`) have been fully handed out so far.
    pub fn responses_sent(&self) -> u64 {
        self.responses_sent
    }

    /// The next recorded exchange, if [`Config::log_requests`] is set.
    pub fn take_exchange(&mut self) -> Option<Exchange> {
        self.exchanges.pop_front()
    }

    /// Bytes of heap memory the connection's buffers hold right now (input, output, file chunk,
    /// an `/echo` body being received, response bookkeeping), for tests and for servers that
    /// want to report it. Zero between requests.
    pub fn buffered_bytes(&self) -> usize {
        let chunk = match &self.source {
            Some(Source::File { chunk, .. }) => chunk.capacity(),
            _ => 0,
        };
        let body = match &self.state {
            ReadState::Body(b) => b.body.capacity(),
            _ => 0,
        };
        self.input.capacity()
            + self.out.capacity()
            + chunk
            + body
            + self.ends.capacity() * std::mem::size_of::<usize>()
    }

    // ----- the main state machine --------------------------------------------------------------

    /// Run the state machine over the buffered input, as far as it and the output queue allow.
    fn advance(&mut self, now: Instant) {
        // Borrow the buffer out of `self` while the state machine (which mutates `self`) reads it.
        let input = std::mem::take(&mut self.input);
        let used = self.run(&input[self.in_pos..], now);
        self.input = input;
        self.in_pos += used;
        self.compact_input();
    }

    // ANCHOR: fsm_run
    /// The main loop: one iteration per state transition. Reads `buf` (the unparsed input) and
    /// returns how many of its bytes were used; the rest belongs to a later state.
    fn run(&mut self, buf: &[u8], now: Instant) -> usize {
        let mut pos = 0;
        while !self.closed {
            match &mut self.state {
                ReadState::Closing => break,
                ReadState::Respond { close, work } => {
                    let close = *close;
                    // The response does not exist before the server has run the work.
                    if work.is_some() {
                        break;
                    }
                    // Go on with the next request only when this response is entirely in memory
                    // and the queue is short: pipelined small requests then share one write.
                    if self.source.is_some()
                        || self.out.len() - self.out_pos >= PIPELINE_OUTPUT_LIMIT
                    {
                        break;
                    }
                    self.state = if close {
                        // Whatever follows the request that closes the connection is never read.
                        self.unread_input |= pos < buf.len();
                        ReadState::Closing
                    } else {
                        ReadState::RequestLine
                    };
                }
                ReadState::RequestLine | ReadState::Headers => {
                    let (used, progressed) = self.step_head(&buf[pos..], now);
                    pos += used;
                    if !progressed {
                        self.wait_for_input();
                        break;
                    }
                }
                // ANCHOR_END: fsm_run
                ReadState::Body(b) => {
                    let limits = BodyLimits {
                        max_body: self.config.limits.max_body_bytes,
                        max_line: self.config.limits.max_head_bytes,
                    };
                    let sink = if b.keep { Some(&mut b.body) } else { None };
                    let (used, decoded) =
                        body::decode(&mut b.framing, &buf[pos..], &mut b.received, limits, sink);
                    pos += used;
                    match decoded {
                        Decoded::NeedMore => {
                            self.wait_for_input();
                            break;
                        }
                        Decoded::Done => {
                            let ReadState::Body(b) =
                                std::mem::replace(&mut self.state, ReadState::RequestLine)
                            else {
                                break;
                            };
                            let BodyState { request, body, .. } = *b;
                            self.respond(&request, body, now);
                        }
                        Decoded::Error(status, message) => {
                            let (method, target) = match &self.state {
                                ReadState::Body(b) if self.config.log_requests => (
                                    Some(b.request.method.as_str().to_owned()),
                                    Some(b.request.target.clone()),
                                ),
                                _ => (None, None),
                            };
                            self.reject(
                                Rejection {
                                    status,
                                    message,
                                    method,
                                    target,
                                },
                                now,
                            );
                        }
                    }
                }
            }
        }
        pos
    }

    // ANCHOR: fsm_step_head
    /// `RequestLine`/`Headers`: parse the head at the start of `buf`. Returns the bytes used and
    /// whether the state moved on (false: wait for more bytes).
    fn step_head(&mut self, buf: &[u8], now: Instant) -> (usize, bool) {
        let mut skip = 0;
        if matches!(self.state, ReadState::RequestLine) {
            // RFC 9112 §2.2: ignore empty lines before a request line (some clients send an
            // extra CRLF after a body).
            skip = buf
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
        }
        let status =
            request::parse_head(&buf[skip..], &self.config.limits, self.config.log_requests);
        match status {
            HeadStatus::RequestLine => {
                self.state = ReadState::RequestLine;
                (skip, false)
            }
            HeadStatus::Headers => {
                self.state = ReadState::Headers;
                (skip, false)
            }
            HeadStatus::Rejected(rejection) => {
                self.reject(rejection, now);
                (skip, true)
            }
            HeadStatus::Complete(len, request) => {
                let rest_empty = buf.len() == skip + len;
                self.start_request(request, rest_empty, now);
                (skip + len, true)
            }
        }
    }
    // ANCHOR_END: fsm_step_head

    /// A complete head: read a body, or answer at once.
    fn start_request(&mut self, mut request: Request, body_not_here: bool, now: Instant) {
        let Some(framing) = request.framing.take() else {
            self.respond(&request, Vec::new(), now);
            return;
        };
        // `Expect: 100-continue`: the client waits for our go-ahead before sending the body.
        // (Over-limit bodies were already answered with 413 from the headers.) HTTP/1.0 clients
        // do not know 100 (RFC 9110 §15.2).
        if request.expect_continue && request.minor == 1 && body_not_here {
            self.out.extend_from_slice(response::CONTINUE);
        }
        let keep =
            request.method == Method::Post && route::origin_path(&request.target) == Some("/echo");
        self.state = ReadState::Body(Box::new(BodyState {
            request,
            framing,
            keep,
            body: Vec::new(),
            received: 0,
        }));
    }

    /// No complete request/body in the buffer. After end-of-file no more will come.
    fn wait_for_input(&mut self) {
        if self.peer_eof {
            // A request cut off in the middle has nothing to answer; an idle connection is done.
            // (The buffered bytes are freed by `compact_input`.)
            self.state = ReadState::Closing;
        }
    }

    /// Drop parsed input; free the buffer when empty.
    fn compact_input(&mut self) {
        if self.in_pos == self.input.len() || matches!(self.state, ReadState::Closing) {
            self.input = Vec::new();
            self.in_pos = 0;
        } else if self.in_pos > 0 {
            self.input.drain(..self.in_pos);
            self.in_pos = 0;
        }
    }

    // ----- responses ---------------------------------------------------------------------------

    /// Route a complete request and queue its response.
    fn respond(&mut self, request: &Request, body: Vec<u8>, now: Instant) {
        let reply = route::resolve(&self.config, request.method, &request.target, body, now);
        let head_only = request.method == Method::Head;
        // A file's validators and the request's conditions decide between 200, 206, 304 and
        // 416. HEAD is answered exactly as GET would be, without the body.
        let answer = match &reply {
            Reply::File {
                validators, len, ..
            } => validators::answer(validators, *len, &request.conditions),
            _ => FileAnswer::Whole,
        };
        let status = match (&reply, answer) {
            (Reply::Error { status, .. }, _) => *status,
            (Reply::Redirect { .. }, _) => 301,
            (Reply::File { .. }, FileAnswer::Part { .. }) => 206,
            (Reply::File { .. }, FileAnswer::NotModified) => 304,
            (Reply::File { .. }, FileAnswer::Unsatisfiable) => 416,
            _ => 200,
        };
        // ANCHOR: fsm_keep_alive
        let close = !request.keep_alive || response::closes_connection(status);
        let connection = if close {
            ConnectionHeader::Close
        } else if request.minor == 0 {
            ConnectionHeader::KeepAlive
        } else {
            ConnectionHeader::None
        };
        // ANCHOR_END: fsm_keep_alive
        if let Reply::Work(work) = reply {
            // The response exists only once the server has run the logic (`work_done`).
            let pending = PendingWork {
                work,
                head_only,
                connection,
                logged: self
                    .config
                    .log_requests
                    .then(|| (request.method.as_str().to_owned(), request.target.clone())),
            };
            self.state = ReadState::Respond {
                close,
                work: Some(Box::new(pending)),
            };
            return;
        }
        let body_bytes = self.queue_reply(reply, answer, head_only, connection, now);
        if self.config.log_requests {
            self.exchanges.push_back(Exchange {
                method: request.method.as_str().to_owned(),
                target: request.target.clone(),
                status,
                body_bytes,
            });
        }
        self.state = ReadState::Respond { close, work: None };
    }

    /// Queue an error response that closes the connection.
    fn reject(&mut self, rejection: Rejection, now: Instant) {
        let reply = Reply::Error {
            status: rejection.status,
            message: rejection.message,
            allow: None,
        };
        let body_bytes = self.queue_reply(
            reply,
            FileAnswer::Whole,
            false,
            ConnectionHeader::Close,
            now,
        );
        if self.config.log_requests {
            self.exchanges.push_back(Exchange {
                method: rejection.method.unwrap_or_else(|| "-".to_owned()),
                target: rejection.target.unwrap_or_else(|| "-".to_owned()),
                status: rejection.status,
                body_bytes,
            });
        }
        self.state = ReadState::Closing;
        // The peer may still be sending the request we refused (its body, the rest of its head).
        self.unread_input = true;
    }

    /// Write the head (and an in-memory body) into `out`, or set up a streaming `source`.
    /// Returns the number of body bytes the response carries on the wire.
    fn queue_reply(
        &mut self,
        reply: Reply,
        answer: FileAnswer,
        head_only: bool,
        connection: ConnectionHeader,
        now: Instant,
    ) -> u64 {
        let date = self.config.wall_clock(now);
        let mut head = Head {
            status: 200,
            content_type: ContentType::OCTETS,
            content_length: 0,
            allow: None,
            connection,
            date,
            server: &self.config.server_name,
            validators: None,
            content_range: None,
            location: None,
        };
        let body_bytes = match reply {
            Reply::Error {
                status,
                message,
                allow,
            } => {
                let text = response::error_body(status, message);
                head.status = status;
                head.content_type = ContentType::TEXT;
                head.content_length = text.len() as u64;
                head.allow = allow;
                response::write_head(&mut self.out, &head);
                if !head_only {
                    self.out.extend_from_slice(text.as_bytes());
                }
                text.len() as u64
            }
            Reply::Echo(body) => {
                head.content_length = body.len() as u64;
                response::write_head(&mut self.out, &head);
                self.out.extend_from_slice(&body);
                body.len() as u64
            }
            Reply::Bytes(n) => {
                head.content_length = n;
                response::write_head(&mut self.out, &head);
                if head_only || n == 0 {
                    // No body bytes to queue.
                } else if n <= SMALL_BODY_BYTES {
                    // Small: copied behind the head, one write for the whole response.
                    self.out.extend_from_slice(response::generated_slice(0, n));
                } else {
                    // Big: sliced from the static pattern as the socket takes it.
                    self.source = Some(Source::Generated {
                        offset: 0,
                        remaining: n,
                    });
                }
                n
            }
            Reply::Work(work) => {
                let text = match work {
                    Work::Cpu(d) => format!("computed for {} us\n", d.as_micros()),
                    Work::Block(d) => format!("blocked for {} ms\n", d.as_millis()),
                };
                head.content_type = ContentType::TEXT;
                head.content_length = text.len() as u64;
                response::write_head(&mut self.out, &head);
                if !head_only {
                    self.out.extend_from_slice(text.as_bytes());
                }
                text.len() as u64
            }
            Reply::Redirect { location } => {
                let text = response::error_body(301, "this is a directory: its address ends in /");
                let head = Head {
                    status: 301,
                    content_type: ContentType::TEXT,
                    content_length: text.len() as u64,
                    location: Some(&location),
                    ..head
                };
                response::write_head(&mut self.out, &head);
                if !head_only {
                    self.out.extend_from_slice(text.as_bytes());
                }
                text.len() as u64
            }
            Reply::File {
                file,
                len,
                content_type,
                validators,
                content,
                cache_key,
            } => {
                let head = Head {
                    content_type,
                    validators: Some(&validators),
                    ..head
                };
                let (start, body_len) = match answer {
                    FileAnswer::Whole => (0, len),
                    FileAnswer::Part { start, len: part } => (start, part),
                    FileAnswer::NotModified => {
                        // No content, and no Content-Length (see `write_head`).
                        response::write_head(
                            &mut self.out,
                            &Head {
                                status: 304,
                                ..head
                            },
                        );
                        self.ends.push_back(self.out.len());
                        return 0;
                    }
                    FileAnswer::Unsatisfiable => {
                        let text =
                            response::error_body(416, "no byte of the file is in that range");
                        let head = Head {
                            status: 416,
                            content_type: ContentType::TEXT,
                            content_length: text.len() as u64,
                            content_range: Some(ContentRange::Unsatisfied { total: len }),
                            ..head
                        };
                        response::write_head(&mut self.out, &head);
                        if !head_only {
                            self.out.extend_from_slice(text.as_bytes());
                        }
                        self.ends.push_back(self.out.len());
                        return if head_only { 0 } else { text.len() as u64 };
                    }
                };
                let head = match answer {
                    FileAnswer::Part { .. } => Head {
                        status: 206,
                        content_range: Some(ContentRange::Bytes {
                            start,
                            len: body_len,
                            total: len,
                        }),
                        ..head
                    },
                    _ => head,
                };
                let head = Head {
                    content_length: body_len,
                    ..head
                };
                response::write_head(&mut self.out, &head);
                if head_only || body_len == 0 {
                    // No body bytes to queue.
                } else if let Some(content) = content {
                    // The open-file cache has the file's bytes: no read at all.
                    let range = usize::try_from(start).unwrap_or(usize::MAX)
                        ..usize::try_from(start + body_len).unwrap_or(usize::MAX);
                    self.out.extend_from_slice(&content[range]);
                } else {
                    // The server reads the body (`file_read`); a small one is then appended
                    // right behind this head, so the whole response is one write. Once a small
                    // body has been read, the cache keeps it if it is the whole file (the cache
                    // checks the length).
                    let inline = body_len <= SMALL_BODY_BYTES;
                    let store = cache_key
                        .filter(|_| inline)
                        .map(|key| Box::new((key, validators.clone())));
                    self.source = Some(Source::File {
                        file,
                        offset: start,
                        remaining: body_len,
                        chunk: Vec::new(),
                        chunk_pos: 0,
                        inline,
                        store,
                    });
                }
                body_len
            }
        };
        let body_bytes = if head_only { 0 } else { body_bytes };
        if self.source.is_none() {
            self.ends.push_back(self.out.len());
        }
        body_bytes
    }

    /// The streaming body is complete: the response counts as sent.
    fn finish_source_if_done(&mut self) {
        let done = match &self.source {
            None => false,
            Some(Source::Generated { remaining, .. }) => *remaining == 0,
            Some(Source::File {
                remaining,
                chunk,
                chunk_pos,
                ..
            }) => *remaining == 0 && *chunk_pos == chunk.len(),
        };
        if done {
            self.source = None; // frees the chunk buffer and closes the file
            self.responses_sent += 1;
        }
    }

    /// Give up on the connection at once: nothing more is written.
    fn abort(&mut self) {
        self.closed = true;
        self.state = ReadState::Closing;
        self.source = None;
        self.out = Vec::new();
        self.out_pos = 0;
        self.ends.clear();
        self.input = Vec::new();
        self.in_pos = 0;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;

    /// `buffered_bytes` is the sum of every buffer's capacity; each term is checked while it is
    /// the only one that is not empty, or against the fields directly.
    #[test]
    fn buffered_bytes_adds_up_every_buffer() {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::write(root.path().join("big.bin"), vec![7u8; 300_000]).expect("fixture");
        let config = Arc::new(Config::new(root.path()).expect("config"));
        let now = Instant::now();
        let expected = |c: &Connection| {
            let chunk = match &c.source {
                Some(Source::File { chunk, .. }) => chunk.capacity(),
                _ => 0,
            };
            let body = match &c.state {
                ReadState::Body(b) => b.body.capacity(),
                _ => 0,
            };
            c.input.capacity() + c.out.capacity() + chunk + body + c.ends.capacity() * 8
        };
        // Pipelined answers: output and the list of response ends.
        let mut conn = Connection::new(Arc::clone(&config), now);
        conn.handle_input(
            &b"GET /bytes/10 HTTP/1.1\r\nHost: a\r\n\r\n".repeat(20),
            now,
        );
        assert!(conn.ends.capacity() >= 20);
        assert_eq!(conn.buffered_bytes(), expected(&conn));
        // A streamed file: the chunk buffer alone once the head is written.
        let mut conn = Connection::new(Arc::clone(&config), now);
        conn.handle_input(b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n", now);
        let head = conn.next_output().len();
        conn.consume(head, now);
        let read = conn.fill_file_read(now, |file, offset, buf| {
            use std::os::unix::fs::FileExt;
            file.read_at(buf, offset)
        });
        assert_eq!(read.ok(), Some(crate::FILE_CHUNK_BYTES));
        assert_eq!(conn.buffered_bytes(), expected(&conn));
        assert!(conn.buffered_bytes() >= crate::FILE_CHUNK_BYTES);
        // An `/echo` body on its way in.
        let mut conn = Connection::new(Arc::clone(&config), now);
        conn.handle_input(
            b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 50000\r\n\r\n",
            now,
        );
        conn.handle_input(&[b'x'; 30_000], now);
        assert!(conn.buffered_bytes() >= 30_000);
        assert_eq!(conn.buffered_bytes(), expected(&conn));
    }
}
