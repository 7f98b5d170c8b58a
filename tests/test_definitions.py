"""The code location built from mappings/: asset graph, partitions, resources."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from assets.build import build_definitions
from pipeline.mapping import load_connections

REPO_MAPPINGS = Path(__file__).resolve().parents[1] / "mappings"


@pytest.fixture
def demo_defs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dg.Definitions:
    monkeypatch.setenv("BRAZE_REST_ENDPOINT", "https://rest.fra-01.braze.eu")
    monkeypatch.setenv("PROFILESYNC_STORAGE_ROOT", str(tmp_path / "store"))
    monkeypatch.setenv("PROFILESYNC_BRAZE_EXPORTS", "s3://braze-exports")
    monkeypatch.delenv("BRAZE_API_KEY", raising=False)  # building definitions must not need the key
    return build_definitions(load_connections(REPO_MAPPINGS))


def test_graph_of_the_demo_connection(demo_defs: dg.Definitions) -> None:
    """The whole graph as a snapshot: every asset with its parents, and every check."""
    dg.Definitions.validate_loadable(demo_defs)
    graph = demo_defs.resolve_asset_graph()
    parents = {
        key.to_user_string(): sorted(p.to_user_string() for p in graph.get(key).parent_keys)
        for key in graph.get_all_asset_keys()
    }
    assert parents == {
        "demo/interactions": [],
        "demo/loyal_users/segment_export": [],
        "demo/loyal_users/staged_users": ["demo/loyal_users/segment_export"],
        "demo/loyal_users/normalized_emails": ["demo/loyal_users/staged_users"],  # assets/extensions example
        "demo/loyal_users/user_changes": ["demo/loyal_users/normalized_emails", "demo/loyal_users/user_changes"],
        "demo/profiles": ["demo/loyal_users/user_changes", "demo/profiles"],  # yesterday's self
        "demo/vip_to_braze/segment_members": ["demo/profiles"],
        "demo/vip_to_braze/export_payload": ["demo/interactions", "demo/vip_to_braze/segment_members"],
        "demo/vip_to_braze/export_changes": ["demo/vip_to_braze/export_payload"],
        "demo/vip_to_braze/braze_push": ["demo/vip_to_braze/braze_push", "demo/vip_to_braze/export_changes"],
    }
    checks = sorted(k.to_user_string() for k in graph.asset_check_keys)
    assert checks == [
        "demo/loyal_users/staged_users:identifiers_present",
        "demo/loyal_users/staged_users:quarantine_rate_below_threshold",
        "demo/profiles:identifiers_present",
        "demo/profiles:profile_ids_unique",
        "demo/vip_to_braze/export_changes:values_within_braze_limits",
    ]


def test_partitions_start_at_the_connection_start_date(demo_defs: dg.Definitions) -> None:
    node = demo_defs.resolve_asset_graph().get(dg.AssetKey(["demo", "profiles"]))
    assert node.partitions_def.get_first_partition_key() == "2026-11-01"
    assert node.group_name == "demo"


def test_the_api_key_enters_as_an_environment_variable(demo_defs: dg.Definitions) -> None:
    braze = demo_defs.resources["demo_braze"]
    assert isinstance(braze.api_key, dg.EnvVar) and braze.api_key.env_var_name == "BRAZE_API_KEY"
