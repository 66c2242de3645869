#!/usr/bin/env python3
"""A small Azure Blob Storage server for Trove's tests, checking every signature with Microsoft's SDK.

  azure_server.py [--port 0] [--account troveaccount] [--container trove-test ...]

No Azure emulator installs from the registries this project reaches, so this implements the part of
the Blob service REST API that Trove (and rclone's azureblob backend, and the official SDK) use, with
Azure's status codes, headers and XML bodies, on a path-style endpoint http://127.0.0.1:PORT/ACCOUNT:

  Create/Get/Delete Container   PUT|GET|HEAD|DELETE /ACCOUNT/C?restype=container
  List Blobs                    GET /ACCOUNT/C?restype=container&comp=list (prefix, marker, maxresults
                                ≤5000, delimiter, include=metadata); opaque NextMarker
  Put Blob (BlockBlob)          PUT /ACCOUNT/C/BLOB; Content-MD5 checked (400 Md5Mismatch);
                                If-None-Match: * (409 BlobAlreadyExists), If-Match (412 ConditionNotMet)
  Put Block, Put Block List     PUT …?comp=block&blockid=…, PUT …?comp=blocklist (same conditions)
  Get Blob                      GET /ACCOUNT/C/BLOB, x-ms-range or Range (206; 416 InvalidRange)
  Get Blob Properties           HEAD /ACCOUNT/C/BLOB (errors in x-ms-error-code, no body)
  Delete Blob                   DELETE /ACCOUNT/C/BLOB
  Blob Batch                    POST /ACCOUNT/C?restype=container&comp=batch: multipart/mixed of ≤256
                                DELETE sub-requests, each authorised and answered on its own

Authorisation, on every request and every batch sub-request:
  * Shared Key: the expected Authorization header is computed by azure-storage-blob's own
    SharedKeyCredentialPolicy over the request as received (raw target, headers); a mismatch is
    403 AuthenticationFailed. x-ms-date more than 15 minutes off is 403 AuthenticationFailed
    ("Request date header too old/new").
  * SAS (sig= in the query): the signature is recomputed with the SDK's generate_container /
    generate_blob / generate_account from the token's own fields; mismatch or a time outside
    st..se is 403 AuthenticationFailed; a missing permission (r read, c/w create, w overwrite,
    l list, d delete) is 403 AuthorizationPermissionMismatch.
  * neither: 403 NoAuthenticationInformation.

Prints {"port", "endpoint", "account", "key", "containers"} as one JSON line once listening, and runs
until stdin closes. GET /__azure/stats counts requests by operation; GET /__azure/sas?container=…
&permissions=…&expires_in=SECONDS returns a container SAS made by the SDK's generate_container_sas
(negative expires_in: already expired). Both are unauthenticated test hooks.
"""
import argparse
import base64
import email.utils
import hashlib
import json
import os
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from xml.sax.saxutils import escape

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "s3server"))
from lifecycle import announce_and_serve  # noqa: E402

try:
    from azure.core.pipeline import PipelineContext, PipelineRequest
    from azure.core.pipeline.transport import HttpRequest as SdkRequest
    from azure.storage.blob import generate_container_sas
    from azure.storage.blob._shared.authentication import SharedKeyCredentialPolicy
    from azure.storage.blob._shared.shared_access_signature import SharedAccessSignature
    from azure.storage.blob._shared_access_signature import BlobSharedAccessSignature
except ImportError as e:  # the Swift launcher shows this with the install hint
    sys.exit(f"azure_server.py needs Microsoft's azure-storage-blob package: pip install azure-storage-blob ({e})")

SERVER_VERSION = "2021-12-02"
MAX_BATCH = 256
MAX_RESULTS = 5000
CLOCK_SKEW = timedelta(minutes=15)


class AzureError(Exception):
    def __init__(self, status, code, message, detail=None, headers=None):
        super().__init__(code)
        self.status, self.code, self.message, self.detail, self.headers = status, code, message, detail, headers or {}

    def body(self):
        rid = str(uuid.uuid4())
        msg = f"{self.message}\nRequestId:{rid}\nTime:{datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%f0Z')}"
        detail = f"<AuthenticationErrorDetail>{escape(self.detail)}</AuthenticationErrorDetail>" if self.detail else ""
        return (f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{self.code}</Code><Message>{escape(msg)}</Message>'
                f"{detail}</Error>").encode()


