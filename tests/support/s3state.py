"""Helpers for tests of the S3 state backend against the moto server (see tests/conftest.py)."""

from __future__ import annotations

import itertools
import json
import os
import time
from typing import Any

import boto3
from botocore.exceptions import ClientError
from tests.support.motoaws import REGION

_names = itertools.count(1)
KEY = "envs/prod/meshprov.json"


class S3:
    """The test's own view of the moto server's S3."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self.client = boto3.client(
            "s3",
            region_name=REGION,
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def bucket(self, versioned: bool = False) -> str:
        name = f"meshprov-state-{os.getpid()}-{next(_names)}-{int(time.time() * 1000) % 10**8}"
        self.client.create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        if versioned:
            self.client.put_bucket_versioning(
                Bucket=name, VersioningConfiguration={"Status": "Enabled"}
            )
        return name

    def get(self, bucket: str, key: str = KEY) -> bytes | None:
        try:
            return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "NoSuchKey":
                return None
            raise

    def head(self, bucket: str, key: str = KEY) -> dict[str, Any]:
        return self.client.head_object(Bucket=bucket, Key=key)

    def put(self, bucket: str, data: bytes, key: str = KEY) -> None:
        self.client.put_object(Bucket=bucket, Key=key, Body=data)

    def state(self, bucket: str, key: str = KEY) -> dict[str, Any]:
        data = self.get(bucket, key)
        assert data is not None, f"no state at s3://{bucket}/{key}"
        return json.loads(data)

    def lock(self, bucket: str, key: str = KEY) -> dict[str, Any] | None:
        data = self.get(bucket, key + ".lock")
        return None if data is None else json.loads(data)

    def keys(self, bucket: str) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=bucket)
        return sorted(o["Key"] for o in listing.get("Contents", []))

    def versions(self, bucket: str, key: str = KEY) -> list[bytes]:
        listing = self.client.list_object_versions(Bucket=bucket, Prefix=key)
        out = []
        for version in listing.get("Versions", []):
            if version["Key"] == key:
                body = self.client.get_object(
                    Bucket=bucket, Key=key, VersionId=version["VersionId"]
                )["Body"].read()
                out.append(body)
        return out


def backend_block(
    bucket: str, endpoint: str, key: str = KEY, extra: str = "", encryption: str = ""
) -> str:
    """A ``meshprov`` block with an S3 backend (and, optionally, an encryption block)."""
    return f"""
meshprov {{
  backend "s3" {{
    bucket       = "{bucket}"
    key          = "{key}"
    region       = "{REGION}"
    endpoint_url = "{endpoint}"
{extra}  }}
{encryption}}}
"""


def encryption_block(env: str = "MESHPROV_STATE_PASSPHRASE", fallback: str | None = None) -> str:
    lines = f'  encryption {{\n    passphrase_env = "{env}"\n'
    if fallback:
        lines += f'    fallback_passphrase_env = "{fallback}"\n'
    return lines + "  }\n"
