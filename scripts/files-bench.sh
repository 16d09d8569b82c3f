#!/usr/bin/env bash
# Serving files: what the open-file cache and each model's file path cost, measured side by side
# and written up as one Markdown page.
#
#   scripts/files-bench.sh [--out DIR] [--repeat R] [--duration SECS] [--quick]
#                          [--also NAME='CMD ARGS' ...]
#
# Writes DIR/README.md (default bench-results/<date>-files/) with, in order:
#   1. small file, keep-alive (`wrk -t1 -c50`): nginx, nginx with open_file_cache, server-epoll;
#   2. small file, a connection per request (`ab -c50`): nginx, server-epoll;
#   3. a 1 MiB file, keep-alive (`wrk -t1 -c10`): nginx, server-epoll (sendfile and copying),
#      server-uring (splice and read), server-aio, and every `--also` command;
#   4. syscalls per small-file request of server-epoll, with and without the cache (`strace -c
#      -f` for the server's whole life around a 3 s `wrk -t1 -c50` run, divided by the requests
#      the server reports having served);
#   5. the http-core criterion bench: the browser request for a small file with a warm cache
#      against the same request for `/bytes/450`, as a ratio per run;
#   6. where the server's CPU goes in the 1 MiB case (`perf record` on the server's CPU, the
#      top symbols per server), when perf is installed.
# Tables 1–3 come from scripts/wrk-vs-nginx.sh: R interleaved rounds (5; 1 with --quick),
# medians with min–max, servers on CPU 0 and the load on CPU 1. Every process started here is
# stopped by PID. Takes about 10 minutes (2 with --quick).
set -euo pipefail

usage() {
  sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=
repeat=5
duration=5
also=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --repeat) repeat=${2:?--repeat needs a number}; shift 2 ;;
    --duration) duration=${2:?--duration needs seconds}; shift 2 ;;
    --quick) repeat=1; duration=2; shift ;;
    --also) also+=("${2:?--also needs NAME='CMD ARGS'}"); shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "files-bench: unexpected argument: $1" >&2; usage 2 >&2 ;;
  esac
done
cd "$root"
out=${out:-bench-results/$(date +%Y-%m-%d)-files}
for tool in wrk ab nginx strace; do
  if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
    echo "files-bench: $tool is not installed (run scripts/install-deps.sh)" >&2
    exit 1
  fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/files-bench.XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "files-bench: building" >&2
