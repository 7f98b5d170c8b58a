"""Turn pydantic's validation errors into errors at a YAML node, with a fix for each.

Only the pieces of pydantic's error that never carry a secret are used: the location, the
type, our own context and the message without the input. The input itself is shown only
for choice errors (`strategy 'summ'`), and `Document.error` withholds it when it came from a
secret variable. pydantic's own rendering (`str(ValidationError)`) is never used: it prints
every input value.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from pipeline.mapping.checks import ERROR_TYPE, closest
from pipeline.mapping.yaml_positions import DataPath, Document, dotted

_FIXES = {
    "string_type": "write text; quote it if YAML would read it as a number, date or yes/no",
    "int_type": "write a whole number",
    "int_parsing": "write a whole number",
    "int_from_float": "write a whole number",
    "float_type": "write a number, e.g. 0.01",
    "float_parsing": "write a number, e.g. 0.01",
    "bool_type": "write true or false",
    "bool_parsing": "write true or false",
    "list_type": "write a list: [a, b], or one '- item' per line",
    "dict_type": "write a mapping: one 'key: value' per line",
    "model_type": "write a mapping: one 'key: value' per line",
    "too_short": "add at least one item",
    "string_too_short": "write a non-empty value",
}
_DEFAULT_FIX = "see this key's description in mappings/schema.json"


def record(doc: Document, exc: ValidationError, root: type[BaseModel]) -> None:
    """Add one error per offending node of `doc` for the errors pydantic found."""
    seen: set[tuple[DataPath, bool, object]] = set()
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        path = _resolve(doc.data, loc)
        kind = err["type"]
        ctx = err.get("ctx") or {}
        at_key = kind == "extra_forbidden" or loc[-1:] == ("[key]",)
        if kind == ERROR_TYPE and ctx.get("at_key") is not None:
            path, at_key = (*path, ctx["at_key"]), True
        once = (path, at_key, loc[-1] if kind == "missing" else None)
        if once in seen or (not at_key and kind != "missing" and path in doc.reported):
            continue  # a union reports once per member; the first is enough
        seen.add(once)
        if kind == ERROR_TYPE:
            doc.error(path, ctx["message"], ctx["fix"], ctx.get("suggestion"), at_key=at_key)
        elif kind == "extra_forbidden":
            allowed = _allowed_keys(root, loc[:-1])
            doc.error(
                path,
                f"unknown key {loc[-1]!r}",
                f"allowed here: {', '.join(allowed)}",
                closest(loc[-1], allowed),
                at_key=True,
            )
        elif kind == "missing":
            key = str(loc[-1])
            doc.error(
                path,
                f"{dotted(path)} has no {key!r}",
                f"add '{key}:' ({_describe(root, loc[:-1], key)})",
                at_key=True,
            )
        elif kind in ("literal_error", "enum"):
            allowed = re.findall(r"'([^']*)'", ctx.get("expected", ""))
            name = next((p for p in reversed(path) if isinstance(p, str)), "value")
            doc.error(
                path,
                f"unknown {name} {err['input']!r}",
                f"use one of {', '.join(allowed)}",
                closest(err["input"], allowed),
                at_key=at_key,
            )
        else:
            shown = f" {err['input']!r}" if isinstance(err["input"], str | int | float | bool) else ""
            fix = "give it a value, or remove the key to use its default" if err["input"] is None else None
            message = err["msg"][:1].lower() + err["msg"][1:]
            doc.error(
                path,
                f"{dotted(path)}{shown}: {message}",
                fix or _FIXES.get(kind, _DEFAULT_FIX),
                at_key=at_key,
            )


def _resolve(data: Any, loc: tuple[int | str, ...]) -> DataPath:
    """The part of pydantic's location that exists in the file; union tags and missing keys drop out."""
    path: list[int | str] = []
    for part in loc:
        in_dict = isinstance(data, dict) and part in data
        if in_dict or (isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)):
            path.append(part)
            data = data[part]
    return tuple(path)


def _model_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    current: Any = root
    for part in loc:
        current = _unwrap(current, part)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = _fields_by_key(current).get(str(part))
            current = field.annotation if field is not None else current
        elif typing.get_origin(current) in (list, dict):
            current = typing.get_args(current)[-1]
    current = _unwrap(current, None)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any, tag: int | str | None) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [_unwrap(a, None) for a in typing.get_args(annotation) if a is not type(None)]
            tagged = [m for m in members if getattr(m, "kind", None) == tag]
            annotation = tagged[0] if tagged else members[0] if len(members) == 1 else None
        else:
            return annotation


def _fields_by_key(model: type[BaseModel]) -> dict[str, Any]:
    return {field.alias or name: field for name, field in model.model_fields.items()}


def _allowed_keys(root: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    model = _model_at(root, loc)
    return list(_fields_by_key(model)) if model else []


def _describe(root: type[BaseModel], loc: tuple[int | str, ...], key: str) -> str:
    model = _model_at(root, loc)
    field = _fields_by_key(model).get(key) if model else None
    return (field.description or "required") if field else "required"
