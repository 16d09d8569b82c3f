//! Measuring: one cell (fresh server, load, `/proc` figures, stop) and one `strace -c` run per row.

use std::fs;
use std::path::Path;
use std::time::Duration;

use super::matrix::{SMALL_FILE, is_work_group};
use super::probes::{
    ClientSample, CpuTimes, ProcSample, children_of, parse_served, parse_strace_summary,
};
use super::supervise::{Launcher, RunContext, describe_exit, start_server, unregister_child};
use crate::load::{self, IdleConnections, LoadSpec, Target};
use crate::results::{ClientFigures, Run, Scenario, ServerFigures, Syscalls};
use crate::sys;

/// One cell: fresh server, optional idle connections, measured load, figures, stop.
/// Why a model cannot take part in a cell at all (`select` past `FD_SETSIZE`), before any run.
pub fn not_applicable(launcher: &Launcher, s: &Scenario) -> Option<String> {
    if matches!(launcher, Launcher::Nginx) && s.post_bytes.is_some() {
        return Some("nginx serves no /echo".into());
    }
    if matches!(launcher, Launcher::Nginx) && is_work_group(&s.group) {
        return Some("nginx has no /block or /cpu route".into());
    }
    if let Launcher::Binary {
        only_groups: Some(groups),
        ..
    } = launcher
        && !groups.contains(&s.group.as_str())
    {
        if is_work_group(&s.group) {
            return Some(
                "runs a request's logic on its one loop thread, as server-epoll single-level \
                 does: measured there"
                    .into(),
            );
        }
        return Some(format!("measured in the {} group only", groups.join(", ")));
    }
    if let Launcher::Binary {
        fd_limit: Some((limit, why)),
        ..
    } = launcher
    {
        // listener, shutdown pipe, stdio and a few spare descriptors.
        let needed = s.clients + s.idle + 8;
        if needed > *limit {
            return Some(format!("{why} (this cell needs ~{needed} descriptors)"));
        }
    }
    None
}

/// One run of one cell: its figures, or why it has none (the cell is then n/a).
pub fn run_cell(ctx: &RunContext, launcher: &Launcher, s: &Scenario) -> Result<Run, String> {
    // How fast the machine is right now, before this cell's server starts.
    let probe = ctx.probe.as_ref().and_then(|p| p.measure(ctx));
    let setup = ctx.setup_for(s);
    let server = match start_server(ctx, launcher, &setup, None) {
        Ok(server) => server,
        Err(why) => return Err(format!("server failed to start: {why}")),
    };
    let idle = match open_idle(server.addr, s.idle) {
        Ok(idle) => idle,
        Err(e) => {
            let _ = server.stop();
            return Err(format!("could not open idle connections: {e}"));
        }
    };
    let spec = cell_load_spec(ctx, s, server.addr);
    let cpus = &setup.cpus;
    let before = ProcSample::take(server.pid, cpus);
    let client_before = ClientSample::take(&ctx.load_cpus);
    let (mut after, mut client_after) = (None, None);
    let load = load::run_with(&spec, &idle, || {
        after = ProcSample::take(server.pid, cpus);
        client_after = ClientSample::take(&ctx.load_cpus);
    });
    drop(idle);
    if let Some(status) = server.exited() {
        unregister_child(server.pid);
        return Err(format!(
            "server crashed during the run ({})",
            describe_exit(status.status)
        ));
    }
    let (usage, stderr) = server.stop();
    let load = match load {
        Ok(load) => load,
        Err(e) => return Err(format!("load generator failed: {e}")),
    };
    let churn = s.close;
    let figures = figures(
        &before,
        &after,
        usage.as_ref(),
        load.requests,
        &stderr,
        churn,
        // The server's CPU time available in the window: shares are of all its CPUs.
        load.seconds * cpus.len().max(1) as f64,
    );
    let client = client_figures(
        &client_before,
        &client_after,
        load.seconds,
        load.threads,
        ctx.load_cpus.len(),
    );
    Ok(Run {
        load,
        server: figures,
        client,
        remeasured_for_steal: 0,
        probe_cpu_us_per_request: probe,
    })
}

