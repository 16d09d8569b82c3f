//! The process contract: flags, start-up errors, logging, signals and the exit status.

use super::support::*;

/// `--help` exits 0 and lists the common flags.
pub fn help_lists_common_flags(target: &Target) {
    let mut cmd = target.command();
    cmd.arg("--help");
    let (status, text, stderr) = run_to_exit(cmd, Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "--help exited with {status:?} (None: still running after 10 s)\nstdout:\n{text}\nstderr:\n{stderr}"
    );
    for flag in ["--addr", "--root", "--timeout", "--log", "--max-body"] {
        assert!(
            text.contains(flag),
            "--help does not mention {flag}:\n{text}"
        );
    }
}

/// `--log` prints one line per request on stderr; without it, nothing per request is printed.
pub fn log_only_with_flag(target: &Target) {
    for (extra, logged) in [(&["--log"][..], true), (&[][..], false)] {
        let mut server = target.start_with(extra);
        let (conn, resp) = client::exchange(server.addr(), get("/hello.txt?log-check").as_bytes());
        expect_file(&conn, &resp, HELLO_TXT.as_bytes(), "text/plain");
        drop(conn);
        let status = server.stop();
        assert_eq!(status.code(), Some(0), "exit status after SIGTERM");
        let stderr = server.stderr_text();
        let line = stderr.lines().find(|l| l.contains("/hello.txt?log-check"));
        if logged {
            assert!(
                line.is_some_and(|l| l.contains("GET") && l.contains(" 200")),
                "with --log, stderr should have a line with the method, target and status:\n{stderr}"
            );
        } else {
            assert!(
                line.is_none(),
                "without --log, requests must not be logged:\n{stderr}"
            );
        }
    }
}

/// A fatal start-up error (a document root that does not exist, an address in use) is one line
/// on stderr and exit status 1, without an announce line.
pub fn startup_errors_exit_1(target: &Target) {
    let taken = match std::net::TcpListener::bind("127.0.0.1:0") {
        Ok(listener) => listener,
        Err(err) => panic!("cannot bind a port to occupy: {err}"),
    };
    let taken_addr = match taken.local_addr() {
        Ok(addr) => addr.to_string(),
        Err(err) => panic!("local_addr: {err}"),
    };
    let fixtures = match fixtures::Fixtures::create() {
        Ok(fixtures) => fixtures,
        Err(err) => panic!("cannot create fixtures: {err}"),
    };
    let missing = fixtures.base().join("no-such-root");
    let good_root = fixtures.root().display().to_string();
    let missing_root = missing.display().to_string();
    for (what, args) in [
        (
            "a missing --root",
            ["--addr", "127.0.0.1:0", "--root", missing_root.as_str()],
        ),
        (
            "an --addr in use",
            ["--addr", taken_addr.as_str(), "--root", good_root.as_str()],
        ),
    ] {
        let mut cmd = target.command();
        cmd.args(args);
        let (status, stdout, stderr) = run_to_exit(cmd, Duration::from_secs(10));
        assert_eq!(
            status.and_then(|s| s.code()),
            Some(1),
            "{what}: expected exit status 1\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        assert!(
            !stdout.contains("listening on"),
            "{what}: no announce line expected\nstdout:\n{stdout}"
        );
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "{what}: expected exactly one line on stderr:\n{stderr}"
        );
    }
    drop(taken);
}

