"""A local folder as an object store: the demo's default and every laptop's."""

from __future__ import annotations

import contextlib
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
