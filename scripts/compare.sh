#!/usr/bin/env bash
# Benchmark every io-models server with one command.
#
#   scripts/compare.sh                 # full matrix, 3 interleaved runs per cell (~35 min on 2
#                                      # cores) → bench-results/<date>-<host>/
#   scripts/compare.sh --quick         # reduced matrix, 1 run per cell (< 2 min)
#   scripts/compare.sh --repeat 5      # more runs per cell: tables show median (min–max)
#   scripts/compare.sh --servers server-epoll,nginx --scenarios idle-0,idle-9000
#   scripts/compare.sh --wrk-check     # only: harness load vs wrk on nginx (1 worker), side by side
#                                      # (WRK_ROUNDS=N alternating 5 s rounds, default 3)
#
# Every other flag goes to `harness compare` (see `harness compare --help`). The script builds the
# release binaries, checks the tools it needs, raises `ulimit -n`, and runs the harness, which
# starts and stops each server itself (by PID). Everything is bounded in time; Ctrl-C stops the
# harness, which stops the server it is measuring.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)

WRK_CHECK=0
ARGS=()
for arg in "$@"; do
    case "$arg" in
        --wrk-check) WRK_CHECK=1 ;;
        -h|--help)
            sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *) ARGS+=("$arg") ;;
    esac
done

say() { printf '==> %s\n' "$*" >&2; }

# --- tools -------------------------------------------------------------------------------------
missing_hint() {
    if [[ -x scripts/install-deps.sh ]]; then
        echo "run scripts/install-deps.sh (or: apt-get install $1)"
    else
        echo "install it with: apt-get install $1"
    fi
}
command -v cargo >/dev/null || { echo "error: cargo not found (install Rust: https://rustup.rs)" >&2; exit 1; }
if ! command -v strace >/dev/null; then
    say "strace not found: syscall counts will be n/a — $(missing_hint strace)"
fi
if ! command -v nginx >/dev/null && [[ ! -x /usr/sbin/nginx ]]; then
    say "nginx not found: no reference row — $(missing_hint nginx-light)"
fi
if ! command -v wrk >/dev/null; then
    say "wrk not found: --wrk-check unavailable — $(missing_hint wrk)"
fi

# --- build -------------------------------------------------------------------------------------
say "building release binaries"
if ! cargo build --release --workspace --bins; then
    say "workspace build failed; building the harness and each server on its own"
    cargo build --release -p harness
    for dir in crates/server-*/; do
        name=$(basename "$dir")
        [[ "$name" == server-common ]] && continue
        if ! cargo build --release -p "$name"; then
            say "$name does not build: removing any stale binary so it shows as 'not built'"
            rm -f "target/release/$name"
        fi
    done
fi
HARNESS="$ROOT/target/release/harness"

# --- limits ------------------------------------------------------------------------------------
hard=$(ulimit -Hn)
ulimit -n "$hard" 2>/dev/null || true
say "ulimit -n $(ulimit -n) (idle-connection cells need ~9,100 on each side)"

# --- run, stopping what we started on Ctrl-C ---------------------------------------------------
CHILD=""
NGINX_DIR=""
cleanup() {
    if [[ -n "$CHILD" ]] && kill -0 "$CHILD" 2>/dev/null; then
        kill -TERM "$CHILD" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$CHILD" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$CHILD" 2>/dev/null || true
    fi
    [[ -n "$NGINX_DIR" ]] && rm -rf "$NGINX_DIR"
    return 0
}
trap 'cleanup; exit 130' INT TERM
trap cleanup EXIT

# Pinning prefixes: server on CPU 0, load on CPU 1, when there are at least two CPUs.
PIN0=(); PIN1=()
if [[ $(nproc) -ge 2 ]] && command -v taskset >/dev/null; then
    PIN0=(taskset -c 0); PIN1=(taskset -c 1)
fi

if [[ $WRK_CHECK -eq 1 ]]; then
    command -v wrk >/dev/null || { echo "error: wrk is not installed" >&2; exit 1; }
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
    [[ -x "$NGINX" ]] || { echo "error: nginx is not installed" >&2; exit 1; }
    NGINX_DIR=$(mktemp -d)
    mkdir -p "$NGINX_DIR/www" "$NGINX_DIR/logs"
    # The project's one small file (www/hello.txt): what harness compare and wrk-vs-nginx.sh fetch.
    cp www/hello.txt "$NGINX_DIR/www/hello.txt"
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18089)
    cat >"$NGINX_DIR/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
