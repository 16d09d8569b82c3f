//! Moving bytes between a socket and an [`http_core::Connection`], for servers that learn
//! *readiness* (non-blocking polling, `select`, `poll`, `epoll`, SIGIO).
//!
//! Each function performs the syscalls of one readiness event and handles every outcome on its own
//! arm. The server decides *when* to call them (that is its I/O model); these decide *what* a
//! ready socket means for the connection. After either call, ask [`interest`] what to wait for.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::FileExt;
use std::time::Instant;

use http_core::Connection;
use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, Shutdown as How, recv, send, shutdown};

/// Size of the read buffer a server should pass to [`read_ready`] (one per thread, not per
/// connection: a connection's own buffer inside `http-core` costs nothing while idle).
pub const READ_BUF_SIZE: usize = 64 * 1024;

/// How many reads to make for one readiness event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMode {
    /// One `read`: enough under level-triggered readiness, which reports the socket again if
    /// bytes remain.
    Once,
    /// Read until `EAGAIN`: required under edge-triggered readiness, which reports a socket only
    /// when new bytes arrive — stop early and the rest waits forever.
    UntilWouldBlock,
}

/// Why a [`read_ready`] or [`write_ready`] call stopped (errors come back as `Err`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The kernel said `EAGAIN`: wait for the next readiness event.
    WouldBlock,
    /// We stopped on our own: one read in [`ReadMode::Once`], the connection does not want
    /// input right now (its buffer is full, or a response is being written), or all output is
    /// written.
    Done,
    /// `read` returned 0: the peer will send nothing more.
    PeerClosed,
    /// Like `Done`, and the last read came back shorter than the buffer: the socket held less
    /// than we asked for, so its receive queue was empty right after (what `EAGAIN` would have
    /// said, without the extra `read`). A server that closes now can skip the lingering close
    /// ([`close_finished`]).
    Drained,
}

/// What the server should wait for next, derived from the connection's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interest {
    /// Wait until the socket is readable.
    pub read: bool,
    /// Wait until the socket is writable.
    pub write: bool,
}

/// What to wait for next; `None` means the connection is finished: close the socket.
pub fn interest(conn: &Connection) -> Option<Interest> {
    if conn.is_closed() {
        return None;
    }
    Some(Interest {
        read: conn.wants_read(),
        write: conn.wants_write(),
    })
}

/// Between requests: no response pending and no request started (or at most part of a request
/// line). At shutdown such a keep-alive connection is closed at once; the others may finish their
/// exchange within the grace period.
pub fn is_idle(conn: &Connection) -> bool {
    conn.phase() == http_core::Phase::RequestLine && !conn.wants_write()
}

/// The socket is readable: read into `buf` and feed the connection.
pub fn read_ready<S: Read>(
    stream: &mut S,
    conn: &mut Connection,
    buf: &mut [u8],
    mode: ReadMode,
    now: Instant,
) -> io::Result<Progress> {
    // Whether the last read came back shorter than the buffer: TCP's `recv` hands over all it
    // has, up to the buffer's size, so the socket was empty right after it.
    let mut short = false;
    loop {
        if !conn.wants_read() {
            return Ok(if short {
                Progress::Drained
            } else {
                Progress::Done
            });
        }
        match stream.read(buf) {
            // Zero bytes from a stream socket is end-of-file: the peer shut down its sending half.
            Ok(0) => {
                conn.handle_eof(now);
                return Ok(Progress::PeerClosed);
            }
            Ok(n) => {
                conn.handle_input(&buf[..n], now);
                // The logic of a work route runs here, on the thread that runs http-core.
                crate::work::run_due(conn);
                short = n < buf.len();
                // In `Once` mode we stop after one read and let level-triggered readiness call
                // us again if bytes remain.
                if mode == ReadMode::Once {
                    return Ok(if short {
                        Progress::Drained
                    } else {
                        Progress::Done
                    });
                }
            }
            // Nothing (more) to read: the normal way a non-blocking read loop ends.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Progress::WouldBlock),
            // A signal arrived before any byte was read: simply read again.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // ECONNRESET and friends: the connection is gone; the caller closes it.
            Err(e) => return Err(e),
        }
    }
}

