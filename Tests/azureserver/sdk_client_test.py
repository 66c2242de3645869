#!/usr/bin/env python3
"""Proves azure_server.py faithful to Azure by driving it with Microsoft's own SDK as the client.

  python3 Tests/azureserver/sdk_client_test.py     (run by `make test`; exits non-zero on any failure)

Starts the server, then with azure-storage-blob's BlobServiceClient: upload (with Content-MD5, and a
damaged one), ranged download, properties, paged listing, batch delete (with a missing blob),
conditional writes (If-None-Match: *, If-Match), a container SAS (read-only and full), an expired
SAS, a wrong account key and a missing container; each must behave and fail as on Azure.
"""
import base64
import hashlib
import json
import os
import subprocess
import sys
import unittest
from datetime import datetime, timedelta, timezone

from azure.core import MatchConditions
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient, ContentSettings, generate_container_sas

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = {}


def setUpModule():
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "azure_server.py"), "--port", "0", "--container", "sdk-test"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    SERVER.update(json.loads(p.stdout.readline()))
    SERVER["process"] = p


def tearDownModule():
    p = SERVER["process"]
    p.stdin.close()
    p.wait(timeout=10)


def service(key=None):
    return BlobServiceClient(account_url=SERVER["endpoint"], credential={"account_name": SERVER["account"], "account_key": key or SERVER["key"]})


def container(name="sdk-test", key=None):
    return service(key).get_container_client(name)


def sas_container(permission, expiry_delta=timedelta(hours=1)):
    now = datetime.now(timezone.utc)
    token = generate_container_sas(SERVER["account"], "sdk-test", account_key=SERVER["key"], permission=permission,
                                   expiry=now + expiry_delta, start=now - timedelta(hours=2))
    return ContainerClient.from_container_url(f"{SERVER['endpoint']}/sdk-test", credential=token)


