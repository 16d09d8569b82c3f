//! The io_uring side of `server-uring`: setting the ring up, the operations the server submits,
//! what each completion's `user_data` means, and the pool of receive buffers the kernel picks from.
//!
//! Everything here is a thin, named layer over the `io-uring` crate, so that `main.rs` reads as
//! "submit this, then react to that completion". The one rule that makes io_uring different from
//! every readiness API: **an operation keeps using the memory it was given after the submitting
//! call has returned**, until its completion is reaped. So:
//!
//! * operations that reference no memory of ours (accept, poll, cancel, close, a receive into the
//!   provided-buffer pool) get safe methods;
//! * the pool itself is allocated once and never freed ([`BufferPool::new`] leaks it on purpose):
//!   the kernel may write into it for as long as the ring lives;
//! * the timeout specs live inside [`Ring`], behind a `Box` that never moves;
//! * the only operation that points into memory the caller owns, a send, is the `unsafe`
//!   [`Ring::push_send`], whose contract the caller must keep.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::time::Duration;

use io_uring::{IoUring, Probe, cqueue, opcode, squeue, types};
use server_common::errors::context;

/// What each completion is about, packed into the 64-bit `user_data` the kernel hands back
/// unchanged: the low 8 bits say which kind of operation, the rest which connection slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// The accept on the listener (multishot: one completion per new connection).
    Accept,
    /// The completion of the `AsyncCancel` that stops the accept at shutdown or on `EMFILE`.
    AcceptCancel,
    /// The `PollAdd` on the shutdown wake-up descriptor.
    Wake,
    /// The one `Timeout` that wakes the loop for the nearest deadline.
    Timer,
    /// The `TimeoutUpdate` that moves that timeout earlier.
    TimerUpdate,
    /// A `ProvideBuffers` handing receive buffers (back) to the kernel.
    Provide,
    /// The receive of the connection in this slot.
    Recv(usize),
    /// The send of the connection in this slot.
    Send(usize),
    /// The `AsyncCancel` of that connection's receive or send.
    Cancel(usize),
    /// The `Close` of that connection's socket.
    Close(usize),
    /// A `Read` of the file that connection's response body comes from.
    FileRead(usize),
    /// A `Splice` of that file into the connection's pipe (`--file-io splice`).
    SpliceIn(usize),
    /// A `Splice` from that pipe into the connection's socket.
    SpliceOut(usize),
}

const KIND_BITS: u32 = 8;
const ACCEPT: u64 = 1;
const ACCEPT_CANCEL: u64 = 2;
const WAKE: u64 = 3;
const TIMER: u64 = 4;
const TIMER_UPDATE: u64 = 5;
const PROVIDE: u64 = 6;
const RECV: u64 = 16;
const SEND: u64 = 17;
const CANCEL: u64 = 18;
const CLOSE: u64 = 19;
const FILE_READ: u64 = 20;
const SPLICE_IN: u64 = 21;
const SPLICE_OUT: u64 = 22;

impl Token {
    /// The `user_data` value for this token.
    pub fn to_user_data(self) -> u64 {
        let (kind, slot) = match self {
            Token::Accept => (ACCEPT, 0),
            Token::AcceptCancel => (ACCEPT_CANCEL, 0),
            Token::Wake => (WAKE, 0),
            Token::Timer => (TIMER, 0),
            Token::TimerUpdate => (TIMER_UPDATE, 0),
            Token::Provide => (PROVIDE, 0),
            Token::Recv(slot) => (RECV, slot),
            Token::Send(slot) => (SEND, slot),
            Token::Cancel(slot) => (CANCEL, slot),
            Token::Close(slot) => (CLOSE, slot),
            Token::FileRead(slot) => (FILE_READ, slot),
            Token::SpliceIn(slot) => (SPLICE_IN, slot),
            Token::SpliceOut(slot) => (SPLICE_OUT, slot),
        };
        ((slot as u64) << KIND_BITS) | kind
    }

    /// The token a completion's `user_data` carries (`None`: not one of ours).
    pub fn from_user_data(data: u64) -> Option<Token> {
        let slot = usize::try_from(data >> KIND_BITS).ok()?;
        let token = match data & ((1 << KIND_BITS) - 1) {
            ACCEPT => Token::Accept,
            ACCEPT_CANCEL => Token::AcceptCancel,
            WAKE => Token::Wake,
            TIMER => Token::Timer,
            TIMER_UPDATE => Token::TimerUpdate,
            PROVIDE => Token::Provide,
            RECV => Token::Recv(slot),
            SEND => Token::Send(slot),
            CANCEL => Token::Cancel(slot),
            CLOSE => Token::Close(slot),
            FILE_READ => Token::FileRead(slot),
            SPLICE_IN => Token::SpliceIn(slot),
            SPLICE_OUT => Token::SpliceOut(slot),
            _ => return None,
        };
        Some(token)
    }
}

