#!/usr/bin/env bash
# bench/browser/site_check.sh [BUILD_DIR]
#
# A real browser against `trove serve`: publishes a documentation build to a temporary file://
# store, serves it on a free loopback port, and drives headless Chromium (Debian's `chromium`,
# over the Chrome DevTools Protocol, bench/browser/site_check.py) through it:
#   1. open /<project>/<version>/ and check that its CSS, JS and images loaded;
#   2. click a link to another page of the site (one with images when there is one), same checks;
#   3. open search.html?q=$QUERY and wait until Sphinx's client-side search lists results
#      (searchindex.js, then one fetch() per hit), screenshot to bench/out/browser-search.png;
#   4. reload the search page (the browser revalidates it).
# No request may fail (status >= 400 or a network error), except 404s for files the published tree
# does not contain (Chromium's /favicon.ico, and the build's own broken references), which are listed
# as site gaps. STRICT=1 fails on those too. Exit status is non-zero on any failure.
#
# BUILD_DIR defaults to the benchmark corpus ($CORPUS or /work/corpus, build1: Django's docs in the
# Read the Docs layout; bench/corpus/make-corpus.sh builds it). If it does not exist, a small site
# is generated with scripts/make-sample-site.py instead (it has no search page, so step 3-4 are skipped).
# Environment: TROVE (binary; default .build/release/trove, built if missing), CHROMIUM (default
# chromium on PATH; `apt-get install chromium` if missing), PROJECT (default django), VERSION
# (default 5.1), QUERY (default middleware), PORT (default: a free one), OUT (default bench/out),
# ACCEPT_ENCODING (e.g. "zstd, gzip": send it instead of Chromium's own, which over plain http has no
# zstd, so that pages come back through trove's zstd passthrough and Chromium has to decode them),
# PUBLISH_ARGS (extra `trove publish` options; passthrough needs chunks compressed without a
# dictionary, and publish trains one for any site with enough text, so use --no-dictionary with it).
# Needs python3 and websocket-client, installed into bench/.venv (git-ignored) on first use.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${1:-${CORPUS:-/work/corpus}/build1}
TROVE=${TROVE:-$ROOT/.build/release/trove}
PROJECT=${PROJECT:-django}
VERSION=${VERSION:-5.1}
QUERY=${QUERY:-middleware}
OUT=${OUT:-$ROOT/bench/out}
VENV=${VENV:-$ROOT/bench/.venv}

log() { echo "site_check: $*" >&2; }

CHROMIUM=${CHROMIUM:-$(command -v chromium || true)}
if [ -z "$CHROMIUM" ]; then
    log "installing chromium (apt)"
    apt-get install -y chromium >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; }
    CHROMIUM=$(command -v chromium)
fi
if ! "$VENV/bin/python" -c 'import websocket' 2>/dev/null; then
    log "creating $VENV with websocket-client"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q websocket-client
fi
if [ ! -x "$TROVE" ]; then
    log "building trove (make release)"
    make -s -C "$ROOT" release
fi

WORK=$(mktemp -d /tmp/trove-site-check.XXXXXX)
SERVER=
cleanup() {
    if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

NO_SEARCH=()
if [ ! -d "$BUILD" ]; then
    log "$BUILD does not exist: generating a small site with scripts/make-sample-site.py (no search page)"
    python3 "$ROOT/scripts/make-sample-site.py" "$WORK/site" >/dev/null
    BUILD=$WORK/site
fi
[ -f "$BUILD/html/search.html" ] || NO_SEARCH=(--no-search)

T=(--store "file://$WORK/store" --cache-dir "$WORK/cache")
log "publishing $BUILD as $PROJECT $VERSION"
"$TROVE" publish "$PROJECT" "$VERSION" "$BUILD" "${T[@]}" ${PUBLISH_ARGS:-} >"$WORK/publish.log"

PORT=${PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
"$TROVE" serve "${T[@]}" --listen "127.0.0.1:$PORT" >"$WORK/access.log" 2>"$WORK/serve.log" &
SERVER=$!
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break
    kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/serve.log" >&2; log "trove serve exited"; exit 1; }
    sleep 0.1
done
log "trove serve on 127.0.0.1:$PORT (pid $SERVER)"

mkdir -p "$OUT"
rc=0
"$VENV/bin/python" "$HERE/site_check.py" --base "http://127.0.0.1:$PORT/$PROJECT/$VERSION/" --tree "$BUILD/html" \
    --query "$QUERY" --chromium "$CHROMIUM" --screenshot "$OUT/browser-search.png" \
    ${STRICT:+--strict} ${ACCEPT_ENCODING:+--accept-encoding "$ACCEPT_ENCODING"} "${NO_SEARCH[@]}" || rc=$?

# What the server saw, from its access log: requests by status.
python3 - "$WORK/access.log" <<'EOF' >&2 || true
import collections, json, sys
c = collections.Counter()
for line in open(sys.argv[1]):
    try:
        c[json.loads(line)["status"]] += 1
    except Exception:
        pass
print("site_check: trove access log:", sum(c.values()), "requests;", ", ".join(f"{s}: {n}" for s, n in sorted(c.items())))
EOF
if grep -q '"level":"error"' "$WORK/serve.log" 2>/dev/null; then
    log "trove serve logged errors:"; grep '"level":"error"' "$WORK/serve.log" >&2; rc=1
fi
cp "$WORK/access.log" "$OUT/browser-access.log"
exit $rc
