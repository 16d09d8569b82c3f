#!/usr/bin/env bash
# Throughput of io-models servers beside nginx, measured with wrk (or ab) in one run.
#
#   scripts/wrk-vs-nginx.sh [--duration SECS] [--conns N] [--path /hello.txt] [--root DIR]
#                           [--repeat R] [--nginx-cache] [--ab] NAME='CMD ARGS' ...
#
# e.g.
#   scripts/wrk-vs-nginx.sh blocking='target/release/server-blocking' \
#                           pool='target/release/server-blocking --pool 2'
#   scripts/wrk-vs-nginx.sh --repeat 5 --nginx-cache epoll='target/release/server-epoll'
#
# What it does, in order:
#   1. builds the release binaries named as target/release/<crate> in the commands;
#   2. starts nginx (1 worker, access_log off, daemon off, keep-alive unlimited, sendfile on, no
#      open_file_cache, its own temp conf/pid/log dirs) serving www/ on a free 127.0.0.1 port,
#      pinned to CPU 0;
#   3. runs `wrk -t1 -c<conns> -d<secs>s --latency` pinned to CPU 1 against nginx, then starts each
#      server (`CMD ARGS --addr 127.0.0.1:0`, pinned to CPU 0, port read from its announce line),
#      runs the same wrk against it and stops it (SIGTERM, by PID);
#   4. prints a Markdown table: name, req/s, ratio to nginx, the server's CPU time per request
#      and its ratio to nginx's, how busy the load generator's CPU was, p50/p99 latency, errors.
#      When the load generator's CPU is (nearly) saturated, req/s measures the client, not the
#      server: the table then says so, and CPU per request is the figure that compares servers.
# Options:
#   --root DIR     serve DIR instead of www/ (nginx's root, and `--root DIR` for every server);
#   --repeat R     R rounds, each running nginx and then every server once (interleaved, so slow
#                  drift of the machine hits all alike); the table shows the median req/s with
#                  its min–max, and the ratio to nginx as the median of the per-round ratios with
#                  their min–max;
#   --nginx-cache  also measure nginx with `open_file_cache max=1000 inactive=20s` (row
#                  `nginx+cache`, started fresh each round), and add a column of ratios to it;
#   --ab           connection per request: `ab -c<conns> -t<secs> -n 10000000` (no keep-alive)
#                  instead of wrk; p50/p99 are ab's 50 % and 99 % lines.
# Every process it starts is stopped by PID on exit, also on Ctrl-C. Needs wrk (or ab) and nginx
# (scripts/install-deps.sh installs them). Run from anywhere; commands are relative to the
# workspace root, which is also the servers' working directory (so they serve ./www).
set -euo pipefail

usage() {
  sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

duration=5
conns=50
path=/hello.txt
doc_root=
repeat=1
nginx_cache=0
use_ab=0
names=()
commands=()
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=${2:?--duration needs a value}; shift 2 ;;
    --conns) conns=${2:?--conns needs a value}; shift 2 ;;
    --path) path=${2:?--path needs a value}; shift 2 ;;
    --root) doc_root=${2:?--root needs a value}; shift 2 ;;
    --repeat) repeat=${2:?--repeat needs a value}; shift 2 ;;
    --nginx-cache) nginx_cache=1; shift ;;
    --ab) use_ab=1; shift ;;
    -h|--help) usage 0 ;;
    *=*) names+=("${1%%=*}"); commands+=("${1#*=}"); shift ;;
    *) echo "wrk-vs-nginx: unexpected argument: $1" >&2; usage 2 >&2 ;;
  esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -n "$doc_root" ]; then
  if [ ! -d "$doc_root" ]; then
    echo "wrk-vs-nginx: --root $doc_root: no such directory" >&2
    exit 2
  fi
  doc_root=$(cd "$doc_root" && pwd)
fi
if ! [[ "$repeat" =~ ^[1-9][0-9]*$ ]]; then
  echo "wrk-vs-nginx: --repeat needs a positive whole number, not '$repeat'" >&2
  exit 2
fi
cd "$root"
load_tool=wrk
[ "$use_ab" = 1 ] && load_tool=ab

for tool in "$load_tool" nginx; do
  if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
    echo "wrk-vs-nginx: $tool is not installed (run scripts/install-deps.sh)" >&2
    exit 1
  fi
done
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

# Pin the server to CPU 0 and the load to CPU 1 when there are two CPUs; otherwise share.
if [ "$(nproc)" -ge 2 ]; then
  pin_server=(taskset -c 0)
  pin_load=(taskset -c 1)
