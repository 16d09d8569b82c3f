//! Running the logic of the work routes (`--work-routes`): `GET /cpu/US` computes for about US
//! µs, `GET /block/MS` blocks the thread for MS ms, as a call to a database does.
//!
//! `http-core` recognises the route and hands over a [`Work`] ([`Connection::work`]); the
//! server runs it **where its pattern runs a request's logic** — the loop thread of a single
//! loop, a pool worker of the Reactor and of the simulated Proactor, the connection's own thread
//! in `server-blocking` — by calling [`run_due`] right after `handle_input`. That placement is the
//! whole lesson: a single loop stalls for every connection while one `/block` waits, a pool
//! overlaps as many waits as it has workers.
//!
//! `/cpu` is a loop **calibrated once** at the first use (how many rounds of a small
//! arithmetic loop fit in a microsecond on this CPU), not a clock read in a loop: a thread that
//! is preempted halfway still does all its rounds, so a request costs about US µs of CPU time
//! whatever the scheduler does. (Simplified: turbo and frequency scaling make the real cost
//! drift by some percent from the calibration.) `/block` is `thread::sleep`, which sleeps in
//! `clock_nanosleep(2)` and costs no CPU at all.

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use http_core::{Connection, Work};

// ANCHOR: work_run_due
/// Run every work the connection is waiting for (a pipelined request may need more once the
/// first is answered), then tell it. Nothing happens unless the connection asks.
pub fn run_due(conn: &mut Connection) {
    while let Some(work) = conn.work() {
        run(work);
        conn.work_done(Instant::now());
    }
}
// ANCHOR_END: work_run_due

/// Do one piece of work on the calling thread.
pub fn run(work: Work) {
    match work {
        Work::Cpu(duration) => {
            let rounds = rounds_per_micro().saturating_mul(duration.as_micros() as u64);
            spin(rounds);
        }
        Work::Block(duration) => std::thread::sleep(duration),
    }
}

/// Rounds of [`spin`] per microsecond on this CPU, measured once: the smallest of five timed
/// runs of about 2 ms each (the smallest time is the one least disturbed by other threads).
pub fn rounds_per_micro() -> u64 {
    static CALIBRATED: OnceLock<u64> = OnceLock::new();
    *CALIBRATED.get_or_init(|| {
        const PROBE: u64 = 200_000;
        let fastest = (0..5)
            .map(|_| {
                let start = Instant::now();
                spin(PROBE);
                start.elapsed()
            })
            .min()
            .unwrap_or(Duration::from_millis(2))
            .max(Duration::from_nanos(1));
        (PROBE as u128 * 1_000 / fastest.as_nanos()).max(1) as u64
    })
}

/// `rounds` steps of a multiply-add chain that the optimiser cannot remove or shorten.
fn spin(rounds: u64) {
    let mut x: u64 = black_box(0x9E37_79B9_7F4A_7C15);
    for i in 0..rounds {
        x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i));
    }
    black_box(x);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`).
    fn thread_cpu() -> Duration {
        let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
            .expect("thread CPU clock");
        Duration::new(t.tv_sec() as u64, t.tv_nsec() as u32)
    }

    #[test]
    fn cpu_work_spends_cpu_time_and_block_work_does_not() {
        rounds_per_micro(); // calibrate outside the measurement
        let cpu0 = thread_cpu();
        run(Work::Cpu(Duration::from_millis(40)));
        let computed = thread_cpu() - cpu0;
        // Generous bounds: calibration on a shared machine is approximate, not exact.
        assert!(
            computed >= Duration::from_millis(20) && computed <= Duration::from_millis(200),
            "/cpu/40000 used {computed:?} of CPU"
        );
        let (cpu0, wall0) = (thread_cpu(), Instant::now());
        run(Work::Block(Duration::from_millis(40)));
        let (slept_cpu, slept_wall) = (thread_cpu() - cpu0, wall0.elapsed());
        assert!(slept_wall >= Duration::from_millis(40), "{slept_wall:?}");
        assert!(
            slept_cpu < Duration::from_millis(5),
            "/block used {slept_cpu:?} of CPU"
        );
    }

    #[test]
    fn run_due_answers_every_pipelined_work_request() {
        let root = tempfile::tempdir().expect("tempdir");
        let mut config = http_core::Config::new(root.path()).expect("config");
        config.work_routes = true;
        let mut conn = Connection::new(Arc::new(config), Instant::now());
        conn.handle_input(
            b"GET /block/1 HTTP/1.1\r\nHost: a\r\n\r\nGET /cpu/1 HTTP/1.1\r\nHost: a\r\n\r\n",
            Instant::now(),
        );
        assert!(conn.work().is_some());
        run_due(&mut conn);
        assert_eq!(conn.work(), None);
        let out = String::from_utf8_lossy(conn.next_output()).into_owned();
        assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 2, "{out}");
        assert!(out.contains("blocked for 1 ms") && out.contains("computed for 1 us"));
    }
}
