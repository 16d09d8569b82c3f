//! The behaviour suite that every io-models server runs against its own binary.
//!
//! Each check starts the server as a child process (`--addr 127.0.0.1:0 --root <temp dir>` plus
//! the mode's flags), reads the announce line `listening on http://HOST:PORT`, and talks raw TCP
//! to it: every route and status of `http-core`, keep-alive, HTTP/1.0, pipelining, byte-at-a-time
//! requests, chunked and `100-continue` uploads, a multi-MiB file read by a deliberately slow
//! client, 500 concurrent connections, clients that reset mid-response, slowloris clients, idle
//! timeouts and SIGTERM with a download in flight.
//!
//! A server crate adds one file, `tests/conformance.rs`, with one line per mode:
//!
//! ```text
//! conformance::suite!(default_mode, env!("CARGO_BIN_EXE_server-foo"), []);
//! conformance::suite!(edge, env!("CARGO_BIN_EXE_server-foo"), ["--trigger", "edge"]);
//! ```
//!
//! Each line expands to a module with one `#[test]` per check (see [`CHECKS`] for the list), so
//! `cargo test -p server-foo edge::pipelining_order` runs one check against one mode.
//!
//! | module | what it holds |
//! |---|---|
//! | [`checks`] | one `pub fn name(target: &Target)` per behaviour |
//! | [`server`] | starting, signalling and stopping the server process |
//! | [`client`] | a small blocking HTTP/1.1 client with timeouts and a transcript for failures |
//! | [`fixtures`] | the temporary document root and the bytes each file must come back with |
//! | [`lab`] | what the lab tests measure: CPU used, whether an answer came in time, descriptor limits |
//!
//! Every socket operation has a timeout, so a hung server fails a check instead of hanging the
//! test run; every process a check starts is stopped (and killed on drop). When a check fails it
//! panics with what was sent and what came back, and the server's stderr.
//!
//! The binary expression given to [`suite!`] is evaluated inside each generated test function,
//! so it may `return` early (e.g. to skip a model the machine lacks, as `server-uring` does when
//! io_uring is disabled).
//!
//! ## Adding a check
//!
//! Write `pub fn behaviour_name(target: &Target)` in the matching file under `src/checks/`
//! (start the server with [`Target::start`], talk to it with [`client::Conn`], fail through
//! [`client::Conn::fail`] / [`client::Conn::check`] so the transcript is printed), then add its
//! name to the one list in `__for_each_check!` below: every server's suite picks it up. Make sure
//! it can fail: break the behaviour on purpose once and watch it go red.
#![warn(missing_docs)]

pub mod checks;
pub mod client;
pub mod fixtures;
pub mod lab;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::Command;

pub use server::Server;

/// How to start the server under test: its binary and the mode's flags (without `--addr` and
/// `--root`, which [`Server`] appends).
#[derive(Debug, Clone)]
pub struct Target {
    /// Path of the server binary (usually `env!("CARGO_BIN_EXE_server-…")`).
    pub binary: PathBuf,
    /// The mode's flags, e.g. `["--pool", "4"]`.
    pub args: Vec<String>,
}

