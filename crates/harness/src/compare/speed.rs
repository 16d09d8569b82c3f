//! The machine-speed probe: how fast this machine was at the moment each run was measured.
//!
//! Why. On a shared virtual machine the same work does not always cost the same CPU time: when
//! other guests load the host (the other thread of a physical core, the shared caches), every
//! instruction takes longer, and no steal time shows it, because the virtual CPU was running the
//! whole while. On the project's 2-CPU VM, two unrelated servers measured in turn for a minute
//! (one keep-alive client each, `harness load` against one, then the other) saw their CPU per
//! request rise and fall together, by tens of percent for tens of seconds at a time. A cell
//! measured in such a stretch reads as costlier, and nothing in the cell itself can tell.
//!
//! How. One reference server (`server-epoll`, the control row's command) runs for the whole of
//! `harness compare`, pinned like the cells' servers and idle between probes. Just before each run
//! of a cell, the probe sends it keep-alive requests from one client for [`PROBE_SECONDS`] and
//! records the server's CPU µs per request (its process CPU clock): the same fixed task, so its
//! changes are the machine's. One client, because each request then wakes the server and the
//! client once, as most cells do. `results.md` states how far the probe moved over the run, and
//! `harness agree` says how closely the cells' CPU figures followed it (over the committed pair:
//! loosely; `bench-results/README.md` links that report). `--quick` runs without it.

use super::measure::small_file_keepalive;
use super::probes::ProcSample;
use super::supervise::{Launcher, RunContext, Running, start_server};
use crate::load::{self, IdleConnections};

/// Seconds of load per probe: a few thousand requests from one client on the project's VM, so
/// the one request in flight when the window closes weighs well under 0.1 %. It adds 0.2 s to
/// each run's 1.5 s of load (a full matrix took 9 % longer with it).
pub const PROBE_SECONDS: f64 = 0.2;

/// The reference server the probe measures; stopped when dropped.
#[derive(Debug)]
pub struct SpeedProbe {
    server: Option<Running>,
}

impl SpeedProbe {
    /// Start the reference server with `launcher` (the control row's), pinned to the servers'
    /// CPUs.
    pub fn start(ctx: &RunContext, launcher: &Launcher) -> Result<SpeedProbe, String> {
        let server = start_server(ctx, launcher, &ctx.setup(), None)?;
        Ok(SpeedProbe {
            server: Some(server),
        })
    }

    /// One probe: the reference server's CPU µs per request over [`PROBE_SECONDS`] of one
    /// keep-alive client (None if it could not be measured).
    pub fn measure(&self, ctx: &RunContext) -> Option<f64> {
        let server = self.server.as_ref()?;
        let spec = small_file_keepalive(ctx, server.addr, 1, PROBE_SECONDS, ctx.timeout);
        let cpu_ns = || ProcSample::take(server.pid, &[])?.cpu_ns;
        let before = cpu_ns()?;
        let report = load::run(&spec, &IdleConnections::none()).ok()?;
        let after = cpu_ns()?;
        per_request(after.saturating_sub(before), report.requests)
    }
}

impl Drop for SpeedProbe {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            let _ = server.stop();
        }
    }
}

/// µs per request, or None without requests.
fn per_request(ns: u64, requests: u64) -> Option<f64> {
    (requests > 0).then(|| ns as f64 / 1_000.0 / requests as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_request_is_microseconds_and_none_without_requests() {
        assert_eq!(per_request(3_000_000, 100), Some(30.0));
        assert_eq!(per_request(3_000_000, 0), None);
    }
}
