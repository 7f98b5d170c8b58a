"""Choose the object-store implementation from a URI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.storage.base import ObjectStore, StorageError


def split_uri(uri: str) -> tuple[str, str, str]:
    """`s3://bucket/prefix` → ("s3", "bucket", "prefix"); a path → ("file", "", "/abs/path")."""
    if uri.startswith("s3://"):
        bucket, _, prefix = uri[len("s3://") :].partition("/")
        if not bucket:
            raise StorageError(f"{uri!r} names no bucket; write s3://BUCKET or s3://BUCKET/PREFIX")
        return "s3", bucket, prefix.strip("/")
    if "://" in uri and not uri.startswith("file://"):
        scheme = uri.split("://", 1)[0]
        raise StorageError(f"unsupported storage URI scheme {scheme!r} in {uri!r}; use a folder path or s3://")
    path = uri[len("file://") :] if uri.startswith("file://") else uri
    if not path:
        raise StorageError("empty storage URI; use a folder path or s3://BUCKET/PREFIX")
    return "file", "", str(Path(path).expanduser().resolve())


def open_store(uri: str, s3_client: Any = None) -> ObjectStore:
    """A store rooted at `uri`: a local folder, `file://` path or `s3://bucket/prefix`.

    `s3_client` is the boto3 client for s3:// (the Dagster layer and the CLI pass the one their
    dagster-aws `S3Resource` builds); without one, S3 credentials and endpoint come from the
    standard AWS variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
    `AWS_ENDPOINT_URL`), as every AWS tool reads them.
    """
    scheme, bucket, prefix = split_uri(uri)
    if scheme == "s3":
        from pipeline.storage.s3 import S3Store

        return S3Store(bucket, prefix, client=s3_client)
    from pipeline.storage.local import LocalStore

    return LocalStore(Path(prefix))
