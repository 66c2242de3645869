#!/usr/bin/env bash
# bench/browser/catalogue_check.sh [BUILD_DIR [REBUILD_DIR]]
#
# trove serve's /_/ catalogue in a real browser: publishes two versions of a documentation build to a
# temporary file:// store (v1, and v2 = the same build rebuilt with one page's main content edited),
# points the alias `stable` at v1, serves the store on a free loopback port and drives headless
# Chromium (Debian's `chromium`, over the DevTools Protocol: bench/browser/catalogue_check.py) through
# /_/, /_/<project>/ and /_/<project>/diff/v1...v2: every link on them must work, the diff page must
# list the edited page, the markup must have its landmarks and table headers, focus must be visible,
# nothing may be wider than a phone screen; screenshots at desktop and phone widths.
#
# BUILD_DIR: a build in the Read the Docs layout (e.g. /work/corpus/build1, 2,500 files; the
# edited page is html/$EDIT). Without it, a 40-page site from scripts/make-sample-site.py is used
# (what `make test` runs: well under a minute). v2 is BUILD_DIR copied with a new footer date where
# there is one (the sample site's), or REBUILD_DIR (e.g. /work/corpus/build2), with a paragraph added
# to the main content of html/$EDIT.
# Environment: TROVE (binary; default .build/release/trove, else .build/debug/trove), CHROMIUM
# (default chromium on PATH), PROJECT (default docs), EDIT (page under html/ to edit; default
# index.html), OUT (screenshot directory; default a new /tmp/trove-catalogue-shots.XXXXXX, printed).
# Python: python3 when it has websocket-client (`make pydeps` installs it), else bench/.venv.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PROJECT=${PROJECT:-docs}
EDIT=${EDIT:-index.html}
VENV=${VENV:-$ROOT/bench/.venv}
log() { echo "catalogue_check: $*" >&2; }

if [ -z "${TROVE:-}" ]; then
    TROVE=$ROOT/.build/release/trove
    [ -x "$TROVE" ] || TROVE=$ROOT/.build/debug/trove
fi
[ -x "$TROVE" ] || { log "no trove binary at $TROVE (make build, or make release)"; exit 1; }
CHROMIUM=${CHROMIUM:-$(command -v chromium || true)}
[ -n "$CHROMIUM" ] || { log "chromium not found (make deps installs Debian's chromium)"; exit 1; }
PY=python3
if ! python3 -c 'import websocket' 2>/dev/null; then
    if ! "$VENV/bin/python" -c 'import websocket' 2>/dev/null; then
        log "creating $VENV with websocket-client"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q websocket-client
    fi
    PY=$VENV/bin/python
fi

WORK=$(mktemp -d /tmp/trove-catalogue-check.XXXXXX)
OUT=${OUT:-$(mktemp -d /tmp/trove-catalogue-shots.XXXXXX)}
SERVER=
cleanup() {
    if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if [ -n "${1:-}" ]; then
    cp -a "$1" "$WORK/v1"
    if [ -n "${2:-}" ]; then cp -a "$2" "$WORK/v2"; fi
else
    python3 "$ROOT/scripts/make-sample-site.py" "$WORK/v1" --pages 40 --date "January 1, 2026" >/dev/null
    python3 "$ROOT/scripts/make-sample-site.py" "$WORK/v2" --pages 40 --date "January 2, 2026" >/dev/null
    EDIT=page3.html
fi
[ -d "$WORK/v2" ] || cp -a "$WORK/v1" "$WORK/v2"
[ -f "$WORK/v2/html/$EDIT" ] || { log "no html/$EDIT in the build"; exit 1; }
# The edit: a paragraph at the start of the main content (the first of [role=main], <main>, div.body,
# <article>, as publish's main-content digest looks for it; else the start of <body>).
python3 - "$WORK/v2/html/$EDIT" <<'EOF'
import re, sys
p = sys.argv[1]
s = open(p, encoding="utf-8").read()
m = None
for pattern in (r'<[a-z]+[^>]*role="main"[^>]*>', r'<main\b[^>]*>', r'<div[^>]*class="body"[^>]*>', r'<article[^>]*>', r'<body[^>]*>'):
    m = m or re.search(pattern, s)
assert m, "no main content element in " + p
s = s[:m.end()] + "<p>Edited for the catalogue check.</p>" + s[m.end():]
open(p, "w", encoding="utf-8").write(s)
EOF

T=(--store "file://$WORK/store" --cache-dir "$WORK/cache")
"$TROVE" publish "$PROJECT" v1 "$WORK/v1" "${T[@]}" >/dev/null
"$TROVE" publish "$PROJECT" v2 "$WORK/v2" "${T[@]}" >/dev/null
"$TROVE" alias "$PROJECT" stable v1 "${T[@]}" >/dev/null
log "published $PROJECT v1 and v2 (html/$EDIT edited), alias stable -> v1"

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$TROVE" serve "${T[@]}" --listen "127.0.0.1:$PORT" >"$WORK/access.log" 2>"$WORK/serve.log" &
SERVER=$!
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break
    kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/serve.log" >&2; log "trove serve exited"; exit 1; }
    sleep 0.1
done

rc=0
"$PY" "$HERE/catalogue_check.py" --origin "http://127.0.0.1:$PORT" --project "$PROJECT" --edited "html/$EDIT" \
    --diff v1...v2 --out "$OUT" --chromium "$CHROMIUM" || rc=$?
if grep -q '"level":"error"' "$WORK/serve.log" 2>/dev/null; then
    log "trove serve logged errors:"; grep '"level":"error"' "$WORK/serve.log" >&2; rc=1
fi
log "screenshots (CI artefacts): $OUT"
exit $rc