error_log $NGINX_DIR/logs/error.log;
pid $NGINX_DIR/logs/nginx.pid;
worker_rlimit_nofile 20000;
events { worker_connections 20000; }
http {
  access_log off;
  keepalive_timeout 120;
  keepalive_requests 1000000000;
  client_body_temp_path $NGINX_DIR/logs;
  server { listen 127.0.0.1:$PORT backlog=4096; root $NGINX_DIR/www; }
}
EOF
    # taskset execs nginx, so $! is nginx's own PID (stopped by cleanup).
    "${PIN0[@]}" "$NGINX" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" </dev/null >/dev/null 2>&1 &
    CHILD=$!
    for _ in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        sleep 0.1
    done
    URL="http://127.0.0.1:$PORT/hello.txt"
    ROUNDS=${WRK_ROUNDS:-3}
    say "nginx (1 worker, CPU 0) serving $URL; clients on CPU 1; $ROUNDS rounds of 5 s each, order alternating"
    TIMER=()
    [[ -x /usr/bin/time ]] && TIMER=(/usr/bin/time -f '%U %S' -o "$NGINX_DIR/cpu")
    run_one() { # run_one wrk|harness → "req/s cpu-seconds"
        local rps
        rm -f "$NGINX_DIR/cpu"
        if [[ $1 == wrk ]]; then
            rps=$("${PIN1[@]}" "${TIMER[@]}" timeout 30 wrk -t1 -c50 -d5s "$URL" | awk '/^Requests\/sec/ {print $2}')
        else
            rps=$("${PIN1[@]}" "${TIMER[@]}" timeout 30 "$HARNESS" load --threads 1 -c 50 -t 5 "$URL" | awk '/^Requests\/sec/ {print $2}')
        fi
        local cpu=0
        [[ -f "$NGINX_DIR/cpu" ]] && cpu=$(awk 'END {print $1 + $2}' "$NGINX_DIR/cpu")
        echo "${rps:-0} $cpu"
    }
    ratios=()
    for round in $(seq "$ROUNDS"); do
        if (( round % 2 )); then w=$(run_one wrk); h=$(run_one harness); else h=$(run_one harness); w=$(run_one wrk); fi
        read -r w_rps w_cpu <<<"$w"
        read -r h_rps h_cpu <<<"$h"
        ratio=$(awk -v h="$h_rps" -v w="$w_rps" 'BEGIN {printf "%.3f", (w > 0) ? h / w : 0}')
        ratios+=("$ratio")
        awk -v r="$round" -v w="$w_rps" -v h="$h_rps" -v wc="$w_cpu" -v hc="$h_cpu" -v q="$ratio" 'BEGIN {
            printf "  round %d: wrk %8.0f req/s (%5.2f us CPU/req)   harness %8.0f req/s (%5.2f us CPU/req)   ratio %s\n",
                r, w, (w > 0) ? wc * 1e6 / (w * 5) : 0, h, (h > 0) ? hc * 1e6 / (h * 5) : 0, q }'
    done
    median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')
    echo "harness/wrk ratio (median of $ROUNDS rounds): $median"
    echo "commands: wrk -t1 -c50 -d5s $URL  vs  harness load --threads 1 -c 50 -t 5 $URL  (nginx on CPU 0, client on CPU 1)"
    exit 0
fi

say "running: harness compare ${ARGS[*]:-}"
# Bounded: the full matrix takes < 20 min; stop it anyway after 40 (SIGTERM → the harness stops
# its server; SIGKILL 15 s later if it did not exit).
timeout -s TERM -k 15 2400 "$HARNESS" compare "${ARGS[@]}" &
CHILD=$!
status=0
wait "$CHILD" || status=$?
CHILD=""
if [[ $status -eq 0 ]]; then
    say "done: the tables are in the results.md printed above (figures in results.json, charts *.svg)"
else
    say "harness compare failed (status $status)"
fi
exit $status
