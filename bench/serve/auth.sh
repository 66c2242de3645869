#!/usr/bin/env bash
# bench/serve/auth.sh [BUILD_DIR]
#
# The cost of external authorisation (serve.auth_url) on a hot page: wrk against one trove serve, in
# one run, alternating
#   public     /django/latest/intro/tutorial01.html   (a public project)
#   protected  /private/latest/intro/tutorial01.html  (the same build published as a private project,
#              read with a session cookie whose decision the serve node has cached)
# Both requests carry the same Cookie header, so they differ only in the project. The host
# application is config/auth-example.py (logged in once with curl to get the cookie); the decision
# is cached for serve.auth_ttl (default 30s), so the whole run costs a few subrequests, which are
# counted from /metrics at the end. Before measuring, the script checks that both answers have the
# same bytes and that the protected page without the cookie gets 404.
#
# Same approach as bench/serve/run.sh (medians of ROUNDS rounds, which of the two goes first
# alternating; every round on stderr; raw wrk output in $WORK). Environment: DURATION (default 10s), ROUNDS (3), CONNECTIONS (64), THREADS (2), TROVE
# (default .build/release/trove, built with `make release` if missing), PORT_TROVE (18084), PORT_APP (18085).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${1:-${CORPUS:-/work/corpus}/build1}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
PORT_TROVE=${PORT_TROVE:-18084}
PORT_APP=${PORT_APP:-18085}
TROVE=${TROVE:-$ROOT/.build/release/trove}
WORK=${WORK:-/tmp/trove-bench-auth}
HOT=intro/tutorial01.html

. "$HERE/lib.sh"
ensure_tools wrk
if [ ! -x "$TROVE" ]; then make -s -C "$ROOT" release; fi

rm -rf "$WORK" && mkdir -p "$WORK"

STORE="file://$WORK/store"
T=(--store "$STORE" --cache-dir "$WORK/cache")
echo "publishing $BUILD as django (public) and private" >&2
"$TROVE" publish django latest "$BUILD" "${T[@]}" >/dev/null
"$TROVE" publish private latest "$BUILD" "${T[@]}" >/dev/null

python3 "$ROOT/config/auth-example.py" --port "$PORT_APP" --members "alice:private" \
    --trove "http://127.0.0.1:$PORT_TROVE" >"$WORK/app.out" 2>"$WORK/app.log" &
PIDS+=($!)
TROVE_SERVE_PRIVATE_PROJECTS=private TROVE_SERVE_AUTH_URL="http://127.0.0.1:$PORT_APP/auth" \
    "$TROVE" serve "${T[@]}" --listen "127.0.0.1:$PORT_TROVE" >"$WORK/trove-access.log" 2>"$WORK/trove.log" &
PIDS+=($!)
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT_TROVE/healthz" >/dev/null && curl -s -o /dev/null "http://127.0.0.1:$PORT_APP/login" && break
    sleep 0.1
done

# Log in once (the app sets the session cookie and redirects).
SESSION=$(curl -s -D - -o /dev/null "http://127.0.0.1:$PORT_APP/login?user=alice" | tr -d '\r' | sed -n 's/^Set-Cookie: \(session=[^;]*\).*/\1/Ip')
[ -n "$SESSION" ] || { echo "no session cookie from config/auth-example.py" >&2; exit 1; }

PUBLIC="/django/latest/$HOT"
PROTECTED="/private/latest/$HOT"
a=$(curl -s -H "Cookie: $SESSION" "http://127.0.0.1:$PORT_TROVE$PUBLIC" | sha256sum)
b=$(curl -s -H "Cookie: $SESSION" "http://127.0.0.1:$PORT_TROVE$PROTECTED" | sha256sum)
[ "$a" = "$b" ] || { echo "different bytes for the public and the protected page" >&2; exit 1; }
anon=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT_TROVE$PROTECTED")
[ "$anon" = 404 ] || { echo "the protected page without a session answered $anon, not 404" >&2; exit 1; }

# Warm (chunk cache, fast-path routes, the decision).
for url in "$PUBLIC" "$PROTECTED"; do wrk -t1 -c8 -d2s -H "Cookie: $SESSION" "http://127.0.0.1:$PORT_TROVE$url" >/dev/null; done

measure() { # name url: "req/s p50 p99 errors"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "Cookie: $SESSION" "http://127.0.0.1:$PORT_TROVE$2" | wrk_summary "$1"
}

PR=(); XR=(); PP=(); XP=()
for r in $(seq 1 "$ROUNDS"); do
    # Alternate which goes first, so a machine getting busier or quieter favours neither.
    if [ $((r % 2)) = 1 ]; then
        read -r prps _ pp99 perr <<<"$(measure "public-$r" "$PUBLIC")"
        read -r xrps _ xp99 xerr <<<"$(measure "protected-$r" "$PROTECTED")"
    else
        read -r xrps _ xp99 xerr <<<"$(measure "protected-$r" "$PROTECTED")"
        read -r prps _ pp99 perr <<<"$(measure "public-$r" "$PUBLIC")"
    fi
    echo "  round $r: public $prps req/s p99 $pp99 ${perr:-}| protected $xrps req/s p99 $xp99 ${xerr:-}" >&2
    PR+=("$prps"); XR+=("$xrps"); PP+=("$(ms "$pp99")"); XP+=("$(ms "$xp99")")
done
p=$(median "${PR[@]}"); x=$(median "${XR[@]}")
echo "| hot page | req/s | p99 | vs public |"
echo "|---|---|---|---|"
printf "| public | %.0f | %.2f ms | 1.00x |\n" "$p" "$(median "${PP[@]}")"
printf "| protected, cached decision | %.0f | %.2f ms | %sx |\n" "$x" "$(median "${XP[@]}")" "$(python3 -c "print(f'{$x / $p:.2f}')")"
curl -s "http://127.0.0.1:$PORT_TROVE/metrics" | grep -E '^trove_serve_auth_decisions_total\{.*\} [1-9]|^trove_serve_fast_path_raw_requests_total' >&2 || true
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency; $(nproc) cores; $(wrk -v 2>&1 | head -1); raw wrk output in $WORK" >&2
