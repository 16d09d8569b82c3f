//! POSIX AIO, as glibc implements it, behind a small safe interface: sizing the helper-thread
//! pool (`aio_init`), one in-flight operation per [`Op`] (`aio_read`/`aio_write`, reaped with
//! `aio_error`/`aio_return`), and the two ways to learn that operations finished (a queued
//! real-time signal taken with `sigtimedwait`, or `aio_suspend`).
//!
//! ## The invariant this module exists for
//! Between `aio_read(cb)` and the moment `aio_error(cb)` stops saying `EINPROGRESS`, a glibc
//! helper thread owns the control block and the buffer: it writes the data, the result and the
//! error code into them. Freeing or moving either in that window is a use-after-free in another
//! thread. So:
//! - the control block and its buffer live in one heap allocation ([`Op`] holds a raw pointer to
//!   it, never a reference, so Rust never assumes it has them to itself);
//! - Rust code touches them only while no operation is in flight ([`Op::buffer_mut`] and
//!   [`Op::data`] check that);
//! - dropping an [`Op`] with an operation in flight does not free the memory under the helper
//!   thread: it first forces the operation to finish (`shutdown(fd, SHUT_RDWR)` wakes a read or
//!   write blocked on a socket), waits with `aio_suspend` for at most [`DROP_WAIT`], reaps it,
//!   and only then frees. If the operation does not finish in time (the descriptor is not a
//!   socket, so `shutdown` cannot wake it; or the helper thread is stuck), the allocation is
//!   leaked with a warning: a few KiB lost at worst, never a write into freed memory.
//!
//! While serving, the event loop never drops an `Op` in flight: it waits for each completion
//! before it closes a connection. At exit it does: `finish` in `main.rs` cuts every socket
//! with an operation still in flight and drops its connection, and this guard waits for those
//! operations (they end at once, the sockets being shut down) before the memory goes.

use std::io;
use std::os::fd::RawFd;
use std::ptr::{self, NonNull};
use std::time::{Duration, Instant};

use libc::{c_int, c_void};
use server_common::signals::{SigSet, timespec};
use server_common::sys::cvt;

/// Size of each operation's buffer: the most one `aio_read` takes in, or one `aio_write` sends.
/// Every connection owns one (an idle connection's pending read needs somewhere to land; the
/// pages are only touched when used). With 16 KiB we observed a slow reader with a tiny receive
/// window (`SO_RCVBUF` shrunk after connecting) stall for seconds on loopback, the sender
/// falling back to TCP zero-window probes; 64 KiB writes did not, in twenty tries.
pub const BUF_SIZE: usize = 64 * 1024;

/// glibc's `struct aioinit` (<aio.h>, `_GNU_SOURCE`), which `libc` 0.2 does not define: eight
/// `int`s tuning the helper-thread pool.
#[repr(C)]
#[derive(Debug, Default)]
struct AioInit {
    /// Most helper threads that run requests at once (default 20).
    aio_threads: c_int,
    /// Number of requests glibc expects to be in flight at once (sizes its tables; default 64).
    aio_num: c_int,
    aio_locks: c_int,
    aio_usedba: c_int,
    aio_debug: c_int,
    aio_numusers: c_int,
    /// Seconds an idle helper thread lingers before it exits (default 1).
    aio_idle_time: c_int,
    aio_reserved: c_int,
}

// SAFETY: this is glibc's declaration of `aio_init` (librt is part of libc since glibc 2.34):
// it takes a pointer to a `struct aioinit`, whose layout `AioInit` reproduces.
unsafe extern "C" {
    fn aio_init(init: *const AioInit);
}

// ANCHOR: aio_init_pool
/// Size glibc's AIO helper pool for `threads` simultaneous operations. Call before any other
/// `aio_*` function: glibc reads these settings when it creates its first helper thread.
///
/// Why it matters: glibc runs each request as a plain blocking `read`/`write` in one of its
/// helper threads. A pending `aio_read` on an idle keep-alive socket holds a thread until the
/// client speaks. With the default 20 threads, 20 idle clients stall everyone else.
pub fn init_pool(threads: usize) {
    let threads = c_int::try_from(threads).unwrap_or(c_int::MAX);
    let init = AioInit {
        aio_threads: threads,
        aio_num: threads,
        aio_idle_time: 1,
        ..AioInit::default()
    };
    // SAFETY: `init` is a valid, fully initialized `struct aioinit` that outlives the call;
    // glibc copies the values it needs.
    unsafe { aio_init(&init) };
}
// ANCHOR_END: aio_init_pool

