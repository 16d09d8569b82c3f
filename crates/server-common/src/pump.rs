//! Moving bytes between a socket and an [`http_core::Connection`], for servers that learn
//! *readiness* (non-blocking polling, `select`, `poll`, `epoll`, SIGIO).
//!
//! Each function performs the syscalls of one readiness event and handles every outcome on its own
//! arm. The server decides *when* to call them (that is its I/O model); these decide *what* a
//! ready socket means for the connection. After either call, ask [`interest`] what to wait for.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::time::Instant;

use http_core::Connection;
use nix::sys::socket::{MsgFlags, Shutdown as How, recv, shutdown};

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

/// The socket is readable: read into `buf` and feed the connection.
pub fn read_ready<S: Read>(
    stream: &mut S,
    conn: &mut Connection,
    buf: &mut [u8],
    mode: ReadMode,
    now: Instant,
) -> io::Result<Progress> {
    loop {
        if !conn.wants_read() {
            return Ok(Progress::Done);
        }
        match stream.read(buf) {
            // Zero bytes from a stream socket is end-of-file: the peer shut down its sending half.
            Ok(0) => {
                conn.handle_eof(now);
                return Ok(Progress::PeerClosed);
            }
            Ok(n) => {
                conn.handle_input(&buf[..n], now);
                // A short read means the socket is (very likely) drained; in `Once` mode we stop
                // either way and let level-triggered readiness call us again.
                if mode == ReadMode::Once {
                    return Ok(Progress::Done);
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
pub fn write_ready<S: Write + AsFd>(
    stream: &mut S,
    conn: &mut Connection,
    zero_copy: bool,
    now: Instant,
) -> io::Result<Progress> {
    loop {
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
        let pending = conn.next_output();
        if pending.is_empty() {
            // Everything the connection had is written (it may produce more after more input).
            return Ok(Progress::Done);
        }
        match stream.write(pending) {
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
