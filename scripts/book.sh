#!/usr/bin/env bash
# Build the course (mdBook): the English edition into course/book/en, the Chinese one into
# course/book/zh-CN. Fails when mdbook or the i18n helpers are missing (install them with
# `scripts/install-deps.sh --cargo-tools`), when a page or an `{{#include}}` file is missing, when
# an include anchor names nothing, or when the Chinese translation (course/po/zh-CN.po) lags the
# English: a message untranslated or fuzzy, a page or a heading id in one edition only.
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
# check_link PAGE TARGET PATH HTML: PAGE links to TARGET (FILE#FRAGMENT); PATH must exist, and
# the fragment, if any, must be an id on the built page HTML (when HTML is given).
check_link() {
  local page=$1 target=$2 path=$3 html=$4 fragment=
  [[ "$target" == *#* ]] && fragment=${target#*#}
  if [ ! -e "$path" ]; then
    echo "book.sh: $page links to $target: $path does not exist" >&2
    status=1
  elif [ -n "$fragment" ] && [ -n "$html" ] && ! grep -q "id=\"$fragment\"" "$html"; then
    echo "book.sh: $page links to $target: no id \"$fragment\" on $html" >&2
    status=1
  fi
}
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

# The Chinese edition: every message of the English pages (extracted afresh) must have a
# translation in course/po/zh-CN.po that is neither empty nor fuzzy. When the English changes,
# scripts/po-update.sh carries the old translations over as fuzzy entries to review.
for tool in mdbook-xgettext mdbook-gettext; do
  if ! command -v "$tool" >/dev/null; then
    echo "book.sh: $tool not found; run scripts/install-deps.sh --cargo-tools" >&2
    exit 1
  fi
done
for tool in msgcmp msgfmt; do
  if ! command -v "$tool" >/dev/null; then
    echo "book.sh: $tool not found (Debian package gettext); run scripts/install-deps.sh" >&2
    exit 1
  fi
done
pot_dir=$(mktemp -d)
trap 'rm -rf "$pot_dir"' EXIT
MDBOOK_OUTPUT='{"xgettext": {"pot-file": "messages.pot"}}' mdbook build course -d "$pot_dir" 2>/dev/null
msgfmt --check -o /dev/null course/po/zh-CN.po
if ! msgcmp course/po/zh-CN.po "$pot_dir/messages.pot" 2>"$pot_dir/msgcmp.log"; then
  grep -v 'this message is not used' "$pot_dir/msgcmp.log" | head -20 >&2
  echo "book.sh: course/po/zh-CN.po lags the English pages (above: the messages with no" >&2
  echo "book.sh: translation, or only a fuzzy one); run scripts/po-update.sh and translate them" >&2
  exit 1
fi
# The Chinese figures (course/src/figures/zh-CN/) are the English ones with translated labels.
scripts/figures-i18n.sh --check
MDBOOK_BOOK__LANGUAGE=zh-CN MDBOOK_BOOK__TITLE="Unix IO 模型：从可运行的代码学起" \
  mdbook build course -d "$PWD/course/book/zh-CN"
# Every link of a Chinese page to a page of the book lands on a page and an id that exist (the
# English links are checked on the sources below).
while IFS= read -r hit; do
  target=${hit#*:}
  check_link "zh-CN/${hit%%:*}" "$target" "course/book/zh-CN/${target%%#*}" \
    "course/book/zh-CN/${target%%#*}"
done < <(cd course/book/zh-CN && grep -o '<a href="[^"#:]*\.html[^"]*"' ch*.html introduction.html \
  corrections.html labs.html glossary.html | sed -E 's/^([^:]*):<a href="([^"]*)"/\1:\2/')
# Every image a page of either edition shows exists (a translated page names figures/zh-CN/).
for edition in en zh-CN; do
  while IFS= read -r hit; do
    page=${hit%%:*}
    src=${hit#*:}
    if [ ! -e "course/book/$edition/$src" ]; then
      echo "book.sh: $edition/$page shows $src, which does not exist" >&2
      status=1
    fi
  done < <(cd "course/book/$edition" && grep -o '<img src="[^"]*"' ./*.html \
    | sed -E 's/^\.\/([^:]*):<img src="([^"]*)"/\1:\2/' | grep -vE ':(https?:|data:)')
done
# Both editions have the same pages, and every heading id of an English page (below the page
# title) is on the Chinese page too, so links with a #fragment and the language switch land on
# the same section.
if ! diff <(cd course/book/en && ls ./*.html) <(cd course/book/zh-CN && ls ./*.html) >&2; then
  echo "book.sh: the English and Chinese editions have different pages (above)" >&2
  exit 1
fi
for html in course/book/en/*.html; do
  page=$(basename "$html")
  missing=$(comm -23 <(grep -o '<h[2-6] id="[^"]*"' "$html" | sed 's/.*id=//' | sort -u) \
    <(grep -o '<h[2-6] id="[^"]*"' "course/book/zh-CN/$page" | sed 's/.*id=//' | sort -u))
  if [ -n "$missing" ]; then
    echo "book.sh: zh-CN/$page lacks the heading ids $(echo "$missing" | tr '\n' ' ')(give the" >&2
    echo "book.sh: translated heading the English id: 标题 {#id})" >&2
    status=1
  fi
done

# Every relative link of a page must name a file of the book, and its #fragment (if any) an id
# on the built page; every chapter in SUMMARY.md must have its page (no drafts left).
while IFS= read -r hit; do
  target=${hit#*:}
  file=${target%%#*}
  html=
  [[ "$file" == *.md ]] && html="course/book/en/${file%.md}.html"
  check_link "${hit%%:*}" "$target" "course/src/$file" "$html"
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
# The measured figures are copies of the charts of the run bench-results/README.md names on its
# `Course run:` line, byte for byte, and every page that shows them names that run. (The harness
# moves the `Latest run:` line by itself; the course follows a new run only once someone has
# copied its charts, cp bench-results/RUN/NAME.svg course/src/figures/measured/, and checked the
# pages' claims against it.)
course_run=$(sed -n 's/^Course run: \[\([^]]*\)\].*/\1/p' bench-results/README.md)
if [ -z "$course_run" ] || [ ! -d "bench-results/$course_run" ]; then
  echo "book.sh: bench-results/README.md names no existing Course run: [RUN](RUN/results.md)" >&2
  exit 1
fi
for figure in course/src/figures/measured/*.svg; do
  [ -e "$figure" ] || continue
  if ! cmp -s "$figure" "bench-results/$course_run/$(basename "$figure")"; then
    echo "book.sh: $figure differs from bench-results/$course_run/ (the course run)" >&2
    status=1
  fi
done
if grep -rl 'figures/measured/' course/src --include='*.md' | xargs grep -L "bench-results/$course_run/" | grep -q .; then
  echo "book.sh: pages with measured figures that do not name the course run $course_run:" >&2
  grep -rl 'figures/measured/' course/src --include='*.md' | xargs grep -L "bench-results/$course_run/" >&2
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
echo "book.sh: built course/book/en and course/book/zh-CN"
