//! `server-nonblocking`'s own edge: a polling loop burns a core unless it backs off. Idle (no
//! connection at all, or only idle keep-alive connections), the default mode must sleep between
//! passes instead of spinning.

use std::thread;
use std::time::Duration;

use conformance::Server;
use conformance::client::Conn;
use conformance::lab::{TICKS_PER_SECOND, cpu_ticks};

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
