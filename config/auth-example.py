#!/usr/bin/env python3
"""An example host application for `trove serve`'s external authorisation (serve.auth_url).

    python3 config/auth-example.py [--port 9000] [--members alice:internal-docs,bob:*]

Run it beside `trove serve` with, for example:

    TROVE_SERVE_PRIVATE_PROJECTS=internal-docs \
    TROVE_SERVE_AUTH_URL=http://127.0.0.1:9000/auth \
    TROVE_SERVE_AUTH_DENIED=redirect \
    trove serve --listen 127.0.0.1:8080

and open http://127.0.0.1:8080/internal-docs/latest/ : a logged-out browser is sent to /login here,
logging in sets a session cookie (cookies are per host, not per port, so the browser sends it to
trove on 127.0.0.1:8080 too) and goes back to the page; /logout forgets the session.

The endpoint, GET /auth, is what trove asks (docs/serve.md, "External authorisation"). It gets the
original request in X-Original-Method, X-Original-URI, X-Trove-Project, X-Trove-Version and
X-Trove-Path, and the reader's Cookie and Authorization headers (serve.auth_headers), and answers
  2xx                 the reader may read the project
  401 (or 403)        they may not; Location (and WWW-Authenticate) are passed on when
                      serve.auth_denied is `pass` or `redirect` (a 302 to Location)
Anything else, or no answer within serve.auth_timeout, makes trove answer 503. Trove caches a
decision per (project, forwarded credentials) for serve.auth_ttl, so decide per project.

Sessions live in memory; a real application would use its own session store and permissions.
Standard library only. Prints one JSON line {"port": N, "endpoint": ...} when it is listening.
"""
import argparse, html, http.cookies, json, secrets, sys, threading, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SESSIONS = {}          # session id -> user name
MEMBERS = {}           # user name -> set of projects ("*": every project)
LOCK = threading.Lock()


class App(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass  # never log requests: they carry session cookies

    def reply(self, status, headers=(), body=b"", content_type="text/plain; charset=utf-8"):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def user(self):
        cookie = http.cookies.SimpleCookie(self.headers.get("Cookie", ""))
        sid = cookie["session"].value if "session" in cookie else None
        with LOCK:
            return SESSIONS.get(sid)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/auth":
            return self.auth()
        if url.path == "/login":
            # A real application shows a form; here ?user=NAME logs in at once, and without it a
            # small form asks for the name.
            nxt = query.get("next", ["/"])[0]
            name = query.get("user", [None])[0]
            if not name:
                form = (f"<!doctype html><title>Log in</title><h1>Log in</h1><form action=/login>"
                        f"<input name=user placeholder=name><input type=hidden name=next value=\"{html.escape(nxt)}\">"
                        f"<button>Log in</button></form>").encode()
                return self.reply(200, body=form, content_type="text/html; charset=utf-8")
            sid = secrets.token_urlsafe(24)
            with LOCK:
                SESSIONS[sid] = name
            # Only relative or trove-on-this-host targets: an open redirect would be a phishing aid.
            target = nxt if nxt.startswith("/") or nxt.startswith("http://127.0.0.1:") else "/"
            return self.reply(302, [("Set-Cookie", f"session={sid}; Path=/; HttpOnly; SameSite=Lax"), ("Location", target)])
        if url.path == "/logout":
            return self.reply(302, [("Set-Cookie", "session=; Path=/; Max-Age=0"), ("Location", "/login")])
        return self.reply(404, body=b"not found\n")

    do_HEAD = do_GET

    def auth(self):
        project = self.headers.get("X-Trove-Project", "")
        user = self.user()
        if user is None:
            # Where a browser should go to log in, coming back to the page it asked for.
            host = self.headers.get("Host", "127.0.0.1")
            nxt = self.headers.get("X-Original-URI", "/")
            trove = self.server.trove_base
            login = f"http://{host}/login?next=" + urllib.parse.quote(trove + nxt, safe="")
            return self.reply(401, [("WWW-Authenticate", 'Cookie realm="docs"'), ("Location", login)])
        allowed = MEMBERS.get(user)
        if allowed is None or ("*" not in allowed and project not in allowed):
            return self.reply(403)
        return self.reply(204)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9000)
    ap.add_argument("--members", default="alice:*", help="USER:PROJECT[+PROJECT…] entries, comma-separated; * = every project")
    ap.add_argument("--trove", default="http://127.0.0.1:8080", help="trove's base URL (where a login returns to)")
    ap.add_argument("--exit-with-stdin", action="store_true", help="exit when standard input closes (how the tests run it)")
    args = ap.parse_args()
    for entry in filter(None, args.members.split(",")):
        user, _, projects = entry.partition(":")
        MEMBERS[user.strip()] = set(p.strip() for p in projects.split("+") if p.strip())
    server = ThreadingHTTPServer((args.host, args.port), App)
    server.daemon_threads = True
    server.trove_base = args.trove.rstrip("/")
    port = server.server_address[1]
    print(json.dumps({"port": port, "endpoint": f"http://{args.host}:{port}"}), flush=True)
    if not args.exit_with_stdin:
        return server.serve_forever()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
