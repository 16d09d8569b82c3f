//! Helpers shared by the harness's integration tests.
//!
//! Finding `server-blocking`: Cargo exposes `CARGO_BIN_EXE_<name>` only for binaries of the
//! package under test, and a dependency's binaries are never built for it. So the tests build
//! the server themselves with `$CARGO build -p server-blocking` (same profile as this test; a
//! no-op when it is up to date — Cargo releases the build lock before it runs tests) and take
//! the binary from the profile directory that holds this test executable
//! (`target/<profile>/deps/<test>` → `target/<profile>/server-blocking`).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The harness binary under test.
pub const HARNESS: &str = env!("CARGO_BIN_EXE_harness");

/// `target/<profile>/`, the directory holding this package's binaries.
pub fn profile_dir() -> PathBuf {
    PathBuf::from(HARNESS)
        .parent()
        .expect("harness binary has a parent directory")
        .to_path_buf()
}

/// Path of an up-to-date `server-blocking` binary (built on first use).
pub fn server_blocking() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut command = Command::new(cargo);
            command.args(["build", "--quiet", "-p", "server-blocking"]);
            if profile_dir().file_name().is_some_and(|n| n == "release") {
                command.arg("--release");
            }
            let status = command
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("run cargo build -p server-blocking");
            assert!(status.success(), "cargo build -p server-blocking failed");
            let bin = profile_dir().join("server-blocking");
            assert!(bin.is_file(), "{} missing after the build", bin.display());
            bin
        })
        .clone()
}

/// A server we started; SIGKILLed on drop if still running.
pub struct ServerProcess {
    pub child: Child,
    pub addr: SocketAddr,
}

impl ServerProcess {
    /// Start `bin --addr 127.0.0.1:0 --root root` and wait for its announce line.
    pub fn start(bin: &std::path::Path, root: &std::path::Path) -> ServerProcess {
        let mut child = Command::new(bin)
            .args(["--addr", "127.0.0.1:0", "--root"])
            .arg(root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start server");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read announce line");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected announce line {line:?}"));
        ServerProcess { child, addr }
    }

    /// SIGTERM, wait (bounded), and return everything it printed on stderr.
    pub fn stop(mut self) -> String {
        let pid = i32::try_from(self.child.id()).expect("pid fits");
        // SAFETY: plain kill(2) of the single process we started.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().expect("try_wait").is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            if self.child.try_wait().expect("try_wait").is_some() {
                pipe.read_to_string(&mut stderr).expect("read stderr");
            }
        }
        stderr
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Run `harness load ... --json` and parse its report.
pub fn load_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(HARNESS)
        .arg("load")
        .args(args)
        .arg("--json")
        .output()
        .expect("run harness load");
    assert!(
        out.status.success(),
        "harness load {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("harness load --json prints JSON")
}

/// `served N requests on M connections` → (N, M).
pub fn served(stderr: &str) -> (u64, u64) {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("served "))
        .unwrap_or_else(|| panic!("no 'served' line in server stderr: {stderr:?}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    (
        words[1].parse().expect("request count"),
        words[4].parse().expect("connection count"),
    )
}

/// Every `.rs` file under `dir`, recursively (for the tests that read the sources themselves).
pub fn rust_sources(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable source dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}
