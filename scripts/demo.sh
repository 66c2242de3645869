#!/usr/bin/env bash
# Trove's main job on the embedded default: publish a sample documentation build to a local store,
# publish its rebuild (only footer dates changed) to show dedup, then serve it over HTTP.
#   DEMO_DIR (default .demo), TROVE (the binary), DEMO_LISTEN (default 127.0.0.1:8080),
#   DEMO_SERVE_SECONDS: stop serving after N seconds (default: serve until Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
TROVE=${TROVE:-.build/release/trove}
DEMO_DIR=${DEMO_DIR:-.demo}
LISTEN=${DEMO_LISTEN:-127.0.0.1:8080}
rm -rf "$DEMO_DIR"
mkdir -p "$DEMO_DIR"
export TROVE_STORE="file://$PWD/$DEMO_DIR/store" TROVE_CACHE_DIR="$PWD/$DEMO_DIR/cache"

echo "== Generating a sample documentation build (Read the Docs layout) in $DEMO_DIR/build1"
python3 scripts/make-sample-site.py "$DEMO_DIR/build1" --date "January 1, 2026"
python3 scripts/make-sample-site.py "$DEMO_DIR/build2" --date "January 2, 2026"

echo; echo "== trove publish sample latest $DEMO_DIR/build1   (store: $TROVE_STORE)"
"$TROVE" publish sample latest "$DEMO_DIR/build1"
echo; echo "== Rebuild: every page's footer date changed"
"$TROVE" publish sample latest "$DEMO_DIR/build2"
echo; echo "== Same build published as a second version: nothing new stored"
"$TROVE" publish sample v1.0 "$DEMO_DIR/build2"
echo; echo "== trove ls sample"; "$TROVE" ls sample
echo; echo "== trove stats"; "$TROVE" stats
echo; echo "== trove export sample latest → byte-identical?"
"$TROVE" export sample latest "$DEMO_DIR/export" >/dev/null
diff -r "$DEMO_DIR/build2" "$DEMO_DIR/export" && echo "identical: diff -r found no difference"

if "$TROVE" serve --help >/dev/null 2>&1; then
  echo; echo "== trove serve: open http://$LISTEN/sample/latest/  (Ctrl-C to stop)"
  if [ -n "${DEMO_SERVE_SECONDS:-}" ]; then
    "$TROVE" serve --listen "$LISTEN" & pid=$!
    for _ in $(seq 1 50); do curl -sf "http://$LISTEN/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
    curl -s -o /dev/null -w "GET /sample/latest/ → %{http_code}, %{size_download} bytes\n" -L "http://$LISTEN/sample/latest/"
    sleep "$DEMO_SERVE_SECONDS"; kill -INT $pid; wait $pid || true
  else
    exec "$TROVE" serve --listen "$LISTEN"
  fi
fi