/// The socket is writable: write the connection's output until it is all written or the kernel's
/// send buffer is full. With `zero_copy`, file bodies go out with `sendfile(2)` (no copy through
/// user space); otherwise they are read in chunks and written.
///
/// Writing may let the connection parse a pipelined request; if that is a work route, its logic
/// runs here, on this thread, before the write goes on ([`crate::work::run_due`]).
pub fn write_ready<S: Write + AsFd>(
    stream: &mut S,
    conn: &mut Connection,
    zero_copy: bool,
    now: Instant,
) -> io::Result<Progress> {
    write_loop(stream, conn, zero_copy, Logic::Here, now)
}

/// [`write_ready`] for a server whose request logic runs on other threads (the simulated
/// Proactor): a work route found after a write is left for the caller to hand to a worker
/// ([`Connection::work`]), and the write stops there.
pub fn write_output<S: Write + AsFd>(
    stream: &mut S,
    conn: &mut Connection,
    zero_copy: bool,
    now: Instant,
) -> io::Result<Progress> {
    write_loop(stream, conn, zero_copy, Logic::Elsewhere, now)
}

/// Where a work route's logic runs when writing uncovers one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Logic {
    Here,
    Elsewhere,
}

fn write_loop<S: Write + AsFd>(
    stream: &mut S,
    conn: &mut Connection,
    zero_copy: bool,
    logic: Logic,
    now: Instant,
) -> io::Result<Progress> {
    loop {
        if logic == Logic::Here {
            crate::work::run_due(conn);
        }
        if zero_copy {
            if let Some(range) = conn.sendfile_range() {
                let count = usize::try_from(range.len).unwrap_or(usize::MAX);
                let mut offset = i64::try_from(range.offset).unwrap_or(i64::MAX);
                match nix::sys::sendfile::sendfile64(
                    stream.as_fd(),
                    range.file,
                    Some(&mut offset),
                    count,
                ) {
                    Ok(0) => {
                        // The file shrank under us: what the headers promised cannot be sent.
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "file truncated while sending",
                        ));
                    }
                    Ok(n) => {
                        conn.consume_file(n as u64, now);
                        continue;
                    }
                    Err(nix::errno::Errno::EAGAIN) => return Ok(Progress::WouldBlock),
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        // A file body to read first (a small one joins its head: one write for both).
        read_file(conn, now)?;
        let pending = conn.next_output();
        if pending.is_empty() {
            // Everything the connection had is written (it may produce more after more input).
            return Ok(Progress::Done);
        }
        match write_output_bytes(stream, pending, conn.closes_after_output()) {
            // A zero-length write of a non-empty buffer should not happen on a socket; treat it as
            // a dead peer rather than loop forever.
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "socket accepted no bytes",
                ));
            }
            // A short write is normal: the send buffer had room for `n` bytes. Loop to try the rest;
            // the next write will say `EAGAIN` if the buffer is full.
            Ok(n) => conn.consume(n, now),
            // The send buffer is full: wait for writability (a slow reader).
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Progress::WouldBlock),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // EPIPE / ECONNRESET: the peer is gone (SIGPIPE is ignored, so we get the error).
            Err(e) => return Err(e),
        }
    }
}

/// Write `bytes` to the socket, like `write(2)`. When they are the connection's last
/// (`last`: [`Connection::closes_after_output`]), with `send(2)`'s `MSG_MORE`: the kernel holds
/// the final partial segment instead of sending it at once, and the `close` (or `shutdown`)
/// that follows sends it with the FIN in one segment (`tcp_send_fin` adds the FIN to a segment
/// still queued). A connection-per-request exchange then puts two segments on the wire fewer,
/// the FIN and the peer's acknowledgement of it. Holding the bytes costs no time, because the
/// close comes right after; full segments leave as usual. A descriptor that is not a socket
/// (`ENOTSOCK`: a pipe, a file) takes a plain `write`.
// ANCHOR: last_segment
pub fn write_output_bytes<S: Write + AsFd>(
    stream: &mut S,
    bytes: &[u8],
    last: bool,
) -> io::Result<usize> {
    if !last {
        return stream.write(bytes);
    }
    let flags = MsgFlags::from_bits_retain(libc::MSG_MORE) | MsgFlags::MSG_NOSIGNAL;
    match send(stream.as_fd().as_raw_fd(), bytes, flags) {
        Err(Errno::ENOTSOCK) => stream.write(bytes),
        result => result.map_err(io::Error::from),
    }
}
// ANCHOR_END: last_segment

