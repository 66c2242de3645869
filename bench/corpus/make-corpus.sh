#!/usr/bin/env bash
# make-corpus.sh [OUT]  (default OUT=/work/corpus, or $OUT)
#
# Builds Trove's benchmark corpus: a REAL documentation site (Django 5.1.4's
# docs, ~600 pages, taken from the Django sdist on PyPI) built with a pinned
# Sphinx into Read the Docs' media-type layout, plus two rebuilds and a set of
# large seeded files. Needs only PyPI (pip) and python3 >= 3.9; no network is
# used at build time (intersphinx is disabled).
#
#   OUT/build1/{html,json,epub,htmlzip,pdf}  first publish (date 2024-12-04)
#   OUT/build2/...   identical sources, rebuilt with another date (2024-12-11):
#                    every page's "Last update:" sidebar text differs (all pages
#                    but the root index.html, whose theme block has no sidebar),
#                    globalcontext.json, the epub (dates in OPF/cover + zip entry
#                    dates), htmlzip (entry dates + changed html) and the pdf
#                    (Info dict dates + trailer /ID) differ.
#   OUT/build3/...   build1 (same date) with one paragraph of
#                    topics/http/sessions.txt edited: that page's html/_sources/
#                    fjson, the search indexes, epub, htmlzip and one stream in
#                    the middle of the pdf change (for zip-container dedup tests).
#   OUT/large/       random-200MiB.bin, random-200MiB-insert4k.bin (same bytes
#                    with 4 KiB inserted at an unaligned offset ~100 MiB),
#                    text-50MiB.txt (word salad drawn from the docs' vocabulary).
#
# Media types:
#   html/     sphinx-build -b html (Django's own djangodocs theme, shipped in
#             the sdist; html_last_updated_fmt is the project's "%b %d, %Y")
#   json/     sphinx-build -b json (what RTD indexes for search)
#   epub/     sphinx-build -b epub, only the .epub kept; repacked with entry
#             dates = SOURCE_DATE_EPOCH so it is byte-reproducible
#   htmlzip/  zip (deflate level 6, sorted entries, dates = SOURCE_DATE_EPOCH)
#             of html/ under a top-level "django/" folder, like RTD's htmlzip
#   pdf/      NOT A REAL PDF. LaTeX is not installed, so pdf/django.pdf is a
#             synthetic ~5 MiB PDF-shaped file: real PDF header/objects/xref
#             around 80 x 64 KiB streams of incompressible seeded bytes. It
#             stands in for large binary artifacts. A date-only rebuild changes
#             only the Info dates near the start and the /ID at the end (as a
#             pdflatex rebuild mostly would); build3 replaces one stream in the
#             middle by a 517-byte-longer one (shifting later offsets).
#
# Deterministic: pinned pip versions, sdist sha256 checked, SOURCE_DATE_EPOCH,
# PYTHONHASHSEED=0, TZ=UTC, LC_ALL=C.UTF-8, fixed build paths (OUT/.work/src),
# all mtimes normalised to the build's date. Idempotent: each finished step
# leaves a marker in OUT/.work and is skipped next time (delete OUT/.work/*.done
# or OUT/buildN to redo a step). Logs: OUT/.work/logs/.
set -euo pipefail

OUT=${1:-${OUT:-/work/corpus}}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOL="$HERE/corpus_tool.py"
PYTHON=${PYTHON:-python3}

DJANGO_VERSION=5.1.4
DJANGO_SDIST_SHA256=de450c09e91879fa5a307f696e57c851955c910a438a35e6b4c895e86bedc82a
EPOCH1=1733313600   # 2024-12-04T12:00:00Z (Django 5.1.4's release day)
EPOCH2=1733918400   # 2024-12-11T12:00:00Z

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK="$OUT/.work"
VENV="$OUT/.venv"
mkdir -p "$WORK/logs"

