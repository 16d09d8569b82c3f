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
    say "$label$(t ":" "：")"
    say "  $(grep -m 1 'Requests/sec' <<<"$report" || echo "(no Requests/sec line)")"
    say "  $(t "status codes: " "状态码：")$(sed -n '/Status codes:/,/^Requests/p' <<<"$report" | sed '1d;$d' | tr -s ' ' | tr '\n' ';')"
    say "  $(t "server: " "服务器：")$(grep -m 1 '^receives that found the buffer pool empty' "$S_ERR" || echo '(no count)')"
    say ""
}

say ""
run_case "$(t "--buffers 1 (one 16 KiB buffer for 50 connections)" "--buffers 1（50 条连接只有一个 16 KiB 的缓冲区）")" 1
run_case "$(t "--buffers 512 (the default)" "--buffers 512（默认）")" 512

if lab_zh; then
    lab_section "发生了什么"
    say "server-uring 接收到提供的缓冲区中：内核只在字节到达时才从池中取一个缓冲区。只有一个缓冲区时，"
    say "每一轮循环只有一个接收拿到它；其他每个找到数据的接收都以 ENOBUFS 完成，并在缓冲区归还之后的"
    say "下一轮重新提交。没有任何失败，每个响应都是正确的，但大多数完成事件不携带任何字节：服务器为每个"
    say "请求转很多轮循环，每秒请求数下降。有 512 个缓冲区时，一轮中的每个接收都能找到一个：根本没有 ENOBUFS。"

    lab_section "要看哪里"
    say "- crates/server-uring/src/main.rs：on_recv_complete（ENOBUFS 分支，以及无论结果如何都归还缓冲区）"
    say "  和 retry_starved；--buffers 标志。"
    say "- io_uring_setup_buf_ring(3) / IORING_OP_PROVIDE_BUFFERS；课程第 11 章，「常见错误：缓冲区太少」。"
else
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
fi
