//! `soak`: faults under load, for every io-models server in every mode (`scripts/soak.sh`).
//!
//! For each mode it starts the server (`--addr 127.0.0.1:0`, a fresh fixture root from the
//! conformance crate, a short `--timeout`), requests every file once (so caches and lazily
//! created state are part of the baseline), and records the descriptors it holds and its
//! resident memory. Then, in two rounds of half the load time each: keep-alive load and
//! connection-per-request load from `harness load`, together with the faulty clients of
//! [`faults`] (resets in the middle of a large response, half requests, garbage, bodies
//! announced and never sent, slowloris heads). After each round it waits past the server's
//! timeout and checks:
//!
//! - the descriptor count is back to the baseline (polled for a few seconds: closing is
//!   asynchronous in some models) — any difference is a leaked connection or file. The
//!   open-file cache's descriptors (numbers ≥ `http_core::CACHED_FD_MIN`, where it moves them)
//!   are counted apart: they come and go with the cache (an entry unused for 20 s is closed),
//!   and may never outnumber the files served;
//! - memory: the first round may grow it up to [`RSS_CEILING_KIB`] (glibc keeps freed memory in
//!   its arenas, and `server-aio`'s pool of helper threads grows with the connections), but the
//!   second round, the same load again, may add at most [`RSS_SLACK_KIB`]: memory that keeps
//!   growing with the same work is a leak. A second round that grew more is followed by a third,
//!   and only growth in both counts: a pool of helper threads that reached its size late (the
//!   first round's load happened to need fewer of them) stops there, a leak grows again;
//!
//! and at the end that a normal request is still answered and SIGTERM ends the server with exit
//! status 0.
//!
//! One line per mode, then `N passed, M failed`; the exit status is 1 if any mode failed.
//! Every process it starts it also ends, by PID (the conformance crate's `Server` kills and
//! reaps on drop; load generators are waited for, or killed by PID).

mod faults;
mod modes;
mod probe;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use conformance::Server;
use conformance::fixtures::FILES;

use modes::Mode;

/// The `--timeout` every server runs with: idle and stalled connections go after this long.
const SERVER_TIMEOUT: Duration = Duration::from_secs(2);
/// How far resident memory may grow in the second round over where the first left it.
const RSS_SLACK_KIB: u64 = 16 * 1024;
/// A sanity ceiling on the growth of the first round (allocators and thread pools warming up).
const RSS_CEILING_KIB: u64 = 256 * 1024;
/// How long descriptors may take to come back after the wait past the timeout.
const SETTLE: Duration = Duration::from_secs(5);

#[derive(Debug, Parser)]
#[command(
    name = "soak",
    about = "Faults under load for io-models servers; descriptors and memory must come back"
)]
struct Args {
    /// About 3 s of load per mode (the whole default run stays under 3 minutes).
    #[arg(long)]
    quick: bool,
    /// Seconds of load per mode (default 20, or 3 with --quick).
    #[arg(long)]
    seconds: Option<f64>,
    /// Where the release binaries are (server-*, harness).
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Modes to soak: `server-epoll --pattern multi server-poll …` (default: every mode of the
    /// conformance suite).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    modes: Vec<String>,
}

/// What one mode's soak measured.
#[derive(Debug)]
struct Outcome {
    fds: (usize, usize),
    /// The open-file cache's descriptors at the end.
    cache_fds: usize,
    /// Resident memory before the load, after the first round and after the last, KiB.
    rss_kib: (u64, u64, u64),
    /// Rounds of load run: 2, or 3 when the second grew memory (see the crate doc).
    rounds: usize,
    requests: u64,
    load_errors: u64,
    faults: u64,
    failures: Vec<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let modes = if args.modes.is_empty() {
        let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        match modes::from_workspace(&crates) {
            Ok(modes) => modes,
            Err(err) => {
                eprintln!("soak: cannot list the conformance modes: {err}");
                return ExitCode::from(2);
            }
        }
    } else {
        match modes::from_args(&args.modes) {
            Ok(modes) => modes,
            Err(err) => {
                eprintln!("soak: {err}");
                return ExitCode::from(2);
            }
        }
    };
    let seconds = args.seconds.unwrap_or(if args.quick { 3.0 } else { 20.0 });
    let Some(load) = Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero() && *d <= Duration::from_secs(600))
    else {
        eprintln!("soak: --seconds must be above 0 and at most 600");
        return ExitCode::from(2);
    };
    let harness = args.bin_dir.join("harness");
    if !harness.is_file() {
        eprintln!(
            "soak: {} not found (build with `cargo build --release`)",
            harness.display()
        );
        return ExitCode::from(2);
    }
    let started = Instant::now();
    let (mut passed, mut failed) = (0, 0);
    for mode in &modes {
        let binary = args.bin_dir.join(&mode.server);
        let result = catch_unwind(AssertUnwindSafe(|| soak(mode, &binary, &harness, load)));
        let outcome = result.unwrap_or_else(|panic| Outcome {
            fds: (0, 0),
            cache_fds: 0,
            rss_kib: (0, 0, 0),
            rounds: 0,
            requests: 0,
            load_errors: 0,
            faults: 0,
            failures: vec![panic_message(&panic)],
        });
        let verdict = if outcome.failures.is_empty() {
            passed += 1;
            "PASS"
        } else {
            failed += 1;
            "FAIL"
        };
        println!(
            "{verdict} {:<32} fds {:>3} -> {:<3} (+{} cached files) RSS {:>5.1} -> {:>5.1} -> {:>5.1} MiB ({} rounds)  {} requests ({} load errors), {} faults{}",
            mode.label(),
            outcome.fds.0,
            outcome.fds.1,
            outcome.cache_fds,
            outcome.rss_kib.0 as f64 / 1024.0,
            outcome.rss_kib.1 as f64 / 1024.0,
            outcome.rss_kib.2 as f64 / 1024.0,
            outcome.rounds,
            outcome.requests,
            outcome.load_errors,
            outcome.faults,
            if outcome.failures.is_empty() {
                String::new()
            } else {
                format!(": {}", outcome.failures.join("; "))
            }
        );
    }
    println!(
        "soak: {} modes in {:.0} s",
        modes.len(),
        started.elapsed().as_secs_f64()
    );
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("panicked");
    text.lines().next().unwrap_or("panicked").to_owned()
}

