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
    say "$label$(t ":" "：")"
    if ! lab_wait_readable "$fd" 0.5; then
        say "$(t "  no answer yet 0.5 s after the server resumed; its socket holds:" "  服务器恢复 0.5 秒后仍没有回答；它的 socket 里有：")"
        lab_socket_queues "$S_PORT"
        lab_wait_readable "$fd" 6 || true
    fi
    took=$(lab_elapsed "$start")
    status=$(lab_read_response "$fd" 2) || status="(no answer)"
    say "$(t "  answer after $took s: $status" "  $took 秒后得到回答：$status")"
    say ""
    lab_close "$fd"
    lab_stop_server "$S_PID"
}

say ""
run_case "$(t "With the mistake (--mistake edge-no-drain)" "有这个错误（--mistake edge-no-drain）")" --mistake edge-no-drain
run_case "$(t "Without it (read until EAGAIN)" "没有这个错误（一直读到 EAGAIN）")"

if lab_zh; then
    lab_section "发生了什么"
    say "有这个错误时，服务器为那一个边缘只做了一次 64 KiB 的读，然后回到 epoll_wait。另外约 26 KiB"
    say "留在 socket 里（上面的 Recv-Q），但已经在那里的字节不会产生新的边缘：epoll 再也没有报告这个"
    say "socket。客户端和服务器互相等待，直到空闲超时（3 秒）以一个 408 结束了它。没有这个错误时，"
    say "服务器一直读到 EAGAIN，一下子拿到全部 90 KiB，并立刻把它们回送（200）。"

    lab_section "要看哪里"
    say "- crates/server-epoll/src/client.rs，Client::on_readable：--trigger edge 下的"
    say "  ReadMode::UntilWouldBlock（以及 Client::drive，只要 socket 里可能还有数据它就继续）。"
    say "- crates/server-common/src/pump.rs，read_ready：只在 EAGAIN 时才停下的读循环。"
    say "- epoll(7)，'Level-triggered and edge-triggered'；课程第 7 章，「常见错误：不把数据读干净的"
    say "  边缘触发循环」。"
    say "- 试一试：对服务器运行 strace -f -e trace=recvfrom,epoll_wait：有这个错误时，"
    say "  epoll_wait 之前没有任何一次读以 EAGAIN 结束。"
else
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
fi