/// Longest time dropping an [`Op`] waits for its operation to finish before leaking the memory.
pub const DROP_WAIT: Duration = Duration::from_secs(2);

/// How the kernel/glibc tells us an operation finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notify {
    /// `SIGEV_SIGNAL`: queue this real-time signal, with the operation's token in `si_value`.
    Signal(c_int),
    /// `SIGEV_NONE`: nothing is sent; the loop waits in `aio_suspend` over the in-flight list.
    None,
}

/// Which operation an [`Op`] has in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `aio_read` into the buffer.
    Read,
    /// `aio_write` from the buffer.
    Write,
    /// `aio_read` of a regular file, at an offset, into the buffer.
    FileRead,
}

/// The control block and its buffer, in one allocation that never moves.
struct Slot {
    cb: libc::aiocb,
    buf: [u8; BUF_SIZE],
}

// A token (a `server_common::slab` token, 64 bits) travels in `sigval`'s pointer.
const _: () = assert!(usize::BITS == u64::BITS, "tokens travel in a 64-bit sigval");

/// At most one asynchronous operation on one descriptor, with its pinned control block and
/// buffer. See the module doc for the invariant.
pub struct Op {
    slot: NonNull<Slot>,
    in_flight: Option<Kind>,
    token: u64,
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Op")
            .field("in_flight", &self.in_flight)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

// SAFETY: `Op` owns its allocation exclusively (like a `Box`); the glibc helper thread that may
// use it while an operation is in flight synchronizes through `aio_error`/`aio_suspend`.
unsafe impl Send for Op {}

impl Op {
    /// An idle operation slot; completions will carry `token`.
    pub fn new(token: u64) -> Op {
        let layout = std::alloc::Layout::new::<Slot>();
        // SAFETY: `Slot` has a non-zero size. All-zero bytes are a valid `Slot` (an `aiocb` of
        // integers and null pointers, a byte array); we fill the fields in before each use. The
        // allocation uses the global allocator with `Slot`'s layout, as `Box::from_raw` in
        // `Drop` requires.
        let raw = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<Slot>();
        let Some(slot) = NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout);
        };
        Op {
            slot,
            in_flight: None,
            token,
        }
    }

    /// The operation in flight, if any.
    pub fn in_flight(&self) -> Option<Kind> {
        self.in_flight
    }

    /// The control block, for `aio_suspend`'s list (meaningful while in flight).
    pub fn control_block(&self) -> *const libc::aiocb {
        // SAFETY: `slot` is our live allocation; taking a field's address reads nothing.
        unsafe { &raw const (*self.slot.as_ptr()).cb }
    }

    /// The whole buffer, to fill before [`Op::submit_write`]; `None` while in flight.
    pub fn buffer_mut(&mut self) -> Option<&mut [u8; BUF_SIZE]> {
        if self.in_flight.is_some() {
            return None;
        }
        // SAFETY: no operation is in flight, so no helper thread uses the slot, and `&mut self`
        // guarantees no other reference to it exists for the returned lifetime.
        Some(unsafe { &mut (*self.slot.as_ptr()).buf })
    }

    /// The first `len` bytes of the buffer (what a completed read brought); empty while in
    /// flight.
    pub fn data(&self, len: usize) -> &[u8] {
        if self.in_flight.is_some() {
            return &[];
        }
        // SAFETY: as in `buffer_mut`: nothing else uses the slot while none is in flight.
        let buf = unsafe { &(*self.slot.as_ptr()).buf };
        &buf[..len.min(BUF_SIZE)]
    }

    /// Start `aio_read(fd)` into the buffer.
    pub fn submit_read(&mut self, fd: RawFd, notify: Notify) -> io::Result<()> {
        self.submit(Kind::Read, fd, 0..BUF_SIZE, 0, notify)
    }

    /// Start `aio_read` of `len` bytes of the regular file `fd` from `offset` into the buffer:
    /// the use POSIX AIO was designed for. `fd` must stay open until the read is reaped.
    pub fn submit_file_read(
        &mut self,
        fd: RawFd,
        offset: u64,
        len: usize,
        notify: Notify,
    ) -> io::Result<()> {
        let offset = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file offset too large"))?;
        self.submit(Kind::FileRead, fd, 0..len.min(BUF_SIZE), offset, notify)
    }

    /// Start `aio_write(fd)` of `buffer[range]`.
    pub fn submit_write(
        &mut self,
        fd: RawFd,
        range: std::ops::Range<usize>,
        notify: Notify,
    ) -> io::Result<()> {
        self.submit(Kind::Write, fd, range, 0, notify)
    }

    fn submit(
        &mut self,
        kind: Kind,
        fd: RawFd,
        range: std::ops::Range<usize>,
        offset: libc::off_t,
        notify: Notify,
    ) -> io::Result<()> {
        if self.in_flight.is_some() || range.start > range.end || range.end > BUF_SIZE {
            return Err(io::Error::other(
                "aio: operation already in flight or bad range",
            ));
        }
        let slot = self.slot.as_ptr();
        // SAFETY: no operation is in flight, so we are the only user of the slot; the buffer
        // pointer stays valid until the operation is reaped (the slot is freed only after that).
        unsafe {
            let cb = &raw mut (*slot).cb;
            (*cb).aio_fildes = fd;
            (*cb).aio_buf = (&raw mut (*slot).buf)
                .cast::<u8>()
                .add(range.start)
                .cast::<c_void>();
            (*cb).aio_nbytes = range.end - range.start;
            // Sockets have no offset (0: glibc's `pread` gets ESPIPE and it falls back to
            // `read`); a file read starts at its offset.
            (*cb).aio_offset = offset;
            (*cb).aio_reqprio = 0;
            let event = &mut (*cb).aio_sigevent;
            match notify {
                Notify::Signal(signo) => {
                    event.sigev_notify = libc::SIGEV_SIGNAL;
                    event.sigev_signo = signo;
                    // The token, not a pointer: the loop looks the connection up by it, and a
                    // late signal for a closed connection finds nothing.
                    // Lossless: `usize` is 64 bits wide here (checked at compile time below).
                    event.sigev_value.sival_ptr = ptr::without_provenance_mut(self.token as usize);
                }
                Notify::None => {
                    event.sigev_notify = libc::SIGEV_NONE;
                    event.sigev_signo = 0;
                }
            }
        }
        // SAFETY: the control block is fully set up and lives in an allocation that is not
        // freed or touched until the operation is reaped (module invariant).
        let ret = unsafe {
            match kind {
                Kind::Read | Kind::FileRead => libc::aio_read(&raw mut (*slot).cb),
                Kind::Write => libc::aio_write(&raw mut (*slot).cb),
            }
        };
        let what = match kind {
            Kind::Read => "aio_read",
            Kind::FileRead => "aio_read (file)",
            Kind::Write => "aio_write",
        };
        cvt(ret, what)?;
        self.in_flight = Some(kind);
        Ok(())
    }

    /// If the operation in flight has finished, reap it: `Some((kind, bytes or error))`.
    /// `None` while it is still running (or when none is in flight): a spurious wake-up.
    pub fn reap(&mut self) -> Option<(Kind, io::Result<usize>)> {
        let kind = self.in_flight?;
        let cb = self.slot.as_ptr();
        // SAFETY: `cb` points to the control block of the operation in flight; `aio_error` only
        // reads its status (glibc takes its own lock to do so).
        let status = unsafe { libc::aio_error(&raw const (*cb).cb) };
        if status == libc::EINPROGRESS {
            return None;
        }
        // SAFETY: the operation has finished; `aio_return` must be called exactly once to
        // release glibc's bookkeeping, and after it the slot is ours again.
        let ret = unsafe { libc::aio_return(&raw mut (*cb).cb) };
        self.in_flight = None;
        let result = match status {
            0 => Ok(usize::try_from(ret).unwrap_or(0)),
            // The operation failed with this errno (ECONNRESET, EPIPE, ECANCELED…).
            errno if errno > 0 => Err(io::Error::from_raw_os_error(errno)),
            // -1: `aio_error` itself failed (EINVAL: not a control block it knows).
            _ => Err(io::Error::last_os_error()),
        };
        Some((kind, result))
    }
}

