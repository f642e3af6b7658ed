#!/usr/bin/env bash
# Debian packages the tests and the book's tooling need, installed only when missing:
#   chromium       the headless browser check of the built book (tests/test_book.py)
#   nodejs, npm    only if `npm` is absent: scripts/vendor_mathjax.sh fetches MathJax with it
# Uses sudo only when not root. Does nothing (and touches no package list) when all is present.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "system deps present: chromium, npm"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: missing ${missing[*]} and apt-get is not available; install them by hand." >&2
  exit 1
fi

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "error: missing ${missing[*]}; run this script as root (sudo is not installed)." >&2
    exit 1
  fi
  SUDO=(sudo)
fi

echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
