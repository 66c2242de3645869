#!/usr/bin/env python3
"""Writes Tests/TroveS3Tests/Fixtures/sigv4_botocore.json: requests that boto3/botocore built and signed.

Each case records the logical inputs (method, bucket, decoded key, decoded query pairs) and what
botocore sent (URL, every header, Authorization). SigV4SignerTests signs the same logical request with
Trove's signer and must produce the same URL encoding and the same Authorization header.

Run: python3 Tests/s3server/sigv4_fixtures.py   (needs boto3; no network: requests are captured, not sent)
"""
import datetime
import json
import os
from urllib.parse import parse_qsl, unquote, urlsplit

import boto3
import botocore.auth
from botocore.awsrequest import AWSResponse
from botocore.config import Config

FIXED = datetime.datetime(2026, 3, 14, 15, 9, 26, tzinfo=datetime.timezone.utc)
botocore.auth.get_current_datetime = lambda *a, **k: FIXED

ENDPOINT = "http://127.0.0.1:9000"
BUCKET = "trove-fixtures"


class Captured(Exception):
    pass


def capture(client, op, **kwargs):
    seen = {}

    def before_send(request, **_):
        seen["method"] = request.method
        seen["url"] = request.url
        seen["headers"] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        seen["body"] = (body or b"").decode("utf-8") if isinstance(body, (bytes, bytearray)) else (body or "")
        raise Captured()

    client.meta.events.register("before-send", before_send)
    try:
        getattr(client, op)(**kwargs)
    except Captured:
        pass
    finally:
        client.meta.events.unregister("before-send", before_send)
    return seen


def make_client(token=None):
    return boto3.client(
        "s3", endpoint_url=ENDPOINT, region_name="us-east-1",
        aws_access_key_id="AKIDTROVEFIXTURE", aws_secret_access_key="tr0ve/Secret+Key=Example",
        aws_session_token=token,
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                      request_checksum_calculation="when_required", response_checksum_validation="when_required"))


def main():
    cases = []
    plain = make_client()
    with_token = make_client(token="FQoGZXIvYXdzEXAMPLE//token+with/specials=")
    specs = [
        ("put key with spaces, unicode and %2F", plain, "put_object",
         dict(Bucket=BUCKET, Key="dir/a b/ünï cödé/%2F+=&?;.txt", Body=b"hello world", ContentType="application/octet-stream")),
        ("get with range and sub-delims in key", plain, "get_object",
         dict(Bucket=BUCKET, Key="x y/z~_-.!*'()@$,", Range="bytes=0-9")),
        ("list with a prefix and token needing encoding", plain, "list_objects_v2",
         dict(Bucket=BUCKET, Prefix="blobs/ä b+c=d&e/", ContinuationToken="1/abc+def==", MaxKeys=1000)),
        ("delete objects (POST ?delete)", plain, "delete_objects",
         dict(Bucket=BUCKET, Delete={"Objects": [{"Key": "a/b"}, {"Key": "c d"}], "Quiet": True})),
        ("head with a session token", with_token, "head_object", dict(Bucket=BUCKET, Key="refs/main")),
        ("conditional put", plain, "put_object",
         dict(Bucket=BUCKET, Key="refs/heads/main", Body=b"v2", IfMatch='"0123456789abcdef"')),
    ]
    for name, client, op, kwargs in specs:
        seen = capture(client, op, **kwargs)
        url = urlsplit(seen["url"])
        prefix = f"/{BUCKET}"
        raw_path = url.path
        key = unquote(raw_path[len(prefix) + 1:]) if raw_path.startswith(prefix + "/") else None
        auth = seen["headers"]["Authorization"]
        signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
        cases.append({
            "name": name,
            "method": seen["method"],
            "bucket": BUCKET,
            "key": key,
            "query": [[k, v] for k, v in parse_qsl(url.query, keep_blank_values=True)],
            "url": seen["url"],
            "raw_path": raw_path,
            "raw_query": url.query,
            "signed_headers": signed,
            "headers": {k: v for k, v in seen["headers"].items()},
            "authorization": auth,
            "amz_date": seen["headers"]["X-Amz-Date"],
            "access_key_id": "AKIDTROVEFIXTURE",
            "secret_access_key": "tr0ve/Secret+Key=Example",
            "region": "us-east-1",
        })
    out = os.path.join(os.path.dirname(__file__), "..", "TroveS3Tests", "Fixtures", "sigv4_botocore.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"generator": "Tests/s3server/sigv4_fixtures.py", "botocore": botocore.__version__, "cases": cases},
                  f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {os.path.normpath(out)}")


if __name__ == "__main__":
    main()
