#!/usr/bin/env bash
# blocking-hol: a pool of blocking threads and idle keep-alive clients: head-of-line blocking
#
# Runs server-blocking --timeout 3, first with --pool 2 (two threads, each serving one
# connection at a time), then without (a thread per connection). Two keep-alive clients ask once
# and then stay connected, idle; a third client asks for /hello.txt. No mistake flag: a fixed
# pool of blocking threads facing keep-alive clients is the mistake.
# Checked by crates/server-blocking/tests/labs.rs, lab_blocking_hol. About 5 s.
# shellcheck source=scripts/labs/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_begin 20
lab_build server-blocking

# run_case LABEL EXTRA_ARGS…
run_case() {
    local label=$1 idle1 idle2 third fd start took status
    shift
    lab_start_server S target/release/server-blocking --timeout 3 "$@"
    lab_connect idle1 "$S_PORT"
    lab_connect idle2 "$S_PORT"
    for fd in "$idle1" "$idle2"; do
        lab_get "$fd" /hello.txt
        lab_read_response "$fd" 2 >/dev/null || lab_fail "an idle client got no first answer"
    done
    lab_connect third "$S_PORT"
    start=$(lab_now)
    lab_get "$third" /hello.txt
    say "$label:"
    if ! lab_wait_readable "$third" 0.5; then
        say "  the third client has no answer 0.5 s later; the server's sockets:"
        lab_socket_queues "$S_PORT"
        lab_wait_readable "$third" 8 || true
    fi
    took=$(lab_elapsed "$start")
    status=$(lab_read_response "$third" 2) || status="(no answer)"
    say "  the third client's answer came after $took s: $status"
    say ""
    lab_close "$idle1"
    lab_close "$idle2"
    lab_close "$third"
    lab_stop_server "$S_PID"
}

say ""
run_case "With --pool 2" --pool 2
run_case "Without a pool (a thread per connection)"

lab_section "What happened"
say "With --pool 2, each of the two threads took one idle keep-alive connection and sat blocked in"
say "read, waiting for a next request that did not come. The third connection was accepted, but"
say "no thread was free to read it: its request waited in the socket (the Recv-Q above) behind"
say "two connections that were doing nothing — head-of-line blocking — until the idle timeout"
say "(3 s) closed one of them and freed its thread. With a thread per connection the third client"
say "got its own thread and was answered at once. A pool of blocking threads suits short"
say "connection-per-request traffic; N slow or idle clients (a slowloris) stop it."

lab_section "What to look at"
say "- crates/server-blocking/src/main.rs: the lesson's 'Limits' (--pool N), and the connection"
say "  thread's read loop; crates/server-common/src/pool.rs, the bounded queue."
say "- The test pool_of_one_blocks_the_second_client (crates/server-blocking/tests/blocking.rs)."
say "- Course chapter 5, 'Pitfall: head-of-line blocking in the pool'. Compare a readiness"
say "  server (server-epoll): an idle connection costs it no thread at all."
