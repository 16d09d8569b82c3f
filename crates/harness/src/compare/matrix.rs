//! The matrix as data: THE table of servers and their modes, and the scenarios every row runs.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use crate::results::Scenario;

/// One server crate and the modes it is measured in.
#[derive(Debug)]
pub struct ServerSpec {
    /// Crate (and binary) name.
    pub name: &'static str,
    /// `(mode label, extra flags)`; every mode is its own row.
    pub modes: &'static [(&'static str, &'static [&'static str])],
    /// Most descriptors the model can watch (`select`: `FD_SETSIZE`), with the reason.
    pub fd_limit: Option<(usize, &'static str)>,
}

/// THE table: every server of the workspace and its modes. Add a line here for a new server.
pub const SERVERS: &[ServerSpec] = &[
    ServerSpec {
        name: "server-blocking",
        modes: &[("thread-per-conn", &[]), ("pool-32", &["--pool", "32"])],
        fd_limit: None,
    },
    ServerSpec {
        name: "server-nonblocking",
        modes: &[("sleep", &[]), ("spin", &["--spin"])],
        fd_limit: None,
    },
    ServerSpec {
        name: "server-select",
        modes: &[("", &[])],
        fd_limit: Some((1024, "select: FD_SETSIZE is 1024")),
    },
    ServerSpec {
        name: "server-poll",
        modes: &[("", &[])],
        fd_limit: None,
    },
    ServerSpec {
        name: "server-epoll",
        modes: &[
            (
                "single-level",
                &["--pattern", "single", "--trigger", "level"],
            ),
            ("single-edge", &["--pattern", "single", "--trigger", "edge"]),
            (
                "reactor-level",
                &["--pattern", "reactor", "--trigger", "level"],
            ),
            (
                "reactor-edge",
                &["--pattern", "reactor", "--trigger", "edge"],
            ),
            (
                "proactor-level",
                &["--pattern", "proactor", "--trigger", "level"],
            ),
            (
                "proactor-edge",
                &["--pattern", "proactor", "--trigger", "edge"],
            ),
            ("multi-level", &["--pattern", "multi", "--trigger", "level"]),
            ("multi-edge", &["--pattern", "multi", "--trigger", "edge"]),
            (
                NO_SENDFILE.1,
                &["--pattern", "single", "--trigger", "level", "--no-sendfile"],
            ),
        ],
        fd_limit: None,
    },
    ServerSpec {
        name: "server-sigio",
        modes: &[
            ("rt", &["--signal", "rt"]),
            ("plain", &["--signal", "plain"]),
        ],
        fd_limit: None,
    },
    ServerSpec {
        name: "server-aio",
        // glibc's AIO pool must hold one helper thread per idle connection (see the crate doc):
        // size it for the largest idle cell, so the C10K row shows that cost instead of 503s.
        modes: &[
            (
                "signal",
                &["--notify", "signal", "--max-connections", "9500"],
            ),
            (
                "suspend",
                &["--notify", "suspend", "--max-connections", "9500"],
            ),
        ],
        fd_limit: None,
    },
    ServerSpec {
        name: "server-uring",
        modes: &[("", &[])],
        fd_limit: None,
    },
];

/// `server-epoll` copying file bodies through user space (`--no-sendfile`): measured in the
/// large-file group only, where it is the fair partner of the models that copy (aio, uring's
/// read mode) — `sendfile` against copying is not one model against another.
pub const NO_SENDFILE: (&str, &str) = ("server-epoll", "single-level-no-sendfile");

/// The rows measured in the work groups: one of each place a request's logic can run — the one
/// loop thread (`single-level`; every other single-threaded server runs its logic the same way),
/// a pool (`reactor`, `proactor`, and `server-blocking --pool 32`), one loop per CPU (`multi`),
/// a thread per connection, and the completion loop of `server-uring`. (Fewer rows keep the
/// full matrix within its time budget.)
const WORK_ROWS: &[(&str, &str)] = &[
    ("server-blocking", "thread-per-conn"),
    ("server-blocking", "pool-32"),
    ("server-epoll", "single-level"),
    ("server-epoll", "reactor-level"),
    ("server-epoll", "proactor-level"),
    ("server-epoll", "multi-level"),
    ("server-uring", ""),
];

/// Every group but the work groups.
const NOT_WORK: &[&str] = &["keepalive", "close", "idle", "rate", "upload", "large"];

/// The groups a row takes part in, when it is not all of them.
pub fn only_groups(server: &str, mode: &str) -> Option<&'static [&'static str]> {
    if (server, mode) == NO_SENDFILE {
        return Some(&["large"][..]);
    }
    (!WORK_ROWS.contains(&(server, mode))).then_some(NOT_WORK)
}