/// The kernel refused io_uring, or lacks an operation this server needs. `main` prints it as
/// `error: io_uring unavailable: …` and exits with status 2.
#[derive(Debug)]
pub struct Unavailable(String);

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The operations this server submits, by name, so the probe can say which one is missing.
const REQUIRED: &[(u8, &str)] = &[
    (opcode::Accept::CODE, "IORING_OP_ACCEPT"),
    (opcode::Recv::CODE, "IORING_OP_RECV"),
    (opcode::Send::CODE, "IORING_OP_SEND"),
    (opcode::AsyncCancel::CODE, "IORING_OP_ASYNC_CANCEL"),
    (opcode::Timeout::CODE, "IORING_OP_TIMEOUT"),
    (opcode::TimeoutUpdate::CODE, "IORING_OP_TIMEOUT_REMOVE"),
    (opcode::PollAdd::CODE, "IORING_OP_POLL_ADD"),
    (opcode::Close::CODE, "IORING_OP_CLOSE"),
    (opcode::Read::CODE, "IORING_OP_READ"),
    (opcode::Splice::CODE, "IORING_OP_SPLICE"),
    (opcode::ProvideBuffers::CODE, "IORING_OP_PROVIDE_BUFFERS"),
];

/// The ring: a submission queue we fill, a completion queue the kernel fills, both shared memory.
pub struct Ring {
    ring: IoUring,
    /// The relative time of the last `Timeout`; the kernel reads it while the submitting
    /// `io_uring_enter` runs. Boxed so its address never changes.
    timeout_spec: Box<types::Timespec>,
    /// The same for the last `TimeoutUpdate`.
    update_spec: Box<types::Timespec>,
}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("sq_entries", &self.ring.params().sq_entries())
            .field("cq_entries", &self.ring.params().cq_entries())
            .finish()
    }
}

impl Ring {
    /// `io_uring_setup(2)` with `sq_entries` submission slots and `cq_entries` completion slots,
    /// then `io_uring_register(IORING_REGISTER_PROBE)` to check every operation we use exists.
    pub fn new(sq_entries: u32, cq_entries: u32) -> Result<Ring, Unavailable> {
        // ANCHOR: uring_setup
        // Tell the kernel that one thread submits (SINGLE_ISSUER) and that completion work may
        // wait until that thread asks for completions (DEFER_TASKRUN, 6.1+): the kernel then
        // never interrupts the loop to post a completion early, it batches them into our next
        // `io_uring_enter`. An older kernel says EINVAL to these flags: retry without them.
        let tuned = IoUring::builder()
            .setup_cqsize(cq_entries)
            .setup_single_issuer()
            .setup_defer_taskrun()
            .build(sq_entries);
        let ring = match tuned {
            Ok(ring) => ring,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => IoUring::builder()
                .setup_cqsize(cq_entries)
                .build(sq_entries)
                .map_err(|e| Unavailable(format!("io_uring_setup: {e}")))?,
            // ENOSYS (kernel built without it, or a seccomp sandbox), EPERM
            // (`kernel.io_uring_disabled`, a container policy), ENOMEM (locked-memory limit on
            // old kernels): all mean "this machine will not give us a ring".
            Err(e) => return Err(Unavailable(format!("io_uring_setup: {e}"))),
        };
        // ANCHOR_END: uring_setup
        let mut probe = Probe::new();
        ring.submitter()
            .register_probe(&mut probe)
            .map_err(|e| Unavailable(format!("IORING_REGISTER_PROBE: {e}")))?;
        for (code, name) in REQUIRED {
            if !probe.is_supported(*code) {
                return Err(Unavailable(format!("the kernel lacks {name}")));
            }
        }
        Ok(Ring {
            ring,
            timeout_spec: Box::new(types::Timespec::new()),
            update_spec: Box::new(types::Timespec::new()),
        })
    }

    /// `io_uring_enter(2)`: hand the kernel everything queued since the last call and sleep until
    /// at least `want` completions are ready. The only place the event loop waits.
    pub fn submit_and_wait(&mut self, want: usize) -> io::Result<usize> {
        self.ring.submit_and_wait(want)
    }

