#!/usr/bin/env bash
# Mutation testing with cargo-mutants: change the code one operator at a time and check that
# some test notices. A mutant that survives (is "missed") is a rule no test pins.
#
#   scripts/mutants.sh                      full run: http-core and server-common (long; by hand)
#   scripts/mutants.sh --crate http-core    one crate (repeatable)
#   scripts/mutants.sh --shard 0/4          one quarter of every group (0-based, as cargo-mutants)
#   scripts/mutants.sh --merge              summarise every shard under the output dir
#   scripts/mutants.sh --quick              http-core, only code changed since the last release
#                                           tag (else the last 20 commits), at most 60 mutants
#                                           and 10 minutes (CI runs this)
#
# Options: --jobs N (cargo-mutants -j, default 2), --out DIR (default target/mutants),
# --list (print the mutants, test nothing), --iterate (test again only what the previous run in
# the same --out did not catch, e.g. after writing tests for survivors; the summary counts the
# mutants caught before as caught — run once more without it to confirm).
#
# What tests each crate:
#   http-core      its own unit, integration and property tests (not doctests: they compile one
#                  program each, which would make every mutant cost seconds more).
#   server-common  its own unit tests plus, per module, the conformance suite of servers that use
#                  the module, one mode each (the MODULE_TESTS table below). A module not in the table
#                  gets the fallback row: server-epoll `single_level` and server-uring's default.
#
# Equivalent mutants (ones that cannot change behaviour) are excluded, each with its reason, in
# .cargo/mutants.toml; cargo-mutants never generates them. Every other surviving mutant makes this
# script exit 1. Timeouts count as caught (the mutant hung a test).
#
# Needs cargo-mutants (scripts/install-deps.sh installs the pinned version) and python3.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

QUICK_MAX_MUTANTS=60
QUICK_MAX_SECONDS=600

# server-common groups: name | files (space-separated, under crates/server-common/src) |
# test packages | test-name filters (space-separated; `tests::` selects server-common's unit tests)
# The modes are chosen for what the module does: pump's reads must drain in edge-triggered mode,
# the pool only runs in the Reactor and the blocking server's pool, pump::interest serves aio.
MODULE_TESTS=(
  "clients|clients.rs|server-poll server-sigio|default_mode:: rt:: tests::"
  "signals|signals.rs|server-sigio server-aio|rt:: signal:: tests::"
  "pump|pump.rs|server-epoll server-aio|single_edge:: signal:: tests::"
  "pool|pool.rs|server-epoll server-blocking|reactor_level:: pool:: tests::"
  "rest|*|server-epoll server-uring|single_level:: default_mode:: tests::"
)

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

crates=()
quick=0
shard=""
merge=0
list=0
iterate=0
jobs=2
out=target/mutants
while [ $# -gt 0 ]; do
  case "$1" in
    --crate) crates+=("${2:?--crate needs a name}"); shift 2 ;;
    --quick) quick=1; shift ;;
    --shard) shard="${2:?--shard needs k/n}"; shift 2 ;;
    --merge) merge=1; shift ;;
    --list) list=1; shift ;;
    --iterate) iterate=1; shift ;;
    --jobs|-j) jobs="${2:?--jobs needs a number}"; shift 2 ;;
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "mutants.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [ -n "$shard" ] && ! [[ "$shard" =~ ^[0-9]+/[1-9][0-9]*$ ]]; then
  echo "mutants.sh: --shard takes k/n with 0 <= k < n, e.g. 0/4" >&2
  exit 2
fi
if [ "${#crates[@]}" -eq 0 ]; then
  if [ "$quick" -eq 1 ]; then crates=(http-core); else crates=(http-core server-common); fi
fi
for c in "${crates[@]}"; do
  case "$c" in
    http-core|server-common) ;;
    *) echo "mutants.sh: --crate is http-core or server-common, not '$c'" >&2; exit 2 ;;
  esac
done

if ! command -v python3 >/dev/null; then
  echo "mutants.sh: python3 is needed to read cargo-mutants' outcomes.json" >&2
  exit 2
fi

summarise() {
  # Print caught / missed / unviable / timeouts per crate from every outcomes.json under $1;
  # exit 1 if any mutant was missed.
  python3 - "$1" <<'PY'
import json, pathlib, sys, collections
root = pathlib.Path(sys.argv[1])
# mutants.out.old/ is the run before an --iterate run: superseded.
files = sorted(f for f in root.rglob("outcomes.json") if "mutants.out.old" not in f.parts)
if not files:
    print(f"mutants.sh: no outcomes.json under {root}", file=sys.stderr)
    sys.exit(2)
counts = collections.defaultdict(collections.Counter)
missed = []
seen = set()
for f in files:
    data = json.loads(f.read_text())
    for o in data.get("outcomes", []):
        scenario = o.get("scenario")
        if not isinstance(scenario, dict) or "Mutant" not in scenario:
            continue  # the baseline run
        m = scenario["Mutant"]
        name = m.get("name") or f'{m["source_file"]}: {m.get("replacement", "?")}'
        key = (m.get("package"), name)
        if key in seen:
            continue  # a mutant tested in two groups counts once
        seen.add(key)
        crate = m.get("package", "?")
        summary = o.get("summary", "?")
        kind = {"CaughtMutant": "caught", "MissedMutant": "missed", "Unviable": "unviable",
                "Timeout": "timeout"}.get(summary, summary)
        counts[crate][kind] += 1
        if kind == "missed":
            missed.append(name)
# With --iterate, cargo-mutants lists what earlier runs caught in previously_caught.txt.
for f in sorted(f for f in root.rglob("previously_caught.txt") if "mutants.out.old" not in f.parts):
    for name in f.read_text().splitlines():
        parts = name.split("/")
        if len(parts) > 2 and parts[0] == "crates":
            key = (parts[1], name)
            if key not in seen:
                seen.add(key)
                counts[parts[1]]["caught"] += 1
bad = False
for crate, c in sorted(counts.items()):
    viable = c["caught"] + c["missed"] + c["timeout"]
    score = 100.0 * (c["caught"] + c["timeout"]) / viable if viable else 100.0
    print(f"{crate}: {c['caught']} caught, {c['missed']} missed, {c['unviable']} unviable, "
          f"{c['timeout']} timeouts — {score:.1f} % of {viable} viable mutants caught")
for name in missed:
    print(f"  MISSED: {name}")
    bad = True
sys.exit(1 if bad else 0)
PY
}

