#!/usr/bin/env bash
# bench/cloud/serve-download.sh [BUILD] [LATENCY_MS] [CLIENTS]
#   BUILD       a docs build with a pdf/ (default /work/corpus/build1): its pdf/, epub/ and htmlzip/
#   LATENCY_MS  delay the fault proxy adds to every store request (default 30: a cloud round trip)
#   CLIENTS     clients downloading the same file at once from a cold node (default 4)
#
# The first downloads of a large file from a cold `trove serve` node on s3:// (moto with signature
# checks, read through Tests/s3server/fault_proxy.py with --latency-ms): CLIENTS clients GET the
# build's PDF at once from a fresh node (empty cache directory); the proxy counts the store requests
# and the bytes they returned, after the node settles (its file-cache fill included). Then CLIENTS
# more downloads of the same file from that node, now warm. For each binary (TROVE_BEFORE if set,
# then TROVE). Beside them, CLIENTS `rclone cat` of the same PDF at once through the same proxy.
# Output: a Markdown table on stdout and in bench/out/serve-download.md.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${1:-/work/corpus/build1}
LATENCY=${2:-30}
CLIENTS=${3:-4}
TROVE=${TROVE:-$ROOT/.build/release/trove}
[ -x "$TROVE" ] || { echo "no trove binary at $TROVE: make release" >&2; exit 1; }
PDF=$(cd "$BUILD" && ls pdf/*.pdf | head -1)
[ -n "$PDF" ] || { echo "no pdf/*.pdf in $BUILD" >&2; exit 1; }
. "$HERE/lib.sh"
s3_bench_start serve-download "$LATENCY"

mkdir -p "$WORK/tree"
for d in pdf epub htmlzip; do [ -d "$BUILD/$d" ] && cp -r "$BUILD/$d" "$WORK/tree/"; done
PUBLISHER=${TROVE_BEFORE:-$TROVE}
TROVE_STORE="s3://bench/store?endpoint=$MOTO" TROVE_CACHE_DIR=$WORK/pub-cache "$PUBLISHER" publish --json docs v1 "$WORK/tree" > /dev/null
rclone_env "$MOTO"
rclone copyto "$BUILD/$PDF" "s3:bench/rclone/$PDF"
rclone_env "$PROXY"

cat > "$WORK/measure.py" <<'PY'
import concurrent.futures, json, subprocess, sys, time, urllib.request
mode, url, stats_url, clients, expect = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), open(sys.argv[5], "rb").read()
def stats(): return json.load(urllib.request.urlopen(stats_url))
def fetch(_):
    t0 = time.monotonic()
    if mode == "trove":
        r = urllib.request.urlopen(url); t1 = time.monotonic(); body = r.read()
    else:
        body = subprocess.run(["rclone", "cat", url], check=True, capture_output=True).stdout; t1 = time.monotonic()
    if body != expect: sys.exit(f"{mode}: download differs from the file")
    return t1 - t0, time.monotonic() - t0
def round_():
    s0 = stats(); t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(clients) as ex: res = list(ex.map(fetch, range(clients)))
    wall = time.monotonic() - t0
    time.sleep(1.5)  # the fill finishes in the background: count all it read
    s1 = stats()
    return {"wall": wall, "ttfb": max(r[0] for r in res), "requests": s1["requests"] - s0["requests"], "mb": (s1["bytes_down"] - s0["bytes_down"]) / 1e6}
out = {"cold": round_()}
if mode == "trove": out["warm"] = round_()
print(json.dumps(out))
PY

measure() { python3 "$WORK/measure.py" trove "$1/_download/docs/v1/$PDF" "$STATS" "$CLIENTS" "$BUILD/$PDF"; }
measure_nodes measure
RES[rclone]=$(python3 "$WORK/measure.py" rclone "s3:bench/rclone/$PDF" "$STATS" "$CLIENTS" "$BUILD/$PDF")

mkdir -p "$ROOT/bench/out"
python3 - "$LATENCY" "$CLIENTS" "$PDF" "$(stat -c %s "$BUILD/$PDF")" "${LABELS[*]}" "${RES[before]:-}" "${RES[after]}" "${RES[rclone]}" <<'PY' | tee "$ROOT/bench/out/serve-download.md"
import json, sys
lat, clients, pdf, size, labels = sys.argv[1:6]
res = {k: json.loads(v) for k, v in zip(["before", "after", "rclone"], sys.argv[6:9]) if v}
names = {"before": "Trove before", "after": "Trove", "rclone": "rclone cat"}
print(f"`{pdf}` ({int(size) / 1e6:.1f} MB), {clients} clients at once, every store request delayed {lat} ms; a fresh node per Trove column.")
print()
print("| | store requests | MB from the store | slowest first byte | all done |")
print("|---|---:|---:|---:|---:|")
for k in labels.split() + ["rclone"]:
    for phase in ("cold", "warm"):
        r = res[k].get(phase)
        if r: print(f"| {names[k]}, {phase} | {r['requests']} | {r['mb']:.1f} | {r['ttfb'] * 1000:.0f} ms | {r['wall'] * 1000:.0f} ms |")
PY