def not_found_blob():
    return AzureError(404, "BlobNotFound", "The specified blob does not exist.")


class Blob:
    def __init__(self, data, etag, md5, content_type, metadata):
        self.data, self.etag, self.md5, self.content_type, self.metadata = data, etag, md5, content_type, metadata
        self.modified = email.utils.formatdate(usegmt=True)


class Store:
    def __init__(self, account, key, containers):
        self.account, self.key = account, key
        self.lock = threading.Lock()
        self.containers = {c: {} for c in containers}
        self.blocks = {}  # (container, blob) -> {block id: bytes}, uncommitted
        self.counter = 0x8DC0000_0000000
        self.stats = {"requests": 0, "connections": 0, "auth_failures": 0}

    def count(self, key, n=1):
        with self.lock:
            self.stats[key] = self.stats.get(key, 0) + n

    def new_etag(self):
        self.counter += 1
        return f'"0x{self.counter:X}"'


# ---- authorisation, with the SDK's signing code -------------------------------------------------

def sdk_shared_key(store, method, url, headers):
    """The Authorization header azure-storage-blob would send for this request."""
    req = SdkRequest(method, url, headers={k: v for k, v in headers.items() if k != "authorization"})
    SharedKeyCredentialPolicy(store.account, store.key).on_request(PipelineRequest(req, PipelineContext(None)))
    return req.headers["Authorization"]


