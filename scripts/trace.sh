#!/usr/bin/env bash
# The strace of one request, for any server and mode: what the book's transcripts are made of.
#
#   scripts/trace.sh SERVER [ARGS…]   build SERVER (release), start it with ARGS, make one warm-up
#                                     request, attach strace to every thread, make ONE request on a
#                                     new keep-alive connection (GET /hello.txt, then the client
#                                     closes), detach, stop the server; print the transcript
#   scripts/trace.sh --all            regenerate every transcript of the book into course/transcripts/
#   scripts/trace.sh --check          regenerate each into a temporary directory and compare it with
#                                     the checked-in file (see "What --check compares"); fails with
#                                     a diff until the transcript is regenerated with --all (a
#                                     transcript that differs is traced once more before failing)
#   scripts/trace.sh --list           the transcripts: name, server, arguments
#
# The client pauses 0.2 s between connecting, sending and closing, so that each step is settled
# before the next: the server's reaction to each one is one block of the transcript. Run-specific
# values (thread ids, ports, addresses, the Date/ETag/Last-Modified values, timespecs) are replaced
# by placeholders, so that a regenerated transcript differs from the old one only where the
# server's behaviour did.
#
# What --check compares (the normalisation):
#   single-threaded modes  the sequence of syscall names, a run of the same name counted once
#                          (`recvfrom, recvfrom` = `recvfrom`: how many reads end in EAGAIN can
#                          depend on segment timing, the order of the calls does not)
#   threaded modes         the set of syscall names of all threads together (which pool thread
#                          takes the request, and how often a futex is touched, vary run to run)
#   polling, plain SIGIO   the set of syscall names (nonblocking: its passes are timed by a sleep;
#                          sigio plain: how many SIGIOs merge into one depends on timing)
# In every case `restart_syscall` is left out: it appears when strace attaches during a sleep.
# Needs strace (scripts/install-deps.sh installs it) and permission to ptrace the server (this
# script starts it, so kernel.yama.ptrace_scope ≤ 1 is enough). Network only on 127.0.0.1; every
# process it starts it stops by PID.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export LC_ALL=C

OUT_DIR=course/transcripts

# THE list: transcript name | server | normalisation | arguments.
TRANSCRIPTS=(
  "server-blocking-default|server-blocking|threaded|"
  "server-nonblocking-default|server-nonblocking|set|"
  "server-select-default|server-select|sequence|"
  "server-poll-default|server-poll|sequence|"
  "server-epoll-single-level|server-epoll|sequence|--pattern single --trigger level"
  "server-epoll-single-edge|server-epoll|sequence|--pattern single --trigger edge"
  "server-epoll-reactor-level|server-epoll|threaded|--pattern reactor --trigger level --workers 2"
  "server-epoll-proactor|server-epoll|threaded|--pattern proactor --trigger level --workers 2"
  "server-epoll-multi|server-epoll|threaded|--pattern multi --trigger level --workers 2"
  "server-uring-default|server-uring|sequence|"
  "server-sigio-rt|server-sigio|sequence|--signal rt"
  "server-sigio-plain|server-sigio|set|--signal plain"
  "server-aio-default|server-aio|threaded|"
)

PIDS=()
TMP=$(mktemp -d "${TMPDIR:-/tmp}/trace.XXXXXX")
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

die() {
  echo "trace.sh: $*" >&2
  exit 1
}

command -v strace >/dev/null || die "strace not found: install it with scripts/install-deps.sh"

# http_exchange PORT REQUEST: one request on a new connection; prints nothing, fails on no answer.
http_exchange() {
  local fd line
  exec {fd}<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf '%b' "$2" >&"$fd"
  IFS= read -r -t 3 -u "$fd" line || { exec {fd}>&-; return 1; }
  exec {fd}>&-
  [[ $line == "HTTP/1.1 "* ]]
}

