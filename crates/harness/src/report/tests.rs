//! Unit tests of `report`: results.md rendered from a small hand-made run.

use std::collections::BTreeMap;

use super::markdown::*;
use crate::load::{Errors, Latency, LoadReport};
use crate::results::{CONTROL, CONTROL_COPY, Cell, Results, Row, Scenario};
use crate::results::{ClientFigures, Machine, Run, ServerFigures, Settings, Syscalls};

/// A keep-alive scenario with `clients` clients.
fn keepalive(clients: usize) -> Scenario {
    Scenario {
        id: format!("keepalive-{clients}"),
        title: format!("Keep-alive, {clients} clients"),
        group: "keepalive".into(),
        clients,
        idle: 0,
        close: false,
        path: "/small.html".into(),
        post_bytes: None,
        rate: None,
    }
}

/// A measured cell: `rps` requests/s, `p99_us` p99, `errors`, on a disturbed server CPU.
fn measured_cell(rps: f64, p99_us: f64, errors: Errors) -> Cell {
    let load = LoadReport {
        url: "http://127.0.0.1:1/small.html".into(),
        clients: 1,
        threads: 1,
        close: false,
        rate: None,
        idle_requested: 0,
        idle_established: 0,
        seconds: 1.0,
        requests: rps as u64,
        requests_per_sec: rps,
        bytes_read: 0,
        body_bytes: 0,
        mb_per_sec: 1.25,
        connections: 1,
        latency: Latency {
            count: 10,
            p50_us: 80.0,
            p99_us,
            p999_us: 2_500.0,
            max_us: 1_200_000.0,
            ..Latency::default()
        },
        connect: None,
        errors,
        status_codes: BTreeMap::from([(200, 10), (503, errors.non_2xx)]),
        loop_allocations: 0,
    };
    let server = ServerFigures {
        cpu_seconds: 0.5,
        cpu_source: "cpu-clock".into(),
        user_seconds: 0.2,
        system_seconds: 0.3,
        cpu_ms_per_1k_requests: Some(12.34),
        context_switches: 100,
        context_switches_per_request: None,
        context_switch_source: "threads".into(),
        peak_rss_kib: 2048,
        threads: 3,
        served_requests: None,
        other_load_on_server_cpu: Some(0.5),
        steal_on_server_cpu: Some(0.0),
    };
    Cell::from_runs(vec![Run {
        load,
        server: Some(server),
        client: Some(ClientFigures {
            cpu_seconds: 0.95,
            busy_share: 0.95,
            steal_on_load_cpu: Some(0.0),
        }),
        remeasured_for_steal: 0,
        probe_cpu_us_per_request: Some(30.0),
    }])
}

/// Two keep-alive scenarios; one measured row, one row that was not built.
fn tiny_results() -> Results {
    let errors = Errors {
        non_2xx: 3,
        reset: 1,
        ..Errors::default()
    };
    let measured = Row {
        server: "demo".into(),
        mode: "fast".into(),
        args: vec![],
        na: None,
        cells: BTreeMap::from([
            (
                "keepalive-1".into(),
                measured_cell(1000.4, 150.0, Errors::default()),
            ),
            (
                "keepalive-100".into(),
                measured_cell(2000.0, 3_000.0, errors),
            ),
        ]),
        syscalls: Ok(Syscalls {
            requests: 100,
            per_request: BTreeMap::from([
                ("read".into(), 1.0),
                ("write".into(), 2.5),
                ("futex".into(), 0.001),
            ]),
            total_per_request: 3.501,
        }),
    };
    let missing = Row {
        server: "other".into(),
        mode: String::new(),
        args: vec![],
        na: Some("not built".into()),
        cells: BTreeMap::from([("keepalive-1".into(), Cell::na("not | built"))]),
        syscalls: Err("not built".into()),
    };
    Results {
        started: "2026-01-02T03:04:05Z".into(),
        wall_seconds: 12.6,
        load_average: ["0.10 0.20 0.30".into(), "1.00 2.00 3.00".into()],
        machine: Machine {
            host: "vm".into(),
            cpu_model: "Test CPU".into(),
            cpus: 2,
            kernel: "6.1.0".into(),
            glibc: "glibc 2.36".into(),
            rustc: "rustc 1.90.0".into(),
            nginx: None,
            fd_limit: 1024,
        },
        settings: Settings {
            quick: true,
            seconds_per_cell: 0.5,
            repeats: 1,
            load_threads: 1,
            server_cpus: vec![0],
            load_cpus: vec![],
            request_timeout_s: 1.0,
            server_flags: vec!["--timeout".into(), "120".into()],
            strace_seconds: Some(0.25),
            strace_skipped: None,
        },
        scenarios: vec![keepalive(1), keepalive(100)],
        rows: vec![measured, missing],
    }
}

