//! The whole behaviour suite, once per way of learning about completions.

conformance::suite!(
    signal,
    env!("CARGO_BIN_EXE_server-aio"),
    ["--notify", "signal"]
);
conformance::suite!(
    suspend,
    env!("CARGO_BIN_EXE_server-aio"),
    ["--notify", "suspend"]
);
