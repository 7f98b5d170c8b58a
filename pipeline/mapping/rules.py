"""Checks that look at more than one value of a file: unique names and references.

They read the raw document, not the model, so they still report when some other value of
the same file is wrong: one `validate` run shows every problem. Anything malformed is
skipped here; the model reports it.
"""

from __future__ import annotations

from typing import Any

from pipeline.mapping.checks import closest
from pipeline.mapping.yaml_positions import DataPath, Document


def check_document(doc: Document) -> None:
    data = doc.data if isinstance(doc.data, dict) else {}
    imports, exports = _items(data, "import"), _items(data, "export")
    _unique(
        doc,
        [(("import", i, "goal"), g.get("goal")) for i, g in imports]
        + [(("export", i, "goal"), g.get("goal")) for i, g in exports],
        "goal name {!r} is already used on line {}",
        "give every import and export goal of a connection its own name",
    )
    for i, goal in imports:
        _unique_in(
            doc,
            ("import", i),
            goal,
            "fields",
            "profile",
            "profile property {!r} is already written on line {}",
            "map each profile property once per goal",
        )
        _unique_in(
            doc,
            ("import", i),
            goal,
            "identifiers",
            "braze",
            "braze identifier {!r} is already listed on line {}",
            "list each identifier once",
        )
    segments = data.get("segments") if isinstance(data.get("segments"), dict) else {}
    for i, goal in exports:
        _segment_reference(doc, ("export", i, "segment"), goal.get("segment"), list(segments))
        _unique_in(
            doc,
            ("export", i),
            goal,
            "fields",
            "braze",
            "braze attribute {!r} is already set on line {}",
            "send each attribute once per goal",
        )
        _unique_in(
            doc,
            ("export", i),
            goal,
            "identifiers",
            "braze",
            "braze identifier {!r} is already listed on line {}",
            "list each identifier once",
        )


def _items(data: dict, key: str) -> list[tuple[int, dict]]:
    value = data.get(key)
    return (
        [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]
        if isinstance(value, list)
        else []
    )


def _unique(doc: Document, named: list[tuple[DataPath, Any]], message: str, fix: str) -> None:
    first: dict[str, DataPath] = {}
    for path, value in named:
        if not isinstance(value, str):
            continue
        if value in first:
            doc.error(path, message.format(value, doc.position(first[value])[0]), fix)
        else:
            first[value] = path


def _unique_in(
    doc: Document, at: DataPath, goal: dict, list_key: str, key: str, message: str, fix: str
) -> None:
    entries = _items(goal, list_key)
    _unique(doc, [((*at, list_key, i, key), entry.get(key)) for i, entry in entries], message, fix)


def _segment_reference(doc: Document, path: DataPath, name: Any, defined: list[str]) -> None:
    if not isinstance(name, str) or name in defined:
        return
    if defined:
        fix = f"define it under segments:, or use one of {', '.join(defined)}"
    else:
        fix = "define it under segments:, e.g. segments: {" + name + ': "points >= 100"}'
    doc.error(path, f"segment {name!r} is not defined under segments", fix, closest(name, defined))
