#!/usr/bin/env bash
# select-past-fd-setsize: a select server without a guard for descriptors >= 1024: FdSet::insert panics, every connection is lost
#
# Runs server-select twice: with --mistake select-past-fd-setsize (the guard `fits_fd_set`
# answers yes to every descriptor), then without. The lab opens up to 1,100 idle connections,
# then asks for /hello.txt on the first one. Prints how far the crowd got, whether the server is
# still alive, and the end of its stderr (the panic).
# Checked by crates/server-select/tests/labs.rs, lab_select_past_fd_setsize. About 6 s.
# shellcheck source=scripts/labs/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_begin 60
lab_build server-select
CONNECTIONS=1100
# This shell holds one end of every connection: raise its soft limit to the hard one.
ulimit -n "$(ulimit -Hn)" || lab_fail "cannot raise ulimit -n"
((  $(ulimit -n) > CONNECTIONS + 50 )) || lab_fail "ulimit -n is $(ulimit -n): too low for $CONNECTIONS connections"

# run_case LABEL EXTRA_ARGS…
run_case() {
    local label=$1 fd i opened=0 first status
    shift
    lab_start_server S target/release/server-select "$@"
    local -a fds=()
    for ((i = 0; i < CONNECTIONS; i++)); do
        exec {fd}<>"/dev/tcp/127.0.0.1/$S_PORT" 2>/dev/null || break
        fds+=("$fd")
        opened=$((opened + 1))
    done
    sleep 0.5
    say "$label$(t ":" "：")"
    say "$(t "  connections opened: $opened of $CONNECTIONS" "  打开的连接：$CONNECTIONS 条中的 $opened 条")"
    if kill -0 "$S_PID" 2>/dev/null; then
        first=${fds[0]}
        lab_get "$first" /hello.txt
        status=$(lab_read_response "$first" 2) || status="(no answer)"
        say "$(t "  the server is alive; the first connection asks again: $status" "  服务器还活着；第一条连接再次请求：$status")"
        say "$(t "  its stderr: $(grep -m 1 FD_SETSIZE "$S_ERR" || echo '(nothing)')" "  它的 stderr：$(grep -m 1 FD_SETSIZE "$S_ERR" || echo '（无）')")"
    else
        say "$(t "  the server is DEAD; the end of its stderr:" "  服务器已经死了；它的 stderr 的结尾：")"
        grep -m 1 -A 1 'panicked' "$S_ERR" | sed 's/^/    /'
    fi
    for fd in "${fds[@]}"; do
        exec {fd}>&-
    done
    lab_stop_server "$S_PID"
    say ""
}

say ""
run_case "$(t "With the mistake (--mistake select-past-fd-setsize)" "有这个错误（--mistake select-past-fd-setsize）")" --mistake select-past-fd-setsize
run_case "$(t "Without it (descriptors >= 1024 are answered 503 and closed)" "没有这个错误（>= 1024 的描述符得到 503 并被关闭）")"

if lab_zh; then
    lab_section "发生了什么"
    say "fd_set 是一个 FD_SETSIZE = 1024 位的位图。内核给每个新 socket 分配最小的空闲描述符，所以大约"
    say "1,020 条连接之后，每条新连接的编号都是 1024 或更大。没有保护时，服务器把这个编号交给"
    say "FdSet::insert；nix 检查它并 panic，因为安全的 Rust 不会写到集合之外。panic 结束了进程：所有连接"
    say "都丢失了。有保护时，这样的连接得到 '503 Service Unavailable' 并被关闭，其他连接继续得到服务。"
    say "在 C 中，同样的错误不会停在 bug 处：FD_SET 会写到 128 字节的 fd_set 末尾之外的一位"
    say "（select(2)：未定义行为），破坏紧挨着它的东西，程序会在以后、在别的地方出错。"

    lab_section "要看哪里"
    say "- crates/server-select/src/main.rs：fits_fd_set 及其调用者（on_accept、wait）。"
    say "- select(2)，'BUGS' 和 FD_SETSIZE；课程第 7 章，「常见错误：select 超过 FD_SETSIZE」。"
else
    lab_section "What happened"
    say "An fd_set is a bitmap of FD_SETSIZE = 1024 bits. The kernel gives each new socket the lowest"
    say "free descriptor, so after about 1,020 connections every new one is 1024 or more. Without the"
    say "guard, the server hands that number to FdSet::insert; nix checks it and panics, because safe"
    say "Rust will not write outside the set. The panic ends the process: every connection is lost."
    say "With the guard, such a connection gets '503 Service Unavailable' and is closed, and the"
    say "others keep being served. In C the same mistake does not stop at the bug: FD_SET writes a"
    say "bit past the end of the 128-byte fd_set (select(2): undefined behaviour), corrupting"
    say "whatever lies next to it, and the program fails later, somewhere else."

    lab_section "What to look at"
    say "- crates/server-select/src/main.rs: fits_fd_set and its callers (on_accept, wait)."
    say "- select(2), 'BUGS' and FD_SETSIZE; course chapter 7, 'Pitfall: select past FD_SETSIZE'."
fi
