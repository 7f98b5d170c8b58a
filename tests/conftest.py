"""Real parts on loopback: a moto S3 server and the Braze sandbox, each its own process."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import requests

TEST_API_KEY = "sandbox-test-key-3f9a1c"  # not a secret: the sandbox's test key


PROFILESYNC = Path(sys.executable).parent / "profilesync"


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """`profilesync ARGS` as a user runs it: a process of its own, wide output, extra variables added."""
    environment = {**os.environ, "COLUMNS": "250", **(env or {})}
    return subprocess.run([str(PROFILESYNC), *args], capture_output=True, text=True, env=environment, timeout=timeout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode} before serving {url}")
        try:
            requests.get(url, timeout=5)
            return
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or slow to answer on a busy machine
            time.sleep(0.05)
    raise RuntimeError(f"nothing answered at {url} within {timeout} s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """moto's S3 server as a separate process; the AWS variables point every client at it."""
    port = free_port()
    moto_server = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    process = subprocess.Popen(
        [moto_server, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    wait_for_http(endpoint, process)
    saved = {k: os.environ.get(k) for k in _AWS_ENV}
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="moto-secret-key-7c1e",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ALLOW_HTTP="true",
    )
    os.environ.pop("AWS_PROFILE", None)
    try:
        yield endpoint
    finally:
        stop(process)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_AWS_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ALLOW_HTTP",
    "AWS_PROFILE",
)


def make_bucket() -> str:
    name = f"test-{uuid.uuid4().hex[:16]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture
def bucket(moto_s3: str) -> str:
    """A fresh, empty bucket on the moto server."""
    return make_bucket()


# -- the Braze sandbox ------------------------------------------------------------------------


def start_sandbox(storage: str, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """`profilesync sandbox --port 0 --storage STORAGE ARGS...` as a process; returns it and its URL."""
    import select

    command = shutil.which("profilesync", path=str(Path(sys.executable).parent)) or "profilesync"
    process = subprocess.Popen(
        [command, "sandbox", "--port", "0", "--storage", storage, *args],
        stdout=subprocess.PIPE,
        text=True,
        env=env if env is not None else dict(os.environ),
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 30)
    line = process.stdout.readline() if ready else ""
    prefix = "profilesync sandbox listening on "
    if not line.startswith(prefix):
        stop(process)
        raise RuntimeError(f"the sandbox did not start: first line {line!r}, exit code {process.poll()}")
    return process, line[len(prefix) :].strip()


class SandboxHandle:
    """One test's view of the sandbox: URL, key, admin API, its own exports bucket."""

    def __init__(self, url: str, api_key: str, bucket: str) -> None:
        from pipeline.sandbox.admin_client import SandboxAdmin

        self.url = url
        self.api_key = api_key
        self.bucket = bucket
        self.admin = SandboxAdmin(url)

    def client(self, **options):
        """A BrazeClient on the sandbox, with backoff short enough for tests."""
        from pipeline.braze import BrazeClient

        defaults = {"api_key": self.api_key, "backoff_base": 0.01, "backoff_cap": 0.1, "timeout": 10.0}
        return BrazeClient(self.url, **{**defaults, **options})

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", **extra}

    def store(self):
        from pipeline.storage import open_store

        return open_store(f"s3://{self.bucket}")


@pytest.fixture(scope="session")
def sandbox_process(moto_s3: str) -> Iterator[str]:
    """One sandbox process per test session (per xdist worker), exporting to the moto server."""
    process, url = start_sandbox(f"s3://{make_bucket()}", "--api-key", TEST_API_KEY)
    try:
        yield url
    finally:
        stop(process)


@pytest.fixture
def sandbox(sandbox_process: str) -> Iterator[SandboxHandle]:
    """The session's sandbox, reset, writing exports to a fresh bucket of this test's own."""
    handle = SandboxHandle(sandbox_process, TEST_API_KEY, make_bucket())
    handle.admin.reset()
    handle.admin.configure(storage=f"s3://{handle.bucket}")
    try:
        yield handle
    finally:
        handle.admin.reset()  # stops running exports before their bucket goes
        handle.admin.close()
        drop_bucket(handle.bucket)


def drop_bucket(name: str) -> None:
    """Empty and delete a test's bucket, so later tests listing buckets see only theirs."""
    s3 = boto3.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=item["Key"])
    s3.delete_bucket(Bucket=name)