started=$SECONDS
if [ "$merge" -eq 1 ]; then
  summarise "$out"
  exit $?
fi

common_args=(--jobs "$jobs" --no-shuffle)
[ -n "$shard" ] && common_args+=(--shard "$shard")
[ "$list" -eq 1 ] && common_args+=(--list)
[ "$iterate" -eq 1 ] && common_args+=(--iterate)
suffix=""
[ -n "$shard" ] && suffix="/shard-${shard%/*}-of-${shard#*/}"

# http-core's tests take about 3 s; a mutant that makes them loop is a timeout (caught) at 20 s.
http_core_args=(-p http-core --test-package http-core --timeout 20
  --cargo-test-arg=--lib --cargo-test-arg=--tests)
cap=()  # set by --quick: `timeout` in front of cargo-mutants
run_group() {
  # run_group NAME cargo-mutants-args...
  local name=$1
  shift
  local dir="$out$suffix/$name"
  if [ "$iterate" -eq 0 ]; then
    rm -rf "$dir"
  fi
  mkdir -p "$dir"
  echo "==> mutants: $name: cargo mutants $* ${common_args[*]}"
  local status=0
  "${cap[@]}" cargo mutants "$@" "${common_args[@]}" --output "$dir" || status=$?
  # cargo-mutants exits 2 when mutants were missed, 3 on timeouts: the summary decides.
  case "$status" in
    0|2|3) ;;
    124) echo "==> mutants: $name: stopped at the time cap; judging what was tested" ;;
    *) echo "mutants.sh: cargo mutants failed in group $name (exit $status)" >&2; return "$status" ;;
  esac
}

if [ "$quick" -eq 1 ]; then
  base=$(git describe --tags --abbrev=0 2>/dev/null || true)
  if [ -z "$base" ]; then
    if git rev-parse -q --verify HEAD~20 >/dev/null; then
      base=HEAD~20
    else
      base=$(git rev-list --max-parents=0 HEAD | tail -n 1)
    fi
  fi
  diff_file=$(mktemp)
  trap 'rm -f "$diff_file"' EXIT
  git diff "$base" -- crates/http-core/src >"$diff_file"
  echo "==> mutants --quick: http-core code changed since $base"
  if [ ! -s "$diff_file" ]; then
    echo "no http-core source changed since $base: nothing to test"
    exit 0
  fi
  count=$(cargo mutants -p http-core --in-diff "$diff_file" --list | grep -c . || true)
  quick_args=("${http_core_args[@]}" --in-diff "$diff_file")
  if [ "$count" -gt "$QUICK_MAX_MUTANTS" ] && [ -z "$shard" ]; then
    # More than fit in the cap: test one round-robin slice, a different one for each commit,
    # so that successive runs cover the whole diff.
    n=$(((count + QUICK_MAX_MUTANTS - 1) / QUICK_MAX_MUTANTS))
    k=$(($(git rev-list --count HEAD) % n))
    echo "==> $count mutants in the diff; testing slice $k of $n (at most $QUICK_MAX_MUTANTS)"
    common_args+=(--shard "$k/$n" --sharding round-robin)
  fi
  cap=(timeout --signal=INT --kill-after=30 "$QUICK_MAX_SECONDS")
  run_group quick "${quick_args[@]}"
  [ "$list" -eq 1 ] && exit 0
  status=0
  summarise "$out$suffix/quick" || status=$?
  echo "==> mutants --quick: $((SECONDS - started)) s"
  exit "$status"
fi

for crate in "${crates[@]}"; do
  case "$crate" in
    http-core)
      run_group http-core "${http_core_args[@]}"
      ;;
    server-common)
      listed=()
      for row in "${MODULE_TESTS[@]}"; do
        IFS='|' read -r name files packages filters <<<"$row"
        # One comma-separated list: cargo-mutants 27 keeps only one --test-package when repeated.
        # An explicit test timeout: cargo-mutants 27 times its baseline with the mutated package's
        # tests alone, so its automatic timeout would be far too short for a conformance suite.
        args=(-p server-common "--test-package=server-common,${packages// /,}" --timeout 180)
        if [ "$files" = "*" ]; then
          # The fallback: every file no other row names.
          for f in "${listed[@]}"; do args+=(--exclude "crates/server-common/src/$f"); done
        else
          for f in $files; do
            args+=(--file "crates/server-common/src/$f")
            listed+=("$f")
          done
        fi
        args+=(--cargo-test-arg=--)
        for f in $filters; do args+=("--cargo-test-arg=$f"); done
        run_group "server-common-$name" "${args[@]}"
      done
      ;;
  esac
done

[ "$list" -eq 1 ] && exit 0
status=0
summarise "$out$suffix" || status=$?
echo "==> mutants: finished in $((SECONDS - started)) s"
exit "$status"