/// The reference row's name.
pub const NGINX: &str = "nginx";

/// The small static file every server serves: the repository's `www/hello.txt`, the same bytes
/// `scripts/compare.sh --wrk-check` and `scripts/wrk-vs-nginx.sh` fetch, so every "small file"
/// figure of the project is about one file.
pub const SMALL_FILE: (&str, &[u8]) = (
    "hello.txt",
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../www/hello.txt")),
);
pub const FILE_1M: (&str, usize) = ("1m.bin", 1 << 20);
/// The fixed-rate group's load: this many requests per second in total, open loop (latency
/// corrected for coordinated omission), from [`RATE_CLIENTS`] connections. A rate every
/// event-driven model sustains on one CPU, so the cells compare what the rate costs.
pub const FIXED_RATE: f64 = 5000.0;
/// Active connections of the fixed-rate group.
pub const RATE_CLIENTS: usize = 50;

/// The work groups: requests whose *logic* computes (`/cpu/US`) or waits (`/block/MS`, as a
/// database call does), served with `--work-routes`. They answer the course's question *when does
/// a thread pool pay*, so the server gets every CPU of the run in these cells (see
/// [`is_work_group`]).
pub const WORK_GROUPS: [&str; 2] = ["block", "cpu"];
/// Active connections of the work groups.
pub const WORK_CLIENTS: usize = 20;

/// Whether `group` is one of [`WORK_GROUPS`].
pub fn is_work_group(group: &str) -> bool {
    WORK_GROUPS.contains(&group)
}

/// The upload scenario's request body: `POST /echo` with 64 KiB, sent back by the server.
pub const UPLOAD_BYTES: usize = 64 << 10;
pub const FILE_64M: (&str, usize) = ("64m.bin", 64 << 20);

fn scenario(
    group: &'static str,
    clients: usize,
    idle: usize,
    file: &str,
    title: String,
) -> Scenario {
    let id = match group {
        "keepalive" => format!("keepalive-{clients}"),
        "close" => format!("close-{clients}"),
        "idle" => format!("idle-{idle}"),
        "upload" => format!("upload-{}k", UPLOAD_BYTES >> 10),
        "rate" => format!("rate-{}-idle-{idle}", FIXED_RATE as u64),
        // `file` is the route: "block/5" → block-5ms, "cpu/500" → cpu-500us.
        "block" => format!("{}ms", file.replace('/', "-")),
        "cpu" => format!("{}us", file.replace('/', "-")),
        _ => format!("large-{}", file.trim_end_matches(".bin")),
    };
    let upload = group == "upload";
    Scenario {
        id,
        title,
        group: group.to_string(),
        clients,
        idle,
        close: group == "close",
        path: if upload {
            "/echo".into()
        } else {
            format!("/{file}")
        },
        post_bytes: upload.then_some(UPLOAD_BYTES),
        rate: (group == "rate").then_some(FIXED_RATE),
    }
}

/// The matrix: the full one, or the reduced `--quick` one.
// Long: the matrix reads best as one list, group by group, in the order results.md shows it.
pub fn scenarios(quick: bool) -> Vec<Scenario> {
    let small = SMALL_FILE.0;
    let mut list = Vec::new();
    let sweep: &[usize] = if quick { &[10] } else { &[1, 10, 100, 1000] };
    for &c in sweep {
        list.push(scenario(
            "keepalive",
            c,
            0,
            small,
            format!(
                "Keep-alive, small file ({} B), {c} clients",
                SMALL_FILE.1.len()
            ),
        ));
    }
    list.push(scenario(
        "close",
        100,
        0,
        small,
        format!(
            "Connection per request (webbench style), small file ({} B), 100 clients",
            SMALL_FILE.1.len()
        ),
    ));
    let idles: &[usize] = if quick {
        &[1000]
    } else {
        &[0, 1000, 5000, 9000]
    };
    for &idle in idles {
        list.push(scenario(
            "idle",
            50,
            idle,
            small,
            format!(
                "50 active keep-alive clients + {idle} idle connections, small file ({} B)",
                SMALL_FILE.1.len()
            ),
        ));
    }
    // Cost at a fixed rate: the C10K curve as CPU per request, latency, memory and threads,
    // independent of how fast the load generator is.
    for &idle in idles {
        list.push(scenario(
            "rate",
            RATE_CLIENTS,
            idle,
            small,
            format!(
                "Fixed rate: {} req/s from {RATE_CLIENTS} clients + {idle} idle connections, small file ({} B)",
                FIXED_RATE as u64,
                SMALL_FILE.1.len()
            ),
        ));
    }
    list.push(scenario(
        "upload",
        10,
        0,
        "echo",
        format!(
            "Upload: POST /echo with a {} KiB body (echoed back), 10 clients",
            UPLOAD_BYTES >> 10
        ),
    ));
    // When does a thread pool pay: logic that waits, then logic that computes.
    let blocks: &[u64] = if quick { &[5] } else { &[1, 5, 20] };
    for &ms in blocks {
        list.push(scenario(
            "block",
            WORK_CLIENTS,
            0,
            &format!("block/{ms}"),
            format!(
                "Logic that waits: GET /block/{ms} (blocks {ms} ms, as a database call), \
                 {WORK_CLIENTS} clients, the server on every CPU"
            ),
        ));
    }
    let cpus: &[u64] = if quick { &[500] } else { &[100, 500, 2000] };
    for &us in cpus {
        list.push(scenario(
            "cpu",
            WORK_CLIENTS,
            0,
            &format!("cpu/{us}"),
            format!(
                "Logic that computes: GET /cpu/{us} (about {us} µs of CPU), {WORK_CLIENTS} \
                 clients, the server on every CPU"
            ),
        ));
    }
    let large: &[(&str, usize)] = if quick {
        &[FILE_1M]
    } else {
        &[FILE_1M, FILE_64M]
    };
    for &(file, size) in large {
        list.push(scenario(
            "large",
            10,
            0,
            file,
            format!("Large file ({} MiB = {size} B), 10 clients", size >> 20),
        ));
    }
    list
}

