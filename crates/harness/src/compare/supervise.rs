//! Starting, pinning, watching and stopping the servers under test.
//!
//! Every server is a child of this process, stopped by PID (SIGTERM, then SIGKILL after a bounded
//! wait). Their PIDs sit in [`CHILDREN`] so the interrupt thread can stop them on Ctrl-C.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::matrix::is_work_group;
use super::speed::SpeedProbe;
use crate::results::Scenario;

use tempfile::TempDir;

use super::nginx::{Nginx, free_port, write_nginx_conf};
use crate::sys;

/// Servers started by this process, for the Ctrl-C handler (0 = free slot).
static CHILDREN: [AtomicU32; 4] = [const { AtomicU32::new(0) }; 4];

/// Remember a child so the interrupt thread can stop it.
pub fn register_child(pid: u32) {
    for slot in &CHILDREN {
        if slot
            .compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return;
        }
    }
}

/// Forget a child once it is reaped.
pub fn unregister_child(pid: u32) {
    for slot in &CHILDREN {
        let _ = slot.compare_exchange(pid, 0, Ordering::SeqCst, Ordering::SeqCst);
    }
}

/// Set by the interrupt thread: a signal came, and (later) its servers are stopped.
#[derive(Debug, Default)]
pub struct Interrupt {
    signal: AtomicI32,
    stopped: Mutex<bool>,
    stopped_changed: Condvar,
}

impl Interrupt {
    /// Did SIGINT/SIGTERM arrive?
    pub fn requested(&self) -> bool {
        self.signal.load(Ordering::SeqCst) != 0
    }

    /// After [`Interrupt::requested`]: wait (at most `within`) until the interrupt thread has
    /// stopped the servers, then exit as that thread does. The cell in flight means nothing.
    pub fn wait_and_exit(&self, within: Duration) -> ! {
        let stopped = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        let _ = self
            .stopped_changed
            .wait_timeout_while(stopped, within, |stopped| !*stopped);
        std::process::exit(128 + self.signal.load(Ordering::SeqCst));
    }

    fn mark_stopped(&self) {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.stopped_changed.notify_all();
    }
}

/// On SIGINT/SIGTERM: stop the servers we started (by PID) and exit.
pub fn install_interrupt_handler() -> io::Result<Arc<Interrupt>> {
    let interrupt = Arc::new(Interrupt::default());
    let watcher = Arc::clone(&interrupt);
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])?;
    std::thread::Builder::new()
        .name("interrupt".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                watcher.signal.store(signal, Ordering::SeqCst);
                eprintln!("\ninterrupted: stopping the servers this run started");
                stop_all_children();
                watcher.mark_stopped();
                std::process::exit(128 + signal);
            }
        })?;
    Ok(interrupt)
}

/// SIGTERM every registered child, reap them (bounded), SIGKILL what is left.
fn stop_all_children() {
    for slot in &CHILDREN {
        let pid = slot.load(Ordering::SeqCst);
        if pid != 0 {
            let _ = sys::kill(pid, libc::SIGTERM);
        }
    }
    let deadline = Instant::now() + Duration::from_millis(1500);
    for slot in &CHILDREN {
        let pid = slot.load(Ordering::SeqCst);
        while pid != 0 && Instant::now() < deadline {
            match sys::try_wait4(pid) {
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                _ => break,
            }
        }
        if pid != 0 && matches!(sys::try_wait4(pid), Ok(None)) {
            let _ = sys::kill(pid, libc::SIGKILL);
            let _ = sys::try_wait4(pid);
        }
    }
}

/// How to start a row's server.
#[derive(Debug, Clone)]
pub enum Launcher {
    /// One of the workspace's servers.
    Binary {
        /// Its path.
        bin: PathBuf,
        /// Mode flags and the flags every server gets.
        args: Vec<String>,
        /// Most descriptors it can watch, and why (from the matrix).
        fd_limit: Option<(usize, &'static str)>,
        /// The scenario groups this row takes part in, when not all (from the matrix).
        only_groups: Option<&'static [&'static str]>,
    },
    /// The nginx reference row.
    Nginx,
}

