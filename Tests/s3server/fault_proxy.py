#!/usr/bin/env python3
"""An HTTP/1.1 keep-alive proxy that injects faults between Trove and an S3 server, for tests.

  fault_proxy.py --upstream http://127.0.0.1:PORT [--port 0] [--fail-rate 0.25] [--seed 1]
                 [--faults 500,503,reset-before,reset-mid,stall,apply-then-500] [--stall-seconds 5]
                 [--methods PUT,GET] [--latency-ms 0] [--dialect s3|azure]

Prints {"port": N, "endpoint": "http://127.0.0.1:N"} on stdout once listening; runs until stdin closes
or SIGTERM. Requests are forwarded byte for byte (raw target, all headers including Host, so SigV4
signatures stay valid). With probability --fail-rate a request gets one fault, drawn from --faults by
a random.Random(--seed), so a run's sequence of decisions is repeatable:

  500             answer 500 InternalError without forwarding
  503             answer 503 SlowDown (azure: ServerBusy) without forwarding
  reset-before    read the request, then reset the connection (RST) without answering
  reset-mid       forward, then send the status line, headers and half the body, then reset
  stall           read the request, then send nothing for --stall-seconds, then close
  stall-mid       forward, send headers and half the body, then stall and close
  apply-then-500  forward (the write happens), then answer 500 InternalError

--dialect shapes the answers the proxy makes up: s3 (default) sends S3's error codes; azure sends
Azure's (503 ServerBusy, 500 InternalError) in the body and in the x-ms-error-code header.

--methods limits faults to requests with those HTTP methods (others always pass; the decision
sequence is drawn only for matching requests). --latency-ms delays every forwarded request, to make a
run slow enough to interrupt.

Faults that forward first (reset-mid, stall-mid, apply-then-500) are applied only to requests that
are safe to repeat: not to conditional PUTs (If-Match / If-None-Match), because a retried
conditional write that had already succeeded would correctly report a conflict and make a
conformance run flaky. Conditional PUTs draw from the other faults.

GET /__proxy/stats (answered by the proxy itself) returns counts of requests and injected faults, and
the response body bytes sent to clients (bytes_down).
"""
import argparse
import http.client
import json
import random
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from lifecycle import announce_and_serve

ALL_FAULTS = ["500", "503", "reset-before", "reset-mid", "stall", "stall-mid", "apply-then-500"]
AFTER_FORWARD = {"reset-mid", "stall-mid", "apply-then-500"}
# What Azure Blob Storage answers in place of S3's codes (--dialect azure).
AZURE_CODES = {
    "SlowDown": ("ServerBusy", "The server is busy."),
    "InternalError": ("InternalError", "The server encountered an internal error. Please retry the request."),
}


def error_body(code, message):
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message><RequestId>fault-proxy</RequestId></Error>").encode()


class State:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.lock = threading.Lock()
        self.stats = {"requests": 0, "faults": 0, "bytes_down": 0}
        self.faults = [f for f in args.faults.split(",") if f]
        for f in self.faults:
            if f not in ALL_FAULTS:
                sys.exit(f"fault_proxy: unknown fault {f}; known: {','.join(ALL_FAULTS)}")
        self.methods = {m.strip().upper() for m in args.methods.split(",") if m.strip()}
        u = urlsplit(args.upstream)
        self.upstream = (u.hostname, u.port or 80)

    def decide(self, method, conditional_put):
        with self.lock:
            self.stats["requests"] += 1
            if self.methods and method not in self.methods:
                return None
            if not self.faults or self.rng.random() >= self.args.fail_rate:
                return None
            choices = [f for f in self.faults if not (conditional_put and f in AFTER_FORWARD)] or ["503"]
            fault = self.rng.choice(choices)
            self.stats["faults"] += 1
            self.stats[fault] = self.stats.get(fault, 0) + 1
            return fault


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State = None

    def log_message(self, *a):
        pass

    def upstream(self):
        conn = getattr(self, "_upstream", None)
        if conn is None:
            conn = http.client.HTTPConnection(*self.state.upstream, timeout=60)
            self._upstream = conn
        return conn

    def reset(self):
        # SO_LINGER with zero timeout: close() sends RST instead of FIN.
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
        self.close_connection = True

    def answer(self, status, code, message):
        if self.state.args.dialect == "azure":
            code, message = AZURE_CODES.get(code, (code, message))
        body = error_body(code, message) if self.command != "HEAD" else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        if self.state.args.dialect == "azure":
            self.send_header("x-ms-error-code", code)
        self.send_header("Content-Length", str(len(error_body(code, message))))
        self.end_headers()
        self.wfile.write(body)

    def forward(self, body):
        for attempt in range(2):
            conn = self.upstream()
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for k, v in self.headers.items():
                    conn.putheader(k, v)
                conn.endheaders(body if body else None)
                resp = conn.getresponse()
                data = resp.read()
                return resp, data
            except (ConnectionError, http.client.HTTPException, OSError):
                conn.close()
                self._upstream = None
                if attempt == 1:
                    raise

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path == "/__proxy/stats":
            with self.state.lock:
                data = json.dumps(self.state.stats).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        conditional_put = self.command == "PUT" and ("If-Match" in self.headers or "If-None-Match" in self.headers)
        fault = self.state.decide(self.command, conditional_put)
        if self.state.args.latency_ms > 0:
            time.sleep(self.state.args.latency_ms / 1000)
        if fault == "500":
            return self.answer(500, "InternalError", "fault proxy: injected internal error")
        if fault == "503":
            return self.answer(503, "SlowDown", "fault proxy: please reduce your request rate")
        if fault == "reset-before":
            return self.reset()
        if fault == "stall":
            time.sleep(self.state.args.stall_seconds)
            self.close_connection = True
            return
        try:
            resp, data = self.forward(body)
        except Exception as e:  # upstream down: a proxy answers 502
            return self.answer(502, "BadGateway", f"fault proxy: upstream failed: {e}")
        if fault == "apply-then-500":
            return self.answer(500, "InternalError", "fault proxy: applied upstream, then failed")
        self.send_response_only(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "keep-alive", "content-length"):
                self.send_header(k, v)
        declared = resp.getheader("Content-Length")
        self.send_header("Content-Length", declared if self.command == "HEAD" and declared else str(len(data)))
        self.end_headers()
        if fault in ("reset-mid", "stall-mid"):
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            if fault == "stall-mid":
                time.sleep(self.state.args.stall_seconds)
                self.close_connection = True
            else:
                self.reset()
            return
        if self.command != "HEAD":
            with self.state.lock:
                self.state.stats["bytes_down"] += len(data)
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--fail-rate", type=float, default=0.25)
    ap.add_argument("--faults", default="500,503,reset-before,reset-mid,stall,apply-then-500")
    ap.add_argument("--stall-seconds", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--methods", default="", help="comma-separated HTTP methods to inject faults into (default: all)")
    ap.add_argument("--latency-ms", type=int, default=0, help="delay added to every request")
    ap.add_argument("--dialect", choices=["s3", "azure"], default="s3", help="error codes of the answers made up")
    args = ap.parse_args()

    Handler.state = State(args)
    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    announce_and_serve({"port": port, "endpoint": f"http://{args.host}:{port}"})


if __name__ == "__main__":
    main()