cargo build --release --quiet -p server-epoll -p server-uring -p server-aio
docroot=$tmp/root
mkdir -p "$docroot"
cp www/hello.txt "$docroot/hello.txt"
head -c 1048576 /dev/urandom >"$docroot/1m.bin"
# nginx's worker runs as an unprivileged user: it must be able to reach and read the files
# (mktemp -d makes the directory private).
chmod 755 "$tmp" "$docroot"
chmod 644 "$docroot"/*
mkdir -p "$out"
page=$tmp/README.md
wvn() { scripts/wrk-vs-nginx.sh --repeat "$repeat" --duration "$duration" "$@" 2>>"$tmp/progress.log"; }

{
  echo "# Serving files: $(date +%Y-%m-%d)"
  echo
  echo "Written by \`scripts/files-bench.sh --repeat $repeat --duration $duration\`. Machine: $(nproc) CPUs"
  echo "($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), Linux $(uname -r),"
  echo "$(ldd --version 2>/dev/null | head -n1 | sed 's/^ldd //'), $("$(command -v nginx || echo /usr/sbin/nginx)" -v 2>&1 | sed 's/.*: //')."
  echo "Ratios come from one run with the servers side by side, in $repeat interleaved round(s):"
  echo "the median of the per-round ratios, with their min–max. Absolute numbers on a shared"
  echo "machine drift by ±15 % within minutes; compare rows, not runs."
  echo
  echo "## 1. Small file, keep-alive"
  echo
  echo "\`/hello.txt\` ($(stat -c %s "$docroot/hello.txt") bytes). nginx as the project's scripts configure it"
  echo "(1 worker, \`access_log off\`, \`sendfile on\`, no \`open_file_cache\`), and with"
  echo "\`open_file_cache max=1000 inactive=20s\`."
} >"$page"
echo "files-bench: 1. small file, keep-alive" >&2
wvn --root "$docroot" --nginx-cache epoll='target/release/server-epoll' >>"$page"

{
  echo
  echo "## 2. Small file, a connection per request"
} >>"$page"
echo "files-bench: 2. connection per request" >&2
wvn --root "$docroot" --ab epoll='target/release/server-epoll' >>"$page"

{
  echo
  echo "## 3. 1 MiB file, keep-alive"
  echo
  echo "\`server-epoll\` sends with \`sendfile(2)\` (\`--no-sendfile\`: \`pread\` + \`write\`);"
  echo "\`server-uring\` splices file → pipe → socket (\`--file-io read\`: \`IORING_OP_READ\` +"
  echo "\`IORING_OP_SEND\`); \`server-aio\` reads with \`aio_read\` and writes with \`aio_write\`."
} >>"$page"
echo "files-bench: 3. 1 MiB file" >&2
wvn --root "$docroot" --path /1m.bin --conns 10 \
  epoll='target/release/server-epoll' \
  epoll-no-sendfile='target/release/server-epoll --no-sendfile' \
  uring-splice='target/release/server-uring' \
  uring-read='target/release/server-uring --file-io read' \
  aio='target/release/server-aio' \
  "${also[@]}" >>"$page"

# 4. Syscalls per request: the server runs under `strace -c -f` for its whole life.
syscalls_per_request() {
  local flag=$1 summary=$tmp/strace.txt log=$tmp/strace-server.out port requests calls
  : >"$log"
  strace -c -f -o "$summary" target/release/server-epoll --addr 127.0.0.1:0 --root "$docroot" \
    $flag >"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    port=$(sed -n 's/^listening on http:\/\/127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log" | head -n1)
    [ -n "$port" ] && break
    sleep 0.1
  done
  wrk -t1 -c50 -d3s "http://127.0.0.1:$port/hello.txt" >/dev/null
  # SIGTERM reaches the traced server (strace's child); strace then writes its summary.
  kill -TERM "$(pgrep -P "$server_pid")"
  wait "$server_pid" || true
  server_pid=
  requests=$(sed -n 's/^served \([0-9]*\) requests.*/\1/p' "$log")
  calls=$(awk '$NF == "total" { print $4 }' "$summary")
  awk -v c="$calls" -v r="$requests" -v f="${flag:-(cache on)}" \
    'BEGIN { printf "| `server-epoll` %s | %d | %d | %.2f |\n", f, r, c, c / r }'
  # The calls made at least once per 100 requests (start-up calls are left out).
  awk -v r="$requests" 'NR > 2 && $NF != "total" && $NF !~ /^-/ && $4 * 100 >= r { printf "%s %s; ", $NF, $4 }' \
    "$summary" | sed 's/; $//' >"$tmp/calls$flag.txt"
}
echo "files-bench: 4. syscalls per request" >&2
{
  echo
  echo "## 4. Syscalls per small-file request"
  echo
  echo "\`strace -c -f\` on \`server-epoll\` (single thread, level-triggered) for its whole life, around"
  echo "\`wrk -t1 -c50 -d3s\` keep-alive on \`/hello.txt\`; calls divided by the requests it served."
  echo
  echo "| server | requests | syscalls | per request |"
  echo "|---|---:|---:|---:|"
  syscalls_per_request ""
  syscalls_per_request --no-file-cache
  echo
  echo "Calls made at least once per 100 requests, with the cache: $(cat "$tmp/calls.txt")."
  echo
  echo "Calls without it: $(cat "$tmp/calls--no-file-cache.txt")."
} >>"$page"

