"""Profile segments: a small filter language over profile properties, compiled to Polars.

A segment is one condition, written in the connection file under `segments:`:

    vip: "points >= 800 and email_consent != 'unsubscribed'"
    dutch_cyclists: "country in ('NL', 'BE') and interests contains 'cycling'"
    lapsed: "not (last_seen >= date '2026-01-01') or last_seen is null"
    everyone: "true"

The language is our own, not SQL: it has no function calls, sub-queries, statements or
arithmetic, so an expression can only ever read the profile columns it names. Anything else is
a `SegmentSyntaxError` with the 0-based character offset and the fix.

Grammar (keywords are case-insensitive; property names are case-sensitive)
---------------------------------------------------------------------------
    expression := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" expression ")" | "true" | "false" | condition
    condition  := property compare value | value compare property
                | property "is" ["not"] "null"
                | property ["not"] "in" "(" value ("," value)* ")"
                | property ["not"] "contains" value
                | property ["not"] "between" value "and" value
    compare    := "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    value      := ["-"] digits ["." digits] | 'text' | "true" | "false" | "date" 'YYYY-MM-DD'
    property   := [A-Za-z_][A-Za-z0-9_]* | "any name in double quotes"

In text, '' is a quote: 'O''Brien'. In a quoted name, "" is a double quote. A property named
like a keyword (date, in, contains, ...) must be quoted: "date" >= date '2026-01-31'. `null`
only follows `is`: `x = null` is refused (it would never be true). `contains` is true when a
list property holds the value, or a text property contains it (case-sensitive). `between` is
inclusive at both ends. Segments cannot refer to other segments: repeat the condition.

Meaning over a profile snapshot
-------------------------------
- Every condition on a property without a value is false, except `is null`; `not (...)` then
  inverts it. So `country != 'NL'` leaves out profiles without a country, while
  `not (country = 'NL')` keeps them.
- A property that is not a column of the snapshot (nobody has it yet) has no value anywhere:
  a segment over it is simply empty, not an error.
- A value of the wrong type for the column makes the condition false instead of failing the
  run: a number column never equals '100', a text column never equals 100, a list column is
  only ever matched by contains. In an `in (...)` list, members of the wrong type are ignored.
  A date value compares with Date columns, with the day of Datetime columns, and with text
  columns whose first ten characters are YYYY-MM-DD (as Braze writes dates).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from pipeline.profiles.segment_parser import Parser
from pipeline.profiles.segment_polars import compile_tree
from pipeline.profiles.segment_tree import Node, Property, SegmentSyntaxError
from pipeline.profiles.snapshot import PROFILE_ID

__all__ = ["Segment", "SegmentSyntaxError", "evaluate_segments", "parse_segment"]


@dataclass(frozen=True)
class Segment:
    """A parsed segment: its text, syntax tree, and the properties it reads (`references` in text order)."""

    text: str
    tree: Node
    properties: frozenset[str]
    references: tuple[Property, ...]

    def to_polars(self, schema: Mapping[str, pl.DataType] | None = None) -> pl.Expr:
        """A Boolean expression, never null, over a profiles frame with this `schema` (`frame.schema`).

        The schema decides how a missing column or a type mismatch is handled (see the module
        docstring). Without one, every property is taken to be a column of the literal's type and
        `contains` means text contains; a mismatch then fails when the expression runs."""
        return compile_tree(self.tree, schema)


def parse_segment(text: str) -> Segment:
    """Parse `text`; raises SegmentSyntaxError at the first thing that is not part of the language."""
    parser = Parser(text)
    tree = parser.parse()
    refs = tuple(sorted(parser.references, key=lambda p: p.offset))
    return Segment(text, tree, frozenset(p.name for p in refs), refs)


def evaluate_segments(profiles: pl.DataFrame, segments: Mapping[str, Segment]) -> pl.DataFrame:
    """`profile_id` plus one Boolean column per segment (in the mapping's order), rows as in `profiles`."""
    if PROFILE_ID in segments:
        raise ValueError(f"a segment may not be named {PROFILE_ID!r}: that is the key column; rename it")
    schema = profiles.schema
    return profiles.select(pl.col(PROFILE_ID), *(s.to_polars(schema).alias(n) for n, s in segments.items()))

