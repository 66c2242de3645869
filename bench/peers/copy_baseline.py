#!/usr/bin/env python3
"""copy_baseline.py CORPUS STEP [STEP...]

Whole-file baselines over the corpus trees, in publish order (e.g. build1 build2
build3 large). For each step prints TSV rows:

  sync      rclone-sync / rsync --checksum semantics: the destination holds the
            previous step's tree at the same paths; uploaded = bytes of files
            that are new or whose content differs from the file at that path.
            stored = cumulative uploaded (i.e. a versioned bucket keeping every
            upload).
  filecas   whole-file content addressing: uploaded = bytes of files whose
            sha256 was never stored before (any path, any earlier step).

Steps whose name starts with "build" are compared against the previous build
step; other steps (large) are standalone trees.
A second table (rows starting with "media") breaks the sync-changed files and
bytes down by top-level directory (media type) for build steps.
"""
import hashlib
import os
import sys
import time


def scan(root):
    out = {}
    for d, dirs, names in os.walk(root):
        dirs.sort()
        for n in sorted(names):
            p = os.path.join(d, n)
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            out[os.path.relpath(p, root)] = (h.hexdigest(), os.path.getsize(p))
    return out


def main():
    corpus, steps = sys.argv[1], sys.argv[2:]
    seen = set()
    prev_build = None
    sync_stored = cas_stored = 0
    rows, media_rows = [], []
    for step in steps:
        t0 = time.time()
        tree = scan(os.path.join(corpus, step))
        prev = prev_build if step.startswith("build") else None
        changed = {}
        for rel, (h, size) in tree.items():
            if prev is None or prev.get(rel, (None,))[0] != h:
                changed[rel] = size
        sync_up = sum(changed.values())
        cas_up = 0
        for rel, (h, size) in tree.items():
            if h not in seen:
                seen.add(h)
                cas_up += size
        sync_stored += sync_up
        cas_stored += cas_up
        total = sum(s for _, s in tree.values())
        dt = time.time() - t0
        rows.append(("sync", step, total, len(tree), len(changed), sync_up, sync_stored, dt))
        rows.append(("filecas", step, total, len(tree), None, cas_up, cas_stored, dt))
        if step.startswith("build"):
            per = {}
            for rel, (_, size) in tree.items():
                m = rel.split(os.sep, 1)[0]
                t = per.setdefault(m, [0, 0, 0, 0])
                t[0] += 1
                t[1] += size
                if rel in changed:
                    t[2] += 1
                    t[3] += size
            for m in sorted(per):
                media_rows.append((step, m, *per[m]))
            prev_build = tree
    print("kind\tstep\ttree_bytes\tfiles\tchanged_files\tuploaded_bytes\tstored_bytes\thash_s")
    for r in rows:
        print("\t".join("" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v)) for v in r))
    print()
    print("media\tstep\tmedia\tfiles\tbytes\tchanged_files\tchanged_bytes")
    for r in media_rows:
        print("media\t" + "\t".join(str(v) for v in r))


if __name__ == "__main__":
    main()
