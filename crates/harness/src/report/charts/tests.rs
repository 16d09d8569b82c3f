//! Tests of the chart inputs (what each chart plots) and one drawing of every chart.

use std::collections::BTreeMap;

use super::bars::{latency_axis_end, latency_dots, segments, stacked_names};
use super::lessons::LESSONS;
use super::lines::Styles;
use super::series::{Metric, XAxis, healthy_runs, points};
use super::*;
use crate::compare::matrix::SERVERS;
use crate::load::{Errors, Latency, LoadReport};
use crate::results::{Cell, Machine, Run, Scenario, ServerFigures, Settings, Syscalls};

fn scenario(group: &str, clients: usize, idle: usize) -> Scenario {
    Scenario {
        id: format!("{group}-{clients}-{idle}"),
        title: format!("{group} {clients} {idle}"),
        group: group.into(),
        clients,
        idle,
        close: false,
        path: "/hello.txt".into(),
        post_bytes: None,
        rate: None,
    }
}

/// One run: `rps` req/s, `cpu_ms` per 1k requests, `errors` non-2xx answers.
fn run(rps: f64, cpu_ms: f64, errors: u64) -> Run {
    Run {
        load: LoadReport {
            url: "http://127.0.0.1:1/hello.txt".into(),
            clients: 50,
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
            mb_per_sec: 0.0,
            connections: 50,
            latency: Latency {
                count: 100,
                p50_us: 100.0,
                p99_us: 900.0,
                ..Latency::default()
            },
            connect: None,
            errors: Errors {
                non_2xx: errors,
                ..Errors::default()
            },
            status_codes: BTreeMap::new(),
            loop_allocations: 0,
        },
        server: Some(ServerFigures {
            cpu_seconds: 0.5,
            cpu_source: "cpu-clock".into(),
            user_seconds: 0.2,
            system_seconds: 0.3,
            cpu_ms_per_1k_requests: Some(cpu_ms),
            context_switches: 0,
            context_switches_per_request: None,
            context_switch_source: "threads".into(),
            peak_rss_kib: 4096,
            threads: 2,
            served_requests: None,
            other_load_on_server_cpu: None,
            steal_on_server_cpu: None,
        }),
        client: None,
        remeasured_for_steal: 0,
        probe_cpu_us_per_request: Some(30.0),
    }
}

fn row(server: &str, mode: &str, cells: Vec<(&Scenario, Cell)>) -> Row {
    Row {
        server: server.into(),
        mode: mode.into(),
        args: vec![],
        na: None,
        cells: cells.into_iter().map(|(s, c)| (s.id.clone(), c)).collect(),
        syscalls: Ok(Syscalls {
            requests: 100,
            per_request: BTreeMap::from([
                ("epoll_wait".into(), 0.5),
                ("read".into(), 1.0),
                ("write".into(), 1.0),
                ("futex".into(), 0.01),
            ]),
            total_per_request: 2.51,
        }),
    }
}

/// Idle group 0/1000/5000, rate group 0/1000: epoll healthy everywhere, poll failing at 5000
/// idle, select n/a there.
fn results() -> Results {
    let idle: Vec<Scenario> = [0, 1000, 5000]
        .iter()
        .map(|&i| scenario("idle", 50, i))
        .collect();
    let rate: Vec<Scenario> = [0, 1000].iter().map(|&i| scenario("rate", 50, i)).collect();
    let healthy = |rps: f64| Cell::from_runs(vec![run(rps, 20.0, 0), run(rps * 1.1, 24.0, 0)]);
    let epoll = row(
        "server-epoll",
        "single-level",
        vec![
            (&idle[0], healthy(1000.0)),
            (&idle[1], healthy(990.0)),
            (&idle[2], healthy(980.0)),
            (&rate[0], healthy(5000.0)),
            (&rate[1], healthy(5000.0)),
        ],
    );
    let poll = row(
        "server-poll",
        "",
        vec![
            (&idle[0], healthy(1000.0)),
            (&idle[1], healthy(700.0)),
            (&idle[2], Cell::from_runs(vec![run(300.0, 90.0, 7)])),
        ],
    );
    let select = row(
        "server-select",
        "",
        vec![
            (&idle[0], healthy(1000.0)),
            (&idle[1], healthy(800.0)),
            (&idle[2], Cell::na("n/a — FD_SETSIZE")),
        ],
    );
    Results {
        started: "2026-12-03T10:00:00Z".into(),
        wall_seconds: 1.0,
        load_average: ["0.1".into(), "0.2".into()],
        machine: Machine {
            host: "test".into(),
            cpu_model: "Test CPU".into(),
            cpus: 2,
            kernel: "6.1.0".into(),
            glibc: "2.36".into(),
            rustc: "1.90.0".into(),
            nginx: None,
            fd_limit: 1024,
        },
        settings: Settings {
            quick: false,
            seconds_per_cell: 1.0,
            repeats: 2,
            load_threads: 1,
            server_cpus: vec![0],
            load_cpus: vec![1],
            request_timeout_s: 2.0,
            server_flags: vec![],
            strace_seconds: None,
            strace_skipped: None,
        },
        scenarios: idle.into_iter().chain(rate).collect(),
        rows: vec![select, poll, epoll],
    }
}

