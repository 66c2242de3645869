#!/usr/bin/env python3
"""Drive headless Chromium over the DevTools Protocol through trove serve's `/_/` catalogue.

    catalogue_check.py --origin http://127.0.0.1:PORT --project P --edited html/page3.html \
                       --diff BASE...HEAD --out DIR [--chromium /usr/bin/chromium]

1. Opens /_/ and walks every catalogue page reachable from it by links (/_/, /_/<p>/, the diff pages),
   each loaded in the browser; every link on each of them (site pages, downloads, JSON API, other
   catalogue pages) is requested from the page with fetch() (redirects followed): none may answer
   >= 400 or fail.
2. On each catalogue page: <html lang>, a <title>, one <main>, a banner <nav>, every table's column
   headers as <th scope=col>; at phone width nothing wider than the screen except inside the
   scrollable table regions; Tab moves focus to a link drawn with a visible outline.
3. The diff page P/diff/BASE...HEAD lists --edited among the modified pages (and, when the server
   knows main content, marks its main content changed).
4. Screenshots of the three kinds of page at desktop (1280 px) and phone (390 px) widths into --out.

Reuses site_check.py's CDP client and browser launcher. Exit status 0 = every check passed.
"""
import argparse, base64, json, os, sys, time, urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from site_check import Browser  # noqa: E402

A11Y = r"""(() => {
  const out = {lang: document.documentElement.lang, title: document.title, mains: document.querySelectorAll('main').length,
               navs: document.querySelectorAll('header nav[aria-label]').length, tables: 0, badHeaders: 0};
  for (const t of document.querySelectorAll('table')) {
    out.tables++;
    for (const th of t.querySelectorAll('thead th')) if (th.getAttribute('scope') !== 'col') out.badHeaders++;
    for (const th of t.querySelectorAll('tbody th')) if (th.getAttribute('scope') !== 'row') out.badHeaders++;
  }
  return out;
})()"""

LINKS = r"""[...new Set([...document.querySelectorAll('a[href]')].map(a => { const u = new URL(a.href); u.hash = ''; return u.href; }))]"""

# Each link fetched from the page itself (same origin): status after redirects, or the network error.
FETCH_ALL = r"""(async (urls) => {
  const out = {};
  let next = 0;
  async function worker() {
    while (next < urls.length) {
      const u = urls[next++];
      try { const r = await fetch(u, {redirect: 'follow', cache: 'no-store'}); await r.arrayBuffer(); out[u] = r.status; }
      catch (e) { out[u] = 'error: ' + e; }
    }
  }
  await Promise.all(Array.from({length: 8}, worker));
  return out;
})(%s)"""

# Elements sticking out past the viewport at phone width, outside the scrollable table regions.
OVERFLOW = r"""(() => {
  const w = document.documentElement.clientWidth, bad = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('.wrap')) continue;
    const r = el.getBoundingClientRect();
    if (r.right > w + 1) bad.push(el.tagName + (el.className ? '.' + el.className : ''));
  }
  return {scrollWidth: document.documentElement.scrollWidth, width: w, bad: bad.slice(0, 5)};
})()"""

