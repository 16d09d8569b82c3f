//! What the lab tests measure (`crates/*/tests/labs.rs`, one `lab_NAME` test per
//! `scripts/labs/NAME.sh`): a lab claims that a mistake makes something visible go wrong — a
//! request that hangs, a core burnt at 100 % — and its test measures that claim with the mistake
//! and without it. These are the measuring instruments.

use std::io;
use std::net::TcpStream;
use std::process::Command;
use std::thread;
use std::time::Duration;

use crate::client::TIMEOUT;

/// `/proc/PID/stat` counts CPU time in clock ticks of 1/100 s (`USER_HZ`) on Linux.
pub const TICKS_PER_SECOND: u64 = 100;

/// User + system CPU time of every thread of `pid`, in clock ticks ([`TICKS_PER_SECOND`]).
/// Panics if `/proc/PID/stat` cannot be read or parsed (the process is gone).
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) in parentheses.
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        panic!("cannot parse /proc/{pid}/stat: {stat:?}");
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    field(11) + field(12)
}

/// How much of one core `pid` used during the next `window`, in percent (a process spinning on
/// one thread: about 100; asleep: 0). Under load it gets less CPU, never more.
pub fn cpu_percent_over(pid: u32, window: Duration) -> u64 {
    let before = cpu_ticks(pid);
    thread::sleep(window);
    let used = cpu_ticks(pid).saturating_sub(before);
    let window_ticks = (window.as_millis() as u64 * TICKS_PER_SECOND / 1000).max(1);
    used * 100 / window_ticks
}

/// Whether anything (a response byte, or end of file) arrives on `stream` within `within`. Only
/// peeks: a response that arrives stays there for the next read. Restores the read timeout to
/// [`TIMEOUT`] afterwards.
pub fn answered_within(stream: &TcpStream, within: Duration) -> bool {
    stream
        .set_read_timeout(Some(within))
        .expect("set a read timeout on the test socket");
    let mut byte = [0u8; 1];
    let answered = match stream.peek(&mut byte) {
        Ok(_) => true,
        Err(err) => !matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ),
    };
    stream
        .set_read_timeout(Some(TIMEOUT))
        .expect("restore the read timeout");
    answered
}

/// Wait up to `limit` for process `pid` to be stopped (`SIGSTOP`: state `T` in
/// `/proc/PID/stat`). `kill(2)` returns once the signal is queued, before the process has
/// stopped; a test that needs it stopped waits for this. Returns whether it stopped in time.
pub fn wait_until_stopped(pid: u32, limit: Duration) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The state is the first field after the command name in parentheses.
        let state = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next());
        if matches!(state, Some("T") | Some("t")) {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Bytes written to `stream` that the peer's kernel has not yet acknowledged (`SIOCOUTQ`,
/// tcp(7)). On loopback, 0 means everything written now sits in the peer's receive queue.
pub fn unacknowledged_bytes(stream: &TcpStream) -> usize {
    use std::os::fd::AsRawFd;
    let mut queued: nix::libc::c_int = 0;
    // SAFETY: SIOCOUTQ (= TIOCOUTQ) writes one c_int through the pointer, which points at
    // `queued`, alive for the call; the descriptor is borrowed from `stream`, open for the call.
    let rc = unsafe { nix::libc::ioctl(stream.as_raw_fd(), nix::libc::TIOCOUTQ, &mut queued) };
    assert_eq!(rc, 0, "ioctl(SIOCOUTQ): {}", io::Error::last_os_error());
    usize::try_from(queued).unwrap_or(0)
}

/// Wait up to `limit` until everything written to `stream` is in the peer's receive queue
/// ([`unacknowledged_bytes`] is 0). Returns the bytes still unacknowledged at the end.
pub fn wait_until_delivered(stream: &TcpStream, limit: Duration) -> usize {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let queued = unacknowledged_bytes(stream);
        if queued == 0 || std::time::Instant::now() >= deadline {
            return queued;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Make the server start with `RLIMIT_NOFILE` = `limit` (soft and hard: it cannot raise it).
pub fn limit_open_files(cmd: &mut Command, limit: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before `exec`; it only calls setrlimit(2),
    // which is async-signal-safe, and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, limit, limit)
                .map_err(std::io::Error::from)
        });
    }
}

/// Raise this process's soft `RLIMIT_NOFILE` to the hard limit (for tests that open hundreds of
/// client sockets where the default soft limit is 1024 minus what the test harness holds).
pub fn raise_nofile_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
    {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// How long a small request waits while another connection's request blocks in its logic: send
/// `GET /block/{block_ms}` on one connection (the server must run with `--work-routes`), then,
/// once the server surely has it, `GET /hello.txt` on a second connection, and time the second
/// answer. A single loop runs the wait on its only thread, so the second answer comes after it;
/// a pool, or a thread per connection, answers at once.
pub fn latency_behind_blocked_request(addr: std::net::SocketAddr, block_ms: u64) -> Duration {
    let mut blocked = crate::client::Conn::open(addr);
    let mut probe = crate::client::Conn::open(addr);
    blocked.send(format!("GET /block/{block_ms} HTTP/1.1\r\nHost: lab\r\n\r\n").as_bytes());
    std::thread::sleep(Duration::from_millis(50));
    let started = std::time::Instant::now();
    probe.send(b"GET /hello.txt HTTP/1.1\r\nHost: lab\r\n\r\n");
    let answer = probe.read_response();
    let waited = started.elapsed();
    probe.expect_status(&answer, 200);
    let done = blocked.read_response();
    blocked.expect_status(&done, 200);
    waited
}
