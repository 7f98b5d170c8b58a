"""S3 in the Dagster layer goes through dagster-aws's `S3Resource`, configured from the AWS variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster_aws.s3 import S3Resource

from assets.build import build_definitions
from assets.resources import S3_KEY, ObjectStoreS3Resource, StoreResource, s3_resource, store_at, store_key
from pipeline.mapping import Connection, load_connection_file
from pipeline.storage import StorageError
from pipeline.storage.s3 import CONNECT_TIMEOUT_S, MAX_ATTEMPTS, READ_TIMEOUT_S

DEAD_ENDPOINT = "http://127.0.0.1:9"  # nothing listens: a client built from the variables would fail


def test_the_store_uses_the_s3_resource_client_not_the_variables(
    moto_s3: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", DEAD_ENDPOINT)
    s3 = S3Resource(endpoint_url=moto_s3, region_name="us-east-1", max_attempts=1)
    store = StoreResource(uri=f"s3://{bucket}/profiles", s3=s3).store()
    store.write_bytes("a/b.json", b"{}")
    assert [info.key for info in store.list("a/")] == ["a/b.json"]
    assert store.read_bytes("a/b.json") == b"{}"
    assert store.write_if("lease.json", b"1", None)  # the conditional writes (day leases) too
    data, version = store.read_versioned("lease.json")
    assert data == b"1" and store.delete_if("lease.json", version) and not store.exists("lease.json")


def _patience(client: object) -> tuple[float, float, dict]:
    config = client.meta.config  # type: ignore[attr-defined]
    return config.connect_timeout, config.read_timeout, config.retries


def test_the_resource_client_carries_the_object_store_timeouts_and_retries(moto_s3: str, bucket: str) -> None:
    """A stalled endpoint fails a step in minutes: the client dagster-aws builds would wait botocore's 60 s."""
    retries = {"mode": "standard", "total_max_attempts": MAX_ATTEMPTS + 1}  # botocore adds the first call
    expected = (CONNECT_TIMEOUT_S, READ_TIMEOUT_S, retries)
    assert (CONNECT_TIMEOUT_S, READ_TIMEOUT_S, MAX_ATTEMPTS) == (10, 120, 5)
    resource = s3_resource()
    assert isinstance(resource, S3Resource)
    assert _patience(resource.get_client()) == expected
    shorter = ObjectStoreS3Resource(endpoint_url=moto_s3, read_timeout_s=7.0, max_attempts=2)
    assert _patience(shorter.get_client())[1:] == (7.0, {"mode": "standard", "total_max_attempts": 3})
    store = store_at(f"s3://{bucket}/cli")  # what the CLI verbs and the run history open
    assert _patience(store._client()) == expected  # type: ignore[attr-defined]
    store.write_bytes("k", b"v")
    assert store.read_bytes("k") == b"v"


def _connection(tmp_path: Path, bucket: str) -> Connection:
    path = tmp_path / "acme.yaml"
    path.write_text(
        'connection: acme\nschedule: "0 3 * * *"\nstart_date: "2026-11-01"\n'
        'braze: {rest_endpoint: "https://rest.fra-01.braze.eu", api_key: "${BRAZE_API_KEY}"}\n'
        f'storage: {{root: "s3://{bucket}/profiles", braze_exports: "s3://{bucket}/exports"}}\n'
        "import:\n  - goal: members\n    segment: Members\n"
        "    identifiers: [{braze: external_id, profile: external_id}]\n"
    )
    return load_connection_file(path)


def test_definitions_show_one_s3_resource_from_the_aws_variables(
    moto_s3: str, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    defs = build_definitions([_connection(tmp_path, bucket)])
    resources = defs.resources or {}
    s3 = resources[S3_KEY]
    assert isinstance(s3, S3Resource)
    assert (s3.endpoint_url, s3.region_name, s3.aws_secret_access_key) == (moto_s3, "eu-central-1", None)
    store = resources[store_key(_connection(tmp_path, bucket))]
    assert isinstance(store, StoreResource) and store.s3 is s3


def test_s3_settings_boto3_refuses_are_one_clear_error(moto_s3: str, bucket: str) -> None:
    """`profilesync runs`, `profiles show` and `check` report a StorageError as one line, not a traceback."""
    with pytest.raises(StorageError, match=r"no-such-profile.*could not be found; check AWS_PROFILE"):
        store_at(f"s3://{bucket}/p", ObjectStoreS3Resource(profile_name="no-such-profile"))
