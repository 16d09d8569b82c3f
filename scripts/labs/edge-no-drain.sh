#!/usr/bin/env bash
# edge-no-drain: edge-triggered epoll reading once per event: a 90 KiB POST hangs until the idle timeout
#
# Runs server-epoll --trigger edge --timeout 3, first with --mistake edge-no-drain, then without.
# One client sends a 90 KiB POST /echo while the server is paused (SIGSTOP, standing in for a
# loop busy elsewhere), then the server resumes: all 90 KiB are in its socket, one edge for all.
# Checked by crates/server-epoll/tests/labs.rs, lab_edge_no_drain. About 6 s.
# shellcheck source=scripts/labs/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_begin 20
lab_build server-epoll
BODY_BYTES=$((90 * 1024))

# run_case LABEL EXTRA_ARGS…: one POST as above; prints when and what the answer was.
run_case() {
    local label=$1 fd start took status
    shift
    lab_start_server S target/release/server-epoll --trigger edge --timeout 3 "$@"
    lab_connect fd "$S_PORT"
    # One exchange first, so that the connection is accepted and registered before the pause.
    lab_get "$fd" /hello.txt
    lab_read_response "$fd" 2 >/dev/null || lab_fail "no answer to the first request"
    kill -STOP "$S_PID"
    lab_wait_stopped "$S_PID"
    {
        printf 'POST /echo HTTP/1.1\r\nHost: lab\r\nContent-Length: %d\r\n\r\n' "$BODY_BYTES"
        head -c "$BODY_BYTES" /dev/zero | tr '\0' a
    } >&"$fd" &
    lab_track $!
    # All of it in the stopped server's receive queue before it resumes: one edge for all.
    lab_wait_exited $!
    sleep 0.1
    kill -CONT "$S_PID"
    start=$(lab_now)
    say "$label:"
    if ! lab_wait_readable "$fd" 0.5; then
        say "  no answer yet 0.5 s after the server resumed; its socket holds:"
        lab_socket_queues "$S_PORT"
        lab_wait_readable "$fd" 6 || true
    fi
    took=$(lab_elapsed "$start")
    status=$(lab_read_response "$fd" 2) || status="(no answer)"
    say "  answer after $took s: $status"
    say ""
    lab_close "$fd"
    lab_stop_server "$S_PID"
}

say ""
run_case "With the mistake (--mistake edge-no-drain)" --mistake edge-no-drain
run_case "Without it (read until EAGAIN)"

lab_section "What happened"
say "With the mistake, the server made ONE 64 KiB read for the one edge and went back to"
say "epoll_wait. The other ~26 KiB stayed in the socket (the Recv-Q above), but bytes that are"
say "already there make no new edge: epoll never reported the socket again. Client and server"
say "waited for each other until the idle timeout (3 s) ended it with a 408. Without the mistake"
say "the server read until EAGAIN, got all 90 KiB at once and echoed them at once (200)."

lab_section "What to look at"
say "- crates/server-epoll/src/client.rs, Client::on_readable: ReadMode::UntilWouldBlock under"
say "  --trigger edge (and Client::drive, which keeps going while the socket may hold more)."
say "- crates/server-common/src/pump.rs, read_ready: the read loop that stops only at EAGAIN."
say "- epoll(7), 'Level-triggered and edge-triggered'; course chapter 7, 'Pitfall: an"
say "  edge-triggered loop that does not drain'."
say "- Try: strace -f -e trace=recvfrom,epoll_wait on the server: with the mistake, no read"
say "  ends in EAGAIN before epoll_wait."