export PYTHONHASHSEED=0 TZ=UTC LC_ALL=C.UTF-8 PIP_DISABLE_PIP_VERSION_CHECK=1

T_START=$(date +%s)
TIMINGS="$WORK/timings.tsv"
: > "$TIMINGS.run"
step_time() { echo -e "$1\t$2" >> "$TIMINGS.run"; }
log() { echo "[make-corpus] $*"; }

# ---------------------------------------------------------------- 1. venv
REQS="$WORK/requirements.txt"
cat > "$REQS" <<'EOF'
Sphinx==7.4.7
alabaster==0.7.16
babel==2.19.0
docutils==0.21.2
imagesize==2.0.1
Jinja2==3.1.6
MarkupSafe==3.0.4
packaging==26.4
Pygments==2.21.0
requests==2.34.2
certifi==2026.10.19.post1
charset-normalizer==3.5.3
idna==3.20
urllib3==2.8.0
snowballstemmer==3.1.1
sphinxcontrib-applehelp==2.0.0
sphinxcontrib-devhelp==2.0.0
sphinxcontrib-htmlhelp==2.1.0
sphinxcontrib-jsmath==2.0.0
sphinxcontrib-qthelp==2.0.0
sphinxcontrib-serializinghtml==2.0.0
EOF
if [ -f "$WORK/venv.done" ] && cmp -s "$REQS" "$WORK/venv.done" && [ -x "$VENV/bin/sphinx-build" ]; then
  log "venv: ok ($VENV)"
else
  t=$(date +%s)
  log "venv: creating $VENV with pinned Sphinx"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$REQS"
  cp "$REQS" "$WORK/venv.done"
  step_time venv $(( $(date +%s) - t ))
fi
PY="$VENV/bin/python"
SPHINX="$VENV/bin/sphinx-build"
log "$("$SPHINX" --version)"

# ---------------------------------------------------------------- 2. sources
PRISTINE="$WORK/django-$DJANGO_VERSION"
if [ -f "$WORK/source.done" ] && [ -d "$PRISTINE/docs" ]; then
  log "source: ok ($PRISTINE)"
else
  t=$(date +%s)
  mkdir -p "$WORK/dl"
  SDIST="$WORK/dl/django-$DJANGO_VERSION.tar.gz"
  if [ ! -f "$SDIST" ]; then
    log "source: pip download --no-binary :all: django==$DJANGO_VERSION"
    "$VENV/bin/pip" download -q --no-deps --no-binary :all: "django==$DJANGO_VERSION" -d "$WORK/dl/tmp"
    mv "$WORK/dl/tmp/"*.tar.gz "$SDIST"
    rm -rf "$WORK/dl/tmp"
  fi
  echo "$DJANGO_SDIST_SHA256  $SDIST" | sha256sum -c --quiet -
  rm -rf "$PRISTINE" "$WORK/extract"
  mkdir -p "$WORK/extract"
  tar -xzf "$SDIST" -C "$WORK/extract"
  mv "$WORK/extract/"*/ "$PRISTINE"
  rm -rf "$WORK/extract"
  # Offline build: no intersphinx inventories (refs to Python's docs become
  # plain text; Sphinx prints ~80 'undefined label' warnings, expected).
  printf '\n# --- trove bench corpus: offline build ---\nintersphinx_mapping = {}\n' >> "$PRISTINE/docs/conf.py"
  touch "$WORK/source.done"
  step_time source $(( $(date +%s) - t ))
fi

