#!/usr/bin/env python3
"""Drive headless Chromium over the Chrome DevTools Protocol against a site served by `trove serve`.

    site_check.py --base http://127.0.0.1:PORT/PROJECT/VERSION/ --tree BUILD/html \
                  [--query middleware] [--screenshot bench/out/search.png] [--chromium /usr/bin/chromium]

Steps, each in a fresh "phase" with its own list of network requests:
  1. open BASE, wait for the load event; every stylesheet must have parsed (CSSOM present), every
     <script src> and <img> must have loaded;
  2. click (real mouse events) a link in the page to another page of the same site, preferring one
     whose page has <img> elements, wait for that page to load; same checks;
  3. open BASE + search.html?q=QUERY (Sphinx: client-side search that loads searchindex.js and then
     fetch()es every hit for its summary), wait until "Search finished" and the result list has
     entries, take a PNG screenshot;
  4. reload the search page (normal reload): the browser revalidates it, and it must come back as 304.

A request fails when its response status is >= 400 or it fails at the network level
(Network.loadingFailed, e.g. a cut connection or a short body). The only failures tolerated are
requests for files that the published tree does not contain (checked against --tree), because those
are the site's own broken references, not the server's: Chromium's automatic /favicon.ico at the
origin root, and whatever the build references but does not ship. They are listed as "site gaps".
--strict fails on those too. JavaScript exceptions and console errors are printed, not failed on
(they come from the site's own scripts).

Only the Python standard library and websocket-client are needed. Exit status 0 = all checks passed.
"""
import argparse, base64, json, os, shutil, subprocess, sys, tempfile, time, urllib.parse, urllib.request

import websocket  # pip install websocket-client


