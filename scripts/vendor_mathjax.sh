#!/usr/bin/env bash
# Vendor MathJax 3.2.2 into book/_static/mathjax/ so the book renders math offline.
#
# The book's pages load book/_static/mathjax/tex-svg-full.js (see _config.yml, mathjax_path):
# the SVG output needs no web fonts and loads nothing else. The package comes from the npm
# registry with `npm pack` (no install, no node_modules) in a temporary directory.
# Idempotent: does nothing when the right version is already in place.
set -euo pipefail

VERSION=3.2.2
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/book/_static/mathjax"
STAMP="$DEST/VERSION"

if [[ -s "$DEST/tex-svg-full.js" && -s "$DEST/LICENSE" && -f "$STAMP" ]] \
  && [[ "$(cat "$STAMP")" == "$VERSION" ]]; then
  echo "mathjax $VERSION already vendored in ${DEST#"$ROOT"/}"
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "error: npm is not installed; it is needed once to fetch MathJax $VERSION." >&2
  echo "       Run \`make system-deps\` (installs nodejs and npm on Debian), then retry." >&2
  exit 1
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
(
  cd "$TMP"
  # --cache inside TMP: leaves no npm cache behind in the user's home directory
  npm pack --silent --cache "$TMP/.npm" "mathjax@$VERSION" >/dev/null
  tar xzf "mathjax-$VERSION.tgz"
)
SRC="$TMP/package"
for f in es5/tex-svg-full.js LICENSE; do
  if [[ ! -s "$SRC/$f" ]]; then
    echo "error: mathjax-$VERSION.tgz has no $f" >&2
    exit 1
  fi
done

mkdir -p "$DEST"
cp "$SRC/es5/tex-svg-full.js" "$SRC/LICENSE" "$DEST/"
echo "$VERSION" >"$STAMP"
echo "vendored mathjax $VERSION into ${DEST#"$ROOT"/} ($(du -h "$DEST/tex-svg-full.js" | cut -f1))"
