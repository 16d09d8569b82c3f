# shellcheck shell=bash
# Shared helpers of the labs (sourced by scripts/labs/NAME.sh; not a lab itself).
#
# A lab calls, in this order:
#   lab_begin SECONDS                 a time bound for the whole lab, cleanup on exit
#   lab_build CRATE                   cargo build --release -q -p CRATE
#   lab_start_server VAR CMD ARGS…    start a server on 127.0.0.1:0, VAR_PID / VAR_URL / VAR_PORT
#   …the demonstration…               lab_connect, lab_send, lab_read_status, lab_cpu_percent, …
#   lab_stop_server PID               SIGTERM, then SIGKILL if it does not exit within 3 s
#   lab_section "What happened" / "What to look at"
# Everything the lab started (servers, background clients) is stopped by PID on exit, even on
# Ctrl-C or an error. Network only on 127.0.0.1.

set -euo pipefail
# The narration's language, taken from the caller's locale before it is replaced just below.
export LAB_LANG=${LAB_LANG:-${LC_ALL:-${LC_MESSAGES:-${LANG:-}}}}
export LC_ALL=C # bytes, not characters: `read -N` and Content-Length agree

# Every lab runs from the workspace root (the servers' default document root is ./www).
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

LAB_PIDS=()      # processes to stop on exit
LAB_TMP=""       # scratch directory (servers' stdout/stderr)
LAB_WATCHDOG=""  # the time bound's sleeper

# Print a line of the lab's narration.
say() { printf '%s\n' "$*"; }

# Narrate in Chinese (中文) when LAB_LANG — or else the caller's locale (LC_ALL, LC_MESSAGES,
# LANG) — starts with zh: `LAB_LANG=zh scripts/lab.sh NAME`. Otherwise in English.
lab_zh() { [[ $LAB_LANG == zh* ]]; }

# The English or the Chinese of one piece of narration: `say "$(t "answer" "回答")"`.
t() {
    if lab_zh; then printf '%s' "$2"; else printf '%s' "$1"; fi
}

# A heading: `lab_section "What happened"`.
lab_section() { printf '\n== %s ==\n' "$*"; }

# Stop with an error message (exit status 1; cleanup still runs).
lab_fail() {
    printf 'lab error: %s\n' "$*" >&2
    exit 1
}

# Set up cleanup and a time bound: after SECONDS the lab is stopped (SIGTERM to the lab shell,
# whose trap stops everything it started).
lab_begin() {
    local seconds=$1
    LAB_TMP=$(mktemp -d "${TMPDIR:-/tmp}/lab.XXXXXX")
    trap lab_cleanup EXIT
    trap 'exit 130' INT
    # shellcheck disable=SC2064 # the bound is expanded now, on purpose
    trap "say 'lab stopped (SIGTERM, or past its $seconds s bound)'; exit 124" TERM
    local lab_shell=$$
    # The watchdog: a subshell that sleeps, then stops the lab. Stopped itself by cleanup, it
    # takes its sleep with it, so nothing is left to signal a PID that may be reused by then.
    (
        trap 'kill "$nap" 2>/dev/null; wait "$nap"; exit 0' TERM
        sleep "$seconds" &
        nap=$!
        wait "$nap" && kill -TERM "$lab_shell" 2>/dev/null
    ) >/dev/null 2>&1 &
    LAB_WATCHDOG=$!
}

# Stop every process the lab started (by PID), then the watchdog, then remove the scratch files.
lab_cleanup() {
    local pid
    for pid in "${LAB_PIDS[@]}"; do
        lab_stop_pid "$pid"
    done
    if [[ -n $LAB_WATCHDOG ]]; then
        kill "$LAB_WATCHDOG" 2>/dev/null || true
    fi
    if [[ -n $LAB_TMP ]]; then
        rm -rf "$LAB_TMP"
    fi
}

# SIGTERM, wait up to 3 s, then SIGKILL. Quiet if the process is already gone.
lab_stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 30; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# Remember a background process (e.g. a client) so that cleanup stops it.
lab_track() { LAB_PIDS+=("$1"); }

# Build the release binary of CRATE (quiet unless it fails).
lab_build() {
    say "building $1 (release)…"
    cargo build --release -q -p "$1" || lab_fail "cargo build --release -p $1 failed"
}

