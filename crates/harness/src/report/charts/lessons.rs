//! The charts, as data: one small chart per lesson of the course, and the cost charts. Each chart
//! names its rows (server, mode) and its panels (scenario group, x axis, metric). At most six
//! series per panel; a lesson with more becomes small multiples (several panels, one legend).

use super::series::{Metric, XAxis};

/// A (server, mode) pair, as in the matrix (`compare/matrix.rs`).
pub(crate) type RowId = (&'static str, &'static str);

/// One panel: the rows to draw (empty: the chart's rows), over one group of scenarios.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PanelSpec {
    pub group: &'static str,
    pub x: XAxis,
    pub metric: Metric,
    pub rows: &'static [RowId],
    /// A title of its own (small multiples by model); otherwise made from group and metric.
    pub title: Option<&'static str>,
}

/// One chart file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChartSpec {
    pub file: &'static str,
    pub title: &'static str,
    /// What to look for in it, one sentence (results.md prints it under the chart).
    pub shows: &'static str,
    pub rows: &'static [RowId],
    pub panels: &'static [PanelSpec],
}

const fn panel(group: &'static str, x: XAxis, metric: Metric) -> PanelSpec {
    PanelSpec {
        group,
        x,
        metric,
        rows: &[],
        title: None,
    }
}

const fn own(
    title: &'static str,
    group: &'static str,
    x: XAxis,
    metric: Metric,
    rows: &'static [RowId],
) -> PanelSpec {
    PanelSpec {
        group,
        x,
        metric,
        rows,
        title: Some(title),
    }
}

use Metric::{Computing, CpuPerRequest, Rss, Threads, Throughput, Waiting};
use XAxis::{BlockMs, Clients, CpuUs, Idle};

const EPOLL: RowId = ("server-epoll", "single-level");
const NGINX: RowId = ("nginx", "1 worker");

