#!/usr/bin/env bash
# sigio-overflow: a small RLIMIT_SIGPENDING overflows the real-time signal queue: events are lost, SIGIO forces a full scan
#
# Runs server-sigio --signal rt twice: under `prlimit --sigpending=8` (at most 8 queued signals
# for the whole user), then with the normal limit. 200 keep-alive clients connect and go idle;
# the server is paused (SIGSTOP) while all 200 send a request, so 200 events arrive at once; then
# it resumes. Prints how many answers came and the server's own count of real-time signals, plain
# SIGIOs and overflows. No mistake flag: the limit is the lesson; a server that ignored the
# overflow SIGIO would leave the lost connections hanging.
# Checked by crates/server-sigio/tests/labs.rs, lab_sigio_overflow. About 10 s.
# shellcheck source=scripts/labs/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_begin 60
lab_build server-sigio
CLIENTS=200

# run_case LABEL WRAPPER…: the burst above against server-sigio started through WRAPPER.
run_case() {
    local label=$1 fd i answered=0 line
    shift
    lab_start_server S "$@" target/release/server-sigio --signal rt
    local -a fds=()
    for ((i = 0; i < CLIENTS; i++)); do
        lab_connect fd "$S_PORT"
        fds+=("$fd")
    done
    # One exchange on the last connection: the server has accepted all of them (accepts are FIFO).
    lab_get "${fds[-1]}" /hello.txt
    lab_read_response "${fds[-1]}" 3 >/dev/null || lab_fail "no answer to the first request"
    kill -STOP "$S_PID"
    lab_wait_stopped "$S_PID"
    for fd in "${fds[@]}"; do
        lab_get "$fd" /hello.txt
    done
    kill -CONT "$S_PID"
    for fd in "${fds[@]}"; do
        line=$(lab_read_response "$fd" 3) && [[ $line == *" 200 "* ]] && answered=$((answered + 1))
    done
    for fd in "${fds[@]}"; do
        lab_close "$fd"
    done
    lab_stop_server "$S_PID"
    say "$label$(t ":" "：")"
    say "$(t "  $CLIENTS requests sent while the server was paused; answered: $answered" "  服务器暂停期间发送了 $CLIENTS 个请求；得到回答：$answered")"
    say "$(t "  the server's count at exit: $(grep -m 1 '^signals taken' "$S_ERR" || echo '(none)')" "  服务器退出时的计数：$(grep -m 1 '^signals taken' "$S_ERR" || echo '（无）')")"
    say ""
}

say ""
run_case "$(t "RLIMIT_SIGPENDING = 8 (prlimit --sigpending=8)" "RLIMIT_SIGPENDING = 8（prlimit --sigpending=8）")" prlimit --sigpending=8:8
run_case "$(t "The normal limit ($(ulimit -i) queued signals per user)" "正常的上限（每个用户 $(ulimit -i) 个排队的信号）")" env

if lab_zh; then
    lab_section "发生了什么"
    say "O_ASYNC socket 上的每个就绪事件都会排队一个指明该 socket（si_fd）的实时信号。整个用户的队列最多"
    say "容纳 RLIMIT_SIGPENDING 个信号。上限为 8 时，这一阵的 200 个事件放不下：内核把放得下的排队，丢弃"
    say "其余的，并发送一个普通的 SIGIO（si_code SI_KERNEL），它只说「丢了东西」。于是 server-sigio 取空"
    say "队列并扫描每条连接：200 个请求都得到了回答，代价是每次溢出 O(连接数)。在正常上限下，每个事件都有"
    say "自己的信号：没有溢出，也不用扫描。把那个 SIGIO 当作噪声的服务器，会让丢失的客户端永远等下去。"

    lab_section "要看哪里"
    say "- crates/server-sigio/src/main.rs：那一课中的 'Limits'，以及循环的 SIGIO 分支（完整扫描）。"
    say "  getrlimit(2)，RLIMIT_SIGPENDING：按真实用户计数，涵盖该用户的所有进程；fcntl(2)，"
    say "  F_SETSIG：队列满时会发生什么。"
    say "- 课程第 9 章，「常见错误：队列溢出」。"
else
    lab_section "What happened"
    say "Each readiness event on an O_ASYNC socket queues one real-time signal that names the socket"
    say "(si_fd). The queue holds at most RLIMIT_SIGPENDING signals for the whole user. With 8, the"
    say "200 events of the burst do not fit: the kernel queues what fits, drops the rest, and sends"
    say "one plain SIGIO (si_code SI_KERNEL) that says only 'something was lost'. server-sigio then"
    say "drains the queue and scans every connection: all 200 are answered, at O(connections) per"
    say "overflow. With the normal limit every event has its signal: no overflow, no scan."
    say "A server that treated that SIGIO as noise would have left the lost clients waiting forever."

    lab_section "What to look at"
    say "- crates/server-sigio/src/main.rs: 'Limits' in the lesson, and the SIGIO branch of the loop"
    say "  (the full scan). getrlimit(2), RLIMIT_SIGPENDING: counted per real user, across all"
    say "  of that user's processes; fcntl(2), F_SETSIG: what happens when the queue is full."
    say "- Course chapter 9, 'Pitfall: the queue overflows'."
fi
