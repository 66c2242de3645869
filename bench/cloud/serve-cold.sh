#!/usr/bin/env bash
# bench/cloud/serve-cold.sh [TREE] [LATENCY_MS] [VERSIONS] [CRAWL]
#   TREE        the version's site (default /work/corpus/build1/html)
#   LATENCY_MS  delay the fault proxy adds to every store request (default 30: a cloud round trip)
#   VERSIONS    small extra versions published beside it, so the store is not a one-version store (default 40)
#   CRAWL       pages of the version fetched one after another in the crawl (default 50)
#
# A cold `trove serve` node on s3://: moto's S3 server (signature checks on) holds the store; a fresh
# `trove serve` (empty cache directory, nothing in memory) reads it through Tests/s3server/fault_proxy.py
# with --latency-ms and no faults, so every store request costs a cloud round trip. The store is
# published directly to moto (not through the proxy: that part is not measured). Then, for each
# binary (TROVE_BEFORE if set, then TROVE), with a fresh node each:
#   first page   GET /docs/v1/ : time to first byte (response headers) and store requests
#   assets       that page's CSS, JS and images (parsed from its HTML), 6 at a time as a browser
#                fetches them: time until all are in, slowest time to first byte, store requests
#   crawl        CRAWL further pages of the version, in link order, one after another: mean time to
#                first byte and store requests per page
# Store requests are counted by the proxy after each step settles (read-ahead included).
# Beside them, rclone (s3 backend, same proxy, a copy of the same tree): `rclone cat` of the same
# page, of the same assets (6 at a time) and of the same crawl pages; rclone's times are whole-file
# times including its process start, Trove's are times to first byte of a warm process, so the
# ratio flatters neither much at 30 ms (one round trip dominates both).
# Output: a Markdown table on stdout and in bench/out/serve-cold.md.
# Env: TROVE (default .build/release/trove), TROVE_BEFORE (optional second binary measured first).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TREE=${1:-/work/corpus/build1/html}
LATENCY=${2:-30}
VERSIONS=${3:-40}
CRAWL=${4:-50}
TROVE=${TROVE:-$ROOT/.build/release/trove}
[ -x "$TROVE" ] || { echo "no trove binary at $TROVE: make release" >&2; exit 1; }
[ -z "${TROVE_BEFORE:-}" ] || [ -x "$TROVE_BEFORE" ] || { echo "no binary at TROVE_BEFORE=$TROVE_BEFORE" >&2; exit 1; }
[ -f "$TREE/index.html" ] || { echo "missing $TREE/index.html: pass a docs site (html/ of a build)" >&2; exit 1; }
. "$HERE/lib.sh"
s3_bench_start serve-cold "$LATENCY"

# The store, written straight to moto: the version measured, then VERSIONS small ones (a few pages
# of the tree each, with a line of their own, spread over 5 projects and the measured one).
export TROVE_STORE="s3://bench/store?endpoint=$MOTO" TROVE_CACHE_DIR=$WORK/pub-cache
# Published by the older binary when there is one: it reads only the manifest format it wrote (a newer
# Trove reads both), so both nodes serve the same store.
PUBLISHER=${TROVE_BEFORE:-$TROVE}
"$PUBLISHER" publish --json docs v1 "$TREE" > /dev/null
mapfile -t SMALL < <(cd "$TREE" && find . -name '*.html' | sort | head -12)
for i in $(seq "$VERSIONS"); do
  d=$WORK/small/$i; mkdir -p "$d"
  for f in "${SMALL[@]}"; do mkdir -p "$d/$(dirname "$f")"; { cat "$TREE/$f"; echo "<!-- small version $i -->"; } > "$d/$f"; done
  p=docs; [ $((i % 3)) -eq 0 ] && p=proj$((i % 5))
  "$PUBLISHER" publish --json "$p" "0.$i" "$d" > /dev/null
done
rclone_env "$MOTO"
rclone sync --transfers 8 "$TREE" s3:bench/rclone-v1
rclone_env "$PROXY"

# measure.py MODE BASE: MODE trove (BASE = http://host:port/docs/v1/) or rclone (BASE = s3:bench/rclone-v1/).
cat > "$WORK/measure.py" <<'EOF'
import concurrent.futures, html.parser, http.client, json, os, posixpath, subprocess, sys, time, urllib.parse, urllib.request
mode, base, stats_url, crawl_n, tree = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]

def store_requests():
    return json.load(urllib.request.urlopen(stats_url))["requests"]

class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(); self.assets = []; self.pages = []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "link" and a.get("href") and "stylesheet" in (a.get("rel") or ""): self.assets.append(a["href"])
        elif tag in ("script", "img") and a.get("src"): self.assets.append(a["src"])
        elif tag == "a" and a.get("href"): self.pages.append(a["href"])

def resolve(page, ref):
    """A link of `page` (a path in the tree) as a path in the tree, or None if it leaves it."""
    u = urllib.parse.urlsplit(ref)
    if u.scheme or u.netloc or not u.path: return None
    p = posixpath.normpath(posixpath.join(posixpath.dirname(page), urllib.parse.unquote(u.path)))
    if p.startswith(".."): return None
    if ref.split("#")[0].split("?")[0].endswith("/"): p += "/index.html"
    return p

