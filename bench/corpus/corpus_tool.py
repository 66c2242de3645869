#!/usr/bin/env python3
"""Deterministic helpers for bench/corpus/make-corpus.sh (stdlib only).

Subcommands:
  edit-page SRC_DOCS            apply the fixed one-paragraph edit used by build3
  zip-html HTML_DIR OUT PREFIX  deterministic htmlzip (deflate, sorted, fixed dates)
  repack-epub IN OUT            rewrite an .epub with fixed entry dates (same order/compression)
  fake-pdf OUT VARIANT          ~5 MiB synthetic "PDF" (VARIANT: base | edited)
  large OUTDIR SRC_DOCS         large throughput files (random + text), seeded
  normalize-mtimes DIR          set every file/dir mtime to SOURCE_DATE_EPOCH
  summary OUT                   print per-build / per-media-type stats (Markdown)

Dates come from $SOURCE_DATE_EPOCH (required where a date is written).
"""
import collections
import hashlib
import os
import random
import re
import sys
import time
import zipfile

SEED = "trove-bench-corpus-v1"
MIB = 1024 * 1024


def epoch():
    v = os.environ.get("SOURCE_DATE_EPOCH")
    if v is None:
        sys.exit("SOURCE_DATE_EPOCH must be set")
    return int(v)


def zip_date(ts):
    t = time.gmtime(max(ts, 315532800))  # zip can't encode dates before 1980
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)


# --------------------------------------------------------------------------
# build3: one page's text edited (a body paragraph; title/toctree unchanged)
EDIT_FILE = "topics/http/sessions.txt"
EDIT_OLD = "It'll save you a small bit of overhead."
EDIT_NEW = ("It'll save you a small amount of overhead on every request, "
            "and one less cookie for your visitors to worry about.")


def edit_page(src_docs):
    path = os.path.join(src_docs, EDIT_FILE)
    st = os.stat(path)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.count(EDIT_OLD) != 1:
        sys.exit(f"edit-page: anchor sentence not found exactly once in {path}")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(EDIT_OLD, EDIT_NEW))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # keep mtime deterministic
    print(f"edited {EDIT_FILE}")


# --------------------------------------------------------------------------
def zip_html(html_dir, out, prefix):
    dt = zip_date(epoch())
    files = []
    for root, dirs, names in os.walk(html_dir):
        dirs.sort()
        for n in sorted(names):
            full = os.path.join(root, n)
            files.append((os.path.relpath(full, html_dir).replace(os.sep, "/"), full))
    files.sort()
    tmp = out + ".tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for rel, full in files:
            zi = zipfile.ZipInfo(f"{prefix}/{rel}", date_time=dt)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o100644 << 16
            zi.create_system = 3
            with open(full, "rb") as f:
                z.writestr(zi, f.read(), compresslevel=6)
    os.replace(tmp, out)


def repack_epub(src, out):
    dt = zip_date(epoch())
    tmp = out + ".tmp"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp, "w") as zout:
        for info in zin.infolist():
            zi = zipfile.ZipInfo(info.filename, date_time=dt)
            zi.compress_type = info.compress_type
            zi.external_attr = 0o100644 << 16
            zi.create_system = 3
            zout.writestr(zi, zin.read(info.filename))
    os.replace(tmp, out)


# --------------------------------------------------------------------------
# Synthetic PDF: real-PDF-like container whose page streams are incompressible
# seeded bytes. Models a LaTeX rebuild: a date-only rebuild changes only the
# Info dict (start) and trailer /ID (end); an edited page replaces one stream
# in the middle with a different-length one (shifting all later offsets).
PDF_OBJS = 80
PDF_STREAM = 64 * 1024


