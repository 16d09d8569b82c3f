#!/usr/bin/env bash
# Render a page (a file path or a URL) in headless Chromium and save a PNG, to look at what a
# reader sees: `scripts/screenshot.sh course/book/en/index.html /tmp/intro.png [1280,2000]`.
# Chromium comes from `scripts/install-deps.sh --browser`.
set -euo pipefail
page=${1:?usage: screenshot.sh PAGE OUT.png [WIDTH,HEIGHT]}
out=${2:?usage: screenshot.sh PAGE OUT.png [WIDTH,HEIGHT]}
size=${3:-1280,1600}
case "$page" in
  http://* | https://* | file://*) url=$page ;;
  *) url="file://$(realpath "$page")" ;;
esac
command -v chromium >/dev/null || { echo "screenshot.sh: chromium missing: scripts/install-deps.sh --browser" >&2; exit 1; }
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --window-size="$size" --screenshot="$out" "$url" 2>/dev/null
echo "screenshot.sh: $out"