/// The lesson charts, in the order of the course's chapters.
pub(crate) const LESSONS: &[ChartSpec] = &[
    ChartSpec {
        file: "lesson-blocking.svg",
        title: "Blocking I/O: a thread per connection vs a pool of 32",
        shows: "A thread per connection pays one thread per idle connection; the pool caps the \
                threads, and past 32 connections clients wait for a thread (head-of-line \
                blocking: failed cells).",
        rows: &[
            ("server-blocking", "thread-per-conn"),
            ("server-blocking", "pool-32"),
            EPOLL,
        ],
        panels: &[
            panel("keepalive", Clients, Throughput),
            panel("idle", Idle, Throughput),
            panel("idle", Idle, Threads),
            panel("rate", Idle, CpuPerRequest),
        ],
    },
    ChartSpec {
        file: "lesson-nonblocking.svg",
        title: "Non-blocking polling: back-off vs spin",
        shows: "Polling asks every socket again and again: the cost per request grows with the idle \
                connections it keeps asking; spinning burns the CPU even when nothing arrives.",
        rows: &[
            ("server-nonblocking", "sleep"),
            ("server-nonblocking", "spin"),
            EPOLL,
        ],
        panels: &[
            panel("idle", Idle, Throughput),
            panel("rate", Idle, CpuPerRequest),
        ],
    },
    ChartSpec {
        file: "lesson-multiplexing.svg",
        title: "select, poll, epoll as idle connections rise",
        shows: "select and poll hand the kernel every descriptor on every call, so their cost per \
                request grows with idle connections (select stops at 1,024); epoll's does not.",
        rows: &[("server-select", ""), ("server-poll", ""), EPOLL],
        panels: &[
            panel("idle", Idle, Throughput),
            panel("rate", Idle, CpuPerRequest),
        ],
    },
    ChartSpec {
        file: "lesson-level-edge.svg",
        title: "epoll: level-triggered vs edge-triggered",
        shows: "For small requests that are read in one call, level and edge cost the same: the \
                difference is in what a mistake costs (labs edge-no-drain), not in speed.",
        rows: &[
            ("server-epoll", "single-level"),
            ("server-epoll", "single-edge"),
            ("server-epoll", "multi-level"),
            ("server-epoll", "multi-edge"),
        ],
        panels: &[
            panel("keepalive", Clients, Throughput),
            panel("rate", Idle, CpuPerRequest),
        ],
    },
    ChartSpec {
        file: "lesson-epoll-patterns.svg",
        title: "The four epoll patterns: single loop, Reactor, Proactor, one loop per core",
        shows: "Handing each request to a pool (Reactor, Proactor) adds a wake-up and a queue per \
                request; for a small static file that costs more than it buys. Where a pool pays: \
                lesson-thread-pool.svg.",
        rows: &[
            ("server-epoll", "single-level"),
            ("server-epoll", "reactor-level"),
            ("server-epoll", "proactor-level"),
            ("server-epoll", "multi-level"),
        ],
        panels: &[
            panel("keepalive", Clients, Throughput),
            panel("rate", Idle, CpuPerRequest),
            panel("idle", Idle, Throughput),
            panel("idle", Idle, Threads),
        ],
    },
    ChartSpec {
        file: "lesson-thread-pool.svg",
        title: "When does a thread pool pay? Logic that waits, logic that computes",
        shows: "Requests in their logic at once (requests/s × the work per request): when the \
                logic waits (/block), one for a single loop, as many as a pool has workers, every \
                client for a thread per connection; when it computes (/cpu), never more than the \
                CPUs the threads may use.",
        rows: &[
            ("server-epoll", "single-level"),
            ("server-epoll", "reactor-level"),
            ("server-epoll", "proactor-level"),
            ("server-epoll", "multi-level"),
            ("server-blocking", "thread-per-conn"),
            ("server-uring", ""),
        ],
        panels: &[
            own(
                "Logic that waits: GET /block/MS",
                "block",
                BlockMs,
                Waiting,
                &[],
            ),
            own(
                "Logic that computes: GET /cpu/US",
                "cpu",
                CpuUs,
                Computing,
                &[],
            ),
        ],
    },
    ChartSpec {
        file: "lesson-sigio.svg",
        title: "Signal-driven I/O: real-time signals vs plain SIGIO",
        shows: "With real-time signals the server learns which socket is ready; with plain SIGIO it \
                must scan them all, so its cost grows with idle connections.",
        rows: &[("server-sigio", "rt"), ("server-sigio", "plain"), EPOLL],
        panels: &[
            panel("idle", Idle, Throughput),
            panel("rate", Idle, CpuPerRequest),
        ],
    },
    ChartSpec {
        file: "lesson-completion.svg",
        title: "Completion models: POSIX AIO and io_uring against epoll",
        shows: "glibc's AIO is a pool of threads doing blocking reads: a thread per idle connection; \
                io_uring completes in the kernel on the loop's own thread.",
        rows: &[
            ("server-aio", "signal"),
            ("server-aio", "suspend"),
            ("server-uring", ""),
            EPOLL,
        ],
        panels: &[
            panel("keepalive", Clients, Throughput),
            panel("rate", Idle, CpuPerRequest),
            panel("idle", Idle, Throughput),
            panel("idle", Idle, Threads),
        ],
    },
    ChartSpec {
        file: "summary-c10k.svg",
        title: "Every model: throughput as idle connections rise (the C10K curve)",
        shows: "One panel per model, on the same axes: which models keep their throughput as idle \
                connections rise, and which fail.",
        rows: &[],
        panels: &[
            own(
                "blocking",
                "idle",
                Idle,
                Throughput,
                &[
                    ("server-blocking", "thread-per-conn"),
                    ("server-blocking", "pool-32"),
                ],
            ),
            own(
                "non-blocking",
                "idle",
                Idle,
                Throughput,
                &[
                    ("server-nonblocking", "sleep"),
                    ("server-nonblocking", "spin"),
                ],
            ),
            own(
                "select, poll",
                "idle",
                Idle,
                Throughput,
                &[("server-select", ""), ("server-poll", "")],
            ),
            own(
                "epoll",
                "idle",
                Idle,
                Throughput,
                &[
                    ("server-epoll", "single-level"),
                    ("server-epoll", "single-edge"),
                    ("server-epoll", "reactor-level"),
                    ("server-epoll", "proactor-level"),
                    ("server-epoll", "multi-level"),
                ],
            ),
            own(
                "signal-driven",
                "idle",
                Idle,
                Throughput,
                &[("server-sigio", "rt"), ("server-sigio", "plain")],
            ),
            own(
                "AIO, io_uring, nginx",
                "idle",
                Idle,
                Throughput,
                &[
                    ("server-aio", "signal"),
                    ("server-aio", "suspend"),
                    ("server-uring", ""),
                    NGINX,
                ],
            ),
        ],
    },
    ChartSpec {
        file: "cpu-per-request-vs-idle.svg",
        title: "Cost at a fixed rate: server CPU per request as idle connections rise",
        shows: "The C10K curve as cost: at the same 5,000 req/s, how much CPU each model spends per \
                request while it also holds idle connections. Independent of the load generator's \
                speed and of the server's core count.",
        rows: &[],
        panels: &[
            own(
                "blocking, non-blocking",
                "rate",
                Idle,
                CpuPerRequest,
                &[
                    ("server-blocking", "thread-per-conn"),
                    ("server-blocking", "pool-32"),
                    ("server-nonblocking", "sleep"),
                ],
            ),
            own(
                "select, poll, epoll",
                "rate",
                Idle,
                CpuPerRequest,
                &[("server-select", ""), ("server-poll", ""), EPOLL],
            ),
            own(
                "epoll patterns",
                "rate",
                Idle,
                CpuPerRequest,
                &[
                    ("server-epoll", "single-level"),
                    ("server-epoll", "reactor-level"),
                    ("server-epoll", "proactor-level"),
                    ("server-epoll", "multi-level"),
                ],
            ),
            own(
                "signal-driven, AIO, io_uring, nginx",
                "rate",
                Idle,
                CpuPerRequest,
                &[
                    ("server-sigio", "rt"),
                    ("server-aio", "signal"),
                    ("server-uring", ""),
                    NGINX,
                ],
            ),
        ],
    },
    ChartSpec {
        file: "memory-threads-vs-idle.svg",
        title: "What an idle connection costs: memory and threads",
        shows: "A thread per connection (blocking, and glibc's AIO helpers) costs a stack and a \
                thread per idle connection; the event loops hold a few hundred bytes of state each.",
        rows: &[],
        panels: &[
            own(
                "Memory: a thread per connection",
                "idle",
                Idle,
                Rss,
                &[
                    ("server-blocking", "thread-per-conn"),
                    ("server-blocking", "pool-32"),
                    ("server-aio", "signal"),
                ],
            ),
            own(
                "Memory: event loops",
                "idle",
                Idle,
                Rss,
                &[
                    ("server-poll", ""),
                    EPOLL,
                    ("server-sigio", "rt"),
                    ("server-uring", ""),
                    NGINX,
                ],
            ),
            own(
                "Threads: a thread per connection",
                "idle",
                Idle,
                Threads,
                &[
                    ("server-blocking", "thread-per-conn"),
                    ("server-blocking", "pool-32"),
                    ("server-aio", "signal"),
                ],
            ),
            own(
                "Threads: event loops",
                "idle",
                Idle,
                Threads,
                &[
                    ("server-poll", ""),
                    EPOLL,
                    ("server-sigio", "rt"),
                    ("server-uring", ""),
                    NGINX,
                ],
            ),
        ],
    },
];
