//! Starting the server under test as a child process, and stopping it.
//!
//! [`Server::start`] spawns `bin args… --addr 127.0.0.1:0 --root <tmp>`, waits (at most
//! [`ANNOUNCE_TIMEOUT`]) for the one announce line `listening on http://HOST:PORT`, and keeps
//! reading the child's stdout and stderr into buffers on two small threads (so the server never
//! blocks or fails writing to them). If the check panics, dropping the [`Server`] prints that
//! stderr; dropping it always kills and reaps the process, so no test leaves one behind.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::fixtures::Fixtures;

/// How long a server may take to print its announce line.
pub const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`Server::stop`] waits after SIGTERM before it kills the server and fails.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A running server (killed and reaped on drop).
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    /// The exit status, once reaped.
    exited: Option<ExitStatus>,
    pid: u32,
    addr: SocketAddr,
    root: PathBuf,
    command_line: String,
    stderr: Arc<Mutex<Vec<u8>>>,
    stdout: Arc<Mutex<Vec<u8>>>,
    /// The thread copying stderr into `stderr` (finished once the pipe closes).
    stderr_reader: Option<thread::JoinHandle<()>>,
    // Kept last so the directory outlives the process that serves it.
    _fixtures: Option<Fixtures>,
}

impl Server {
    /// Start `bin args… --addr 127.0.0.1:0 --root <fresh fixtures>`.
    pub fn start(bin: impl AsRef<Path>, args: &[&str]) -> Server {
        let mut cmd = Command::new(bin.as_ref());
        cmd.args(args);
        Server::start_command(cmd)
    }

    /// Start `cmd --addr 127.0.0.1:0 --root <fresh fixtures>`; the caller may have set
    /// arguments, environment or a `pre_exec` hook (e.g. rlimits) on `cmd`.
    pub fn start_command(cmd: Command) -> Server {
        let fixtures = match Fixtures::create() {
            Ok(fixtures) => fixtures,
            Err(err) => panic!("cannot create the fixture document root: {err}"),
        };
        let root = fixtures.root().to_path_buf();
        Server::spawn(cmd, root, Some(fixtures))
    }

    /// Start `cmd --addr 127.0.0.1:0 --root <root>` with a document root of the caller's.
    pub fn start_command_with_root(cmd: Command, root: &Path) -> Server {
        Server::spawn(cmd, root.to_path_buf(), None)
    }

