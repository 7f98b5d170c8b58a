"""`${VAR}` substitution, and secrets that never reach a model dump or an error message."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.mapping import MappingsInvalid, SecretNotSet, load_connection_file, validate_folder

TEMPLATE = """\
connection: demo
schedule: "0 3 * * *"
start_date: "2026-11-01"
braze:
  rest_endpoint: {endpoint}
  api_key: {api_key}
storage:
  root: {root}
  braze_exports: s3://braze-exports
"""


def write(
    tmp_path: Path,
    endpoint: str = "https://rest.fra-01.braze.eu",
    api_key: str = "${BRAZE_API_KEY}",
    root: str = "/tmp/profiles",
    extra: str = "",
) -> Path:
    path = tmp_path / "conn.yaml"
    path.write_text(TEMPLATE.format(endpoint=endpoint, api_key=api_key, root=root) + extra)
    return path


def messages(tmp_path: Path) -> list[str]:
    return [str(e).removeprefix(f"{tmp_path / 'conn.yaml'}:") for e in validate_folder(tmp_path)]


def test_variable_is_substituted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRAZE_REST_ENDPOINT", "http://127.0.0.1:8765")
    connection = load_connection_file(write(tmp_path, endpoint="${BRAZE_REST_ENDPOINT}"))
    assert connection.braze.rest_endpoint == "http://127.0.0.1:8765"


def test_embedded_and_repeated_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUCKET", "acme-data")
    monkeypatch.setenv("ENV_NAME", "prod")
    connection = load_connection_file(write(tmp_path, root="s3://${BUCKET}/${ENV_NAME}/profiles-${ENV_NAME}"))
    assert connection.storage.root == "s3://acme-data/prod/profiles-prod"


def test_escaped_reference_stays_literal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_READ", raising=False)
    connection = load_connection_file(
        write(tmp_path, extra='description: "costs $${NOT_READ} and $5, $$$${X}"\n')
    )
    assert connection.description == "costs ${NOT_READ} and $5, $$${X}"


def test_unset_variable_names_it_at_its_position(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROFILESYNC_STORAGE_ROOT", raising=False)
    write(tmp_path, root="${PROFILESYNC_STORAGE_ROOT}")
    assert messages(tmp_path) == [
        "8:9: environment variable PROFILESYNC_STORAGE_ROOT is not set; set it, e.g. "
        "export PROFILESYNC_STORAGE_ROOT=..."
    ]


def test_unset_embedded_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MISSING_BUCKET", raising=False)
    write(tmp_path, root="s3://${MISSING_BUCKET}/profiles")
    assert messages(tmp_path)[0].startswith("8:9: environment variable MISSING_BUCKET is not set")


@pytest.mark.parametrize(
    ("root", "fragment"),
    [("x${A:-b}", "${A:-b} is not a variable reference"), ('"x${OPEN"', "${ is not closed")],
)
def test_malformed_references(tmp_path: Path, root: str, fragment: str) -> None:
    write(tmp_path, root=root)
    found = messages(tmp_path)
    assert len(found) == 1 and found[0].startswith("8:9: " + fragment), found
    assert "$${" in found[0]


def test_api_key_keeps_the_variable_name_not_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_BRAZE_KEY", "sk-live-0123456789abcdef")
    connection = load_connection_file(write(tmp_path, api_key="${ACME_BRAZE_KEY}"))
    assert connection.braze.api_key_env == "ACME_BRAZE_KEY"
    assert "sk-live" not in repr(connection) + connection.model_dump_json() + str(connection.model_dump())
    assert connection.braze.read_api_key() == "sk-live-0123456789abcdef"


def test_api_key_variable_may_be_unset_at_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACME_BRAZE_KEY", raising=False)
    connection = load_connection_file(write(tmp_path, api_key="${ACME_BRAZE_KEY}"))
    with pytest.raises(
        SecretNotSet, match=r"environment variable ACME_BRAZE_KEY is not set.*export ACME_BRAZE_KEY="
    ):
        connection.braze.read_api_key()


@pytest.mark.parametrize("api_key", ["sk-live-0123456789abcdef", '"${ACME_KEY}x-0123456789"', "$${ACME_KEY}"])
def test_literal_api_key_is_refused_without_echoing_it(tmp_path: Path, api_key: str) -> None:
    write(tmp_path, api_key=api_key)
    with pytest.raises(MappingsInvalid) as raised:
        load_connection_file(tmp_path / "conn.yaml")
    text = str(raised.value) + repr(raised.value) + repr(raised.value.errors)
    assert "6:12: braze.api_key must name an environment variable, not hold the key" in text
    assert "put the key in an environment variable" in text
    assert "0123456789" not in text and "input_value" not in text
    assert raised.value.__cause__ is None and raised.value.__context__ is None


@pytest.mark.parametrize("name", ["ACME_TOKEN", "BRAZE_SECRET", "DB_PASSWORD", "my_api_key"])
def test_values_of_secret_variables_are_never_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    secret = "summ-hunter2-do-not-print"
    monkeypatch.setenv(name, secret)
    write(
        tmp_path,
        endpoint="${" + name + "}",
        extra=(
            "import:\n"
            "  - goal: g\n"
            "    segment: s\n"
            "    identifiers: [{braze: external_id, profile: external_id}]\n"
            "    fields:\n"
            "      - {braze: email, profile: email, strategy: '${" + name + "}'}\n"
            "      - {braze: '${" + name + "}', profile: p}\n"
        ),
    )
    with pytest.raises(MappingsInvalid) as raised:
        load_connection_file(tmp_path / "conn.yaml")
    text = str(raised.value) + repr(raised.value) + repr(raised.value.errors)
    assert secret not in text and "hunter2" not in text
    assert "input_value" not in text  # pydantic's own rendering, which prints inputs, is never used
    assert f"the value of ${{{name}}} is not valid here" in text
    assert len(raised.value.errors) == 3
    assert all(e.suggestion is None for e in raised.value.errors)  # a did-you-mean would hint at the value
    assert raised.value.__cause__ is None and raised.value.__context__ is None


def test_other_errors_of_a_file_with_secrets_stay_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENDPOINT_TOKEN", "https://rest.fra-01.braze.eu")
    write(tmp_path, endpoint="${ENDPOINT_TOKEN}", extra="unknown_key: 1\n")
    assert messages(tmp_path) == [
        "10:1: unknown key 'unknown_key'; allowed here: connection, description, tags, enabled, schedule, "
        "start_date, braze, storage, notify, import, profile_properties, permissions, segments, export"
    ]
    (tmp_path / "conn.yaml").write_text("connection: demo\nbraze: {rest_endpoint: '${ENDPOINT_TOKEN}'}\n")
    assert [m.split(";")[0] for m in messages(tmp_path)] == [
        "1:1: the file has no 'schedule'",
        "1:1: the file has no 'start_date'",
        "1:1: the file has no 'storage'",
        "2:1: braze has no 'api_key'",
    ]


def test_values_of_other_variables_are_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REST_HOST", "rest.fra-01.braze.eu")
    write(tmp_path, endpoint="${REST_HOST}")
    assert messages(tmp_path)[0].startswith(
        "5:18: Braze REST endpoint 'rest.fra-01.braze.eu' is not an http(s) URL"
    )
