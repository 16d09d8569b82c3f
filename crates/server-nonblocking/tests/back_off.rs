//! `server-nonblocking`'s own edge: a polling loop burns a core unless it backs off. Idle (no
//! connection at all, or only idle keep-alive connections), the default mode must sleep between
//! passes instead of spinning.

use std::thread;
use std::time::Duration;

use conformance::Server;
use conformance::client::Conn;

/// `/proc/PID/stat` counts CPU time in clock ticks of 1/100 s (`USER_HZ`) on Linux.
const TICKS_PER_SECOND: u64 = 100;

/// User + system CPU time of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("reading /proc/PID/stat");
    // Fields after the command name, which is in parentheses and may contain spaces.
    let after_comm = &stat[stat.rfind(')').expect("comm field") + 2..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after `(comm) `.
    let utime: u64 = fields[11].parse().expect("utime");
    let stime: u64 = fields[12].parse().expect("stime");
    utime + stime
}

#[test]
fn idle_loop_backs_off_instead_of_spinning() {
    let mut server = Server::start(env!("CARGO_BIN_EXE_server-nonblocking"), &[]);
    // A few idle keep-alive connections: the loop must poll them too, and still sleep.
    let mut conns: Vec<Conn> = (0..20).map(|_| Conn::open(server.addr())).collect();
    for conn in &mut conns {
        conn.send(b"GET /hello.txt HTTP/1.1\r\nHost: test\r\n\r\n");
        assert_eq!(conn.read_response().status, 200);
    }
    let before = cpu_ticks(server.pid());
    let window = Duration::from_secs(1);
    thread::sleep(window);
    let used = cpu_ticks(server.pid()) - before;
    // A spinning loop uses a whole core (100 ticks a second); backing off to 10 ms sleeps costs
    // a few ticks at most. Under load the server gets less CPU, never more, so this cannot
    // fail because the machine is busy.
    let limit = TICKS_PER_SECOND * window.as_secs() / 5;
    assert!(
        used < limit,
        "idle server used {used} ticks of CPU in {window:?} (limit {limit}): it is spinning"
    );
    // Still responsive after sleeping.
    conns[0].send(b"GET /hello.txt HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(conns[0].read_response().status, 200);
    let status = server.stop();
    assert!(status.success(), "exit status {status:?}");
}
