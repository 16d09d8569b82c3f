//! Out of descriptors: `accept` fails with `EMFILE` while connections wait in the backlog (so
//! the listener stays ready). The server must keep serving, log once, and not spin on the
//! listener; once descriptors are free again it accepts as before.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::thread;
use std::time::Duration;

use conformance::Server;
use conformance::client::Conn;

/// The server's descriptor limit (soft and hard, so it cannot raise it).
const FD_LIMIT: libc::rlim_t = 40;
/// More connections than fit.
const CROWD: usize = 60;
/// `/proc/PID/stat` counts CPU time in clock ticks of 1/100 s (`USER_HZ`) on Linux.
const TICKS_PER_SECOND: u64 = 100;

/// User + system CPU time of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("reading /proc/PID/stat");
    let after_comm = &stat[stat.rfind(')').expect("comm field") + 2..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let utime: u64 = fields[11].parse().expect("utime");
    let stime: u64 = fields[12].parse().expect("stime");
    utime + stime
}

#[test]
fn emfile_keeps_serving_without_spinning() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_server-select"));
    let limit = libc::rlimit {
        rlim_cur: FD_LIMIT,
        rlim_max: FD_LIMIT,
    };
    // SAFETY: runs in the forked child before exec; setrlimit is async-signal-safe and only reads
    // `limit`, a plain copy captured by the closure.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let mut server = Server::start_command(cmd);
    // A keep-alive connection that is served before the crowd arrives.
    let mut first = Conn::open(server.addr());
    first.send(b"GET /hello.txt HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(first.read_response().status, 200);
    // The crowd: the kernel completes every handshake (backlog 4096); the server runs out of
    // descriptors part-way through accepting them.
    let crowd: Vec<Conn> = (0..CROWD).map(|_| Conn::open(server.addr())).collect();
    thread::sleep(Duration::from_millis(200));
    let before = cpu_ticks(server.pid());
    let window = Duration::from_secs(1);
    thread::sleep(window);
    let used = cpu_ticks(server.pid()) - before;
    let limit = TICKS_PER_SECOND * window.as_secs() / 5;
    assert!(
        used < limit,
        "server used {used} ticks of CPU in {window:?} while out of descriptors \
         (limit {limit}): it is spinning on the listener"
    );
    // Still serving the connections it has (a generated body: opening a file needs a
    // descriptor, which the process does not have right now).
    first.send(b"GET /bytes/16 HTTP/1.1\r\nHost: test\r\n\r\n");
    let resp = first.read_response();
    assert_eq!((resp.status, resp.body.len()), (200, 16), "{resp}");
    // Logged, once.
    let stderr = server.stderr_text();
    let warnings = stderr
        .lines()
        .filter(|line| line.contains("accept"))
        .count();
    assert_eq!(warnings, 1, "stderr:\n{stderr}");
    // The crowd leaves: descriptors free up and a new connection is accepted and served.
    drop(crowd);
    let mut late = Conn::open(server.addr());
    late.send(b"GET /hello.txt HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(late.read_response().status, 200);
    let status = server.stop();
    assert!(status.success(), "exit status {status:?}");
}