/// What every cell of one run shares.
#[derive(Debug)]
pub struct RunContext {
    /// The document root with the fixtures.
    pub root: PathBuf,
    /// CPUs the servers are pinned to (empty: not pinned).
    pub server_cpus: Vec<usize>,
    /// CPUs the load threads are pinned to, one each in turn (empty: not pinned).
    pub load_cpus: Vec<usize>,
    /// Measured window per cell.
    pub duration: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// nginx, if installed and wanted.
    pub nginx: Option<Nginx>,
    /// The machine-speed probe, measured before each run (None: not running).
    pub probe: Option<SpeedProbe>,
}

/// How one cell starts its server: the CPUs it is pinned to, and whether it answers the work
/// routes.
#[derive(Debug, Clone, Default)]
pub struct CellSetup {
    /// CPUs the server is pinned to (empty: not pinned).
    pub cpus: Vec<usize>,
    /// Pass `--work-routes` (the work groups).
    pub work_routes: bool,
}

impl RunContext {
    /// How the server of a cell of `s` starts. The work groups give it every CPU of the run (the
    /// load generator's too: it needs little at these rates), so that a pool or one loop per
    /// core can use more than one; every other group pins it to the server CPUs.
    pub fn setup_for(&self, s: &Scenario) -> CellSetup {
        if !is_work_group(&s.group) {
            return self.setup();
        }
        let mut cpus: Vec<usize> = self
            .server_cpus
            .iter()
            .chain(&self.load_cpus)
            .copied()
            .collect();
        cpus.sort_unstable();
        cpus.dedup();
        CellSetup {
            cpus,
            work_routes: true,
        }
    }

    /// The usual setup: the server CPUs, no work routes.
    pub fn setup(&self) -> CellSetup {
        CellSetup {
            cpus: self.server_cpus.clone(),
            work_routes: false,
        }
    }
}

/// A server process we started and must stop.
#[derive(Debug)]
pub struct Running {
    /// Its PID (strace's when wrapped).
    pub pid: u32,
    /// Where it listens.
    pub addr: SocketAddr,
    stderr_path: PathBuf,
    _scratch: TempDir,
}

