#!/usr/bin/env python3
"""Headless Chromium logs in through the example host application (config/auth-example.py) and reads
a private page from `trove serve` (serve.auth_url), over the Chrome DevTools Protocol, with the CDP
client of bench/browser/site_check.py.

    browser_login.py --app http://127.0.0.1:A --redirect-node http://127.0.0.1:R --notfound-node http://127.0.0.1:N \
                     --page /private/v1/p1.html --expect "page 1 text" [--chromium /usr/bin/chromium]

R serves with serve.auth_denied=redirect, N with the default (404); both ask A's /auth.
  1. logged out, R: the page redirects to the application's login form;
  2. logged out, N: the page is a 404 with trove's plain "not found";
  3. log in on the form (typed and submitted in the page): the application sets its session cookie
     and sends the browser back to the page on R, which now shows;
  4. the same cookie reads the page on N too (cookies are per host, not per port);
  5. log out: N answers 404 again.
Prints one JSON object with what each step saw; exit status 0 when every check held.
"""
import argparse, json, os, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "browser"))
from site_check import Browser  # noqa: E402  (websocket-client: make pydeps)

STATE = "({href: location.href, text: document.body ? document.body.innerText : ''})"


def documents(phase):
    """[url, status] of the top-level document and of each redirect hop on the way to it."""
    return [[r["url"], r["status"]] for r in (phase.requests[k] for k in phase.order) if r["type"] == "Document"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--app", required=True)
    ap.add_argument("--redirect-node", required=True)
    ap.add_argument("--notfound-node", required=True)
    ap.add_argument("--page", required=True)
    ap.add_argument("--expect", required=True)
    ap.add_argument("--user", default="alice")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    steps, failures = {}, []

    def check(cond, what):
        if not cond:
            failures.append(what)

    browser = Browser(args.chromium)
    try:
        def visit(name, url):
            browser.new_phase(name)
            browser.navigate(url)
            browser.settle(quiet=0.3)
            seen = browser.cdp.eval(STATE)
            seen["documents"] = documents(browser.phase)
            seen["text"] = seen["text"][:200]
            steps[name] = seen
            return seen

        r_page, n_page = args.redirect_node + args.page, args.notfound_node + args.page
        s = visit("1 logged out, redirect node", r_page)
        check([r_page, 302] in s["documents"], "1: the page did not answer 302")
        check(s["href"].startswith(args.app + "/login"), "1: not on the login form")
        check("Log in" in s["text"] and args.expect not in s["text"], "1: no login form, or the page leaked")

        s = visit("2 logged out, 404 node", n_page)
        check(s["documents"] == [[n_page, 404]], "2: not a 404")
        check(s["text"].strip() == "not found", "2: not trove's plain 404")

        # 3: back to the login form of step 1 (with its next=), type the name, submit.
        browser.new_phase("3 log in")
        browser.navigate(steps["1 logged out, redirect node"]["href"])
        browser.phase.load_fired = False
        browser.cdp.eval(f"document.querySelector('input[name=user]').value = {json.dumps(args.user)};"
                         "document.querySelector('form').submit(); true")
        browser.cdp.wait_until(lambda: browser.phase.load_fired, 60, "the page after logging in")
        browser.settle(quiet=0.3)
        s = browser.cdp.eval(STATE)
        s["documents"] = documents(browser.phase)
        s["text"] = s["text"][:200]
        steps["3 log in"] = s
        check(s["href"] == r_page, "3: not back on the page after logging in")
        check(args.expect in s["text"], "3: the private page did not show")
        check([r_page, 200] in s["documents"], "3: the page was not a 200")

        s = visit("4 logged in, 404 node", n_page)
        check(s["documents"] == [[n_page, 200]] and args.expect in s["text"], "4: the cookie did not read the page on the other node")

        visit("5a log out", args.app + "/logout")
        s = visit("5 logged out again, 404 node", n_page)
        check(s["documents"] == [[n_page, 404]] and args.expect not in s["text"], "5: still readable after logging out")
        version = browser.version
    finally:
        browser.close()
    print(json.dumps({"ok": not failures, "failures": failures, "browser": version, "steps": steps}, indent=1))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