class SDKAgainstServer(unittest.TestCase):
    def test_upload_download_ranges_and_properties(self):
        c = container()
        data = os.urandom(300_000)
        b = c.get_blob_client("t1/packs/ab cd+é")  # a name needing encoding
        r = b.upload_blob(data, overwrite=True, content_settings=ContentSettings(content_md5=hashlib.md5(data).digest()))
        self.assertTrue(r["etag"])
        self.assertEqual(b.download_blob().readall(), data)
        self.assertEqual(b.download_blob(offset=1000, length=50).readall(), data[1000:1050])
        self.assertEqual(b.download_blob(offset=299_990).readall(), data[299_990:])
        props = b.get_blob_properties()
        self.assertEqual(props.size, len(data))
        self.assertEqual(props.etag, r["etag"])
        self.assertEqual(props.content_settings.content_md5, hashlib.md5(data).digest())
        with self.assertRaises(HttpResponseError) as e:
            b.download_blob(offset=len(data), length=10).readall()
        self.assertEqual(e.exception.error_code, "InvalidRange")
        with self.assertRaises(ResourceNotFoundError) as e:
            c.get_blob_client("t1/none").get_blob_properties()
        self.assertEqual(e.exception.error_code, "BlobNotFound")

    def test_damaged_body_is_rejected(self):
        b = container().get_blob_client("t2/damaged")
        with self.assertRaises(HttpResponseError) as e:
            b.upload_blob(b"the bytes", overwrite=True, headers={"Content-MD5": base64.b64encode(hashlib.md5(b"other").digest()).decode()})
        self.assertEqual(e.exception.error_code, "Md5Mismatch")
        self.assertFalse(b.exists())

    def test_paged_listing(self):
        c = container()
        names = [f"t3/l/{i:04d}" for i in range(23)]
        for n in names:
            c.upload_blob(n, b"x", overwrite=True)
        c.upload_blob("t3/other", b"y", overwrite=True)
        pages = list(c.list_blobs(name_starts_with="t3/l/", results_per_page=5).by_page())
        got = [[b.name for b in p] for p in pages]
        self.assertEqual(len(got), 5)
        self.assertEqual(sum(got, []), names)
        walked = [p.name for p in c.walk_blobs(name_starts_with="t3/", delimiter="/")]
        self.assertEqual(walked, ["t3/l/", "t3/other"])

    def test_batch_delete(self):
        c = container()
        for i in range(300):
            c.upload_blob(f"t4/{i:03d}", b"z", overwrite=True)
        names = [f"t4/{i:03d}" for i in range(256)]
        results = c.delete_blobs(*names)
        self.assertEqual([r.status_code for r in results], [202] * 256)
        left = [b.name for b in c.list_blobs(name_starts_with="t4/")]
        self.assertEqual(left, [f"t4/{i:03d}" for i in range(256, 300)])
        # A missing blob fails its own sub-request only.
        results = c.delete_blobs("t4/299", "t4/missing", raise_on_any_failure=False)
        self.assertEqual([r.status_code for r in results], [202, 404])
        # More than 256 sub-requests is refused as a whole.
        with self.assertRaises(HttpResponseError) as e:
            c.delete_blobs(*[f"t4/x{i}" for i in range(257)])
        self.assertIn("ExceedsMaxBatchRequestCount", str(e.exception))

    def test_conditional_writes(self):
        b = container().get_blob_client("t5/ref")
        etag = b.upload_blob(b"v1", overwrite=False)["etag"]
        with self.assertRaises(ResourceExistsError) as e:  # If-None-Match: *
            b.upload_blob(b"v1b", overwrite=False)
        self.assertEqual(e.exception.error_code, "BlobAlreadyExists")
        etag2 = b.upload_blob(b"v2", overwrite=True, etag=etag, match_condition=MatchConditions.IfNotModified)["etag"]
        with self.assertRaises(ResourceModifiedError) as e:  # If-Match on a stale ETag
            b.upload_blob(b"v3", overwrite=True, etag=etag, match_condition=MatchConditions.IfNotModified)
        self.assertEqual(e.exception.error_code, "ConditionNotMet")
        self.assertEqual(b.download_blob().readall(), b"v2")
        self.assertEqual(b.get_blob_properties().etag, etag2)

    def test_sas_permissions_and_expiry(self):
        full = sas_container("racwdl")
        full.upload_blob("t6/a", b"sas", overwrite=True)
        self.assertEqual(full.download_blob("t6/a").readall(), b"sas")
        self.assertEqual([b.name for b in full.list_blobs(name_starts_with="t6/")], ["t6/a"])
        full.delete_blobs("t6/a")
        self.assertFalse(container().get_blob_client("t6/a").exists())
        container().upload_blob("t6/b", b"b", overwrite=True)
        read_only = sas_container("rl")
        self.assertEqual(read_only.download_blob("t6/b").readall(), b"b")
        with self.assertRaises(HttpResponseError) as e:
            read_only.upload_blob("t6/c", b"c")
        self.assertEqual(e.exception.error_code, "AuthorizationPermissionMismatch")
        results = read_only.delete_blobs("t6/b", raise_on_any_failure=False)
        self.assertEqual([r.status_code for r in results], [403])
        expired = sas_container("racwdl", expiry_delta=timedelta(minutes=-1))
        with self.assertRaises(ClientAuthenticationError) as e:
            expired.download_blob("t6/b").readall()
        self.assertEqual(e.exception.error_code, "AuthenticationFailed")
        self.assertIn("time frame", str(e.exception))

    def test_wrong_key_and_missing_container(self):
        wrong = base64.b64encode(os.urandom(64)).decode()
        with self.assertRaises(ClientAuthenticationError) as e:
            container(key=wrong).upload_blob("t7/x", b"x")
        self.assertEqual(e.exception.error_code, "AuthenticationFailed")
        with self.assertRaises(ResourceNotFoundError) as e:
            container("no-such-container").upload_blob("x", b"x")
        self.assertEqual(e.exception.error_code, "ContainerNotFound")
        # Create, use and delete a container through the SDK.
        c = service().create_container("sdk-made")
        c.upload_blob("k", b"v")
        self.assertEqual([b.name for b in c.list_blobs()], ["k"])
        c.delete_container()
        with self.assertRaises(ResourceNotFoundError):
            service().get_container_client("sdk-made").get_container_properties()


if __name__ == "__main__":
    unittest.main(verbosity=2)
