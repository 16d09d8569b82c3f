//! Behaviour specific to the blocking model: what a thread per connection buys, what a fixed
//! pool costs (head-of-line blocking), and how idle connections are woken at shutdown.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use conformance::Server;
use conformance::client::{self, Conn};

const BIN: &str = env!("CARGO_BIN_EXE_server-blocking");

/// A keep-alive `GET`.
fn keepalive_get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").into_bytes()
}

/// Whether anything arrives on `stream` within `within` (a response, or EOF).
fn anything_within(stream: &TcpStream, within: Duration) -> bool {
    stream
        .set_read_timeout(Some(within))
        .expect("set a read timeout on the test socket");
    let mut byte = [0u8; 1];
    let result = (&*stream).read(&mut byte);
    match result {
        Ok(_) => true,
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            false
        }
        Err(_) => true, // reset: something happened
    }
}

/// Whether the server's stderr contains `text` within a second (a reader thread collects it).
fn stderr_soon_contains(server: &Server, text: &str) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(1) {
        if server.stderr_text().contains(text) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    server.stderr_text().contains(text)
}

/// Thread per connection: a client that connects and sends nothing (and one that sends half a
/// request) each pin a thread, but never the others: a third client is served at once.
#[test]
fn silent_clients_do_not_block_others() {
    let mut server = Server::start(BIN, &["--timeout", "30"]);
    let silent = Conn::open(server.addr());
    let mut half = Conn::open(server.addr());
    half.send(b"GET /hello.txt HTTP/1.1\r\nHo");

    let started = Instant::now();
    let mut normal = Conn::open(server.addr());
    normal.send(&keepalive_get("/hello.txt"));
    let resp = normal.read_response();
    normal.expect_status(&resp, 200);
    assert_eq!(resp.body, b"Hello, world!\n".to_vec(), "body of /hello.txt");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the third client waited {:?}: the silent ones block it",
        started.elapsed()
    );
    // The silent clients are still connected: nobody was dropped to make room.
    assert!(
        !anything_within(silent.stream(), Duration::from_millis(200)),
        "the silent client got an answer or was closed although --timeout is 30 s"
    );

    // The half-sent request can still complete.
    half.send(b"st: test\r\nConnection: close\r\n\r\n");
    let resp = half.read_response();
    half.expect_status(&resp, 200);
    drop(silent);
    drop(normal);
    assert!(server.stop().success(), "exit status after SIGTERM");
}

/// `--pool 1`: one thread serves one connection at a time. While the first client keeps its
/// keep-alive connection open, the second client's request is not even read — head-of-line
/// blocking. As soon as the first client leaves, the second is served.
#[test]
fn pool_of_one_blocks_the_second_client() {
    let mut server = Server::start(BIN, &["--pool", "1", "--timeout", "30"]);
    let mut first = Conn::open(server.addr());
    first.send(&keepalive_get("/hello.txt"));
    let resp = first.read_response();
    first.expect_status(&resp, 200);

    let mut second = Conn::open(server.addr());
    second.send(&keepalive_get("/hello.txt"));
    assert!(
        !anything_within(second.stream(), Duration::from_millis(500)),
        "the second client was answered while the only worker holds the first connection"
    );

    // The first connection is still served (its thread is the one that is busy).
    first.send(&keepalive_get("/style.css"));
    let resp = first.read_response();
    first.expect_status(&resp, 200);

    drop(first); // the worker reads EOF, closes, and takes the next connection
    second
        .stream()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("restore the read timeout");
    let resp = second.read_response();
    second.expect_status(&resp, 200);
    assert_eq!(resp.body, b"Hello, world!\n".to_vec(), "body of /hello.txt");
    drop(second);
    assert!(server.stop().success(), "exit status after SIGTERM");
}

/// At SIGTERM an idle keep-alive connection (its thread blocked in `read`) is woken by
/// `shutdown(SHUT_RD)` and closed, so the server exits at once instead of after the whole grace
/// period — in both modes.
#[test]
fn sigterm_wakes_idle_keepalive_connections() {
    for args in [&[][..], &["--pool", "2"][..]] {
        let mut server = Server::start(BIN, args);
        let mut idle = Vec::new();
        for _ in 0..2 {
            let mut conn = Conn::open(server.addr());
            conn.send(&keepalive_get("/hello.txt"));
            let resp = conn.read_response();
            conn.expect_status(&resp, 200);
            idle.push(conn);
        }
        let stopping = Instant::now();
        let status = server.stop();
        let took = stopping.elapsed();
        assert!(status.success(), "{args:?}: exit status {status:?}");
        assert!(
            took < Duration::from_secs(3),
            "{args:?}: exit took {took:?}: idle keep-alive connections held the shutdown"
        );
        for conn in &mut idle {
            if let Err(err) = conn.wait_closed(Duration::from_secs(1)) {
                conn.fail(&format!("{args:?}: idle connection after shutdown: {err}"));
            }
        }
        assert!(
            stderr_soon_contains(&server, "served 2 requests on 2 connections"),
            "{args:?}: statistics line missing:\n{}",
            server.stderr_text()
        );
    }
}

