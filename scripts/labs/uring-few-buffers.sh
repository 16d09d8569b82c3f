#!/usr/bin/env bash
# uring-few-buffers: io_uring with too few provided buffers: receives fail with ENOBUFS, are retried, and throughput falls
#
# Runs server-uring twice, with --buffers 1 and then with the default 512, each under 2 s of
# keep-alive load from `harness load -c 50` (50 clients, /hello.txt). Prints requests per second,
# errors, and the server's own count of receives that found the pool empty (ENOBUFS). No mistake
# flag: --buffers 1 is the mistake (a pool sized far below the connections that talk at once).
# Checked by crates/server-uring/tests/labs.rs, lab_uring_few_buffers. About 8 s.
# shellcheck source=scripts/labs/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_begin 40
lab_build server-uring
lab_build harness

# run_case LABEL BUFFERS: prints the load's summary line and the ENOBUFS count.
run_case() {
    local label=$1 buffers=$2 report
    lab_start_server S target/release/server-uring --buffers "$buffers"
    report=$(target/release/harness load -c 50 -t 2 "$S_URL/hello.txt" 2>&1) ||
        lab_fail "harness load failed: $report"
    lab_stop_server "$S_PID"
    say "$label:"
    say "  $(grep -m 1 'Requests/sec' <<<"$report" || echo "(no Requests/sec line)")"
    say "  status codes: $(sed -n '/Status codes:/,/^Requests/p' <<<"$report" | sed '1d;$d' | tr -s ' ' | tr '\n' ';')"
    say "  server: $(grep -m 1 '^receives that found the buffer pool empty' "$S_ERR" || echo '(no count)')"
    say ""
}

say ""
run_case "--buffers 1 (one 16 KiB buffer for 50 connections)" 1
run_case "--buffers 512 (the default)" 512

lab_section "What happened"
say "server-uring receives into provided buffers: the kernel takes a buffer from the pool only"
say "when bytes arrive. With one buffer, one receive per loop turn gets it; every other receive"
say "that finds data completes with ENOBUFS and is submitted again next turn, after the buffer"
say "came back. Nothing fails and every response is correct, but most completions carry no"
say "bytes: the server turns its loop many times per request, and requests per second fall."
say "With 512 buffers every receive of a turn finds one: no ENOBUFS at all."

lab_section "What to look at"
say "- crates/server-uring/src/main.rs: on_recv_complete (the ENOBUFS arm, and the buffer"
say "  given back whatever the result) and retry_starved; the --buffers flag."
say "- io_uring_setup_buf_ring(3) / IORING_OP_PROVIDE_BUFFERS; course chapter 11, 'Pitfall: too"
say "  few buffers'."
