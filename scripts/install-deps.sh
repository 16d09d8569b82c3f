#!/usr/bin/env bash
# Install the system tools io-models uses, skipping what is already there. Idempotent.
#
#   curl           used by some tests and by hand
#   strace         syscall counts in the benchmarks (`harness compare`)
#   wrk            load generator for scripts/wrk-vs-nginx.sh
#   nginx-light    the reference server in the benchmarks (any nginx will do)
#   apache2-utils  `ab`, the other classic load generator
#   iproute2       `ss`, which the labs (scripts/lab.sh) use to show socket queues
#   util-linux     `prlimit`, which the labs use to lower a server's limits
#   ShellCheck     (package shellcheck) lints the scripts (scripts/*.sh, scripts/labs/*.sh) before a commit
#   gettext        `msgmerge`, which scripts/po-update.sh uses to carry the Chinese translation over
#                  to changed English text (as fuzzy entries for a translator to review)
#   itstool        extracts the labels of the course's figures (SVG) for translation and writes
#                  the Chinese figures (scripts/figures-i18n.sh)
#
# Debian/Ubuntu only (apt). Needs root or sudo. Prints what it did; exits non-zero only when an
# installation was attempted and failed.
#
# `--cargo-tools` instead installs the pinned cargo tools CI needs, from crates.io:
#   cargo-mutants  mutation testing (scripts/mutants.sh)
#   mdbook         the course (scripts/book.sh)
#   mdbook-i18n-helpers  the Chinese edition of the course (mdbook-xgettext, mdbook-gettext)
#
# `--browser` instead installs headless Chromium and a CJK font, for looking at rendered book
# pages and charts (scripts/screenshot.sh); no check needs them.
set -euo pipefail

# Pinned so that every machine mutates the same way; raise deliberately.
CARGO_MUTANTS_VERSION=27.1.0
# mdBook 0.5 (the i18n helpers for the Chinese edition need 0.4.x of mdbook-i18n-helpers with it).
MDBOOK_VERSION=0.5.4
MDBOOK_I18N_HELPERS_VERSION=0.4.0

if [ "${1:-}" = "--cargo-tools" ]; then
  if [ "$(cargo mutants --version 2>/dev/null)" = "cargo-mutants $CARGO_MUTANTS_VERSION" ]; then
    echo "install-deps: cargo-mutants $CARGO_MUTANTS_VERSION: already installed"
  else
    echo "install-deps: installing cargo-mutants $CARGO_MUTANTS_VERSION (a few minutes: it compiles)"
    cargo install --locked --version "$CARGO_MUTANTS_VERSION" cargo-mutants
  fi
  if [ "$(mdbook --version 2>/dev/null)" = "mdbook v$MDBOOK_VERSION" ]; then
    echo "install-deps: mdbook $MDBOOK_VERSION: already installed"
  else
    echo "install-deps: installing mdbook $MDBOOK_VERSION (a few minutes: it compiles)"
    cargo install --locked --version "$MDBOOK_VERSION" mdbook
  fi
  if [ "$(cargo install --list | sed -n 's/^mdbook-i18n-helpers v\([^:]*\):$/\1/p')" = "$MDBOOK_I18N_HELPERS_VERSION" ] \
    && command -v mdbook-gettext >/dev/null; then
    echo "install-deps: mdbook-i18n-helpers $MDBOOK_I18N_HELPERS_VERSION: already installed"
  else
    echo "install-deps: installing mdbook-i18n-helpers $MDBOOK_I18N_HELPERS_VERSION (a few minutes: it compiles)"
    cargo install --locked --version "$MDBOOK_I18N_HELPERS_VERSION" mdbook-i18n-helpers
  fi
  exit 0
fi

if [ "${1:-}" = "--browser" ]; then
  if command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "noto sans cjk"; then
    echo "install-deps: chromium and fonts-noto-cjk: already installed"
    exit 0
  fi
  sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    chromium chromium-driver fonts-noto-cjk
  exit 0
fi

# tool to look for -> package that provides it
tools=(curl strace wrk nginx ab ss prlimit shellcheck msgmerge itstool)
declare -A package=(
  [ss]=iproute2
  [prlimit]=util-linux
  [curl]=curl
  [strace]=strace
  [wrk]=wrk
  [nginx]=nginx-light
  [ab]=apache2-utils
  [shellcheck]=shellcheck
  [msgmerge]=gettext
  [itstool]=itstool
)

have() {
  # nginx and ab live in /usr/sbin on Debian, which is not always on a user's PATH.
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]
}

missing=()
for tool in "${tools[@]}"; do
  if have "$tool"; then
    echo "install-deps: $tool: already installed"
  else
    missing+=("${package[$tool]}")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: nothing to do"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: no apt-get here; please install: ${missing[*]}" >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "install-deps: not root and no sudo; please install: ${missing[*]}" >&2
    exit 1
  fi
fi

"${sudo[@]}" apt-get update
# nginx-light is gone from newer releases; plain nginx serves the same purpose.
for i in "${!missing[@]}"; do
  if [ "${missing[$i]}" = nginx-light ] && ! apt-cache show nginx-light >/dev/null 2>&1; then
    missing[i]=nginx
  fi
done
echo "install-deps: installing ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
