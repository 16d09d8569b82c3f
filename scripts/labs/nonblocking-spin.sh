#!/usr/bin/env bash
# nonblocking-spin: a non-blocking polling loop that never sleeps: 100 % CPU while serving nobody
#
# Runs server-nonblocking, first with --spin (never sleep between passes), then without (back off
# 1…10 ms after a pass that moved nothing). Two keep-alive clients ask once and stay connected,
# idle. Measures the server's CPU for 2 s and counts its system calls for 1 s. No mistake flag:
# --spin is the mistake, for a server that is mostly idle.
# Checked by crates/server-nonblocking/tests/labs.rs, lab_nonblocking_spin. About 8 s.
# shellcheck source=scripts/labs/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_begin 20
lab_build server-nonblocking

# run_case LABEL EXTRA_ARGS…
run_case() {
    local label=$1 idle1 idle2 fd cpu
    shift
    lab_start_server S target/release/server-nonblocking "$@"
    lab_connect idle1 "$S_PORT"
    lab_connect idle2 "$S_PORT"
    for fd in "$idle1" "$idle2"; do
        lab_get "$fd" /hello.txt
        lab_read_response "$fd" 2 >/dev/null || lab_fail "an idle client got no first answer"
    done
    cpu=$(lab_cpu_percent "$S_PID" 2)
    say "$label:"
    say "  2 idle keep-alive clients, nobody sends; server CPU over 2 s: $cpu % of a core"
    say "  its system calls in 1 s (strace -c -f):"
    lab_syscalls "$S_PID" 1
    lab_close "$idle1"
    lab_close "$idle2"
    lab_stop_server "$S_PID"
    say ""
}

say ""
run_case "With --spin" --spin
run_case "Without it (back-off)"

lab_section "What happened"
say "A polling loop learns readiness by trying: accept, then read on every connection, each"
say "answered EAGAIN at once when there is nothing to do. With --spin it starts the next pass"
say "right away, so with nothing to do it makes those fruitless calls as fast as the CPU allows:"
say "a whole core, serving nobody. Without --spin, a pass that moved nothing is followed by a"
say "sleep (1 ms, doubling up to 10 ms): about a hundred passes a second when idle, and next to"
say "no CPU. The price is latency: a request arriving at an idle server waits up to 10 ms."

lab_section "What to look at"
say "- crates/server-nonblocking/src/main.rs: the lesson's 'The cost: a core, even when idle',"
say "  and the loop's back-off (MIN_SLEEP, MAX_SLEEP)."
say "- The test idle_loop_backs_off_instead_of_spinning (crates/server-nonblocking/tests)."
say "- Course chapter 6, 'Pitfall: a polling loop that spins'. Compare server-epoll, which"
say "  sleeps in epoll_wait until the kernel has something to say."