    /// Copy every completion now in the completion queue into `out` (the queue slots are freed
    /// for the kernel as soon as the iterator is dropped).
    pub fn reap(&mut self, out: &mut Vec<cqueue::Entry>) {
        out.extend(self.ring.completion());
    }

    /// Queue one entry, making room first if the submission queue is full.
    ///
    /// # Safety
    ///
    /// Every buffer the entry points to must stay valid, unmoved and (for a send) unmodified until
    /// the entry's completion has been reaped.
    unsafe fn push(&mut self, entry: squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: the caller keeps the entry's memory valid until its completion (this
            // function's contract).
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return Ok(());
            }
            // The submission queue is full: hand what is queued to the kernel now, without
            // waiting, and try again. This is the only extra `io_uring_enter` a busy turn costs.
            match self.ring.submit() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(context(e, "io_uring_enter (submission queue full)")),
            }
        }
    }

    /// Queue an entry that references no memory of ours (only descriptors and numbers).
    fn push_plain(&mut self, entry: squeue::Entry) -> io::Result<()> {
        // SAFETY: the entries passed here (accept without an address, poll, cancel, close, a
        // receive into the leaked pool, provide from the leaked pool) point at no memory that
        // could be freed or moved before their completion.
        unsafe { self.push(entry) }
    }

    // ANCHOR: uring_accept_multi
    /// Multishot accept: one submission, one completion per accepted connection until cancelled
    /// (kernel 5.19+). The completion's `result` is the new socket's descriptor.
    pub fn push_accept_multi(&mut self, listener: RawFd) -> io::Result<()> {
        let entry = opcode::AcceptMulti::new(types::Fd(listener))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(Token::Accept.to_user_data());
        self.push_plain(entry)
    }
    // ANCHOR_END: uring_accept_multi

    /// Single-shot accept: one connection per submission (the loop resubmits after each).
    pub fn push_accept_single(&mut self, listener: RawFd) -> io::Result<()> {
        // No address buffer: `addr`/`addrlen` null, so nothing of ours is referenced; the peer
        // address, when logging wants it, comes from `getpeername`.
        let entry = opcode::Accept::new(
            types::Fd(listener),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
        .flags(libc::SOCK_CLOEXEC)
        .build()
        .user_data(Token::Accept.to_user_data());
        self.push_plain(entry)
    }

    /// One-shot poll for readability (used on the shutdown wake-up descriptor).
    pub fn push_poll_readable(&mut self, fd: RawFd, token: Token) -> io::Result<()> {
        let entry = opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32)
            .build()
            .user_data(token.to_user_data());
        self.push_plain(entry)
    }

    /// Ask the kernel to cancel the operation submitted with `target`; the cancel itself
    /// completes with `token` (0: cancelled, `ENOENT`: already finished, `EALREADY`: running).
    /// The target then completes on its own, usually with `ECANCELED`.
    pub fn push_cancel(&mut self, target: Token, token: Token) -> io::Result<()> {
        let entry = opcode::AsyncCancel::new(target.to_user_data())
            .build()
            .user_data(token.to_user_data());
        self.push_plain(entry)
    }

    /// `close(fd)` as an operation. Taking an `OwnedFd` is what makes this safe: only the owner
    /// of a descriptor can hand it over, and ownership passes to the kernel here. If the
    /// operation cannot be queued, the descriptor is closed at once instead.
    pub fn push_close(&mut self, fd: OwnedFd, token: Token) -> io::Result<()> {
        let entry = opcode::Close::new(types::Fd(fd.as_raw_fd()))
            .build()
            .user_data(token.to_user_data());
        self.push_plain(entry)?;
        // Queued: the `Close` operation owns the descriptor now; dropping `fd` would close it
        // twice (and perhaps close a new descriptor that reused the number).
        let _ = fd.into_raw_fd();
        Ok(())
    }

    // ANCHOR: uring_recv_select
    /// Receive into a buffer the kernel picks from `pool` when data arrives
    /// (`IOSQE_BUFFER_SELECT`): while the peer is silent, no buffer is tied up.
    pub fn push_recv(&mut self, fd: RawFd, pool: &BufferPool, token: Token) -> io::Result<()> {
        let entry = opcode::Recv::new(types::Fd(fd), std::ptr::null_mut(), pool.buf_len())
            .buf_group(pool.group)
            .build()
            .flags(squeue::Flags::BUFFER_SELECT)
            .user_data(token.to_user_data());
        self.push_plain(entry)
    }
    // ANCHOR_END: uring_recv_select

    /// Hand every buffer of `pool` to the kernel (once, at start-up; mutably borrowed for the
    /// reason given at [`Ring::push_provide`]).
    pub fn push_provide_all(&mut self, pool: &mut BufferPool) -> io::Result<()> {
        let entry = opcode::ProvideBuffers::new(
            pool.base.as_ptr(),
            pool.buf_len_i32(),
            pool.count,
            pool.group,
            0,
        )
        .build()
        .user_data(Token::Provide.to_user_data());
        self.push_plain(entry)
    }

    /// Give buffer `bid` back to the kernel once its bytes have been consumed.
    ///
    /// The pool is borrowed mutably although nothing in it changes: that borrow cannot coexist
    /// with a slice from [`BufferPool::filled`], so the compiler refuses any code that would
    /// still read a buffer after handing it back for the kernel to write into.
    pub fn push_provide(&mut self, pool: &mut BufferPool, bid: u16) -> io::Result<()> {
        let entry = opcode::ProvideBuffers::new(
            pool.buffer_ptr(bid),
            pool.buf_len_i32(),
            1,
            pool.group,
            bid,
        )
        .build()
        .user_data(Token::Provide.to_user_data());
        self.push_plain(entry)
    }

    /// Send `len` bytes starting at `buf`, with `MSG_NOSIGNAL` (a dead peer is an `EPIPE`
    /// completion, never a signal), and with `MSG_MORE` when they are the connection's `last`
    /// (the close that follows sends the final partial segment together with the FIN; see
    /// `server_common::pump::write_output_bytes`). A stream send may complete short: the result
    /// says how many.
    ///
    /// # Safety
    ///
    /// `buf..buf+len` must stay allocated, unmoved and unmodified until this send's completion
    /// has been reaped.
    pub unsafe fn push_send(
        &mut self,
        fd: RawFd,
        buf: *const u8,
        len: u32,
        last: bool,
        token: Token,
    ) -> io::Result<()> {
        let more = if last { libc::MSG_MORE } else { 0 };
        let entry = opcode::Send::new(types::Fd(fd), buf, len)
            .flags(libc::MSG_NOSIGNAL | more)
            .build()
            .user_data(token.to_user_data());
        // SAFETY: the caller keeps `buf` valid and unchanged until the completion (this
        // function's contract).
        unsafe { self.push(entry) }
    }

    /// Read `len` bytes of the regular file `fd` from `offset` into `buf`: file contents read by
    /// the kernel, the loop thread never waits for the disk. A read may complete short (the
    /// result says how many bytes; 0 at end of file).
    ///
    /// # Safety
    ///
    /// `buf..buf+len` must stay allocated and unmoved, and nothing else may read or write it,
    /// until this read's completion has been reaped; `fd` must stay open until then.
    pub unsafe fn push_read(
        &mut self,
        fd: RawFd,
        buf: *mut u8,
        len: u32,
        offset: u64,
        token: Token,
    ) -> io::Result<()> {
        let entry = opcode::Read::new(types::Fd(fd), buf, len)
            .offset(offset)
            .build()
            .user_data(token.to_user_data());
        // SAFETY: the caller keeps `buf` valid, unaliased and in place, and `fd` open, until the
        // completion (this function's contract).
        unsafe { self.push(entry) }
    }

    /// One chunk of a file sent without passing through our memory: a `Splice` of `len` bytes
    /// of `file` from `offset` into the pipe's write end, *linked* (`IOSQE_IO_LINK`) to a
    /// `Splice` from the pipe's read end into `socket`, which starts only once the first has
    /// completed. A short first splice breaks the link: the second then completes with
    /// `ECANCELED`, and the bytes that did reach the pipe are sent by [`Ring::push_splice_out`].
    /// `more` sets `SPLICE_F_MORE` (more of the body follows: the socket may wait to fill a
    /// segment).
    ///
    /// The kernel never runs a splice inline: it hands both to its io-wq worker threads, where
    /// they may block (on the disk, on a full socket buffer) without stopping this thread.
    /// Both entries go into the submission queue together or not at all, so the link cannot be
    /// cut by an early submit. No memory of ours is referenced; the descriptors must stay open
    /// until both completions have been reaped (a closed one fails the splice with `EBADF`, a
    /// reused number would splice into the wrong file).
    pub fn push_splice_chunk(&mut self, chunk: SpliceChunk, slot: usize) -> io::Result<()> {
        let offset = i64::try_from(chunk.offset)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file offset past i64"))?;
        // ANCHOR: uring_splice_link
        let into_pipe = opcode::Splice::new(
            types::Fd(chunk.file),
            offset,
            types::Fd(chunk.pipe_in),
            -1,
            chunk.len,
        )
        .build()
        .flags(squeue::Flags::IO_LINK)
        .user_data(Token::SpliceIn(slot).to_user_data());
        let out_flags = if chunk.more { libc::SPLICE_F_MORE } else { 0 };
        let to_socket = opcode::Splice::new(
            types::Fd(chunk.pipe_out),
            -1,
            types::Fd(chunk.socket),
            -1,
            chunk.len,
        )
        .flags(out_flags)
        .build()
        .user_data(Token::SpliceOut(slot).to_user_data());
        let pair = [into_pipe, to_socket];
        // ANCHOR_END: uring_splice_link
        loop {
            // SAFETY: neither entry points at memory (only descriptors and numbers).
            if unsafe { self.ring.submission().push_multiple(&pair) }.is_ok() {
                return Ok(());
            }
            match self.ring.submit() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(context(e, "io_uring_enter (submission queue full)")),
            }
        }
    }

    /// Send `len` bytes already in a pipe (`pipe_out`, its read end) to `socket`: what is left
    /// after a short send, or after a short splice into the pipe. Same rules as
    /// [`Ring::push_splice_chunk`].
    pub fn push_splice_out(
        &mut self,
        pipe_out: RawFd,
        socket: RawFd,
        len: u32,
        slot: usize,
    ) -> io::Result<()> {
        let entry = opcode::Splice::new(types::Fd(pipe_out), -1, types::Fd(socket), -1, len)
            .build()
            .user_data(Token::SpliceOut(slot).to_user_data());
        self.push_plain(entry)
    }

    /// A timeout that completes (`ETIME`) after `after`: the loop's wake-up for its nearest
    /// deadline. `count` 0 = a pure timer, not "after N completions".
    pub fn push_timeout(&mut self, after: Duration) -> io::Result<()> {
        *self.timeout_spec = types::Timespec::from(after);
        let entry = opcode::Timeout::new(&*self.timeout_spec)
            .build()
            .user_data(Token::Timer.to_user_data());
        // SAFETY: `timeout_spec` is boxed inside `self` (its address is stable for the ring's
        // life) and is rewritten only when the next timeout is queued, after this one was
        // submitted (the kernel copies the value while the submitting `io_uring_enter` runs).
        unsafe { self.push(entry) }
    }

    /// Move the pending timeout so that it fires after `after` (from now) instead.
    pub fn push_timeout_update(&mut self, after: Duration) -> io::Result<()> {
        *self.update_spec = types::Timespec::from(after);
        let entry = opcode::TimeoutUpdate::new(Token::Timer.to_user_data(), &*self.update_spec)
            .build()
            .user_data(Token::TimerUpdate.to_user_data());
        // SAFETY: as in `push_timeout`, for `update_spec`.
        unsafe { self.push(entry) }
    }
}

