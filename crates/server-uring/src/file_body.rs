//! File bodies, two ways (`--file-io`): the kernel *splices* the file through a pipe into the
//! socket without it ever entering our memory (`IORING_OP_SPLICE` twice, linked: file → pipe →
//! socket; the default), or it *reads* the file into our buffer and we send that buffer
//! (`IORING_OP_READ` then `IORING_OP_SEND`; `--file-io read`).
//!
//! Either way the loop thread never waits for the disk: the file's bytes arrive as a completion.
//!
//! * **read** copies each chunk twice (page cache → our buffer inside the read, our buffer →
//!   socket buffer inside the send), but both operations usually complete *inline*, inside the
//!   `io_uring_enter` that submits them, on this thread: a read of a cached page does not block,
//!   and neither does a send into a socket buffer with room.
//! * **splice** copies nothing in user space (the pipe holds references to page-cache pages; see
//!   splice(2)), but the kernel never runs a splice inline: every `IORING_OP_SPLICE` is handed to
//!   an io-wq worker thread (io_uring's own thread pool, `iou-wrk-*`), and its completion comes
//!   back from there. Each chunk therefore costs two hand-offs between threads and a pipe (two
//!   descriptors) per connection sending a big file.
//!
//! Which wins was measured, not assumed (`bench-results/2026-12-03-files/README.md`, table
//! *1 MiB file, keep-alive*, which also gives the command). With 64 KiB chunks the two were
//! within the noise of each other, and both behind `server-epoll`'s `sendfile`; a profile
//! (`perf record` on the server's CPU, same page) shows why: the read way keeps the CPU busy
//! copying — the kernel's two copies plus a third in user space, from the read buffer into the
//! connection's chunk — while the splice way spends it handing chunks to and from the worker
//! thread. A 256 KiB pipe (`F_SETPIPE_SZ`) cuts those hand-offs by four, and splicing then
//! overtook both the read way and `sendfile` in the same run, so it is the default.
//!
//! Small bodies (at most `http_core::SMALL_BODY_BYTES`) always go the read way, because they
//! leave in one send together with the response head.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;

use clap::ValueEnum;
use http_core::FILE_CHUNK_BYTES;

use crate::uring::{SpliceChunk, Token, completion_error};
use crate::{CloseHow, Io, Server, client_mut};

/// The `--file-io` flag: how a big file body reaches the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FileIo {
    /// `IORING_OP_READ` into a buffer of ours, then `IORING_OP_SEND` of that buffer.
    Read,
    /// `IORING_OP_SPLICE` file → pipe, linked to `IORING_OP_SPLICE` pipe → socket.
    Splice,
}

/// The pipe a connection splices its file body through, and how many bytes sit in it.
#[derive(Debug)]
pub struct Pipe {
    /// Read end: spliced into the socket.
    out: OwnedFd,
    /// Write end: the file is spliced into it.
    into: OwnedFd,
    /// Bytes spliced into the pipe and not yet out of it.
    held: u32,
    /// What the pipe holds at most: one chunk.
    capacity: u32,
}

impl Pipe {
    /// `pipe2(O_CLOEXEC)`, then `fcntl(F_SETPIPE_SZ)` to [`PIPE_BYTES`]: fewer, bigger chunks,
    /// so fewer hand-offs to the kernel's worker threads per file. An unprivileged process whose
    /// pipes already use `/proc/sys/fs/pipe-user-pages-soft` gets `EPERM` (pipe(7)); the pipe
    /// then keeps the capacity it has (`F_GETPIPE_SZ`), and chunks are that size.
    fn new() -> io::Result<Pipe> {
        let mut fds = [0; 2];
        // SAFETY: `fds` is a writable array of two ints, as pipe2(2) requires.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 succeeded, so both are new descriptors that nothing else owns.
        let (out, into) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let want = libc::c_int::try_from(PIPE_BYTES).unwrap_or(libc::c_int::MAX);
        // SAFETY: plain fcntl(2) commands on a descriptor we own; no pointers involved.
        let mut capacity = unsafe { libc::fcntl(into.as_raw_fd(), libc::F_SETPIPE_SZ, want) };
        if capacity < 0 {
            // SAFETY: as above.
            capacity = unsafe { libc::fcntl(into.as_raw_fd(), libc::F_GETPIPE_SZ) };
        }
        let capacity = u32::try_from(capacity)
            .ok()
            .filter(|&c| c > 0)
            .ok_or_else(io::Error::last_os_error)?;
        Ok(Pipe {
            out,
            into,
            held: 0,
            capacity,
        })
    }
}

