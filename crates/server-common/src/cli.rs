//! The command-line contract shared by every server binary.
//!
//! Each server defines its own `clap::Parser` and `#[command(flatten)]`s [`CommonArgs`] into it,
//! adding only its model-specific flags (`--pool`, `--trigger`, `--pattern`, …).

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

/// The flags every server accepts.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Address to listen on, HOST:PORT (port 0 picks a free port; the announce line tells which).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Document root [default: ./www when run from the workspace root, else the workspace's www/].
    #[arg(long)]
    pub root: Option<PathBuf>,

    /// Close a connection that makes no progress (no byte in or out) for this many seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,

    /// Log one line per answered request to stderr (off by default: never on the hot path).
    #[arg(long)]
    pub log: bool,

    /// Largest request body accepted, in bytes (`POST /echo`; a larger one gets `413`).
    #[arg(long, value_name = "BYTES", default_value_t = http_core::MAX_BODY_BYTES,
          value_parser = clap::value_parser!(u64).range(0..=(1 << 40)))]
    pub max_body: u64,

    /// Turn the open-file cache off: every request opens, reads and closes its file.
    #[arg(long)]
    pub no_file_cache: bool,

    /// How long the open-file cache trusts an entry before it looks at the file again, in ms.
    #[arg(long, value_name = "MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub file_cache_valid: u64,

    /// Answer `GET /cpu/US` (compute for about US µs) and `GET /block/MS` (block for MS ms), each
    /// at most one second, run where this server runs a request's logic: for measuring when a
    /// thread pool pays. Off by default: one `/block/1000` would stall a single loop for a second.
    #[arg(long)]
    pub work_routes: bool,
}

impl CommonArgs {
    /// The idle timeout as a [`Duration`].
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }

    /// The document root: `--root`, else `./www` if it exists, else the workspace's `www/`.
    pub fn root_dir(&self) -> PathBuf {
        if let Some(root) = &self.root {
            return root.clone();
        }
        let local = PathBuf::from("www");
        if local.is_dir() {
            return local;
        }
        // This crate lives at <workspace>/crates/server-common.
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../www"))
    }

    /// The `http-core` configuration these flags describe. Fails with a clear message when the
    /// root is not a readable directory.
    pub fn http_config(&self) -> io::Result<Arc<http_core::Config>> {
        let root = self.root_dir();
        let mut config = http_core::Config::new(&root).map_err(|e| {
            io::Error::new(e.kind(), format!("document root {}: {e}", root.display()))
        })?;
        config.limits.idle_timeout = self.timeout();
        config.log_requests = self.log;
        config.limits.max_body_bytes = self.max_body;
        config.work_routes = self.work_routes;
        config.set_file_cache((!self.no_file_cache).then(|| http_core::FileCacheSettings {
            valid: Duration::from_millis(self.file_cache_valid),
            ..http_core::FileCacheSettings::default()
        }));
        Ok(Arc::new(config))
    }
}

/// The number of worker threads to use when `--workers` is not given: one per CPU.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Print a fatal start-up error as one line and exit with status 1 (used by every `main`).
pub fn exit_on_error<T>(what: &str, result: io::Result<T>) -> T {
    match result {
        Ok(value) => value,
        Err(err) => {
            eprintln!("error: {what}: {err}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        common: CommonArgs,
    }

    fn config(args: &[&str]) -> Arc<http_core::Config> {
        let root = std::env::temp_dir();
        let root = root.to_str().expect("UTF-8 temp dir");
        let cli = Cli::try_parse_from(["server", "--root", root].iter().chain(args))
            .expect("valid flags");
        cli.common.http_config().expect("config")
    }

    #[test]
    fn the_flags_reach_the_http_configuration() {
        let default = config(&[]);
        assert_eq!(default.limits.max_body_bytes, http_core::MAX_BODY_BYTES);
        assert_eq!(default.limits.idle_timeout, Duration::from_secs(10));
        assert!(!default.log_requests);
        assert!(!default.work_routes);
        assert!(config(&["--work-routes"]).work_routes);
        assert_eq!(
            default.file_cache_settings().map(|s| s.valid),
            Some(Duration::from_secs(1))
        );
        let short = config(&["--file-cache-valid", "250"]);
        assert_eq!(
            short.file_cache_settings().map(|s| s.valid),
            Some(Duration::from_millis(250))
        );
        assert!(config(&["--no-file-cache"]).file_cache_settings().is_none());
        let set = config(&["--max-body", "5000000", "--timeout", "3", "--log"]);
        assert_eq!(set.limits.max_body_bytes, 5_000_000);
        assert_eq!(set.limits.idle_timeout, Duration::from_secs(3));
        assert!(set.log_requests);
    }

    #[test]
    fn a_max_body_that_is_not_a_size_is_refused() {
        for bad in ["-1", "ten", "2000000000000"] {
            assert!(
                Cli::try_parse_from(["server", "--max-body", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn one_worker_per_cpu_by_default() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(default_workers(), cpus);
    }
}
