//! The labs of `server-epoll` (`scripts/lab.sh NAME`), checked: each classic mistake
//! (`--mistake NAME`, hidden from `--help`) makes the failure its lab shows, and the same
//! demonstration without the mistake does not fail. One test per lab, named `lab_NAME`.

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use conformance::Server;
use conformance::client::Conn;
use conformance::lab::{self, answered_within, cpu_percent_over};
use nix::sys::signal::Signal;

const BIN: &str = env!("CARGO_BIN_EXE_server-epoll");

/// `args`, plus `--mistake NAME` when `mistake` is set.
fn start(args: &[&str], mistake: Option<&str>) -> Server {
    let mut all = args.to_vec();
    if let Some(name) = mistake {
        all.extend(["--mistake", name]);
    }
    Server::start(BIN, &all)
}

/// Lab `edge-no-drain`: a 90 KiB `POST /echo` lands in the socket all at once (the server is
/// stopped while it is sent, so there is one edge for all of it). Reading once per edge takes
/// 64 KiB and leaves the rest unread and unreported: no answer until the idle timeout (2 s here)
/// ends the connection. Draining until `EAGAIN` answers at once.
#[test]
fn lab_edge_no_drain() {
    let body: Vec<u8> = (0..90 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
    let mut request = format!(
        "POST /echo HTTP/1.1\r\nHost: lab\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    for mistake in [Some("edge-no-drain"), None] {
        let server = start(&["--trigger", "edge", "--timeout", "2"], mistake);
        let mut conn = Conn::open(server.addr());
        conn.send(b"GET /hello.txt HTTP/1.1\r\nHost: lab\r\n\r\n");
        assert_eq!(conn.read_response().status, 200, "{mistake:?}: warm-up");
        // Stopped for real (kill returns before the process stops), so that no read happens
        // while the request arrives; then the whole request in its receive queue, so that no
        // later segment makes a second edge.
        server.signal(Signal::SIGSTOP);
        assert!(
            lab::wait_until_stopped(server.pid(), Duration::from_secs(5)),
            "{mistake:?}: the server did not stop within 5 s of SIGSTOP"
        );
        let mut writer = conn.stream().try_clone().expect("clone the client socket");
        let burst = request.clone();
        let sender = thread::spawn(move || writer.write_all(&burst));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !sender.is_finished() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        let undelivered = match sender.is_finished() {
            true => lab::wait_until_delivered(conn.stream(), Duration::from_secs(5)),
            false => lab::unacknowledged_bytes(conn.stream()).max(1),
        };
        println!("{mistake:?}: bytes not yet in the server's receive queue: {undelivered}");
        assert_eq!(
            undelivered, 0,
            "{mistake:?}: the request did not fit in the stopped server's receive window"
        );
        server.signal(Signal::SIGCONT);
        let answered = answered_within(conn.stream(), Duration::from_secs(1));
        println!("{mistake:?}: answered within 1 s: {answered}");
        sender
            .join()
            .expect("writer thread")
            .expect("sending the request");
        let resp = conn.read_response();
        if mistake.is_some() {
            assert!(
                !answered,
                "with the mistake, the 90 KiB echo was answered within 1 s: {resp}"
            );
            // What finally comes is the idle timeout's answer, not the echo.
            assert_eq!(resp.status, 408, "with the mistake: {resp}");
        } else {
            assert!(answered, "without the mistake, no answer within 1 s");
            assert_eq!(resp.status, 200, "without the mistake: {resp}");
            assert!(resp.body == body, "echoed body differs");
        }
    }
}

/// Pipelined requests sent in small pieces on a few connections at once, against
/// `--pattern reactor --workers 2`; returns the server's stderr after a clean exit.
fn reactor_round(mistake: Option<&str>) -> String {
    let mut server = start(&["--pattern", "reactor", "--workers", "2"], mistake);
    let addr = server.addr();
    let clients: Vec<_> = (0..4)
        .map(|c| {
            thread::spawn(move || {
                let mut conn = Conn::open(addr);
                let sizes: Vec<usize> = (0..20).map(|i| 1 + c * 100 + i).collect();
                let all: String = sizes
                    .iter()
                    .map(|n| format!("GET /bytes/{n} HTTP/1.1\r\nHost: lab\r\n\r\n"))
                    .collect();
                for piece in all.as_bytes().chunks(200) {
                    conn.send(piece);
                    thread::sleep(Duration::from_millis(1));
                }
                // With or without the mistake, every answer comes, complete and in order (the
                // connection's lock makes the second worker wait); what differs is the race.
                for &n in &sizes {
                    let resp = conn.read_response();
                    assert_eq!(resp.status, 200, "{resp}");
                    assert_eq!(resp.body.len(), n, "answers out of order");
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("a client thread failed");
    }
    let status = server.stop();
    assert!(status.success(), "exit status {status:?}");
    server.stderr_text()
}

/// Lab `no-oneshot`: without `EPOLLONESHOT`, a socket a worker is handling is reported again
/// and a second worker gets it; the server notices and says `race: …`. The race depends on
/// timing, so the mistake gets a few rounds to show it; with `EPOLLONESHOT` it must never
/// appear, in as many rounds.
#[test]
fn lab_no_oneshot() {
    const ROUNDS: usize = 4;
    let seen = (1..=ROUNDS).find(|_| reactor_round(Some("no-oneshot")).contains("race:"));
    println!("with the mistake: race seen in round {seen:?}");
    assert!(
        seen.is_some(),
        "with the mistake: no `race:` line in {ROUNDS} rounds (no second worker got a socket)"
    );
    for round in 0..ROUNDS {
        let stderr = reactor_round(None);
        assert!(
            !stderr.contains("race:"),
            "without the mistake, round {round}: a race was reported:\n{stderr}"
        );
    }
}

/// Lab `accept-emfile-spin`: `RLIMIT_NOFILE` 40 and 60 clients. `accept` fails with `EMFILE`
/// and the connections stay in the backlog, so the level-triggered listener stays ready. Without
/// the back-off the loop is woken for it again at once, forever: a core at 100 %. With it, the
/// server sleeps between tries.
#[test]
fn lab_accept_emfile_spin() {
    lab::raise_nofile_limit();
    for mistake in [Some("accept-emfile-spin"), None] {
        let mut cmd = std::process::Command::new(BIN);
        if let Some(name) = mistake {
            cmd.args(["--mistake", name]);
        }
        lab::limit_open_files(&mut cmd, 40);
        let mut server = Server::start_command(cmd);
        let crowd: Vec<TcpStream> = (0..60)
            .map(|_| TcpStream::connect(server.addr()).expect("connect (kernel backlog)"))
            .collect();
        thread::sleep(Duration::from_millis(300));
        let cpu = cpu_percent_over(server.pid(), Duration::from_secs(1));
        println!("{mistake:?}: {cpu} % CPU at EMFILE");
        if mistake.is_some() {
            // A spin takes all the CPU it is given: 100 % on an idle machine, less on a busy
            // one; 40 % leaves room for a shared machine.
            assert!(cpu >= 40, "with the mistake: only {cpu} % CPU at EMFILE");
        } else {
            assert!(cpu < 20, "without the mistake: {cpu} % CPU at EMFILE");
        }
        drop(crowd);
        let status = server.stop();
        assert!(status.success(), "{mistake:?}: exit status {status:?}");
    }
}
