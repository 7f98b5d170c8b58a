"""mappings/schema.json: generated from the model, committed, and true to the demo file."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from pipeline.mapping import schema_json, write_schema
from pipeline.mapping.env import substitute
from pipeline.mapping.schema import REGENERATE, SCHEMA_PATH
from pipeline.mapping.yaml_positions import read_document

REPO_MAPPINGS = Path(__file__).resolve().parents[1] / "mappings"


def test_committed_schema_is_current() -> None:
    committed = (REPO_MAPPINGS / "schema.json").read_bytes()
    assert committed == schema_json().encode("utf-8"), (
        f"mappings/schema.json is stale: the model changed. Regenerate it with `{REGENERATE}` and commit it."
    )


def test_schema_text_is_deterministic(tmp_path: Path) -> None:
    text = schema_json()
    assert text == schema_json() and text.endswith("}\n")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert write_schema(tmp_path / "s.json").read_text(encoding="utf-8") == text
    assert SCHEMA_PATH == REPO_MAPPINGS / "schema.json"


def test_schema_uses_yaml_names_and_describes_every_field() -> None:
    schema = json.loads(schema_json())
    assert {"connection", "import", "export", "segments"} <= set(schema["properties"])
    assert "from" in schema["$defs"]["ExportField"]["properties"]
    assert "api_key" in schema["$defs"]["BrazeSettings"]["properties"]
    for name, definition in [("Connection", schema), *schema["$defs"].items()]:
        assert definition.get("description"), f"{name} has no description"
        for key, field in definition.get("properties", {}).items():
            assert field.get("description"), f"{name}.{key} has no description"


def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(schema_json())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_demo_as_written_matches_the_schema() -> None:
    """What an editor sees: the file before `${VAR}` substitution."""
    doc = read_document(REPO_MAPPINGS / "demo.yaml")
    assert doc.errors == []
    assert list(validator().iter_errors(doc.data)) == []


def test_demo_after_substitution_matches_the_schema() -> None:
    doc = read_document(REPO_MAPPINGS / "demo.yaml")
    substitute(
        doc,
        {
            "BRAZE_REST_ENDPOINT": "http://127.0.0.1:8765",
            "PROFILESYNC_STORAGE_ROOT": "/tmp/p",
            "PROFILESYNC_BRAZE_EXPORTS": "s3://exports",
        },
    )
    assert doc.errors == []
    assert list(validator().iter_errors(doc.data)) == []


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        (("import", 0, "fields", 0, "strategy"), "summ"),
        (("import", 0, "fields", 0, "braze"), "first_nam"),
        (("export", 0, "fields", 0, "from"), {"propert": "x"}),
        (("braze", "api_key"), "sk-literal"),
        (("connection",), "Demo"),
        (("descripton",), "typo of description"),
    ],
)
def test_schema_flags_what_the_loader_refuses(path: tuple, bad: object) -> None:
    data = read_document(REPO_MAPPINGS / "demo.yaml").data
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = bad
    assert list(validator().iter_errors(data)) != []