impl Op {
    /// Make the operation in flight finish and reap it, waiting at most `limit`. False if it is
    /// still running then: a helper thread may still write into the slot.
    fn finish_in_flight(&mut self, limit: Duration) -> bool {
        // SAFETY: reading the fd we stored at submission; the slot is alive.
        let fd = unsafe { (*self.slot.as_ptr()).cb.aio_fildes };
        // SAFETY: `shutdown` touches no memory of ours; on a closed or non-socket fd it fails
        // harmlessly (and then only the time limit ends the wait).
        unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        let deadline = Instant::now() + limit;
        while self.reap().is_none() {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            let list = [self.control_block()];
            let _ = suspend(
                &list,
                Some((deadline - now).min(Duration::from_millis(100))),
            );
        }
        true
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        // Never free memory a helper thread still writes to (see the module doc).
        if self.in_flight.is_some() && !self.finish_in_flight(DROP_WAIT) {
            // SAFETY: reading the fd we stored at submission; the slot is alive (and leaked).
            let fd = unsafe { (*self.slot.as_ptr()).cb.aio_fildes };
            eprintln!(
                "warning: an AIO operation on descriptor {fd} did not finish within \
                 {DROP_WAIT:?}; its {BUF_SIZE}-byte buffer is leaked, not freed"
            );
            return;
        }
        // SAFETY: `slot` was allocated in `Op::new` with `Slot`'s layout by the global allocator
        // (what `Box` uses), and no operation uses it any more.
        drop(unsafe { Box::from_raw(self.slot.as_ptr()) });
    }
}