def fake_pdf(out, variant):
    ts = epoch()
    d = time.strftime("D:%Y%m%d%H%M%SZ", time.gmtime(ts))
    parts = [b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n"]
    offsets = []

    def add(obj):
        offsets.append(sum(len(p) for p in parts))
        parts.append(obj)

    add((f"1 0 obj\n<< /Title (Django 5.1 documentation) /Producer (trove-bench fake pdf) "
         f"/CreationDate ({d}) /ModDate ({d}) >>\nendobj\n").encode())
    edited = PDF_OBJS // 2
    for k in range(PDF_OBJS):
        if variant == "edited" and k == edited:
            rng, n = random.Random(f"{SEED}:pdf:edited:{k}"), PDF_STREAM + 517
        else:
            rng, n = random.Random(f"{SEED}:pdf:{k}"), PDF_STREAM
        body = rng.randbytes(n)
        add(f"{k + 2} 0 obj\n<< /Length {n} /Filter /FlateDecode >>\nstream\n".encode()
            + body + b"\nendstream\nendobj\n")
    xref_at = sum(len(p) for p in parts)
    xref = [f"xref\n0 {len(offsets) + 1}\n0000000000 65535 f \n"]
    xref += [f"{o:010d} 00000 n \n" for o in offsets]
    fid = hashlib.md5(f"{d}:{variant}".encode()).hexdigest()
    xref.append(f"trailer\n<< /Size {len(offsets) + 1} /Info 1 0 R /ID [<{fid}> <{fid}>] >>\n"
                f"startxref\n{xref_at}\n%%EOF\n")
    parts.append("".join(xref).encode())
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.writelines(parts)
    os.replace(tmp, out)


# --------------------------------------------------------------------------
def write_random(path, size, stream_seed, insert_at=None, insert_len=0):
    rng = random.Random(stream_seed)
    tmp = path + ".tmp"
    written = 0
    with open(tmp, "wb") as f:
        while written < size:
            n = min(MIB, size - written)
            chunk = rng.randbytes(n)
            if insert_at is not None and written <= insert_at < written + n:
                cut = insert_at - written
                ins = random.Random(f"{stream_seed}:insert").randbytes(insert_len)
                chunk = chunk[:cut] + ins + chunk[cut:]
            f.write(chunk)
            written += n
    os.replace(tmp, path)


def write_text(path, size, src_docs):
    counts = collections.Counter()
    for root, dirs, names in os.walk(src_docs):
        dirs.sort()
        for n in sorted(names):
            if n.endswith(".txt"):
                with open(os.path.join(root, n), encoding="utf-8") as f:
                    counts.update(re.findall(r"[A-Za-z][A-Za-z_']+", f.read()))
    vocab = sorted(counts)
    cum, acc = [], 0
    for w in vocab:
        acc += counts[w]
        cum.append(acc)
    rng = random.Random(f"{SEED}:text")
    tmp = path + ".tmp"
    written = 0
    with open(tmp, "wb") as f:
        while written < size:
            words = rng.choices(vocab, cum_weights=cum, k=4096)
            lines = []
            for i in range(0, len(words), 12):
                lines.append(" ".join(words[i:i + 12]))
            block = ("\n".join(lines) + "\n").encode()
            block = block[: size - written]
            f.write(block)
            written += len(block)
    os.replace(tmp, path)


def large(outdir, src_docs):
    os.makedirs(outdir, exist_ok=True)
    jobs = [
        ("random-200MiB.bin", lambda p: write_random(p, 200 * MIB, f"{SEED}:rand200")),
        # same byte stream with 4 KiB inserted at an unaligned offset near 100 MiB
        ("random-200MiB-insert4k.bin",
         lambda p: write_random(p, 200 * MIB, f"{SEED}:rand200",
                                insert_at=100 * MIB + 12345, insert_len=4096)),
        ("text-50MiB.txt", lambda p: write_text(p, 50 * MIB, src_docs)),
    ]
    for name, fn in jobs:
        p = os.path.join(outdir, name)
        if os.path.exists(p):
            print(f"large/{name}: exists, skipped")
            continue
        t0 = time.time()
        fn(p)
        print(f"large/{name}: {os.path.getsize(p)} bytes in {time.time() - t0:.1f}s")


def normalize_mtimes(d):
    ts = epoch()
    for root, dirs, names in os.walk(d, topdown=False):
        for n in names + dirs:
            os.utime(os.path.join(root, n), (ts, ts), follow_symlinks=False)
    os.utime(d, (ts, ts))


# --------------------------------------------------------------------------
def tree_stats(d):
    files = nbytes = pages = 0
    for root, _, names in os.walk(d):
        for n in names:
            files += 1
            nbytes += os.path.getsize(os.path.join(root, n))
            if n.endswith(".html"):
                pages += 1
    return files, nbytes, pages


def summary(out):
    rows = []
    for b in sorted(os.listdir(out)):
        p = os.path.join(out, b)
        if b.startswith(".") or not os.path.isdir(p):
            continue
        subs = sorted(os.listdir(p))
        media = [s for s in subs if os.path.isdir(os.path.join(p, s))] if b.startswith("build") else ["."]
        tf = tb = 0
        for m in media:
            f, n, pg = tree_stats(os.path.join(p, m))
            tf += f
            tb += n
            rows.append((b, m if m != "." else "(files)", f, n, pg))
        if b.startswith("build"):
            rows.append((b, "TOTAL", tf, tb, ""))
    print("| tree | media | files | bytes | MiB | html pages |")
    print("|---|---|---:|---:|---:|---:|")
    for b, m, f, n, pg in rows:
        print(f"| {b} | {m} | {f} | {n} | {n / MIB:.1f} | {pg if pg != 0 else ''} |")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    {
        "edit-page": edit_page,
        "zip-html": zip_html,
        "repack-epub": repack_epub,
        "fake-pdf": fake_pdf,
        "large": large,
        "normalize-mtimes": normalize_mtimes,
        "summary": summary,
    }[cmd](*args)


if __name__ == "__main__":
    main()
