//! The lab of `server-nonblocking` (`scripts/lab.sh nonblocking-spin`), checked: a polling loop
//! that never sleeps (`--spin`) burns a core while nobody asks for anything; the default loop,
//! which backs off after a pass that moved nothing, uses next to no CPU. No mistake flag:
//! `--spin` is the mistake (for an idle server).

use std::time::Duration;

use conformance::Server;
use conformance::client::Conn;
use conformance::lab::cpu_percent_over;

const BIN: &str = env!("CARGO_BIN_EXE_server-nonblocking");

#[test]
fn lab_nonblocking_spin() {
    for spin in [true, false] {
        let args: &[&str] = if spin { &["--spin"] } else { &[] };
        let mut server = Server::start(BIN, args);
        // Two idle keep-alive connections: polled on every pass, and not a byte to read.
        let mut conns: Vec<Conn> = (0..2).map(|_| Conn::open(server.addr())).collect();
        for conn in &mut conns {
            conn.send(b"GET /hello.txt HTTP/1.1\r\nHost: lab\r\n\r\n");
            let resp = conn.read_response();
            conn.expect_status(&resp, 200);
        }
        let cpu = cpu_percent_over(server.pid(), Duration::from_secs(1));
        println!("--spin {spin}: {cpu} % CPU while idle");
        if spin {
            // A spin takes all the CPU it is given: 100 % on an idle machine, less on a busy
            // one; 40 % leaves room for a shared machine.
            assert!(cpu >= 40, "with --spin: only {cpu} % CPU while idle");
        } else {
            assert!(cpu < 20, "without --spin: {cpu} % CPU while idle");
        }
        drop(conns);
        let status = server.stop();
        assert!(status.success(), "--spin {spin}: exit status {status:?}");
    }
}
