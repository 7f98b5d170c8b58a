"""The one place where profile segment expressions are checked at load time.

Every expression under `segments:` is parsed with the segment language of
`pipeline.profiles.segments` (see its docstring for the grammar). A syntax error is reported
at the character it is about: the value's position in the file plus the parser's offset,
counting the opening quote of a quoted value (`scalar_offsets.py`; a value over several lines
is reported at its start). Which properties an expression may name depends on the other
connections of the same store, so that check runs later, in `export_rules.py`.
"""

from __future__ import annotations

from pipeline.mapping.scalar_offsets import position_in_value
from pipeline.mapping.yaml_positions import Document
from pipeline.profiles.segments import Segment, SegmentSyntaxError, parse_segment


def check_segment_expression(text: str) -> SegmentSyntaxError | None:
    """The syntax error of `text`, or None when it is a valid segment expression."""
    try:
        parse_segment(text)
    except SegmentSyntaxError as exc:
        return exc
    return None


def segments_of(doc: Document) -> dict[str, str]:
    """The text expressions under `segments:`; anything malformed is left to the model."""
    segments = doc.data.get("segments") if isinstance(doc.data, dict) else None
    if not isinstance(segments, dict):
        return {}
    return {name: text for name, text in segments.items() if isinstance(text, str)}


def check_syntax(doc: Document) -> dict[str, Segment]:
    """Record each expression's syntax error at its character; return the expressions that parse.

    Runs before the model, and marks the values it reported so the model's own check of the same
    value (which cannot know positions inside it) does not report it a second time."""
    parsed: dict[str, Segment] = {}
    for name, text in segments_of(doc).items():
        path = ("segments", name)
        try:
            parsed[name] = parse_segment(text)
        except SegmentSyntaxError as exc:
            where = position_in_value(doc, path, text, exc.offset) if text.strip() else None  # empty: the value
            doc.error(path, f"segment {name!r}: {exc.message}", exc.fix, position=where)
            doc.reported.add(path)
    return parsed