else
  echo "wrk-vs-nginx: only one CPU: server and wrk are not pinned" >&2
  pin_server=()
  pin_load=()
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wrk-vs-nginx.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Stop one process we started: SIGTERM, wait up to 10 s, then SIGKILL.
stop() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# 1. Build what the commands name.
crates=()
for cmd in "${commands[@]}"; do
  read -ra words <<<"$cmd"
  case "${words[0]}" in
    target/release/*)
      crate=${words[0]#target/release/}
      [[ " ${crates[*]} " == *" $crate "* ]] || crates+=(-p "$crate")
      ;;
  esac
done
if [ "${#crates[@]}" -gt 0 ]; then
  echo "wrk-vs-nginx: cargo build --release ${crates[*]}" >&2
  cargo build --release --quiet "${crates[@]}"
fi
# Run the load against $1 (a base URL) served by process $2; prints
# "req/s p50 p99 errors cpu-us-per-request load-cpu-busy-%" (n/a where unknown).
measure() {
  local url=$1 pid=$2 cpu_before cpu_after busy_before busy_after figures
  cpu_before=$(server_cpu_ticks "$pid")
  busy_before=$(load_cpu_times)
  if [ "$use_ab" = 1 ]; then
    figures=$(measure_ab "$url")
  else
    figures=$(measure_wrk "$url")
  fi
  cpu_after=$(server_cpu_ticks "$pid")
  busy_after=$(load_cpu_times)
  awk -v f="$figures" -v c0="$cpu_before" -v c1="$cpu_after" -v hz="$(getconf CLK_TCK)" \
      -v d="$duration" -v b0="$busy_before" -v b1="$busy_after" 'BEGIN {
    split(f, x, " "); split(b0, p, " "); split(b1, q, " ")
    cpu = "n/a"
    if (x[1] ~ /^[0-9.]+$/ && x[1] > 0 && c0 != "" && c1 != "")
      cpu = sprintf("%.2f", (c1 - c0) / hz * 1e6 / (x[1] * d))
    busy = "n/a"
    if (q[2] > p[2]) busy = sprintf("%.0f", 100 * (q[1] - p[1]) / (q[2] - p[2]))
    print f, cpu, busy
  }'
}

# CPU time (user + system, in clock ticks, every thread that ever ran) of process $1 and its
# child processes (nginx serves from a worker process): fields 14 and 15 of proc(5) stat.
server_cpu_ticks() {
  local pid total=0 stat
  for pid in "$1" $(ps -o pid= --ppid "$1" 2>/dev/null); do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    stat=${stat##*) } # the fields after the command name, which may hold spaces
    read -ra f <<<"$stat"
    total=$((total + f[11] + f[12]))
  done
  echo "$total"
}

# "busy total" jiffies of the load generator's CPU from /proc/stat (busy = all but idle and
# iowait); empty when the load is not pinned to one CPU.
load_cpu_times() {
  [ "${#pin_load[@]}" -gt 0 ] || return 0
  awk -v cpu="cpu${pin_load[2]}" '$1 == cpu {
    total = 0; for (i = 2; i <= NF; i++) total += $i
    print total - $5 - $6, total
  }' /proc/stat
}

measure_wrk() {
  local url=$1$path log=$tmp/wrk.$RANDOM.log
  if ! "${pin_load[@]}" wrk -t1 -c"$conns" -d"${duration}s" --latency "$url" >"$log" 2>&1; then
    echo "n/a n/a n/a wrk-failed n/a n/a"
    return
  fi
  awk '
    /^Requests\/sec:/ { rps = $2 }
    /^ +50%/ { p50 = $2 }
    /^ +99%/ { p99 = $2 }
    /Non-2xx or 3xx responses:/ { errors += $NF }
    /Socket errors:/ { for (i = 3; i <= NF; i += 2) { v = $(i + 1); gsub(",", "", v); errors += v } }
    END { printf "%s %s %s %d\n", (rps == "" ? "n/a" : rps), (p50 == "" ? "n/a" : p50), (p99 == "" ? "n/a" : p99), errors }
  ' "$log"
}

# ab without -k: a new connection per request. ab stops at -t seconds or -n requests.
measure_ab() {
  local url=$1$path log=$tmp/ab.$RANDOM.log
  if ! "${pin_load[@]}" ab -q -c "$conns" -t "$duration" -n 10000000 "$url" >"$log" 2>&1; then
    echo "n/a n/a n/a ab-failed n/a n/a"
    return
  fi
  awk '
    /^Requests per second:/ { rps = $4 }
    /^ +50%/ { p50 = $2 "ms" }
    /^ +99%/ { p99 = $2 "ms" }
    /^Failed requests:/ { errors += $3 }
    /^Non-2xx responses:/ { errors += $3 }
    END { printf "%s %s %s %d\n", (rps == "" ? "n/a" : rps), (p50 == "" ? "n/a" : p50), (p99 == "" ? "n/a" : p99), errors }
  ' "$log"
}

# Whether $1$path answers 200 (with curl if present; a plain bash request otherwise).
answers() {
  local url=$1$path
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -o /dev/null --max-time 5 "$url"
  else
    local hostport=${1#http://}
    exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}" || return 1
    printf 'GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' "$path" >&3
    head -n1 <&3 | grep -q ' 200 '
    local ok=$?
    exec 3>&-
    return $ok
  fi
}

# 2. nginx on a free port (a few tries: the port might be taken between check and bind).
# $1 = 1: with `open_file_cache max=1000 inactive=20s`.
start_nginx() {
  local with_cache=${1:-0} port conf=$tmp/nginx/nginx.conf cache_line=
  if [ "$with_cache" = 1 ]; then
    cache_line='open_file_cache max=1000 inactive=20s;'
  fi
  mkdir -p "$tmp/nginx/logs" "$tmp/nginx/temp"
  for _ in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 20000))
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      continue # something listens there
    fi
    cat >"$conf" <<CONF
worker_processes 1;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  types { text/html html; text/css css; text/plain txt; image/png png; }
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 65;
  $cache_line
  client_body_temp_path $tmp/nginx/temp/body;
  proxy_temp_path $tmp/nginx/temp/proxy;
  fastcgi_temp_path $tmp/nginx/temp/fastcgi;
  uwsgi_temp_path $tmp/nginx/temp/uwsgi;
  scgi_temp_path $tmp/nginx/temp/scgi;
  server {
    listen 127.0.0.1:$port;
    root ${doc_root:-$root/www};
  }
}
CONF
    "${pin_server[@]}" "$nginx_bin" -p "$tmp/nginx" -e "$tmp/nginx/logs/error.log" -c "$conf" \
      >"$tmp/nginx/logs/stdout" 2>&1 &
    nginx_pid=$!
    pids+=("$nginx_pid")
    for _ in $(seq 50); do
      if answers "http://127.0.0.1:$port" 2>/dev/null; then
        nginx_url=http://127.0.0.1:$port
        return 0
      fi
      kill -0 "$nginx_pid" 2>/dev/null || break
      sleep 0.1
    done
    stop "$nginx_pid"
  done
  echo "wrk-vs-nginx: nginx did not start:" >&2
  cat "$tmp/nginx/logs/error.log" "$tmp/nginx/logs/stdout" >&2 2>/dev/null || true
  return 1
}
# One row per measured thing, in table order; $tmp/results.NAME holds one line per round:
# "req/s p50 p99 errors cpu-us-per-request load-cpu-busy-%".
rows=(nginx)
[ "$nginx_cache" = 1 ] && rows+=(nginx+cache)
rows+=("${names[@]}")
record() { echo "$2" >>"$tmp/results.$1"; }

# Start server command $2 under the name $1, measure it, stop it.
run_server() {
  local name=$1 pid url out=$tmp/$1.out
  local -a cmd
  read -ra cmd <<<"$2"
  if [ -n "$doc_root" ]; then
    cmd+=(--root "$doc_root")
  fi
  echo "wrk-vs-nginx: $name: ${cmd[*]}" >&2
  # Create the file before the background job does, so the first look for the announce line
  # cannot race the redirection.
  : >"$out"
  "${pin_server[@]}" "${cmd[@]}" --addr 127.0.0.1:0 >"$out" 2>"$tmp/$name.err" &
  pid=$!
  pids+=("$pid")
  url=
  for _ in $(seq 100); do
    url=$(sed -n 's/^listening on \(http:\/\/[^ ]*\)$/\1/p' "$out" | head -n1)
    [ -n "$url" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$url" ]; then
    echo "wrk-vs-nginx: $name did not announce itself:" >&2
    cat "$tmp/$name.err" >&2
    record "$name" "n/a n/a n/a did-not-start n/a n/a"
  elif ! answers "$url"; then
    record "$name" "n/a n/a n/a no-200-for-$path n/a n/a"
  else
    record "$name" "$(measure "$url" "$pid")"
  fi
  stop "$pid"
}

# nginx as row $1; $2 = 1 with open_file_cache.
run_nginx() {
  echo "wrk-vs-nginx: $1 ($("$nginx_bin" -v 2>&1 | sed 's/.*\///'), 1 worker)" >&2
  if start_nginx "$2"; then
    record "$1" "$(measure "$nginx_url" "$nginx_pid")"
    stop "$nginx_pid"
  else
    record "$1" "n/a n/a n/a did-not-start n/a n/a"
  fi
}

# 3. The rounds: nginx (and nginx+cache), then each server; R times.
for round in $(seq "$repeat"); do
  [ "$repeat" -gt 1 ] && echo "wrk-vs-nginx: round $round of $repeat" >&2
  run_nginx nginx 0
  [ "$nginx_cache" = 1 ] && run_nginx nginx+cache 1
  for i in "${!names[@]}"; do
    run_server "${names[$i]}" "${commands[$i]}"
  done
done

# 4. The table. Per row: the median req/s (min–max over the rounds); the median of the
# per-round ratios to row $2 (min–max); the same two for the server's CPU per request, its ratio
# written as requests per CPU-second against row $2's (higher is cheaper, like req/s); the load
# generator's median CPU busy share; p50/p99 of the round closest to the median; errors summed
# (or why it failed).
summary() {
  paste -d' ' "$tmp/results.$1" "$tmp/results.$2" | awk -v name="$1" '
    function sort(a, n,   i, j, t) {
      for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    }
    function median(a, n) { sort(a, n); return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    function span(a, n, fmt) { sort(a, n); return (n > 1) ? sprintf(" (" fmt "–" fmt ")", a[1], a[n]) : "" }
    function number(v) { return v ~ /^[0-9.]+$/ && v > 0 }
    $4 ~ /^[0-9]+$/ { errors += $4 }
    $4 !~ /^[0-9]+$/ { failed = $4 }
    number($1) {
      n++; rps[n] = $1; copy[n] = $1; p50[n] = $2; p99[n] = $3
      if (number($7)) { m++; ratio[m] = $1 / $7; rcopy[m] = $1 / $7 }
      if (number($5)) { k++; cpu[k] = $5; ccopy[k] = $5 }
      if (number($5) && number($11)) { e++; eff[e] = $11 / $5; ecopy[e] = $11 / $5 }
      if ($6 ~ /^[0-9]+$/) { b++; busy[b] = $6 }
    }
    END {
      if (n == 0) { printf "| %s | n/a | n/a | n/a | n/a | n/a | n/a | n/a | %s |\n", name, failed; exit }
      md = median(copy, n)
      best = 1; bd = -1
      for (i = 1; i <= n; i++) { d = rps[i] - md; if (d < 0) d = -d; if (bd < 0 || d < bd) { bd = d; best = i } }
      cell = sprintf("%.0f", md) span(rps, n, "%.0f")
      r = (m > 0) ? sprintf("%.2f", median(rcopy, m)) span(ratio, m, "%.2f") : "n/a"
      c = (k > 0) ? sprintf("%.1f", median(ccopy, k)) span(cpu, k, "%.1f") : "n/a"
      ce = (e > 0) ? sprintf("%.2f", median(ecopy, e)) span(eff, e, "%.2f") : "n/a"
      lb = (b > 0) ? sprintf("%.0f %%", median(busy, b)) : "n/a"
      printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name, cell, r, c, ce, lb, p50[best], p99[best], (failed != "" ? failed : errors)
    }'
}

load_name=wrk
[ "$use_ab" = 1 ] && load_name=ab
echo
if [ "$use_ab" = 1 ]; then
  echo "ab -c$conns -t$duration (connection per request) http://127.0.0.1:PORT$path; $repeat round(s), interleaved; server on CPU 0, ab on CPU 1 ($(nproc) CPUs, $(uname -r))"
else
  echo "wrk -t1 -c$conns -d${duration}s --latency http://127.0.0.1:PORT$path; $repeat round(s), interleaved; server on CPU 0, wrk on CPU 1 ($(nproc) CPUs, $(uname -r))"
fi
[ -n "$doc_root" ] && echo "root: $doc_root"
echo
header="| server | req/s median (min–max) | vs nginx |"
rule="|---|---:|---:|"
if [ "$nginx_cache" = 1 ]; then
  header="$header vs nginx+cache |"
  rule="$rule---:|"
fi
echo "$header server CPU µs/request | requests per CPU-second vs nginx | $load_name CPU busy | p50 | p99 | errors |"
echo "$rule---:|---:|---:|---:|---:|---:|"
saturated=0
for row in "${rows[@]}"; do
  line=$(summary "$row" nginx)
  if [ "$nginx_cache" = 1 ]; then
    # Insert the req/s ratio to nginx+cache after the ratio to nginx.
    second=$(summary "$row" nginx+cache | awk -F'|' '{ print $4 }')
    line=$(awk -F'|' -v s="$second" 'BEGIN { OFS = "|" } { $4 = $4 "|" s; print }' <<<"$line")
  fi
  echo "$line"
  busy=$(awk -F'|' '{ print $(NF - 4) }' <<<"$line" | tr -dc '0-9')
  if [ -n "$busy" ] && [ "$busy" -ge 95 ]; then
    saturated=1
  fi
done
if [ "$saturated" = 1 ]; then
  echo
  echo "$load_name kept its CPU at least 95 % busy in some rows: there req/s is the load generator's ceiling, not the server's, and the servers compare by CPU per request."
fi