/// The load generator's CPU over the window, from two samples of this process.
fn client_figures(
    before: &Option<ClientSample>,
    after: &Option<ClientSample>,
    window: f64,
    threads: usize,
    cpus: usize,
) -> Option<ClientFigures> {
    let (before, after) = (before.as_ref()?, after.as_ref()?);
    if window <= 0.0 {
        return None;
    }
    let cpu_seconds = (after.cpu_seconds - before.cpu_seconds).max(0.0);
    Some(ClientFigures {
        cpu_seconds,
        busy_share: cpu_seconds / (window * threads.max(1) as f64),
        steal_on_load_cpu: steal_share(before.load_cpu, after.load_cpu, window * cpus as f64),
    })
}

/// Share of `window` stolen from a CPU between two samples.
fn steal_share(before: Option<CpuTimes>, after: Option<CpuTimes>, window: f64) -> Option<f64> {
    match (before, after) {
        (Some(b), Some(a)) if window > 0.0 => Some(((a.steal - b.steal) / window).clamp(0.0, 1.0)),
        _ => None,
    }
}

fn figures(
    before: &Option<ProcSample>,
    after: &Option<ProcSample>,
    usage: Option<&sys::ChildUsage>,
    requests: u64,
    stderr: &str,
    churn: bool,
    cpu_window: f64,
) -> Option<ServerFigures> {
    let (before, after) = (before.as_ref()?, after.as_ref()?);
    let tick_seconds = (after.cpu_seconds - before.cpu_seconds).max(0.0);
    // Context switches are summed over the live threads: exact when no thread exited during
    // the window. Connection-per-request runs on a thread-per-connection server start and end
    // threads inside it, so there (and whenever a thread from the start is gone) the reaped
    // child's rusage is used instead; it also counts the shutdown.
    let threads_stable = !churn && before.tids.iter().all(|t| after.tids.contains(t));
    // CPU time: the process CPU clock in nanoseconds, which also counts threads that started
    // and ended inside the window (glibc's AIO helpers do); utime/stime move in 10 ms ticks
    // (±8 % on a 2 s cell at 5,000 req/s) and are the fallback.
    let (cpu_seconds, cpu_source) = match (before.cpu_ns, after.cpu_ns) {
        (Some(b), Some(a)) => (a.saturating_sub(b) as f64 / 1e9, "cpu-clock"),
        _ => (tick_seconds, "ticks"),
    };
    // The user/system split comes from the ticks only: scale it to the total used.
    let user_ticks = (after.user_seconds - before.user_seconds).max(0.0);
    let system_ticks = (after.system_seconds - before.system_seconds).max(0.0);
    let scale = if tick_seconds > 0.0 {
        cpu_seconds / tick_seconds
    } else {
        0.0
    };
    let (context_switches, source) = match usage {
        Some(u) if !threads_stable => (
            u.context_switches.saturating_sub(before.context_switches),
            "rusage",
        ),
        _ => (
            after
                .context_switches
                .saturating_sub(before.context_switches),
            "threads",
        ),
    };
    let per = |v: f64| (requests > 0).then(|| v / requests as f64);
    Some(ServerFigures {
        cpu_seconds,
        cpu_source: cpu_source.to_string(),
        user_seconds: user_ticks * scale,
        system_seconds: system_ticks * scale,
        cpu_ms_per_1k_requests: per(cpu_seconds * 1_000_000.0),
        context_switches,
        context_switches_per_request: per(context_switches as f64),
        context_switch_source: source.to_string(),
        peak_rss_kib: after.peak_rss_kib,
        threads: after.threads,
        served_requests: parse_served(stderr),
        // Busy time of the CPU that was not the server's: other processes, and steal.
        other_load_on_server_cpu: match (before.server_cpu, after.server_cpu) {
            (Some(b), Some(a)) if cpu_window > 0.0 => {
                Some(((a.busy - b.busy - cpu_seconds) / cpu_window).clamp(0.0, 1.0))
            }
            _ => None,
        },
        steal_on_server_cpu: steal_share(before.server_cpu, after.server_cpu, cpu_window),
    })
}

