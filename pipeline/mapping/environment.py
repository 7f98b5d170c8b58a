"""What valid connection files point at here and now: the key variable and the local store folders.

The files can be right and a run still fail at once: the key's variable unset in this shell, a
storage root that names a file. `profilesync validate` and `profilesync run` check these before
anything starts, and report them like file errors, at the line that names the variable or root.
Nothing here reads the network; `writable` creates the local root folders (a run would) and
proves a file can be written in them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pipeline.braze.keys import KEY_FIX, key_problem
from pipeline.mapping.errors import MappingError
from pipeline.mapping.model import Connection
from pipeline.mapping.yaml_positions import DataPath, read_document
from pipeline.storage import split_uri

_STORES: tuple[tuple[str, str], ...] = (("root", "storage.root"), ("braze_exports", "storage.braze_exports"))


def check_environment(connections: list[Connection], *, writable: bool = False) -> list[MappingError]:
    """One error per unusable key variable or local store folder of `connections`."""
    errors: list[MappingError] = []
    for connection in connections:
        problems: list[tuple[DataPath, str, str]] = []
        variable = connection.braze.api_key_env
        if not os.environ.get(variable, ""):
            problems.append(
                (("braze", "api_key"), f"environment variable {variable} is not set or empty",
                 f"set it to the Braze REST API key where runs happen, e.g. export {variable}=...")
            )  # fmt: skip
        elif problem := key_problem(os.environ[variable], variable):
            problems.append((("braze", "api_key"), problem, KEY_FIX))
        for field, label in _STORES:
            problem = folder_problem(getattr(connection.storage, field), label, writable=writable)
            if problem:
                problems.append((("storage", field), *problem))
        errors += _located(connection, problems)
    return errors


def folder_problem(uri: str, label: str, *, writable: bool) -> tuple[str, str] | None:
    """(message, fix) when a local store folder cannot be one; s3:// stores are not checked here."""
    scheme, _, path = split_uri(uri)
    if scheme != "file":
        return None
    folder = Path(path)
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        named = f"{label} {uri} is a file" if existing == folder else f"{label} {uri} is inside {existing}, a file"
        return f"{named}, not a folder", "point it at a folder (a missing folder is created)"
    if writable:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            reason = f"{label} {uri} cannot be written ({exc.strerror})"
            return reason, "give this user write access, or choose another folder"
    return None


def _located(connection: Connection, problems: list[tuple[DataPath, str, str]]) -> list[MappingError]:
    if not problems:
        return []
    source = connection.source or Path(f"{connection.name}.yaml")
    doc = read_document(source) if connection.source else None
    located = []
    for path, message, fix in problems:
        line, column = doc.position(path) if doc else (1, 1)
        located.append(MappingError(source, line, column, message, fix=fix))
    return located
