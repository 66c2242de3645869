#!/usr/bin/env bash
# Chunk- and pack-size sweep on a real rebuild: for each setting, publish build1 then build2 (every
# page's footer date changed) into a fresh local store and report stored bytes (packs + manifest +
# dictionary), the rebuild's new bytes, and store requests. This is how the defaults were chosen
# (docs/storage-format.md, docs/benchmarks.md).
#   bench/sizes.sh [CORPUS=/work/corpus] [SUBDIR=html]
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=${1:-/work/corpus}
SUB=${2:-html}
TROVE=$PWD/.build/release/trove
[ -x "$TROVE" ] || make -s release >/dev/null
WORK=$(mktemp -d /tmp/trove-sizes.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
printf "%-22s %-7s %-5s %12s %12s %12s %10s %8s %8s\n" chunks pack dict build1_MiB rebuild_MiB manifest_KiB chunks_b1 PUT_b1 PUT_b2
for chunk in 1KiB/4KiB/32KiB 2KiB/8KiB/64KiB 4KiB/16KiB/128KiB 16KiB/64KiB/256KiB; do
  for pack in 4MiB; do
    for dict in yes no; do
      S=$WORK/$RANDOM
      flags=(--chunk-size "$chunk" --pack-size "$pack" --json)
      [ $dict = no ] && flags+=(--no-dictionary)
      TROVE_CACHE_DIR=$S/cache "$TROVE" publish p v "$CORPUS/build1/$SUB" --store "file://$S/store" "${flags[@]}" > "$S.1.json"
      TROVE_CACHE_DIR=$S/cache "$TROVE" publish p v "$CORPUS/build2/$SUB" --store "file://$S/store" "${flags[@]}" > "$S.2.json"
      python3 - "$S.1.json" "$S.2.json" "$chunk" "$pack" "$dict" <<'PY'
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print(f"{sys.argv[3]:<22} {sys.argv[4]:<7} {sys.argv[5]:<5} {(a['packBytes']+a['manifestBytes'])/1048576:12.2f} "
      f"{(b['packBytes']+b['manifestBytes'])/1048576:12.2f} {b['manifestBytes']/1024:12.0f} {a['chunks']:10d} "
      f"{a['requests']['puts']:8d} {b['requests']['puts']:8d}")
PY
    done
  done
done
for pack in 1MiB 16MiB; do
  S=$WORK/$RANDOM
  TROVE_CACHE_DIR=$S/cache "$TROVE" publish p v "$CORPUS/build1/$SUB" --store "file://$S/store" --pack-size $pack --json > "$S.1.json"
  python3 -c "import json,sys; a=json.load(open(sys.argv[1])); print(f'pack {sys.argv[2]}: {a[\"packs\"]} packs, {a[\"requests\"][\"puts\"]} PUTs for {a[\"newStoredBytes\"]/1048576:.1f} MiB')" "$S.1.json" $pack
done
