"""The object store on a local folder and on moto's S3 server over HTTP."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pipeline.storage import ObjectNotFound, ObjectStore, StorageError, open_store, split_uri


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return open_store(str(tmp_path / "store"))
    bucket = request.getfixturevalue("bucket")
    return open_store(f"s3://{bucket}/root/prefix")


class FailingReader(io.RawIOBase):
    """A source that breaks after some bytes, like a crashed writer."""

    def __init__(self, good: bytes) -> None:
        self._good = io.BytesIO(good)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        chunk = self._good.read(len(buffer))
        if not chunk:
            raise OSError("source broke mid-write")
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_write_read_list_delete(store: ObjectStore) -> None:
    store.write_bytes("a/one.txt", b"1")
    store.write_bytes("a/b/two.txt", b"22")
    store.write_bytes("c/three.txt", b"333")

    assert store.read_bytes("a/b/two.txt") == b"22"
    listed = list(store.list("a/"))
    assert [(o.key, o.size) for o in listed] == [("a/b/two.txt", 2), ("a/one.txt", 1)]
    assert [o.key for o in store.list()] == ["a/b/two.txt", "a/one.txt", "c/three.txt"]
    assert store.exists("c/three.txt") and not store.exists("c/nope.txt")

    store.delete("a/one.txt")
    store.delete("a/one.txt")  # deleting twice is fine
    assert [o.key for o in store.list("a/")] == ["a/b/two.txt"]


def test_missing_object_names_its_uri(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound, match=r"missing/key\.bin does not exist"):
        store.read_bytes("missing/key.bin")


def test_overwrite_publishes_whole_new_object(store: ObjectStore) -> None:
    store.write_bytes("x.bin", b"old")
    store.write_bytes("x.bin", b"new contents")
    assert store.read_bytes("x.bin") == b"new contents"


def test_failed_write_keeps_the_old_object_and_leaves_no_debris(store: ObjectStore) -> None:
    store.write_bytes("data/snapshot.parquet", b"the published version")
    with pytest.raises(OSError, match="source broke"):
        store.write_fileobj("data/snapshot.parquet", io.BufferedReader(FailingReader(b"half of a new one")))
    assert store.read_bytes("data/snapshot.parquet") == b"the published version"
    assert [o.key for o in store.list()] == ["data/snapshot.parquet"]


def test_large_upload_goes_through_multipart(store: ObjectStore, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"0123456789abcdef" * (1 << 20))  # 16 MiB: above boto3's multipart threshold
    store.upload("big/file.bin", big)
    assert next(iter(store.list("big/"))).size == big.stat().st_size
    with store.open("big/file.bin") as reader:
        assert reader.read(16) == b"0123456789abcdef"


def test_s3_store_talks_http_to_the_endpoint(bucket: str, moto_s3: str) -> None:
    import boto3

    open_store(f"s3://{bucket}/p").write_bytes("k.txt", b"v")
    raw = boto3.client("s3", endpoint_url=moto_s3).get_object(Bucket=bucket, Key="p/k.txt")
    assert raw["Body"].read() == b"v"


def test_missing_bucket_error_says_how_to_fix(moto_s3: str) -> None:
    with pytest.raises(StorageError, match="NoSuchBucket; create the bucket"):
        open_store("s3://no-such-bucket-here/x").write_bytes("k", b"v")


def test_local_keys_cannot_escape_the_root(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="escapes the store root"):
        open_store(str(tmp_path / "root")).write_bytes("../outside.txt", b"x")


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket", ("s3", "bucket", "")),
        ("s3://bucket/a/b/", ("s3", "bucket", "a/b")),
        ("file:///tmp/x", ("file", "", "/tmp/x")),
    ],
)
def test_split_uri(uri: str, expected: tuple[str, str, str]) -> None:
    assert split_uri(uri) == expected


@pytest.mark.parametrize("uri", ["gs://bucket/x", "s3://", ""])
def test_unsupported_uris_are_refused_with_the_fix(uri: str) -> None:
    with pytest.raises(StorageError, match="s3://"):
        split_uri(uri)