def links(page):
    l = Links(); l.feed(open(f"{tree}/{page}", encoding="utf-8", errors="replace").read())
    # Only files the tree has (a page may reference one its build did not produce).
    assets = [p for p in (resolve(page, r) for r in l.assets) if p and os.path.isfile(f"{tree}/{p}")]
    pages = [p for p in (resolve(page, r) for r in l.pages) if p and p.endswith(".html")]
    return list(dict.fromkeys(assets)), list(dict.fromkeys(pages))

def fetch(path):
    """(seconds to first byte, seconds to last byte, bytes) for one file."""
    t0 = time.monotonic()
    if mode == "trove":
        u = urllib.parse.urlsplit(base)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        c.request("GET", u.path + urllib.parse.quote(path))
        r = c.getresponse(); t1 = time.monotonic()
        body = r.read(); t2 = time.monotonic(); c.close()
        if r.status != 200: sys.exit(f"GET {path}: {r.status}")
    else:
        body = subprocess.run(["rclone", "cat", base + path], check=True, capture_output=True).stdout
        t1 = t2 = time.monotonic()
    if body != open(f"{tree}/{path}", "rb").read(): sys.exit(f"{mode}: {path} differs from the tree")
    return t1 - t0, t2 - t0, len(body)

def settled(before):
    time.sleep(1.0)  # read-ahead runs in the background: count what the step caused, all of it
    return store_requests() - before

out = {}
before = store_requests()
ttfb, total, _ = fetch("index.html")
out["page"] = {"ttfb": ttfb, "total": total, "requests": settled(before)}
assets, pages = links("index.html")
before = store_requests(); t0 = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(6) as ex: res = list(ex.map(fetch, assets))
out["assets"] = {"count": len(assets), "wall": time.monotonic() - t0, "max_ttfb": max(r[0] for r in res) if res else 0,
                 "requests": settled(before)}
# Crawl: breadth-first from the first page's links, pages only (their assets are the same few files).
seen, queue, crawl = {"index.html"}, list(pages), []
while queue and len(crawl) < crawl_n:
    p = queue.pop(0)
    if p in seen: continue
    seen.add(p)
    if not os.path.isfile(f"{tree}/{p}"): continue
    crawl.append(p); queue += links(p)[1]
before = store_requests(); ttfbs = []
for p in crawl: ttfbs.append(fetch(p)[0])
out["crawl"] = {"pages": len(crawl), "mean_ttfb": sum(ttfbs) / len(ttfbs), "requests": settled(before)}
print(json.dumps(out))
EOF

measure() { python3 "$WORK/measure.py" trove "$1/docs/v1/" "$STATS" "$CRAWL" "$TREE"; }
measure_nodes measure
RES[rclone]=$(python3 "$WORK/measure.py" rclone "s3:bench/rclone-v1/" "$STATS" "$CRAWL" "$TREE")

mkdir -p "$ROOT/bench/out"
python3 - "$LATENCY" "$VERSIONS" "$TREE" "$(nproc)" "$(rclone version | head -1)" "${LABELS[*]}" \
  "${RES[before]:-}" "${RES[after]}" "${RES[rclone]}" <<'EOF' | tee "$ROOT/bench/out/serve-cold.md"
import json, sys
lat, versions, tree, cores, rc, labels = sys.argv[1:7]
res = {k: json.loads(v) for k, v in zip(["before", "after", "rclone"], sys.argv[7:10]) if v}
cols = labels.split() + ["rclone"]
names = {"before": "Trove before", "after": "Trove", "rclone": "rclone cat"}
print(f"Site `{tree}` published as docs/v1, beside {versions} small versions; every store request delayed {lat} ms "
      f"by the proxy; moto with signature checks; a fresh serve node (empty cache) per column; {rc}; {cores} cores.")
print()
print("| step at " + lat + " ms per store request | " + " | ".join(names[c] for c in cols) +
      (" | Trove / before" if "before" in res else "") + " | Trove / rclone |")
print("|---|" + "---|" * len(cols) + ("---:|" if "before" in res else "") + "---:|")
def row(name, f):
    cells = [f(res[c]) for c in cols]
    return cells
def ms(x): return f"{x * 1000:.0f} ms"
p = {c: res[c]["page"] for c in cols}; a = {c: res[c]["assets"] for c in cols}; w = {c: res[c]["crawl"] for c in cols}
def line(name, val, req, key):
    cells = [f"{ms(val[c])}, {req[c]} req" for c in cols]
    extra = [f"{val['after'] / val['before']:.2f}x"] if "before" in res else []
    print(f"| {name} | " + " | ".join(cells + extra + [f"{val['after'] / val['rclone']:.2f}x"]) + " |")
line("first page: time to first byte (rclone: whole file)", {c: (p[c]["ttfb"]) for c in cols}, {c: p[c]["requests"] for c in cols}, "page")
line(f"its {a['after']['count']} assets, 6 at a time: all in", {c: a[c]["wall"] for c in cols}, {c: a[c]["requests"] for c in cols}, "assets")
n = w["after"]["pages"]
cells = [f"{ms(w[c]['mean_ttfb'])} mean, {w[c]['requests'] / n:.2f} req/page" for c in cols]
extra = [f"{w['after']['mean_ttfb'] / w['before']['mean_ttfb']:.2f}x"] if "before" in res else []
print(f"| crawl of {n} more pages, one at a time | " + " | ".join(cells + extra + [f"{w['after']['mean_ttfb'] / w['rclone']['mean_ttfb']:.2f}x"]) + " |")
EOF
