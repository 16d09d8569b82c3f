//! Tests of the suite's own machinery, without a real server: `Server` against small shell
//! scripts that pretend to be one, and `client::Conn` against canned bytes on a local socket.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::thread;
use std::time::Duration;

use conformance::Server;
use conformance::client::{self, Conn};

/// A "server" that runs `script` under `sh` (the suite's `--addr … --root …` become `$1…`).
fn fake(script: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script, "fake-server"]);
    cmd
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn start_reads_the_announce_line_and_passes_addr_and_root() {
    let mut server = Server::start_command(fake(
        "echo \"args: $*\" >&2; echo listening on http://127.0.0.1:4242; exec sleep 30",
    ));
    assert_eq!(server.addr(), SocketAddr::from(([127, 0, 0, 1], 4242)));
    assert!(server.root().join("big.bin").is_file(), "fixtures laid out");
    thread::sleep(Duration::from_millis(50));
    let expected = format!(
        "args: --addr 127.0.0.1:0 --root {}",
        server.root().display()
    );
    assert!(
        server.stderr_text().contains(&expected),
        "stderr: {}",
        server.stderr_text()
    );
    let status = server.stop();
    assert_eq!(
        status.signal(),
        Some(libc_sigterm()),
        "stop() sends SIGTERM"
    );
}

#[test]
fn start_fails_with_the_servers_stderr_when_it_exits() {
    let result = std::panic::catch_unwind(|| {
        Server::start_command(fake("echo 'error: cannot bind' >&2; exit 1"))
    });
    let text = panic_text(result.expect_err("a server that exits must fail the start"));
    assert!(text.contains("did not start"), "{text}");
    assert!(text.contains("error: cannot bind"), "{text}");
}

#[test]
fn start_rejects_a_wrong_announce_line() {
    let result = std::panic::catch_unwind(|| {
        Server::start_command(fake("echo 'Listening on 127.0.0.1:80'; exec sleep 30"))
    });
    let text = panic_text(result.expect_err("a wrong announce line must fail the start"));
    assert!(text.contains("listening on http://HOST:PORT"), "{text}");
}

#[test]
fn drop_kills_the_server() {
    let server = Server::start_command(fake("echo listening on http://127.0.0.1:1; exec sleep 30"));
    let pid = server.pid();
    drop(server);
    // The process is gone (reaped, so not even a zombie is left).
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "process {pid} still exists after drop"
    );
}

fn libc_sigterm() -> i32 {
    nix::sys::signal::Signal::SIGTERM as i32
}

/// Serve `canned` to the first client after reading its request head, then close.
fn canned_server(canned: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local_addr");
    thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match stream.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => return,
                }
            }
            // Dribble the canned bytes to exercise the incremental parsing.
            for piece in canned.chunks(7) {
                if stream.write_all(piece).is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(1));
            }
        }
    });
    addr
}

#[test]
fn conn_reads_length_chunked_and_close_delimited_responses_in_order() {
    let addr = canned_server(
        b"HTTP/1.1 100 Continue\r\n\r\n\
          HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello\
          HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nabc\r\n0\r\nT: 1\r\n\r\n\
          HTTP/1.1 204 No Content\r\n\r\n\
          HTTP/1.0 200 OK\r\n\r\nuntil close",
    );
    let mut conn = Conn::open(addr);
    conn.send(b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(conn.read_response().status, 100);
    let r = conn.read_response();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
    let r = conn.read_response();
    assert_eq!(r.body, b"abc");
    assert_eq!(conn.read_response().status, 204);
    let r = conn.read_response();
    assert_eq!(
        (r.version.as_str(), r.body.as_slice()),
        ("HTTP/1.0", &b"until close"[..])
    );
    assert!(conn.is_closed());
}

#[test]
fn conn_reports_extra_bytes_instead_of_a_close() {
    let addr = canned_server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA");
    let mut conn = Conn::open(addr);
    conn.send(b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(conn.read_response().body, b"ok");
    let err = conn
        .wait_closed(Duration::from_secs(2))
        .expect_err("bytes after the response are not a close");
    assert!(err.contains("more bytes arrived"), "{err}");
}

#[test]
fn conn_failure_message_has_the_transcript() {
    let addr = canned_server(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
    let result = std::panic::catch_unwind(move || {
        let mut conn = Conn::open(addr);
        conn.send(b"GET /transcript HTTP/1.1\r\n\r\n");
        conn.read_response()
    });
    let text = panic_text(result.expect_err("a truncated body must fail"));
    assert!(text.contains("closed after 5 of 10 body bytes"), "{text}");
    assert!(text.contains("GET /transcript HTTP/1.1"), "{text}");
    assert!(text.contains("Content-Length: 10"), "{text}");
}

#[test]
fn get_sends_a_closing_request() {
    assert_eq!(
        client::get_request("/x"),
        "GET /x HTTP/1.1\r\nHost: conformance\r\nConnection: close\r\n\r\n"
    );
}

#[test]
fn checks_table_lists_every_check_once() {
    let names: Vec<&str> = conformance::CHECKS.iter().map(|(n, _)| *n).collect();
    assert!(names.len() >= 40, "{names:?}");
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len(), "duplicate check names");
    assert!(names.contains(&"sigterm_lets_download_finish"));
}

#[test]
fn stop_after_exit_returns_the_same_status() {
    let mut server = Server::start_command(fake("echo listening on http://127.0.0.1:1; exit 7"));
    let first = server
        .wait_exit(Duration::from_secs(5))
        .expect("the fake server exits by itself");
    assert_eq!(first.code(), Some(7));
    assert_eq!(server.stop().code(), Some(7));
}