/// Do the file read the connection asks for, if any ([`Connection::file_read`]), with one
/// `pread(2)` on the calling thread. This is how every readiness server reads files, and why it
/// may wait for the disk on a page-cache miss: a regular file is always "ready" (`select` and
/// `poll` report it readable at once, and `epoll_ctl` refuses it with `EPERM`, see `epoll(7)`),
/// so readiness has nothing to say about it. `Err`: the read failed or the file shrank; the
/// connection is closed.
pub fn read_file(conn: &mut Connection, now: Instant) -> io::Result<()> {
    // No read due: `fill_file_read` does nothing and says 0.
    conn.fill_file_read(now, |file, offset, buf| {
        retry_interrupted(|| file.read_at(buf, offset))
    })
    .map(|_| ())
}

/// Call `read` until it does something other than fail with `EINTR` (a signal arrived before
/// any byte moved). Any other error, and every success, is the answer.
fn retry_interrupted(mut read: impl FnMut() -> io::Result<usize>) -> io::Result<usize> {
    loop {
        match read() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// Close a finished connection, lingering only when input may be left unread: when `http-core`
/// says so ([`Connection::needs_lingering_close`]) or the socket was not seen empty at the last
/// read (`socket_drained`: the last read returned [`Progress::Drained`], [`Progress::WouldBlock`]
/// or [`Progress::PeerClosed`]). Otherwise a plain `close` sends a FIN and loses nothing, and a
/// connection-per-request exchange saves `shutdown` and one `recv`, as nginx does.
pub fn close_finished<S: AsFd>(stream: &S, conn: &Connection, socket_drained: bool) {
    if conn.needs_lingering_close() || !socket_drained {
        close_gracefully(stream);
    }
}

/// Close a finished connection politely: send our FIN first (`shutdown(SHUT_WR)`), then discard
/// whatever the peer already sent that we will never read. Closing a socket with unread input
/// makes Linux send a reset, which can destroy a response the peer has not read yet (a `413`
/// answered without reading the body). Dropping the stream afterwards closes it.
pub fn close_gracefully<S: AsFd>(stream: &S) {
    let fd = stream.as_fd();
    // ENOTCONN: the peer already reset the connection; nothing to be polite about.
    let _ = shutdown(std::os::fd::AsRawFd::as_raw_fd(&fd), How::Write);
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        match recv(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            &mut sink,
            MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(n) if n > 0 => continue,
            _ => break, // EOF, EAGAIN or an error: nothing more to discard now.
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::BorrowedFd;
    use std::sync::Arc;

    use super::*;

    /// A stream whose reads and writes return a script of results, one per call.
    struct Scripted {
        reads: VecDeque<io::Result<Vec<u8>>>,
        writes: VecDeque<io::Result<usize>>,
        written: Vec<u8>,
        /// Only for `AsFd` (never used for I/O: `write_ready` is called without zero copy).
        fd: std::fs::File,
    }

    impl Scripted {
        fn new() -> Scripted {
            Scripted {
                reads: VecDeque::new(),
                writes: VecDeque::new(),
                written: Vec::new(),
                fd: std::fs::File::open("/dev/null").expect("/dev/null"),
            }
        }
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self
                .reads
                .pop_front()
                .expect("a read the script did not plan")
            {
                Ok(bytes) => {
                    buf[..bytes.len()].copy_from_slice(&bytes);
                    Ok(bytes.len())
                }
                Err(e) => Err(e),
            }
        }
    }

    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = self
                .writes
                .pop_front()
                .expect("a write the script did not plan")?;
            self.written.extend_from_slice(&buf[..n.min(buf.len())]);
            Ok(n.min(buf.len()))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl AsFd for Scripted {
        fn as_fd(&self) -> BorrowedFd<'_> {
            self.fd.as_fd()
        }
    }

    fn conn() -> Connection {
        let config = http_core::Config::new(std::env::temp_dir()).expect("temp dir as root");
        Connection::new(Arc::new(config), Instant::now())
    }

    const REQUEST: &[u8] = b"GET /bytes/5 HTTP/1.1\r\nHost: a\r\n\r\n";

    fn err(kind: io::ErrorKind) -> io::Result<Vec<u8>> {
        Err(io::Error::from(kind))
    }

    #[test]
    fn the_read_buffer_is_the_documented_64_kib() {
        // Servers size their one read buffer with it: a whole request head (16 KiB at most) and
        // a large share of a body fit one read.
        assert_eq!(READ_BUF_SIZE, 65_536);
    }

    #[test]
    fn an_interrupted_read_is_retried() {
        let (mut stream, mut conn) = (Scripted::new(), conn());
        stream
            .reads
            .extend([err(io::ErrorKind::Interrupted), Ok(REQUEST.to_vec())]);
        let mut buf = [0u8; 1024];
        let progress = read_ready(
            &mut stream,
            &mut conn,
            &mut buf,
            ReadMode::Once,
            Instant::now(),
        );
        assert_eq!(
            progress.expect("no error"),
            Progress::Drained,
            "fewer bytes than the buffer holds: the socket is empty"
        );
        assert!(conn.wants_write(), "the request was read and answered");
    }

    #[test]
    fn would_block_ends_a_read_and_other_errors_are_errors() {
        let (mut stream, mut conn) = (Scripted::new(), conn());
        stream.reads.push_back(err(io::ErrorKind::WouldBlock));
        let mut buf = [0u8; 1024];
        let now = Instant::now();
        let progress = read_ready(&mut stream, &mut conn, &mut buf, ReadMode::Once, now);
        assert_eq!(progress.expect("no error"), Progress::WouldBlock);
        stream.reads.push_back(err(io::ErrorKind::ConnectionReset));
        let progress = read_ready(&mut stream, &mut conn, &mut buf, ReadMode::Once, now);
        assert_eq!(
            progress.expect_err("a reset").kind(),
            io::ErrorKind::ConnectionReset
        );
        stream.reads.push_back(Ok(Vec::new()));
        let progress = read_ready(&mut stream, &mut conn, &mut buf, ReadMode::Once, now);
        assert_eq!(progress.expect("no error"), Progress::PeerClosed);
    }

    #[test]
    fn once_reads_once_and_until_would_block_drains() {
        let now = Instant::now();
        let mut buf = [0u8; 1024];
        let (head, tail) = REQUEST.split_at(10);
        let (mut stream, mut conn) = (Scripted::new(), conn());
        stream.reads.extend([Ok(head.to_vec()), Ok(tail.to_vec())]);
        // A read that fills the buffer says nothing about what is left: `Done`, not `Drained`.
        let progress = read_ready(&mut stream, &mut conn, &mut buf[..10], ReadMode::Once, now);
        assert_eq!(progress.expect("no error"), Progress::Done);
        assert_eq!(
            stream.reads.len(),
            1,
            "level-triggered: one read per readiness"
        );
        let (mut stream, mut conn) = (Scripted::new(), self::conn());
        stream.reads.extend([
            Ok(head.to_vec()),
            Ok(tail.to_vec()),
            err(io::ErrorKind::WouldBlock),
        ]);
        let mode = ReadMode::UntilWouldBlock;
        let progress = read_ready(&mut stream, &mut conn, &mut buf, mode, now);
        assert_eq!(progress.expect("no error"), Progress::WouldBlock);
        assert!(stream.reads.is_empty(), "edge-triggered: read until EAGAIN");
        assert!(conn.wants_write());
    }

    #[test]
    fn writes_retry_on_interrupt_stop_on_would_block_and_fail_on_errors() {
        let now = Instant::now();
        let (mut stream, mut conn) = (Scripted::new(), conn());
        conn.handle_input(REQUEST, now);
        let total = conn.next_output().len();
        stream.writes.extend([
            Err(io::Error::from(io::ErrorKind::Interrupted)),
            Ok(7),
            Err(io::Error::from(io::ErrorKind::WouldBlock)),
        ]);
        let progress = write_ready(&mut stream, &mut conn, false, now);
        assert_eq!(progress.expect("no error"), Progress::WouldBlock);
        assert_eq!(stream.written.len(), 7);
        assert_eq!(conn.next_output().len(), total - 7);
        stream
            .writes
            .push_back(Err(io::Error::from(io::ErrorKind::BrokenPipe)));
        let progress = write_ready(&mut stream, &mut conn, false, now);
        assert_eq!(
            progress.expect_err("EPIPE").kind(),
            io::ErrorKind::BrokenPipe
        );
        stream.writes.push_back(Ok(total - 7));
        let progress = write_ready(&mut stream, &mut conn, false, now);
        assert_eq!(progress.expect("no error"), Progress::Done);
    }

    #[test]
    fn a_graceful_close_sends_fin_and_discards_unread_input() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut peer = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (mut ours, _) = listener.accept().expect("accept");
        // The peer sent more than we read; we answer and close. Unread input at close(2) would
        // make the kernel send a reset, which can destroy the answer on its way.
        peer.write_all(&[b'x'; 10_000]).expect("peer writes");
        std::thread::sleep(std::time::Duration::from_millis(50));
        ours.write_all(b"response").expect("we answer");
        close_gracefully(&ours);
        ours.set_nonblocking(true).expect("O_NONBLOCK");
        let mut buf = [0u8; 16];
        let left = ours.read(&mut buf).expect_err("nothing is left to read");
        assert_eq!(
            left.kind(),
            io::ErrorKind::WouldBlock,
            "the input was discarded"
        );
        drop(ours);
        peer.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        let mut got = Vec::new();
        peer.read_to_end(&mut got).expect("our FIN ends the stream");
        assert_eq!(got, b"response");
    }

    /// Segments the socket has sent so far (`TCP_INFO`'s `tcpi_segs_out`, see `tcp(7)`).
    fn segments_sent(stream: &TcpStream) -> u32 {
        let mut info = std::mem::MaybeUninit::<libc::tcp_info>::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        // SAFETY: `info` is a writable `tcp_info` of `len` bytes that outlives the call, and
        // the kernel writes at most `len` bytes into it.
        let rc = unsafe {
            libc::getsockopt(
                stream.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                info.as_mut_ptr().cast(),
                &mut len,
            )
        };
        assert_eq!(
            rc,
            0,
            "getsockopt(TCP_INFO): {}",
            io::Error::last_os_error()
        );
        // SAFETY: zero-initialised, then (partly) filled by the kernel: every field is valid.
        unsafe { info.assume_init() }.tcpi_segs_out
    }

    /// What the peer of an exchange receives, and how many segments our side sent for it: a
    /// response of 100 bytes written with `last`, then our FIN (`shutdown`).
    fn answer_and_shut(last: bool) -> (Vec<u8>, u32) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut peer = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (mut ours, _) = listener.accept().expect("accept");
        let before = segments_sent(&ours);
        let response = [b'r'; 100];
        let n = write_output_bytes(&mut ours, &response, last).expect("we answer");
        assert_eq!(n, response.len());
        shutdown(ours.as_raw_fd(), How::Write).expect("shutdown");
        peer.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("timeout");
        let mut got = Vec::new();
        peer.read_to_end(&mut got).expect("our FIN ends the stream");
        (got, segments_sent(&ours) - before)
    }

    #[test]
    fn the_last_bytes_leave_together_with_the_fin() {
        let (got, segments) = answer_and_shut(false);
        assert_eq!(got, [b'r'; 100]);
        assert_eq!(
            segments, 2,
            "not the last: the bytes at once, the FIN after them"
        );
        let (got, segments) = answer_and_shut(true);
        assert_eq!(got, [b'r'; 100], "held bytes are not lost");
        assert_eq!(
            segments, 1,
            "the last: the bytes and the FIN in one segment"
        );
    }

    #[test]
    fn the_last_bytes_to_something_not_a_socket_take_a_plain_write() {
        let mut stream = Scripted::new();
        stream.writes.push_back(Ok(5));
        assert_eq!(
            write_output_bytes(&mut stream, b"hello", true).expect("written"),
            5
        );
        assert_eq!(stream.written, b"hello");
    }

    #[test]
    fn a_file_read_is_retried_after_eintr_and_only_then() {
        let mut answers = vec![
            Ok(3),
            Err(io::Error::from(io::ErrorKind::Interrupted)),
            Err(io::Error::from(io::ErrorKind::Interrupted)),
        ];
        let mut calls = 0;
        let n = retry_interrupted(|| {
            calls += 1;
            answers.pop().unwrap_or(Ok(0))
        });
        assert_eq!(n.ok(), Some(3));
        assert_eq!(calls, 3, "two interrupted calls, then the read");
        let mut calls = 0;
        let err = retry_interrupted(|| {
            calls += 1;
            Err(io::Error::from_raw_os_error(libc::EIO))
        });
        assert_eq!(err.map_err(|e| e.raw_os_error()), Err(Some(libc::EIO)));
        assert_eq!(calls, 1, "another error is the answer at once");
    }
}
