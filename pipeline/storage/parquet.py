"""Parquet in the object store: zstd, written aside and published whole.

Frames are written to a local temp file (small ones in memory) first and then published with
one atomic store write, so a crashed run never leaves half a Parquet file where a reader looks.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.storage.base import ObjectNotFound, ObjectStore
from pipeline.storage.local import LocalStore

COMPRESSION = "zstd"
IN_MEMORY_BYTES = 4 << 20  # frames up to this size are written in memory, not through a temp file
LEVEL = 1  # half the CPU of Polars' default level 3 for files 1.5% larger (staging, issue 11)


def write_parquet(
    store: ObjectStore, key: str, frame: pl.DataFrame | pl.LazyFrame, metadata: dict[str, str] | None = None
) -> int:
    """Publish `frame` at `key`; returns the file size in bytes. A LazyFrame is streamed.

    `metadata` goes into the file's key-value metadata, so facts about columns travel with them.
    """
    return write_parquet_digest(store, key, frame, metadata)[0]


def write_parquet_digest(
    store: ObjectStore, key: str, frame: pl.DataFrame | pl.LazyFrame, metadata: dict[str, str] | None = None
) -> tuple[int, str]:
    """`write_parquet`, also returning the SHA-256 of the bytes published: a version of the content
    that readers can compare without reading the file (snapshot manifests record it).

    A small frame (a push's journal entry, a report) is written in memory and published with one
    store write: the temp folder, the second copy and the digest pass over a file cost a push
    more CPU per batch than writing the entry (4.9 against 3.2 CPU-ms a journal entry)."""
    if isinstance(frame, pl.DataFrame) and frame.estimated_size() <= IN_MEMORY_BYTES:
        buffer = io.BytesIO()
        frame.write_parquet(buffer, **_options(metadata))
        data = buffer.getvalue()
        store.write_bytes(key, data)
        return len(data), hashlib.sha256(data).hexdigest()
    with tempfile.TemporaryDirectory(prefix="profilesync-") as folder:
        path = Path(folder) / "part.parquet"
        if isinstance(frame, pl.LazyFrame):
            frame.sink_parquet(path, compression=COMPRESSION, compression_level=LEVEL, metadata=metadata)
        else:
            frame.write_parquet(path, **_options(metadata))
        with path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        store.upload(key, path)
        return path.stat().st_size, digest


def _options(metadata: dict[str, str] | None) -> dict[str, Any]:
    return {"compression": COMPRESSION, "compression_level": LEVEL, "statistics": True, "metadata": metadata}


def parquet_source(store: ObjectStore, key: str) -> str:
    """A path or URI Polars can scan directly: local files in place, S3 through its own reader.

    Polars reads the same AWS variables as boto3 (`AWS_ENDPOINT_URL` included).
    """
    if isinstance(store, LocalStore):
        path = store._path(key)
        if not path.is_file():
            raise ObjectNotFound(f"{store.uri(key)} does not exist")
        return str(path)
    if not store.exists(key):
        raise ObjectNotFound(f"{store.uri(key)} does not exist")
    return store.uri(key)


def scan_parquet(store: ObjectStore, key: str) -> pl.LazyFrame:
    return pl.scan_parquet(parquet_source(store, key))


def read_parquet(store: ObjectStore, key: str) -> pl.DataFrame:
    return scan_parquet(store, key).collect()
