//! The lab of `server-aio` (`scripts/lab.sh aio-default-pool`), checked: without `aio_init`
//! (`--mistake aio-default-pool`) glibc's default pool of 20 helper threads is held by 20 idle
//! keep-alive connections and the 21st client is not served; with the pool sized by `aio_init` it
//! is served at once. One test per lab, `lab_NAME`.

mod common;

use std::time::Duration;

use common::*;
use conformance::Server;
use conformance::client::Conn;
use conformance::lab::answered_within;

/// Lab `aio-default-pool`. Each idle connection has an `aio_read` pending, which glibc runs as a
/// blocking `read` in a helper thread: the thread is held until the client speaks. glibc's
/// default pool has 20 threads (`aio_threads` in `struct aioinit`, glibc's `aio_misc.c`), one of
/// them already held by the server's own doorbell read; so 20 idle clients hold them all and the
/// 21st client's read waits in glibc's queue, unanswered, until an idle one times out.
#[test]
fn lab_aio_default_pool() {
    for mistake in [true, false] {
        let mut args = vec!["--timeout", "3"];
        if mistake {
            args.extend(["--mistake", "aio-default-pool"]);
        }
        let mut server = Server::start(BIN, &args);
        let idle = idle_connections(&server, 20);
        // Every idle connection's read is running in a helper thread (main + acceptor + at least
        // 19 helpers; with the mistake the pool stops at 20).
        let threads = wait_for_threads(&server, 21);
        assert!(threads >= 21, "mistake {mistake}: only {threads} threads");
        let mut late = Conn::open(server.addr());
        late.send(b"GET /hello.txt HTTP/1.1\r\nHost: lab\r\n\r\n");
        let answered = answered_within(late.stream(), Duration::from_secs(1));
        println!(
            "mistake {mistake}: 21st client answered within 1 s: {answered} ({threads} threads)"
        );
        if mistake {
            assert!(
                !answered,
                "with the default pool, the 21st client was served at once"
            );
        } else {
            assert!(
                answered,
                "with the pool sized by aio_init, the 21st client waited"
            );
            let resp = late.read_response();
            assert_eq!(resp.status, 200, "{resp}");
        }
        drop(late);
        drop(idle);
        let status = server.stop();
        assert!(
            status.success(),
            "mistake {mistake}: exit status {status:?}"
        );
    }
}