#[test]
fn every_panel_has_at_most_six_series_and_names_rows_of_the_matrix() {
    for spec in LESSONS {
        assert!(!spec.panels.is_empty(), "{}: no panel", spec.file);
        for p in spec.panels {
            let rows = if p.rows.is_empty() { spec.rows } else { p.rows };
            assert!(!rows.is_empty(), "{}: a panel without rows", spec.file);
            assert!(
                rows.len() <= 6,
                "{}: {} series in a panel",
                spec.file,
                rows.len()
            );
            for (server, mode) in rows {
                let known = *server == "nginx"
                    || SERVERS
                        .iter()
                        .any(|s| s.name == *server && s.modes.iter().any(|(m, _)| m == mode));
                assert!(
                    known,
                    "{}: {server} {mode:?} is not in the matrix",
                    spec.file
                );
            }
        }
    }
}

#[test]
fn every_model_has_its_own_colour() {
    let mut colours: Vec<(u8, u8, u8)> = SERVERS
        .iter()
        .map(|s| s.name)
        .chain(["nginx"])
        .map(|n| {
            let c = style::model_colour(n);
            (c.0, c.1, c.2)
        })
        .collect();
    let n = colours.len();
    colours.sort();
    colours.dedup();
    assert_eq!(colours.len(), n, "two models share a colour");
}

#[test]
fn modes_of_one_model_share_its_colour_and_differ_in_dash() {
    let r = results();
    let a = row("server-epoll", "single-level", vec![]);
    let b = row("server-epoll", "single-edge", vec![]);
    let styles = Styles::for_rows(&[&a, &b, &r.rows[0]]);
    let (ca, da) = styles.of(&a);
    let (cb, db) = styles.of(&b);
    let (cs, _) = styles.of(&r.rows[0]);
    assert_eq!((ca.0, ca.1, ca.2), (cb.0, cb.1, cb.2));
    assert_ne!(da, db);
    assert_ne!((ca.0, ca.1, ca.2), (cs.0, cs.1, cs.2));
}

#[test]
fn a_point_is_the_median_with_the_min_and_max_of_the_repeats() {
    let r = results();
    let epoll = &r.rows[2];
    let p = points(&r, epoll, "idle", XAxis::Idle, Metric::Throughput);
    assert_eq!(p.len(), 3);
    assert_eq!(p[1].x, 1000.0);
    assert_eq!((p[1].min, p[1].max), (990.0, 1089.0));
    assert!(p[1].median > p[1].min && p[1].median < p[1].max);
    assert!(p.iter().all(|p| !p.failed));
    // CPU ms per 1,000 requests is CPU µs per request.
    let cpu = points(&r, epoll, "rate", XAxis::Idle, Metric::CpuPerRequest);
    assert_eq!((cpu[0].min, cpu[0].max), (20.0, 24.0));
    let rss = points(&r, epoll, "idle", XAxis::Idle, Metric::Rss);
    assert_eq!(rss[0].median, 4.0);
}

#[test]
fn a_cell_with_errors_is_a_failed_point_that_breaks_the_line() {
    let r = results();
    let poll = points(&r, &r.rows[1], "idle", XAxis::Idle, Metric::Throughput);
    assert_eq!(
        poll.iter().map(|p| p.failed).collect::<Vec<_>>(),
        [false, false, true]
    );
    assert_eq!(
        healthy_runs(&poll),
        vec![vec![(0.0, poll[0].median), (1000.0, poll[1].median)]]
    );
    // An n/a cell is no point at all.
    let select = points(&r, &r.rows[0], "idle", XAxis::Idle, Metric::Throughput);
    assert_eq!(select.len(), 2);
}

#[test]
fn the_lesson_panels_take_their_rows_and_groups() {
    let r = results();
    let spec = LESSONS
        .iter()
        .find(|s| s.file == "lesson-multiplexing.svg")
        .expect("the multiplexing lesson");
    let panels = panels(&r, spec);
    // Throughput vs idle (3 rows), CPU per request at the fixed rate (epoll only).
    assert_eq!(panels.len(), 2);
    assert_eq!(panels[0].series.len(), 3);
    assert_eq!(panels[0].xs, vec![0.0, 1000.0, 5000.0]);
    assert_eq!(panels[1].series.len(), 1);
    assert_eq!(panels[1].series[0].row.server, "server-epoll");
    // Panels of one metric share the y axis; the highest whisker sets it.
    let top = 1.1 * 1000.0;
    assert_eq!(lines::shared_y_max(&panels, Metric::Throughput), top * 1.12);
}

