//! The shared behaviour suite against `server-poll` (it has a single mode).

conformance::suite!(default_mode, env!("CARGO_BIN_EXE_server-poll"), []);
