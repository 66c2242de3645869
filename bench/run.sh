#!/usr/bin/env bash
# Trove's benchmark harness: one run, side by side, ratios over absolute times (this is a shared
# 2-core machine). Results go to bench/out/; docs/benchmarks.md records a run and this command.
#
#   bench/run.sh [CORPUS=/work/corpus]
#   TROVE=/path/to/other/trove OUT=/tmp/out-other bench/run.sh     (another build, same harness)
#
# 1. micro: FastCDC, SHA-256, zstd on the real docs build, against the hash+compress limit
# 2. publish throughput: cold publish and unchanged republish, docs tree and large files (REPEAT=3 each)
# 3. dedup: footer-date rebuild (build2) and one-page edit (build3), stored bytes and requests
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=${1:-${CORPUS:-/work/corpus}}
# TROVE, BENCH, OUT: another build's binaries and output directory, to compare two builds side by side
# (docs/benchmarks.md); without TROVE the release binaries are built first.
OUT=${OUT:-bench/out}
mkdir -p "$OUT"
[ -d "$CORPUS/build1" ] || bench/corpus/make-corpus.sh "$CORPUS"
if [ -z "${TROVE:-}" ]; then make -s bench-tools >/dev/null 2>&1 || make bench-tools; fi
TROVE=${TROVE:-$PWD/.build/release/trove}
BENCH=${BENCH:-$PWD/.build/release/trove-bench}
WORK=$(mktemp -d /tmp/trove-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

echo "== 1. micro-benchmarks on $CORPUS/build1 (one process, same run)"
"$BENCH" micro "$CORPUS/build1" | tee "$OUT/micro.txt"

json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, d))" "$@"; }
timed_publish() { # label store project version dir
  local label=$1 store=$2; shift 2
  local t0 t1
  sync
  t0=$(date +%s.%N)
  TROVE_CACHE_DIR=$WORK/cache-$label "$TROVE" publish "$@" --store "file://$store" --json > "$WORK/$label.json" || true
  t1=$(date +%s.%N)
  python3 - "$WORK/$label.json" "$t0" "$t1" "$label" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); secs = float(sys.argv[3]) - float(sys.argv[2])
json.dump({"seconds": secs, "bytes": r["logicalBytes"], "files": r["files"]}, open(sys.argv[1] + ".timing", "w"))
print(f"{sys.argv[4]:<28} {r['files']:>7} files {r['logicalBytes']/1e6:>9.1f} MB  {secs:6.2f} s  "
      f"{r['logicalBytes']/secs/1e9:6.3f} GB/s  {r['files']/secs:9.0f} files/s  new {r['newStoredBytes']/1048576:8.2f} MiB stored, "
      f"manifest {r['manifestBytes']/1048576:.2f} MiB, {r['requests']['puts']} PUT")
PY
}

echo; echo "== 2. publish throughput (release build, local store, page cache warm)"
cat "$CORPUS"/build1 -r >/dev/null 2>&1 || true
find "$CORPUS/build1" "$CORPUS/large" -type f -exec cat {} + >/dev/null
# Each timed run $REPEAT times (the cold one into a fresh store each time): the targets below take the
# best run, as every micro-benchmark (the limit too) reports the best of its repetitions.
REPEAT=${REPEAT:-3}
for i in $(seq "$REPEAT"); do
  timed_publish docs-cold-$i "$WORK/s1-$i" bench v1 "$CORPUS/build1"
  timed_publish docs-unchanged-$i "$WORK/s1-$i" bench v1 "$CORPUS/build1"
done
timed_publish docs-as-new-version "$WORK/s1-1" bench v2 "$CORPUS/build1"
timed_publish large-cold "$WORK/s2" large v1 "$CORPUS/large"
for i in $(seq "$REPEAT"); do timed_publish large-unchanged-$i "$WORK/s2" large v1 "$CORPUS/large"; done

echo; echo "== 3. dedup on rebuilds (stored bytes; all media types)"
S=$WORK/s3
timed_publish build1 "$S" docs latest "$CORPUS/build1"
timed_publish build2-footer-dates "$S" docs latest "$CORPUS/build2"
timed_publish build3-one-page "$S" docs latest "$CORPUS/build3"
du -sb "$S" | awk '{printf "store after 3 builds: %.2f MiB\n", $1/1048576}'
for d in html htmlzip epub json pdf; do
  [ -d "$CORPUS/build1/$d" ] || continue
  S2=$WORK/s-$d
  timed_publish "$d-build1" "$S2" docs latest "$CORPUS/build1/$d" >/dev/null
  timed_publish "$d-build2" "$S2" docs latest "$CORPUS/build2/$d"
done

echo; echo "== targets (issue 2), this run: best of $REPEAT runs (median in parentheses)"
python3 - "$OUT/micro.txt" "$WORK" "$REPEAT" <<'PY'
import json, statistics, sys
micro = next(json.loads(l) for l in open(sys.argv[1]) if l.startswith("{"))
runs = lambda label: [json.load(open(f"{sys.argv[2]}/{label}-{i}.json.timing")) for i in range(1, int(sys.argv[3]) + 1)]
def line(what, value, target, ok):
    print(f"{what:<26} {value:<58} target {target:<11} {'ok' if ok else 'MISSED'}")
def rates(label, per):
    r = sorted((x[per] / x["seconds"] for x in runs(label)), reverse=True)
    return r[0], statistics.median(r)
limit = micro["hash_compress_limit_all_cores"]
best, med = rates("docs-cold", "bytes")
line("cold docs publish", f"{best / 1e9:.3f} GB/s = {best / 1e9 / limit:.0%} of the {limit:.3f} GB/s limit ({med / 1e9 / limit:.0%})",
     ">= 60%", best / 1e9 / limit >= 0.6)
best, med = rates("docs-unchanged", "files")
line("unchanged docs republish", f"{best:,.0f} files/s ({med:,.0f})", ">= 20,000", best >= 20000)
best, med = rates("large-unchanged", "bytes")
line("unchanged large files", f"{best / 1e9:.3f} GB/s ({med / 1e9:.3f})", ">= 1 GB/s", best >= 1e9)
c = micro["chunker_1core"]
line("FastCDC, 1 core", f"{c:.2f} GB/s", ">= 1.5 GB/s", c >= 1.5)
PY