/// Receive buffers lent to the kernel in one group ("provided buffers", `IORING_OP_PROVIDE_BUFFERS`).
///
/// A completion-based receive must name its buffer when it is submitted, so a server that keeps a
/// receive pending on every idle keep-alive connection would pin one buffer per connection
/// (10,000 idle clients × 16 KiB = 160 MiB doing nothing). With a provided group the receive
/// names the *group*; the kernel takes a buffer only when bytes arrive and reports its id in the
/// completion flags. We copy the bytes into the connection at once and give the buffer back, so
/// the pool only has to cover the receives that complete in one loop turn.
pub struct BufferPool {
    base: NonNull<u8>,
    buf_len: usize,
    count: u16,
    group: u16,
}

impl fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferPool")
            .field("buf_len", &self.buf_len)
            .field("count", &self.count)
            .field("group", &self.group)
            .finish()
    }
}

impl BufferPool {
    /// `count` buffers of `buf_len` bytes in buffer group `group`. The memory is leaked on
    /// purpose: the kernel may write into any provided buffer until the ring is gone, which is
    /// at process exit.
    pub fn new(count: u16, buf_len: usize, group: u16) -> BufferPool {
        assert!(
            buf_len > 0 && i32::try_from(buf_len).is_ok(),
            "buffer length"
        );
        let memory: &'static mut [u8] =
            Box::leak(vec![0u8; usize::from(count) * buf_len].into_boxed_slice());
        BufferPool {
            base: NonNull::from(memory).cast(),
            buf_len,
            count,
            group,
        }
    }

