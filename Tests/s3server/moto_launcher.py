#!/usr/bin/env python3
"""Runs moto's S3 server on loopback for Trove's tests, with request signatures verified.

GET /__launcher/stats answers {"connections": N, "requests": M} (counted by the launcher itself).

Prints one JSON line on stdout once ready:
  {"port": N, "endpoint": "http://127.0.0.1:N", "access_key_id": "...", "secret_access_key": "...",
   "buckets": [...]}
and runs until stdin closes (so it dies with the test process that spawned it) or SIGTERM.

moto 5.x gaps closed here, so the tests reject what AWS rejects:
  * moto recomputes SigV4 signatures from the percent-decoded URL, so a correctly signed request
    whose key or query holds encoded reserved characters (prefix=blobs%2F) fails. The wrapper hands
    the raw request target (werkzeug's RAW_URI) to moto's signature check.
  * moto never checks x-amz-content-sha256, Content-MD5 or x-amz-checksum-sha256 against the body.
    The wrapper does, and answers 400 XAmzContentSHA256Mismatch / BadDigest like S3.
  * moto's server (werkzeug's dev server) answers every request with `Connection: close`. The
    launcher serves moto's WSGI app from its own small threaded HTTP/1.1 keep-alive server
    (KeepAliveWSGIHandler below), so clients' connection reuse is exercised.
  * moto checks If-Match / If-None-Match and then writes in two steps, so racing conditional writers
    can both win. The wrapper serialises writes (PUT/POST/DELETE) so the check and the write are atomic.
  * with auth on, moto answers a request without an Authorization header with 500 (a KeyError);
    the wrapper answers 403 AccessDenied, as S3 does for anonymous requests to a private bucket.
  * moto may store an empty body when the content type is a form type; the wrapper rejects such PUTs
    (clients must send application/octet-stream).
"""
import argparse
import base64
import hashlib
import io
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote_to_bytes

from lifecycle import announce_and_serve

_local = threading.local()
_write_lock = threading.Lock()
AUTH = {"on": False}


