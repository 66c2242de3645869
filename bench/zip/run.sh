#!/usr/bin/env bash
# bench/zip/run.sh [CORPUS] [WORKDIR]
#   CORPUS  default /work/corpus (bench/corpus/make-corpus.sh: build1, build2, build3)
#   WORKDIR default /tmp/trove-zip-bench (stores and repositories; wiped at each run)
#
# What a rebuild costs in stored bytes, per media type, with and without zip-aware chunking, beside
# restic and borg. Every (scenario, media, tool) cell is a fresh repository: publish/back up
# build1/<media>, measure (du -sb), then the rebuild's <media>, measure again; the increment is what
# the rebuild added. "all" is the whole RTD tree (html json epub htmlzip pdf) in one go.
#
# Scenarios (rebuilds of build1):
#   build3   the corpus' one-page edit, built with build1's SOURCE_DATE_EPOCH (zip entry dates equal)
#   build3r  build3 whose htmlzip and epub entries carry a later date (restamp.py): one page edited
#            and every archive member restamped, what an ordinary (not reproducible) rebuild does
#   build2   date-only rebuild (every page's "Last update" differs; archives restamped too)
# Tools: trove (zip-aware, the default), trove-plain (--no-zip-aware), restic (repo v2, compression
# auto), borg (zstd,3, encryption none) — the same settings as bench/peers/run-peers.sh.
# Env: SCENARIOS="build3 build3r build2", MEDIA="all htmlzip epub html json pdf",
#      TOOLS="trove trove-plain restic borg", TROVE=path/to/trove (default .build/release or debug).
# Output: Markdown on stdout and bench/out/zip.md, raw TSV in bench/out/zip.tsv.
set -euo pipefail

CORPUS=${1:-/work/corpus}
WORK=${2:-/tmp/trove-zip-bench}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUTDIR="$ROOT/bench/out"
SCENARIOS=${SCENARIOS:-build3 build3r build2}
MEDIA=${MEDIA:-all htmlzip epub html json pdf}
TOOLS=${TOOLS:-trove trove-plain restic borg}
EPOCH2=1733918400   # build2's date (2024-12-11T12:00:00Z)
if [ -z "${TROVE:-}" ]; then
  TROVE="$ROOT/.build/release/trove"; [ -x "$TROVE" ] || TROVE="$ROOT/.build/debug/trove"
fi
[ -x "$TROVE" ] || { echo "no trove binary at $TROVE: swift build first" >&2; exit 1; }
[ -d "$CORPUS/build1" ] || { echo "missing $CORPUS/build1: run bench/corpus/make-corpus.sh" >&2; exit 1; }
for t in $TOOLS; do
  case $t in restic|borg) command -v "$t" >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${t/borg/borgbackup}" >/dev/null; } ;; esac
done

rm -rf "$WORK"; mkdir -p "$WORK" "$OUTDIR"
TSV="$OUTDIR/zip.tsv"
echo -e "scenario\tmedia\ttool\ttree1_bytes\ttree2_bytes\tstored1\tstored2\tincrement\tmanifest2\tnote" > "$TSV"