#[test]
fn markdown_shows_the_run_the_tables_and_the_syscalls() {
    let md = markdown(
        &tiny_results(),
        &[("latency.svg", "Latency per server", "What to look for.")],
    );
    let lines: Vec<&str> = md.lines().collect();
    for expected in [
        "# io-models benchmark run, 2026-01-02T03:04:05Z",
        "Machine: Test CPU (2 CPUs), Linux 6.1.0, glibc 2.36, rustc 1.90.0. `ulimit -n` 1024.",
        "![Latency per server](latency.svg)",
        "## Requests/s vs concurrency (keep-alive)",
        "| server | 1 clients | 100 clients |",
        "| demo fast | ⚠ 1000 | ✗ ⚠ 2000 (4 err) |",
        "| other | n/a — not \\| built | n/a |",
        "## Keep-alive, 100 clients (`keepalive-100`)",
        "| demo fast | ✗ ⚠ 2000 | 1.2 | 80 µs | 3.00 ms | 2.50 ms | 1.20 s | non-2xx 3 (503), reset 1 | 12.3 | 60 % | – | 2.0 MiB | 3 | ◆ 95 % |",
        "| other | n/a — not run | | | | | | | | | | | | |",
        "VM steal time: none reported during any run.",
        "| demo fast | 3.50 | write 2.50, read 1.00 |",
        "| other | n/a | n/a — not built |",
    ] {
        assert!(lines.contains(&expected), "no line {expected:?} in:\n{md}");
    }
    for paragraph in [
        "\n\nLoad: `harness load`, 1 thread, 1 run(s) of 0.5 s per cell, interleaved round-robin \
         over the servers (--quick), request timeout 1 s; \
         servers on CPUs 0, load on CPUs any; every cell starts a fresh server (`--timeout 120`). \
         Matrix: quick, 2 scenarios (`keepalive-1`, `keepalive-100`); whole run 13 s; load average 0.10 0.20 0.30 at the start, 1.00 2.00 \
         3.00 at the end. Client and servers talk over loopback",
        "no network card, no interrupts, no GRO or TSO segmentation",
        "other processes used more than 10 % of the server's CPU",
        "**Too few CPUs for the multi-threaded patterns to show their point.**",
        "\n\nFrom a separate 0.25 s run under `strace -c -f` (keep-alive, 10 clients",
    ] {
        assert!(md.contains(paragraph), "no {paragraph:?} in:\n{md}");
    }
    assert!(
        !md.contains("Requests/s vs idle"),
        "no idle scenarios, no idle table"
    );
}

#[test]
fn the_probe_line_gives_the_machine_speed_and_counts_the_slow_runs() {
    /// The tiny results with the probe figures `probes`, given to its runs in order.
    fn probed(probes: &[Option<f64>]) -> Results {
        let mut results = tiny_results();
        let runs = results
            .rows
            .iter_mut()
            .flat_map(|r| r.cells.values_mut())
            .flat_map(|c| c.runs.iter_mut());
        for (run, probe) in runs.zip(probes) {
            run.probe_cpu_us_per_request = *probe;
        }
        results
    }
    // Two runs in the tiny results: 30 and 34 µs (median 32; 34 is 6 % above it, not slow).
    let md = markdown(&probed(&[Some(30.0), Some(34.0)]), &[]);
    assert!(
        md.contains("median of 32.0 µs of CPU per request, 30.0–34.0 over the 2 runs"),
        "{md}"
    );
    assert!(
        md.contains("10 % or more above its median: 0 of the runs (0 %)"),
        "{md}"
    );
    // 40 µs is 14 % above the median of 35: a slow machine.
    let md = markdown(&probed(&[Some(30.0), Some(40.0)]), &[]);
    assert!(
        md.contains("10 % or more above its median: 1 of the runs (50 %)"),
        "{md}"
    );
    let md = markdown(&probed(&[None, None]), &[]);
    assert!(!md.contains("Machine speed"), "no probe, no line");
}

