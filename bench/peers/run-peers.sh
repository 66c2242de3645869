#!/usr/bin/env bash
# run-peers.sh [CORPUS] [WORKDIR]
#   CORPUS  default /work/corpus (made by bench/corpus/make-corpus.sh)
#   WORKDIR default /work/peers-work (repositories; wiped at each run)
#
# Publishes the corpus trees in order build1 -> build2 -> build3 -> large into
# each peer tool, one run each, and reports the stored bytes after each step,
# the increment it cost, and the wall time of the step:
#   restic  local repo, repository format v2, --compression auto (the default),
#           fixed password; stored = du -sb of the repo dir.
#   borg    local repo, encryption none, --compression zstd,3;
#           stored = du -sb of the repo dir.
#   rsync   rsync -a --checksum --delete into one destination dir (rclone-sync
#           style: the destination only keeps the latest tree). "stored" is the
#           cumulative bytes transferred (a versioned bucket keeping every
#           upload); wall time is rsync's.
#   filecas whole-file content addressing (computed by copy_baseline.py): each
#           distinct file content stored once, uncompressed.
# Each tool backs up the build dir itself (cd OUT/buildN; backup .), so there
# is no parent-snapshot shortcut: every file is read and chunked.
# Output: Markdown to stdout and bench/out/peers.md, raw TSV in bench/out/peers.tsv.
# Env: PEERS_STEPS="build1 build2 build3 large" (default), PEERS_TOOLS="restic borg rsync".
set -euo pipefail

CORPUS=${1:-/work/corpus}
WORKDIR=${2:-/work/peers-work}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUTDIR="$HERE/../out"
STEPS=${PEERS_STEPS:-build1 build2 build3 large}
TOOLS=${PEERS_TOOLS:-trove restic borg rsync}
TROVE=${TROVE:-$HERE/../../.build/release/trove}

for s in $STEPS; do
  [ -d "$CORPUS/$s" ] || { echo "missing $CORPUS/$s: run bench/corpus/make-corpus.sh first" >&2; exit 1; }
done