class CDP:
    """Minimal synchronous CDP client on one page target's websocket."""

    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.handlers = []

    def _dispatch(self, msg):
        for h in self.handlers:
            h(msg["method"], msg.get("params", {}))

    def _pump_one(self, timeout):
        self.ws.settimeout(timeout)
        try:
            raw = self.ws.recv()
        except websocket.WebSocketTimeoutException:
            return None
        msg = json.loads(raw)
        if "method" in msg:
            self._dispatch(msg)
        return msg

    def call(self, method, timeout=60, **params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"CDP {method}: no answer in {timeout}s")
            msg = self._pump_one(left)
            if msg is not None and msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"CDP {method}: {msg['error']}")
                return msg.get("result", {})

    def pump(self, seconds):
        """Process events for `seconds`."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._pump_one(left)

    def wait_until(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
            self._pump_one(min(left, 0.25))

    def eval(self, expr, timeout=60):
        r = self.call("Runtime.evaluate", timeout=timeout, expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"evaluate failed: {r['exceptionDetails'].get('text')} in {expr[:80]!r}")
        return r["result"].get("value")


class Phase:
    def __init__(self, name):
        self.name = name
        self.requests = {}      # requestId -> dict(url, type, status, failed, cached, bytes)
        self.order = []
        self.load_fired = False
        self.js_errors = []

    def req(self, rid):
        if rid not in self.requests:
            self.requests[rid] = {"url": "?", "type": "?", "status": None, "failed": None, "cached": False,
                                  "done": False, "bytes": 0}
            self.order.append(rid)
        return self.requests[rid]


class Browser:
    def __init__(self, chromium, width=1280, height=1000):
        self.profile = tempfile.mkdtemp(prefix="trove-chromium-")
        args = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}", f"--window-size={width},{height}",
                "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-default-apps",
                "--disable-extensions", "--disable-features=Translate,OptimizationHints,MediaRouter",
                "--metrics-recording-only", "--password-store=basic", "--mute-audio", "about:blank"]
        self.log = open(os.path.join(self.profile, "chromium.log"), "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + 60
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("chromium did not start (see its log above)")
            time.sleep(0.1)
        port = int(open(port_file).read().split()[0])
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        page = next(t for t in targets if t["type"] == "page")
        self.cdp = CDP(page["webSocketDebuggerUrl"])
        self.version = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/version", timeout=10))["Browser"]
        self.phase = Phase("startup")
        self.cdp.handlers.append(self._on_event)
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.cdp.call(f"{domain}.enable")

    def _on_event(self, method, p):
        ph = self.phase
        if method == "Network.requestWillBeSent":
            r = ph.req(p["requestId"])
            if p.get("redirectResponse"):  # a redirect hop (same requestId): keep it as its own entry
                hop = f"{p['requestId']}#{len(ph.order)}"
                ph.requests[hop] = dict(r, status=p["redirectResponse"]["status"], done=True)
                ph.order.append(hop)
            r.update(url=p["request"]["url"], type=p.get("type", "?"), status=None, done=False)
        elif method == "Network.responseReceived":
            r = ph.req(p["requestId"])
            r["status"] = p["response"]["status"]
            r["type"] = p.get("type", r["type"])
            r["cached"] = r["cached"] or p["response"].get("fromDiskCache", False)
        elif method == "Network.responseReceivedExtraInfo":
            # The status as it came off the wire: a revalidated resource is reported as 200 in
            # responseReceived (the cached response), but 304 here.
            ph.req(p["requestId"])["wire_status"] = p.get("statusCode")
            enc = {k.lower(): v for k, v in p.get("headers", {}).items()}.get("content-encoding")
            if enc:
                ph.req(p["requestId"])["encoding"] = enc
        elif method == "Network.requestWillBeSentExtraInfo":
            ae = {k.lower(): v for k, v in p.get("headers", {}).items()}.get("accept-encoding")
            if ae:
                ph.req(p["requestId"])["accept_encoding"] = ae
        elif method == "Network.requestServedFromCache":
            ph.req(p["requestId"])["cached"] = True
        elif method == "Network.loadingFinished":
            r = ph.req(p["requestId"])
            r["done"] = True
            r["bytes"] = p.get("encodedDataLength", 0)
        elif method == "Network.loadingFailed":
            r = ph.req(p["requestId"])
            r["done"] = True
            r["failed"] = p.get("errorText", "failed") + (" (canceled)" if p.get("canceled") else "") + \
                (f" blocked:{p['blockedReason']}" if p.get("blockedReason") else "")
            r["type"] = p.get("type", r["type"])
        elif method == "Page.loadEventFired":
            ph.load_fired = True
        elif method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            ph.js_errors.append("exception: " + (d.get("exception", {}).get("description") or d.get("text", "?")).split("\n")[0]
                                + f" ({d.get('url', '')}:{d.get('lineNumber', '?')})")
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            ph.js_errors.append("console.error: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"]))
        elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
            e = p["entry"]
            ph.js_errors.append(f"log/{e.get('source')}: {e.get('text')} {e.get('url', '')}".rstrip())

    def new_phase(self, name):
        self.phase = Phase(name)
        return self.phase

    def settle(self, quiet=1.0, timeout=60):
        """Wait until no request of the current phase is in flight for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        last_busy = time.monotonic()
        while time.monotonic() - last_busy < quiet:
            if time.monotonic() > deadline:
                busy = [r["url"] for r in self.phase.requests.values() if not r["done"]]
                raise TimeoutError(f"requests still in flight after {timeout}s: {busy[:5]}")
            self.cdp.pump(0.2)
            if any(not r["done"] for r in self.phase.requests.values()):
                last_busy = time.monotonic()

    def navigate(self, url, timeout=60):
        self.phase.load_fired = False
        r = self.cdp.call("Page.navigate", url=url)
        if r.get("errorText"):
            raise RuntimeError(f"navigation to {url} failed: {r['errorText']}")
        self.cdp.wait_until(lambda: self.phase.load_fired, timeout, f"load event of {url}")

    def close(self):
        try:
            if getattr(self, "cdp", None):
                try:
                    self.cdp.call("Browser.close", timeout=5)
                except Exception:
                    pass
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- checks

