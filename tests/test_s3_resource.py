"""S3 in the Dagster layer goes through dagster-aws's `S3Resource`, configured from the AWS variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster_aws.s3 import S3Resource

from assets.build import build_definitions
from assets.resources import S3_KEY, StoreResource, store_key
from pipeline.mapping import Connection, load_connection_file

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