/// The files every scenario requests, written into the temporary document root.
pub fn write_fixtures(root: &Path, scenarios: &[Scenario]) -> io::Result<()> {
    fs::write(root.join(SMALL_FILE.0), SMALL_FILE.1)?;
    for (name, size) in [FILE_1M, FILE_64M] {
        if scenarios.iter().any(|s| s.path == format!("/{name}")) {
            let mut file = io::BufWriter::new(File::create(root.join(name))?);
            let block: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
            for _ in 0..size / block.len() {
                file.write_all(&block)?;
            }
            file.flush()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_server_appears_once_and_modes_are_unique() {
        let mut names: Vec<&str> = SERVERS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SERVERS.len());
        for s in SERVERS {
            let mut modes: Vec<&str> = s.modes.iter().map(|m| m.0).collect();
            modes.sort_unstable();
            modes.dedup();
            assert_eq!(modes.len(), s.modes.len(), "{}", s.name);
        }
    }

    #[test]
    fn the_work_groups_measure_each_place_logic_runs() {
        assert_eq!(only_groups("server-epoll", "reactor-level"), None);
        assert_eq!(only_groups("server-blocking", "pool-32"), None);
        let poll = only_groups("server-poll", "").expect("poll skips the work groups");
        assert!(WORK_GROUPS.iter().all(|g| !poll.contains(g)));
        assert!(poll.contains(&"idle") && poll.contains(&"large"));
        assert_eq!(
            only_groups(NO_SENDFILE.0, NO_SENDFILE.1),
            Some(&["large"][..])
        );
        for (server, mode) in WORK_ROWS {
            let spec = SERVERS
                .iter()
                .find(|s| s.name == *server)
                .expect("a server");
            assert!(spec.modes.iter().any(|m| m.0 == *mode), "{server} {mode}");
        }
    }

    #[test]
    fn quick_matrix_is_smaller_and_ids_are_unique() {
        let full = scenarios(false);
        let quick = scenarios(true);
        assert!(quick.len() < full.len());
        let mut ids: Vec<&str> = full.iter().map(|s| s.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), full.len());
        assert!(full.iter().any(|s| s.id == "idle-9000"));
        assert!(full.iter().any(|s| s.id == "large-64m"));
        let upload = quick
            .iter()
            .find(|s| s.group == "upload")
            .expect("upload in --quick");
        assert_eq!(
            (upload.id.as_str(), upload.path.as_str(), upload.post_bytes),
            ("upload-64k", "/echo", Some(65536))
        );
        assert!(
            full.iter()
                .any(|s| s.id == "rate-5000-idle-9000" && s.rate == Some(5000.0))
        );
        assert!(
            full.iter()
                .any(|s| s.id == "block-20ms" && s.path == "/block/20")
        );
        assert!(
            full.iter()
                .any(|s| s.id == "cpu-2000us" && s.path == "/cpu/2000")
        );
        for group in [
            "keepalive",
            "close",
            "idle",
            "rate",
            "upload",
            "block",
            "cpu",
            "large",
        ] {
            assert!(
                quick.iter().any(|s| s.group == group),
                "--quick has {group}"
            );
        }
    }
}