/// SIGTERM while a slow client downloads `big.bin`: the download completes intact, the server
/// then exits 0 within the grace period, and afterwards the port refuses connections.
pub fn sigterm_lets_download_finish(target: &Target) {
    let mut server = target.start();
    let mut conn = Conn::open(server.addr());
    set_recv_buffer(&conn, 16 * 1024);
    conn.send(get("/big.bin").as_bytes());
    // About 1 s for the whole file; the signal comes 300 ms in.
    conn.throttle(8 * 1024, Duration::from_millis(2));
    let pid = nix::unistd::Pid::from_raw(server.pid() as i32);
    let signaller = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        let result = nix::sys::signal::kill(pid, Signal::SIGTERM);
        (Instant::now(), result)
    });
    let resp = conn.read_response();
    let finished = Instant::now();
    let (signalled, kill_result) = match signaller.join() {
        Ok(outcome) => outcome,
        Err(_) => panic!("the signalling thread panicked"),
    };
    if let Err(err) = kill_result {
        panic!("kill(SIGTERM) failed: {err}");
    }
    conn.expect_status(&resp, 200);
    expect_body(
        &conn,
        &resp,
        &fixtures::big_bin(),
        "/big.bin in flight at SIGTERM",
    );
    conn.check(
        finished > signalled,
        "the download was still in flight when SIGTERM arrived (read more slowly?)",
        &resp,
    );
    let limit = GRACE + Duration::from_secs(2);
    let status = match server.wait_exit(limit.saturating_sub(signalled.elapsed())) {
        Some(status) => status,
        None => panic!(
            "the server did not exit within {limit:?} of SIGTERM\nstderr:\n{}",
            server.stderr_text()
        ),
    };
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM\nstderr:\n{}",
        server.stderr_text()
    );
    match TcpStream::connect_timeout(&server.addr(), client::TIMEOUT) {
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => {}
        Err(err) => panic!("connect after exit failed with {err}, expected `connection refused`"),
        Ok(_) => panic!(
            "a connection to {} was accepted after the server exited",
            server.addr()
        ),
    }
}

/// SIGTERM (and SIGINT) on a server with no request in flight: exit 0 promptly, even with an idle
/// keep-alive connection open, after printing `served N requests on M connections`.
pub fn sigterm_idle_exits_zero(target: &Target) {
    let mut server = target.start();
    let (_closed, resp) = client::exchange(server.addr(), get("/hello.txt").as_bytes());
    assert_eq!(resp.status, 200, "{resp}");
    let mut idle = Conn::open(server.addr());
    for _ in 0..2 {
        idle.send(keepalive("GET", "/hello.txt").as_bytes());
        let resp = idle.read_response();
        expect_file(&idle, &resp, HELLO_TXT.as_bytes(), "text/plain");
    }
    // Make sure the first connection's close has been seen by the server.
    thread::sleep(Duration::from_millis(100));
    server.signal(Signal::SIGTERM);
    // Nothing is in flight: the idle connection must not hold the exit for the whole grace.
    let limit = Duration::from_secs(3);
    let status = match server.wait_exit(limit) {
        Some(status) => status,
        None => panic!(
            "with only an idle keep-alive connection open, the server did not exit within \
             {limit:?} of SIGTERM (nothing is in flight: idle connections must not wait for the \
             {GRACE:?} grace)\nstderr:\n{}",
            server.stderr_text()
        ),
    };
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM");
    if let Err(err) = idle.wait_closed(Duration::from_secs(1)) {
        idle.fail(&format!(
            "the idle connection after the server exited: {err}"
        ));
    }
    let stderr = server.stderr_text();
    assert!(
        stderr.contains("served 3 requests on 2 connections"),
        "stderr should report `served 3 requests on 2 connections`:\n{stderr}"
    );

    // A server that never saw a connection exits at once on SIGINT.
    let mut server = target.start();
    server.signal(Signal::SIGINT);
    let status = match server.wait_exit(Duration::from_secs(3)) {
        Some(status) => status,
        None => panic!(
            "an idle server did not exit within 3 s of SIGINT\nstderr:\n{}",
            server.stderr_text()
        ),
    };
    assert_eq!(status.code(), Some(0), "exit status after SIGINT");
    let stderr = server.stderr_text();
    assert!(
        stderr.contains("served 0 requests on 0 connections"),
        "stderr should report `served 0 requests on 0 connections`:\n{stderr}"
    );
}
