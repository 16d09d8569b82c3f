//! `server-epoll`'s own edges: what edge triggering demands (draining), what `EPOLLONESHOT`
//! guarantees (one worker per socket, so pipelined answers stay in order), running out of
//! descriptors, a fast shutdown with idle clients, and the threads each pattern starts.

use std::io::Write;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use conformance::Server;
use conformance::client::Conn;
use nix::sys::signal::Signal;

const BIN: &str = env!("CARGO_BIN_EXE_server-epoll");

/// Every pattern, as command-line flags (two workers: the machine has two cores).
const PATTERNS: [&[&str]; 4] = [
    &["--pattern", "single"],
    &["--pattern", "reactor", "--workers", "2"],
    &["--pattern", "proactor", "--workers", "2"],
    &["--pattern", "multi", "--workers", "2"],
];

fn start(pattern: &[&str], trigger: &str) -> Server {
    let mut args = pattern.to_vec();
    args.extend(["--trigger", trigger]);
    Server::start(BIN, &args)
}

/// Wait until the server's socket to `conn` is known to be registered and quiet: one exchange.
fn warm_up(conn: &mut Conn) {
    conn.send(b"GET /hello.txt HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(conn.read_response().status, 200);
}

/// A request larger than one 64 KiB read, all of it already in the server's socket when the
/// server looks: the server is stopped (SIGSTOP) while the client sends, so after SIGCONT there
/// is exactly one edge for all of it. A server that reads once per edge keeps 64 KiB and waits
/// forever for an edge that never comes; this one reads until EAGAIN.
#[test]
fn edge_large_request() {
    // 90 KiB: more than one read buffer, less than a loopback socket queues for a stopped reader
    // (about 110 KiB here), so the whole request is in the socket when the server resumes.
    let body: Vec<u8> = (0..90 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
    let mut request = format!(
        "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    for pattern in PATTERNS {
        let server = start(pattern, "edge");
        let mut conn = Conn::open(server.addr());
        warm_up(&mut conn);
        server.signal(Signal::SIGSTOP);
        // Sent from another thread: should the socket not take it all, the write waits for the
        // server to run again instead of blocking the test.
        let mut writer = conn.stream().try_clone().expect("clone the client socket");
        let burst = request.clone();
        let sender = thread::spawn(move || writer.write_all(&burst));
        thread::sleep(Duration::from_millis(300));
        server.signal(Signal::SIGCONT);
        let resp = conn.read_response();
        sender
            .join()
            .expect("writer thread")
            .expect("sending the request");
        assert_eq!(resp.status, 200, "{pattern:?}: {resp}");
        assert!(
            resp.body == body,
            "{pattern:?}: echoed body differs ({} bytes back)",
            resp.body.len()
        );
    }
}

/// Connections that queued in the backlog while the server was stopped get one edge on the
/// listener between them: edge mode must accept until EAGAIN, or all but the first wait for a
/// later connection.
#[test]
fn edge_accept_drains_the_backlog() {
    for pattern in PATTERNS {
        let server = start(pattern, "edge");
        let mut first = Conn::open(server.addr());
        warm_up(&mut first);
        server.signal(Signal::SIGSTOP);
        let mut crowd: Vec<Conn> = (0..8).map(|_| Conn::open(server.addr())).collect();
        for conn in &mut crowd {
            conn.send(b"GET /hello.txt HTTP/1.1\r\nHost: test\r\n\r\n");
        }
        thread::sleep(Duration::from_millis(100));
        server.signal(Signal::SIGCONT);
        for conn in &mut crowd {
            let resp = conn.read_response();
            assert_eq!(resp.status, 200, "{pattern:?}: {resp}");
        }
    }
}

/// Many pipelined requests per connection, arriving in pieces while workers are busy, on several
/// connections at once: with `EPOLLONESHOT` each socket has one worker at a time, so every
/// connection gets its answers complete and in order.
#[test]
fn reactor_one_worker_per_socket() {
    const CONNECTIONS: usize = 6;
    const REQUESTS: usize = 60;
    for trigger in ["level", "edge"] {
        let server = start(&["--pattern", "reactor", "--workers", "2"], trigger);
        let addr = server.addr();
        let clients: Vec<_> = (0..CONNECTIONS)
            .map(|c| {
                thread::spawn(move || {
                    let mut conn = Conn::open(addr);
                    // Distinct lengths per request: the answers' order is visible.
                    let sizes: Vec<usize> = (0..REQUESTS).map(|i| 1 + c * 1000 + i * 7).collect();
                    let all: String = sizes
                        .iter()
                        .map(|n| format!("GET /bytes/{n} HTTP/1.1\r\nHost: test\r\n\r\n"))
                        .collect();
                    for piece in all.as_bytes().chunks(500) {
                        conn.send(piece);
                        thread::sleep(Duration::from_millis(1));
                    }
                    for (i, &n) in sizes.iter().enumerate() {
                        let resp = conn.read_response();
                        assert_eq!(resp.status, 200, "connection {c}, request {i}: {resp}");
                        assert_eq!(
                            resp.body.len(),
                            n,
                            "connection {c}: answer {i} out of order"
                        );
                    }
                })
            })
            .collect();
        for client in clients {
            client.join().expect("a client thread failed");
        }
    }
}

/// SIGTERM with only idle keep-alive connections (and some that never sent a byte) must not wait
/// for the grace period: they are closed at once and the process exits 0.
#[test]
fn shutdown_with_idle_clients_is_fast() {
    for pattern in PATTERNS {
        let mut server = start(pattern, "level");
        let mut idle: Vec<Conn> = (0..10).map(|_| Conn::open(server.addr())).collect();
        for conn in idle.iter_mut().take(5) {
            warm_up(conn);
        }
        // Let the server accept the five silent ones too (still in the backlog, a shutdown would
        // refuse them rather than close them).
        thread::sleep(Duration::from_millis(300));
        let started = Instant::now();
        server.signal(Signal::SIGTERM);
        let status = server
            .wait_exit(Duration::from_secs(3))
            .unwrap_or_else(|| panic!("{pattern:?}: still running 3 s after SIGTERM"));
        let took = started.elapsed();
        assert!(status.success(), "{pattern:?}: exit status {status:?}");
        assert!(
            took < Duration::from_secs(2),
            "{pattern:?}: shutdown took {took:?}"
        );
        for conn in &mut idle {
            conn.expect_closed("an idle connection at shutdown");
        }
        // The harness collects stderr on a thread of its own: give it a moment after the exit.
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut stderr = server.stderr_text();
        while !stderr.contains("served") && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
            stderr = server.stderr_text();
        }
        assert!(
            stderr.contains("served 5 requests on 10 connections"),
            "{pattern:?}: stderr:\n{stderr}"
        );
    }
}

/// `--no-sendfile` copies file bodies through user space; the bytes must be the same.
#[test]
fn no_sendfile_serves_large_files_intact() {
    for trigger in ["level", "edge"] {
        let server = Server::start(BIN, &["--no-sendfile", "--trigger", trigger]);
        let resp = conformance::client::get(server.addr(), "/big.bin");
        assert_eq!(resp.status, 200, "{resp}");
        assert!(
            resp.body == conformance::fixtures::big_bin(),
            "{trigger}: body differs"
        );
    }
}

/// `reactor` and `proactor` start a pool of `--workers` threads; `multi` that many event loops.
#[test]
fn workers_flag_sets_the_thread_count() {
    for (pattern, prefix) in [
        ("reactor", "epoll-reactor"),
        ("proactor", "epoll-logic"),
        ("multi", "epoll-loop"),
    ] {
        let server = Server::start(BIN, &["--pattern", pattern, "--workers", "3"]);
        // A new thread names itself once it runs: allow it a moment.
        let deadline = Instant::now() + Duration::from_secs(2);
        let named = loop {
            let named = thread_names(server.pid())
                .into_iter()
                .filter(|name| name.starts_with(prefix))
                .count();
            if named >= 3 || Instant::now() > deadline {
                break named;
            }
            thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(named, 3, "{pattern}: threads named {prefix}-*");
        // Each pattern still answers.
        let resp = conformance::client::get(server.addr(), "/hello.txt");
        assert_eq!(resp.status, 200, "{pattern}: {resp}");
    }
}

fn thread_names(pid: u32) -> Vec<String> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("reading /proc/PID/task");
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
        .map(|name| name.trim().to_string())
        .collect()
}

/// The performance claims of the crate doc, counted with `strace` (from
/// `scripts/install-deps.sh`): on a keep-alive connection, level-triggered `single` makes one
/// `recvfrom` and one `sendto` per request and no `epoll_ctl` at all (the interest does not
/// change); edge-triggered makes one more `recvfrom` (the one that says `EAGAIN`).
#[test]
fn keepalive_syscalls_per_request() {
    const REQUESTS: usize = 100;
    for (trigger, reads_per_request) in [("level", 1), ("edge", 2)] {
        let trace = std::env::temp_dir().join(format!(
            "server-epoll-strace-{}-{trigger}.txt",
            std::process::id()
        ));
        let mut cmd = Command::new("strace");
        cmd.args(["-f", "-qq", "-e", "trace=epoll_ctl,recvfrom,sendto", "-o"])
            .arg(&trace)
            .args([BIN, "--trigger", trigger]);
        let mut server = Server::start_command(cmd);
        let mut conn = Conn::open(server.addr());
        for _ in 0..REQUESTS {
            warm_up(&mut conn);
        }
        drop(conn);
        // SIGTERM to the server itself (strace's child), not to strace.
        let children =
            std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", server.pid()))
                .expect("reading strace's children");
        let server_pid: i32 = children
            .split_whitespace()
            .next()
            .and_then(|pid| pid.parse().ok())
            .expect("strace has started the server");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(server_pid), Signal::SIGTERM)
            .expect("SIGTERM to the server");
        let status = server
            .wait_exit(Duration::from_secs(5))
            .expect("strace exits with the server");
        assert!(status.success(), "{trigger}: exit status {status:?}");
        let text = std::fs::read_to_string(&trace).expect("reading the strace output");
        let _ = std::fs::remove_file(&trace);
        let count = |call: &str| text.lines().filter(|line| line.contains(call)).count();
        // Outside the requests: 3 ADDs and a DEL; the peer's EOF and the discard at close.
        // (The signal handler's own `sendto`s use MSG_DONTWAIT; the server's use MSG_NOSIGNAL.)
        assert!(
            count("epoll_ctl(") <= 4,
            "{trigger}: epoll_ctl per request?\n{text}"
        );
        assert!(
            count("recvfrom(") <= REQUESTS * reads_per_request + 2,
            "{trigger}: {} recvfrom for {REQUESTS} requests",
            count("recvfrom(")
        );
        let sends = text
            .lines()
            .filter(|line| line.contains("sendto(") && line.contains("MSG_NOSIGNAL"))
            .count();
        assert!(
            sends <= REQUESTS,
            "{trigger}: {sends} sendto for {REQUESTS} requests"
        );
    }
}

/// The work routes show where each pattern runs a request's logic: while one connection's
/// `/block/400` waits, a second connection's small request is answered after the wait by the
/// single loop (it has one thread), and at once by the Reactor and the simulated Proactor (a
/// worker waits, the loop goes on).
#[test]
fn only_the_patterns_with_a_pool_answer_while_a_request_blocks() {
    for (pattern, stalls) in [
        (&["--pattern", "single"][..], true),
        (&["--pattern", "reactor", "--workers", "2"][..], false),
        (&["--pattern", "proactor", "--workers", "2"][..], false),
    ] {
        let mut args = pattern.to_vec();
        args.push("--work-routes");
        let server = Server::start(BIN, &args);
        let waited = conformance::lab::latency_behind_blocked_request(server.addr(), 400);
        if stalls {
            assert!(
                waited >= Duration::from_millis(250),
                "{pattern:?}: the loop should be busy waiting, yet answered in {waited:?}"
            );
        } else {
            assert!(
                waited < Duration::from_millis(250),
                "{pattern:?}: a worker waits, the loop should answer at once, took {waited:?}"
            );
        }
    }
}
