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

# Every relative link of a page must name a file of the book, and its #fragment (if any) an id
# on the built page; every chapter in SUMMARY.md must have its page (no drafts left).
while IFS= read -r hit; do
  page=${hit%%:*}
  target=${hit#*:}
  file=${target%%#*}
  fragment=
  [ "$file" != "$target" ] && fragment=${target#*#}
  if [ ! -e "course/src/$file" ]; then
    echo "book.sh: $page links to $target: course/src/$file does not exist" >&2
    status=1
  elif [ -n "$fragment" ] && [[ "$file" == *.md ]]; then
    html="course/book/en/${file%.md}.html"
    if ! grep -q "id=\"$fragment\"" "$html"; then
      echo "book.sh: $page links to $target: no id \"$fragment\" on ${html#course/book/en/}" >&2
      status=1
    fi
  fi
done < <(grep -o --include='*.md' -r '\]([^)]*)' course/src \
  | sed -E 's/^course\/src\/([^:]*):\]\((.*)\)$/\1:\2/' \
  | grep -vE ':(https?:|mailto:|#|$)')
if grep -q '\]()' course/src/SUMMARY.md; then
  echo "book.sh: SUMMARY.md still lists draft chapters (no page yet):" >&2
  grep '\]()' course/src/SUMMARY.md >&2
  status=1
fi

# Every model chapter (5–11) has at least one lab and one exercise.
for page in course/src/ch0[5-9]-*.md course/src/ch1[01]-*.md; do
  [ -e "$page" ] || continue
  if ! grep -q 'scripts/lab.sh [a-z]' "$page"; then
    echo "book.sh: $page names no lab (scripts/lab.sh NAME)" >&2
    status=1
  fi
  if ! grep -q '^## Exercises' "$page"; then
    echo "book.sh: $page has no ## Exercises section" >&2
    status=1
  fi
done
# Every lab a page names (`scripts/lab.sh NAME`) exists.
while IFS= read -r hit; do
  page=${hit%%:*}
  lab=${hit##*scripts/lab.sh }
  if [ ! -f "scripts/labs/$lab.sh" ]; then
    echo "book.sh: $page names lab $lab, but scripts/labs/$lab.sh does not exist" >&2
    status=1
  fi
done < <(grep -o -r --include='*.md' 'scripts/lab\.sh [a-z][a-z0-9-]*' course/src | sort -u)
# The measured figures are copies of the charts of the run bench-results/README.md calls the
# latest, byte for byte: a new committed run fails here until its charts are copied in
# (cp bench-results/RUN/NAME.svg course/src/figures/measured/) and the pages name the run.
latest=$(sed -n 's/^Latest run: \[\([^]]*\)\].*/\1/p' bench-results/README.md)
for figure in course/src/figures/measured/*.svg; do
  [ -e "$figure" ] || continue
  if ! cmp -s "$figure" "bench-results/$latest/$(basename "$figure")"; then
    echo "book.sh: $figure differs from bench-results/$latest/ (the latest run)" >&2
    status=1
  fi
done
if grep -rl 'figures/measured/' course/src --include='*.md' | xargs grep -L "bench-results/$latest/" | grep -q .; then
  echo "book.sh: pages with measured figures that do not name the latest run $latest:" >&2
  grep -rl 'figures/measured/' course/src --include='*.md' | xargs grep -L "bench-results/$latest/" >&2
  status=1
fi

# Every lab of scripts/labs/ has its row on the labs page.
for lab in scripts/labs/*.sh; do
  name=$(basename "$lab" .sh)
  [ "$name" = lib ] && continue
  if ! grep -q "^| \`$name\` |" course/src/labs.md; then
    echo "book.sh: lab $name has no row on course/src/labs.md" >&2
    status=1
  fi
done
[ "$status" = 0 ] || exit 1
echo "book.sh: built course/book/en"
