"""Reading seed and keys files (JSON or YAML), shared by the seed loader and the keys loader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


class SeedError(ValueError):
    """A seed entry is malformed; the message names the entry and the problem."""


def read_document(path: Path) -> Any:
    text = Path(path).read_text(encoding="utf-8")
    try:
        return json.loads(text) if Path(path).suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SeedError(f"{path}: not valid JSON/YAML: {exc}") from None
