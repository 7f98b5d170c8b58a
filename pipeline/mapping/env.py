"""`${VAR}` in connection files: values read from the environment when the file is loaded.

`$${` writes a literal `${`. `braze.api_key` is the exception: it keeps the reference, not
the value, so the key is read only when a run calls Braze and never sits in a loaded model.
Values of variables whose names look secret are recorded on the document so that no error
message shows them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from pipeline.mapping.yaml_positions import DataPath, Document

UNRESOLVED_PATHS: frozenset[DataPath] = frozenset({("braze", "api_key")})
_SECRET_WORDS = ("KEY", "SECRET", "TOKEN", "PASSWORD")
_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WHOLE_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_MIN_SCRUB_LENGTH = 4  # shorter values are no secret, and scrubbing them would garble messages


def is_secret_name(name: str) -> bool:
    return any(word in name.upper() for word in _SECRET_WORDS)


def substitute(doc: Document, environ: Mapping[str, str] | None = None) -> None:
    """Replace every `${VAR}` in the document's text values, recording errors on the document."""
    env = os.environ if environ is None else environ
    for path in UNRESOLVED_PATHS:
        literal = _get(doc.data, path)
        if (
            isinstance(literal, str)
            and not _WHOLE_REFERENCE.fullmatch(literal)
            and len(literal) >= _MIN_SCRUB_LENGTH
        ):
            doc.hidden_values.add(literal)  # a key pasted into the file: refused, and never repeated
    doc.data = _walk(doc.data, (), doc, env)


def _walk(value: Any, path: DataPath, doc: Document, env: Mapping[str, str]) -> Any:
    if path in UNRESOLVED_PATHS:
        return value
    if isinstance(value, dict):
        return {key: _walk(item, (*path, key), doc, env) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, (*path, i), doc, env) for i, item in enumerate(value)]
    if isinstance(value, str) and "$" in value:
        return _expand(value, path, doc, env)
    return value


def _expand(text: str, path: DataPath, doc: Document, env: Mapping[str, str]) -> str:
    secrets: list[str] = []

    def replace(found: re.Match[str]) -> str:
        token, name = found.group(0), found.group(1)
        if token == "$${":
            return "${"
        if name is None:
            doc.error(path, "${ is not closed", "close it with }, or write $${ for a literal ${")
            return token
        if not _NAME.fullmatch(name):
            doc.error(
                path,
                f"${{{name}}} is not a variable reference",
                "write ${NAME} with letters, digits and _ (defaults like ${NAME:-x} are not supported); "
                "$${ is a literal ${",
            )
            return token
        if name not in env:
            doc.error(path, f"environment variable {name} is not set", f"set it, e.g. export {name}=...")
            return token
        if is_secret_name(name):
            secrets.append(f"${{{name}}}")
            if len(env[name]) >= _MIN_SCRUB_LENGTH:
                doc.hidden_values.add(env[name])
        return env[name]

    errors_before = len(doc.errors)
    result = _REFERENCE.sub(replace, text)
    if len(doc.errors) > errors_before:
        doc.reported.add(path)
    if secrets:
        doc.hidden[path] = ", ".join(secrets)
    return result


def _get(data: Any, path: DataPath) -> Any:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data
