#!/usr/bin/env bash
# Faults under load, for every server in every mode (crates/soak): keep-alive and
# connection-per-request load from `harness load` plus faulty clients (resets mid-response, half
# requests, garbage, bodies never sent, slowloris), then checks that the server's descriptors
# are back to their baseline, its memory within a bound, a normal request is answered and
# SIGTERM exits 0. Loopback only; every mode is bounded in time and stops by itself.
#
#   scripts/soak.sh                       every conformance mode, ~20 s of load each (~10 min)
#   scripts/soak.sh --quick               every mode, ~3 s of load each (under 3 minutes)
#   scripts/soak.sh server-epoll --pattern multi --workers 2 server-poll
#   scripts/soak.sh --seconds 60 server-uring
#
# Builds the release binaries first. Prints one line per mode, then `N passed, M failed`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build --release --quiet --workspace --bins
exec target/release/soak --bin-dir target/release "$@"