/// One short keep-alive run under `strace -c -f`: syscalls per request by name.
pub fn trace_syscalls(
    ctx: &RunContext,
    launcher: &Launcher,
    strace: &Path,
    seconds: f64,
) -> Result<Syscalls, String> {
    let scratch = tempfile::Builder::new()
        .prefix("harness-strace")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let out = scratch.path().join("strace.txt");
    let server = start_server(ctx, launcher, &ctx.setup(), Some((strace, &out)))
        .map_err(|e| format!("server failed to start under strace: {e}"))?;
    let spec = small_file_keepalive(ctx, server.addr, 10, seconds, Duration::from_secs(5));
    let load = load::run(&spec, &IdleConnections::none());
    // The PID we hold is strace's; SIGTERM goes to the traced server (strace's child), so the
    // server shuts down as usual and strace then writes its summary and exits.
    let traced = children_of(server.pid);
    for pid in &traced {
        let _ = sys::kill(*pid, libc::SIGTERM);
    }
    let (usage, _stderr) = server.stop();
    if usage.is_none() {
        return Err("strace did not exit".into());
    }
    let load = load.map_err(|e| format!("load failed: {e}"))?;
    let requests = load.requests;
    if requests == 0 {
        return Err("no request answered under strace".into());
    }
    let table = fs::read_to_string(&out).map_err(|e| format!("reading strace output: {e}"))?;
    let counts = parse_strace_summary(&table);
    if counts.is_empty() {
        return Err("empty strace summary".into());
    }
    let total: u64 = counts.values().sum();
    Ok(Syscalls {
        requests,
        per_request: counts
            .into_iter()
            .map(|(name, n)| (name, n as f64 / requests as f64))
            .collect(),
        total_per_request: total as f64 / requests as f64,
    })
}

/// Hold `count` idle connections (none for 0), and give the server a moment to accept them.
fn open_idle(addr: std::net::SocketAddr, count: usize) -> std::io::Result<IdleConnections> {
    if count == 0 {
        return Ok(IdleConnections::none());
    }
    let idle = IdleConnections::open(addr, count, Duration::from_secs(10))?;
    // Give the server a moment to accept the backlog.
    std::thread::sleep(Duration::from_millis(200));
    Ok(idle)
}

/// `clients` keep-alive clients asking for the small file for `seconds`, from one load thread:
/// the fixed load of the `strace -c` runs and of the machine-speed probe.
pub fn small_file_keepalive(
    ctx: &RunContext,
    addr: std::net::SocketAddr,
    clients: usize,
    seconds: f64,
    timeout: Duration,
) -> LoadSpec {
    LoadSpec {
        target: Target {
            addr,
            host: addr.to_string(),
            path: format!("/{}", SMALL_FILE.0),
        },
        clients,
        threads: 1,
        duration: Some(Duration::from_secs_f64(seconds)),
        total: None,
        rate: None,
        close: false,
        post_bytes: None,
        timeout,
        cpus: ctx.load_cpus.clone(),
        progress: false,
    }
}