def parse_sas_time(s):
    s = s.strip()
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%MZ", "%Y-%m-%d"):
        try:
            return datetime.strptime(s, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    raise AzureError(403, "AuthenticationFailed", "Server failed to authenticate the request.", f"Invalid time format {s!r}")


def check_sas(store, query, container, blob, needs):
    """Recomputes the SAS signature with the SDK from the token's own fields; checks time and permissions."""
    q = query
    sv, sig, sp = q.get("sv", ""), q.get("sig", ""), q.get("sp", "")
    auth = "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature."
    hook = []
    if "ss" in q or "srt" in q:
        token = SharedAccessSignature(store.account, store.key, x_ms_version=sv).generate_account(
            services=q.get("ss"), resource_types=q.get("srt"), permission=sp, expiry=q.get("se"), start=q.get("st"),
            ip=q.get("sip"), protocol=q.get("spr"), sts_hook=hook.append)
        kind = "account"
    elif q.get("sr") in ("c", "b"):
        gen = BlobSharedAccessSignature(store.account, store.key)
        gen.x_ms_version = sv  # sign with the token's own version, as the service does
        common = dict(permission=sp or None, expiry=q.get("se"), start=q.get("st"), policy_id=q.get("si"), ip=q.get("sip"),
                      protocol=q.get("spr"), cache_control=q.get("rscc"), content_disposition=q.get("rscd"),
                      content_encoding=q.get("rsce"), content_language=q.get("rscl"), content_type=q.get("rsct"),
                      sts_hook=hook.append)
        if q["sr"] == "c":
            token = gen.generate_container(container or "", **common)
        else:
            token = gen.generate_blob(container or "", blob or "", **common)
        kind = "service"
    else:
        raise AzureError(403, "AuthenticationFailed", auth, "sr is mandatory. Cannot be empty")
    expected = dict(parse_qsl(token, keep_blank_values=True)).get("sig")
    if expected != sig:
        raise AzureError(403, "AuthenticationFailed", auth,
                         f"Signature did not match. String to sign used was {hook[0] if hook else ''}")
    now = datetime.now(timezone.utc)
    start = parse_sas_time(q["st"]) if q.get("st") else None
    expiry = parse_sas_time(q["se"]) if q.get("se") else None
    if (expiry and now > expiry) or (start and now < start - CLOCK_SKEW):
        raise AzureError(403, "AuthenticationFailed", auth,
                         f"Signature not valid in the specified time frame: Start [{q.get('st', '')}] - Expiry [{q.get('se', '')}] - Current [{email.utils.formatdate(usegmt=True)}]")
    if kind == "account":
        if "b" not in q.get("ss", ""):
            raise AzureError(403, "AuthorizationServiceMismatch", "This request is not authorized to perform this operation using this service.")
        rtype = "o" if blob else "c"
        if rtype not in q.get("srt", ""):
            raise AzureError(403, "AuthorizationResourceTypeMismatch", "This request is not authorized to perform this operation using this resource type.")
    if needs and not any(p in sp for p in needs):
        raise AzureError(403, "AuthorizationPermissionMismatch", "This request is not authorized to perform this operation using this permission.")


def authenticate(store, method, url, headers, query, container, blob, needs):
    """Raises AzureError unless the request carries a valid Shared Key signature or SAS."""
    try:
        if "sig" in query:
            check_sas(store, query, container, blob, needs)
            return
        auth = headers.get("authorization", "")
        if not auth:
            raise AzureError(403, "NoAuthenticationInformation", "Server failed to authenticate the request. Please refer to the information in the www-authenticate header.")
        if not auth.startswith("SharedKey "):
            raise AzureError(403, "InvalidAuthenticationInfo", "Authentication information is not given in the correct format. Check the value of Authorization header.")
        date = headers.get("x-ms-date") or headers.get("date")
        if not date:
            raise AzureError(403, "AuthenticationFailed", "Server failed to authenticate the request.", "Request date header not specified")
        sent = email.utils.parsedate_to_datetime(date)
        now = datetime.now(timezone.utc)
        if sent < now - CLOCK_SKEW:
            raise AzureError(403, "AuthenticationFailed", "Server failed to authenticate the request.", f"Request date header too old: '{date}'")
        if sent > now + CLOCK_SKEW:
            raise AzureError(403, "AuthenticationFailed", "Server failed to authenticate the request.", f"Request date header too new: '{date}'")
        expected = sdk_shared_key(store, method, url, headers)
        if auth != expected:
            raise AzureError(403, "AuthenticationFailed",
                             "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
                             f"The MAC signature found in the HTTP request '{auth.rsplit(':', 1)[-1]}' is not the same as any computed signature.")
    except AzureError:
        store.count("auth_failures")
        raise


# ---- the HTTP side ---------------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    store: Store = None
    server_version = "Windows-Azure-Blob/1.0"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        self.store.count("connections")

    # -- plumbing
    def respond(self, status, headers=None, body=b"", head=False):
        self.send_response(status)
        hdrs = {"x-ms-request-id": str(uuid.uuid4()), "x-ms-version": self.headers.get("x-ms-version") or SERVER_VERSION}
        hdrs.update(headers or {})
        if "Content-Length" not in hdrs:
            hdrs["Content-Length"] = str(len(body))
        for k, v in hdrs.items():
            self.send_header(k, v)
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def fail(self, e):
        body = e.body() if self.command != "HEAD" else b""
        hdrs = {"x-ms-error-code": e.code, "Content-Type": "application/xml"}
        hdrs.update(e.headers)
        if self.command == "HEAD":
            hdrs["Content-Length"] = "0"
        self.respond(e.status, hdrs, body)
        if e.status >= 400 and e.code != "BlobNotFound":
            print(f"{self.command} {self.path.split('?')[0]} -> {e.status} {e.code} {e.detail or ''}", file=sys.stderr, flush=True)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            self.route(body)
        except AzureError as e:
            self.fail(e)
        except Exception as e:  # a bug here should read as a server error, not a hang
            import traceback
            traceback.print_exc()
            self.fail(AzureError(500, "InternalError", f"test server bug: {e}"))

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    def route(self, body):
        st = self.store
        raw_path, _, raw_query = self.path.partition("?")
        if raw_path.startswith("/__azure/"):
            return self.hook(raw_path, dict(parse_qsl(raw_query)))
        st.count("requests")
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        segments = raw_path.split("/")  # "", account, container, blob...
        if len(segments) < 2 or unquote(segments[1]) != st.account:
            raise AzureError(400, "InvalidUri", "The requested URI does not represent any resource on the server.")
        container = unquote(segments[2]) if len(segments) > 2 and segments[2] else None
        blob = unquote("/".join(segments[3:])) if len(segments) > 3 else None
        headers = {k.lower(): v for k, v in self.headers.items()}
        url = f"http://{headers.get('host', '127.0.0.1')}{self.path}"
        m, comp, restype = self.command, query.get("comp"), query.get("restype")

        if blob is None:
            if container is None:
                raise AzureError(400, "InvalidQueryParameterValue", "Account-level operations are not implemented by the test server.")
            if m == "GET" and restype == "container" and comp == "list":
                authenticate(st, m, url, headers, query, container, None, "l")
                return self.list_blobs(container, query)
            if m == "POST" and restype == "container" and comp == "batch":
                authenticate(st, m, url, headers, query, container, None, "")
                return self.batch(container, headers, body)
            if restype == "container" and comp is None:
                authenticate(st, m, url, headers, query, container, None, {"PUT": "c", "DELETE": "d"}.get(m, "r"))
                return self.container_op(m, container)
            raise AzureError(400, "UnsupportedQueryParameter", f"Unsupported operation {m} {raw_query}")

        with st.lock:
            exists = blob in st.containers.get(container, {})
        needs = {"GET": "r", "HEAD": "r", "DELETE": "d"}.get(m, "w" if exists else "cw")
        authenticate(st, m, url, headers, query, container, blob, needs)
        if container not in st.containers:
            raise AzureError(404, "ContainerNotFound", "The specified container does not exist.")
        if m == "PUT" and comp == "block":
            return self.put_block(container, blob, query, headers, body)
        if m == "PUT" and comp == "blocklist":
            return self.put_block_list(container, blob, headers, body)
        if m == "PUT" and comp is None:
            return self.put_blob(container, blob, headers, body)
        if m in ("GET", "HEAD") and comp is None:
            return self.get_blob(container, blob, headers, head=(m == "HEAD"))
        if m == "DELETE" and comp is None:
            st.count("DeleteBlob")
            self.delete_one(container, blob)
            return self.respond(202, {"x-ms-delete-type-permanent": "true"})
        raise AzureError(400, "UnsupportedQueryParameter", f"Unsupported operation {m} ?{raw_query}")

    def hook(self, path, q):
        st = self.store
        if path == "/__azure/stats":
            with st.lock:
                data = json.dumps(st.stats).encode()
            return self.respond(200, {"Content-Type": "application/json"}, data)
        if path == "/__azure/sas":
            now = datetime.now(timezone.utc)
            seconds = int(q.get("expires_in", "3600"))
            token = generate_container_sas(st.account, q.get("container", ""), account_key=st.key, permission=q.get("permissions", "r"),
                                           expiry=now + timedelta(seconds=seconds), start=now - timedelta(minutes=5) - timedelta(seconds=max(0, -seconds)))
            return self.respond(200, {"Content-Type": "text/plain"}, token.encode())
        raise AzureError(404, "ResourceNotFound", "no such test hook")

    # -- containers and listings
    def container_op(self, m, container):
        st = self.store
        with st.lock:
            if m == "PUT":
                if container in st.containers:
                    raise AzureError(409, "ContainerAlreadyExists", "The specified container already exists.")
                st.containers[container] = {}
                return self.respond(201, {"ETag": st.new_etag(), "Last-Modified": email.utils.formatdate(usegmt=True)})
            if container not in st.containers:
                raise AzureError(404, "ContainerNotFound", "The specified container does not exist.")
            if m == "DELETE":
                del st.containers[container]
                return self.respond(202)
        return self.respond(200, {"ETag": '"0x8DC0000000000000"', "Last-Modified": email.utils.formatdate(usegmt=True),
                                  "x-ms-lease-status": "unlocked", "x-ms-lease-state": "available"}, head=(m == "HEAD"))

    def list_blobs(self, container, q):
        st = self.store
        st.count("ListBlobs")
        prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
        try:
            maxresults = int(q.get("maxresults", MAX_RESULTS))
        except ValueError:
            raise AzureError(400, "InvalidQueryParameterValue", "Value for one of the query parameters specified in the request URI is invalid.")
        if not 1 <= maxresults <= MAX_RESULTS:
            raise AzureError(400, "OutOfRangeQueryParameterValue", "One of the query parameters specified in the request URI is outside the permissible range.")
        start = ""
        if q.get("marker"):
            try:
                start = base64.urlsafe_b64decode(q["marker"].split("!", 1)[1].encode()).decode()
            except Exception:
                raise AzureError(400, "OutOfRangeInput", "One of the request inputs is out of range.")
        with st.lock:
            if container not in st.containers:
                raise AzureError(404, "ContainerNotFound", "The specified container does not exist.")
            names = sorted(n for n in st.containers[container] if n.startswith(prefix) and n >= start)
            blobs = st.containers[container]
            entries, seen_prefixes, next_marker = [], set(), ""
            for n in names:
                if len(entries) == maxresults:
                    next_marker = "2!" + base64.urlsafe_b64encode(n.encode()).decode()
                    break
                if delimiter:
                    cut = n.find(delimiter, len(prefix))
                    if cut >= 0:
                        p = n[: cut + len(delimiter)]
                        if p not in seen_prefixes:
                            seen_prefixes.add(p)
                            entries.append(f"<BlobPrefix><Name>{escape(p)}</Name></BlobPrefix>")
                        continue
                b = blobs[n]
                meta = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in b.metadata.items())
                md5 = f"<Content-MD5>{b.md5}</Content-MD5>" if b.md5 else "<Content-MD5 />"
                entries.append(
                    f"<Blob><Name>{escape(n)}</Name><Properties><Creation-Time>{b.modified}</Creation-Time>"
                    f"<Last-Modified>{b.modified}</Last-Modified><Etag>{b.etag.strip(chr(34))}</Etag>"
                    f"<Content-Length>{len(b.data)}</Content-Length><Content-Type>{escape(b.content_type)}</Content-Type>"
                    f"<Content-Encoding /><Content-Language /><Content-CRC64 />{md5}<Cache-Control /><Content-Disposition />"
                    f"<BlobType>BlockBlob</BlobType><AccessTier>Hot</AccessTier><AccessTierInferred>true</AccessTierInferred>"
                    f"<LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState><ServerEncrypted>true</ServerEncrypted>"
                    f"</Properties>{'<Metadata>' + meta + '</Metadata>' if 'metadata' in q.get('include', '') else ''}</Blob>")
        endpoint = f"http://{self.headers.get('Host', '127.0.0.1')}/{st.account}/"
        xml = (f'<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="{escape(endpoint)}" ContainerName="{escape(container)}">'
               f"<Prefix>{escape(prefix)}</Prefix>{'<Marker>' + escape(q['marker']) + '</Marker>' if q.get('marker') else ''}"
               f"<MaxResults>{maxresults}</MaxResults>{'<Delimiter>' + escape(delimiter) + '</Delimiter>' if delimiter else ''}"
               f"<Blobs>{''.join(entries)}</Blobs><NextMarker>{escape(next_marker)}</NextMarker></EnumerationResults>").encode()
        self.respond(200, {"Content-Type": "application/xml"}, xml)

    # -- writes
    def check_md5(self, headers, body):
        declared = headers.get("content-md5")
        if declared is not None and declared != base64.b64encode(hashlib.md5(body).digest()).decode():
            raise AzureError(400, "Md5Mismatch", "The MD5 value specified in the request did not match with the MD5 value calculated by the server.")

    def check_conditions(self, existing, headers):
        match, none_match = headers.get("if-match"), headers.get("if-none-match")
        if none_match == "*" and existing is not None:
            raise AzureError(409, "BlobAlreadyExists", "The specified blob already exists.")
        if none_match and none_match != "*" and existing is not None and existing.etag == none_match:
            raise AzureError(412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")
        if match and match != "*" and (existing is None or existing.etag != match):
            raise AzureError(412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")
        if match == "*" and existing is None:
            raise AzureError(412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")

    def commit(self, container, blob, headers, data, md5):
        st = self.store
        meta = {k[len("x-ms-meta-"):]: v for k, v in headers.items() if k.startswith("x-ms-meta-")}
        with st.lock:  # the condition check and the write are one step
            blobs = st.containers[container]
            self.check_conditions(blobs.get(blob), headers)
            b = Blob(data, st.new_etag(), md5, headers.get("x-ms-blob-content-type") or headers.get("content-type") or "application/octet-stream", meta)
            blobs[blob] = b
            st.blocks.pop((container, blob), None)
        return b

    def put_blob(self, container, blob, headers, body):
        self.store.count("PutBlob")
        if headers.get("x-ms-blob-type") != "BlockBlob":
            raise AzureError(400, "MissingRequiredHeader" if "x-ms-blob-type" not in headers else "InvalidHeaderValue",
                             "An HTTP header that's mandatory for this request is not specified.")
        self.check_md5(headers, body)
        md5 = headers.get("x-ms-blob-content-md5") or base64.b64encode(hashlib.md5(body).digest()).decode()
        b = self.commit(container, blob, headers, body, md5)
        self.respond(201, {"ETag": b.etag, "Last-Modified": b.modified, "Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode(),
                           "x-ms-request-server-encrypted": "true"})

    def put_block(self, container, blob, q, headers, body):
        st = self.store
        st.count("PutBlock")
        self.check_md5(headers, body)
        with st.lock:
            st.blocks.setdefault((container, blob), {})[q.get("blockid", "")] = body
        self.respond(201, {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode(), "x-ms-request-server-encrypted": "true"})

    def put_block_list(self, container, blob, headers, body):
        st = self.store
        st.count("PutBlockList")
        self.check_md5(headers, body)
        import re
        ids = re.findall(rb"<(?:Latest|Uncommitted|Committed)>([^<]*)</", body)
        with st.lock:
            staged = st.blocks.get((container, blob), {})
            try:
                data = b"".join(staged[i.decode()] for i in ids)
            except KeyError:
                raise AzureError(400, "InvalidBlockList", "The specified block list is invalid.")
        b = self.commit(container, blob, headers, data, headers.get("x-ms-blob-content-md5"))
        self.respond(201, {"ETag": b.etag, "Last-Modified": b.modified, "x-ms-request-server-encrypted": "true"})

    # -- reads
    def get_blob(self, container, blob, headers, head):
        st = self.store
        st.count("GetBlobProperties" if head else "GetBlob")
        with st.lock:
            b = st.containers[container].get(blob)
        if b is None:
            raise not_found_blob()
        common = {"ETag": b.etag, "Last-Modified": b.modified, "Content-Type": b.content_type, "Accept-Ranges": "bytes",
                  "x-ms-blob-type": "BlockBlob", "x-ms-server-encrypted": "true", "x-ms-creation-time": b.modified}
        for k, v in b.metadata.items():
            common["x-ms-meta-" + k] = v
        rng = headers.get("x-ms-range") or headers.get("range")
        if head or not rng:
            if b.md5:
                common["Content-MD5"] = b.md5
            common["Content-Length"] = str(len(b.data))
            return self.respond(200, common, b.data, head=head)
        size = len(b.data)
        try:
            unit, spec = rng.split("=", 1)
            a, _, z = spec.partition("-")
            start = int(a)
            end = int(z) if z else size - 1
            if unit.strip() != "bytes" or start < 0 or end < start:
                raise ValueError
        except ValueError:
            raise AzureError(400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct format.")
        if start >= size:
            raise AzureError(416, "InvalidRange", "The range specified is invalid for the current size of the resource.",
                             headers={"Content-Range": f"bytes */{size}"})
        end = min(end, size - 1)
        if b.md5:
            common["x-ms-blob-content-md5"] = b.md5
        common["Content-Range"] = f"bytes {start}-{end}/{size}"
        self.respond(206, common, b.data[start:end + 1])

    # -- deletes
    def delete_one(self, container, blob):
        st = self.store
        with st.lock:
            if container not in st.containers:
                raise AzureError(404, "ContainerNotFound", "The specified container does not exist.")
            if st.containers[container].pop(blob, None) is None:
                raise not_found_blob()

    def batch(self, container, headers, body):
        st = self.store
        st.count("BlobBatch")
        ctype = headers.get("content-type", "")
        if not ctype.startswith("multipart/mixed") or "boundary=" not in ctype:
            raise AzureError(400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct format.")
        boundary = ctype.split("boundary=", 1)[1].split(";")[0].strip().strip('"')
        text = body.decode("utf-8", "replace")
        parts = [p for p in text.split("--" + boundary)[1:] if not p.startswith("--")]
        if not parts:
            raise AzureError(400, "InvalidInput", "One of the request inputs is not valid.")
        if len(parts) > MAX_BATCH:
            raise AzureError(400, "ExceedsMaxBatchRequestCount", f"The batch operation exceeds maximum number of allowed subrequests ({MAX_BATCH}).")
        answer_boundary = "batchresponse_" + str(uuid.uuid4())
        out = []
        host = headers.get("host", "127.0.0.1")
        for n, part in enumerate(parts):
            lines = part.replace("\r\n", "\n").split("\n")
            i = 1 if lines and lines[0] == "" else 0
            part_headers = {}
            while i < len(lines) and lines[i]:
                k, _, v = lines[i].partition(":")
                part_headers[k.strip().lower()] = v.strip()
                i += 1
            i += 1
            content_id = part_headers.get("content-id", str(n))
            request_line = lines[i] if i < len(lines) else ""
            i += 1
            sub_headers = {}
            while i < len(lines) and lines[i]:
                k, _, v = lines[i].partition(":")
                sub_headers[k.strip().lower()] = v.strip()
                i += 1
            status_line, extra, sub_body = self.sub_request(container, host, request_line, sub_headers)
            out.append(f"--{answer_boundary}\r\nContent-Type: application/http\r\nContent-ID: {content_id}\r\n\r\n"
                       f"HTTP/1.1 {status_line}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in extra.items()) + "\r\n" + sub_body)
        out.append(f"--{answer_boundary}--\r\n")
        self.respond(202, {"Content-Type": f"multipart/mixed; boundary={answer_boundary}"}, "".join(out).encode())

    def sub_request(self, container, host, request_line, headers):
        st = self.store
        st.count("BatchDelete")
        rid = {"x-ms-request-id": str(uuid.uuid4()), "x-ms-version": SERVER_VERSION}
        try:
            method, target, _ = request_line.split(" ", 2)
            path, _, raw_query = target.partition("?")
            query = dict(parse_qsl(raw_query, keep_blank_values=True))
            segs = path.split("/")
            # Sub-request paths are /CONTAINER/BLOB, or /ACCOUNT/CONTAINER/BLOB on a path-style endpoint.
            if len(segs) > 2 and unquote(segs[1]) == st.account and unquote(segs[2]) == container and len(segs) > 3:
                segs = segs[1:]
            if method != "DELETE" or len(segs) < 3 or unquote(segs[1]) != container:
                raise AzureError(400, "InvalidInput", "Only Delete Blob sub-requests on this container are supported.")
            blob = unquote("/".join(segs[2:]))
            authenticate(st, method, f"http://{host}{target}", headers, query, container, blob, "d")
            self.delete_one(container, blob)
            return "202 Accepted", dict(rid, **{"x-ms-delete-type-permanent": "true"}), ""
        except AzureError as e:
            body = e.body().decode()
            return (f"{e.status} {e.message}", dict(rid, **{"x-ms-error-code": e.code, "Content-Type": "application/xml",
                                                           "Content-Length": str(len(body))}), body + "\r\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--account", default="troveaccount")
    ap.add_argument("--key", default=None, help="base64 account key (default: random)")
    ap.add_argument("--container", action="append", default=None)
    args = ap.parse_args()
    key = args.key or base64.b64encode(os.urandom(64)).decode()
    containers = args.container or ["trove-test"]
    Handler.store = Store(args.account, key, containers)
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    announce_and_serve({"port": port, "endpoint": f"http://{args.host}:{port}/{args.account}", "account": args.account,
                        "key": key, "containers": containers})


if __name__ == "__main__":
    main()