impl Running {
    /// Stop it: SIGTERM, wait (bounded by the servers' grace period), SIGKILL if needed.
    pub fn stop(self) -> (Option<sys::ChildUsage>, String) {
        let _ = sys::kill(self.pid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(7);
        let mut usage = None;
        while Instant::now() < deadline {
            match sys::try_wait4(self.pid) {
                Ok(Some(u)) => {
                    usage = Some(u);
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(_) => break,
            }
        }
        if usage.is_none() {
            let _ = sys::kill(self.pid, libc::SIGKILL);
            for _ in 0..200 {
                if let Ok(Some(u)) = sys::try_wait4(self.pid) {
                    usage = Some(u);
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        unregister_child(self.pid);
        let stderr = fs::read_to_string(&self.stderr_path).unwrap_or_default();
        (usage, stderr)
    }

    /// Still running? (`Some(status)` if it exited.)
    pub fn exited(&self) -> Option<sys::ChildUsage> {
        sys::try_wait4(self.pid).ok().flatten()
    }
}

/// Start a server (optionally under `strace -c -f -o OUT`), pinned to the server CPU, and wait
/// until it listens.
pub fn start_server(
    ctx: &RunContext,
    launcher: &Launcher,
    setup: &CellSetup,
    wrapper: Option<(&Path, &Path)>,
) -> Result<Running, String> {
    let scratch = tempfile::Builder::new()
        .prefix("harness-server")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let stderr_path = scratch.path().join("stderr.log");
    let stderr = File::create(&stderr_path).map_err(|e| e.to_string())?;
    let (mut command, fixed_addr) = server_command(ctx, launcher, wrapper, scratch.path())?;
    if setup.work_routes && matches!(launcher, Launcher::Binary { .. }) {
        command.arg("--work-routes");
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr));
    if !setup.cpus.is_empty() {
        // The CPU set is built here, before fork; the child only passes it to the kernel.
        let set = sys::CpuSet::of(&setup.cpus).map_err(|e| e.to_string())?;
        // SAFETY: the closure runs in the child between fork and exec. It makes one
        // async-signal-safe syscall on a set prepared before fork, and its error is built from
        // the raw errno (`io::Error::last_os_error` does not allocate): no allocation, no locks.
        unsafe {
            command.pre_exec(move || set.apply_to_current_thread());
        }
    }
    let mut child = command.spawn().map_err(|e| format!("cannot start: {e}"))?;
    let pid = child.id();
    register_child(pid);
    let stdout = child.stdout.take();
    // From here on the child is reaped with wait4 (for its rusage), not through `child`.
    drop(child);
    let ready = match fixed_addr {
        None => read_announce(stdout, Duration::from_secs(10)),
        Some(addr) => wait_accepting(pid, addr),
    };
    match ready {
        Ok(addr) => Ok(Running {
            pid,
            addr,
            stderr_path,
            _scratch: scratch,
        }),
        Err(why) => Err(abandon(pid, &stderr_path, why)),
    }
}

/// The command that starts `launcher` (under `strace -c -f -o OUT` when `wrapper` is
/// `(strace, OUT)`), and the address it will listen on when that is fixed in advance (nginx,
/// which prints no announce line; our servers pick a port and announce it).
fn server_command(
    ctx: &RunContext,
    launcher: &Launcher,
    wrapper: Option<(&Path, &Path)>,
    scratch: &Path,
) -> Result<(Command, Option<SocketAddr>), String> {
    let wrapped = |program: &Path| match wrapper {
        Some((strace, out)) => {
            let mut c = Command::new(strace);
            c.arg("-c")
                .arg("-f")
                .arg("-o")
                .arg(out)
                .arg("--")
                .arg(program);
            c
        }
        None => Command::new(program),
    };
    match launcher {
        Launcher::Binary { bin, args, .. } => {
            let mut command = wrapped(bin);
            command
                .args(args)
                .arg("--addr")
                .arg("127.0.0.1:0")
                .arg("--root")
                .arg(&ctx.root);
            Ok((command, None))
        }
        Launcher::Nginx => {
            let nginx = ctx.nginx.as_ref().ok_or("nginx not installed")?;
            let port = free_port().map_err(|e| format!("no free port: {e}"))?;
            let conf = write_nginx_conf(scratch, &ctx.root, port)
                .map_err(|e| format!("nginx config: {e}"))?;
            let mut command = wrapped(&nginx.bin);
            command.arg("-p").arg(scratch).arg("-c").arg(conf);
            Ok((command, Some(SocketAddr::from(([127, 0, 0, 1], port)))))
        }
    }
}

/// nginx prints nothing when ready: wait (at most 10 s) until `addr` accepts connections, or
/// the process `pid` has exited.
fn wait_accepting(pid: u32, addr: SocketAddr) -> Result<SocketAddr, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(addr);
        }
        if Instant::now() > deadline || matches!(sys::try_wait4(pid), Ok(Some(_))) {
            return Err("did not start".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A server that did not come up: kill and reap it (bounded, 1 s), and say why, with the last
/// line it wrote to stderr.
fn abandon(pid: u32, stderr_path: &Path, why: String) -> String {
    let _ = sys::kill(pid, libc::SIGKILL);
    for _ in 0..200 {
        if matches!(sys::try_wait4(pid), Ok(Some(_)) | Err(_)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    unregister_child(pid);
    let stderr = fs::read_to_string(stderr_path).unwrap_or_default();
    let last = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    if last.is_empty() {
        why
    } else {
        format!("{why}: {}", truncate(last, 120))
    }
}

/// Read `listening on http://HOST:PORT` from the server's stdout (on a helper thread, so a
/// server that never prints cannot hang us).
fn read_announce(
    stdout: Option<std::process::ChildStdout>,
    within: Duration,
) -> Result<SocketAddr, String> {
    let stdout = stdout.ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let result = reader.read_line(&mut line).map(|_| line);
        let _ = tx.send(result);
        // Keep draining so the server never blocks on a full pipe.
        let mut sink = [0u8; 4096];
        while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
    });
    let line = match rx.recv_timeout(within) {
        Ok(Ok(line)) => line,
        Ok(Err(e)) => return Err(format!("reading its stdout: {e}")),
        Err(_) => return Err("no announce line".into()),
    };
    line.trim()
        .strip_prefix("listening on http://")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| {
            if line.is_empty() {
                "exited before announcing".to_string()
            } else {
                format!("unexpected first line {:?}", truncate(line.trim(), 80))
            }
        })
}

/// `exit status N` or `killed by signal N`.
pub fn describe_exit(status: libc::c_int) -> String {
    if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("exit status {}", libc::WEXITSTATUS(status))
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}
