#!/usr/bin/env bash
# The Chinese figures of the course. Every figure of the English book (course/src/figures/*.svg
# and the measured charts in course/src/figures/measured/) has a Chinese twin under
# course/src/figures/zh-CN/, made from it by itstool with the label translations of
# course/po/figures/zh-CN.po. The twins are generated, never edited by hand.
#
#   scripts/figures-i18n.sh            write course/src/figures/zh-CN/ from the English figures
#   scripts/figures-i18n.sh --update   after a figure changed: merge its labels into the PO file
#                                      (new labels arrive empty, changed ones fuzzy; labels that
#                                      are only a number, such as an axis tick, are copied as is)
#   scripts/figures-i18n.sh --check    fail when a label is untranslated or fuzzy, or when a
#                                      twin differs from what the English figure and the PO give
#                                      (scripts/book.sh runs this)
# Needs itstool and gettext (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

rules=course/po/figures/svg.its
po=course/po/figures/zh-CN.po
out=course/src/figures/zh-CN
mode=${1:-write}
for tool in itstool msgfmt msgmerge msgcmp msgen msggrep msgcat; do
  if ! command -v "$tool" >/dev/null; then
    echo "figures-i18n.sh: $tool not found; run scripts/install-deps.sh" >&2
    exit 1
  fi
done

# The English figures, relative to course/src/figures.
figures() {
  (cd course/src/figures && ls ./*.svg measured/*.svg) | sed 's|^\./||'
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

extract() {
  local list=()
  while IFS= read -r figure; do list+=("$figure"); done < <(figures)
  (cd course/src/figures && itstool -i "../../../$rules" -o "$tmp/figures.pot" "${list[@]}")
}

# Write every twin into directory $1.
render() {
  msgfmt --check -o "$tmp/zh-CN.mo" "$po"
  while IFS= read -r figure; do
    mkdir -p "$1/$(dirname "$figure")"
    itstool -m "$tmp/zh-CN.mo" -l zh-CN -o "$1/$figure" "course/src/figures/$figure"
  done < <(figures)
}

case "$mode" in
  --update)
    extract
    if [ -f "$po" ]; then
      msgmerge --quiet --update --backup=none --no-wrap "$po" "$tmp/figures.pot"
    else
      msginit --no-translator --no-wrap -l zh_CN.UTF-8 -i "$tmp/figures.pot" -o "$po"
    fi
    # A label that is only a number (an axis tick, a count, a clipped bar's "→ p99 N ms") reads
    # the same in Chinese.
    msgen --no-wrap "$tmp/figures.pot" \
      | msggrep --no-wrap --msgid -E -e '^(→ p99 )?[-+0-9.,:×%–~↑ ]*( ?(ms|µs|s|k|M|MiB|KiB|GiB|B))?$' \
        -o "$tmp/numbers.po" || true
    if [ -s "$tmp/numbers.po" ]; then
      msgcat --no-wrap --use-first -o "$po" "$po" "$tmp/numbers.po"
    fi
    msgattrib --no-obsolete --no-wrap -o "$po" "$po"
    echo -n "figures-i18n.sh: $po: "
    msgfmt --statistics -o /dev/null "$po"
    ;;
  --check)
    extract
    if ! msgcmp "$po" "$tmp/figures.pot" 2>"$tmp/msgcmp.log"; then
      grep -v 'this message is not used' "$tmp/msgcmp.log" | head -20 >&2
      echo "figures-i18n.sh: $po lags the figures (above); run scripts/figures-i18n.sh --update, translate, then scripts/figures-i18n.sh" >&2
      exit 1
    fi
    render "$tmp/zh-CN"
    if ! diff -r "$tmp/zh-CN" "$out" >/dev/null; then
      diff -rq "$tmp/zh-CN" "$out" >&2 || true
      echo "figures-i18n.sh: $out is not what the figures and $po give; run scripts/figures-i18n.sh" >&2
      exit 1
    fi
    echo "figures-i18n.sh: $out matches the English figures and $po"
    ;;
  write)
    rm -rf "$out"
    render "$out"
    echo "figures-i18n.sh: wrote $out ($(figures | wc -l) figures)"
    ;;
  *)
    echo "usage: scripts/figures-i18n.sh [--update | --check]" >&2
    exit 2
    ;;
esac
