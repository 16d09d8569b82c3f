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
    say "$label$(t ":" "：")"
    say "$(t "  100 clients connected, nobody sends; server CPU over 2 s: $cpu % of a core" "  连上 100 个客户端，谁都不发送；2 秒内服务器的 CPU：一个核的 $cpu %")"
    say "$(t "  its stderr: $(grep -m 1 'accept' "$S_ERR" || echo '(nothing)')" "  它的 stderr：$(grep -m 1 'accept' "$S_ERR" || echo '（无）')")"
    say "$(t "  its system calls in 1 s (strace -c -f):" "  它 1 秒内的系统调用（strace -c -f）：")"
    lab_syscalls "$S_PID" 1
    for fd in "${crowd[@]}"; do
        lab_close "$fd"
    done
    lab_stop_server "$S_PID"
    say ""
}

say ""
run_case "$(t "With the mistake (--mistake accept-emfile-spin)" "有这个错误（--mistake accept-emfile-spin）")" --mistake accept-emfile-spin
run_case "$(t "Without it (listener paused for 100 ms at EMFILE)" "没有这个错误（遇到 EMFILE 时监听 socket 暂停 100 ms）")"

if lab_zh; then
    lab_section "发生了什么"
    say "accept 以 EMFILE 失败：没有描述符可以分给新 socket。连接留在监听 socket 的 backlog 里，所以"
    say "监听 socket 一直可读，水平触发的 epoll 在下一次 epoll_wait 时又报告它。有这个错误时，循环只是"
    say "放弃然后再等：epoll_wait、accept4（EMFILE）、epoll_wait……——一个核跑到 100 %，却没有服务任何人。"
    say "没有这个错误时，循环把监听 socket 从 epoll 中移除（EPOLL_CTL_DEL）100 ms，继续服务已有的连接，"
    say "然后再把它加回来：几乎不花 CPU。警告两种情况下都只打印一次（每次失败的 accept 打印一行，"
    say "日志会以同样的速度被淹没）；有这个错误时，它说的 'pausing accepts' 正是服务器没有做到的事。"

    lab_section "要看哪里"
    say "- crates/server-epoll/src/setup.rs，Listening::accept（AcceptVerdict::Backoff）和 resume_if_due；"
    say "  crates/server-common/src/accept.rs，classify 和 BACKOFF。"
    say "- accept(2)，ERRORS：EMFILE；课程第 7 章，「常见错误：accept 以 EMFILE 失败，循环空转」；"
    say "  一致性检查 emfile_does_not_spin。"
else
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
fi
