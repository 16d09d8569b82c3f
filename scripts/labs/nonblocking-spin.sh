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
    say "$label$(t ":" "：")"
    say "$(t "  2 idle keep-alive clients, nobody sends; server CPU over 2 s: $cpu % of a core" "  2 个空闲的长连接客户端，谁都不发送；2 秒内服务器的 CPU：一个核的 $cpu %")"
    say "$(t "  its system calls in 1 s (strace -c -f):" "  它 1 秒内的系统调用（strace -c -f）：")"
    lab_syscalls "$S_PID" 1
    lab_close "$idle1"
    lab_close "$idle2"
    lab_stop_server "$S_PID"
    say ""
}

say ""
run_case "$(t "With --spin" "使用 --spin")" --spin
run_case "$(t "Without it (back-off)" "不用它（退避）")"

if lab_zh; then
    lab_section "发生了什么"
    say "轮询循环靠尝试来得知就绪：accept，然后在每条连接上 read，没事可做时每次都立刻得到 EAGAIN。"
    say "使用 --spin 时，它马上开始下一遍，所以在无事可做时，它以 CPU 允许的最快速度发起这些徒劳的调用："
    say "一整个核，却没有服务任何人。不用 --spin 时，什么都没动的一遍之后会睡眠（1 ms，翻倍直到 10 ms）："
    say "空闲时每秒大约一百遍，几乎不花 CPU。代价是延迟：到达空闲服务器的请求最多要等 10 ms。"

    lab_section "要看哪里"
    say "- crates/server-nonblocking/src/main.rs：那一课中的 'The cost: a core, even when idle'，"
    say "  以及循环的退避（MIN_SLEEP、MAX_SLEEP）。"
    say "- 测试 idle_loop_backs_off_instead_of_spinning（crates/server-nonblocking/tests）。"
    say "- 课程第 6 章，「常见错误：空转的轮询循环」。对比 server-epoll：它睡在 epoll_wait 里，"
    say "  直到内核有话要说。"
else
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
fi
