#!/usr/bin/env bash
# After the English pages of the course changed: extract their messages afresh and merge them into
# the Chinese translation (course/po/zh-CN.po) with msgmerge. A changed paragraph keeps its old
# translation, marked `#, fuzzy`, for a translator to review; a new one arrives empty. Then edit
# the PO file (any PO editor, or a text editor: fix the msgstr, delete the `#, fuzzy` line) until
# scripts/book.sh passes. course/po/README.md has the terms and the rules.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

for tool in mdbook mdbook-xgettext msgmerge msgfmt; do
  if ! command -v "$tool" >/dev/null; then
    echo "po-update.sh: $tool not found; run scripts/install-deps.sh and scripts/install-deps.sh --cargo-tools" >&2
    exit 1
  fi
done
pot_dir=$(mktemp -d)
trap 'rm -rf "$pot_dir"' EXIT
MDBOOK_OUTPUT='{"xgettext": {"pot-file": "messages.pot"}}' mdbook build course -d "$pot_dir" 2>/dev/null
msgmerge --quiet --update --backup=none --no-wrap course/po/zh-CN.po "$pot_dir/messages.pot"
msgattrib --no-obsolete --no-wrap -o course/po/zh-CN.po course/po/zh-CN.po
echo -n "po-update.sh: course/po/zh-CN.po: "
msgfmt --statistics -o /dev/null course/po/zh-CN.po
