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
    say "$label$(t ":" "：")"
    if ! lab_wait_readable "$third" 0.5; then
        say "$(t "  the third client has no answer 0.5 s later; the server's sockets:" "  0.5 秒后第三个客户端仍没有得到回答；服务器的 socket：")"
        lab_socket_queues "$S_PORT"
        lab_wait_readable "$third" 8 || true
    fi
    took=$(lab_elapsed "$start")
    status=$(lab_read_response "$third" 2) || status="(no answer)"
    say "$(t "  the third client's answer came after $took s: $status" "  第三个客户端在 $took 秒后得到回答：$status")"
    say ""
    lab_close "$idle1"
    lab_close "$idle2"
    lab_close "$third"
    lab_stop_server "$S_PID"
}

say ""
run_case "$(t "With --pool 2" "使用 --pool 2")" --pool 2
run_case "$(t "Without a pool (a thread per connection)" "不用线程池（每连接一线程）")"

if lab_zh; then
    lab_section "发生了什么"
    say "使用 --pool 2 时，两个线程各占住一条空闲的长连接，阻塞在 read 里，等待一个不会来的下一个请求。"
    say "第三条连接已被 accept，但没有空闲的线程去读它：它的请求排在两条什么都不做的连接后面，"
    say "躺在 socket 里（上面的 Recv-Q）——这就是队头阻塞——直到空闲超时（3 秒）关闭其中一条、"
    say "释放出它的线程。每连接一线程时，第三个客户端得到了自己的线程，立刻得到回答。阻塞线程组成的"
    say "线程池适合每请求一连接的短连接流量；N 个慢的或空闲的客户端（slowloris）就能让它停摆。"

    lab_section "要看哪里"
    say "- crates/server-blocking/src/main.rs：那一课中的 'Limits'（--pool N），以及连接线程的读循环；"
    say "  crates/server-common/src/pool.rs，有界队列。"
    say "- 测试 pool_of_one_blocks_the_second_client（crates/server-blocking/tests/blocking.rs）。"
    say "- 课程第 5 章，「常见错误：线程池中的队头阻塞」。对比一个就绪类服务器（server-epoll）："
    say "  空闲连接根本不占它的线程。"
else
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
fi