fn soak(mode: &Mode, binary: &Path, harness: &Path, load: Duration) -> Outcome {
    let mut command = Command::new(binary);
    command
        .args(&mode.args)
        .arg("--timeout")
        .arg(SERVER_TIMEOUT.as_secs().to_string());
    let mut server = Server::start_command(command);
    let addr = server.addr();
    let pid = server.pid();
    let mut failures = Vec::new();

    // Warm up: every file once, so what a first request creates is part of the baseline.
    let files_served = FILES.len() + 1;
    for (url, ..) in FILES.iter().chain([&("/big.bin", "", &b""[..], "")]) {
        if let Err(err) = get(addr, url) {
            failures.push(format!("warm-up GET {url}: {err}"));
        }
    }
    thread::sleep(Duration::from_millis(300));
    let fds_before = probe::descriptors(pid).unwrap_or(0);
    let rss_before = probe::rss_kib(pid).unwrap_or(0);

    // Two rounds of load and faults. The first shows where memory settles once allocators and
    // thread pools have grown to the load; a leak makes the second round grow it again, and a
    // third round tells a leak (grows again) from memory that settled late (does not).
    let mut requests = 0;
    let mut load_errors = 0;
    let mut faults = 0;
    let mut fds_after = fds_before;
    let mut rss_rounds: Vec<u64> = Vec::new();
    while rss_rounds.len() < 2 || (rss_rounds.len() == 2 && grew(&rss_rounds)) {
        let round = load_and_faults(addr, harness, load / 2, &mut failures);
        requests += round.requests;
        load_errors += round.load_errors;
        faults += round.faults;
        fds_after = settled_descriptors(pid, fds_before);
        if fds_after != fds_before {
            failures.push(format!("descriptors {fds_before} -> {fds_after}"));
        }
        rss_rounds.push(probe::rss_kib(pid).unwrap_or(u64::MAX));
    }
    let rss_first = rss_rounds[0];
    let rss_last = rss_rounds[rss_rounds.len() - 1];
    if rss_first > rss_before + RSS_CEILING_KIB {
        failures.push(format!(
            "RSS grew by {} KiB in the first round (ceiling {RSS_CEILING_KIB} KiB)",
            rss_first - rss_before
        ));
    }
    if rss_rounds.len() == 3 && grew(&rss_rounds[1..]) {
        failures.push(format!(
            "RSS grew again by {} and then {} KiB in the second and third rounds (bound \
             {RSS_SLACK_KIB} KiB each): a leak",
            rss_rounds[1] - rss_rounds[0],
            rss_rounds[2] - rss_rounds[1]
        ));
    }
    match get(addr, "/hello.txt") {
        Ok(response) if response.starts_with(b"HTTP/1.1 200 ") => {}
        Ok(response) => failures.push(format!(
            "a normal request got {:?}",
            String::from_utf8_lossy(&response[..response.len().min(40)])
        )),
        Err(err) => failures.push(format!("a normal request failed: {err}")),
    }
    let cache_fds = probe::cache_descriptors(pid).unwrap_or(0);
    if cache_fds > files_served {
        failures.push(format!(
            "the file cache holds {cache_fds} descriptors for {files_served} files"
        ));
    }
    let status = server.stop();
    if !status.success() {
        failures.push(format!("SIGTERM: exit {status}"));
    }
    Outcome {
        fds: (fds_before, fds_after),
        cache_fds,
        rss_kib: (rss_before, rss_first, rss_last),
        rounds: rss_rounds.len(),
        requests,
        load_errors,
        faults,
        failures,
    }
}

