//! What is specific to the io_uring server: one thread however many connections wait, the
//! provided-buffer pool running dry, cancellation at shutdown, and the distinct exit when the
//! kernel refuses io_uring.
//!
//! Like the conformance suite, these fail where io_uring is unavailable unless
//! `IO_MODELS_ALLOW_NO_URING=1` (see `tests/common/mod.rs`).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{BIN, skip_without_uring};
use conformance::Server;
use conformance::client::{Conn, get};

/// The process's threads that are ours: all but the kernel's io_uring workers (`iou-wrk-*`,
/// `iou-sqp-*`), which appear in `/proc/<pid>/task` too.
fn user_threads(pid: u32) -> Vec<String> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("read /proc/<pid>/task");
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
        .map(|comm| comm.trim().to_string())
        .filter(|comm| !comm.starts_with("iou-"))
        .collect()
}

#[test]
fn idle_connections_cost_no_thread_and_do_not_block_a_new_client() {
    if skip_without_uring() {
        return;
    }
    let mut server = Server::start(BIN, &[]);
    let idle: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(server.addr()).expect("open an idle connection"))
        .collect();
    // Each idle connection now has a receive pending in the kernel; a new client still gets in.
    let response = get(server.addr(), "/hello.txt");
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.body, conformance::fixtures::HELLO_TXT.as_bytes());
    let threads = user_threads(server.pid());
    assert_eq!(
        threads.len(),
        1,
        "threads besides kernel workers: {threads:?}"
    );
    drop(idle);
    assert!(server.stop().success());
}