/// A cell of three runs at `rps` req/s each, with CPU ms/1k of `cpu` each.
fn three_runs(rps: [f64; 3], cpu: [f64; 3]) -> Cell {
    let runs = rps
        .iter()
        .zip(cpu)
        .map(|(&r, c)| {
            let mut one = measured_cell(r, 100.0 * r / 1000.0, Errors::default());
            let mut run = one.runs.remove(0);
            if let Some(server) = run.server.as_mut() {
                server.cpu_ms_per_1k_requests = Some(c);
                server.other_load_on_server_cpu = None;
            }
            run
        })
        .collect();
    Cell::from_runs(runs)
}

#[test]
fn repeated_cells_show_the_median_with_min_max_and_flag_a_wide_spread() {
    let steady = three_runs([1000.0, 1040.0, 990.0], [10.0, 10.5, 9.9]);
    let noisy = three_runs([1000.0, 1500.0, 900.0], [10.0, 8.0, 12.0]);
    // The median run is shown: its p99 (set to rps/10 µs) is the median run's.
    assert_eq!(
        steady.load.as_ref().expect("measured").requests_per_sec,
        1000.0
    );
    assert_eq!(rps_text(&steady), "1000 (990–1040)");
    assert_eq!(rps_text(&noisy), "~1000 (900–1500)");
    let row = cell_row(
        &Row {
            server: "demo".into(),
            mode: String::new(),
            args: vec![],
            na: None,
            cells: BTreeMap::new(),
            syscalls: Err("-".into()),
        },
        Some(&noisy),
    );
    assert!(row.starts_with("| demo | ~1000 (900–1500) |"), "{row}");
    assert!(
        row.contains("| 10.0 (8.0–12.0) |"),
        "CPU shows its spread: {row}"
    );
}

#[test]
fn a_run_with_errors_marks_the_whole_cell_failed() {
    let mut cell = three_runs([1000.0, 1000.0, 1000.0], [1.0, 1.0, 1.0]);
    cell.runs[2].load.errors.timeout = 7;
    assert_eq!(cell.errors(), 7);
    let row = cell_row(
        &Row {
            server: "demo".into(),
            mode: String::new(),
            args: vec![],
            na: None,
            cells: BTreeMap::new(),
            syscalls: Err("-".into()),
        },
        Some(&cell),
    );
    assert!(row.starts_with("| demo | ✗ 1000 (1000–1000) |"), "{row}");
}

#[test]
fn the_control_table_shows_the_ratio_of_the_two_identical_rows() {
    let mut results = tiny_results();
    let row = |mode: &str, cell: Cell| Row {
        server: CONTROL.0.into(),
        mode: mode.into(),
        args: vec![],
        na: None,
        cells: BTreeMap::from([("keepalive-1".into(), cell)]),
        syscalls: Err("-".into()),
    };
    results.rows.push(row(
        CONTROL.1,
        three_runs([1000.0, 1000.0, 1000.0], [10.0, 10.0, 10.0]),
    ));
    results.rows.push(row(
        CONTROL_COPY,
        three_runs([1100.0, 1100.0, 1100.0], [9.0, 9.0, 9.0]),
    ));
    let md = markdown(&results, &[]);
    assert!(md.contains("## Noise floor: the A/A control"), "{md}");
    assert!(
        md.contains("| `keepalive-1` | 1000 | 1100 | 1.10 | 0.90 |"),
        "{md}"
    );
    assert!(
        !markdown(&tiny_results(), &[]).contains("Noise floor"),
        "no control rows, no table"
    );
}

#[test]
fn an_idle_cell_that_held_fewer_connections_than_asked_is_a_failure() {
    let mut cell = three_runs([1000.0, 1000.0, 1000.0], [1.0, 1.0, 1.0]);
    for run in &mut cell.runs {
        run.load.idle_requested = 1000;
        run.load.idle_established = 1000;
    }
    assert_eq!(idle_short(&cell), None);
    cell.runs[1].load.idle_established = 812;
    assert_eq!(
        idle_short(&cell).as_deref(),
        Some("idle: only 812 of 1000 open")
    );
    let row = Row {
        server: "demo".into(),
        mode: String::new(),
        args: vec![],
        na: None,
        cells: BTreeMap::new(),
        syscalls: Err("-".into()),
    };
    let line = cell_row(&row, Some(&cell));
    assert!(line.starts_with("| demo | ✗ 1000 (1000–1000) |"), "{line}");
    assert!(
        line.contains("| 0; idle: only 812 of 1000 open |"),
        "{line}"
    );
}

