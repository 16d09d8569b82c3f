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
    say "$label:"
    say "  $IDLE idle clients connected; server threads: $(threads_of "$S_PID")"
    lab_connect late "$S_PORT"
    start=$(lab_now)
    lab_get "$late" /hello.txt
    status=$(lab_read_response "$late" 6) || status="(no answer within 6 s)"
    say "  the 21st client's answer after $(lab_elapsed "$start") s: $status"
    lab_close "$late"
    for fd in "${idle[@]}"; do
        lab_close "$fd"
    done
    lab_stop_server "$S_PID"
    say ""
}

say ""
run_case "With the mistake (--mistake aio-default-pool: no aio_init)" --mistake aio-default-pool
run_case "Without it (aio_init sizes the pool to --max-connections)"

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
