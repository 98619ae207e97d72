"""A real S3-compatible server on loopback for the S3 backend's tests: moto's server mode
in a child process (its own interpreter, so neither the server under test nor the test's
memory measurements share a process with the bucket's contents).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx

from tests.support.servers import free_port

REGION = "us-east-1"
ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key"


@attrs.frozen
class S3Server:
    endpoint: str

    def client(self) -> Any:
        """A plain (synchronous) boto3 client, to look into buckets from the test."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(s3={"addressing_style": "path"}),
        )

    def new_bucket(self) -> Bucket:
        name = f"skysend-{uuid.uuid4().hex[:20]}"
        client = self.client()
        client.create_bucket(Bucket=name)
        return Bucket(self, name, client)

    def env(self, bucket: str, **extra: str) -> dict[str, str]:
        """The server's environment for ``STORAGE_BACKEND=s3`` on ``bucket``."""
        return {
            "STORAGE_BACKEND": "s3",
            "S3_BUCKET": bucket,
            "S3_REGION": REGION,
            "S3_ENDPOINT": self.endpoint,
            "S3_ACCESS_KEY": ACCESS_KEY,
            "S3_SECRET_KEY": SECRET_KEY,
            "S3_FORCE_PATH_STYLE": "true",
            **extra,
        }


@attrs.frozen
class Bucket:
    server: S3Server
    name: str
    client: Any

    def objects(self) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def uploads(self) -> list[str]:
        """Keys of incomplete multipart uploads."""
        answer = self.client.list_multipart_uploads(Bucket=self.name)
        return sorted(item["Key"] for item in answer.get("Uploads", []))

    def read(self, key: str) -> bytes:
        data: bytes = self.client.get_object(Bucket=self.name, Key=key)["Body"].read()
        return data

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=data)


@contextlib.contextmanager
def running_s3(log_dir: Path) -> Iterator[S3Server]:
    """moto's S3 server on 127.0.0.1 and a free port, until the block ends."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / "moto.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(endpoint, process)
        yield S3Server(endpoint)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_ready(endpoint: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with {process.returncode}")
        with contextlib.suppress(httpx.TransportError):
            httpx.get(f"{endpoint}/moto-api/", timeout=1)
            return
        time.sleep(0.1)
    raise RuntimeError("moto server did not start")