    fn buf_len(&self) -> u32 {
        u32::try_from(self.buf_len).unwrap_or(u32::MAX)
    }

    fn buf_len_i32(&self) -> i32 {
        i32::try_from(self.buf_len).unwrap_or(i32::MAX)
    }

    /// Start of buffer `bid`. Panics if `bid` is not one of this pool's buffers: ids come from
    /// completions the kernel fills in from what we provided, so an id out of range is a bug,
    /// and clamping it would silently hand over (or read) the wrong buffer.
    fn buffer_ptr(&self, bid: u16) -> *mut u8 {
        assert!(
            bid < self.count,
            "buffer id {bid} out of range: the pool has {} buffers",
            self.count
        );
        // `wrapping_add` stays inside the allocation: `bid < count`.
        self.base
            .as_ptr()
            .wrapping_add(usize::from(bid) * self.buf_len)
    }

    /// The first `len` bytes of buffer `bid`, which a receive completion just reported filled.
    ///
    /// # Safety
    ///
    /// The kernel must have handed `bid` back in a completion, and it must not have been
    /// provided again since (otherwise the kernel may be writing into it). The slice must not
    /// outlive a later [`Ring::push_provide`] of the same buffer; the borrow checker enforces
    /// that part, because `push_provide` borrows the pool mutably.
    pub unsafe fn filled(&self, bid: u16, len: usize) -> Option<&[u8]> {
        if bid >= self.count || len > self.buf_len {
            return None;
        }
        // SAFETY: `bid < count` and `len <= buf_len`, so the range lies inside the leaked
        // allocation; the caller guarantees the kernel is not writing into this buffer now.
        Some(unsafe { std::slice::from_raw_parts(self.buffer_ptr(bid), len) })
    }
}

