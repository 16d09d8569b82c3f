//! The shared behaviour suite, once per accept mode.
//!
//! Where the kernel refuses io_uring these tests **fail** (with the reason) unless
//! `IO_MODELS_ALLOW_NO_URING=1` is set, which turns each into a printed `SKIPPED: …` instead; see
//! `tests/common/mod.rs`.

mod common;

/// The binary path, or an early `return` from the enclosing test when io_uring is unavailable
/// and skipping is allowed (the `return` leaves the `#[test]` function `suite!` generated).
macro_rules! uring_binary {
    () => {{
        if crate::common::skip_without_uring() {
            return;
        }
        crate::common::BIN
    }};
}

conformance::suite!(default_mode, uring_binary!(), []);
conformance::suite!(
    single,
    uring_binary!(),
    ["--accept", "single", "--file-io", "read"]
);