# ---------------------------------------------------------------- 3. builds
build() {  # build NAME EPOCH EDIT(0|1)
  local name=$1 epoch=$2 edit=$3
  if [ -f "$WORK/$name.done" ] && [ -d "$OUT/$name" ]; then
    log "$name: ok (delete $WORK/$name.done to rebuild)"
    return
  fi
  local t0; t0=$(date +%s)
  log "$name: building (SOURCE_DATE_EPOCH=$epoch, edit=$edit)"
  export SOURCE_DATE_EPOCH=$epoch
  local src="$WORK/src" dt="$WORK/doctrees" stage="$WORK/stage" lg="$WORK/logs/$name"
  rm -rf "$src" "$dt" "$stage" "$WORK/epub-build"
  cp -a "$PRISTINE" "$src"
  if [ "$edit" = 1 ]; then "$PY" "$TOOL" edit-page "$src/docs"; fi
  mkdir -p "$stage"/{html,json,epub,htmlzip,pdf}
  local t
  for b in html json; do
    t=$(date +%s)
    "$SPHINX" -q -b "$b" -d "$dt" "$src/docs" "$stage/$b" > "$lg-$b.log" 2>&1 \
      || { tail -20 "$lg-$b.log"; exit 1; }
    step_time "$name/$b" $(( $(date +%s) - t ))
  done
  t=$(date +%s)
  "$SPHINX" -q -b epub -d "$dt" "$src/docs" "$WORK/epub-build" > "$lg-epub.log" 2>&1 \
    || { tail -20 "$lg-epub.log"; exit 1; }
  "$PY" "$TOOL" repack-epub "$WORK/epub-build/Django.epub" "$stage/epub/django.epub"
  step_time "$name/epub" $(( $(date +%s) - t ))
  t=$(date +%s)
  "$PY" "$TOOL" zip-html "$stage/html" "$stage/htmlzip/django.zip" django
  step_time "$name/htmlzip" $(( $(date +%s) - t ))
  local variant=base; [ "$edit" = 1 ] && variant=edited
  "$PY" "$TOOL" fake-pdf "$stage/pdf/django.pdf" "$variant"
  "$PY" "$TOOL" normalize-mtimes "$stage"
  rm -rf "$OUT/$name" "$src" "$dt" "$WORK/epub-build"
  mv "$stage" "$OUT/$name"
  touch "$WORK/$name.done"
  step_time "$name" $(( $(date +%s) - t0 ))
  log "$name: done in $(( $(date +%s) - t0 ))s ($(grep -c WARNING "$lg-html.log" || true) sphinx warnings in html log)"
  unset SOURCE_DATE_EPOCH
}

build build1 "$EPOCH1" 0
build build2 "$EPOCH2" 0
build build3 "$EPOCH1" 1

# ---------------------------------------------------------------- 4. large files
if [ -f "$WORK/large.done" ] && [ -d "$OUT/large" ]; then
  log "large: ok"
else
  t=$(date +%s)
  log "large: generating seeded files"
  "$PY" "$TOOL" large "$OUT/large" "$PRISTINE/docs"
  SOURCE_DATE_EPOCH=$EPOCH1 "$PY" "$TOOL" normalize-mtimes "$OUT/large"
  touch "$WORK/large.done"
  step_time large $(( $(date +%s) - t ))
fi

# ---------------------------------------------------------------- 5. summary
# keep the timings of the run that actually did the work
if [ -s "$TIMINGS.run" ]; then
  { echo -e "step\tseconds"; cat "$TIMINGS.run"; echo -e "TOTAL(run)\t$(( $(date +%s) - T_START ))"; } > "$TIMINGS"
fi
rm -f "$TIMINGS.run"
echo
echo "## Trove bench corpus: $OUT"
echo
"$PY" "$TOOL" summary "$OUT" | tee "$WORK/summary.md"
echo
echo "Step timings (seconds, from the run that built them): $TIMINGS"
[ -f "$TIMINGS" ] && column -t -s $'\t' "$TIMINGS" 2>/dev/null || cat "$TIMINGS" 2>/dev/null || true
echo
( cd "$OUT" && for b in build1 build2 build3; do [ -d "$b" ] && echo "$b sha256(all files): $(find "$b" -type f -print0 | sort -z | xargs -0 sha256sum | sed "s# $b/# #" | sha256sum | cut -c1-16)"; done ) || true
