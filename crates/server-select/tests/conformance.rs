//! The shared behaviour suite against `server-select` (it has a single mode).

conformance::suite!(default_mode, env!("CARGO_BIN_EXE_server-select"), []);