// ANCHOR: harness_cell_load_spec
/// The load of one cell: the scenario's clients against `addr` for the run's window.
fn cell_load_spec(ctx: &RunContext, s: &Scenario, addr: std::net::SocketAddr) -> LoadSpec {
    LoadSpec {
        target: Target {
            addr,
            host: addr.to_string(),
            path: s.path.clone(),
        },
        clients: s.clients,
        threads: ctx.load_cpus.len().max(1),
        duration: Some(ctx.duration),
        total: None,
        rate: s.rate,
        close: s.close,
        post_bytes: s.post_bytes,
        // A big body takes long to read; a single loop serving /block answers a client only
        // after every other client's wait (20 × 20 ms, and more while connections arrive).
        timeout: if s.group == "large" || is_work_group(&s.group) {
            ctx.timeout.max(Duration::from_secs(5))
        } else {
            ctx.timeout
        },
        cpus: ctx.load_cpus.clone(),
        progress: false,
    }
}
// ANCHOR_END: harness_cell_load_spec

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::compare::matrix::scenarios;

    fn binary(only_groups: Option<&'static [&'static str]>) -> Launcher {
        Launcher::Binary {
            bin: PathBuf::from("server-x"),
            args: vec![],
            fd_limit: Some((1024, "select: FD_SETSIZE is 1024")),
            only_groups,
        }
    }

    fn sample(ticks: f64, cpu_ns: Option<u64>, tids: &[u32]) -> ProcSample {
        ProcSample {
            cpu_seconds: ticks,
            user_seconds: ticks / 4.0,
            system_seconds: ticks * 3.0 / 4.0,
            server_cpu: None,
            cpu_ns,
            context_switches: 0,
            tids: tids.to_vec(),
            threads: tids.len() as u64,
            peak_rss_kib: 0,
        }
    }

    #[test]
    fn cpu_time_is_the_process_clock_even_when_threads_came_and_went() {
        let before = Some(sample(1.00, Some(1_000_000_000), &[1, 2]));
        let after = Some(sample(1.10, Some(1_123_000_000), &[1, 2]));
        let f = figures(&before, &after, None, 1000, "", false, 1.0).expect("figures");
        assert_eq!((f.cpu_source.as_str(), f.cpu_seconds), ("cpu-clock", 0.123));
        assert!((f.user_seconds + f.system_seconds - 0.123).abs() < 1e-9);
        assert!(
            (f.system_seconds / f.cpu_seconds - 0.75).abs() < 1e-9,
            "the ticks' split"
        );
        // A thread gone, or connection churn: the clock still counts the exited threads.
        let gone = Some(sample(1.10, Some(1_150_000_000), &[1]));
        let f = figures(&before, &gone, None, 1000, "", false, 1.0).expect("figures");
        assert_eq!((f.cpu_source.as_str(), f.cpu_seconds), ("cpu-clock", 0.15));
        let f = figures(&before, &after, None, 1000, "", true, 1.0).expect("figures");
        assert_eq!(f.cpu_source, "cpu-clock");
        // No clock: the ticks.
        let no_clock = Some(sample(1.10, None, &[1, 2]));
        let f = figures(&before, &no_clock, None, 1000, "", false, 1.0).expect("figures");
        assert_eq!(f.cpu_source, "ticks");
        assert!((f.cpu_seconds - 0.10).abs() < 1e-9);
    }

    #[test]
    fn rows_and_cells_that_cannot_take_part_say_why() {
        let all = scenarios(false);
        let by_id = |id: &str| all.iter().find(|s| s.id == id).expect(id);
        let large_only = binary(Some(&["large"]));
        assert_eq!(not_applicable(&large_only, by_id("large-1m")), None);
        assert_eq!(
            not_applicable(&large_only, by_id("keepalive-10")).as_deref(),
            Some("measured in the large group only")
        );
        let select = binary(None);
        assert_eq!(not_applicable(&select, by_id("idle-0")), None);
        assert!(
            not_applicable(&select, by_id("idle-1000"))
                .is_some_and(|why| why.starts_with("select: FD_SETSIZE is 1024"))
        );
        assert_eq!(
            not_applicable(&Launcher::Nginx, by_id("upload-64k")).as_deref(),
            Some("nginx serves no /echo")
        );
        assert_eq!(not_applicable(&Launcher::Nginx, by_id("keepalive-1")), None);
    }
}