def s3_error(start_response, status, code, message):
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>trove-launcher</RequestId></Error>"
    ).encode()
    start_response(status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
    return [body]


class Guard:
    """WSGI middleware in front of moto's app."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        _local.raw_target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        method = environ.get("REQUEST_METHOD", "GET")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))

        if not environ.get("PATH_INFO", "").startswith("/moto-api"):
            if AUTH["on"] and "HTTP_AUTHORIZATION" not in environ and "X-Amz-Credential" not in environ.get("QUERY_STRING", ""):
                return s3_error(start_response, "403 Forbidden", "AccessDenied", "Anonymous access is denied.")
            declared = environ.get("HTTP_X_AMZ_CONTENT_SHA256")
            if declared and not declared.startswith(("UNSIGNED-PAYLOAD", "STREAMING-")):
                if declared.lower() != hashlib.sha256(body).hexdigest():
                    return s3_error(start_response, "400 Bad Request", "XAmzContentSHA256Mismatch",
                                    "The provided 'x-amz-content-sha256' header does not match what was computed.")
            md5 = environ.get("HTTP_CONTENT_MD5")
            if md5 is not None and md5 != base64.b64encode(hashlib.md5(body).digest()).decode():
                return s3_error(start_response, "400 Bad Request", "BadDigest",
                                "The Content-MD5 you specified did not match what we received.")
            sha = environ.get("HTTP_X_AMZ_CHECKSUM_SHA256")
            if sha is not None and sha != base64.b64encode(hashlib.sha256(body).digest()).decode():
                return s3_error(start_response, "400 Bad Request", "BadDigest",
                                "The SHA256 you specified did not match the calculated checksum.")
            ctype = environ.get("CONTENT_TYPE", "")
            if method == "PUT" and body and ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
                return s3_error(start_response, "400 Bad Request", "InvalidRequest",
                                "test server: send object bodies as application/octet-stream")

        def start(status, headers, exc_info=None):
            headers = [(k, v) for (k, v) in headers if k.lower() != "connection"]
            return start_response(status, headers, exc_info)

        if method in ("PUT", "POST", "DELETE"):
            with _write_lock:
                return list(self.app(environ, start))
        return self.app(environ, start)


class KeepAliveWSGIHandler(BaseHTTPRequestHandler):
    """Serves a WSGI app over HTTP/1.1 with keep-alive (werkzeug's dev server always closes)."""

    protocol_version = "HTTP/1.1"
    app = None
    stats = {"connections": 0, "requests": 0}
    stats_lock = threading.Lock()

    def setup(self):
        super().setup()
        with self.stats_lock:
            self.stats["connections"] += 1

    def log_message(self, *a):  # quiet: tests read only stdout
        pass

    def handle_any(self):
        with self.stats_lock:
            self.stats["requests"] += 1
            snapshot = json.dumps(self.stats).encode()
        if self.path == "/__launcher/stats":  # connection and request counts, for reuse tests
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response_only(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(snapshot)))
            self.end_headers()
            self.wfile.write(snapshot)
            return
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path, _, query = self.path.partition("?")
        environ = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query,
            "RAW_URI": self.path,
            "REQUEST_URI": self.path,
            "SERVER_NAME": self.server.server_address[0],
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        if "Content-Type" in self.headers:
            environ["CONTENT_TYPE"] = self.headers["Content-Type"]
        for k, v in self.headers.items():
            name = "HTTP_" + k.upper().replace("-", "_")
            if name not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[name] = v if name not in environ else environ[name] + "," + v
        status_headers = []

        def start_response(status, headers, exc_info=None):
            status_headers[:] = [status, headers]
            return lambda data: None

        result = self.app(environ, start_response)
        try:
            data = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        status, headers = status_headers
        code, _, reason = status.partition(" ")
        self.send_response_only(int(code), reason)
        has_length = False
        for k, v in headers:
            lk = k.lower()
            if lk in ("connection", "transfer-encoding", "keep-alive"):
                continue
            if lk == "content-length":
                if self.command != "HEAD":
                    continue
                has_length = True
            self.send_header(k, v)
        if self.command != "HEAD" or not has_length:
            self.send_header("Content-Length", str(len(data) if self.command != "HEAD" else 0))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


def patch_moto_signature_check():
    from moto.iam import access_control

    original = access_control.IAMRequestBase._create_aws_request

    def _create_aws_request(self):
        raw = getattr(_local, "raw_target", None)
        if raw:
            self._path = raw
        return original(self)

    access_control.IAMRequestBase._create_aws_request = _create_aws_request


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--bucket", action="append", default=[], help="bucket to create (repeatable)")
    ap.add_argument("--no-auth", action="store_true", help="leave signature checking off")
    args = ap.parse_args()

    try:
        import boto3
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    except ImportError as e:
        print(f"moto_launcher: {e}: install with pip install 'moto[server]' boto3", file=sys.stderr)
        sys.exit(3)

    patch_moto_signature_check()

    KeepAliveWSGIHandler.app = Guard(DomainDispatcherApplication(create_backend_app))
    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer((args.host, args.port), KeepAliveWSGIHandler)
    port = server.server_address[1]
    endpoint = f"http://{args.host}:{port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()

    # Before auth is on: an IAM user with full access, its key, and the buckets.
    boot = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bootstrap",
                aws_secret_access_key="bootstrap")
    iam = boto3.client("iam", **boot)
    iam.create_user(UserName="trove")
    iam.put_user_policy(UserName="trove", PolicyName="all", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="trove")["AccessKey"]
    s3 = boto3.client("s3", **boot)
    for b in args.bucket:
        s3.create_bucket(Bucket=b)
    if not args.no_auth:
        import urllib.request
        req = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST",
                                     headers={"Content-Type": "text/plain"})
        urllib.request.urlopen(req).read()
        AUTH["on"] = True

    announce_and_serve({"port": port, "endpoint": endpoint, "access_key_id": key["AccessKeyId"],
                        "secret_access_key": key["SecretAccessKey"], "buckets": args.bucket})


if __name__ == "__main__":
    main()