DOM_CHECK = r"""(() => {
  const out = {stylesheets: [], scripts: [], images: [], title: document.title, url: location.href};
  for (const l of document.querySelectorAll('link[rel~="stylesheet"]')) {
    let rules = -1;
    try { rules = l.sheet ? l.sheet.cssRules.length : -1; } catch (e) { rules = -2; }
    out.stylesheets.push({href: l.href, ok: !!l.sheet, rules});
  }
  for (const s of document.querySelectorAll('script[src]')) out.scripts.push({src: s.src});
  for (const i of document.images) out.images.push({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0,
                                                    w: i.naturalWidth, h: i.naturalHeight});
  return out;
})()"""


class Checker:
    def __init__(self, base, tree, strict):
        self.base = base if base.endswith("/") else base + "/"
        self.base_path = urllib.parse.urlsplit(self.base).path
        self.origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlsplit(self.base))
        self.tree = tree
        self.strict = strict
        self.failures = []
        self.gaps = []
        self.totals = {}

    def in_tree(self, url):
        """Does the published tree hold the file this URL names? None if the URL is not under the site."""
        parts = urllib.parse.urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != self.origin or not parts.path.startswith(self.base_path):
            return None
        rel = urllib.parse.unquote(parts.path[len(self.base_path):])
        p = os.path.join(self.tree, rel)
        return os.path.isfile(p) or os.path.isfile(os.path.join(p, "index.html"))

    def fail(self, msg):
        print(f"FAIL {msg}")
        self.failures.append(msg)

    def check_requests(self, phase):
        n_net = n_cache = 0
        by_type = {}
        for rid in phase.order:
            r = phase.requests[rid]
            if r["url"].startswith("data:"):
                continue
            by_type[r["type"]] = by_type.get(r["type"], 0) + 1
            n_cache += r["cached"]
            n_net += not r["cached"]
            bad = r["failed"] or (r["status"] is not None and r["status"] >= 400)
            if r["failed"] and "ERR_ABORTED" in r["failed"] and r["status"] is not None and r["status"] < 400:
                bad = None  # navigation away from a finished response; not a failure
            if not bad:
                continue
            what = f"[{phase.name}] {r['type']} {r['url']} -> " + (f"HTTP {r['status']}" if r["status"] else "") + \
                (f" {r['failed']}" if r["failed"] else "")
            owned = self.in_tree(r["url"])
            at_origin_root = urllib.parse.urlsplit(r["url"]).path == "/favicon.ico"
            if not self.strict and r["status"] == 404 and (owned is False or at_origin_root):
                self.gaps.append(what + "  (not in the published tree)")
            else:
                self.fail(what)
        for t, c in by_type.items():
            self.totals[t] = self.totals.get(t, 0) + c
        encs = {}
        for r in phase.requests.values():
            if not r["cached"] and r["status"] is not None:
                e = r.get("encoding", "identity")
                encs[e] = encs.get(e, 0) + 1
        ae = next((r["accept_encoding"] for r in phase.requests.values() if r.get("accept_encoding")), "?")
        print(f"  [{phase.name}] Accept-Encoding sent: {ae}; Content-Encoding received: "
              + ", ".join(f"{e} {c}" for e, c in sorted(encs.items())))
        kinds = ", ".join(f"{t} {c}" for t, c in sorted(by_type.items()))
        print(f"  [{phase.name}] {len(phase.order)} requests ({n_net} from the server, {n_cache} from the browser cache): {kinds}")
        seen = {}
        for e in phase.js_errors:
            seen[e] = seen.get(e, 0) + 1
        for e, n in seen.items():
            print(f"  [{phase.name}] note: {e}" + (f"  (x{n})" if n > 1 else ""))
        return by_type

    def check_dom(self, name, dom):
        ss, sc, im = dom["stylesheets"], dom["scripts"], dom["images"]
        print(f"  [{name}] {dom['url']} \"{dom['title']}\": {len(ss)} stylesheets, {len(sc)} scripts, {len(im)} images")
        for s in ss:
            if not s["ok"]:
                self.fail(f"[{name}] stylesheet did not load: {s['href']}")
        for i in im:
            if not i["ok"]:
                self.fail(f"[{name}] image did not load: {i['src']}")
        return dom