# lab_start_server VAR CMD ARGS…: start `CMD ARGS… --addr 127.0.0.1:0` in the background (CMD may
# be a wrapper such as `prlimit --nofile=64:64 target/release/server-epoll`, as long as it execs
# the server), wait up to 10 s for its announce line `listening on http://HOST:PORT`, and set
# VAR_PID, VAR_URL (http://HOST:PORT), VAR_PORT and VAR_ERR (the file holding its stderr).
lab_start_server() {
    local var=$1 i line=""
    shift
    local out="$LAB_TMP/$var.out" err="$LAB_TMP/$var.err"
    "$@" --addr 127.0.0.1:0 >"$out" 2>"$err" &
    local pid=$!
    lab_track "$pid"
    for ((i = 0; i < 100; i++)); do
        line=$(head -n 1 "$out" 2>/dev/null || true)
        [[ $line == "listening on http://"* ]] && break
        kill -0 "$pid" 2>/dev/null || lab_fail "$* exited at start: $(cat "$err")"
        sleep 0.1
    done
    [[ $line == "listening on http://"* ]] || lab_fail "$* printed no announce line within 10 s"
    local url=${line#listening on }
    printf -v "${var}_PID" '%s' "$pid"
    printf -v "${var}_URL" '%s' "$url"
    printf -v "${var}_PORT" '%s' "${url##*:}"
    printf -v "${var}_ERR" '%s' "$err"
}

# lab_stop_server PID: SIGTERM (a clean exit prints the server's counters to its stderr).
lab_stop_server() { lab_stop_pid "$1"; }

# Wait (at most 5 s) until process PID is stopped (state T after SIGSTOP): kill returns before the
# process has stopped. `lab_wait_stopped PID`.
lab_wait_stopped() {
    local i state
    for ((i = 0; i < 500; i++)); do
        state=$(sed -E 's/.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat" 2>/dev/null) || state=
        [[ $state == [Tt] ]] && return 0
        sleep 0.01
    done
    lab_fail "process $1 did not stop within 5 s of SIGSTOP"
}

# Wait (at most 5 s) until process PID has exited (a background client of the lab).
lab_wait_exited() {
    local i
    for ((i = 0; i < 500; i++)); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.01
    done
    lab_fail "process $1 still running after 5 s"
}

# User + system CPU time of PID (all its threads), in clock ticks of 1/100 s: fields 14 and 15 of
# /proc/PID/stat, counted after the command name, which is in parentheses and may hold spaces.
lab_cpu_ticks() {
    local stat rest
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || lab_fail "process $1 is gone"
    rest=${stat##*) }
    local -a fields
    read -r -a fields <<<"$rest"
    echo $((fields[11] + fields[12]))
}

# lab_cpu_percent PID SECONDS: how much of one core PID used over the next SECONDS (a whole
# number of seconds), in percent.
lab_cpu_percent() {
    local pid=$1 seconds=$2 before after
    before=$(lab_cpu_ticks "$pid")
    sleep "$seconds"
    after=$(lab_cpu_ticks "$pid")
    echo $(((after - before) / seconds))
}

# Seconds since the epoch with microseconds (for "answered after 0.004 s").
lab_now() { echo "$EPOCHREALTIME"; }

# lab_elapsed START: seconds since START (from lab_now), with 3 decimals.
lab_elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }

# lab_connect VAR PORT: open a TCP connection to 127.0.0.1:PORT; VAR holds its descriptor.
lab_connect() {
    local _lab_fd # a name the caller's VAR cannot be
    exec {_lab_fd}<>"/dev/tcp/127.0.0.1/$2" || lab_fail "cannot connect to 127.0.0.1:$2"
    printf -v "$1" '%s' "$_lab_fd"
}

# lab_close FD: close a connection opened with lab_connect.
lab_close() {
    local fd=$1
    exec {fd}>&-
}

# lab_get FD PATH: send a keep-alive GET on FD.
lab_get() { printf 'GET %s HTTP/1.1\r\nHost: lab\r\n\r\n' "$2" >&"$1"; }

# lab_wait_readable FD SECONDS: wait until FD has something to read (bytes or end of file),
# polling every 10 ms without reading anything; status 1 if nothing came within SECONDS.
lab_wait_readable() {
    local fd=$1 i polls
    polls=$(awk -v s="$2" 'BEGIN { printf "%d", s * 100 }')
    for ((i = 0; i < polls; i++)); do
        read -r -t 0 -u "$fd" && return 0
        sleep 0.01
    done
    read -r -t 0 -u "$fd"
}

# lab_read_response FD SECONDS: read one whole response (status line, headers, Content-Length
# body) from FD, waiting at most SECONDS for each part; print its status line, or nothing if none
# came in time (status 1). The connection stays usable for the next exchange.
lab_read_response() {
    local fd=$1 seconds=$2 status line length=0
    IFS= read -r -t "$seconds" -u "$fd" status || return 1
    while IFS= read -r -t "$seconds" -u "$fd" line; do
        line=${line%$'\r'}
        [[ -z $line ]] && break
        if [[ ${line,,} == content-length:* ]]; then
            length=${line#*:}
            length=${length// /}
        fi
    done
    if ((length > 0)); then
        IFS= read -r -t "$seconds" -N "$length" -u "$fd" _ || true # the body, discarded
    fi
    printf '%s\n' "${status%$'\r'}"
}

# lab_socket_queues PORT: the server's side of each established connection on PORT, with its
# Recv-Q (bytes received and not yet read by the server) and Send-Q, from `ss`.
lab_socket_queues() {
    if ! command -v ss >/dev/null; then
        say "  (ss not found: install iproute2 to see the socket queues)"
        return 0
    fi
    say "  Recv-Q  Send-Q  server side            client side"
    ss -tnH state established "( sport = :$1 )" |
        awk '{ printf "  %6s  %6s  %-22s %s\n", $1, $2, $3, $4 }'
}

# lab_syscalls PID SECONDS: count PID's system calls (all threads) for SECONDS with `strace -c`,
# and print the busiest few. Optional: says so and returns if strace is missing or not allowed.
lab_syscalls() {
    local pid=$1 seconds=$2 out="$LAB_TMP/strace.$1"
    if ! command -v strace >/dev/null; then
        say "  (strace not found: scripts/install-deps.sh installs it)"
        return 0
    fi
    timeout -s INT "$seconds" strace -c -f -q -p "$pid" -o "$out" 2>/dev/null || true
    if [[ ! -s $out ]]; then
        say "  (strace could not attach: try as root, or with kernel.yama.ptrace_scope=0)"
        return 0
    fi
    # The table's header, its four busiest rows (strace sorts by time), and the total.
    awk 'NR <= 2 || / total$/ || (!/^-/ && ++rows <= 4)' "$out" | sed 's/^/  /'
}
