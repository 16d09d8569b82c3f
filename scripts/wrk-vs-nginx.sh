#!/usr/bin/env bash
# Throughput of io-models servers beside nginx, measured with wrk in one run.
#
#   scripts/wrk-vs-nginx.sh [--duration SECS] [--conns N] [--path /hello.txt] NAME='CMD ARGS' ...
#
# e.g.
#   scripts/wrk-vs-nginx.sh blocking='target/release/server-blocking' \
#                           pool='target/release/server-blocking --pool 2'
#
# What it does, in order:
#   1. builds the release binaries named as target/release/<crate> in the commands;
#   2. starts nginx (1 worker, access_log off, daemon off, keep-alive unlimited, its own temp
#      conf/pid/log dirs) serving www/ on a free 127.0.0.1 port, pinned to CPU 0;
#   3. runs `wrk -t1 -c<conns> -d<secs>s --latency` pinned to CPU 1 against nginx, then starts each
#      server (`CMD ARGS --addr 127.0.0.1:0`, pinned to CPU 0, port read from its announce line),
#      runs the same wrk against it and stops it (SIGTERM, by PID);
#   4. prints a Markdown table: name, req/s, ratio to nginx, p50/p99 latency, errors.
# Every process it starts is stopped by PID on exit, also on Ctrl-C. Needs wrk and nginx
# (scripts/install-deps.sh installs both). Run from anywhere; commands are relative to the
# workspace root, which is also the servers' working directory (so they serve ./www).
set -euo pipefail

usage() {
  sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

duration=5
conns=50
path=/hello.txt
names=()
commands=()
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=${2:?--duration needs a value}; shift 2 ;;
    --conns) conns=${2:?--conns needs a value}; shift 2 ;;
    --path) path=${2:?--path needs a value}; shift 2 ;;
    -h|--help) usage 0 ;;
    *=*) names+=("${1%%=*}"); commands+=("${1#*=}"); shift ;;
    *) echo "wrk-vs-nginx: unexpected argument: $1" >&2; usage 2 >&2 ;;
  esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

for tool in wrk nginx; do
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

# Run wrk against $1 (a base URL); prints "req/s p50 p99 errors" (n/a on failure).
measure() {
  local url=$1$path log=$tmp/wrk.$RANDOM.log
  if ! "${pin_load[@]}" wrk -t1 -c"$conns" -d"${duration}s" --latency "$url" >"$log" 2>&1; then
    echo "n/a n/a n/a wrk-failed"
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
start_nginx() {
  local port conf=$tmp/nginx/nginx.conf
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
  client_body_temp_path $tmp/nginx/temp/body;
  proxy_temp_path $tmp/nginx/temp/proxy;
  fastcgi_temp_path $tmp/nginx/temp/fastcgi;
  uwsgi_temp_path $tmp/nginx/temp/uwsgi;
  scgi_temp_path $tmp/nginx/temp/scgi;
  server {
    listen 127.0.0.1:$port;
    root $root/www;
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

rows=()
nginx_rps=
echo "wrk-vs-nginx: nginx ($(nginx -v 2>&1 | sed 's/.*\///'), 1 worker)" >&2
if start_nginx; then
  read -r rps p50 p99 errors < <(measure "$nginx_url")
  stop "$nginx_pid"
  nginx_rps=$rps
  rows+=("nginx|$rps|$p50|$p99|$errors")
else
  rows+=("nginx|n/a|n/a|n/a|did not start")
fi

# 3. Each server.
for i in "${!names[@]}"; do
  name=${names[$i]}
  read -ra cmd <<<"${commands[$i]}"
  echo "wrk-vs-nginx: $name: ${commands[$i]}" >&2
  out=$tmp/$name.out
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
    rows+=("$name|n/a|n/a|n/a|did not start")
    stop "$pid"
    continue
  fi
  if ! answers "$url"; then
    rows+=("$name|n/a|n/a|n/a|no 200 for $path")
    stop "$pid"
    continue
  fi
  read -r rps p50 p99 errors < <(measure "$url")
  stop "$pid"
  rows+=("$name|$rps|$p50|$p99|$errors")
done

# 4. The table.
echo
echo "wrk -t1 -c$conns -d${duration}s --latency http://127.0.0.1:PORT$path; server on CPU 0, wrk on CPU 1 ($(nproc) CPUs, $(uname -r))"
echo
echo "| server | req/s | vs nginx | p50 | p99 | errors |"
echo "|---|---:|---:|---:|---:|---:|"
for row in "${rows[@]}"; do
  IFS='|' read -r name rps p50 p99 errors <<<"$row"
  ratio=n/a
  if [[ "$rps" =~ ^[0-9.]+$ && "$nginx_rps" =~ ^[0-9.]+$ ]]; then
    ratio=$(awk -v a="$rps" -v b="$nginx_rps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
    rps=$(awk -v a="$rps" 'BEGIN { printf "%.0f", a }')
  fi
  echo "| $name | $rps | $ratio | $p50 | $p99 | $errors |"
done
