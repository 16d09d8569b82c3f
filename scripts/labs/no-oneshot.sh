#!/usr/bin/env bash
# no-oneshot: the Reactor pattern without EPOLLONESHOT: two workers get the same socket at once
#
# Runs server-epoll --pattern reactor --workers 2, first with --mistake no-oneshot, then without.
# Four keep-alive clients send 30 pipelined requests each. The server counts readiness jobs that
# start on a socket another worker is still handling, and prints `race: …` on stderr for them.
# Checked by crates/server-epoll/tests/labs.rs, lab_no_oneshot. About 3 s.
# shellcheck source=scripts/labs/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_begin 20
lab_build server-epoll

# One client: 30 pipelined GETs on one connection, then their 30 answers.
client() {
    local fd i
    lab_connect fd "$1"
    for ((i = 0; i < 30; i++)); do
        lab_get "$fd" /hello.txt
    done
    for ((i = 0; i < 30; i++)); do
        lab_read_response "$fd" 5 >/dev/null || lab_fail "answer $i of 30 did not come"
    done
    lab_close "$fd"
}

# run_case LABEL EXTRA_ARGS…: the load, up to three rounds until a race shows (the race depends
# on timing); prints what the server said about races.
run_case() {
    local label=$1 round races pid pids
    shift
    say "$label$(t ":" "：")"
    for round in 1 2 3; do
        lab_start_server S target/release/server-epoll --pattern reactor --workers 2 "$@"
        pids=()
        for _ in 1 2 3 4; do
            client "$S_PORT" &
            pid=$!
            lab_track "$pid"
            pids+=("$pid")
        done
        for pid in "${pids[@]}"; do
            wait "$pid" || lab_fail "a client failed"
        done
        lab_stop_server "$S_PID" # a clean exit prints the total
        races=$(grep -c '^race:' "$S_ERR" || true)
        if ((races > 0)); then
            say "$(t "  round $round: 120 requests answered; the server reported:" "  第 $round 轮：120 个请求都得到回答；服务器报告：")"
            grep '^race:' "$S_ERR" | sed 's/^/    /'
            break
        fi
        say "$(t "  round $round: 120 requests answered, no race reported" "  第 $round 轮：120 个请求都得到回答，没有报告竞争")"
        [[ $# -eq 0 ]] && break # without the mistake one round says it
    done
    say ""
}

say ""
run_case "$(t "With the mistake (--mistake no-oneshot)" "有这个错误（--mistake no-oneshot）")" --mistake no-oneshot
run_case "$(t "Without it (EPOLLONESHOT)" "没有这个错误（EPOLLONESHOT）")"

if lab_zh; then
    lab_section "发生了什么"
    say "没有 EPOLLONESHOT 时，一个工作线程还在去读这个 socket 的路上，主线程的下一次 epoll_wait 就再次"
    say "报告了同一个 socket（水平触发：字节还没被读），并放入第二个任务。另一个工作线程取走了它：一个"
    say "socket 有两个工作线程。这里连接的互斥锁让第二个线程等待，所以回答保持完整和有序——但一个线程池"
    say "线程被阻塞着，主线程还在不停地放入无用的任务。如果没有那把锁，两个线程会同时读写一条连接。"
    say "使用 EPOLLONESHOT 时，内核在报告一次之后禁用这个 socket，直到工作线程重新注册它，所以没有报告竞争。"

    lab_section "要看哪里"
    say "- crates/server-epoll/src/reactor.rs：armed() 加上 EPOLLONESHOT；work() 把用 EPOLL_CTL_MOD"
    say "  重新注册作为最后一步；Handling 统计一个 socket 上正在处理的任务数。"
    say "- 测试 oneshot_reports_a_socket_once_until_rearmed（reactor.rs）：这个标志所承诺的。"
    say "- epoll(7)，epoll_ctl(2) 中的 EPOLLONESHOT；课程第 8 章，「EPOLLONESHOT：同一时刻每个 socket"
    say "  只有一个工作线程」。"
else
    lab_section "What happened"
    say "Without EPOLLONESHOT, the main thread's next epoll_wait reported the same socket again while"
    say "a worker was still on its way to read it (level-triggered: the bytes were still unread), and"
    say "queued a second job. The other worker took it: two workers for one socket. Here the"
    say "connection's mutex makes the second one wait, so answers stay whole and in order — but a pool"
    say "thread sits blocked, and the main thread keeps queueing useless jobs. Without that lock, two"
    say "threads would read and write one connection at once. With EPOLLONESHOT the kernel disables"
    say "the socket after one report until the worker re-arms it, so no race was reported."

    lab_section "What to look at"
    say "- crates/server-epoll/src/reactor.rs: armed() adds EPOLLONESHOT; work() re-arms with"
    say "  EPOLL_CTL_MOD as its last step; Handling counts the jobs at work on a socket."
    say "- The test oneshot_reports_a_socket_once_until_rearmed (reactor.rs): what the flag promises."
    say "- epoll(7), EPOLLONESHOT in epoll_ctl(2); course chapter 8, 'EPOLLONESHOT: one worker per"
    say "  socket at a time'."
fi
