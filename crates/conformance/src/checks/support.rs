//! What the checks share: request builders, assertions that print the transcript, socket
//! options, process helpers.

pub(super) use std::net::{SocketAddr, TcpStream};
pub(super) use std::sync::Arc;
pub(super) use std::sync::atomic::{AtomicBool, Ordering};
pub(super) use std::thread;
pub(super) use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub(super) use nix::sys::signal::Signal;

pub(super) use crate::client::{self, Conn, Response, escape};
pub(super) use crate::fixtures::{
    self, BIG_BIN_LEN, DIR_INDEX_HTML, FILES, HELLO_TXT, INDEX_HTML, SECRET,
};
pub(super) use crate::{Server, Target};

/// The `Host` every request sends.
pub(super) const HOST: &str = "conformance";
/// The shutdown grace of every server (`server_common::shutdown::GRACE`).
pub(super) const GRACE: Duration = Duration::from_secs(5);

/// `GET path` with `Connection: close`.
pub(super) fn get(path: &str) -> String {
    client::get_request(path)
}

/// `METHOD path HTTP/1.1` that keeps the connection open.
pub(super) fn keepalive(method: &str, path: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n")
}

/// 200, the exact body, the media type and the common headers.
#[track_caller]
pub(super) fn expect_file(conn: &Conn, resp: &Response, content: &[u8], media: &str) {
    conn.expect_status(resp, 200);
    expect_common_headers(conn, resp, false);
    expect_body(conn, resp, content, "the file");
    conn.check(
        resp.media_type().as_deref() == Some(media),
        &format!("Content-Type is {media}"),
        resp,
    );
}

/// The body is exactly `expected` (the message names the first differing byte).
#[track_caller]
pub(super) fn expect_body(conn: &Conn, resp: &Response, expected: &[u8], what: &str) {
    if resp.body == expected {
        return;
    }
    let first = resp
        .body
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(resp.body.len().min(expected.len()));
    conn.fail(&format!(
        "{what}: body differs from the expected {} bytes (got {}, first difference at byte \
         {first}; expected there: {})\n--- parsed response:\n{resp}",
        expected.len(),
        resp.body.len(),
        escape(&expected[first.min(expected.len())..], 60),
    ));
}

/// `Date` (a current IMF-fixdate), `Server`, `Content-Type`, and `Content-Length` matching the
/// body (unless `head_only`).
#[track_caller]
pub(super) fn expect_common_headers(conn: &Conn, resp: &Response, head_only: bool) {
    let date = resp.header("date").unwrap_or("");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    conn.check(
        parse_imf_fixdate(date).is_some_and(|t| t.abs_diff(now) < 3600),
        &format!("Date {date:?} is the current time as an IMF-fixdate"),
        resp,
    );
    conn.check(
        resp.header("server").is_some_and(|s| !s.trim().is_empty()),
        "a Server header",
        resp,
    );
    conn.check(
        resp.header("content-type").is_some(),
        "a Content-Type header",
        resp,
    );
    conn.check(
        resp.headers_named("content-length").len() == 1 && resp.content_length().is_some(),
        "exactly one numeric Content-Length header",
        resp,
    );
    if !head_only {
        conn.check(
            resp.content_length() == Some(resp.body.len() as u64),
            "Content-Length matches the body",
            resp,
        );
    }
}

/// A path that escapes the root: 403 or 404, and the secret never shows up.
#[track_caller]
pub(super) fn expect_not_served(conn: &Conn, resp: &Response) {
    conn.check(
        matches!(resp.status, 403 | 404),
        "a path escaping the root is 403 or 404",
        resp,
    );
    conn.check(
        !contains(&resp.body, SECRET.trim_end().as_bytes()),
        "the file outside the root is not served",
        resp,
    );
    expect_common_headers(
        conn,
        resp,
        resp.body.is_empty() && resp.content_length() != Some(0),
    );
}