#[test]
fn the_latency_axis_clips_a_far_outlier() {
    assert_eq!(latency_axis_end(&[1.0, 2.0, 2.0]), 2.0 * 1.15);
    // One p99 of 100 ms beside 1–2 ms: the axis ends at 1.5× the third largest.
    assert_eq!(latency_axis_end(&[1.0, 2.0, 100.0, 2.0]), 3.0);
    assert_eq!(latency_axis_end(&[]), 1.0);
}

#[test]
fn syscall_bars_add_up_to_the_total() {
    let r = results();
    let names = stacked_names(&r);
    assert_eq!(names[0], "read"); // ties broken by name: read before write
    let segs = segments(&r.rows[2], &names).expect("syscalls");
    let sum: f64 = segs.iter().map(|(_, v)| v).sum();
    assert!((sum - 2.51).abs() < 1e-9, "{sum}");
}

#[test]
fn latency_dots_come_from_the_median_run_and_flag_failures() {
    let r = results();
    let s = &r.scenarios[2];
    let d = latency_dots(&r.rows[1], s).expect("poll at 5000 idle");
    assert!(d.failed);
    assert_eq!(d.p99_runs_us, vec![900.0]);
    assert!(latency_dots(&r.rows[0], s).is_none(), "n/a cell");
}

#[test]
fn every_chart_with_data_is_drawn_with_its_caption() {
    let r = results();
    let dir = tempfile::tempdir().expect("temp dir");
    let drawn = draw_all(&r, dir.path());
    let files: Vec<&str> = drawn.iter().map(|d| d.file).collect();
    for expected in [
        "lesson-multiplexing.svg",
        "summary-c10k.svg",
        "syscalls-per-request.svg",
    ] {
        assert!(files.contains(&expected), "{expected} not drawn: {files:?}");
    }
    // No keep-alive scenario in this run: no latency chart, and no chart without data.
    assert!(!files.contains(&"latency.svg"));
    let svg = std::fs::read_to_string(dir.path().join("lesson-multiplexing.svg")).expect("svg");
    assert!(svg.contains("Test CPU (2 CPUs)"), "caption missing");
    assert!(svg.contains("2026-12-03"), "date missing");
    assert!(svg.contains("poll"), "legend missing");
}

#[test]
fn a_run_stolen_from_is_measured_again_twice_at_most() {
    let stolen = |server: Option<f64>, client: Option<f64>| {
        let mut r = run(1.0, 1.0, 0);
        if let Some(f) = r.server.as_mut() {
            f.steal_on_server_cpu = server;
        }
        r.client = Some(crate::results::ClientFigures {
            cpu_seconds: 0.0,
            busy_share: 0.0,
            steal_on_load_cpu: client,
        });
        r
    };
    assert_eq!(stolen(Some(0.01), Some(0.07)).max_steal(), 0.07);
    assert_eq!(stolen(None, None).max_steal(), 0.0);
    assert!(!stolen(Some(0.049), None).stolen_from(0));
    assert!(stolen(Some(0.05), None).stolen_from(0));
    assert!(stolen(None, Some(0.3)).stolen_from(1));
    let last = crate::results::STEAL_RETRIES;
    assert!(
        !stolen(None, Some(0.3)).stolen_from(last),
        "the last attempt stands"
    );
}

#[test]
fn failed_points_above_the_axis_at_one_x_are_stacked_not_printed_over_each_other() {
    let mut r = results();
    // At a fixed rate with 1,000 idle connections, poll and epoll both fail, far above the
    // healthy cells' CPU per request (about 20 µs): both are drawn at the top of the axis.
    let rate = scenario("rate", 50, 1000);
    for (index, cpu_us) in [(1, 90.0), (2, 150.0)] {
        let failing = Cell::from_runs(vec![run(300.0, cpu_us, 7)]);
        r.rows[index].cells.insert(rate.id.clone(), failing);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    draw_all(&r, dir.path());
    let svg = std::fs::read_to_string(dir.path().join("lesson-multiplexing.svg")).expect("svg");
    // Every off-scale label: its text and its y.
    let labels: Vec<(String, String)> = svg
        .split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = t.split_once('>')?.1.split_once("</text>")?.0;
            let y = t.split_once("y=\"")?.1.split_once('"')?.0;
            body.contains('↑')
                .then(|| (body.to_string(), y.to_string()))
        })
        .collect();
    let y_of = |value: &str| {
        labels
            .iter()
            .find(|(t, _)| t.contains(value))
            .map(|(_, y)| y.clone())
    };
    assert!(y_of("90").is_some() && y_of("150").is_some(), "{labels:?}");
    assert_ne!(y_of("90"), y_of("150"), "two labels at one x share a line");
}
