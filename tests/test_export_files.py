"""Reading Braze export objects (gzip, zip, plain JSON lines) from a local folder and from S3."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import pytest

from pipeline.braze.export_files import ExportFileError, iter_documents, iter_lines, split_lines
from pipeline.storage import ObjectStore, open_store


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return open_store(str(tmp_path / "store"))
    return open_store(f"s3://{request.getfixturevalue('bucket')}/exports")


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_gzip_lines_are_numbered_from_one_without_endings(store: ObjectStore) -> None:
    store.write_bytes("seg/a.gz", gzip.compress(b'{"braze_id":"1"}\r\n\n{"braze_id":"2"}'))
    assert list(iter_lines(store, "seg/a.gz")) == [
        ("seg/a.gz", 1, b'{"braze_id":"1"}'),
        ("seg/a.gz", 2, b""),
        ("seg/a.gz", 3, b'{"braze_id":"2"}'),
    ]
    assert list(iter_documents(store, "seg/a.gz")) == [("seg/a.gz", b'{"braze_id":"1"}\r\n\n{"braze_id":"2"}')]


def test_zip_members_are_read_in_name_order(store: ObjectStore) -> None:
    store.write_bytes("seg/b.zip", zipped({"z.json": b"3\n", "a.json": b"1\n2\n", "dir/": b""}))
    assert list(iter_lines(store, "seg/b.zip")) == [
        ("seg/b.zip!a.json", 1, b"1"),
        ("seg/b.zip!a.json", 2, b"2"),
        ("seg/b.zip!z.json", 1, b"3"),
    ]
    assert [source for source, _data in iter_documents(store, "seg/b.zip")] == ["seg/b.zip!a.json", "seg/b.zip!z.json"]


def test_plain_json_lines_stream_across_chunks(store: ObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pipeline.braze.export_files._CHUNK", 4)
    store.write_bytes("seg/c.jsonl", b"first line\nsecond\n")
    assert [line for _s, _n, line in iter_lines(store, "seg/c.jsonl")] == [b"first line", b"second"]


def test_split_lines_numbers_like_iter_lines() -> None:
    assert split_lines(b"a\r\n\nb\n") == [b"a", b"", b"b"]
    assert split_lines(b"") == []


def test_unknown_and_corrupt_files_name_the_fix(store: ObjectStore) -> None:
    store.write_bytes("seg/d.csv", b"x")
    with pytest.raises(ExportFileError, match=r"expected \.zip or \.gz"):
        list(iter_lines(store, "seg/d.csv"))
    store.write_bytes("seg/e.gz", gzip.compress(b'{"a":1}\n' * 100)[:-20])
    with pytest.raises(ExportFileError, match="truncated or corrupt"):
        list(iter_lines(store, "seg/e.gz"))
    store.write_bytes("seg/f.zip", b"not a zip")
    with pytest.raises(ExportFileError, match="not a readable ZIP"):
        list(iter_documents(store, "seg/f.zip"))