pub(super) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// One slowloris client: a request line, then one header byte every 200 ms until `stop`.
pub(super) fn slowloris(addr: SocketAddr, i: usize, stop: &AtomicBool) {
    let Ok(mut conn) = Conn::try_open(addr) else {
        return;
    };
    if conn.try_send(b"GET /hello.txt HTTP/1.1\r\n").is_err() {
        return;
    }
    let header = format!("X-Slowloris-{i}: {}", "z".repeat(64));
    for byte in header.as_bytes().iter().cycle().take(40) {
        if stop.load(Ordering::Acquire) || conn.try_send(std::slice::from_ref(byte)).is_err() {
            return;
        }
        thread::sleep(Duration::from_millis(200));
    }
}

/// Shrink the socket's receive buffer, so the server's writes block (or return `EAGAIN`) early.
#[track_caller]
pub(super) fn set_recv_buffer(conn: &Conn, bytes: usize) {
    use nix::sys::socket::{setsockopt, sockopt};
    if let Err(err) = setsockopt(conn.stream(), sockopt::RcvBuf, &bytes) {
        conn.fail(&format!("setsockopt(SO_RCVBUF) failed: {err}"));
    }
}

/// `SO_LINGER` with a zero timeout: closing the socket sends RST instead of FIN.
#[track_caller]
pub(super) fn reset_on_close(conn: &Conn) {
    use nix::sys::socket::{setsockopt, sockopt};
    let linger = nix::libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    if let Err(err) = setsockopt(conn.stream(), sockopt::Linger, &linger) {
        conn.fail(&format!("setsockopt(SO_LINGER) failed: {err}"));
    }
}

/// Resident memory of process `pid` in KiB (`VmRSS` of `/proc/<pid>/status`).
pub(super) fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Run `cmd` until it exits (killed after `limit`): exit status (None if killed), stdout, stderr.
pub(super) fn run_to_exit(
    mut cmd: std::process::Command,
    limit: Duration,
) -> (Option<std::process::ExitStatus>, String, String) {
    use std::io::Read;
    use std::process::Stdio;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(err) => panic!("cannot start {cmd:?}: {err}"),
    };
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() < limit => thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stdout.take() {
        let _ = pipe.read_to_string(&mut stdout);
    }
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    (status, stdout, stderr)
}

pub(super) use crate::lab::{limit_open_files, raise_nofile_limit};

/// Seconds since the epoch of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), checking the
/// weekday too; `None` if it is not one.
pub fn parse_imf_fixdate(s: &str) -> Option<u64> {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    if s.len() != 29 || !s.is_ascii() {
        return None;
    }
    let field = |range: std::ops::Range<usize>| s.get(range);
    let number = |range: std::ops::Range<usize>| -> Option<u64> {
        let text = s.get(range)?;
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok()
    };
    if field(3..5)? != ", " || field(7..8)? != " " || field(11..12)? != " " {
        return None;
    }
    if field(16..17)? != " " || field(19..20)? != ":" || field(22..23)? != ":" {
        return None;
    }
    if field(25..29)? != " GMT" {
        return None;
    }
    let day = number(5..7)?;
    let month = MONTHS.iter().position(|m| Some(*m) == field(8..11))? as u64 + 1;
    let year = number(12..16)?;
    let (hour, minute, second) = (number(17..19)?, number(20..22)?, number(23..25)?);
    if !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 || year < 1970 {
        return None;
    }
    // Days from 1970-01-01 to the date (the civil-from-days algorithm, run backwards).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    if DAYS[(days % 7) as usize] != field(0..3)? {
        return None;
    }
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imf_fixdate_is_parsed_and_weekday_checked() {
        assert_eq!(
            parse_imf_fixdate("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_imf_fixdate("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_imf_fixdate("Thu, 29 Feb 2024 12:00:00 GMT"),
            Some(1_709_208_000)
        );
        // Wrong weekday, RFC 850 form, asctime form, garbage.
        assert_eq!(parse_imf_fixdate("Mon, 06 Nov 1994 08:49:37 GMT"), None);
        assert_eq!(parse_imf_fixdate("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_imf_fixdate("Sun Nov  6 08:49:37 1994"), None);
        assert_eq!(parse_imf_fixdate("Sun, 06 Nov 1994 08:49:37 UTC"), None);
        assert_eq!(parse_imf_fixdate(""), None);
    }
}
