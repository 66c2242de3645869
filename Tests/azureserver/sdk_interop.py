#!/usr/bin/env python3
"""Reads a Trove store in an Azure container with Microsoft's SDK, for the interop test.

  sdk_interop.py --endpoint URL --account A --key K --container C --prefix P [--download NAME --out FILE]

Prints the blob names under PREFIX/ as one JSON list; with --download, writes that blob's bytes to FILE.
"""
import argparse
import json

from azure.storage.blob import BlobServiceClient

ap = argparse.ArgumentParser()
for a in ("--endpoint", "--account", "--key", "--container", "--prefix"):
    ap.add_argument(a, required=True)
ap.add_argument("--download")
ap.add_argument("--out")
args = ap.parse_args()
c = BlobServiceClient(account_url=args.endpoint, credential={"account_name": args.account, "account_key": args.key}) \
    .get_container_client(args.container)
print(json.dumps([b.name for b in c.list_blobs(name_starts_with=args.prefix + "/")]))
if args.download:
    with open(args.out, "wb") as f:
        f.write(c.download_blob(args.download).readall())