#[test]
fn pipelined_clients_survive_an_exhausted_buffer_pool() {
    if skip_without_uring() {
        return;
    }
    // Two buffers for 40 clients that each send 20 pipelined requests at once: most receives
    // find the pool empty (ENOBUFS) and must be retried, none may be lost.
    let mut server = Server::start(BIN, &["--buffers", "2"]);
    let addr = server.addr();
    let clients: Vec<_> = (0..40)
        .map(|i| {
            thread::spawn(move || {
                let mut conn = Conn::open(addr);
                let path = format!("/bytes/{}", 1000 + i);
                let keep_alive = format!("GET {path} HTTP/1.1\r\nHost: uring\r\n\r\n");
                let batch = keep_alive.repeat(20);
                conn.send(batch.as_bytes());
                for _ in 0..20 {
                    let response = conn.read_response();
                    conn.expect_status(&response, 200);
                    assert_eq!(response.body.len(), 1000 + i);
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("client thread");
    }
    assert!(server.stop().success());
    let stderr = server.stderr_text();
    assert!(
        stderr.contains("served 800 requests on 40 connections"),
        "stats line: {stderr}"
    );
}

#[test]
fn sigterm_cancels_pending_receives_at_once() {
    if skip_without_uring() {
        return;
    }
    let mut server = Server::start(BIN, &[]);
    let mut idle: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(server.addr()).expect("open an idle connection"))
        .collect();
    // One request answered first, so the stats line must count it.
    let response = get(server.addr(), "/");
    assert_eq!(response.status, 200);
    let asked = Instant::now();
    let status = server.stop();
    assert!(status.success(), "exit status {status:?}");
    // Idle connections hold only a receive, which shutdown cancels: the server must not sit out
    // the whole grace period (5 s) waiting for them.
    assert!(
        asked.elapsed() < Duration::from_secs(4),
        "took {:?} to exit",
        asked.elapsed()
    );
    // Every idle connection was closed by the server (EOF, not a hang).
    for stream in &mut idle {
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("set a read timeout");
        let mut byte = [0u8; 1];
        let n = stream.read(&mut byte).expect("read after shutdown");
        assert_eq!(n, 0, "expected EOF from the closed connection");
    }
    let stderr = server.stderr_text();
    assert!(
        stderr.contains("served 1 requests on 51 connections"),
        "stats line: {stderr}"
    );
}

#[test]
fn single_shot_accept_serves_a_burst_of_connections() {
    if skip_without_uring() {
        return;
    }
    let mut server = Server::start(BIN, &["--accept", "single"]);
    let addr = server.addr();
    // 200 connections opened before any is served: each needs its own accept submission.
    let mut streams: Vec<TcpStream> = (0..200)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    for stream in &mut streams {
        stream
            .write_all(b"GET /bytes/3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("send a request");
    }
    for stream in &mut streams {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("set a read timeout");
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).expect("read the reply");
        assert!(
            reply.starts_with(b"HTTP/1.1 200 "),
            "{:?}",
            String::from_utf8_lossy(&reply)
        );
    }
    assert!(server.stop().success());
}

#[test]
fn help_documents_the_model_flags() {
    let output = Command::new(BIN)
        .arg("--help")
        .output()
        .expect("run --help");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in ["--accept", "--buffers", "multishot", "single"] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

/// Run the server with `io_uring_setup(2)` forbidden by a seccomp filter (as a sandbox would):
/// it must exit 2 with the one `io_uring unavailable` line and never announce itself.
#[cfg(target_arch = "x86_64")]
#[test]
fn refused_io_uring_exits_2_with_one_line() {
    use std::os::unix::process::CommandExt;

    let mut cmd = Command::new(BIN);
    cmd.args([
        "--addr",
        "127.0.0.1:0",
        "--root",
        env!("CARGO_MANIFEST_DIR"),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    // SAFETY: the hook runs in the forked child before exec and only makes two `prctl` calls
    // (async-signal-safe, no allocation) on data captured by value.
    unsafe {
        cmd.pre_exec(seccomp::deny_io_uring_setup);
    }
    let mut child = cmd.spawn().expect("spawn server-uring");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waitpid") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("server-uring kept running although io_uring_setup was denied");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .expect("stdout pipe")
        .read_to_string(&mut stdout)
        .expect("read stdout");
    child
        .stderr
        .take()
        .expect("stderr pipe")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    assert_eq!(status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stdout, "", "must not announce itself");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(
        stderr.starts_with("error: io_uring unavailable: io_uring_setup: "),
        "{stderr:?}"
    );
}

#[cfg(target_arch = "x86_64")]
mod seccomp {
    use std::io;

    /// `AUDIT_ARCH_X86_64` from `<linux/audit.h>` (not in `libc`).
    const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
    /// Offsets in `struct seccomp_data`: `nr` then `arch`.
    const NR_OFFSET: u32 = 0;
    const ARCH_OFFSET: u32 = 4;

    const fn stmt(code: u32, k: u32) -> libc::sock_filter {
        libc::sock_filter {
            code: code as u16,
            jt: 0,
            jf: 0,
            k,
        }
    }

    const fn jump(code: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
        libc::sock_filter {
            code: code as u16,
            jt,
            jf,
            k,
        }
    }

    /// A filter: `io_uring_setup` fails with `EPERM`, every other syscall is allowed.
    const FILTER: [libc::sock_filter; 6] = [
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, ARCH_OFFSET),
        jump(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            AUDIT_ARCH_X86_64,
            0,
            3,
        ),
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, NR_OFFSET),
        jump(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            libc::SYS_io_uring_setup as u32,
            0,
            1,
        ),
        stmt(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        ),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ];

    /// Install [`FILTER`] in the calling process (used as a `pre_exec` hook).
    pub fn deny_io_uring_setup() -> io::Result<()> {
        let program = libc::sock_fprog {
            len: FILTER.len() as u16,
            filter: FILTER.as_ptr().cast_mut(),
        };
        // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only; it is required before an
        // unprivileged process may install a seccomp filter.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `program` points at a valid, 'static BPF program for the duration of the call
        // (the kernel copies it).
        if unsafe {
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &raw const program,
            )
        } != 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}