impl Target {
    /// A target running `binary` with `args`.
    pub fn new(binary: impl AsRef<Path>, args: &[&str]) -> Target {
        Target {
            binary: binary.as_ref().to_path_buf(),
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// The command `binary args…` (without `--addr`/`--root`), for checks that need to add
    /// flags, environment or rlimits before [`Server::start_command`].
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.args(&self.args);
        cmd
    }

    /// Start the server with a fresh fixture root.
    pub fn start(&self) -> Server {
        Server::start_command(self.command())
    }

    /// Start the server with extra flags after the mode's flags (e.g. `["--timeout", "1"]`).
    pub fn start_with(&self, extra: &[&str]) -> Server {
        let mut cmd = self.command();
        cmd.args(extra);
        Server::start_command(cmd)
    }

    /// Start the server serving `root` instead of a fresh fixture root.
    pub fn start_with_root(&self, root: &Path) -> Server {
        Server::start_command_with_root(self.command(), root)
    }
}

/// Calls `$callback!` (a macro exported by this crate) with `$args ;` followed by the name of
/// every check. This is the one list of checks: [`suite!`] and [`CHECKS`] are both built from it.
#[doc(hidden)]
#[macro_export]
macro_rules! __for_each_check {
    ($callback:ident { $($args:tt)* }) => {
        $crate::$callback! { $($args)* ;
            // Routes and static files.
            get_index,
            browser_request_served,
            get_file_types,
            head_has_no_body,
            directory_index,
            query_string_ignored,
            percent_decoding,
            missing_file_404,
            dotdot_escape_forbidden,
            encoded_slash,
            symlink_outside_root_forbidden,
            symlink_inside_root_served,
            large_file_intact,
            bytes_route,
            bytes_over_limit,
            work_routes,
            // Caches and download tools.
            validators_give_304,
            changed_file_is_served_anew,
            single_range_206,
            unsatisfiable_and_ignored_ranges,
            if_range_honoured,
            head_agrees_with_get,
            directory_redirect_301,
            max_body_flag,
            // Request bodies.
            echo_content_length,
            echo_chunked,
            expect_100_continue,
            body_too_large_413,
            get_with_body_keeps_sync,
            // Bad input.
            method_not_allowed_405,
            unknown_method_501,
            bad_version_505,
            malformed_request_400,
            missing_host_400,
            conflicting_content_length_400,
            invalid_content_length_400,
            content_length_with_transfer_encoding_400,
            unsupported_transfer_encoding_501,
            uri_too_long_414,
            header_too_large_431,
            too_many_headers_431,
            error_responses_have_required_headers,
            // Connection management.
            keepalive_http11,
            http10_closes,
            http10_keepalive,
            connection_close_honoured,
            close_with_unread_input_ends_with_fin,
            half_close_still_answered,
            pipelining_order,
            byte_at_a_time,
            slow_reader_large_file,
            concurrent_500,
            fd_exhaustion_recovers,
            emfile_does_not_spin,
            reset_mid_response,
            memory_bounded_with_unread_responses,
            slowloris_does_not_starve,
            idle_timeout,
            stalled_reader_cut_off,
            // Process contract.
            help_lists_common_flags,
            startup_errors_exit_1,
            log_only_with_flag,
            sigterm_lets_download_finish,
            sigterm_idle_exits_zero,
        }
    };
}

/// Expands to a module with one `#[test]` per check, each running that check against a server
/// started as `binary args… --addr 127.0.0.1:0 --root <temp dir>`.
///
/// ```text
/// // crates/server-foo/tests/conformance.rs
/// conformance::suite!(default_mode, env!("CARGO_BIN_EXE_server-foo"), []);
/// conformance::suite!(pool, env!("CARGO_BIN_EXE_server-foo"), ["--pool", "4"]);
/// ```
#[macro_export]
macro_rules! suite {
    ($mode:ident, $binary:expr, [$($arg:expr),* $(,)?] $(,)?) => {
        $crate::__for_each_check! { __suite_module { $mode, $binary, [$($arg),*] } }
    };
}

/// The body of [`suite!`], called back by `__for_each_check!` with the list of checks.
#[doc(hidden)]
#[macro_export]
macro_rules! __suite_module {
    ($mode:ident, $binary:expr, $args:tt ; $($check:ident,)*) => {
        #[allow(missing_docs)]
        mod $mode {
            $(
                #[test]
                fn $check() {
                    let args: &[&str] = &$args;
                    $crate::checks::$check(&$crate::Target::new($binary, args));
                }
            )*
        }
    };
}

/// Builds [`CHECKS`], called back by `__for_each_check!` with the list of checks.
#[doc(hidden)]
#[macro_export]
macro_rules! __checks_table {
    (; $($check:ident,)*) => {
        /// Every check as `(name, function)`, in the order [`suite!`] declares them (for
        /// harnesses that want to run the suite without the test framework).
        pub const CHECKS: &[(&str, fn(&Target))] = &[
            $((stringify!($check), $crate::checks::$check as fn(&Target)),)*
        ];
    };
}

__for_each_check! { __checks_table {} }
