//! The shared behaviour suite, run against this crate's binary in each of its modes.
//!
//! `pool` uses 64 threads: a pool serves only as many connections at once as it has threads, and
//! the suite's `slowloris_does_not_starve` holds 8 connections open while a normal client must
//! still be served quickly. With `--pool 4` every other check passes and that one fails, by
//! design: what a small pool does (head-of-line blocking) is shown by `tests/blocking.rs`.

conformance::suite!(
    thread_per_connection,
    env!("CARGO_BIN_EXE_server-blocking"),
    []
);
conformance::suite!(
    pool,
    env!("CARGO_BIN_EXE_server-blocking"),
    ["--pool", "64"]
);
