#!/usr/bin/env python3
"""Generate a synthetic Trove store for the gc benchmark, fast, by writing the storage format
directly (packs with their trailers, SQLite manifests, version refs) -- see docs/storage-format.md
and Sources/TroveContent/Pack.swift, Sources/TroveManifest/ManifestSchema.swift.
`trove verify --deep` accepts the result (bench/gc/run.sh checks that).

Default shape: 1,000,000 distinct raw chunks of 256 bytes in packs of 4,000 chunks (250 packs,
~257 MB), 1,000 manifests = 50 projects x 4 versions x 5 builds (current + 4 in history), each
build naming ~4,200 chunks (files of 10 chunks); builds of a version overlap by 7/8; 10,000
"theme" chunks are shared by every project. Plus garbage for gc to find: 5 deleted versions'
worth of unreferenced manifests, and 10 orphan packs, all dated 2 days ago.
"""
import argparse, hashlib, json, os, random, re, sqlite3, struct, time

def manifest_schema():
    """The manifest schema, read from the one place it is defined (ManifestSchema.create in
    Sources/TroveManifest/ManifestSchema.swift), so the synthetic manifests cannot drift from it."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Sources", "TroveManifest", "ManifestSchema.swift")
    text = open(src, encoding="utf-8").read()
    m = re.search(r'static let create = """\n(.*?)\n\s*"""', text, re.S)
    if not m:
        raise SystemExit(f"make_store.py: no `static let create` schema literal in {src}")
    return m.group(1)

SCHEMA = manifest_schema()

def put(root, key, data, mtime=None):
    path = os.path.join(root, key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))

def sharded(kind, hexd):
    return f"{kind}/{hexd[:2]}/{hexd}"

def make_pack(chunks):
    """chunks: list of (digest bytes, raw bytes). Returns (pack digest, bytes, offsets)."""
    payload = bytearray()
    entries = bytearray()
    offsets = []
    for d, raw in chunks:
        offsets.append(len(payload))
        entries += d + struct.pack("<QIIBBH", len(payload), len(raw), len(raw), 0, 0, 0xFFFF)
        payload += raw
    trailer = b"TRVPACK1" + struct.pack("<I", 0) + struct.pack("<I", len(chunks)) + bytes(entries)
    data = bytes(payload) + trailer + struct.pack("<I", len(trailer)) + b"TRVEND01"
    return hashlib.sha256(data).digest(), data, offsets

def write_manifest(tmpdir, project, version, build_time, files, loc):
    """files: list of (path, [chunk index]). loc: chunk index -> (digest, pack digest, offset, size)."""
    path = os.path.join(tmpdir, f"m-{os.getpid()}.sqlite")
    if os.path.exists(path):
        os.unlink(path)
    db = sqlite3.connect(path)
    db.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;" + SCHEMA)
    pack_ids, chunk_ids = {}, {}
    files_rows, fc_rows, chunk_rows, pack_rows = [], [], [], []
    logical = 0
    for fid, (fpath, idxs) in enumerate(files, start=1):
        size = 0
        h = hashlib.sha256()
        for seq, ci in enumerate(idxs):
            d, pack, off, sz = loc[ci]
            if ci not in chunk_ids:
                if pack not in pack_ids:
                    pack_ids[pack] = len(pack_ids) + 1
                    pack_rows.append((pack_ids[pack], pack))
                chunk_ids[ci] = len(chunk_ids) + 1
                chunk_rows.append((chunk_ids[ci], d, sz, sz, 0, None, pack_ids[pack], off))
            fc_rows.append((fid, seq, size, chunk_ids[ci]))
            size += sz
            h.update(d)  # not the real file digest: the benchmark never exports files
        files_rows.append((fid, fpath, "file", size, 0o644, "text/html", None, None))
        logical += size
    db.executemany("INSERT INTO packs VALUES (?,?)", pack_rows)
    db.executemany("INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?)", chunk_rows)
    db.executemany("INSERT INTO files VALUES (?,?,?,?,?,?,?,?)", files_rows)
    db.executemany("INSERT INTO file_chunks VALUES (?,?,?,?)", fc_rows)
    meta = {"format_version": "1", "project": project, "version": version, "build_time": build_time,
            "tool_version": "bench", "chunker_min": "2048", "chunker_avg": "8192", "chunker_max": "65536",
            "file_count": str(len(files)), "logical_bytes": str(logical), "chunk_count": str(len(chunk_rows)),
            "carried_over": ""}
    db.executemany("INSERT INTO meta VALUES (?,?)", sorted(meta.items()))
    db.commit()
    db.close()
    with open(path, "rb") as f:
        data = f.read()
    os.unlink(path)
    return hashlib.sha256(data).hexdigest(), data

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--projects", type=int, default=50)
    ap.add_argument("--versions", type=int, default=4)
    ap.add_argument("--builds", type=int, default=5)
    ap.add_argument("--chunks", type=int, default=1_000_000)
    ap.add_argument("--theme-chunks", type=int, default=10_000)
    ap.add_argument("--chunk-size", type=int, default=256)
    ap.add_argument("--pack-chunks", type=int, default=4000)
    ap.add_argument("--build-chunks", type=int, default=4000)
    ap.add_argument("--garbage-versions", type=int, default=5)
    ap.add_argument("--orphan-packs", type=int, default=10)
    a = ap.parse_args()
    t0 = time.time()
    root = a.root
    os.makedirs(os.path.join(root, ".tmp"), exist_ok=True)
    put(root, "trove-store.json", b'{"format":1}\n')
    old = time.time() - 2 * 86400
    rng = random.Random(1)

    # Chunks: theme chunks first, then each project's own pool. Packed in order.
    per_project = (a.chunks - a.theme_chunks) // a.projects
    total = a.theme_chunks + per_project * a.projects
    loc = [None] * total
    batch = []
    npacks = 0
    def flush():
        nonlocal batch, npacks
        if not batch:
            return
        d, data, offs = make_pack([(dg, raw) for _, dg, raw in batch])
        put(root, sharded("packs", d.hex()), data, old)
        for (ci, dg, raw), off in zip(batch, offs):
            loc[ci] = (dg, d, off, len(raw))
        npacks += 1
        batch = []
    for ci in range(total):
        raw = ci.to_bytes(8, "little") + rng.randbytes(a.chunk_size - 8)
        batch.append((ci, hashlib.sha256(raw).digest(), raw))
        if len(batch) == a.pack_chunks:
            flush()
    flush()
    for i in range(a.orphan_packs):
        raw = b"orphan" + i.to_bytes(4, "little") + rng.randbytes(a.chunk_size)
        d, data, _ = make_pack([(hashlib.sha256(raw).digest(), raw)])
        put(root, sharded("packs", d.hex()), data, old)
    print(f"{total:,} chunks in {npacks} packs (+{a.orphan_packs} orphan) in {time.time() - t0:.1f}s", flush=True)

    # Builds: version v of project p, build b uses a sliding window of the project's pool + 200 theme chunks.
    tmpdir = os.path.join(root, ".tmp")
    manifests = 0
    step = a.build_chunks // 8
    for p in range(a.projects):
        project = f"project{p:03d}"
        base = a.theme_chunks + p * per_project
        for v in range(a.versions + a.garbage_versions * (p == 0)):
            version = f"v{v}"
            builds = []
            for b in range(a.builds):
                start = (v * (per_project // a.versions) + b * step) % per_project
                idxs = [base + (start + i) % per_project for i in range(a.build_chunks)]
                theme = [(p * 37 + j) % a.theme_chunks for j in range(200)]
                allc = theme + idxs
                files = [(f"html/page{f:05d}.html", allc[f * 10:(f + 1) * 10]) for f in range((len(allc) + 9) // 10)]
                published = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(old - (a.builds - b) * 3600))
                hexd, data = write_manifest(tmpdir, project, version, published, files, loc)
                put(root, sharded("manifests", hexd), data, old)
                builds.append({"manifest": hexd, "published": published})
                manifests += 1
            if v >= a.versions:
                continue  # a deleted version: its manifests are garbage
            ref = {"format": 1, "project": project, "version": version,
                   "current": builds[-1], "history": list(reversed(builds[:-1]))}
            put(root, f"refs/{project}/versions/{version}", json.dumps(ref, indent=2, sort_keys=True).encode())
        if p % 10 == 9:
            print(f"  {p + 1} projects, {manifests} manifests, {time.time() - t0:.1f}s", flush=True)
    print(f"{manifests} manifests ({a.garbage_versions * a.builds} unreferenced) in {time.time() - t0:.1f}s")

if __name__ == "__main__":
    main()
