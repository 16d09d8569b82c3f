//! Whether this machine lets `server-uring` run at all, decided once per test binary.
//!
//! The binary exits with status 2 and `error: io_uring unavailable: …` when the kernel refuses
//! io_uring (a seccomp sandbox, `kernel.io_uring_disabled`, an old kernel). A test that cannot run
//! must not pass silently: every test calls [`skip_without_uring`] first, which
//!
//! * returns `false` when io_uring works (the test runs);
//! * panics (the test fails, saying why) when it does not — unless the environment variable
//!   `IO_MODELS_ALLOW_NO_URING=1` is set, in which case it prints `SKIPPED: io_uring
//!   unavailable: …` and returns `true` (the caller returns early).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// The server binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_server-uring");

/// The environment variable that turns "io_uring unavailable" from a failure into a skip.
pub const ALLOW_NO_URING: &str = "IO_MODELS_ALLOW_NO_URING";

/// `Ok(())` if the server starts; `Err(line)` with its `io_uring unavailable` line if not.
pub fn uring_availability() -> &'static Result<(), String> {
    static AVAILABILITY: OnceLock<Result<(), String>> = OnceLock::new();
    AVAILABILITY.get_or_init(probe_binary)
}

/// See the module doc. Use as `if common::skip_without_uring() { return; }`.
pub fn skip_without_uring() -> bool {
    match uring_availability() {
        Ok(()) => false,
        Err(line) if std::env::var(ALLOW_NO_URING).is_ok_and(|v| v == "1") => {
            eprintln!("SKIPPED: {line}");
            true
        }
        Err(line) => panic!(
            "server-uring cannot run here ({line}); this is a failure, not a pass. \
             Set {ALLOW_NO_URING}=1 to report these tests as skipped instead."
        ),
    }
}

/// Start the binary once on a free port; it either announces itself (io_uring works) or exits
/// 2 with the unavailable line.
fn probe_binary() -> Result<(), String> {
    let mut child = Command::new(BIN)
        .args([
            "--addr",
            "127.0.0.1:0",
            "--root",
            env!("CARGO_MANIFEST_DIR"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server-uring");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let first_line = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
    if first_line.starts_with("listening on ") {
        // Our own child, ended by its handle (SIGKILL to this PID) and reaped.
        let _ = child.kill();
        let _ = child.wait();
        return Ok(());
    }
    let _ = child.kill();
    let status = child.wait().expect("reap server-uring");
    let mut stderr = String::new();
    if let Some(pipe) = child.stderr.take() {
        let _ = BufReader::new(pipe).read_line(&mut stderr);
    }
    let stderr = stderr.trim().to_string();
    if status.code() == Some(2) && stderr.starts_with("error: io_uring unavailable: ") {
        return Err(stderr.trim_start_matches("error: ").to_string());
    }
    panic!("server-uring neither started nor reported io_uring unavailable: {status:?}: {stderr}");
}
