#!/usr/bin/env bash
# bench/serve/catalogue-diff.sh [BASE_BUILD [HEAD_BUILD]]
#
# Latency of trove serve's diff API (`/_/api/v1/projects/<p>/diff?base=v1&head=v2`) between two
# ~2,500-file versions, warm, against nginx serving the very same JSON bytes as a static file from
# local disk: the floor for an answer of that size on this machine. Same run, same wrk settings,
# rounds alternating the two servers; p50/p99 and requests/s are the medians over the rounds, and
# the ratios are trove / nginx. The first (cold) request, which opens both manifests and computes
# and renders the diff, is timed once with curl beforehand.
#
# BASE_BUILD and HEAD_BUILD default to the benchmark corpus ($CORPUS or /work/corpus, build1 and
# build2: Django's docs, 2,532 files each, and a rebuild of them).
# Environment: DURATION (default 10s), ROUNDS (3), CONNECTIONS (16), THREADS (2), TROVE (default
# .build/release/trove, built with `make release` if missing), PORT_TROVE, PORT_NGINX, WORK.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BASE=${1:-${CORPUS:-/work/corpus}/build1}
HEAD=${2:-${CORPUS:-/work/corpus}/build2}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
PORT_TROVE=${PORT_TROVE:-18092}
PORT_NGINX=${PORT_NGINX:-18091}
TROVE=${TROVE:-$ROOT/.build/release/trove}
WORK=${WORK:-/tmp/trove-bench-catalogue}

. "$HERE/lib.sh"
ensure_tools wrk nginx
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$TROVE" ]; then make -s -C "$ROOT" release; fi

rm -rf "$WORK" && mkdir -p "$WORK/nginx/tmp" "$WORK/static"

T=(--store "file://$WORK/store" --cache-dir "$WORK/cache")
echo "publishing $BASE as django v1 and $HEAD as django v2" >&2
"$TROVE" publish django v1 "$BASE" "${T[@]}" >/dev/null
"$TROVE" publish django v2 "$HEAD" "${T[@]}" >/dev/null

"$TROVE" serve "${T[@]}" --listen "127.0.0.1:$PORT_TROVE" >"$WORK/trove-access.log" 2>"$WORK/trove.log" &
PIDS+=($!)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT_TROVE/healthz" >/dev/null && break; sleep 0.1; done

API="/_/api/v1/projects/django/diff?base=v1&head=v2"
cold=$(curl -s -o "$WORK/static/diff.json" -w '%{http_code} %{time_total}' "http://127.0.0.1:$PORT_TROVE$API")
read -r code cold_s <<<"$cold"
[ "$code" = 200 ] || { echo "diff API answered $code" >&2; exit 1; }
counts=$(python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
m = d['modified']
print(f\"{len(m)} modified ({sum(1 for x in m if x['main_content_changed'] is True)} main content changed, \"
      f\"{sum(1 for x in m if x['main_content_changed'] is False)} not, {sum(1 for x in m if x['main_content_changed'] is None)} unknown), \"
      f\"{len(d['added'])} added, {len(d['deleted'])} deleted, {len(d['renamed'])} renamed\")" "$WORK/static/diff.json")
bytes=$(stat -c %s "$WORK/static/diff.json")
echo "cold first request: ${cold_s}s; answer $bytes bytes: $counts" >&2

cat > "$WORK/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 4096; }
http {
    default_type application/json;
    sendfile on; tcp_nopush on; keepalive_requests 1000000;
    access_log $WORK/nginx/access.log;
    client_body_temp_path $WORK/nginx/tmp; proxy_temp_path $WORK/nginx/tmp; fastcgi_temp_path $WORK/nginx/tmp;
    uwsgi_temp_path $WORK/nginx/tmp; scgi_temp_path $WORK/nginx/tmp;
    server {
        listen 127.0.0.1:$PORT_NGINX;
        location = /diff.json { root $WORK/static; }
    }
}
EOF
"$NGINX" -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx"
a=$(curl -s "http://127.0.0.1:$PORT_TROVE$API" | sha256sum); b=$(curl -s "http://127.0.0.1:$PORT_NGINX/diff.json" | sha256sum)
[ "$a" = "$b" ] || { echo "different bytes from the two servers" >&2; exit 1; }

measure() { # name url: "req/s p50 p99 errors"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$2" | wrk_summary "$1"
}

# Warm both.
wrk -t1 -c4 -d2s "http://127.0.0.1:$PORT_TROVE$API" >/dev/null
wrk -t1 -c4 -d2s "http://127.0.0.1:$PORT_NGINX/diff.json" >/dev/null
TR=(); NR=(); T50=(); N50=(); T99=(); N99=()
for r in $(seq 1 "$ROUNDS"); do
    read -r trps t50 t99 terr <<<"$(measure "trove-$r" "http://127.0.0.1:$PORT_TROVE$API")"
    read -r nrps n50 n99 nerr <<<"$(measure "nginx-$r" "http://127.0.0.1:$PORT_NGINX/diff.json")"
    echo "  round $r: trove $trps req/s p50 $t50 p99 $t99 ${terr:-}| nginx $nrps req/s p50 $n50 p99 $n99 ${nerr:-}" >&2
    TR+=("$trps"); NR+=("$nrps"); T50+=("$(ms "$t50")"); N50+=("$(ms "$n50")"); T99+=("$(ms "$t99")"); N99+=("$(ms "$n99")")
done
t=$(median "${TR[@]}"); n=$(median "${NR[@]}")
t50=$(median "${T50[@]}"); n50=$(median "${N50[@]}"); t99=$(median "${T99[@]}"); n99=$(median "${N99[@]}")
echo "| server | req/s | p50 | p99 |"
echo "|---|---|---|---|"
printf "| trove diff API | %.0f | %.2f ms | %.2f ms |\n" "$t" "$t50" "$t99"
printf "| nginx, same bytes from disk | %.0f | %.2f ms | %.2f ms |\n" "$n" "$n50" "$n99"
python3 -c "print(f'| trove / nginx | {$t / $n:.2f}x | {$t50 / $n50:.2f}x | {$t99 / $n99:.2f}x |')"
echo "answer $bytes bytes ($counts); cold first request ${cold_s}s; wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, $ROUNDS rounds, medians; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); raw output in $WORK" >&2