# build3r: build3 with its archives restamped (hard links for everything else).
if [[ " $SCENARIOS " == *" build3r "* ]]; then
  [ -d "$CORPUS/build3" ] || { echo "missing $CORPUS/build3" >&2; exit 1; }
  R="$WORK/trees/build3r"; mkdir -p "$WORK/trees"; cp -al "$CORPUS/build3" "$R"
  for z in "$R"/htmlzip/*.zip "$R"/epub/*.epub; do
    rm "$z"; python3 "$HERE/restamp.py" "$CORPUS/build3/${z#"$R"/}" "$z" "$EPOCH2"
    touch -r "$CORPUS/build3/${z#"$R"/}" "$z"
  done
fi
tree() { if [ "$1" = build3r ]; then echo "$WORK/trees/build3r"; else echo "$CORPUS/$1"; fi; }
sub() { if [ "$2" = all ]; then echo "$1"; else echo "$1/$2"; fi; }
dusb() { du -sb "$1" | cut -f1; }

# run TOOL DIR REPO → publishes/backs up DIR into REPO; prints the manifest bytes (trove) or -
run() {
  local tool=$1 dir=$2 repo=$3
  case $tool in
    trove|trove-plain)
      local flag=(); [ "$tool" = trove-plain ] && flag=(--no-zip-aware)
      "$TROVE" publish bench latest "$dir" --store "file://$repo" --cache-dir "$repo.cache" --json "${flag[@]}" \
        --build-time 1733313600 > "$repo.last.json"
      python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["manifestBytes"], "packs=%d,zips=%d,zip_reused=%d" % (r["packBytes"], r["containerFiles"], r["containerReusedBytes"]))' "$repo.last.json" ;;
    restic)
      [ -d "$repo" ] || RESTIC_PASSWORD=trove-bench restic init -q --repository-version 2 -r "$repo" >/dev/null
      ( cd "$dir" && RESTIC_PASSWORD=trove-bench RESTIC_CACHE_DIR="$repo.cache" restic -r "$repo" backup -q --compression auto --host bench . )
      echo "- -" ;;
    borg)
      export BORG_BASE_DIR="$repo.home" BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
      [ -d "$repo" ] || borg init -e none "$repo"
      ( cd "$dir" && borg create --compression zstd,3 "$repo::$(basename "$(dirname "$dir")")-$(basename "$dir")-$RANDOM" . )
      echo "- -" ;;
  esac
}

for s in $SCENARIOS; do
  t2=$(tree "$s"); [ -d "$t2" ] || { echo "[zip] skip $s: $t2 missing" >&2; continue; }
  for m in $MEDIA; do
    d1=$(sub "$CORPUS/build1" "$m"); d2=$(sub "$t2" "$m")
    for tool in $TOOLS; do
      repo="$WORK/repos/$s-$m-$tool"; mkdir -p "$WORK/repos"
      run "$tool" "$d1" "$repo" > /dev/null
      a=$(dusb "$repo")
      read -r man note < <(run "$tool" "$d2" "$repo")
      b=$(dusb "$repo")
      echo -e "$s\t$m\t$tool\t$(dusb "$d1")\t$(dusb "$d2")\t$a\t$b\t$((b - a))\t$man\t$note" >> "$TSV"
      printf '[zip] %-8s %-8s %-12s +%s\n' "$s" "$m" "$tool" "$((b - a))" >&2
      rm -rf "$repo" "$repo".*
    done
  done
done

{
  echo "## Zip-aware chunking: what a rebuild adds to the store"
  echo
  echo "corpus \`$CORPUS\`; $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); $("$TROVE" --version 2>/dev/null || echo trove);" \
       "$(restic version 2>/dev/null | cut -d' ' -f1-2), $(borg --version 2>/dev/null)"
  echo
  echo "increment = bytes the rebuild added to a repository holding build1 (du -sb; KiB = 1024 B)."
  echo
  python3 - "$TSV" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
tools = []
for r in rows:
    if r["tool"] not in tools: tools.append(r["tool"])
def fmt(n):
    n = int(n)
    return "%.1f MiB" % (n / 1048576) if abs(n) >= 10 * 1048576 else "%.0f KiB" % (n / 1024)
for s in dict.fromkeys(r["scenario"] for r in rows):
    print("### rebuild %s\n" % s)
    print("| media | tree MiB | " + " | ".join(tools) + " |")
    print("|---|---:|" + "---:|" * len(tools))
    for m in dict.fromkeys(r["media"] for r in rows if r["scenario"] == s):
        cells = {r["tool"]: r for r in rows if r["scenario"] == s and r["media"] == m}
        tree = int(next(iter(cells.values()))["tree2_bytes"]) / 1048576
        print("| %s | %.1f | " % (m, tree) + " | ".join(fmt(cells[t]["increment"]) if t in cells else "" for t in tools) + " |")
    trove = [r for r in rows if r["scenario"] == s and r["tool"].startswith("trove")]
    if trove:
        print("\nTrove's increment split into new packs and the new version's manifest (zstd-compressed SQLite):\n")
        print("| media | tool | packs | manifest | zip bytes reused |")
        print("|---|---|---:|---:|---:|")
        for r in trove:
            note = dict(kv.split("=") for kv in r["note"].split(","))
            print("| %s | %s | %s | %s | %s |" % (r["media"], r["tool"], fmt(note["packs"]), fmt(r["manifest2"]),
                  fmt(note["zip_reused"]) if int(note["zips"]) else "-"))
    print()
PY
} | tee "$OUTDIR/zip.md"
