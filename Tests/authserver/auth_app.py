#!/usr/bin/env python3
"""A scriptable host application for `trove serve`'s external authorisation tests (serve.auth_url).

    auth_app.py [--port 0]

Prints one JSON line {"port": N, "endpoint": "http://127.0.0.1:N"} when ready and exits when stdin
closes (the way Tests/Support/CloudTestSupport starts its helpers). Standard library only.

Any path except the /__ ones is an authorisation endpoint. It decides by the `session` cookie:
  ok, alice     204 (allowed)
  deny          403
  login         401 with WWW-Authenticate and Location: http://login.test/login?next=<X-Original-URI>
  forbid-login  403 with Location (a login redirect on 403)
  boom          500 whose body repeats the cookie (nothing may log or pass it on)
  bounce        302 to /elsewhere on this app (must not be followed)
  hold          held until POST /__release (or the app exits), then 204
With no session cookie, `Authorization: Bearer app-secret` is allowed; anything else gets 401.

Every request to a non-/__ path is recorded (method, path, headers); GET /__stats returns
{"count": N, "requests": [...]}, POST /__reset forgets them and re-arms `hold`, POST /__release lets
held requests go.
"""
import argparse, http.cookies, json, sys, threading, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
records = []
release = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, headers=(), body=b""):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_POST(self):
        if self.path == "/__reset":
            with lock:
                records.clear()
            release.clear()
        elif self.path == "/__release":
            release.set()
        self.answer(204)

    def do_GET(self):
        if self.path == "/__stats":
            with lock:
                body = json.dumps({"count": len(records), "requests": list(records)}).encode()
            return self.answer(200, [("Content-Type", "application/json")], body)
        with lock:
            records.append({"method": self.command, "path": self.path,
                            "headers": [[k, v] for k, v in self.headers.items()]})
        cookie = http.cookies.SimpleCookie(self.headers.get("Cookie", ""))
        session = cookie["session"].value if "session" in cookie else None
        uri = self.headers.get("X-Original-URI", "/")
        login = "http://login.test/login?next=" + urllib.parse.quote(uri, safe="")
        if session in ("ok", "alice"):
            return self.answer(204)
        if session == "deny":
            return self.answer(403, body=b"no")
        if session == "login":
            return self.answer(401, [("WWW-Authenticate", 'Cookie realm="docs"'), ("Location", login)], b"log in")
        if session == "forbid-login":
            return self.answer(403, [("Location", login)], b"log in")
        if session == "boom":
            return self.answer(500, body=("broken for " + self.headers.get("Cookie", "")).encode())
        if session == "bounce":
            return self.answer(302, [("Location", "/elsewhere")])
        if session == "hold":
            release.wait()
            return self.answer(204)
        if session is None and self.headers.get("Authorization") == "Bearer app-secret":
            return self.answer(204)
        return self.answer(401, [("WWW-Authenticate", 'Cookie realm="docs"'), ("Location", login)])

    do_HEAD = do_GET


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"port": port, "endpoint": f"http://127.0.0.1:{port}"}), flush=True)
    sys.stdin.read()  # until the test closes stdin (or exits)
    release.set()
    server.shutdown()


if __name__ == "__main__":
    main()
