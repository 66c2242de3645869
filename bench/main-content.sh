#!/usr/bin/env bash
# bench/main-content.sh [CORPUS=/work/corpus]
#
# What main-content digests (`MainContent`, docs/storage-format.md) cost a cold publish: the docs
# build (build1) published cold into a fresh store with `publish.main_content` on and off, alternating,
# REPEAT times each (default 5; ABBA order), timed as bench/run.sh times section 2, beside this machine's
# SHA-256+zstd limit measured in the same run (`trove-bench micro`); best and median of each, and the
# ratio of each to the limit, and the paired difference with an approximate 95% interval. Then
# `trove diff` on the corpus' rebuilds (build1 → build2 footer dates, build1 → build3 one-page edit),
# with the default selector list and with Django's theme's `#yui-main` added. Output on stdout and bench/out/main-content.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=${1:-${CORPUS:-/work/corpus}}
REPEAT=${REPEAT:-5}
OUT=bench/out
mkdir -p "$OUT"
[ -d "$CORPUS/build1" ] || bench/corpus/make-corpus.sh "$CORPUS"
make -s bench-tools >/dev/null 2>&1 || make bench-tools
TROVE=$PWD/.build/release/trove
BENCH=$PWD/.build/release/trove-bench
WORK=$(mktemp -d /tmp/trove-main-content.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
exec > >(tee "$OUT/main-content.txt") 2>&1

echo "== limit and main-content scan (trove-bench micro $CORPUS/build1)"
"$BENCH" micro "$CORPUS/build1" > "$WORK/micro.txt"
grep -E "limit|main-content|SHA-256, 1 core" "$WORK/micro.txt"

echo; echo "== cold docs publish, main-content digests on / off, alternating, $REPEAT runs each"
find "$CORPUS/build1" -type f -exec cat {} + >/dev/null
cold() { # label on|off
  local t0 t1
  sync
  t0=$(date +%s.%N)
  TROVE_PUBLISH_MAIN_CONTENT=$2 TROVE_CACHE_DIR=$WORK/cache-$1 "$TROVE" publish bench v1 "$CORPUS/build1" \
    --store "file://$WORK/store-$1" --json > "$WORK/$1.json"
  t1=$(date +%s.%N)
  echo "$t0 $t1" > "$WORK/$1.time"
  rm -rf "$WORK/store-$1" "$WORK/cache-$1"
}
# ABBA order (on, off, off, on, …) so a drift in the machine's speed falls on both sides.
for i in $(seq "$REPEAT"); do
  if [ $((i % 2)) = 1 ]; then cold "on-$i" true; cold "off-$i" false; else cold "off-$i" false; cold "on-$i" true; fi
done
python3 - "$WORK" "$REPEAT" <<'PY'
import json, statistics, sys
work, n = sys.argv[1], int(sys.argv[2])
micro = next(json.loads(l) for l in open(f"{work}/micro.txt") if l.startswith("{"))
limit = micro["hash_compress_limit_all_cores"]
def runs(mode):
    out = []
    for i in range(1, n + 1):
        t0, t1 = map(float, open(f"{work}/{mode}-{i}.time").read().split())
        r = json.load(open(f"{work}/{mode}-{i}.json"))
        out.append((t1 - t0, r["logicalBytes"]))
    return out
rows = {}
for mode in ("off", "on"):
    r = runs(mode)
    secs = sorted(s for s, _ in r)
    b = r[0][1]
    best, med = secs[0], statistics.median(secs)
    rows[mode] = (best, med)
    print(f"main content {mode:<3}  best {best:.3f} s = {b / best / 1e9:.3f} GB/s = {b / best / 1e9 / limit:.0%} of the {limit:.3f} GB/s limit"
          f"   median {med:.3f} s = {b / med / 1e9 / limit:.0%}   all: {' '.join(f'{s:.3f}' for s, _ in r)}")
print(f"cost of main-content digests: best {rows['on'][0] / rows['off'][0] - 1:+.1%}, median {rows['on'][1] / rows['off'][1] - 1:+.1%} of the cold publish wall time")
# Paired differences (each round's on minus its off): their mean and an approximate 95% interval.
pairs = [a - b for (a, _), (b, _) in zip(runs("on"), runs("off"))]
mean = statistics.mean(pairs)
half = 2 * statistics.stdev(pairs) / len(pairs) ** 0.5 if len(pairs) > 1 else float("nan")
base = statistics.median(s for s, _ in runs("off"))
print(f"paired difference on - off: {mean * 1000:+.1f} ms ± {half * 1000:.1f} ms (≈95%) = {mean / base:+.1%} ± {half / base:.1%} of the median off run")
html, rate = micro["html_bytes"], micro["main_content_1core"]
print(f"scan + SHA-256 of {html / 1e6:.1f} MB of HTML at {rate:.2f} GB/s on one core = {html / rate / 1e6:.1f} ms of CPU")
PY

echo; echo "== trove diff on the corpus (build1 = v1, build2 = footer dates, build3 = one-page edit)"
# Twice: with the default selector list, and with Django's theme's content element added (its pages
# match no default selector, so the whole <body>, with its "Last update" date, would be digested).
DJANGO="[role=main], main, div.body, article, #yui-main"
export TROVE_CACHE_DIR=$WORK/diff-cache
for list in default django; do
  S=$WORK/diff-store-$list
  if [ $list = django ]; then export TROVE_PUBLISH_MAIN_CONTENT_SELECTORS="$DJANGO"; else unset TROVE_PUBLISH_MAIN_CONTENT_SELECTORS; fi
  echo; echo "--- selectors: ${TROVE_PUBLISH_MAIN_CONTENT_SELECTORS:-default ([role=main], main, div.body, article)}"
  for b in 1 2 3; do "$TROVE" publish docs "build$b" "$CORPUS/build$b" --store "file://$S" --json > /dev/null; done
  for head in build2 build3; do
    echo "-- trove diff docs build1 $head  (text: summary and the first lines of each kind)"
    "$TROVE" diff docs build1 "$head" --store "file://$S" > "$WORK/$head.txt"
    head -1 "$WORK/$head.txt"
    for k in A D R; do grep "^$k " "$WORK/$head.txt" | head -3 || true; done
    grep "^M .*(main content changed)" "$WORK/$head.txt" | head -5 || true
    grep "^M .*(only around" "$WORK/$head.txt" | head -2 || true
    grep -E "^M [^(]*$" "$WORK/$head.txt" | head -3 || true
    "$TROVE" diff docs build1 "$head" --store "file://$S" --json > "$WORK/$head.json"
    python3 - "$WORK/$head.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
m = d["modified"]
flags = {k: sum(1 for x in m if x["main_content_changed"] is v) for k, v in (("true", True), ("false", False), ("null", None))}
print(f"   json: {len(d['added'])} added, {len(d['deleted'])} deleted, {len(d['renamed'])} renamed, {len(m)} modified; main_content_changed {flags}")
print("   json excerpt:", json.dumps({**d, "modified": m[:2]}, separators=(",", ":")))
PY
  done
done
