"""Any S3 endpoint as an object store, through boto3.

boto3 reads the standard AWS variables, `AWS_ENDPOINT_URL` included, so the same code
talks to AWS, MinIO or a moto server on loopback. A single PUT or a completed multipart
upload is atomic in S3, and boto3 aborts a multipart upload whose source fails, so S3
needs no rename step to keep readers from seeing half an object.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import cache
from typing import Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from pipeline.storage.base import ObjectInfo, ObjectNotFound, ObjectStore, StorageError

# The one definition of how patient an S3 client is: the Dagster layer's S3Resource and the
# engine's own client (sandbox, tests) both build theirs with `client_config`.
MAX_ATTEMPTS = 5  # retries after the first call (botocore's meaning): up to 6 calls
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 120.0  # a large Parquet part or a slow listing answers within this
_FIX_BY_CODE = {
    "NoSuchBucket": "create the bucket or correct the storage URI",
    "AccessDenied": "grant the AWS credentials s3:GetObject, s3:PutObject and s3:ListBucket on it",
    "InvalidAccessKeyId": "check AWS_ACCESS_KEY_ID",
    "SignatureDoesNotMatch": "check AWS_SECRET_ACCESS_KEY",
}
_LOST_RACE = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409", "NoSuchKey", "404")


def client_config(
    max_attempts: int = MAX_ATTEMPTS,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    read_timeout_s: float = READ_TIMEOUT_S,
) -> Config:
    """Timeouts and standard-mode retries for an S3 client: a stalled endpoint fails the step
    in minutes with a message instead of hanging a run, and throttling (503 SlowDown) is retried."""
    return Config(
        retries={"max_attempts": max_attempts, "mode": "standard"},
        connect_timeout=connect_timeout_s,
        read_timeout=read_timeout_s,
    )


def build_client(
    *,
    config: Config,
    endpoint_url: str | None = None,
    region_name: str | None = None,
    profile_name: str | None = None,
    use_ssl: bool = True,
    verify: bool | str | None = None,
    aws_access_key_id: str | None = None,
    aws_secret_access_key: str | None = None,
    aws_session_token: str | None = None,
) -> Any:
    """A boto3 S3 client; credentials left as None come from boto3's own chain (variables,
    profiles, instance roles). A configuration boto3 refuses (an unknown AWS_PROFILE, a bad
    endpoint URL) is a StorageError naming it."""
    try:
        return boto3.session.Session(profile_name=profile_name).client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region_name or None,
            use_ssl=use_ssl,
            verify=verify,
            aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key,
            aws_session_token=aws_session_token,
            config=config,
        )
    except (BotoCoreError, ValueError) as exc:
        fix = "check AWS_PROFILE, AWS_REGION and AWS_ENDPOINT_URL"
        raise StorageError(f"cannot set up S3 access: {exc}; {fix}") from None


def s3_client() -> Any:
    """The engine's own shared client for the current `AWS_ENDPOINT_URL`, for callers that pass
    none (the sandbox, engine tests); boto3 clients are thread-safe."""
    return _client_for(os.environ.get("AWS_ENDPOINT_URL"))


@cache
def _client_for(endpoint_url: str | None) -> Any:
    return build_client(config=client_config(), endpoint_url=endpoint_url)


def list_buckets(client: Any = None) -> list[str]:
    """Names of the buckets the credentials can list, as other tools' bucket dropdowns show.

    `client`: the S3 client to ask (the CLI passes its S3Resource's); default the engine's own."""
    try:
        return sorted(b["Name"] for b in (client or s3_client()).list_buckets().get("Buckets", []))
    except (ClientError, BotoCoreError) as exc:
        raise _storage_error("s3://", exc) from None


def _storage_error(uri: str, exc: Exception) -> StorageError:
    if isinstance(exc, NoCredentialsError):
        return StorageError(f"{uri}: no AWS credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NotFound"):
            return ObjectNotFound(f"{uri} does not exist")
        fix = _FIX_BY_CODE.get(code, "check the endpoint (AWS_ENDPOINT_URL) and the credentials")
        return StorageError(f"{uri}: S3 answered {code or 'an error'}; {fix}")
    return StorageError(f"{uri}: {type(exc).__name__}: {exc}; check AWS_ENDPOINT_URL and the network")


class S3Store(ObjectStore):
    """`client`: the boto3 S3 client to use (the Dagster layer passes its dagster-aws `S3Resource`'s);
    without one, the shared client built from the standard AWS variables."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None) -> None:
        self._s3 = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.root = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"

    def _client(self) -> Any:
        return self._s3 if self._s3 is not None else s3_client()

    def _key(self, key: str) -> str:
        key = key.lstrip("/")
        return f"{self.prefix}/{key}" if self.prefix else key

    def open(self, key: str) -> BinaryIO:
        try:
            return self._client().get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except (ClientError, BotoCoreError) as exc:
            raise _storage_error(self.uri(key), exc) from None

    def write_fileobj(self, key: str, source: BinaryIO) -> None:
        try:
            self._client().upload_fileobj(source, self.bucket, self._key(key))
        except (ClientError, BotoCoreError) as exc:
            raise _storage_error(self.uri(key), exc) from None

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        pages = self._client().get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key(prefix)
        )
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    yield ObjectInfo(item["Key"][strip:], item["Size"], item["LastModified"])
        except (ClientError, BotoCoreError) as exc:
            raise _storage_error(self.uri(prefix), exc) from None

    def exists(self, key: str) -> bool:
        try:
            self._client().head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise _storage_error(self.uri(key), exc) from None
        except BotoCoreError as exc:
            raise _storage_error(self.uri(key), exc) from None
        return True

    def delete(self, key: str) -> None:
        try:
            self._client().delete_object(Bucket=self.bucket, Key=self._key(key))
        except (ClientError, BotoCoreError) as exc:
            raise _storage_error(self.uri(key), exc) from None

    # S3 conditional requests (If-None-Match: * / If-Match: <ETag>) give one winner among
    # writers on any number of machines; the loser gets 412 (or 409 when both race).
    def read_versioned(self, key: str) -> tuple[bytes, str]:
        try:
            answer = self._client().get_object(Bucket=self.bucket, Key=self._key(key))
            return answer["Body"].read(), answer["ETag"]
        except (ClientError, BotoCoreError) as exc:
            raise _storage_error(self.uri(key), exc) from None

    def _conditional(self, key: str, call: Any, **kwargs: Any) -> bool:
        try:
            call(Bucket=self.bucket, Key=self._key(key), **kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _LOST_RACE:
                return False
            raise _storage_error(self.uri(key), exc) from None
        except BotoCoreError as exc:
            raise _storage_error(self.uri(key), exc) from None
        return True

    def write_if(self, key: str, data: bytes, version: str | None) -> bool:
        condition = {"IfNoneMatch": "*"} if version is None else {"IfMatch": version}
        return self._conditional(key, self._client().put_object, Body=data, **condition)

    def delete_if(self, key: str, version: str) -> bool:
        try:
            return self._conditional(key, self._client().delete_object, IfMatch=version)
        except StorageError as exc:
            if "NotImplemented" not in str(exc):
                raise
        # An endpoint without conditional deletes: compare, then delete (a small window, not none).
        try:
            if self.read_versioned(key)[1] != version:
                return False
        except ObjectNotFound:
            return False
        self.delete(key)
        return True
