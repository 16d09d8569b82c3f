//! The lab of `server-sigio` (`scripts/lab.sh sigio-overflow`), checked: with a small
//! `RLIMIT_SIGPENDING` the real-time signal queue overflows and the server recovers by a full
//! scan; with the normal limit the same burst overflows nothing. One test per lab, `lab_NAME`.

mod common;

use std::os::unix::process::CommandExt;
use std::process::Command;

use common::*;
use conformance::Server;
use conformance::client::{self, Conn};

/// The lab's burst against `server-sigio --signal rt`: 200 idle keep-alive connections, the
/// server paused while each sends a request (so 200 events arrive at once whatever the
/// scheduling), then resumed. Every request must be answered. Returns the exit counts
/// (real-time signals, SIGIOs, overflows). `sigpending`: the limit to start the server with, or
/// `None` for the inherited one.
fn burst(sigpending: Option<libc::rlim_t>) -> (u64, u64, u64) {
    let mut cmd = Command::new(BIN);
    cmd.args(["--signal", "rt"]);
    if let Some(n) = sigpending {
        // SAFETY: the closure runs in the forked child before exec and only calls `setrlimit`,
        // an async-signal-safe syscall, with a valid pointer to a local struct.
        unsafe {
            cmd.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                if libc::setrlimit(libc::RLIMIT_SIGPENDING, &limit) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    let mut server = Server::start_command(cmd);
    let mut conns: Vec<Conn> = (0..200).map(|_| Conn::open(server.addr())).collect();
    // Accepts are FIFO: once a later connection is answered, all 200 are accepted and idle.
    warm_up(&server);
    wait_until_idle_in_loop(&server);
    kill(&server, libc::SIGSTOP);
    assert!(
        conformance::lab::wait_until_stopped(server.pid(), std::time::Duration::from_secs(5)),
        "the server did not stop"
    );
    for conn in &mut conns {
        conn.send(client::get_request("/index.html").as_bytes());
    }
    kill(&server, libc::SIGCONT);
    for conn in &mut conns {
        let resp = conn.read_response();
        conn.expect_status(&resp, 200);
    }
    warm_up(&server);
    let stderr = stop_and_read_stderr(&mut server);
    assert!(
        stderr.contains("served 202 requests on 202 connections"),
        "{stderr}"
    );
    signal_counts(&stderr)
}

/// Lab `sigio-overflow`. With `RLIMIT_SIGPENDING = 8` (for the whole user, so the limit, not the
/// other processes of the user, decides) the 200 events cannot all be queued: the kernel sends a
/// plain `SIGIO`, and only the full scan it triggers answers the lost ones. The normal limit
/// (tens of thousands) queues them all: no overflow.
#[test]
fn lab_sigio_overflow() {
    let (_, sigio, overflows) = burst(Some(8));
    assert!(
        overflows > 0 && sigio >= overflows,
        "with RLIMIT_SIGPENDING = 8 the queue never overflowed ({sigio} SIGIO, {overflows} overflows)"
    );
    let (rt, sigio, overflows) = burst(None);
    assert!(rt > 0, "no real-time signal at the normal limit");
    assert_eq!(
        (sigio, overflows),
        (0, 0),
        "the normal limit overflowed: is RLIMIT_SIGPENDING tiny here? (ulimit -i)"
    );
}
