#!/usr/bin/env bash
# bench/serve/run.sh [BUILD_DIR]
#
# trove serve vs nginx, same machine, one run: wrk against both servers for
#   hot   one HTML page, requested over and over (intro/tutorial01.html, 27 KiB)
#   large the 5 MiB pdf (a download)
#   medium a 481 KiB file (json/ref/contrib/admin/index.fjson, a download)
#   mix   every file of the html/ tree, in a random order (Lua script), ~1260 files
#   floor /healthz on both (a 3-byte answer from memory): the cost of the HTTP stack alone, for scale
# Both serve the same tree: trove from a file:// store the build was published to, nginx from the
# `trove export` of that same version on local disk (sendfile on, access log on for both).
#
# BUILD_DIR defaults to the benchmark corpus ($CORPUS or /work/corpus, build1: Django's docs in
# the Read the Docs layout; bench/corpus/make-corpus.sh builds it).
# The machine is shared, so each workload is measured ROUNDS times (default 3), alternating trove and
# nginx, and the medians are reported (every round's numbers are printed to stderr).
# Large files are sent from trove's file cache with sendfile (docs/serve.md, Large files) once filled.
# Environment: WORKLOADS (default "floor hot large medium mix"), DURATION (default 10s), ROUNDS (3), CONNECTIONS (64), THREADS (2), TROVE (binary; default
# .build/release/trove, built with `make release` if missing), PORT_TROVE, PORT_NGINX.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${1:-${CORPUS:-/work/corpus}/build1}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
WORKLOADS=${WORKLOADS:-floor hot large medium mix}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
PORT_TROVE=${PORT_TROVE:-18082}
PORT_NGINX=${PORT_NGINX:-18081}
TROVE=${TROVE:-$ROOT/.build/release/trove}
WORK=${WORK:-/tmp/trove-bench-serve}
HOT=intro/tutorial01.html
LARGE=$(cd "$BUILD/pdf" && ls | head -1)
MEDIUM=json/ref/contrib/admin/index.fjson

. "$HERE/lib.sh"
ensure_tools wrk nginx
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$TROVE" ]; then make -s -C "$ROOT" release; fi

rm -rf "$WORK" && mkdir -p "$WORK/nginx/tmp"

STORE="file://$WORK/store"
T=(--store "$STORE" --cache-dir "$WORK/cache")
echo "publishing $BUILD" >&2
"$TROVE" publish django latest "$BUILD" "${T[@]}" >/dev/null
"$TROVE" export django latest "$WORK/export" "${T[@]}" >/dev/null

cat > "$WORK/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 4096; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on; tcp_nopush on; keepalive_requests 1000000;
    access_log $WORK/nginx/access.log;
    client_body_temp_path $WORK/nginx/tmp; proxy_temp_path $WORK/nginx/tmp; fastcgi_temp_path $WORK/nginx/tmp;
    uwsgi_temp_path $WORK/nginx/tmp; scgi_temp_path $WORK/nginx/tmp;
    server {
        listen 127.0.0.1:$PORT_NGINX;
        location = /healthz { default_type text/plain; return 200 "ok\\n"; }
        location /django/latest/ { alias $WORK/export/html/; }
        location /_download/django/latest/ { alias $WORK/export/; }
    }
}
EOF
"$NGINX" -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx"

"$TROVE" serve "${T[@]}" --listen "127.0.0.1:$PORT_TROVE" >"$WORK/trove-access.log" 2>"$WORK/trove.log" &
PIDS+=($!)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT_TROVE/healthz" >/dev/null && break; sleep 0.1; done

# The mix: every file of the html tree, as URL paths (percent-encoding the few names that need it).
(cd "$WORK/export/html" && find . -type f | sed 's|^\./||' | sort) | python3 -c '
import sys, urllib.parse
for line in sys.stdin:
    print("/django/latest/" + urllib.parse.quote(line.rstrip("\n")))' > "$WORK/paths.txt"
cat > "$WORK/mix.lua" <<EOF
local paths = {}
for line in io.lines("$WORK/paths.txt") do paths[#paths + 1] = line end
local i = 0
request = function()
    i = i + 1
    return wrk.format("GET", paths[(i * 7919) % #paths + 1])
end
EOF

# Same bytes from both, or the comparison means nothing.
for p in "/django/latest/$HOT" "/_download/django/latest/pdf/$LARGE" "/_download/django/latest/$MEDIUM" "$(sed -n 100p "$WORK/paths.txt")"; do
    a=$(curl -s "http://127.0.0.1:$PORT_TROVE$p" | sha256sum); b=$(curl -s "http://127.0.0.1:$PORT_NGINX$p" | sha256sum)
    [ "$a" = "$b" ] || { echo "different bytes for $p" >&2; exit 1; }
done

# Warm both (trove: chunk cache; nginx: page cache), then measure.
for port in $PORT_TROVE $PORT_NGINX; do
    wrk -t1 -c8 -d2s -s "$WORK/mix.lua" "http://127.0.0.1:$port/" >/dev/null
    wrk -t1 -c8 -d1s "http://127.0.0.1:$port/_download/django/latest/pdf/$LARGE" >/dev/null
    wrk -t1 -c8 -d1s "http://127.0.0.1:$port/_download/django/latest/$MEDIUM" >/dev/null
done

measure() { # name port url [script]: "req/s p50 p99 errors"
    if [ -n "${4:-}" ]; then wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$4" "http://127.0.0.1:$2$3" | wrk_summary "$1"
    else wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$2$3" | wrk_summary "$1"; fi
}


echo "| workload | trove req/s | nginx req/s | ratio | trove p99 | nginx p99 |"
echo "|---|---|---|---|---|---|"
for w in $WORKLOADS; do
    case $w in
        floor) url="/healthz"; script="" ;;
        hot) url="/django/latest/$HOT"; script="" ;;
        large) url="/_download/django/latest/pdf/$LARGE"; script="" ;;
        medium) url="/_download/django/latest/$MEDIUM"; script="" ;;
        mix) url="/"; script="$WORK/mix.lua" ;;
    esac
    TR=(); NR=(); TP=(); NP=()
    for r in $(seq 1 "$ROUNDS"); do
        read -r trps _ tp99 terr <<<"$(measure "trove-$w-$r" "$PORT_TROVE" "$url" "$script")"
        read -r nrps _ np99 nerr <<<"$(measure "nginx-$w-$r" "$PORT_NGINX" "$url" "$script")"
        echo "  $w round $r: trove $trps req/s p99 $tp99 ${terr:-}| nginx $nrps req/s p99 $np99 ${nerr:-}" >&2
        TR+=("$trps"); NR+=("$nrps"); TP+=("$(ms "$tp99")"); NP+=("$(ms "$np99")")
    done
    t=$(median "${TR[@]}"); n=$(median "${NR[@]}")
    ratio=$(python3 -c "print(f'{$t / $n:.2f}')")
    printf "| %s | %.0f | %.0f | %sx | %.2f ms | %.2f ms |\n" "$w" "$t" "$n" "$ratio" "$(median "${TP[@]}")" "$(median "${NP[@]}")"
done
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency; $(nproc) cores; $(wrk -v 2>&1 | head -1); $("$NGINX" -v 2>&1); raw wrk output in $WORK" >&2