need=()
command -v restic >/dev/null || need+=(restic)
command -v borg >/dev/null || need+=(borgbackup)
command -v rsync >/dev/null || need+=(rsync)
if [ ${#need[@]} -gt 0 ]; then
  echo "[peers] apt-get install ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

mkdir -p "$OUTDIR"
rm -rf "$WORKDIR"
mkdir -p "$WORKDIR"
TSV="$OUTDIR/peers.tsv"
echo -e "tool\tstep\ttree_bytes\tstored_bytes\tincrement_bytes\twall_s" > "$TSV"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }
dusb() { du -sb "$1" | cut -f1; }                                     # repo on disk
fbytes() { find "$1" -type f -printf '%s\n' | awk '{s+=$1} END{print s+0}'; }  # file bytes of a tree

record() {  # tool step tree_bytes stored prev_stored wall
  echo -e "$1\t$2\t$3\t$4\t$(( $4 - $5 ))\t$6" >> "$TSV"
  printf '[peers] %-7s %-7s stored=%s (+%s) in %ss\n' "$1" "$2" "$4" "$(( $4 - $5 ))" "$6"
}

# ---------------------------------------------------------------- trove (same trees, same run)
if [[ " $TOOLS " == *" trove "* ]]; then
  [ -x "$TROVE" ] || make -s -C "$HERE/../.." release >/dev/null
  store="$WORKDIR/trove-store"
  export TROVE_CACHE_DIR="$WORKDIR/trove-cache"
  mkdir -p "$store"
  prev=$(dusb "$store")
  for s in $STEPS; do
    # every build goes to one version (the rebuild case); large/ is its own project
    if [[ $s == build* ]]; then pv=(bench latest); else pv=("$s" v1); fi
    t=$(now)
    "$TROVE" publish "${pv[@]}" "$CORPUS/$s" --store "file://$store" >/dev/null
    w=$(elapsed "$t" "$(now)")
    cur=$(dusb "$store")
    record trove "$s" "$(fbytes "$CORPUS/$s")" "$cur" "$prev" "$w"
    prev=$cur
  done
  unset TROVE_CACHE_DIR
fi

# ---------------------------------------------------------------- restic
if [[ " $TOOLS " == *" restic "* ]]; then
  export RESTIC_REPOSITORY="$WORKDIR/restic-repo" RESTIC_PASSWORD=trove-bench
  export RESTIC_CACHE_DIR="$WORKDIR/restic-cache"
  restic init --repository-version 2 -q
  prev=$(dusb "$RESTIC_REPOSITORY")
  for s in $STEPS; do
    t=$(now)
    ( cd "$CORPUS/$s" && restic backup -q --compression auto --host bench --tag "$s" . )
    w=$(elapsed "$t" "$(now)")
    cur=$(dusb "$RESTIC_REPOSITORY")
    record restic "$s" "$(fbytes "$CORPUS/$s")" "$cur" "$prev" "$w"
    prev=$cur
  done
  restic version | sed 's/^/[peers] /'
  unset RESTIC_REPOSITORY RESTIC_PASSWORD RESTIC_CACHE_DIR
fi

# ---------------------------------------------------------------- borg
if [[ " $TOOLS " == *" borg "* ]]; then
  export BORG_REPO="$WORKDIR/borg-repo" BORG_BASE_DIR="$WORKDIR/borg-home"
  export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
  borg init -e none "$BORG_REPO"
  prev=$(dusb "$BORG_REPO")
  for s in $STEPS; do
    t=$(now)
    ( cd "$CORPUS/$s" && borg create --compression zstd,3 "::$s" . )
    w=$(elapsed "$t" "$(now)")
    cur=$(dusb "$BORG_REPO")
    record borg "$s" "$(fbytes "$CORPUS/$s")" "$cur" "$prev" "$w"
    prev=$cur
  done
  echo "[peers] $(borg --version)"
  unset BORG_REPO BORG_BASE_DIR
fi

# ---------------------------------------------------------------- rsync + file CAS
if [[ " $TOOLS " == *" rsync "* ]]; then
  dest="$WORKDIR/rsync-dest"
  mkdir -p "$dest"
  stored=0
  for s in $STEPS; do
    # builds sync into the same site dir; large/ is its own destination
    d="$dest/site"; [[ $s == build* ]] || d="$dest/$s"
    mkdir -p "$d"
    t=$(now)
    sent=$(rsync -a --checksum --delete --stats "$CORPUS/$s/" "$d/" \
           | awk -F': ' '/^Total transferred file size/{gsub(/[ ,]|bytes/,"",$2); print $2}')
    w=$(elapsed "$t" "$(now)")
    record rsync "$s" "$(fbytes "$CORPUS/$s")" "$(( stored + sent ))" "$stored" "$w"
    stored=$(( stored + sent ))
  done
  echo "[peers] $(rsync --version | head -1)"
fi

t=$(now)
python3 "$HERE/copy_baseline.py" "$CORPUS" $STEPS > "$OUTDIR/copy_baseline.tsv"
w=$(elapsed "$t" "$(now)")
awk -F'\t' -v OFS='\t' -v w="$w" '$1=="filecas"{print "filecas",$2,$3,$7,$6,"(hash)"}' "$OUTDIR/copy_baseline.tsv" >> "$TSV"

# ---------------------------------------------------------------- report
{
  echo "## Peer tools on the Trove bench corpus"
  echo
  echo "corpus: \`$CORPUS\`; $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ);" \
       "$(restic version 2>/dev/null | cut -d' ' -f1-2), $(borg --version 2>/dev/null), $(rsync --version | head -1 | cut -d' ' -f1-4)"
  echo
  echo "stored = repository size after the step (du -sb; rsync/filecas: cumulative bytes uploaded);"
  echo "increment = what the step added; MiB = 2^20 bytes."
  echo
  echo "| tool | step | tree MiB | stored MiB | increment MiB | increment % of tree | wall s |"
  echo "|---|---|---:|---:|---:|---:|---:|"
  awk -F'\t' 'NR>1{printf "| %s | %s | %.2f | %.2f | %.2f | %.1f%% | %s |\n",
      $1,$2,$3/1048576,$4/1048576,$5/1048576,($3>0?100*$5/$3:0),$6}' "$TSV"
  echo
  echo "### What changed between builds (whole files, by media type; vs previous build)"
  echo
  echo "| step | media | files | MiB | changed files | changed MiB |"
  echo "|---|---|---:|---:|---:|---:|"
  awk -F'\t' '$1=="media" && $2!="step"{printf "| %s | %s | %s | %.2f | %s | %.2f |\n",$2,$3,$4,$5/1048576,$6,$7/1048576}' \
      "$OUTDIR/copy_baseline.tsv"
  echo
  echo "### Trove vs peers, same run (increment of each step; ratio = peer / trove, higher is better for trove)"
  echo
  python3 - "$TSV" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
inc = {(r["tool"], r["step"]): int(r["increment_bytes"]) for r in rows}
tools = [t for t in ("restic", "borg", "rsync", "filecas") if any(k[0] == t for k in inc)]
steps = [r["step"] for r in rows if r["tool"] == "trove"]
if steps:
    print("| step | trove MiB | " + " | ".join(f"{t} MiB (×)" for t in tools) + " |")
    print("|---|---:|" + "---:|" * len(tools))
    for s in steps:
        tv = inc[("trove", s)]
        cells = []
        for t in tools:
            v = inc.get((t, s))
            cells.append("-" if v is None else f"{v/1048576:.2f} ({v/max(tv,1):.1f}×)")
        print(f"| {s} | {tv/1048576:.2f} | " + " | ".join(cells) + " |")
PY
} | tee "$OUTDIR/peers.md"
