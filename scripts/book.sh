#!/usr/bin/env bash
# Build the course (mdBook) into course/book/en. Fails when mdbook is missing (install it with
# `scripts/install-deps.sh --cargo-tools`), when a page or an `{{#include}}` file is missing, or
# when an include anchor names nothing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MDBOOK_VERSION=0.5.4
if ! command -v mdbook >/dev/null; then
  echo "book.sh: mdbook not found; run scripts/install-deps.sh --cargo-tools" >&2
  exit 1
fi
if [ "$(mdbook --version)" != "mdbook v$MDBOOK_VERSION" ]; then
  echo "book.sh: expected mdbook v$MDBOOK_VERSION, found $(mdbook --version)" >&2
  exit 1
fi

# Every `{{#include path:anchor}}` must name a file that has that anchor (mdBook includes an
# unknown anchor as nothing, silently).
status=0
while IFS= read -r line; do
  page=${line%%:*}
  spec=$(sed -E 's/.*\{\{#include ([^}]*)\}\}.*/\1/' <<<"${line#*:}")
  file=${spec%%:*}
  anchor=${spec#*:}
  path="$(dirname "$page")/$file"
  if [ ! -f "$path" ]; then
    echo "book.sh: $page includes $file, which does not exist" >&2
    status=1
  elif [ "$anchor" != "$spec" ] && ! grep -q "ANCHOR: $anchor\$" "$path"; then
    echo "book.sh: $page includes anchor $anchor, which $file does not have" >&2
    status=1
  fi
done < <(grep -rn --include='*.md' -o '{{#include [^}]*}}' course/src | sed -E 's/^([^:]*):[0-9]+:/\1:/')
[ "$status" = 0 ] || exit 1

mdbook build course
echo "book.sh: built course/book/en"