/// A request already sent on an idle connection when SIGTERM arrives is still answered: the
/// drain shuts only the read side, and bytes already received stay readable.
#[test]
fn request_in_flight_at_sigterm_is_answered() {
    let mut server = Server::start(BIN, &["--timeout", "30"]);
    // A connection whose thread is mid-request: half a head is in.
    let mut busy = Conn::open(server.addr());
    busy.send(b"GET /hello.txt HTTP/1.1\r\nHost: test\r\n");
    // Let the server read the first half before the signal.
    std::thread::sleep(Duration::from_millis(100));
    server.signal(nix::sys::signal::Signal::SIGTERM);
    std::thread::sleep(Duration::from_millis(100));
    // The rest of the request arrives after the shutdown began: it is still served, and the
    // connection closes after the response instead of waiting for another request.
    busy.send(b"\r\n");
    let resp = busy.read_response();
    busy.expect_status(&resp, 200);
    busy.expect_closed("keep-alive connection after its response, while shutting down");
    let status = server
        .wait_exit(Duration::from_secs(3))
        .expect("server exits once its last connection closed");
    assert!(status.success(), "exit status {status:?}");
}

/// `--help` names the model's flags.
#[test]
fn help_lists_model_flags() {
    let out = std::process::Command::new(BIN)
        .arg("--help")
        .output()
        .expect("run --help");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "--help exit status");
    for flag in [
        "--pool",
        "--stack-kib",
        "--addr",
        "--root",
        "--timeout",
        "--log",
    ] {
        assert!(
            text.contains(flag),
            "--help does not mention {flag}:\n{text}"
        );
    }
}

/// A client that sends a full request and then vanishes (reset) does not disturb the server.
#[test]
fn client_reset_before_response_is_harmless() {
    let mut server = Server::start(BIN, &[]);
    for _ in 0..20 {
        let conn = Conn::open(server.addr());
        // SO_LINGER 0: close() sends RST instead of FIN.
        nix::sys::socket::setsockopt(
            conn.stream(),
            nix::sys::socket::sockopt::Linger,
            &libc::linger {
                l_onoff: 1,
                l_linger: 0,
            },
        )
        .expect("SO_LINGER");
        let mut conn = conn;
        conn.send(&keepalive_get("/bytes/1000000"));
        drop(conn);
    }
    let resp = client::get(server.addr(), "/hello.txt");
    assert_eq!(resp.status, 200, "server still answers after resets");
    assert!(server.stop().success(), "exit status after SIGTERM");
}

