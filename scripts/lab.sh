#!/usr/bin/env bash
# Labs: see the classic mistakes happen, one command per lab.
#
#   scripts/lab.sh --list       the labs, one line each
#   scripts/lab.sh NAME         run lab NAME: build what it needs, run the demonstration (bounded
#                               in time), print what happened and what to look at, stop everything
#   LAB_LANG=zh scripts/lab.sh NAME   the same, narrated in Chinese (中文; also under a zh locale)
#
# Adding a lab: write scripts/labs/NAME.sh whose first comment line is `# NAME: one-line
# description` (--list prints it), sourcing scripts/labs/lib.sh for the shared helpers; and a
# Rust test `lab_NAME` (dashes as underscores) in crates/CRATE/tests/labs.rs that checks the
# failure happens with the mistake and not without it. crates/conformance/tests/labs.rs fails
# until both exist.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
LABS=scripts/labs

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }

# Every lab's name: each scripts/labs/*.sh except the helpers in lib.sh.
lab_names() {
    local file name
    for file in "$LABS"/*.sh; do
        name=$(basename "$file" .sh)
        [[ $name == lib ]] || echo "$name"
    done
}

# The one-line description of lab $1: its first comment line (the shebang aside) reads
# `# NAME: description`.
describe() {
    local name=$1 line
    line=$(grep -m 1 -E '^#( |$)' "$LABS/$name.sh" || true)
    if [[ $line == "# $name: "* ]]; then
        echo "${line#"# $name: "}"
    else
        echo "(no description: the first comment line of $LABS/$name.sh must be '# $name: …')"
    fi
}

list() {
    local name
    for name in $(lab_names); do
        printf '%-24s %s\n' "$name" "$(describe "$name")"
    done
}

case "${1:-}" in
    --list)
        list
        ;;
    -h | --help)
        usage
        ;;
    "")
        usage >&2
        exit 2
        ;;
    -*)
        echo "error: unknown option '$1' (try --list or --help)" >&2
        exit 2
        ;;
    *)
        name=$1
        shift
        if [[ ! $name =~ ^[a-z0-9][a-z0-9-]*$ || $name == lib || ! -f $LABS/$name.sh ]]; then
            {
                echo "error: no lab named '$name'. The labs are:"
                list | sed 's/^/  /'
            } >&2
            exit 2
        fi
        exec bash "$LABS/$name.sh" "$@"
        ;;
esac
