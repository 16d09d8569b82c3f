//! The whole behaviour suite, once per notification signal.

conformance::suite!(rt, env!("CARGO_BIN_EXE_server-sigio"), ["--signal", "rt"]);
conformance::suite!(
    plain,
    env!("CARGO_BIN_EXE_server-sigio"),
    ["--signal", "plain"]
);