/// When a thread cannot be created (here: no address space left for another 1 GiB stack), that
/// one connection is closed with a log line, and the server goes on serving the others.
#[test]
fn thread_spawn_failure_closes_only_that_connection() {
    use std::os::unix::process::CommandExt;

    const GIB: u64 = 1 << 30;
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["--stack-kib", "1048576"]);
    // SAFETY: the closure runs in the forked child before exec and only calls setrlimit(2),
    // which is async-signal-safe; it allocates nothing and touches no lock.
    unsafe {
        cmd.pre_exec(|| {
            // Room for the process itself and one 1 GiB connection stack, not for two.
            nix::sys::resource::setrlimit(
                nix::sys::resource::Resource::RLIMIT_AS,
                GIB + GIB / 2,
                GIB + GIB / 2,
            )
            .map_err(io::Error::from)
        });
    }
    let mut server = Server::start_command(cmd);

    // The first connection gets the one thread there is room for, and keeps it.
    let mut first = Conn::open(server.addr());
    first.send(&keepalive_get("/hello.txt"));
    let resp = first.read_response();
    first.expect_status(&resp, 200);

    // The second cannot get a thread: it is closed without an answer.
    let mut second = Conn::open(server.addr());
    second.send(&keepalive_get("/hello.txt"));
    second.expect_closed("a connection the server could not start a thread for");
    assert!(
        stderr_soon_contains(&server, "cannot start a thread"),
        "no log line for the failed thread:\n{}",
        server.stderr_text()
    );

    // The first connection is still served.
    first.send(&keepalive_get("/style.css"));
    let resp = first.read_response();
    first.expect_status(&resp, 200);

    // Once it leaves, its stack is unmapped and new connections are served again (the thread's
    // exit is asynchronous: allow a few tries).
    drop(first);
    let started = Instant::now();
    loop {
        let mut conn = Conn::open(server.addr());
        conn.send(client::get_request("/hello.txt").as_bytes());
        match conn.try_read_response(false) {
            Ok(resp) if resp.status == 200 => break,
            other if started.elapsed() > Duration::from_secs(5) => {
                panic!("no connection served after the first one closed: {other:?}")
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    assert!(server.stop().success(), "exit status after SIGTERM");
}

/// `--log` prints one line per answered request (and nothing without it).
#[test]
fn log_flag_prints_one_line_per_request() {
    for (args, expect_line) in [(&["--log"][..], true), (&[][..], false)] {
        let mut server = Server::start(BIN, args);
        let mut conn = Conn::open(server.addr());
        for path in ["/hello.txt", "/missing"] {
            conn.send(&keepalive_get(path));
            let _ = conn.read_response();
        }
        drop(conn);
        assert!(server.stop().success(), "exit status after SIGTERM");
        assert!(
            stderr_soon_contains(&server, "served 2 requests"),
            "statistics line missing:\n{}",
            server.stderr_text()
        );
        let stderr = server.stderr_text();
        for line in ["\"GET /hello.txt\" 200 14", "\"GET /missing\" 404"] {
            assert_eq!(
                stderr.contains(line),
                expect_line,
                "{args:?}: log line {line:?} in stderr:\n{stderr}"
            );
        }
    }
}

/// A client that requests a large body and then stops reading: the server's blocking `write`
/// (or `sendfile`) waits at most `SO_SNDTIMEO`, then http-core's deadline closes the connection —
/// for a generated body (`write`) and for a file (`sendfile`). Without the send timeout the thread
/// would wait for this client forever and, once it reads again, send the whole body.
#[test]
fn stalled_reader_is_timed_out() {
    const SIZE: usize = 32 << 20;
    let root = tempfile::tempdir().expect("temporary document root");
    std::fs::write(root.path().join("big.bin"), vec![b'x'; SIZE]).expect("write big.bin");
    std::fs::write(root.path().join("hello.txt"), b"Hello, world!\n").expect("write hello.txt");
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["--timeout", "1"]);
    let mut server = Server::start_command_with_root(cmd, root.path());

    let addr = server.addr();
    let stall = |path: String| {
        std::thread::spawn(move || {
            let stream = connect_with_small_window(addr);
            let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
            (&stream)
                .write_all(request.as_bytes())
                .expect("send the request");
            // Stall. The kernel takes a few MiB at once; then a blocking call copies a little and
            // waits out SO_SNDTIMEO (that still counts as progress), the next one makes none: the
            // server gives up after 2 (write) to about 4 (sendfile) × --timeout, within this pause.
            std::thread::sleep(Duration::from_secs(6));
            // Now read: what was already queued arrives, then the close.
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .expect("read timeout");
            let mut received = 0usize;
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                match (&stream).read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => received += n,
                    Err(err) if err.kind() == io::ErrorKind::ConnectionReset => break,
                    Err(err) => {
                        panic!("{path}: waiting for the close: {err} after {received} bytes")
                    }
                }
            }
            assert!(
                received < SIZE,
                "{path}: the stalled client still received the whole body ({received} bytes)"
            );
        })
    };
    let clients = [
        stall(format!("/bytes/{SIZE}")),
        stall("/big.bin".to_string()),
    ];
    for client in clients {
        if let Err(panic) = client.join() {
            std::panic::resume_unwind(panic);
        }
    }
    let resp = client::get(server.addr(), "/hello.txt");
    assert_eq!(resp.status, 200, "server still answers");
    assert!(server.stop().success(), "exit status after SIGTERM");
}

/// Connect with a 4 KiB receive buffer, set before `connect` so the window is small from the
/// handshake on (shrinking it later makes Linux drop queued segments and retransmit slowly).
fn connect_with_small_window(addr: std::net::SocketAddr) -> TcpStream {
    use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, SockaddrIn, sockopt};
    let fd = socket::socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("socket");
    socket::setsockopt(&fd, sockopt::RcvBuf, &4096).expect("SO_RCVBUF");
    let std::net::SocketAddr::V4(v4) = addr else {
        panic!("the server listens on IPv4 here, not {addr}");
    };
    socket::connect(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::from(v4)).expect("connect");
    TcpStream::from(fd)
}

/// A thread per connection runs each request's logic on that connection's own thread: while one
/// connection's `/block/400` waits, another connection is answered at once.
#[test]
fn a_blocked_request_holds_only_its_own_thread() {
    let server = Server::start(BIN, &["--work-routes"]);
    let waited = conformance::lab::latency_behind_blocked_request(server.addr(), 400);
    assert!(
        waited < Duration::from_millis(250),
        "a thread per connection should answer at once, took {waited:?}"
    );
}
