"""Finding and loading connection files: the demo, folder choice, order, and errors across files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pipeline.mapping import (
    FOLDER_VARIABLE,
    Connection,
    MappingsInvalid,
    PermissionSource,
    PropertySource,
    SegmentsSource,
    StaticSource,
    load_connection_file,
    load_connections,
    mappings_folder,
    validate_folder,
)

REPO_MAPPINGS = Path(__file__).resolve().parents[1] / "mappings"
DEMO_ENV = {
    "BRAZE_REST_ENDPOINT": "http://127.0.0.1:8765",
    "PROFILESYNC_STORAGE_ROOT": ".demo/profiles",
    "PROFILESYNC_BRAZE_EXPORTS": ".demo/braze-exports",
}


def minimal(name: str) -> str:
    return (
        f"connection: {name}\n"
        'schedule: "0 3 * * *"\n'
        'start_date: "2026-11-01"\n'
        "braze: {rest_endpoint: 'https://rest.fra-01.braze.eu', api_key: '${BRAZE_API_KEY}'}\n"
        "storage: {root: /tmp/p, braze_exports: 's3://exports'}\n"
    )


@pytest.fixture
def demo_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in DEMO_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("BRAZE_API_KEY", raising=False)  # not needed to load
    monkeypatch.delenv(FOLDER_VARIABLE, raising=False)


def test_demo_loads_from_any_working_directory(
    demo_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert mappings_folder() == REPO_MAPPINGS
    demo = load_connection_file(mappings_folder() / "demo.yaml")
    assert demo.name == "demo"
    assert demo.source == REPO_MAPPINGS / "demo.yaml"
    assert (demo.enabled, demo.schedule, demo.start_date) == (True, "0 3 * * *", dt.date(2026, 11, 1))
    assert demo.braze.rest_endpoint == "http://127.0.0.1:8765"
    assert demo.braze.api_key_env == "BRAZE_API_KEY"
    assert demo.storage.braze_exports == ".demo/braze-exports"
    assert demo.notify is not None and demo.notify.on == "failure"
    (loyal,) = demo.imports
    assert (loyal.name, loyal.segment, loyal.allow_create) == ("loyal_users", "Loyal users", True)
    assert [i.braze for i in loyal.identifiers] == ["external_id", "email"]
    assert {f.profile: f.strategy for f in loyal.fields}["points"] == "sum"
    assert loyal.remaining_fields is not None and loyal.remaining_fields.prefix == "braze_"
    (vip,) = demo.exports
    assert (vip.segment, vip.allow_create, vip.delta, vip.on_leave) == ("vip", False, "attributes", "ignore")
    assert vip.segment in demo.segments
    assert [f.source.kind for f in vip.fields] == [
        "property",
        "identifier",
        "segments",
        "interactions",
        "permission",
        "static",
    ]
    assert isinstance(vip.fields[0].source, PropertySource) and vip.fields[0].source.property == "points"
    assert isinstance(vip.fields[2].source, SegmentsSource)
    assert isinstance(vip.fields[4].source, PermissionSource) and vip.fields[4].source.permission == "email"
    assert isinstance(vip.fields[5].source, StaticSource) and vip.fields[5].source.static == "profilesync"


def test_committed_mappings_validate_clean(demo_env: None) -> None:
    assert validate_folder(REPO_MAPPINGS) == []


def test_defaults(tmp_path: Path) -> None:
    text = minimal("acme") + (
        "import: [{goal: g, segment: s, identifiers: [{braze: email, profile: email}],"
        " fields: [{braze: email, profile: email}]}]\n"
        "segments: {all: 'true'}\n"
        "export: [{goal: e, segment: all, identifiers: [{profile: external_id, braze: external_id}]}]\n"
    )
    (tmp_path / "acme.yaml").write_text(text)
    connection = load_connection_file(tmp_path / "acme.yaml")
    assert (connection.enabled, connection.description, connection.tags, connection.notify) == (
        True,
        "",
        [],
        None,
    )
    braze = connection.braze
    assert (braze.export_timeout_s, braze.export_quiet_period_s, braze.export_poll_interval_s) == (
        3600,
        30,
        10,
    )
    assert braze.export_size_tolerance == 0.01
    assert (braze.track_object_limit_mode, braze.max_requests_in_flight, braze.request_timeout_s) == (
        "combined",
        32,
        30,
    )
    (goal,) = connection.imports
    assert (goal.allow_create, goal.max_quarantine_rate, goal.remaining_fields) == (False, 0.01, None)
    assert goal.fields[0].strategy == "set"
    (export,) = connection.exports
    assert (export.allow_create, export.delta, export.on_leave, export.fields) == (
        False,
        "attributes",
        "ignore",
        [],
    )
    bare = tmp_path / "bare.yaml"
    bare.write_text(minimal("bare"))
    assert load_connection_file(bare).imports == [] and load_connection_file(bare).segments == {}


def test_notify_default_is_failure(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(minimal("a") + "notify: {emails: [data@example.com]}\n")
    notify = load_connection_file(tmp_path / "a.yaml").notify
    assert notify is not None and notify.on == "failure"


def test_files_load_in_name_order(tmp_path: Path) -> None:
    for file_name, connection in [("b.yaml", "alpha"), ("c.yaml", "beta"), ("a.yaml", "gamma")]:
        (tmp_path / file_name).write_text(minimal(connection))
    (tmp_path / "notes.txt").write_text("not a connection")
    assert [c.name for c in load_connections(tmp_path)] == ["gamma", "alpha", "beta"]


def test_folder_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "x.yaml").write_text(minimal("from_env"))
    monkeypatch.setenv(FOLDER_VARIABLE, str(tmp_path))
    assert mappings_folder() == tmp_path
    assert [c.name for c in load_connections()] == ["from_env"]


def test_missing_folder_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=f"does not exist; create it, or set {FOLDER_VARIABLE}"):
        load_connections(tmp_path / "nope")


def test_duplicate_connection_names_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(minimal("crm"))
    (tmp_path / "b.yaml").write_text("# same name\n" + minimal("crm"))
    errors = validate_folder(tmp_path)
    assert [str(e) for e in errors] == [
        f"{tmp_path / 'b.yaml'}:2:13: connection name 'crm' is already used in {tmp_path / 'a.yaml'}:1; "
        "give every connection file its own connection name"
    ]


def test_errors_of_all_files_are_collected(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(minimal("one").replace("0 3 * * *", "0 3 * *") + "tagz: []\n")
    (tmp_path / "b.yaml").write_text(minimal("two"))
    (tmp_path / "c.yaml").write_text(minimal("three").replace("2026-11-01", "2026-13-01"))
    errors = validate_folder(tmp_path)
    assert [(e.path.name, e.line, e.column) for e in errors] == [
        ("a.yaml", 2, 11),
        ("a.yaml", 6, 1),
        ("c.yaml", 3, 13),
    ]
    with pytest.raises(MappingsInvalid) as raised:
        load_connections(tmp_path)
    assert raised.value.errors == errors
    assert str(raised.value).startswith("3 errors in connection files\n")
    assert "did you mean 'tags'?" in str(raised.value)


def test_yml_files_are_flagged(tmp_path: Path) -> None:
    (tmp_path / "crm.yml").write_text(minimal("crm"))
    assert [str(e) for e in validate_folder(tmp_path)] == [
        f"{tmp_path / 'crm.yml'}:1:1: connection files end in .yaml; rename it to crm.yaml"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "1:1: the file is empty; start with `connection: <name>`"),
        ("- a\n- b\n", "1:1: the file is not a mapping of keys"),
        ("connection: x\nbraze: [\n", "3:1: YAML syntax: expected the node content"),
        (
            "connection: a\nschedule: x\nconnection: b\n",
            "3:1: key 'connection' is given twice (first on line 1)",
        ),
        ("base: &b {a: 1}\nother:\n  <<: *b\n", "3:3: YAML merge keys (<<) are not supported"),
    ],
)
def test_file_level_problems(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "f.yaml").write_text(text)
    errors = [str(e).removeprefix(f"{tmp_path / 'f.yaml'}:") for e in validate_folder(tmp_path)]
    assert any(e.startswith(expected) for e in errors), errors


def test_yaml_1_1_words_stay_keys(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(minimal("a") + "notify: {emails: [data@example.com], on: every_run}\n")
    notify = load_connection_file(tmp_path / "a.yaml").notify
    assert notify is not None and notify.on == "every_run"


def test_connection_model_is_public_and_frozen(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(minimal("a"))
    connection = load_connection_file(tmp_path / "a.yaml")
    assert isinstance(connection, Connection)
    with pytest.raises(ValueError, match="frozen"):
        connection.enabled = False  # type: ignore[misc]
