#!/usr/bin/env bash
# The exercise solutions of the course (course/solutions/NAME/solution.patch), checked: each patch
# applies to a copy of the current tree, and with it the tests the exercise concerns pass.
#
#   scripts/solutions.sh          check every solution
#   scripts/solutions.sh NAME     check one
#   scripts/solutions.sh --list   the solutions and the commands that check them
#
# The copy is the tracked files of this working tree (uncommitted changes included), in a
# temporary directory that is removed on every exit. Builds share target/solutions/, so the
# dependencies are compiled once. A CI step (.ci/run, `solutions`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
export CARGO_TARGET_DIR=$ROOT/target/solutions

# THE list: name | the commands that check it, separated by ';'.
SOLUTIONS=(
  "epoll-exclusive|cargo test -q -p server-epoll --test exclusive; cargo test -q -p server-epoll --test conformance multi_shared_exclusive"
  "mainsub-reactor|cargo test -q -p server-epoll --test mainsub; cargo test -q -p server-epoll --test conformance mainsub"
  "timer-wheel|cargo test -q -p server-common wheel; cargo test -q -p server-epoll --test conformance"
  "uring-multishot-recv|cargo test -q -p server-uring --test multishot; cargo test -q -p server-uring --test conformance multishot_recv"
)

TMP=""
cleanup() { [ -z "$TMP" ] || rm -rf "$TMP"; }
trap cleanup EXIT

check() {
  local name=$1 commands=$2 patch=$ROOT/course/solutions/$1/solution.patch cmd start=$SECONDS
  [ -f "$patch" ] || { echo "solutions.sh: $patch missing" >&2; return 1; }
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/solution.XXXXXX")
  git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$TMP"
  (
    cd "$TMP"
    git apply --check "$patch" || { echo "solutions.sh: $name: the patch no longer applies" >&2; exit 1; }
    git apply "$patch"
    IFS=';' read -r -a cmds <<<"$commands"
    for cmd in "${cmds[@]}"; do
      echo "solutions.sh: $name: $cmd"
      # shellcheck disable=SC2086 # a command line from the list above
      $cmd
    done
  )
  rm -rf "$TMP"
  TMP=""
  echo "solutions.sh: $name: ok ($((SECONDS - start)) s)"
}

case "${1:-}" in
  --list)
    for entry in "${SOLUTIONS[@]}"; do
      printf '%-16s %s\n' "${entry%%|*}" "${entry#*|}"
    done
    ;;
  '')
    for entry in "${SOLUTIONS[@]}"; do
      check "${entry%%|*}" "${entry#*|}"
    done
    ;;
  *)
    for entry in "${SOLUTIONS[@]}"; do
      if [ "${entry%%|*}" = "$1" ]; then
        check "$1" "${entry#*|}"
        exit 0
      fi
    done
    echo "solutions.sh: no solution named $1 (see --list)" >&2
    exit 1
    ;;
esac