    fn spawn(mut cmd: Command, root: PathBuf, fixtures: Option<Fixtures>) -> Server {
        cmd.arg("--addr")
            .arg("127.0.0.1:0")
            .arg("--root")
            .arg(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let command_line = format!("{cmd:?}");
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(err) => panic!("cannot start {command_line}: {err}"),
        };
        let pid = child.id();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr_reader = child.stderr.take().map(|pipe| {
            let sink = Arc::clone(&stderr);
            thread::spawn(move || drain_into(pipe, &sink))
        });
        let (line_tx, line_rx) = mpsc::channel::<String>();
        if let Some(pipe) = child.stdout.take() {
            let sink = Arc::clone(&stdout);
            thread::spawn(move || {
                let mut reader = BufReader::new(pipe);
                let mut first = String::new();
                // The first line is the announce line; EOF before it drops the sender.
                if matches!(reader.read_line(&mut first), Ok(n) if n > 0) {
                    let _ = line_tx.send(first);
                    drain_into(reader, &sink);
                }
            });
        }
        let mut server = Server {
            child: Some(child),
            exited: None,
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            root,
            command_line,
            stderr,
            stdout,
            stderr_reader,
            _fixtures: fixtures,
        };
        match line_rx.recv_timeout(ANNOUNCE_TIMEOUT) {
            Ok(line) => match parse_announce(&line) {
                Some(addr) => server.addr = addr,
                None => server.fail_start(&format!(
                    "first stdout line is {line:?}, expected `listening on http://HOST:PORT`"
                )),
            },
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                server.fail_start("stdout closed before the announce line (did it exit?)")
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                server.fail_start(&format!("no announce line within {ANNOUNCE_TIMEOUT:?}"))
            }
        }
        server
    }

    fn fail_start(&mut self, why: &str) -> ! {
        let status = self.kill_and_reap();
        panic!(
            "server did not start: {why}\ncommand: {}\nexit: {status:?}\nstderr:\n{}",
            self.command_line,
            self.stderr_text()
        );
    }

    /// The address the server announced.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The document root it serves.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr_text(&self) -> String {
        let bytes = self.stderr.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Everything the server wrote to stdout after the announce line.
    pub fn stdout_text(&self) -> String {
        let bytes = self.stdout.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Send `signal` to the server (no-op once it has been reaped).
    pub fn signal(&self, signal: Signal) {
        if self.child.is_some() {
            let pid = Pid::from_raw(self.pid as i32);
            if let Err(err) = kill(pid, signal) {
                panic!("kill({}, {signal}) failed: {err}", self.pid);
            }
        }
    }

    /// Wait up to `limit` for the server to exit; `None` if it is still running. Once it has
    /// exited, every call returns the same status.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            let Some(child) = self.child.as_mut() else {
                return self.exited;
            };
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.child = None;
                    self.exited = Some(status);
                    self.collect_stderr();
                    return Some(status);
                }
                Ok(None) if start.elapsed() < limit => thread::sleep(Duration::from_millis(10)),
                Ok(None) => return None,
                Err(err) => panic!("waitpid({}) failed: {err}", self.pid),
            }
        }
    }

    /// SIGTERM, then wait up to [`STOP_TIMEOUT`] for the exit status. A server that does not
    /// exit by then is killed and the check fails.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal(Signal::SIGTERM);
        match self.wait_exit(STOP_TIMEOUT) {
            Some(status) => status,
            None => {
                self.kill_and_reap();
                panic!(
                    "server did not exit within {STOP_TIMEOUT:?} of SIGTERM\nstderr:\n{}",
                    self.stderr_text()
                );
            }
        }
    }

    /// After the exit: wait (briefly) until everything the server wrote to stderr is collected.
    fn collect_stderr(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(1);
        if let Some(reader) = self.stderr_reader.take() {
            // A grandchild could keep the pipe open; never wait for it for long.
            while !reader.is_finished() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
            if reader.is_finished() {
                let _ = reader.join();
            }
        }
    }

    /// SIGKILL and reap, returning the exit status if there was a process.
    fn kill_and_reap(&mut self) -> Option<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            return self.exited;
        };
        let _ = child.kill();
        self.exited = child.wait().ok();
        self.collect_stderr();
        self.exited
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill_and_reap();
        if thread::panicking() {
            eprintln!(
                "--- server: {}\n--- its stderr:\n{}--- end of server stderr",
                self.command_line,
                self.stderr_text()
            );
        }
    }
}

/// Parse `listening on http://HOST:PORT` (with its line end).
pub fn parse_announce(line: &str) -> Option<SocketAddr> {
    let rest = line.trim_end_matches(['\r', '\n']);
    rest.strip_prefix("listening on http://")?.parse().ok()
}

fn drain_into(mut pipe: impl Read, sink: &Mutex<Vec<u8>>) {
    let mut buf = [0u8; 4096];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if let Ok(mut sink) = sink.lock() {
                    // Bounded: a server that logs without end must not eat the test's memory.
                    if sink.len() < 1 << 20 {
                        sink.extend_from_slice(&buf[..n]);
                    }
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announce_line_is_parsed_exactly() {
        assert_eq!(
            parse_announce("listening on http://127.0.0.1:4242\n"),
            Some(SocketAddr::from(([127, 0, 0, 1], 4242)))
        );
        assert_eq!(parse_announce("listening on 127.0.0.1:4242\n"), None);
        assert_eq!(parse_announce("Listening on http://127.0.0.1:1\n"), None);
        assert_eq!(
            parse_announce("listening on http://127.0.0.1:4242/\n"),
            None
        );
    }
}
