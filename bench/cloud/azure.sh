#!/usr/bin/env bash
# bench/cloud/azure.sh [TREE]
#   TREE  a docs build (default /work/corpus/build1/html, from bench/corpus/make-corpus.sh)
#
# Trove on azure:// side by side with `rclone sync --checksum` (rclone's azureblob backend), both
# against the Azure test server (Tests/azureserver/azure_server.py, every signature checked with the
# SDK's code) on loopback: a cold publish of TREE, then a one-page rebuild (one page of TREE gets a
# line appended). Requests are counted by the server (by operation), wall time by this script.
# Output: a Markdown table on stdout and bench/out/azure.md.
# Env: TROVE (default .build/release/trove, else .build/debug/trove).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TREE=${1:-/work/corpus/build1/html}
TROVE=${TROVE:-$ROOT/.build/release/trove}
[ -x "$TROVE" ] || TROVE=$ROOT/.build/debug/trove
[ -x "$TROVE" ] || { echo "no trove binary: make release" >&2; exit 1; }
[ -d "$TREE" ] || { echo "missing $TREE: run bench/corpus/make-corpus.sh, or pass a docs tree" >&2; exit 1; }
command -v rclone >/dev/null || { echo "[azure] apt-get install rclone"; apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone >/dev/null; }
python3 -c "import azure.storage.blob" 2>/dev/null || python3 -m pip install -q azure-storage-blob

WORK=$(mktemp -d /tmp/trove-azure-bench.XXXXXX)
mkfifo "$WORK/stdin"
python3 "$ROOT/Tests/azureserver/azure_server.py" --port 0 < "$WORK/stdin" > "$WORK/server.json" 2> "$WORK/server.log" &
SERVER=$!
exec 9> "$WORK/stdin"   # the server runs until this closes
cleanup() { exec 9>&-; wait "$SERVER" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
until [ -s "$WORK/server.json" ]; do kill -0 "$SERVER" || { cat "$WORK/server.log"; exit 1; }; sleep 0.1; done
field() { python3 -c "import json,sys; print(json.load(open('$WORK/server.json'))['$1'])"; }
ENDPOINT=$(field endpoint); KEY=$(field key); ACCOUNT=$(field account); PORT=$(field port)
STATS="http://127.0.0.1:$PORT/__azure/stats"

cp -a "$TREE" "$WORK/tree"
PAGE=$(cd "$WORK/tree" && find . -name '*.html' -size +4k | sort | sed -n 10p)
# Counts requests the server saw during a command (excluding the stats calls themselves).
run() {  # run NAME CMD...
  local name=$1; shift
  local before after t0 t1
  before=$(curl -s "$STATS")
  t0=$(date +%s.%N)
  "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" || { echo "$name failed:"; cat "$WORK/$name.err"; exit 1; }
  t1=$(date +%s.%N)
  after=$(curl -s "$STATS")
  python3 - "$name" "$before" "$after" "$t0" "$t1" >> "$WORK/rows.tsv" <<'PY'
import json, sys
name, b, a, t0, t1 = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
ops = {k: a.get(k, 0) - b.get(k, 0) for k in a if k not in ("requests", "connections", "auth_failures")}
ops = {k: v for k, v in ops.items() if v}
print("\t".join([name, str(a["requests"] - b["requests"]), f"{t1 - t0:.2f}", ", ".join(f"{v} {k}" for k, v in sorted(ops.items()))]))
PY
}

export AZURE_STORAGE_ACCOUNT=$ACCOUNT AZURE_STORAGE_KEY=$KEY HOME=$WORK TROVE_CACHE_DIR=$WORK/cache
export TROVE_STORE="azure://trove-test/trove-bench?endpoint=$ENDPOINT"
# rclone 1.60's azureblob takes `endpoint` as a host suffix (https://ACCOUNT.ENDPOINT), so it reaches a
# path-style server through a container SAS URL (the server's SDK-made SAS, all permissions).
SAS=$(curl -s "http://127.0.0.1:$PORT/__azure/sas?container=trove-test&permissions=racwdl&expires_in=7200")
export RCLONE_CONFIG_AZ_TYPE=azureblob RCLONE_CONFIG_AZ_SAS_URL="$ENDPOINT/trove-test?$SAS"

run "trove cold publish" "$TROVE" publish --json docs v1 "$WORK/tree"
run "rclone cold sync" rclone sync --checksum "$WORK/tree" az:trove-test/rclone-bench
printf '\n<!-- rebuilt -->\n' >> "$WORK/tree/$PAGE"
run "trove one-page rebuild" "$TROVE" publish --json docs v1 "$WORK/tree"
run "rclone one-page rebuild" rclone sync --checksum "$WORK/tree" az:trove-test/rclone-bench
run "trove unchanged republish" "$TROVE" publish --json docs v1 "$WORK/tree"
run "rclone unchanged sync" rclone sync --checksum "$WORK/tree" az:trove-test/rclone-bench
# Both copies read back identical to the tree.
"$TROVE" export docs v1 "$WORK/trove-out" >/dev/null && diff -r -q "$WORK/tree" "$WORK/trove-out" >/dev/null
rclone check --checksum "$WORK/tree" az:trove-test/rclone-bench 2>/dev/null

FILES=$(find "$TREE" -type f | wc -l); BYTES=$(du -sb "$TREE" | cut -f1)
PACKS=$(python3 -c "import json; print(json.load(open('$WORK/trove cold publish.out'))['packs'])")
mkdir -p "$ROOT/bench/out"
{
  echo "Tree: \`$TREE\`, $FILES files, $((BYTES / 1024 / 1024)) MiB; one page: \`${PAGE#./}\`. Trove: \`$(basename "$(dirname "$TROVE")")\` build, $PACKS packs on the cold publish. $(rclone version | head -1)."
  echo
  echo "| step | requests | wall s | by operation |"
  echo "|---|---:|---:|---|"
  while IFS=$'\t' read -r name n secs ops; do echo "| $name | $n | $secs | $ops |"; done < "$WORK/rows.tsv"
} | tee "$ROOT/bench/out/azure.md"
