#!/usr/bin/env bash
# accept-emfile-spin: accept fails with EMFILE, no back-off: a level-triggered listener spins at 100 % CPU
#
# Runs server-epoll with RLIMIT_NOFILE 64 (prlimit --nofile=64:64), first with
# --mistake accept-emfile-spin, then without. 100 clients connect: the kernel completes every
# handshake, the server runs out of descriptors part-way through accepting them, and the rest
# wait in the backlog. Measures the server's CPU for 2 s with nobody sending a byte.
# Checked by crates/server-epoll/tests/labs.rs, lab_accept_emfile_spin. About 9 s.
# shellcheck source=scripts/labs/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_begin 20
lab_build server-epoll
command -v prlimit >/dev/null || lab_fail "prlimit not found (package util-linux)"

# run_case LABEL EXTRA_ARGS…
run_case() {
    local label=$1 fd cpu
    local -a crowd=()
    shift
    lab_start_server S prlimit --nofile=64:64 target/release/server-epoll "$@"
    for _ in $(seq 100); do
        lab_connect fd "$S_PORT"
        crowd+=("$fd")
    done
    sleep 0.3
    cpu=$(lab_cpu_percent "$S_PID" 2)
    say "$label:"
    say "  100 clients connected, nobody sends; server CPU over 2 s: $cpu % of a core"
    say "  its stderr: $(grep -m 1 'accept' "$S_ERR" || echo '(nothing)')"
    say "  its system calls in 1 s (strace -c -f):"
    lab_syscalls "$S_PID" 1
    for fd in "${crowd[@]}"; do
        lab_close "$fd"
    done
    lab_stop_server "$S_PID"
    say ""
}

say ""
run_case "With the mistake (--mistake accept-emfile-spin)" --mistake accept-emfile-spin
run_case "Without it (listener paused for 100 ms at EMFILE)"

lab_section "What happened"
say "accept failed with EMFILE: no descriptor left for the new socket. The connection stays in"
say "the listener's backlog, so the listener stays readable, and level-triggered epoll reports"
say "it again on the very next epoll_wait. With the mistake, the loop only gave up and waited"
say "again: epoll_wait, accept4 (EMFILE), epoll_wait, … — a core at 100 % serving nobody."
say "Without it, the loop takes the listener out of epoll (EPOLL_CTL_DEL) for 100 ms, keeps"
say "serving the connections it has, and adds it back: next to no CPU. The warning is"
say "printed once either way (a line per failed accept would flood the log as fast); with the"
say "mistake, its 'pausing accepts' is exactly what the server fails to do."

lab_section "What to look at"
say "- crates/server-epoll/src/setup.rs, Listening::accept (AcceptVerdict::Backoff) and"
say "  resume_if_due; crates/server-common/src/accept.rs, classify and BACKOFF."
say "- accept(2), ERRORS: EMFILE; course chapter 7, 'Pitfall: accept fails with EMFILE, and the"
say "  loop spins'; the conformance check emfile_does_not_spin."
