"""A local folder as an object store: the demo's default and every laptop's."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from pipeline.storage.base import ObjectInfo, ObjectNotFound, ObjectStore, StorageError

_TEMP_MARK = ".tmp-"


class LocalStore(ObjectStore):
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.root = str(folder)

    def _path(self, key: str) -> Path:
        path = (self.folder / key.lstrip("/")).resolve()
        if not path.is_relative_to(self.folder):
            raise StorageError(f"key {key!r} escapes the store root {self.root}")
        return path

    def open(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(f"{self.uri(key)} does not exist") from None

    def write_fileobj(self, key: str, source: BinaryIO) -> None:
        # Write beside the target and rename: os.replace is atomic within one file system.
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}{_TEMP_MARK}{uuid.uuid4().hex}")
        try:
            with temp.open("wb") as sink:
                shutil.copyfileobj(source, sink, length=1 << 20)
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        if not self.folder.is_dir():
            return
        keys = []
        for dirpath, _dirnames, filenames in os.walk(self.folder):
            for name in filenames:
                if name.startswith(".") and _TEMP_MARK in name:
                    continue
                key = Path(dirpath, name).relative_to(self.folder).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        for key in sorted(keys):
            with contextlib.suppress(FileNotFoundError):  # deleted while listing
                stat = (self.folder / key).stat()
                yield ObjectInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    # A folder lock (flock on the directory itself) makes read-compare-write atomic among the
    # processes of this machine; no lock file is left in the store.
    @contextlib.contextmanager
    def _folder_locked(self, key: str) -> Iterator[Path]:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(target.parent, os.O_RDONLY)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield target
        finally:
            os.close(handle)  # closing releases the lock

    def read_versioned(self, key: str) -> tuple[bytes, str]:
        data = self.read_bytes(key)
        return data, hashlib.sha256(data).hexdigest()

    def _version(self, target: Path) -> str | None:
        try:
            return hashlib.sha256(target.read_bytes()).hexdigest()
        except FileNotFoundError:
            return None

    def write_if(self, key: str, data: bytes, version: str | None) -> bool:
        with self._folder_locked(key) as target:
            if self._version(target) != version:
                return False
            self.write_bytes(key, data)
            return True

    def delete_if(self, key: str, version: str) -> bool:
        with self._folder_locked(key) as target:
            if self._version(target) != version:
                return False
            target.unlink()
            return True
