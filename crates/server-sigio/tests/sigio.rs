//! Behaviour specific to signal-driven I/O: what happens when the real-time signal queue
//! overflows, and what `--signal plain` costs.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use conformance::Server;
use conformance::client::{self, Conn};

const BIN: &str = env!("CARGO_BIN_EXE_server-sigio");

/// Stop the server (SIGTERM), check it exits 0, and return its stderr once the final
/// `served …` line has been read from the pipe (the reader thread may lag the exit a little).
fn stop_and_read_stderr(server: &mut Server) -> String {
    let status = server.stop();
    assert!(status.success(), "exit status {status:?}");
    let start = Instant::now();
    loop {
        let stderr = server.stderr_text();
        if stderr.contains("served ") || start.elapsed() > Duration::from_secs(2) {
            return stderr;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// The `signals taken: …` line the server prints at exit, as (real-time, SIGIO, overflows).
fn signal_counts(stderr: &str) -> (u64, u64, u64) {
    let line = stderr
        .lines()
        .find(|line| line.starts_with("signals taken:"))
        .unwrap_or_else(|| panic!("no `signals taken` line in stderr:\n{stderr}"));
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|word| word.parse().ok())
        .collect();
    match numbers.as_slice() {
        [rt, sigio, overflows] => (*rt, *sigio, *overflows),
        _ => panic!("cannot parse {line:?}"),
    }
}

/// One request first, so the server is surely past its start-up accept (which serves whatever
/// is already in the backlog without any signal) and inside its loop.
fn warm_up(server: &Server) {
    let resp = client::get(server.addr(), "/index.html");
    assert_eq!(resp.status, 200, "warm-up request");
}

/// Send `signal` to the server process.
fn kill(server: &Server, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(server.pid()).expect("pid fits pid_t");
    // SAFETY: `kill` takes plain integers and touches no memory of ours.
    let ret = unsafe { libc::kill(pid, signal) };
    assert_eq!(ret, 0, "kill({pid}, {signal})");
}

/// Open `count` connections and send one request on each before reading any answer, so that
/// the server gets a burst of events (connection arrivals and data) all at once; then check that
/// every connection gets its response.
fn burst_of_requests(server: &Server, count: usize) {
    let mut conns: Vec<Conn> = (0..count).map(|_| Conn::open(server.addr())).collect();
    for conn in &mut conns {
        conn.send(client::get_request("/index.html").as_bytes());
    }
    for conn in &mut conns {
        let resp = conn.read_response();
        conn.expect_status(&resp, 200);
    }
}

/// Wait (at most 2 s) until the server's thread sleeps in `sigtimedwait`, i.e. it is inside its
/// event loop with nothing left to do.
fn wait_until_idle_in_loop(server: &Server) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        let wchan =
            std::fs::read_to_string(format!("/proc/{}/wchan", server.pid())).unwrap_or_default();
        if wchan.contains("sigtimedwait") {
            return;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// With `RLIMIT_SIGPENDING = 8` at most eight real-time signals can be pending (for the whole
/// user), so a burst of requests on 200 open connections overflows the queue: the kernel then
/// sends one plain `SIGIO` (no fd) and the events that did not fit are lost. Only a server that
/// answers SIGIO by scanning every socket answers all 200; one that trusted the queue would
/// leave most of them hanging.
#[test]
fn queue_overflow_is_recovered() {
    let mut cmd = Command::new(BIN);
    cmd.args(["--signal", "rt"]);
    // SAFETY: the closure runs in the forked child before exec and only calls `setrlimit`, an
    // async-signal-safe syscall, with a valid pointer to a local struct.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 8,
                rlim_max: 8,
            };
            if libc::setrlimit(libc::RLIMIT_SIGPENDING, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let mut server = Server::start_command(cmd);
    let mut conns: Vec<Conn> = (0..200).map(|_| Conn::open(server.addr())).collect();
    // Accepts are FIFO: once a later connection is answered, all 200 are accepted and idle.
    warm_up(&server);
    wait_until_idle_in_loop(&server);
    // Stop the server while the requests arrive, so that their 200 events pile up in the queue
    // whatever the scheduling; then let it run.
    kill(&server, libc::SIGSTOP);
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
    let (_, sigio, overflows) = signal_counts(&stderr);
    assert!(
        overflows > 0 && sigio >= overflows,
        "the queue never overflowed, so this test proved nothing:\n{stderr}"
    );
    assert!(
        stderr.contains("served 202 requests on 202 connections"),
        "{stderr}"
    );
}

/// `--signal plain`: the kernel sends classic `SIGIO` only (no real-time signal at all), and the
/// server still answers a burst, by scanning every socket on each signal.
#[test]
fn plain_sigio_serves_a_burst() {
    let mut server = Server::start(BIN, &["--signal", "plain"]);
    warm_up(&server);
    wait_until_idle_in_loop(&server);
    burst_of_requests(&server, 100);
    let stderr = stop_and_read_stderr(&mut server);
    let (rt, sigio, overflows) = signal_counts(&stderr);
    assert_eq!((rt, overflows), (0, 0), "{stderr}");
    assert!(sigio > 0, "no SIGIO taken at all:\n{stderr}");
    assert!(
        stderr.contains("served 101 requests on 101 connections"),
        "{stderr}"
    );
}

/// `--signal rt` under a normal limit: queued signals that name the socket, no overflow and no
/// scans for a modest burst.
#[test]
fn rt_signals_name_the_socket() {
    let mut server = Server::start(BIN, &["--signal", "rt"]);
    warm_up(&server);
    wait_until_idle_in_loop(&server);
    burst_of_requests(&server, 50);
    let stderr = stop_and_read_stderr(&mut server);
    let (rt, sigio, overflows) = signal_counts(&stderr);
    // Not one per connection: one signal may cover several accepts, and bytes that arrived
    // before O_ASYNC was set are read without a signal. But after the warm-up, accepting the
    // burst takes at least one.
    assert!(rt > 0, "no real-time signal taken:\n{stderr}");
    assert_eq!((sigio, overflows), (0, 0), "{stderr}");
}

/// 300 idle keep-alive connections cost no thread: the server stays one thread (the contrast
/// with `server-aio`, where each holds a helper thread), and a new client is served at once.
#[test]
fn idle_connections_cost_no_thread() {
    let mut server = Server::start(BIN, &["--signal", "rt"]);
    let idle: Vec<Conn> = (0..300).map(|_| Conn::open(server.addr())).collect();
    let resp = client::get(server.addr(), "/index.html");
    assert_eq!(resp.status, 200, "a new client behind 300 idle ones");
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid()))
        .expect("read /proc/<pid>/status of the server");
    let threads: usize = status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a Threads: line");
    eprintln!("server-sigio: {threads} thread(s) with 300 idle connections");
    assert_eq!(
        threads, 1,
        "signal-driven I/O needs no thread per connection"
    );
    let exit = server.stop();
    assert!(exit.success(), "exit status {exit:?}");
    drop(idle);
}
