"""The line and column of a character inside a YAML text value, for errors within a segment expression.

A parser reports an offset into the value (`points >= (select 1)`: character 11); the editor
needs the place in the file. For a value on one line this is exact in all three styles:

    vip: points >= 1            plain: the value starts at its first character
    vip: 'it''s >= 1'           single-quoted: after the quote, and '' is one character
    vip: "a \\"b\\" >= 1"          double-quoted: after the quote, and each escape is one character

A value written over several lines (block `|` / `>` or a folded quoted value), or one whose
text changed while loading (a `${VAR}` was substituted), gets the position of the value's
start instead: the file's text no longer maps character by character onto the value.
"""

from __future__ import annotations

from pipeline.mapping.yaml_positions import DataPath, Document

_ESCAPES = {
    "0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v", "f": "\f", "r": "\r",
    "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85", "_": "\xa0", "L": "\u2028", "P": "\u2029",
}  # fmt: skip
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}  # followed by this many hex digits


def position_in_value(doc: Document, path: DataPath, value: str, offset: int) -> tuple[int, int]:
    """1-based line and column of `value[offset]` (or of its end), where `value` is the text at `path`."""
    line, column = doc.position(path)
    lines = doc.text.replace("\r\n", "\n").split("\n")
    if path not in doc.values or not 0 < line <= len(lines) or not 0 <= offset <= len(value):
        return line, column
    columns = _value_columns(lines[line - 1][column - 1 :], value)
    return (line, column) if columns is None else (line, column + columns[offset])


def _value_columns(source: str, value: str) -> list[int] | None:
    """Where each character of `value` starts in `source` (the line from the value's start on), plus
    where the value ends; None when the value is not written on this one line exactly as loaded."""
    if source[:1] in ("|", ">"):
        return None
    if source[:1] == "'":
        columns, decoded = _single_quoted(source)
    elif source[:1] == '"':
        columns, decoded = _double_quoted(source)
    else:
        columns, decoded = list(range(len(value) + 1)), source[: len(value)]
    return columns if decoded == value else None


def _single_quoted(source: str) -> tuple[list[int], str | None]:
    columns: list[int] = []
    decoded = ""
    at = 1
    while at < len(source):
        if source[at] == "'":
            if source[at + 1 : at + 2] != "'":
                return [*columns, at], decoded
            at += 1  # '' is one quote
        columns.append(at)
        decoded += source[at]
        at += 1
    return [], None  # not closed on this line: a multi-line value


def _double_quoted(source: str) -> tuple[list[int], str | None]:
    columns: list[int] = []
    decoded = ""
    at = 1
    while at < len(source):
        char, start = source[at], at
        if char == '"':
            return [*columns, at], decoded
        if char == "\\":
            kind = source[at + 1 : at + 2]
            if kind in _HEX_ESCAPES:
                digits = source[at + 2 : at + 2 + _HEX_ESCAPES[kind]]
                if len(digits) != _HEX_ESCAPES[kind] or not all(c in "0123456789abcdefABCDEF" for c in digits):
                    return [], None
                char, at = chr(int(digits, 16)), at + 1 + len(digits)
            elif kind in _ESCAPES:
                char, at = _ESCAPES[kind], at + 1
            else:
                return [], None  # a line continuation, or an escape YAML refuses anyway
        columns.append(start)
        decoded += char
        at += 1
    return [], None
