#!/usr/bin/env bash
# Part of course/solutions/timer-wheel (see its README): count the loop's wake-ups.
# wakeups.sh BIN: epoll_wait calls of server-epoll --pattern single --timeout 2 while 200 idle
# connections arrive 10 ms apart and are timed out.
set -euo pipefail
bin=$1; out=$(mktemp); st=$(mktemp)
"$bin" --pattern single --timeout 2 --addr 127.0.0.1:0 >"$out" 2>/dev/null &
pid=$!
for _ in $(seq 50); do grep -q listening "$out" && break; sleep 0.05; done
port=$(sed -n 's/.*://p' "$out" | head -1)
strace -f -c -e trace=epoll_wait,accept4,close -o "$st" -p "$pid" & spid=$!
sleep 0.5
fds=()
for _ in $(seq 200); do exec {fd}<>"/dev/tcp/127.0.0.1/$port"; fds+=("$fd"); sleep 0.01; done
sleep 3
kill -INT "$spid"; wait "$spid" 2>/dev/null || true
for fd in "${fds[@]}"; do exec {fd}>&-; done
kill "$pid"; wait "$pid" 2>/dev/null || true
awk '$NF ~ /^(epoll_wait|accept4|close)$/ {print $NF, $4}' "$st"
rm -f "$out" "$st"
