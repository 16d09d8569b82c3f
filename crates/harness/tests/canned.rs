//! `harness load` against tiny in-test servers that misbehave on purpose: every error kind must
//! be counted as that kind, and excluded from the request count.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

use common::load_json;

/// Serve each connection on its own thread with `answer`, which gets the stream after each
/// complete request head and returns whether to keep the connection.
fn canned(answer: fn(&mut TcpStream, usize) -> bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut head = Vec::new();
                let mut served = 0;
                loop {
                    let n = match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    head.extend_from_slice(&buf[..n]);
                    while let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                        head.drain(..end + 4);
                        if !answer(&mut stream, served) {
                            return;
                        }
                        served += 1;
                    }
                }
            });
        }
    });
    format!("http://{addr}/")
}

/// Write `bytes` in 3-byte pieces, so the client sees responses split at odd places.
fn dribble(stream: &mut TcpStream, bytes: &[u8]) -> bool {
    stream.set_nodelay(true).expect("nodelay");
    for piece in bytes.chunks(3) {
        if stream.write_all(piece).is_err() {
            return false;
        }
    }
    true
}

fn errors_except(report: &serde_json::Value, kind: &str) -> u64 {
    report["errors"]
        .as_object()
        .expect("errors")
        .iter()
        .filter(|(k, _)| *k != kind)
        .map(|(_, v)| v.as_u64().expect("count"))
        .sum()
}

#[test]
fn split_content_length_and_chunked_responses_all_count() {
    let url = canned(|s, i| {
        if i % 2 == 0 {
            dribble(
                s,
                b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world",
            )
        } else {
            dribble(
                s,
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            )
        }
    });
    let report = load_json(&["-c", "3", "-n", "120", &url]);
    assert_eq!(report["requests"], 120, "{report}");
    assert_eq!(report["body_bytes"], 120 * 11);
    assert_eq!(errors_except(&report, ""), 0);
    assert_eq!(report["connections"], 3);
}

#[test]
fn non_2xx_responses_are_errors_not_requests() {
    let url = canned(|s, _| dribble(s, b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno!"));
    let report = load_json(&["-c", "2", "-n", "40", &url]);
    assert_eq!(report["requests"], 0);
    assert_eq!(report["errors"]["non_2xx"], 40, "{report}");
    assert_eq!(report["status_codes"]["404"], 40);
    assert_eq!(errors_except(&report, "non_2xx"), 0);
}

#[test]
fn a_body_cut_short_is_a_short_body() {
    let url = canned(|s, _| {
        dribble(
            s,
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b",
        );
        false // close the connection mid-body
    });
    let report = load_json(&["-c", "2", "-n", "20", &url]);
    assert_eq!(report["requests"], 0);
    assert_eq!(report["errors"]["short_body"], 20, "{report}");
    assert_eq!(errors_except(&report, "short_body"), 0);
}

#[test]
fn a_reset_before_the_response_is_a_reset() {
    let url = canned(|s, _| {
        // SO_LINGER {on, 0}: close sends RST instead of FIN.
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: `linger` is a valid struct of the size passed; the fd is open.
        let rc = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0);
        false
    });
    let report = load_json(&["-c", "2", "-n", "20", &url]);
    assert_eq!(report["requests"], 0);
    assert_eq!(report["errors"]["reset"], 20, "{report}");
    assert_eq!(errors_except(&report, "reset"), 0);
}

#[test]
fn a_server_that_never_answers_times_out() {
    let url = canned(|_, _| {
        std::thread::sleep(Duration::from_secs(5));
        false
    });
    let report = load_json(&["-c", "2", "-n", "2", "--timeout", "0.3", &url]);
    assert_eq!(report["requests"], 0);
    assert_eq!(report["errors"]["timeout"], 2, "{report}");
    assert_eq!(errors_except(&report, "timeout"), 0);
}

#[test]
fn garbage_is_a_parse_error() {
    let url = canned(|s, _| dribble(s, b"SSH-2.0-OpenSSH_9.2\r\n\r\n"));
    let report = load_json(&["-c", "1", "-n", "5", &url]);
    assert_eq!(report["errors"]["parse"], 5, "{report}");
    assert_eq!(errors_except(&report, "parse"), 0);
}

#[test]
fn nobody_listening_is_a_connect_error() {
    // Bind a port, then free it: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let report = load_json(&["-c", "1", "-n", "3", &format!("http://127.0.0.1:{port}/")]);
    assert_eq!(report["errors"]["connect"], 3, "{report}");
    assert_eq!(report["requests"], 0);
}

#[test]
fn open_loop_rate_is_kept() {
    let url = canned(|s, _| dribble(s, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    let report = load_json(&["-c", "4", "-R", "200", "-t", "1", &url]);
    let n = report["requests"].as_u64().expect("requests");
    // 200 requests/s for one second, staggered start: allow scheduling slack but not a
    // closed-loop flood (which would be thousands).
    assert!(
        (150..=210).contains(&n),
        "{n} requests at -R 200 for 1 s: {report}"
    );
}

#[test]
fn human_output_looks_like_wrk_plus_status_codes() {
    let url = canned(|s, _| dribble(s, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    let out = std::process::Command::new(common::HARNESS)
        .args(["load", "-c", "2", "-n", "50", &url])
        .output()
        .expect("run harness load");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "Running",
        "Latency",
        "50 requests in",
        "Status codes:",
        "200  50",
        "Requests/sec:",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}
