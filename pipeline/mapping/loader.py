"""Find, read and check the connection files in the mappings folder."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from pydantic import ValidationError

from pipeline.mapping import echo_rules, env, export_rules, pydantic_errors, rules, segment_expressions
from pipeline.mapping.errors import MappingError, MappingsFolderMissing, MappingsInvalid
from pipeline.mapping.model import Connection
from pipeline.mapping.shard_rules import check_shards
from pipeline.mapping.store_properties import KnownProperties, known_properties
from pipeline.mapping.yaml_positions import Document, read_document

FOLDER_VARIABLE = "PROFILESYNC_MAPPINGS"
# The repository's mappings/ folder, found from this file so any working directory works
# (the package is installed editable, as the Makefile does).
REPO_MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


def mappings_folder() -> Path:
    """The folder named by PROFILESYNC_MAPPINGS, or else the repository's mappings/."""
    configured = os.environ.get(FOLDER_VARIABLE, "").strip()
    return Path(configured).expanduser().resolve() if configured else REPO_MAPPINGS


def read_file(path: Path, environ: Mapping[str, str] | None = None) -> Document:
    """The file's document with `${VAR}` substituted; problems are errors on it, never exceptions."""
    doc = read_document(path)
    if doc.data is not None:
        env.substitute(doc, environ)
    return doc


def check_document(doc: Document, known: KnownProperties, store: Iterable[Document] = ()) -> Connection | None:
    """The document's connection (None when it has any error), recording every error on `doc`.

    `known`: the properties the profiles of its store can hold (`store_properties.py`); `store`:
    the other documents beside it, for the feedback loops of `echo_rules.check_loops`."""
    if doc.data is None:
        return None
    segments = segment_expressions.check_syntax(doc)  # first: it knows the character of each error
    connection = None
    try:
        connection = Connection.model_validate(doc.data)
    except ValidationError as exc:
        pydantic_errors.record(doc, exc, Connection)
    rules.check_document(doc)
    export_rules.check_document(doc, segments, known)
    echo_rules.check_loops(doc, store)
    if connection is not None:
        check_shards(doc, connection)
    if doc.errors or connection is None:
        return None
    connection._source = doc.path
    return connection


def check_file(path: Path, environ: Mapping[str, str] | None = None) -> tuple[Connection | None, Document]:
    """The file's connection (None when it has any error) and its document with every error found.

    The other .yaml files beside it count for the properties its segments and exports may name,
    as in `check_folder`; only their storage root and properties are read, not their errors."""
    path = Path(path)
    doc = read_file(path, environ)
    others = [read_file(p, environ) for p in _siblings(path)]
    return check_document(doc, known_properties(doc, others), others), doc


def _siblings(path: Path) -> list[Path]:
    if not path.parent.is_dir():
        return []
    return [p for p in connection_files(path.parent) if p.suffix == ".yaml" and p.resolve() != path.resolve()]


def load_connection_file(path: Path | str) -> Connection:
    """One connection; raises MappingsInvalid listing every error of the file."""
    connection, doc = check_file(Path(path))
    if connection is None:
        raise MappingsInvalid(doc.errors)
    return connection


def connection_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise MappingsFolderMissing(
            f"mappings folder {folder} does not exist; create it, or set {FOLDER_VARIABLE} "
            "to the folder that holds your connection files"
        )
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def check_folder(folder: Path | None = None) -> tuple[list[Connection], list[MappingError]]:
    """Every connection of the folder in file-name order, and every error of every file."""
    folder = mappings_folder() if folder is None else Path(folder)
    connections: list[Connection] = []
    errors: list[MappingError] = []
    names: dict[str, tuple[Path, int]] = {}
    docs: list[Document] = []
    for path in connection_files(folder):
        if path.suffix == ".yml":
            errors.append(
                MappingError(
                    path, 1, 1, "connection files end in .yaml", fix=f"rename it to {path.stem}.yaml"
                )
            )
            continue
        docs.append(read_file(path))
    for doc in docs:
        path = doc.path
        connection = check_document(doc, known_properties(doc, docs), docs)
        errors += doc.errors
        name = doc.data.get("connection") if isinstance(doc.data, dict) else None
        if not isinstance(name, str):
            continue
        line, column = doc.position(("connection",))
        if name in names:
            first_path, first_line = names[name]
            errors.append(
                MappingError(
                    path,
                    line,
                    column,
                    f"connection name {name!r} is already used in {first_path}:{first_line}",
                    fix="give every connection file its own connection name",
                )
            )
            continue
        names[name] = (path, line)
        if connection is not None:
            connections.append(connection)
    return connections, sorted(errors, key=MappingError.sort_key)


def load_connections(folder: Path | None = None) -> list[Connection]:
    """All connections, in file-name order; raises MappingsInvalid listing every error of every file."""
    connections, errors = check_folder(folder)
    if errors:
        raise MappingsInvalid(errors)
    return connections


def validate_folder(folder: Path | None = None, *, environment: bool = False) -> list[MappingError]:
    """Every error of every connection file, for `profilesync validate`; empty when all is well.

    `environment`: also check what the files point at here and now (key variables, local
    storage roots), as `profilesync validate` does; the files alone are checked without it."""
    connections, errors = check_folder(folder)
    if environment:
        from pipeline.mapping.environment import check_environment

        errors = sorted(errors + check_environment(connections), key=MappingError.sort_key)
    return errors
