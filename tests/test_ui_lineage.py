"""The UI's view of workspace.yaml: `dagster-webserver` on loopback, read through its GraphQL API."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from conftest import free_port, wait_for_http
from dagster_ui import REPO, REPOSITORY, dagster_home, demo_env, graphql, key, start, stop_group

from assets.build import build_definitions
from pipeline.mapping import load_connections

WORKSPACE = """{ workspaceOrError { __typename
  ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } } } }
  ... on PythonError { message } } }"""

ASSETS = """{ assetNodes { assetKey { path } groupName isPartitioned dependencyKeys { path }
  dependencies { asset { assetKey { path } } partitionMapping { description } }
  metadataEntries { label
    ... on TableColumnLineageMetadataEntry { lineage { columnName columnDeps { assetKey { path } columnName } } }
    ... on TableSchemaMetadataEntry { schema { columns { name type } } } } } }"""

SCHEDULES = """query ($repository: RepositorySelector!) { schedulesOrError(repositorySelector: $repository) {
  ... on Schedules { results { name cronSchedule executionTimezone scheduleState { status } } } } }"""

PREVIEW = """query ($params: AssetBackfillPreviewParams!) { assetBackfillPreview(params: $params) {
  assetKey { path } partitions { ranges { start end } } } }"""

IMPORT, EXPORT = "demo/loyal_users", "demo/vip_to_braze"
UPSTREAM = {  # every asset's parents; the three self-references are the previous day
    f"{IMPORT}/segment_export": set(),
    f"{IMPORT}/staged_users": {f"{IMPORT}/segment_export"},
    f"{IMPORT}/normalized_emails": {f"{IMPORT}/staged_users"},
    f"{IMPORT}/user_changes": {f"{IMPORT}/normalized_emails", f"{IMPORT}/user_changes"},
    "demo/profiles": {f"{IMPORT}/user_changes", "demo/profiles"},
    "demo/interactions": set(),
    f"{EXPORT}/segment_members": {"demo/profiles"},
    f"{EXPORT}/export_payload": {f"{EXPORT}/segment_members", "demo/interactions"},
    f"{EXPORT}/export_changes": {f"{EXPORT}/export_payload"},
    f"{EXPORT}/braze_push": {f"{EXPORT}/export_changes", f"{EXPORT}/braze_push"},
}
CHANGES = f"{IMPORT}/user_changes"
PROFILE_LINEAGE = {
    "external_id": {(CHANGES, "external_id")},
    "email": {(CHANGES, "email")},
    "first_name": {(CHANGES, "first_name")},
    "points": {(CHANGES, "custom_attributes.points")},
    "interests": {(CHANGES, "custom_attributes.tags")},
    "email_consent": {(CHANGES, "email_subscribe")},
    "city": {(CHANGES, "home_city")},
    "country": {(CHANGES, "country")},
}
PAYLOAD_LINEAGE = {
    "external_id": {("demo/profiles", "external_id")},
    "loyalty_points": {("demo/profiles", "points")},
    "email": {("demo/profiles", "email")},
    "cdp_segments": set(),
    "seen_interactions": {("demo/interactions", "interaction_id")},
    "email_subscribe": {("demo/profiles", "email_consent")},
    "source": set(),
}


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The webserver on workspace.yaml with the demo's variables (a Braze nobody listens to, no key)."""
    folder = tmp_path_factory.mktemp("ui")
    env = demo_env(folder, "http://127.0.0.1:9", dagster_home(folder / "dagster_home"))
    port, log = free_port(), folder / "webserver.log"
    process = start(["dagster-webserver", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"], env, log)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/server_info", process, timeout=90)
        yield f"http://127.0.0.1:{port}", log
    finally:
        stop_group(process)


@pytest.fixture(scope="module")
def nodes(webserver: tuple[str, Path]) -> dict[str, dict[str, Any]]:
    return {key(n["assetKey"]["path"]): n for n in graphql(webserver[0], ASSETS)["assetNodes"]}


def _metadata(node: dict[str, Any], label: str) -> dict[str, Any]:
    return next(e for e in node["metadataEntries"] if e["label"] == label)


def _lineage(node: dict[str, Any]) -> dict[str, set[tuple[str, str]]]:
    entries = _metadata(node, "dagster/column_lineage")["lineage"]
    return {e["columnName"]: {(key(d["assetKey"]["path"]), d["columnName"]) for d in e["columnDeps"]} for e in entries}


def test_the_location_loads_without_an_error_or_a_warning(webserver: tuple[str, Path]) -> None:
    url, log = webserver
    workspace = graphql(url, WORKSPACE)["workspaceOrError"]
    assert workspace["__typename"] == "Workspace", workspace
    [entry] = workspace["locationEntries"]
    assert (entry["name"], entry["loadStatus"]) == ("profilesync", "LOADED")
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry["locationOrLoadError"]
    # The code server logs what it warns about while loading our definitions here.
    assert [line for line in log.read_text().splitlines() if "WARNING" in line or "Warning" in line] == []


def test_every_goal_is_a_chain_from_braze_export_to_braze_push(nodes: dict[str, dict[str, Any]]) -> None:
    edges = {name: {key(d["path"]) for d in node["dependencyKeys"]} for name, node in nodes.items()}
    assert edges == UPSTREAM
    assert {(n["groupName"], n["isPartitioned"]) for n in nodes.values()} == {("demo", True)}
    own = {
        name: d["partitionMapping"]["description"]
        for name, node in nodes.items()
        for d in node["dependencies"]
        if key(d["asset"]["assetKey"]["path"]) == name
    }
    assert set(own) == {f"{IMPORT}/user_changes", "demo/profiles", f"{EXPORT}/braze_push"}
    assert all("offsetted by -1 and -1 partitions" in description for description in own.values())  # the day before


def test_field_mappings_are_column_lineage_before_anything_ran(nodes: dict[str, dict[str, Any]]) -> None:
    assert _lineage(nodes["demo/profiles"]) == PROFILE_LINEAGE
    assert _lineage(nodes[f"{EXPORT}/export_payload"]) == PAYLOAD_LINEAGE
    # Every column the lineage names upstream is a column of that asset's schema.
    schemas = {
        name: {c["name"] for c in _metadata(node, "dagster/column_schema")["schema"]["columns"]}
        for name, node in nodes.items()
        if any(e["label"] == "dagster/column_schema" for e in node["metadataEntries"])
    }
    assert set(schemas) == {CHANGES, "demo/profiles", f"{EXPORT}/export_payload"}
    assert {column for deps in PROFILE_LINEAGE.values() for _, column in deps} == schemas[CHANGES]
    assert set(PROFILE_LINEAGE) == schemas["demo/profiles"]
    assert set(PAYLOAD_LINEAGE) == schemas[f"{EXPORT}/export_payload"]


def test_the_schedule_is_shown_with_its_cron_and_state(webserver: tuple[str, Path]) -> None:
    schedules = graphql(webserver[0], SCHEDULES, {"repository": REPOSITORY})["schedulesOrError"]["results"]
    shown = {s["name"]: (s["cronSchedule"], s["executionTimezone"], s["scheduleState"]["status"]) for s in schedules}
    assert shown == {"demo_schedule": ("0 3 * * *", "UTC", "RUNNING")}


def test_our_definitions_raise_no_warning_not_even_a_deprecation(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The code server hides DeprecationWarning; here every warning is recorded, and the ones
    pointing into this repository (ours, not Dagster's internals) must not exist."""
    for name, value in demo_env(tmp_path, "http://127.0.0.1:9", tmp_path / "dagster_home").items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("BRAZE_API_KEY", raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        defs = build_definitions(load_connections())
        dg.Definitions.validate_loadable(defs)
        defs.get_repository_def().get_all_jobs()
    ours = [f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}" for w in caught if _ours(w.filename)]
    assert ours == []


def _ours(filename: str) -> bool:
    path = Path(filename).resolve()
    return path.is_relative_to(REPO) and not path.is_relative_to(REPO / ".venv")


def test_a_range_backfill_from_the_ui_targets_exactly_the_range(
    webserver: tuple[str, Path], nodes: dict[str, dict[str, Any]]
) -> None:
    """What the UI's "Materialize all" over 1-3 November would run, from its own preview query."""
    assets = [{"path": name.split("/")} for name in nodes]
    params = {"assetSelection": assets, "partitionNames": ["2026-11-01", "2026-11-02", "2026-11-03"]}
    preview = graphql(webserver[0], PREVIEW, {"params": params})["assetBackfillPreview"]
    targeted = {
        key(p["assetKey"]["path"]): [(r["start"], r["end"]) for r in p["partitions"]["ranges"]] for p in preview
    }
    assert targeted == {name: [("2026-11-01", "2026-11-03")] for name in nodes}


START = """mutation ($selector: ScheduleSelector!) { startSchedule(scheduleSelector: $selector) {
  ... on ScheduleStateResult { scheduleState { status } } ... on PythonError { message } } }"""
STOP = """mutation ($id: String!) { stopRunningSchedule(id: $id) {
  ... on ScheduleStateResult { scheduleState { status } } ... on PythonError { message } } }"""
STATE = """query ($repository: RepositorySelector!) { schedulesOrError(repositorySelector: $repository) {
  ... on Schedules { results { name scheduleState { id status } } } } }"""


def test_the_ui_toggle_turns_the_schedule_off_and_on(webserver: tuple[str, Path]) -> None:
    """The same mutations the UI's toggle sends; the state lives in the instance, not in the code."""

    def state() -> dict[str, str]:
        schedules = graphql(webserver[0], STATE, {"repository": REPOSITORY})["schedulesOrError"]["results"]
        return next(s["scheduleState"] for s in schedules if s["name"] == "demo_schedule")

    stopped = graphql(webserver[0], STOP, {"id": state()["id"]})["stopRunningSchedule"]
    assert stopped["scheduleState"]["status"] == "STOPPED" and state()["status"] == "STOPPED"
    selector = {**REPOSITORY, "scheduleName": "demo_schedule"}
    started = graphql(webserver[0], START, {"selector": selector})["startSchedule"]
    assert started["scheduleState"]["status"] == "RUNNING" and state()["status"] == "RUNNING"