# read_response FD: read one whole response (head, then Content-Length bytes of body), so that
# the client closes with nothing unread (which would make its close a reset). Sets REPLY_STATUS.
read_response() {
  local fd=$1 line length=0
  IFS= read -r -t 3 -u "$fd" REPLY_STATUS || return 1
  while IFS= read -r -t 3 -u "$fd" line; do
    line=${line%$'\r'}
    [ -z "$line" ] && break
    if [[ ${line,,} == content-length:* ]]; then
      length=${line#*:}
      length=${length// /}
    fi
  done
  [ "$length" -eq 0 ] || IFS= read -r -t 3 -N "$length" -u "$fd" _
}

# trace_one SERVER ARGS…: the transcript on stdout.
trace_one() {
  local server=$1
  shift
  local bin=target/release/$server
  cargo build --release -q -p "$server" || die "cargo build --release -p $server failed"
  local out=$TMP/server.out err=$TMP/server.err raw=$TMP/strace.raw
  : >"$out"
  # The cache trusts its entries for a minute: the traced request shows the steady state (a
  # cached file), not a revalidation that happens to fall due during the trace.
  "$bin" "$@" --file-cache-valid 60000 --addr 127.0.0.1:0 >"$out" 2>"$err" &
  local pid=$!
  PIDS+=("$pid")
  local i line=""
  for ((i = 0; i < 100; i++)); do
    line=$(head -n 1 "$out" 2>/dev/null || true)
    [[ $line == "listening on http://"* ]] && break
    kill -0 "$pid" 2>/dev/null || die "$server exited at start: $(cat "$err")"
    sleep 0.05
  done
  [[ $line == "listening on http://"* ]] || die "$server printed no announce line"
  local port=${line##*:}
  # Warm-up: the file cache holds /hello.txt, pools have started their threads.
  http_exchange "$port" 'GET /hello.txt HTTP/1.1\r\nHost: trace\r\nConnection: close\r\n\r\n' ||
    die "$server: no answer to the warm-up request"
  sleep 0.3
  # -p PID with -f attaches every thread of the process, and -f follows the threads it starts.
  strace -f -qq -s 48 -o "$raw" -p "$pid" &
  local strace_pid=$!
  PIDS+=("$strace_pid")
  sleep 0.5
  # The request: connect, pause, send, read the answer, pause, close, pause.
  local fd status
  exec {fd}<>"/dev/tcp/127.0.0.1/$port" || die "$server: cannot connect"
  sleep 0.2
  printf 'GET /hello.txt HTTP/1.1\r\nHost: trace\r\n\r\n' >&"$fd"
  read_response "$fd" || die "$server: no whole answer to the traced request"
  status=$REPLY_STATUS
  sleep 0.2
  exec {fd}>&-
  sleep 0.3
  kill -INT "$strace_pid" 2>/dev/null || true
  wait "$strace_pid" 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "# scripts/trace.sh $server $* (started with --file-cache-valid 60000)"
  echo "# One keep-alive request after a warm-up one: the client connects, waits 0.2 s, sends"
  echo "# GET /hello.txt, reads the answer (${status%$'\r'}), waits 0.2 s, closes. Every thread of the"
  echo "# server traced (strace -f); [T1] is the main thread, [T2]… the others in order of"
  echo "# appearance. Run-specific values are shown as … (ports, addresses, dates); wait time-outs vary."
  echo "# $(strace -V | head -n 1), Linux $(uname -r)"
  normalise_text "$pid" <"$raw"
}

# normalise_text PID: strace -f output → the transcript's lines (thread tags, placeholders).
normalise_text() {
  awk -v main="$1" '
    {
      tid = $1
      if (!(tid in tag)) { tag[tid] = (tid == main) ? "T1" : "T" (++n + 1) }
      $1 = ""
      line = substr($0, 2)
      gsub(/sin_port=htons\([0-9]+\)/, "sin_port=htons(…)", line)
      gsub(/0x[0-9a-f]{5,}/, "0x…", line)
      gsub(/Date: [^\\"]*/, "Date: …", line)
      gsub(/Last-Modified: [^\\"]*/, "Last-Modified: …", line)
      gsub(/ETag: [^\\"]*/, "ETag: …", line)
      gsub(/tv_sec=[0-9]+, tv_nsec=[0-9]+/, "tv_sec=…, tv_nsec=…", line)
      print "[" tag[tid] "] " line
    }'
}

# signature KIND FILE: the normalised form --check compares (see the header).
signature() {
  local kind=$1 file=$2
  grep -v '^#' "$file" |
    sed -nE 's/^\[T[0-9]+\] (<\.\.\. )?([a-z_0-9]+)[( ].*/\2/p' |
    grep -vE '^(resumed|exit|exited|restart_syscall)$' |
    if [ "$kind" = sequence ]; then uniq; else sort -u; fi
}

case "${1:-}" in
  --list)
    for entry in "${TRANSCRIPTS[@]}"; do
      IFS='|' read -r name server kind args <<<"$entry"
      printf '%-28s %-20s %-9s %s\n' "$name" "$server" "$kind" "$args"
    done
    ;;
  --all)
    mkdir -p "$OUT_DIR"
    for entry in "${TRANSCRIPTS[@]}"; do
      IFS='|' read -r name server kind args <<<"$entry"
      # shellcheck disable=SC2086 # args is a list of words
      trace_one "$server" $args >"$OUT_DIR/$name.txt"
      echo "trace.sh: wrote $OUT_DIR/$name.txt ($(grep -vc '^#' "$OUT_DIR/$name.txt") calls)"
    done
    ;;
  --check)
    failed=0
    for entry in "${TRANSCRIPTS[@]}"; do
      IFS='|' read -r name server kind args <<<"$entry"
      [ -f "$OUT_DIR/$name.txt" ] || { echo "trace.sh: $OUT_DIR/$name.txt missing" >&2; failed=1; continue; }
      # One retry: a transcript is one request on a loaded machine, and a segment that arrives
      # late can add a wait-and-read round once. A change in the server shows on both tries.
      same=0
      for try in 1 2; do
        # shellcheck disable=SC2086 # args is a list of words
        trace_one "$server" $args >"$TMP/$name.txt"
        if diff <(signature "$kind" "$OUT_DIR/$name.txt") <(signature "$kind" "$TMP/$name.txt") >"$TMP/diff"; then
          same=1
          break
        fi
        [ "$try" = 2 ] || { echo "trace.sh: $name: differed on try 1 (retrying):" >&2; cat "$TMP/diff" >&2; }
      done
      if [ "$same" = 1 ]; then
        echo "trace.sh: $name: same $kind of syscalls"
      else
        echo "trace.sh: $name: the syscalls changed ($kind; < checked in, > now):" >&2
        cat "$TMP/diff" >&2
        failed=1
      fi
    done
    [ "$failed" = 0 ] || die "regenerate with scripts/trace.sh --all, read the diff, and commit"
    ;;
  '' | -h | --help)
    sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'
    ;;
  *)
    trace_one "$@"
    ;;
esac
