#!/usr/bin/env bash
# bench/cloud/s3.sh [TREE] [LATENCY_MS]
#   TREE        a docs build (default /work/corpus/build1, all media; from bench/corpus/make-corpus.sh)
#   LATENCY_MS  delay the fault proxy adds to every request (default 30: a cloud round trip)
#
# Trove on s3:// side by side with rclone (its s3 backend), both against moto's S3 server (signature
# checking on) through Tests/s3server/fault_proxy.py with --latency-ms and no faults, so every request
# costs what a round trip to object storage costs. One run, in this order, each step for both tools:
#   cold publish        trove publish (fresh cache)      | rclone sync --checksum --transfers 8
#   unchanged republish trove publish (fresh cache)      | rclone sync --checksum --transfers 8
#   one-page rebuild    trove publish (fresh cache)      | rclone sync --checksum --transfers 8
#   whole-version read  trove export (fresh cache)       | rclone copy --transfers 8
# "fresh cache": a throw-away build server or serve node has an empty ~/.cache/trove. Requests are
# counted by the proxy, wall time by this script; ratios are Trove / rclone (below 1: Trove is faster).
# Output: a Markdown table on stdout and in bench/out/cloud-s3.md.
# Env: TROVE (default .build/release/trove), REPEAT (default 3: each timed step's best run is used).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TREE=${1:-/work/corpus/build1}
LATENCY=${2:-30}
REPEAT=${REPEAT:-3}
TROVE=${TROVE:-$ROOT/.build/release/trove}
[ -x "$TROVE" ] || { echo "no trove binary at $TROVE: make release" >&2; exit 1; }
[ -d "$TREE" ] || { echo "missing $TREE: run bench/corpus/make-corpus.sh, or pass a docs tree" >&2; exit 1; }
. "$HERE/lib.sh"
s3_bench_start cloud-bench "$LATENCY"
ENDPOINT=$PROXY
rclone_env "$ENDPOINT"
cp -a "$TREE" "$WORK/tree"
PAGE=$(cd "$WORK/tree" && find . -name '*.html' -size +4k | sort | sed -n 10p)

requests() { curl -s "$STATS" | python3 -c "import json,sys; print(json.load(sys.stdin)['requests'])"; }
# timed LABEL CMD...: runs CMD once, prints "seconds requests" (requests seen by the proxy meanwhile).
timed() {
  local label=$1; shift
  local before t0 t1
  before=$(requests); t0=$(date +%s.%N)
  "$@" > "$WORK/out" 2> "$WORK/err" || { echo "$label failed:" >&2; cat "$WORK/err" >&2; exit 1; }
  t1=$(date +%s.%N)
  echo "$(python3 -c "print(f'{$t1 - $t0:.3f}')") $(( $(requests) - before ))"
}
# best LABEL SETUP CMD...: REPEAT runs (SETUP before each, untimed); the fastest run's time and requests.
best() {
  local label=$1 setup=$2; shift 2
  local b="" r
  for _ in $(seq "$REPEAT"); do
    eval "$setup"
    r=$(timed "$label" "$@")
    if [ -z "$b" ] || python3 -c "import sys; sys.exit(0 if float('${r% *}') < float('${b% *}') else 1)"; then b=$r; fi
  done
  echo "$b"
}
fresh() { rm -rf "$WORK/cache"; export TROVE_CACHE_DIR=$WORK/cache; }
S=s3://bench
trove() { "$TROVE" "$@"; }

declare -A T R
# Cold: a new store prefix per run for Trove, an emptied destination for rclone (both untimed).
n=0
T[cold]=$(best "trove cold" 'fresh; n=$((n+1)); export TROVE_STORE="$S/cold$n?endpoint=$ENDPOINT"' trove publish --json docs v1 "$WORK/tree")
R[cold]=$(best "rclone cold" 'rclone purge s3:bench/rclone-main >/dev/null 2>&1 || true' rclone sync --checksum --transfers 8 "$WORK/tree" s3:bench/rclone-main)
# The steady state both tools work from: one published copy each.
export TROVE_STORE="$S/main?endpoint=$ENDPOINT"
fresh; trove publish --json docs v1 "$WORK/tree" > /dev/null
rclone sync --checksum --transfers 8 "$WORK/tree" s3:bench/rclone-main
T[unchanged]=$(best "trove unchanged" fresh trove publish --json docs v1 "$WORK/tree")
R[unchanged]=$(best "rclone unchanged" : rclone sync --checksum --transfers 8 "$WORK/tree" s3:bench/rclone-main)
# One-page rebuild: each run appends a line to one page (a new build), then publishes / syncs it.
k=0
T[onepage]=$(best "trove one-page" 'fresh; k=$((k+1)); printf "\n<!-- trove build %s -->\n" $k >> "$WORK/tree/$PAGE"' trove publish --json docs v1 "$WORK/tree")
R[onepage]=$(best "rclone one-page" 'k=$((k+1)); printf "\n<!-- rclone build %s -->\n" $k >> "$WORK/tree/$PAGE"' rclone sync --checksum --transfers 8 "$WORK/tree" s3:bench/rclone-main)
# Both copies are the current tree; whole-version reads into fresh directories.
trove publish --json docs v1 "$WORK/tree" > /dev/null
rclone sync --checksum --transfers 8 "$WORK/tree" s3:bench/rclone-main
T[read]=$(best "trove export" 'fresh; rm -rf "$WORK/t-out"' trove export docs v1 "$WORK/t-out")
R[read]=$(best "rclone copy" 'rm -rf "$WORK/r-out"' rclone copy --transfers 8 s3:bench/rclone-main "$WORK/r-out")
diff -r -q "$WORK/tree" "$WORK/t-out" > /dev/null || { echo "trove export differs from the tree" >&2; exit 1; }
diff -r -q "$WORK/tree" "$WORK/r-out" > /dev/null || { echo "rclone copy differs from the tree" >&2; exit 1; }

FILES=$(find "$TREE" -type f | wc -l); BYTES=$(du -sb "$TREE" | cut -f1)
mkdir -p "$ROOT/bench/out"
{
  echo "Tree: \`$TREE\`, $FILES files, $((BYTES / 1024 / 1024)) MiB; one page: \`${PAGE#./}\`. Every request delayed ${LATENCY} ms by the proxy; moto with signature checks; best of $REPEAT runs; Trove with an empty cache each run; $(rclone version | head -1), --transfers 8. $(nproc) cores."
  echo
  echo "| operation at ${LATENCY} ms per request | rclone | Trove | Trove / rclone |"
  echo "|---|---|---|---:|"
  for step in cold unchanged onepage read; do
    case $step in
      cold) name="cold publish (\`sync --checksum\`)";; unchanged) name="unchanged republish";;
      onepage) name="one-page rebuild";; read) name="whole-version read (\`export\` vs \`rclone copy\`)";;
    esac
    t=${T[$step]}; r=${R[$step]}
    echo "| $name | ${r% *} s, ${r#* } requests | ${t% *} s, ${t#* } requests | $(python3 -c "print(f'{${t% *} / ${r% *}:.2f}x')") |"
  done
} | tee "$ROOT/bench/out/cloud-s3.md"
