#!/usr/bin/env bash
# aio-default-pool: POSIX AIO without aio_init: glibc's 20 helper threads, held by 20 idle clients, starve the 21st
#
# Runs server-aio --timeout 4, first with --mistake aio-default-pool (no aio_init: glibc's default
# pool of 20 helper threads), then without (the pool sized to --max-connections). 20 keep-alive
# clients connect and say nothing; then a 21st client asks for /hello.txt. Prints when it was
# answered and the server's thread count.
# Checked by crates/server-aio/tests/labs.rs, lab_aio_default_pool. About 12 s.
# shellcheck source=scripts/labs/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_begin 40
lab_build server-aio
IDLE=20

threads_of() { awk '/^Threads:/ { print $2 }' "/proc/$1/status"; }

# run_case LABEL EXTRA_ARGS…
run_case() {
    local label=$1 fd late start status i
    shift
    lab_start_server S target/release/server-aio --timeout 4 "$@"
    local -a idle=()
    for ((i = 0; i < IDLE; i++)); do
        lab_connect fd "$S_PORT"
        idle+=("$fd")
    done
    sleep 0.5 # every idle connection's aio_read is now a blocking read in a helper thread
    say "$label$(t ":" "：")"
    say "$(t "  $IDLE idle clients connected; server threads: $(threads_of "$S_PID")" "  连上 $IDLE 个空闲客户端；服务器线程数：$(threads_of "$S_PID")")"
    lab_connect late "$S_PORT"
    start=$(lab_now)
    lab_get "$late" /hello.txt
    status=$(lab_read_response "$late" 6) || status="(no answer within 6 s)"
    say "$(t "  the 21st client's answer after $(lab_elapsed "$start") s: $status" "  第 21 个客户端在 $(lab_elapsed "$start") 秒后得到回答：$status")"
    lab_close "$late"
    for fd in "${idle[@]}"; do
        lab_close "$fd"
    done
    lab_stop_server "$S_PID"
    say ""
}

say ""
run_case "$(t "With the mistake (--mistake aio-default-pool: no aio_init)" "有这个错误（--mistake aio-default-pool：不调用 aio_init）")" --mistake aio-default-pool
run_case "$(t "Without it (aio_init sizes the pool to --max-connections)" "没有这个错误（aio_init 按 --max-connections 设置线程池大小）")"

if lab_zh; then
    lab_section "发生了什么"
    say "glibc 用用户态辅助线程实现 POSIX AIO：socket 上的每个 aio_read 都是辅助线程中一次普通的阻塞"
    say "read(2)。一个什么都不说的长连接客户端会占住它的辅助线程，直到它开口或服务器放弃它。glibc 默认的"
    say "线程池有 20 个线程（服务器自己的门铃读占了一个），所以 20 个空闲客户端就把它们全占了：第 21 个"
    say "客户端的 aio_read 在 glibc 的队列里等待，直到空闲超时（4 秒）关闭空闲连接、释放出线程才得到服务。"
    say "使用 aio_init 时，线程池每条连接一个线程，第 21 个客户端立刻得到回答——代价是每条空闲连接一个线程。"

    lab_section "要看哪里"
    say "- crates/server-aio/src/aio.rs，init_pool：struct aioinit（aio_threads、aio_num）。"
    say "- crates/server-aio/src/main.rs：'Honest: on Linux with glibc, this is threads underneath'。"
    say "- aio(7) 和 aio_init(3)；课程第 10 章，「常见错误：默认的线程池」。"
else
    lab_section "What happened"
    say "glibc implements POSIX AIO with user-space helper threads: each aio_read on a socket is a"
    say "plain blocking read(2) in a helper. A keep-alive client that says nothing holds its helper"
    say "until it speaks or the server gives up on it. glibc's default pool has 20 threads (and the"
    say "server's own doorbell read holds one), so 20 idle clients hold them all: the 21st client's"
    say "aio_read waits in glibc's queue, and is only served when the idle timeout (4 s) closes the"
    say "idle ones and frees their threads. With aio_init the pool has a thread per connection, and"
    say "the 21st client is answered at once - at the price of a thread per idle connection."

    lab_section "What to look at"
    say "- crates/server-aio/src/aio.rs, init_pool: struct aioinit (aio_threads, aio_num)."
    say "- crates/server-aio/src/main.rs: 'Honest: on Linux with glibc, this is threads underneath'."
    say "- aio(7) and aio_init(3); course chapter 10, 'Pitfall: the default pool'."
fi