FOCUS = r"""(() => {
  const el = document.activeElement, s = getComputedStyle(el);
  return {tag: el.tagName, text: (el.textContent || '').trim().slice(0, 40), outline: s.outlineStyle, width: s.outlineWidth};
})()"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--origin", required=True)
    ap.add_argument("--project", required=True)
    ap.add_argument("--edited", required=True, help="path (as trove ls shows it) of the page edited between the two versions")
    ap.add_argument("--diff", required=True, help="BASE...HEAD of the diff page that must list --edited")
    ap.add_argument("--out", required=True, help="directory for the screenshots (outside the repository)")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    a = ap.parse_args()

    os.makedirs(a.out, exist_ok=True)
    origin = a.origin.rstrip("/")
    quote = lambda s: urllib.parse.quote(s, safe="")
    diff_url = f"{origin}/_/{quote(a.project)}/diff/" + "...".join(quote(v) for v in a.diff.split("...", 1))
    failures, counts = [], {"catalogue pages": 0, "links checked": 0, "links ok": 0}

    def fail(msg):
        print("FAIL " + msg)
        failures.append(msg)

    br = Browser(a.chromium)
    print(f"browser: {br.version}")
    cdp = br.cdp
    try:
        # 1-2. Walk the catalogue from /_/.
        todo, seen, checked = [origin + "/_/"], set(), {}
        if diff_url not in todo:
            todo.append(diff_url)
        while todo:
            url = todo.pop(0)
            if url in seen:
                continue
            seen.add(url)
            br.new_phase(url)
            br.navigate(url)
            counts["catalogue pages"] += 1
            info = cdp.eval(A11Y)
            if info["lang"] != "en" or not info["title"] or info["mains"] != 1 or info["navs"] != 1 or info["badHeaders"]:
                fail(f"{url}: landmarks/headers {info}")
            links = cdp.eval(LINKS)
            new = [l for l in links if l not in checked]
            results = cdp.eval(FETCH_ALL % json.dumps(new), timeout=300) if new else {}
            for l, status in results.items():
                checked[l] = status
                if not isinstance(status, int) or status >= 400:
                    fail(f"{url}: link {l} -> {status}")
            print(f"  {urllib.parse.urlsplit(url).path}: {len(links)} links, {len(new)} new, "
                  f"{sum(1 for l in new if isinstance(results.get(l), int) and results[l] < 400)} ok; tables {info['tables']}")
            for l in links:
                p = urllib.parse.urlsplit(l)
                if f"{p.scheme}://{p.netloc}" == origin and p.path.startswith("/_/") and not p.path.startswith("/_/api/") \
                        and l not in seen and isinstance(checked.get(l), int) and checked[l] < 400:
                    todo.append(l)
        counts["links checked"] = len(checked)
        counts["links ok"] = sum(1 for s in checked.values() if isinstance(s, int) and s < 400)

        # 3. The diff page lists the edited page.
        br.navigate(diff_url)
        row = cdp.eval("""((path) => {
            for (const tr of document.querySelectorAll('#modified ~ .wrap tbody tr'))
              if (tr.querySelector('th').textContent === path) return [...tr.querySelectorAll('td')].map(td => td.textContent);
            return null; })(%s)""" % json.dumps(a.edited))
        if row is None:
            fail(f"diff page {diff_url} does not list {a.edited} as modified")
        else:
            print(f"  diff page lists {a.edited}: main content {row[0]}")
            if row[0] == "unchanged":
                fail(f"diff page says the main content of the edited page {a.edited} is unchanged")

        # 2 (phone) and 4. Screenshots, focus and overflow at both widths.
        pages = [("projects", origin + "/_/"), ("versions", f"{origin}/_/{quote(a.project)}/"), ("diff", diff_url)]
        for width, height, mobile, label in ((1280, 900, False, "desktop"), (390, 844, True, "phone")):
            cdp.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=mobile)
            for name, url in pages:
                br.navigate(url)
                if mobile:
                    o = cdp.eval(OVERFLOW)
                    if o["bad"] or o["scrollWidth"] > o["width"] + 1:
                        fail(f"{label} {url}: wider than the screen: {o}")
                metrics = cdp.call("Page.getLayoutMetrics")
                h = min(int(metrics["cssContentSize"]["height"]), 3000)
                shot = cdp.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                                clip={"x": 0, "y": 0, "width": width, "height": max(h, 1), "scale": 1})
                path = os.path.join(a.out, f"catalogue-{name}-{label}.png")
                with open(path, "wb") as fh:
                    fh.write(base64.b64decode(shot["data"]))
                print(f"  screenshot {path}")
                for t in ("keyDown", "keyUp"):
                    cdp.call("Input.dispatchKeyEvent", type=t, key="Tab", code="Tab", windowsVirtualKeyCode=9)
                f = cdp.eval(FOCUS)
                if f["tag"] != "A" or f["outline"] in ("none", "") or f["width"] in ("0px", ""):
                    fail(f"{label} {url}: focus not visible after Tab: {f}")
    finally:
        br.close()

    print(f"catalogue_check: {counts['catalogue pages']} catalogue pages loaded, {counts['links checked']} distinct links "
          f"checked, {counts['links ok']} ok, {counts['links checked'] - counts['links ok']} broken; {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
