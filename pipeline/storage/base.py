"""The object-store interface the engine writes through.

Keys are `/`-separated and relative to the store's root URI, so the same code runs on a
laptop folder and on S3. Every write publishes atomically: a reader sees the old object or
the new one, never half of one, and a write that fails leaves the old object in place.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO


class StorageError(RuntimeError):
    """An object-store operation failed; the message names the URI and the fix."""


class ObjectNotFound(StorageError):
    """The object does not exist."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    modified: datetime


class ObjectStore(ABC):
    """Read, write and list objects under one root URI."""

    root: str

    def uri(self, key: str) -> str:
        """The full URI of `key`, for logs and metadata."""
        return f"{self.root.rstrip('/')}/{key.lstrip('/')}"

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A streaming reader; callers close it."""

    @abstractmethod
    def write_fileobj(self, key: str, source: BinaryIO) -> None:
        """Publish the bytes of `source` at `key` atomically."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose key starts with `prefix`, in key order."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove `key`; removing a missing key is not an error."""

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as reader:
            return reader.read()

    def write_bytes(self, key: str, data: bytes) -> None:
        self.write_fileobj(key, io.BytesIO(data))

    def upload(self, key: str, path: Path) -> None:
        """Publish a local file, e.g. a Parquet file written to a temp folder first."""
        with path.open("rb") as source:
            self.write_fileobj(key, source)

    def exists(self, key: str) -> bool:
        try:
            self.open(key).close()
        except ObjectNotFound:
            return False
        return True

    # Compare-and-swap on one small object: what a lease needs to have a single holder.
    @abstractmethod
    def read_versioned(self, key: str) -> tuple[bytes, str]:
        """The object and a version tag that changes whenever the object does."""

    @abstractmethod
    def write_if(self, key: str, data: bytes, version: str | None) -> bool:
        """Write only if the object is still at `version` (None: only if absent); False if it is not."""

    @abstractmethod
    def delete_if(self, key: str, version: str) -> bool:
        """Delete only if the object is still at `version`; False if it changed or is gone."""
