//! The io-models harness: a load generator and the benchmark matrix that compares every server.
//!
//! ```text
//! harness load -c 50 -t 5 http://127.0.0.1:8080/index.html      # webbench/wrk-style run
//! harness load --close -c 100 -t 5 URL                          # one connection per request
//! harness load -R 20000 -c 100 -t 10 URL                        # open loop, wrk2-style latency
//! harness load --idle 5000 -c 50 -t 5 URL                       # C10K: idle connections held
//! harness compare [--quick] [--servers server-epoll,…]         # the whole matrix → bench-results/
//! harness agree RUN_A/results.json RUN_B/results.json           # do two runs agree?
//! ```
//!
//! | file | what it holds |
//! |---|---|
//! | `load/` | the epoll load generator: one loop per thread, a flat connection table, no per-request allocation |
//! | `response.rs` | the incremental response parser (status line, `Content-Length`, chunked, close-delimited) |
//! | `compare/` | `harness compare`: the matrix (servers, modes, scenarios), supervising servers, measuring cells, `/proc` and `strace -c` probes, nginx |
//! | `results.rs` | the data model of a compare run (what results.json holds) |
//! | `agree.rs` | `harness agree`: how well two runs agree, cell by cell |
//! | `report.rs` | `results.json`, `results.md` and the SVG charts, from `results.rs` |
//! | `sys.rs` | the raw syscalls (`epoll`, non-blocking `connect`, affinity, `wait4`) |

mod agree;
#[cfg(test)]
mod alloc_counter;
mod compare;
mod load;
mod report;
mod response;
mod results;
mod sys;

use std::io::{self, Write};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "harness",
    version,
    about = "Load generator and benchmark matrix for io-models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate HTTP load against one URL (webbench/wrk-compatible flags).
    Load(LoadArgs),
    /// Run the benchmark matrix over every server binary and write bench-results/.
    Compare(compare::CompareArgs),
    /// Write results.md and the charts again from a run's results.json (no load is run).
    Report(ReportArgs),
    /// How well two runs agree, cell by cell; fails when fewer than 90 % of the cells agree
    /// within 10 % on CPU per request or on syscalls per request.
    Agree(AgreeArgs),
}

#[derive(Debug, Args)]
struct AgreeArgs {
    /// The first run's results.json.
    a: std::path::PathBuf,
    /// The second run's results.json.
    b: std::path::PathBuf,
    /// Also write the report (Markdown) to this file.
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
struct ReportArgs {
    /// A results.json written by `harness compare`.
    results: std::path::PathBuf,
    /// Where to write results.md and the charts [default: beside results.json].
    #[arg(long)]
    out: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
struct LoadArgs {
    /// Target, e.g. http://127.0.0.1:8080/index.html
    url: String,
    /// Concurrent clients (connections).
    #[arg(short = 'c', long = "clients", default_value_t = 10)]
    clients: usize,
    /// Run for this many seconds (fractions allowed). Default 10 unless -n is given.
    #[arg(short = 't', long = "time")]
    time: Option<f64>,
    /// Stop after this many requests in total.
    #[arg(short = 'n', long = "requests")]
    requests: Option<u64>,
    /// Event-loop threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Open-loop mode: send this many requests per second in total; latency is measured from
    /// each request's scheduled send time (corrected for coordinated omission, like wrk2).
    #[arg(short = 'R', long = "rate")]
    rate: Option<f64>,
    /// One connection per request (`Connection: close`), as webbench does; connect time is
    /// reported separately.
    #[arg(long)]
    close: bool,
    /// Upload: send `POST` with a body of this many bytes instead of `GET` (e.g. to `/echo`,
    /// which sends the body back).
    #[arg(long, value_name = "BYTES")]
    post_bytes: Option<usize>,
    /// Open this many idle keep-alive connections first and hold them during the run.
    #[arg(long, default_value_t = 0)]
    idle: usize,
    /// Seconds without progress (no byte of the response) before a request counts as a timeout.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// Pin the load threads to these CPUs, one each in turn (e.g. `1` or `2-3`).
    #[arg(long, value_name = "LIST")]
    cpu: Option<String>,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    json: bool,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Load(args) => run_load(args),
        Command::Compare(args) => compare::run(args),
        Command::Report(args) => run_report(args),
        Command::Agree(args) => run_agree(args),
    };
    if let Err(err) = result {
        eprintln!("error: {err}");
        std::process::exit(1);
    }
}

/// `harness agree`: print (and optionally write) how well two runs agree; an error when a gated
/// metric falls short.
fn run_agree(args: AgreeArgs) -> io::Result<()> {
    let a = read_results(&args.a)?;
    let b = read_results(&args.b)?;
    let name = |p: &std::path::Path| {
        p.parent().and_then(|d| d.file_name()).map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    };
    let (md, pass) = agree::report(&name(&args.a), &a, &name(&args.b), &b);
    print!("{md}");
    if let Some(out) = &args.out {
        std::fs::write(out, &md)
            .map_err(|e| sys::context(e, &format!("writing {}", out.display())))?;
    }
    if pass {
        Ok(())
    } else {
        Err(io::Error::other(
            "the runs do not agree on the cost metrics (see the table above)",
        ))
    }
}

/// A results.json written by `harness compare`.
fn read_results(path: &std::path::Path) -> io::Result<results::Results> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| sys::context(e, &format!("reading {}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: not a results.json of this harness version: {e}",
                path.display()
            ),
        )
    })
}

/// `harness report`: results.md and the charts from a results.json, for changing the report
/// without measuring again.
fn run_report(args: ReportArgs) -> io::Result<()> {
    let results = read_results(&args.results)?;
    let dir = match args.out {
        Some(dir) => dir,
        None => args
            .results
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default(),
    };
    report::write_all(&results, &dir)?;
    println!("results: {}", dir.join("results.md").display());
    Ok(())
}

fn run_load(args: LoadArgs) -> io::Result<()> {
    let target = load::Target::parse(&args.url)?;
    let seconds = |s: f64, what: &str| {
        Duration::try_from_secs_f64(s).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{what}: {s} is not a duration"),
            )
        })
    };
    let duration = match (args.time, args.requests) {
        (Some(t), _) => Some(seconds(t, "-t")?),
        (None, Some(_)) => None,
        (None, None) => Some(Duration::from_secs(10)),
    };
    sys::raise_fd_limit();
    let idle = if args.idle > 0 {
        let idle = load::IdleConnections::open(target.addr, args.idle, Duration::from_secs(10))?;
        if !args.json {
            eprintln!(
                "opened {} of {} idle connections",
                idle.established(),
                idle.requested
            );
        }
        idle
    } else {
        load::IdleConnections::none()
    };
    let spec = load::LoadSpec {
        target,
        clients: args.clients,
        threads: args.threads,
        duration,
        total: args.requests,
        rate: args.rate,
        close: args.close,
        post_bytes: args.post_bytes,
        timeout: seconds(args.timeout, "--timeout")?,
        cpus: match &args.cpu {
            Some(list) => sys::parse_cpu_list(list)?,
            None => vec![],
        },
        progress: !args.json,
    };
    let report = load::run(&spec, &idle)?;
    drop(idle);
    let mut out = io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report).map_err(io::Error::other)?;
        writeln!(out)?;
    } else {
        load::print_human(&report, &mut out)?;
    }
    Ok(())
}