/// The error a negative completion `result` stands for.
pub fn completion_error(result: i32) -> io::Error {
    io::Error::from_raw_os_error(result.saturating_neg())
}

/// The descriptors and extent of one [`Ring::push_splice_chunk`].
#[derive(Debug, Clone, Copy)]
pub struct SpliceChunk {
    /// The regular file the body comes from.
    pub file: RawFd,
    /// Where in the file this chunk starts.
    pub offset: u64,
    /// The pipe's write end (the first splice fills it).
    pub pipe_in: RawFd,
    /// The pipe's read end (the second splice empties it into the socket).
    pub pipe_out: RawFd,
    /// The connection's socket.
    pub socket: RawFd,
    /// Bytes to move: at most the pipe's capacity, or the first splice would wait for room.
    pub len: u32,
    /// More of the body follows this chunk.
    pub more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_through_user_data() {
        let tokens = [
            Token::Accept,
            Token::AcceptCancel,
            Token::Wake,
            Token::Timer,
            Token::TimerUpdate,
            Token::Provide,
            Token::Recv(0),
            Token::Send(7),
            Token::Cancel(123_456),
            Token::Close(usize::MAX >> KIND_BITS),
            Token::FileRead(42),
            Token::SpliceIn(43),
            Token::SpliceOut(44),
        ];
        for token in tokens {
            assert_eq!(Token::from_user_data(token.to_user_data()), Some(token));
        }
        assert_eq!(Token::from_user_data(0), None, "kind 0 is not ours");
        assert_ne!(Token::Recv(1).to_user_data(), Token::Send(1).to_user_data());
    }

    #[test]
    fn pool_hands_out_only_buffers_it_owns() {
        let pool = BufferPool::new(4, 16, 0);
        // SAFETY: no ring exists in this test, so the kernel never writes into the pool.
        unsafe {
            assert_eq!(pool.filled(3, 16).map(<[u8]>::len), Some(16));
            assert!(pool.filled(4, 1).is_none(), "bid out of range");
            assert!(pool.filled(0, 17).is_none(), "longer than a buffer");
        }
    }

    #[test]
    #[should_panic(expected = "buffer id 4 out of range")]
    fn a_buffer_id_out_of_range_is_refused_not_clamped() {
        let pool = BufferPool::new(4, 16, 0);
        let _ = pool.buffer_ptr(4);
    }

    #[test]
    fn buffers_start_one_length_apart() {
        let pool = BufferPool::new(4, 16, 0);
        let base = pool.buffer_ptr(0) as usize;
        assert_eq!(pool.buffer_ptr(3) as usize - base, 48);
    }
}