/// File read buffers kept for reuse once their read completed (more are allocated on demand
/// while many reads are in flight, and freed afterwards).
const SPARE_FILE_BUFS: usize = 64;

/// The capacity asked for each pipe, and so the largest chunk one linked pair moves.
const PIPE_BYTES: u32 = 256 * 1024;

impl Server {
    /// If the connection's next output is file contents, start moving them (`true`); the
    /// completion then calls `advance` again. Small bodies and the read mode: a `Read`. Big bodies
    /// in splice mode: bytes still in the pipe first, then the next linked pair.
    pub(crate) fn submit_file_body(&mut self, slot: usize) -> io::Result<bool> {
        let splice = self.file_io == FileIo::Splice;
        let Some(client) = client_mut(&mut self.clients, slot) else {
            return Ok(false);
        };
        if client.pipe.as_ref().is_some_and(|pipe| pipe.held > 0) {
            self.submit_splice_out(slot)?;
            return Ok(true);
        }
        if splice && client.conn.sendfile_range().is_some() {
            self.submit_splice_chunk(slot)?;
            return Ok(true);
        }
        // The pipe is empty and no more of a big body is due: give its descriptors back.
        client.pipe = None;
        if client.conn.file_read().is_some() {
            self.submit_file_read(slot)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Queue the linked pair for the next chunk of the body ([`Connection::sendfile_range`]).
    fn submit_splice_chunk(&mut self, slot: usize) -> io::Result<()> {
        let Some(client) = client_mut(&mut self.clients, slot) else {
            return Ok(());
        };
        let Some(socket) = client.stream.as_ref().map(AsRawFd::as_raw_fd) else {
            return Ok(());
        };
        let Some(range) = client.conn.sendfile_range() else {
            return Ok(());
        };
        let (file, offset, remaining) = (range.file.as_raw_fd(), range.offset, range.len);
        let pipe =
            match &mut client.pipe {
                Some(pipe) => pipe,
                None => client.pipe.insert(Pipe::new().map_err(|e| {
                    server_common::errors::context(e, "pipe2 for a spliced file body")
                })?),
            };
        // At most what the pipe holds, or the first splice would wait for room.
        let len = remaining.min(u64::from(pipe.capacity));
        let chunk = SpliceChunk {
            file,
            offset,
            pipe_in: pipe.into.as_raw_fd(),
            pipe_out: pipe.out.as_raw_fd(),
            socket,
            len: u32::try_from(len).unwrap_or(u32::MAX),
            more: remaining > len,
        };
        // The file, pipe and socket stay open until both completions: the file belongs to the
        // connection's response, which cannot change while `io != Io::Idle`; the pipe and the
        // socket belong to this client, freed only when nothing is in flight.
        self.ring.push_splice_chunk(chunk, slot)?;
        client.io = Io::Splice;
        client.splices += 2;
        client.in_flight += 2;
        Ok(())
    }

    /// Queue a splice of the bytes still in the pipe into the socket.
    fn submit_splice_out(&mut self, slot: usize) -> io::Result<()> {
        let Some(client) = client_mut(&mut self.clients, slot) else {
            return Ok(());
        };
        let (Some(socket), Some(pipe)) = (client.stream.as_ref(), client.pipe.as_ref()) else {
            return Ok(());
        };
        self.ring
            .push_splice_out(pipe.out.as_raw_fd(), socket.as_raw_fd(), pipe.held, slot)?;
        client.io = Io::Splice;
        client.splices += 1;
        client.in_flight += 1;
        Ok(())
    }

    /// The file → pipe half of a chunk completed: `n` bytes are now in the pipe.
    pub(crate) fn on_splice_in_complete(
        &mut self,
        slot: usize,
        result: i32,
        now: Instant,
    ) -> io::Result<()> {
        let Some(client) = client_mut(&mut self.clients, slot) else {
            return Ok(());
        };
        client.in_flight -= 1;
        client.splices -= 1;
        match result {
            n if n > 0 => {
                if let Some(pipe) = &mut client.pipe {
                    pipe.held += u32::try_from(n).unwrap_or(0);
                }
            }
            e if e == -libc::ECANCELED || e == -libc::EINTR || e == -libc::EAGAIN => {}
            // 0: the file ended before its `Content-Length` (it shrank while being sent); or an
            // I/O error. The body cannot be finished: close without the rest.
            e => {
                let why = if e == 0 {
                    "file shorter than its Content-Length (changed while being sent)".to_string()
                } else {
                    completion_error(e).to_string()
                };
                eprintln!("warning: splicing a file for a response: {why}; closing the connection");
                client.closing = Some(CloseHow::Abort);
            }
        }
        self.after_splice(slot, now)
    }

    /// The pipe → socket half completed: `n` bytes of the body went out.
    pub(crate) fn on_splice_out_complete(
        &mut self,
        slot: usize,
        result: i32,
        now: Instant,
    ) -> io::Result<()> {
        let Some(client) = client_mut(&mut self.clients, slot) else {
            return Ok(());
        };
        client.in_flight -= 1;
        client.splices -= 1;
        match result {
            n if n > 0 => {
                let n = u32::try_from(n).unwrap_or(0);
                if let Some(pipe) = &mut client.pipe {
                    pipe.held = pipe.held.saturating_sub(n);
                }
                client.conn.consume_file(u64::from(n), now);
            }
            // Zero bytes moved from a non-empty pipe: treat as a dead peer, as a send does.
            0 => client.closing = Some(CloseHow::Abort),
            // Cancelled (a short first half broke the link, a timeout, shutdown), interrupted:
            // whatever is left in the pipe is sent next.
            e if e == -libc::ECANCELED || e == -libc::EINTR || e == -libc::EAGAIN => {}
            // EPIPE, ECONNRESET: the peer is gone.
            _ => client.closing = Some(CloseHow::Abort),
        }
        self.after_splice(slot, now)
    }

    /// Once neither half of a chunk is in flight, the connection decides what comes next.
    fn after_splice(&mut self, slot: usize, now: Instant) -> io::Result<()> {
        let Some(client) = client_mut(&mut self.clients, slot) else {
            return Ok(());
        };
        if client.splices > 0 {
            return Ok(());
        }
        client.io = Io::Idle;
        client.cancelling = false;
        self.advance(slot, now)
    }
    /// Queue a `Read` of the file bytes the connection asks for ([`Connection::file_read`]) into
    /// a buffer the client holds until the completion.
    fn submit_file_read(&mut self, slot: usize) -> io::Result<()> {
        let mut buf = self
            .spare_file_bufs
            .pop()
            .unwrap_or_else(|| vec![0; FILE_CHUNK_BYTES].into_boxed_slice());
        let Some(client) = client_mut(&mut self.clients, slot) else {
            return Ok(());
        };
        let Some(read) = client.conn.file_read() else {
            return Ok(());
        };
        let len = read.len.min(buf.len());
        let (fd, offset) = (read.file.as_raw_fd(), read.offset);
        let ptr = buf.as_mut_ptr();
        // Moving the box into the client moves the pointer, not the heap bytes it points to.
        client.file_buf = Some(buf);
        let len32 = u32::try_from(len).unwrap_or(u32::MAX);
        // SAFETY: `ptr..ptr+len` is the boxed buffer now held in `client.file_buf`, which is
        // taken out only in `on_file_read_complete` (after this completion) or leaked with the
        // client by `abandon_leftovers`; nothing reads or writes it meanwhile. The file stays
        // open: it belongs to the connection's response, which cannot end while `io ==
        // Io::FileRead` (`advance` returns early and no other `&mut` method of the connection
        // runs until the completion).
        unsafe {
            self.ring
                .push_read(fd, ptr, len32, offset, Token::FileRead(slot))
        }?;
        client.io = Io::FileRead;
        client.in_flight += 1;
        Ok(())
    }

    /// A file read completed: hand its bytes to the connection (a failed or short-at-the-end
    /// read makes http-core give the connection up), then go on.
    pub(crate) fn on_file_read_complete(
        &mut self,
        slot: usize,
        result: i32,
        now: Instant,
    ) -> io::Result<()> {
        let Some(client) = client_mut(&mut self.clients, slot) else {
            return Ok(());
        };
        client.io = Io::Idle;
        client.cancelling = false;
        client.in_flight -= 1;
        let Some(buf) = client.file_buf.take() else {
            return Ok(());
        };
        let filled = match result {
            // Cancelled (a timeout or shutdown): nothing was read; `advance` decides.
            e if e == -libc::ECANCELED || e == -libc::EINTR || e == -libc::EAGAIN => None,
            n if n >= 0 => Some(Ok(usize::try_from(n).unwrap_or(0))),
            e => Some(Err(completion_error(e))),
        };
        if let Some(filled) = filled {
            let read = client.conn.fill_file_read(now, |_, _, dest| {
                let n = filled?;
                let n = n.min(dest.len()).min(buf.len());
                dest[..n].copy_from_slice(&buf[..n]);
                Ok(n)
            });
            if let Err(err) = read {
                eprintln!("warning: reading a file for a response: {err}; closing the connection");
            }
        }
        if self.spare_file_bufs.len() < SPARE_FILE_BUFS {
            self.spare_file_bufs.push(buf);
        }
        self.advance(slot, now)
    }
}
