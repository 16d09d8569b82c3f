//! The shared behaviour suite against `server-nonblocking`, with its idle back-off (default) and
//! without it (`--spin`).

conformance::suite!(default_mode, env!("CARGO_BIN_EXE_server-nonblocking"), []);
conformance::suite!(spin, env!("CARGO_BIN_EXE_server-nonblocking"), ["--spin"]);
