#!/usr/bin/env python3
"""Generate a small documentation build in the Read the Docs layout, deterministically.

    make-sample-site.py OUT [--date "January 1, 2026"] [--pages 120]

OUT gets html/ (pages, _static CSS/JS/SVG, search index), json/ (per-page JSON),
htmlzip/ (a zip of html/) and epub/ (a minimal ePub). Only the footer date differs between
two runs with different --date values, like a real rebuild.
"""
import argparse, json, os, random, zipfile

WORDS = ("module function returns the parameter class instance value config option example default "
         "string list raises error publish version chunk store manifest serve index build output").split()

CSS = "body{font-family:sans-serif;max-width:52em;margin:auto}nav{float:left;width:12em}" * 40
JS = "function search(q){return Object.keys(window.INDEX||{}).filter(function(k){return k.indexOf(q)>=0})}\n" * 60
SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><circle cx="32" cy="32" r="30" fill="#2a6"/></svg>'


def page(i, n, date, rng):
    body = "\n".join("<p>" + " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 120))) + ".</p>"
                     for _ in range(rng.randint(8, 30)))
    nav = " ".join(f'<a href="page{j}.html">Page {j}</a>' for j in range(max(0, i - 3), min(n, i + 4)))
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Page {i} — Sample</title>'
            f'<link rel="stylesheet" href="_static/theme.css"><script src="_static/search.js"></script></head>\n'
            f'<body><nav>{nav}</nav><main><h1>Page {i}</h1>\n{body}\n<img src="_static/logo.svg" alt="logo"></main>\n'
            f'<footer>&copy; 2026 Sample project. Last updated on {date}.</footer></body></html>\n')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--date", default="January 1, 2026")
    ap.add_argument("--pages", type=int, default=120)
    a = ap.parse_args()
    html = os.path.join(a.out, "html")
    os.makedirs(os.path.join(html, "_static"), exist_ok=True)
    for sub in ("json", "htmlzip", "epub"):
        os.makedirs(os.path.join(a.out, sub), exist_ok=True)
    pages = {}
    for i in range(a.pages):
        rng = random.Random(i)
        pages[f"page{i}.html"] = page(i, a.pages, a.date, rng)
    pages["index.html"] = page(0, a.pages, a.date, random.Random(-1)).replace("Page 0", "Sample project")
    pages["404.html"] = "<!DOCTYPE html><html><body><h1>Not found</h1></body></html>\n"
    for name, text in pages.items():
        with open(os.path.join(html, name), "w") as f:
            f.write(text)
        with open(os.path.join(a.out, "json", name.replace(".html", ".fjson")), "w") as f:
            json.dump({"title": name, "body": text[:2000]}, f, sort_keys=True)
    for name, text in (("theme.css", CSS), ("search.js", JS), ("logo.svg", SVG)):
        with open(os.path.join(html, "_static", name), "w") as f:
            f.write(text)
    with open(os.path.join(html, "searchindex.js"), "w") as f:
        f.write("Search.setIndex(" + json.dumps({n: len(t) for n, t in sorted(pages.items())}, sort_keys=True) + ")\n")
    with zipfile.ZipFile(os.path.join(a.out, "htmlzip", "sample.zip"), "w", zipfile.ZIP_DEFLATED) as z:
        for root, _, files in sorted(os.walk(html)):
            for fn in sorted(files):
                p = os.path.join(root, fn)
                z.write(p, os.path.relpath(p, a.out))
    with zipfile.ZipFile(os.path.join(a.out, "epub", "sample.epub"), "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        z.writestr("META-INF/container.xml", '<?xml version="1.0"?><container/>')
        for name, text in sorted(pages.items()):
            z.writestr("OEBPS/" + name.replace(".html", ".xhtml"), text)


if __name__ == "__main__":
    main()
