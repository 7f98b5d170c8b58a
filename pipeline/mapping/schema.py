"""The JSON Schema of connection files, kept at mappings/schema.json for editors.

Run `python -m pipeline.mapping.schema` to rewrite it after changing the model; a test fails
while the committed file is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pipeline.mapping.loader import REPO_MAPPINGS
from pipeline.mapping.model import Connection

SCHEMA_PATH = REPO_MAPPINGS / "schema.json"
REGENERATE = "profilesync schema"


def schema_json() -> str:
    """The schema as text: sorted keys and a trailing newline, so it diffs cleanly and byte-stably."""
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **Connection.model_json_schema(by_alias=True, mode="validation"),
        "title": "profilesync connection",
    }
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_schema(path: Path | str = SCHEMA_PATH) -> Path:
    path = Path(path)
    path.write_text(schema_json(), encoding="utf-8")
    return path


if __name__ == "__main__":
    written = write_schema(Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_PATH)
    print(f"wrote {written}")