#[test]
fn a_fixed_rate_cell_that_fell_short_fails_with_the_rate_it_reached() {
    let at_rate = |rps: [f64; 3]| {
        let mut cell = three_runs(rps, [20.0, 20.0, 20.0]);
        for run in &mut cell.runs {
            run.load.rate = Some(5000.0);
        }
        if let Some(load) = cell.load.as_mut() {
            load.rate = Some(5000.0);
        }
        cell
    };
    let kept_up = at_rate([4990.0, 5000.0, 4980.0]);
    let fell_behind = at_rate([3000.0, 3200.0, 3100.0]);
    assert_eq!(shortfall(&kept_up), None);
    assert_eq!(
        shortfall(&fell_behind).as_deref(),
        Some("rate: reached 3100 of 5000 req/s")
    );
    let mut results = tiny_results();
    let mut scenario = keepalive(50);
    scenario.id = "rate-5000-idle-0".into();
    scenario.group = "rate".into();
    scenario.rate = Some(5000.0);
    results.scenarios.push(scenario);
    results.rows[0]
        .cells
        .insert("rate-5000-idle-0".into(), fell_behind);
    let md = markdown(&results, &[]);
    assert!(
        md.contains("## Cost at a fixed rate: CPU µs per request (p99)"),
        "{md}"
    );
    assert!(
        md.contains("| demo fast | ✗ rate: reached 3100 of 5000 req/s |"),
        "{md}"
    );
    results.rows[0]
        .cells
        .insert("rate-5000-idle-0".into(), kept_up);
    let md = markdown(&results, &[]);
    assert!(md.contains("| demo fast | 20.0 (499 µs) |"), "{md}");
}

#[test]
fn the_summary_is_computed_from_the_numbers() {
    let idle = |n: usize| {
        let mut s = keepalive(50);
        s.id = format!("idle-{n}");
        s.group = "idle".into();
        s.idle = n;
        s
    };
    let row = |server: &str, mode: &str, cells: Vec<(&str, Cell)>, syscalls: f64| Row {
        server: server.into(),
        mode: mode.into(),
        args: vec![],
        na: None,
        cells: cells.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        syscalls: Ok(Syscalls {
            requests: 1,
            per_request: BTreeMap::new(),
            total_per_request: syscalls,
        }),
    };
    let flat = |rps: f64| three_runs([rps, rps, rps], [10.0, 10.0, 10.0]);
    let mut results = tiny_results();
    results.settings.repeats = 3;
    results.scenarios = vec![keepalive(100), idle(0), idle(9000)];
    results.rows = vec![
        row(
            "server-poll",
            "",
            vec![
                ("keepalive-100", flat(900.0)),
                ("idle-0", flat(1000.0)),
                ("idle-9000", flat(120.0)),
            ],
            4.0,
        ),
        row(
            CONTROL.0,
            CONTROL.1,
            vec![
                ("keepalive-100", flat(1200.0)),
                ("idle-0", flat(1000.0)),
                ("idle-9000", flat(970.0)),
            ],
            2.05,
        ),
        row(
            CONTROL.0,
            CONTROL_COPY,
            vec![("keepalive-100", flat(1140.0))],
            2.05,
        ),
        row(
            "nginx",
            "1 worker",
            vec![("keepalive-100", flat(1000.0))],
            5.0,
        ),
    ];
    let md = markdown(&results, &[]);
    for line in [
        "## What this run shows",
        "- **The C10K curve:** at 9000 idle connections, `server-poll` keeps 12 % of its req/s \
         without them, `server-epoll single-level` 97 %.",
        "- **Keep-alive, 100 clients:** the most req/s came from `server-epoll single-level` \
         (1200), 1.20× nginx.",
        "- **Syscalls per request** (keep-alive, small file): from 2.05 (`server-epoll \
         single-level`) to 5.00 (`nginx 1 worker`).",
        "- **How far to trust it:** 8 of 8 measured cells had their 3 runs within 10 % of each \
         other (req/s); the A/A control (`server-epoll single-level` twice) differed from itself \
         by up to 5 %; in 8 cell(s) the load generator was saturated (◆), so those req/s may be \
         its ceiling.",
    ] {
        assert!(md.contains(line), "no {line:?} in:\n{md}");
    }
    let summary_at = md.find("## What this run shows").expect("summary");
    assert!(
        summary_at < md.find("Machine:").expect("header"),
        "the summary opens results.md"
    );
}

#[test]
fn results_json_reads_back_into_the_same_report() {
    let results = tiny_results();
    let json = serde_json::to_string(&results).expect("serialise");
    let back: Results = serde_json::from_str(&json).expect("deserialise");
    assert_eq!(markdown(&back, &[]), markdown(&results, &[]));
}
