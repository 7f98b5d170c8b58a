"""A column's type is the type of most of its values; a value of another shape is set aside.

One user whose `tags` is an object while everybody else's is a list must not turn the column
into JSON text for everyone (issue 8): the odd value is quarantined for its record and field,
and the column keeps the type its values agree on. The rule, per column over one day's pieces
(a piece is a set of rows that parsed together, so its values share one type):

- each piece votes with the number of values (non-null) it has in the column, under its type;
  a piece whose column holds JSON text (a list mixing numbers and text) votes for JSON text;
- types that merge without loss (`types.merge_types`: Int64 and Float64, structs gaining a
  field, lists of those, ...) join the group of the most common type, most values first
  (ties: the type read first);
- when that group holds more than half of the values, it is the column's type and the values
  of the other types are quarantined, each naming its shape and the column's;
- otherwise no value can be called the odd one (5, "gold" and [1, 2], one each): the column is
  JSON text as before, so nothing is lost (see `pipeline.staging.types`).

Pieces whose column is empty (all null) never vote and never count as a misfit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from pipeline.staging.types import JSON_TEXT, JsonText, Target, has_empty_struct, merge_types


@dataclass(frozen=True)
class PieceTypes:
    """What one piece tells the vote: column types, values per column, columns holding JSON text."""

    schema: Mapping[str, pl.DataType]
    values: Mapping[str, int]
    json_columns: frozenset[str] = frozenset()


@dataclass
class Decision:
    """Column types, and per piece the columns whose values do not fit (column → reason)."""

    targets: dict[str, Target]
    misfits: list[dict[str, str]]


def _merge(left: Target, right: Target) -> Target | None:
    if isinstance(left, JsonText) or isinstance(right, JsonText):
        return JSON_TEXT if isinstance(left, JsonText) and isinstance(right, JsonText) else None
    return merge_types(left, right)


def describe(kind: Target, plural: bool = False) -> str:
    """A type in a user's words: `an object`, `a list of text`, `numbers`."""
    if isinstance(kind, JsonText):
        return "lists or objects mixing types" if plural else "a list or object mixing types"
    if kind == pl.String:
        return "text"
    if kind == pl.Boolean:
        return "true or false"
    if kind.is_numeric():
        return "numbers" if plural else "a number"
    if isinstance(kind, pl.Datetime | pl.Date):
        return "dates" if plural else "a date"
    if isinstance(kind, pl.Struct):
        return "objects" if plural else "an object"
    if isinstance(kind, pl.List | pl.Array):
        inner = "" if kind.inner == pl.Null else f" of {describe(kind.inner, plural=True)}"
        return f"{'lists' if plural else 'a list'}{inner}"
    return str(kind)


def decide(pieces: Sequence[PieceTypes], fixed: Mapping[str, pl.DataType]) -> Decision:
    """Column name → type (first-seen order, `fixed` columns first and as given), and the misfits."""
    kinds: dict[str, list[list]] = {}  # column → [[kind, values, first piece], ...]
    for index, piece in enumerate(pieces):
        for name, dtype in piece.schema.items():
            if name in fixed:
                continue
            kind: Target = JSON_TEXT if name in piece.json_columns else dtype
            entries = kinds.setdefault(name, [])
            same = [e for e in entries if e[0] == kind and type(e[0]) is type(kind)]
            if same:
                same[0][1] += piece.values[name]
            else:
                entries.append([kind, piece.values[name], index])
    targets: dict[str, Target] = dict(fixed)
    misfits: list[dict[str, str]] = [{} for _ in pieces]
    for name, entries in kinds.items():
        target, rejected = _vote(name, entries)
        targets[name] = target
        for index, piece in enumerate(pieces):
            if name not in piece.schema:
                continue
            kind = JSON_TEXT if name in piece.json_columns else piece.schema[name]
            for rejected_kind, reason in rejected:
                if rejected_kind == kind and type(rejected_kind) is type(kind):
                    misfits[index][name] = reason
    return Decision(targets, misfits)


def _vote(name: str, entries: list[list]) -> tuple[Target, list[tuple[Target, str]]]:
    """The column's type and the (kind, reason) of each kind whose values are set aside."""
    ordered = sorted(entries, key=lambda e: (-e[1], e[2]))
    total = sum(e[1] for e in ordered)
    winner: Target = ordered[0][0]
    held = 0
    losers: list[list] = []
    for kind, values, _first in ordered:
        merged = _merge(winner, kind)
        if merged is None:
            losers.append([kind, values])
            continue
        winner, held = merged, held + values
    if not isinstance(winner, JsonText) and has_empty_struct(winner):
        return JSON_TEXT, []  # Parquet cannot store a struct without fields
    if losers and held * 2 <= total:
        return JSON_TEXT, []  # no majority: no value can be called the odd one
    rejected = []
    for kind, values in losers:
        if values:
            reason = (
                f"{name} is {describe(kind)}, but {held:,} of {total:,} values of this attribute in the export "
                f"are {describe(winner, plural=True)}; left out of this user's record so the column keeps its type"
            )
        else:
            reason = ""  # no value to lose: the piece's empty column is dropped
        rejected.append((kind, reason))
    return winner, rejected