echo "files-bench: 5. http-core criterion" >&2
{
  echo
  echo "## 5. http-core: a cached small file against \`/bytes/450\`"
  echo
  echo "\`cargo bench -p http-core --bench parse_and_answer -- --measurement-time 3\`, $((repeat + 1)) runs;"
  echo "one request parsed and answered, no socket: \`firefox_request_keepalive\` (a 456-byte"
  echo "\`index.html\` from a warm open-file cache) against \`firefox_request_bytes_no_syscalls\`"
  echo "(the same request for a 450-byte generated body)."
  echo
  echo "| run | small file, warm cache (ns) | /bytes/450 (ns) | ratio |"
  echo "|---:|---:|---:|---:|"
  for run in $(seq $((repeat + 1))); do
    cargo bench -q -p http-core --bench parse_and_answer -- --warm-up-time 1 \
      --measurement-time 3 --output-format bencher 2>/dev/null \
      | awk -v run="$run" '
          /firefox_request_keepalive/ { k = $5 } /firefox_request_bytes_no_syscalls/ { b = $5 }
          END { gsub(",", "", k); gsub(",", "", b); printf "| %d | %d | %d | %.2f |\n", run, k, b, k / b }'
  done | tee "$tmp/criterion.txt"
  echo
  awk -F'|' '{ r[NR] = $5 + 0 } END {
      n = NR; for (i = 2; i <= n; i++) for (j = i; j > 1 && r[j - 1] > r[j]; j--) { t = r[j]; r[j] = r[j - 1]; r[j - 1] = t }
      m = (n % 2) ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
      printf "Median ratio %.2f (min %.2f, max %.2f).\n", m, r[1], r[n] }' "$tmp/criterion.txt"
} >>"$page"

if command -v perf >/dev/null 2>&1; then
  echo "files-bench: 6. profiles" >&2
  {
    echo
    echo "## 6. Where the server's CPU goes, 1 MiB file"
    echo
    echo "\`perf record -g -C 0\` for 4 s while \`wrk -t1 -c10\` fetches \`/1m.bin\`; the server is pinned"
    echo "to CPU 0, so samples on CPU 0 are the server and the kernel work done for it (\`swapper\`"
    echo "is CPU 0 idle). Top symbols by share of samples, \`comm\` = thread name."
    for spec in "server-epoll:target/release/server-epoll" \
      "server-uring --file-io read:target/release/server-uring --file-io read" \
      "server-uring (splice):target/release/server-uring"; do
      name=${spec%%:*}
      read -ra cmd <<<"${spec#*:}"
      : >"$tmp/perf-server.out"
      taskset -c 0 "${cmd[@]}" --addr 127.0.0.1:0 --root "$docroot" >"$tmp/perf-server.out" 2>&1 &
      server_pid=$!
      url=
      for _ in $(seq 100); do
        url=$(sed -n 's/^listening on \(http:\/\/[^ ]*\)$/\1/p' "$tmp/perf-server.out" | head -n1)
        [ -n "$url" ] && break
        sleep 0.1
      done
      taskset -c 1 wrk -t1 -c10 -d6s "$url/1m.bin" >"$tmp/perf-wrk.txt" 2>&1 &
      wrk_pid=$!
      sleep 1
      perf record -q -g -C 0 -o "$tmp/perf.data" -- sleep 4 >/dev/null 2>&1 || true
      wait "$wrk_pid" || true
      kill -TERM "$server_pid"
      wait "$server_pid" || true
      server_pid=
      echo
      echo "**$name** ($(sed -n 's/^Requests\/sec: *//p' "$tmp/perf-wrk.txt") req/s during the profile):"
      echo
      echo '```text'
      # awk reads to the end (an early exit would kill perf with SIGPIPE and, with pipefail,
      # this script).
      perf report -i "$tmp/perf.data" --no-children --sort comm,sym --stdio 2>/dev/null \
        | awk 'n < 10 && /^ +[0-9.]+%/ { sub(/ +$/, ""); print; n++ }'
      echo '```'
    done
  } >>"$page"
fi

cp "$page" "$out/README.md"
echo "files-bench: wrote $out/README.md" >&2