/// Wait until at least one of `list` has finished, at most `timeout` (`None`: forever).
/// `Ok(false)`: the timeout passed (`EAGAIN`). `Err` of kind `Interrupted`: a signal handler ran
/// (SIGINT/SIGTERM): look at the flags and wait again.
pub fn suspend(list: &[*const libc::aiocb], timeout: Option<Duration>) -> io::Result<bool> {
    let ts = timeout.map(timespec);
    let ts_ptr = ts
        .as_ref()
        .map_or(ptr::null(), |ts| ts as *const libc::timespec);
    let count = c_int::try_from(list.len()).unwrap_or(c_int::MAX);
    // SAFETY: `list` holds `count` pointers to control blocks of operations in flight (the
    // caller builds it from `Op::control_block` of in-flight ops); `ts_ptr` is null or valid.
    let ret = unsafe { libc::aio_suspend(list.as_ptr(), count, ts_ptr) };
    if ret == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EAGAIN) => Ok(false),
        _ => Err(err),
    }
}

/// Take one AIO completion signal from `set`, waiting at most `timeout` (`None`: forever).
/// `Ok(Some(token))`: an AIO completion (`si_code == SI_ASYNCIO`) carrying the token stored at
/// submission. `Ok(None)`: the timeout passed, or the signal was not sent by glibc (a `kill` by
/// hand). `Err` of kind `Interrupted`: a handler ran (SIGINT/SIGTERM): check the flags.
pub fn take_completion(set: &SigSet, timeout: Option<Duration>) -> io::Result<Option<u64>> {
    let Some(info) = set.wait(timeout)? else {
        return Ok(None);
    };
    if info.si_code != libc::SI_ASYNCIO {
        // Sent by hand (`kill`), not by glibc: there is no token in it.
        return Ok(None);
    }
    // SAFETY: for SI_ASYNCIO the union holds the `sigval` we stored in `sigev_value`.
    let value = unsafe { info.si_value() };
    Ok(Some(value.sival_ptr.addr() as u64))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    /// Wait (at most 5 s) for the operation in flight to finish and reap it.
    fn wait_and_reap(op: &mut Op) -> (Kind, io::Result<usize>) {
        for _ in 0..50 {
            if let Some(done) = op.reap() {
                return done;
            }
            let list = [op.control_block()];
            let _ = suspend(&list, Some(Duration::from_millis(100)));
        }
        panic!("the operation did not complete within 5 s");
    }

    #[test]
    fn read_completes_with_the_peers_bytes() {
        let (ours, mut theirs) = UnixStream::pair().expect("socketpair");
        let mut op = Op::new(7);
        op.submit_read(ours.as_raw_fd(), Notify::None)
            .expect("aio_read");
        assert_eq!(op.in_flight(), Some(Kind::Read));
        assert!(op.buffer_mut().is_none(), "the buffer is lent out");
        theirs.write_all(b"hello").expect("write to the peer");
        let (kind, result) = wait_and_reap(&mut op);
        assert_eq!(kind, Kind::Read);
        assert_eq!(result.expect("read result"), 5);
        assert_eq!(op.data(5), b"hello");
        assert_eq!(op.in_flight(), None);
    }

    #[test]
    fn write_sends_the_buffer_range() {
        let (ours, mut theirs) = UnixStream::pair().expect("socketpair");
        let mut op = Op::new(8);
        op.buffer_mut().expect("idle op")[..6].copy_from_slice(b"xhelly");
        op.submit_write(ours.as_raw_fd(), 1..5, Notify::None)
            .expect("aio_write");
        let (kind, result) = wait_and_reap(&mut op);
        assert_eq!(kind, Kind::Write);
        assert_eq!(result.expect("write result"), 4);
        let mut got = [0u8; 4];
        theirs.read_exact(&mut got).expect("read from the peer");
        assert_eq!(&got, b"hell");
    }

    #[test]
    fn a_second_submission_while_in_flight_is_refused() {
        let (ours, _theirs) = UnixStream::pair().expect("socketpair");
        let mut op = Op::new(9);
        op.submit_read(ours.as_raw_fd(), Notify::None)
            .expect("aio_read");
        assert!(op.submit_read(ours.as_raw_fd(), Notify::None).is_err());
        // Dropping `op` here exercises the guard: it must shut the socket down and wait.
    }

    /// The drop guard: an `Op` dropped with a read blocked in a helper thread (the peer sends
    /// nothing) forces it to finish with `shutdown` and waits, instead of freeing memory the
    /// helper thread still owns — and it returns promptly.
    #[test]
    fn dropping_an_op_in_flight_waits_for_it() {
        let (ours, theirs) = UnixStream::pair().expect("socketpair");
        let mut op = Op::new(10);
        op.submit_read(ours.as_raw_fd(), Notify::None)
            .expect("aio_read");
        let (done_tx, done_rx) = mpsc::channel();
        let dropper = std::thread::spawn(move || {
            drop(op);
            let _ = done_tx.send(());
        });
        let dropped = done_rx.recv_timeout(Duration::from_secs(5));
        assert!(
            dropped.is_ok(),
            "drop blocked: the guard did not wake the read"
        );
        dropper.join().expect("the dropping thread");
        drop((ours, theirs));
    }

    /// On a descriptor `shutdown` cannot wake (a pipe), the guard gives up after its time limit
    /// and leaks the memory instead of spinning forever or freeing it under the helper thread.
    #[test]
    fn dropping_an_op_blocked_on_a_pipe_gives_up_and_leaks() {
        let (read_end, write_end) = nix::unistd::pipe().expect("pipe");
        let mut op = Op::new(11);
        op.submit_read(read_end.as_raw_fd(), Notify::None)
            .expect("aio_read");
        let (done_tx, done_rx) = mpsc::channel();
        let dropper = std::thread::spawn(move || {
            drop(op);
            let _ = done_tx.send(());
        });
        assert!(
            done_rx.recv_timeout(DROP_WAIT / 2).is_err(),
            "the guard waits for the operation first"
        );
        assert!(
            done_rx.recv_timeout(DROP_WAIT * 3).is_ok(),
            "the guard gave up after DROP_WAIT"
        );
        dropper.join().expect("the dropping thread");
        // Let the helper thread finish its read (into the leaked buffer), then close.
        nix::unistd::write(&write_end, b"x").expect("write to the pipe");
        std::thread::sleep(Duration::from_millis(50));
        drop((read_end, write_end));
    }
}