/// Whether resident memory grew by more than [`RSS_SLACK_KIB`] from the first of two rounds to
/// the second (`rounds`: RSS after each, in KiB).
fn grew(rounds: &[u64]) -> bool {
    matches!(rounds, [before, after, ..] if *after > before.saturating_add(RSS_SLACK_KIB))
}

/// What one round of load and faults did.
struct Round {
    requests: u64,
    load_errors: u64,
    faults: u64,
}

/// Keep-alive and connection-per-request load plus the faulty clients, all at once for `load`;
/// then wait past the server's timeout, so every faulty connection must have been closed.
fn load_and_faults(
    addr: SocketAddr,
    harness: &Path,
    load: Duration,
    failures: &mut Vec<String>,
) -> Round {
    let url = format!("http://{addr}/index.html");
    let secs = format!("{:.3}", load.as_secs_f64());
    let keep_alive = start_load(harness, &["-c", "16", "-t", &secs, "--json", &url]);
    let per_request = start_load(
        harness,
        &["--close", "-c", "8", "-t", &secs, "--json", &url],
    );
    let (faults, held) = faults::run_all(addr, Instant::now() + load);
    let mut round = Round {
        requests: 0,
        load_errors: 0,
        faults,
    };
    for (name, child) in [
        ("keep-alive", keep_alive),
        ("connection per request", per_request),
    ] {
        match finish_load(child) {
            Ok((n, errors)) => {
                round.requests += n;
                round.load_errors += errors;
                if n == 0 {
                    failures.push(format!("{name} load made no request"));
                }
            }
            Err(err) => failures.push(format!("{name} load: {err}")),
        }
    }
    thread::sleep(SERVER_TIMEOUT + Duration::from_millis(500));
    drop(held);
    round
}

/// The server's descriptor count once it is back at `baseline`, or after [`SETTLE`] (closing is
/// asynchronous in some models).
fn settled_descriptors(pid: u32, baseline: usize) -> usize {
    let settle_end = Instant::now() + SETTLE;
    let mut now = probe::descriptors(pid).unwrap_or(usize::MAX);
    while now != baseline && Instant::now() < settle_end {
        thread::sleep(Duration::from_millis(100));
        now = probe::descriptors(pid).unwrap_or(usize::MAX);
    }
    now
}

/// One `GET` with `Connection: close`; the whole response.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    Ok(response)
}

fn start_load(harness: &Path, args: &[&str]) -> std::io::Result<Child> {
    Command::new(harness)
        .arg("load")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
}

/// Wait for a load generator (it stops by itself after its `-t`; killed by PID if it has not
/// 30 s later) and read its request and error counts from `--json`.
fn finish_load(child: std::io::Result<Child>) -> Result<(u64, u64), String> {
    let mut child = child.map_err(|e| format!("cannot start harness: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("did not stop by itself".into());
            }
        }
    }
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!(
            "exit {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|e| format!("its --json: {e}"))?;
    let requests = report["requests"].as_u64().unwrap_or(0);
    let errors = report["errors"].as_object().map_or(0, |kinds| {
        kinds.values().filter_map(serde_json::Value::as_u64).sum()
    });
    Ok((requests, errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_counts_only_past_the_slack() {
        assert!(!grew(&[]), "no rounds");
        assert!(!grew(&[100]), "one round");
        assert!(!grew(&[100, 100 + RSS_SLACK_KIB]), "at the bound");
        assert!(grew(&[100, 101 + RSS_SLACK_KIB]), "past it");
        assert!(!grew(&[500, 100]), "shrinking");
        assert!(
            !grew(&[u64::MAX, u64::MAX]),
            "unreadable RSS does not overflow"
        );
        assert!(
            grew(&[100, 200 + RSS_SLACK_KIB, 100]),
            "the first two decide"
        );
    }
}