def pick_link(cdp, checker):
    """Same-site links in the page (main content first), those whose target page has <img> first."""
    hrefs = cdp.eval(r"""(() => {
        const seen = new Set(), out = [];
        const scope = document.querySelector('[role=main], main, div.body, #yui-main') || document.body;
        for (const a of [...scope.querySelectorAll('a[href]'), ...document.querySelectorAll('a[href]')]) {
          const u = new URL(a.href); u.hash = '';
          if (u.href === location.href.split('#')[0] || seen.has(u.href)) continue;
          const r = a.getBoundingClientRect();
          if (r.width === 0 || r.height === 0) continue;
          seen.add(u.href); out.push(u.href);
        }
        return out;
    })()""")
    own = [h for h in hrefs if checker.in_tree(h)]
    for h in own[:40]:
        try:
            with urllib.request.urlopen(h, timeout=10) as resp:
                if b"<img" in resp.read():
                    return h, own
        except Exception:
            pass
    return (own[0] if own else None), own


def click_link(cdp, href):
    box = cdp.eval("""((href) => {
        const scope = document.querySelector('[role=main], main, div.body, #yui-main') || document.body;
        const a = [...scope.querySelectorAll('a[href]'), ...document.querySelectorAll('a[href]')].find(a => { const u = new URL(a.href); u.hash = ''; return u.href === href; });
        a.scrollIntoView({block: 'center'});
        const r = a.getBoundingClientRect();
        return {x: r.left + Math.min(r.width / 2, 5), y: r.top + r.height / 2, text: a.textContent.trim()};
    })(%s)""" % json.dumps(href))
    for t in ("mouseMoved", "mousePressed", "mouseReleased"):
        cdp.call("Input.dispatchMouseEvent", type=t, x=box["x"], y=box["y"], button="left", clickCount=1)
    return box["text"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="site root URL, http://127.0.0.1:PORT/PROJECT/VERSION/")
    ap.add_argument("--tree", required=True, help="the published site tree on disk (BUILD/html), to tell site gaps from server faults")
    ap.add_argument("--query", default="middleware")
    ap.add_argument("--screenshot", default=None)
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    ap.add_argument("--accept-encoding", default=None,
                    help="send this Accept-Encoding instead of Chromium's own (e.g. 'zstd, gzip' to get trove's zstd passthrough over plain http)")
    ap.add_argument("--no-search", action="store_true", help="the site has no Sphinx search page")
    ap.add_argument("--strict", action="store_true", help="also fail on 404s for files the tree does not contain")
    a = ap.parse_args()

    ck = Checker(a.base, a.tree, a.strict)
    br = Browser(a.chromium)
    print(f"browser: {br.version}")
    try:
        cdp = br.cdp
        if a.accept_encoding:
            cdp.call("Network.setExtraHTTPHeaders", headers={"Accept-Encoding": a.accept_encoding})
        # 1. The start page.
        ph = br.new_phase("start")
        t = time.monotonic()
        br.navigate(ck.base)
        br.settle()
        print(f"  [start] loaded in {time.monotonic() - t:.2f}s")
        types = ck.check_requests(ph)
        dom = ck.check_dom("start", cdp.eval(DOM_CHECK))
        if not dom["stylesheets"] or "Stylesheet" not in types:
            ck.fail("[start] no stylesheet loaded from the server")
        if dom["scripts"] and "Script" not in types:
            ck.fail("[start] page has scripts but none were fetched")

        # 2. Click a link to another page of the site.
        href, own = pick_link(cdp, ck)
        if not href:
            ck.fail("[link] no same-site link on the start page")
        else:
            ph = br.new_phase("link")
            ph.load_fired = False
            text = click_link(cdp, href)
            print(f"  [link] clicking \"{text}\" -> {href} ({len(own)} same-site links on the page)")
            cdp.wait_until(lambda: ph.load_fired, 60, f"load event after clicking {href}")
            br.settle()
            dom = ck.check_dom("link", cdp.eval(DOM_CHECK))
            if dom["url"].split("#")[0] != href:
                ck.fail(f"[link] landed on {dom['url']}, expected {href}")
            ck.check_requests(ph)
            if dom["images"] and not any(r["type"] == "Image" and r["status"] == 200
                                         for r in ph.requests.values()):
                ck.fail("[link] page has images but no image response was seen")

        # 3. The search page.
        if a.no_search:
            print("  [search] skipped (--no-search)")
        else:
            ph = br.new_phase("search")
            url = ck.base + "search.html?q=" + urllib.parse.quote(a.query)
            t = time.monotonic()
            br.navigate(url)
            state = lambda: cdp.eval("""(() => ({
                n: document.querySelectorAll('#search-results ul.search > li').length,
                summary: (document.querySelector('#search-results .search-summary') || {}).textContent || ''}))()""")
            st = {}
            def done():
                nonlocal st
                st = state()
                return st["n"] > 0 and "finished" in st["summary"].lower()
            cdp.wait_until(done, 120, "Sphinx search results")
            br.settle()
            st = state()
            print(f"  [search] {st['n']} results in {time.monotonic() - t:.2f}s: {st['summary'].strip()}")
            ck.check_requests(ph)
            ck.check_dom("search", cdp.eval(DOM_CHECK))
            if not any(r["url"].split("?")[0].endswith("/searchindex.js") and r["status"] == 200
                       for r in ph.requests.values()):
                ck.fail("[search] searchindex.js was not loaded from the server")
            first = cdp.eval("(document.querySelector('#search-results ul.search > li a') || {}).href || ''")
            if not ck.in_tree(first):
                ck.fail(f"[search] first result {first!r} is not a page of the site")
            if a.screenshot:
                os.makedirs(os.path.dirname(os.path.abspath(a.screenshot)), exist_ok=True)
                cdp.eval("window.scrollTo(0, 0)")
                png = base64.b64decode(cdp.call("Page.captureScreenshot", format="png")["data"])
                with open(a.screenshot, "wb") as f:
                    f.write(png)
                print(f"  [search] screenshot: {a.screenshot} ({len(png)} bytes)")

            # 4. Reload: the browser revalidates the page it has cached.
            ph = br.new_phase("reload")
            ph.load_fired = False
            cdp.call("Page.reload")
            cdp.wait_until(lambda: ph.load_fired, 60, "load event after reload")
            br.settle()
            ck.check_requests(ph)
            docs = [r for r in ph.requests.values() if r["type"] == "Document"]
            if docs:
                d = docs[0]
                print(f"  [reload] document: HTTP {d.get('wire_status') or d['status']} on the wire"
                      + (" (revalidated with If-None-Match)" if d.get("wire_status") == 304 else ""))
                if d.get("wire_status") != 304:
                    ck.fail(f"[reload] the reloaded page was not revalidated: HTTP {d.get('wire_status') or d['status']}, expected 304")
            else:
                ck.fail("[reload] no document request seen")
    except Exception as e:
        ck.fail(f"{type(e).__name__}: {e}")
    finally:
        br.close()

    print(f"requests by type over the run: {', '.join(f'{t} {c}' for t, c in sorted(ck.totals.items()))}")
    for g in ck.gaps:
        print(f"site gap (tolerated): {g}")
    if ck.failures:
        print(f"FAILED: {len(ck.failures)} failure(s)")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
