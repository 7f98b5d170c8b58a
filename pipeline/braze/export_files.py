"""The lines of one Braze segment-export object, whatever its packing (reference 4.3).

Braze writes JSON lines, about 5,000 users per file, as `.zip` (the default) or `.gz`; a plain
`.json`/`.jsonl` file is read as is, which the sandbox and hand-made fixtures use. Sources are
named so a quarantined line can be found again: the object key, or `key!member` for a member of
a ZIP archive (members are read in name order, since the archive's own order is arbitrary).
Lines are streamed without their line ending; a caller that needs a whole file at once (the
fast parse in `pipeline.staging`) uses `iter_documents`, which holds one member at a time.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from isal import igzip

from pipeline.storage import ObjectStore

_CHUNK = 1 << 20
_SPOOL_BYTES = 64 << 20  # a ZIP needs random access; keep small archives in memory, spill big ones
GZIP_SUFFIXES = (".gz", ".gzip")
ZIP_SUFFIXES = (".zip",)
PLAIN_SUFFIXES = (".json", ".jsonl", ".ndjson")


class ExportFileError(ValueError):
    """An export object that cannot be read as JSON lines."""


def kind_of(key: str) -> str:
    """`gzip`, `zip` or `plain`, from the object's name."""
    name = key.lower()
    if name.endswith(GZIP_SUFFIXES):
        return "gzip"
    if name.endswith(ZIP_SUFFIXES):
        return "zip"
    if name.endswith(PLAIN_SUFFIXES):
        return "plain"
    raise ExportFileError(
        f"{key}: unknown export file type; expected .zip or .gz (Braze's output_format) or .json/.jsonl"
    )


@contextmanager
def _seekable(reader: BinaryIO) -> Iterator[BinaryIO]:
    if reader.seekable():
        yield reader
        return
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
        shutil.copyfileobj(reader, spool, _CHUNK)
        spool.seek(0)
        yield spool  # type: ignore[misc]


@contextmanager
def _streams(store: ObjectStore, key: str) -> Iterator[Iterator[tuple[str, BinaryIO]]]:
    """(source, decompressed reader) for each JSON-lines document in the object."""
    kind = kind_of(key)
    with store.open(key) as reader:
        if kind == "zip":
            with _seekable(reader) as seekable:
                try:
                    archive = zipfile.ZipFile(seekable)
                except zipfile.BadZipFile as exc:
                    problem = f"not a readable ZIP archive ({exc}); fetch the export again"
                    raise ExportFileError(f"{store.uri(key)}: {problem}") from None
                with archive:
                    members = sorted(i.filename for i in archive.infolist() if not i.is_dir())
                    yield ((f"{key}!{member}", archive.open(member)) for member in members)
        elif kind == "gzip":
            # ISA-L inflates about 2x faster than zlib (issue 11); same format, same errors
            yield iter([(key, igzip.IGzipFile(fileobj=reader, mode="rb"))])  # type: ignore[list-item]
        else:
            yield iter([(key, reader)])


def _read_all(stream: BinaryIO, source: str) -> bytes:
    try:
        return stream.read()
    except (OSError, EOFError, zipfile.BadZipFile) as exc:  # gzip raises BadGzipFile (an OSError) or EOFError
        raise ExportFileError(f"{source}: truncated or corrupt archive ({exc}); fetch the export again") from None


def iter_documents(store: ObjectStore, key: str) -> Iterator[tuple[str, bytes]]:
    """(source, decompressed bytes) for each file in the object, one at a time."""
    with _streams(store, key) as streams:
        for source, stream in streams:
            with stream:
                yield source, _read_all(stream, store.uri(source))


def iter_lines(store: ObjectStore, key: str) -> Iterator[tuple[str, int, bytes]]:
    """(source, line number from 1, line without its ending) for every line, streamed."""
    with _streams(store, key) as streams:
        for source, stream in streams:
            with stream:
                for number, line in enumerate(_split(stream, store.uri(source)), start=1):
                    yield source, number, line


def _split(stream: BinaryIO, where: str) -> Iterator[bytes]:
    pending = b""
    while True:
        try:
            chunk = stream.read(_CHUNK)
        except (OSError, EOFError, zipfile.BadZipFile) as exc:
            raise ExportFileError(f"{where}: truncated or corrupt archive ({exc}); fetch the export again") from None
        if not chunk:
            break
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            yield line[:-1] if line.endswith(b"\r") else line
    if pending:
        yield pending[:-1] if pending.endswith(b"\r") else pending


def split_lines(data: bytes) -> list[bytes]:
    """The lines of a whole document, numbered from 1 by position, as `iter_lines` numbers them."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the final line ending starts no line
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]
