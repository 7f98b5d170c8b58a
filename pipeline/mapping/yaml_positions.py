"""Read a YAML file into plain data plus the line and column of every key and value.

PyYAML's composer keeps a position on every node; the constructor throws them away, so this
module walks the nodes itself. It also departs from YAML 1.1 where that bites mapping files:
keys stay text (`on:` is the key "on", not True), dates stay text (`start_date` is checked by
the model, in one place), and a key given twice is an error instead of "last one wins".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pipeline.mapping.errors import MappingError

DataPath = tuple[str | int, ...]
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


def _position(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


@dataclass
class Document:
    """One file's data with 1-based positions: `values[path]` of each node, `keys[path]` of its key."""

    path: Path
    data: Any = None
    text: str = ""  # the file as read, to place errors inside a scalar (see scalar_offsets.py)
    values: dict[DataPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[DataPath, tuple[int, int]] = field(default_factory=dict)
    errors: list[MappingError] = field(default_factory=list)
    # Values that must never appear in a message (they came from secret variables): the
    # path → the `${NAME}` references they came from, and the values themselves.
    hidden: dict[DataPath, str] = field(default_factory=dict)
    hidden_values: set[str] = field(default_factory=set)
    # Values already reported (e.g. an unset variable), so later checks do not pile on.
    reported: set[DataPath] = field(default_factory=set)

    def position(self, path: DataPath, *, at_key: bool = False) -> tuple[int, int]:
        """The node at `path`, or its nearest ancestor present in the file (for missing keys)."""
        while True:
            if at_key and path in self.keys:
                return self.keys[path]
            if path in self.values:
                return self.values[path]
            if not path:
                return 1, 1
            path, at_key = path[:-1], True

    def error(
        self,
        path: DataPath,
        message: str,
        fix: str,
        suggestion: str | None = None,
        at_key: bool = False,
        position: tuple[int, int] | None = None,
    ) -> None:
        """Record an error at `path` (or at `position` inside its value), withholding secrets."""
        line, column = position or self.position(path, at_key=at_key)
        if not at_key and path in self.hidden:
            line, column = self.position(path)
            message = (
                f"{dotted(path)}: the value of {self.hidden[path]} is not valid here "
                "(not shown: the variable's name marks it as a secret)"
            )
            suggestion = None
        message, fix = self._scrub(message), self._scrub(fix)
        suggestion = None if suggestion is None or self._scrub(suggestion) != suggestion else suggestion
        self.errors.append(MappingError(self.path, line, column, message, suggestion, fix))

    def _scrub(self, text: str) -> str:
        for value in self.hidden_values:
            text = text.replace(value, "***")
        return text


def dotted(path: DataPath) -> str:
    """`("import", 0, "fields", 2, "strategy")` → `import[0].fields[2].strategy`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "the file"


def read_document(path: Path) -> Document:
    """Parse `path`; syntax problems become errors on the returned document, never exceptions."""
    doc = Document(path)
    try:
        doc.text = path.read_text(encoding="utf-8")
        root = yaml.compose(doc.text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "cannot be parsed"
        doc.errors.append(
            MappingError(
                path, line, column, f"YAML syntax: {problem}", fix="check indentation, colons and quotes here"
            )
        )
        return doc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        doc.errors.append(
            MappingError(path, 1, 1, f"cannot read the file: {exc}", fix="save it as UTF-8 YAML")
        )
        return doc
    if root is None:
        doc.error((), "the file is empty", "start with `connection: <name>`; see mappings/demo.yaml")
        return doc
    if not isinstance(root, MappingNode):
        doc.error(
            (), "the file is not a mapping of keys", "start with `connection: <name>`; see mappings/demo.yaml"
        )
        return doc
    doc.data = _build(root, (), doc, SafeConstructor())
    return doc


def _build(node: Node, path: DataPath, doc: Document, constructor: SafeConstructor) -> Any:
    doc.values[path] = _position(node)
    if isinstance(node, MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                line, column = _position(key_node)
                doc.errors.append(
                    MappingError(doc.path, line, column, "a key is not plain text", fix="write key: value")
                )
                continue
            key = key_node.value
            if key == "<<":
                doc.errors.append(
                    MappingError(
                        doc.path,
                        *_position(key_node),
                        "YAML merge keys (<<) are not supported",
                        fix="write the keys out in full",
                    )
                )
                continue
            if key in result:
                first = doc.keys[(*path, key)]
                doc.errors.append(
                    MappingError(
                        doc.path,
                        *_position(key_node),
                        f"key {key!r} is given twice (first on line {first[0]})",
                        fix="keep one of them",
                    )
                )
                continue
            doc.keys[(*path, key)] = _position(key_node)
            result[key] = _build(value_node, (*path, key), doc, constructor)
        return result
    if isinstance(node, SequenceNode):
        return [_build(item, (*path, i), doc, constructor) for i, item in enumerate(node.value)]
    assert isinstance(node, ScalarNode)
    if node.tag == _TIMESTAMP:
        return node.value
    try:
        return constructor.construct_object(node, deep=True)
    except ConstructorError as exc:
        doc.errors.append(
            MappingError(
                doc.path,
                *_position(node),
                f"cannot read this value: {exc.problem}",
                fix="remove the YAML tag (!...) or quote the value",
            )
        )
        return node.value
