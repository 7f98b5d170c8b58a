"""Braze values out of a changes frame: its contract, identifier values, one `Write` per rule.

Columns are named as Braze names them; a rule may address a field inside a struct column
(`custom_attributes.a.b` is field `b` of column `custom_attributes.a`). A column nobody has
today may be missing from the frame: its values are then null, never an error.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import polars as pl

from pipeline.profiles.dtypes import normalize
from pipeline.profiles.rules import USER_ALIAS, GoalRules, Strategy

CUSTOM_PREFIX = "custom_attributes."

KEY = "braze_id"
CHANGE = "_change"
CHANGED_FIELDS = "_changed_fields"
ECHO_FIELDS = "_echo_fields"  # fields that only show profilesync's own push (pipeline.echoes)
PUSHED_VALUES = "_pushed_values"  # (field, value) Braze held from our push just before a real change
PUSHED_DTYPE = pl.List(pl.Struct({"field": pl.String, "value": pl.String}))
CHANGES = ("added", "changed", "echo", "removed")
ACTIVE = ("added", "changed")  # kinds of rows that can change a profile
REC = "__rec"  # row number of a record among the goal's active (added or changed) records


@dataclass(frozen=True)
class Source:
    """Where a Braze field's values are in the changes frame."""

    value: pl.Expr  # empties already turned into null; JSON text decoded
    dtype: pl.DataType
    column: str  # the changes column whose name in `_changed_fields` marks the value as changed
    json: pl.Expr | None = None  # the undecoded JSON text, when the column holds JSON text


@dataclass(frozen=True)
class Write:
    """One rule resolved against today's schema: where the value comes from and where it goes."""

    property: str
    strategy: Strategy
    source: Source


def braze_value(schema: pl.Schema, braze: str, json_text: Collection[str] = ()) -> Source:
    """A Braze field: a column, or a field inside a struct (or JSON text) column; null when absent.

    Staging writes an attribute whose values mix types as String JSON text (listed apart, as the
    type cannot tell): such values are decoded, a JSON string to its text, anything else to its
    JSON, which is the text the mixed types would meet in anyway (`dtypes.supertype`).
    """
    if braze in schema:
        if braze in json_text:
            decoded = pl.col(braze).str.json_path_match("$")
            return Source(normalize(decoded, pl.String()), pl.String(), braze, pl.col(braze))
        return Source(normalize(pl.col(braze), schema[braze]), schema[braze], braze)
    nested = [c for c in schema if braze.startswith(f"{c}.") and (isinstance(schema[c], pl.Struct) or c in json_text)]
    if not nested:
        return Source(pl.lit(None, dtype=pl.Null), pl.Null(), braze)
    column = max(nested, key=len)
    path = braze[len(column) + 1 :].split(".")
    if column in json_text:
        decoded = pl.col(column).str.json_path_match("$." + ".".join(path))
        return Source(normalize(decoded, pl.String()), pl.String(), column, decoded)
    expr, dtype = pl.col(column), schema[column]
    for name in path:
        fields = {f.name: f.dtype for f in dtype.fields} if isinstance(dtype, pl.Struct) else {}
        if name not in fields:
            return Source(pl.lit(None, dtype=pl.Null), pl.Null(), column)
        expr, dtype = expr.struct.field(name), fields[name]
    return Source(normalize(expr, dtype), dtype, column)


def identifier_values(rules: GoalRules, schema: pl.Schema) -> list[tuple[str, pl.Expr]]:
    """(profile identifier kind, String expression) per identifier rule; empty values are null."""
    values = []
    for rule in rules.identifiers:
        if rule.braze.startswith(USER_ALIAS):
            label = rule.braze[len(USER_ALIAS) :]
            if "user_aliases" not in schema:
                expr = pl.lit(None, dtype=pl.String)
            else:
                alias = pl.element().filter(pl.element().struct.field("alias_label") == label)
                expr = pl.col("user_aliases").list.eval(alias.struct.field("alias_name")).list.first()
            values.append((rule.profile, normalize(expr, pl.String())))
        else:
            value = braze_value(schema, rule.braze).value
            values.append((rule.profile, normalize(value.cast(pl.String), pl.String())))
    return values


def remaining_columns(rules: GoalRules, schema: pl.Schema) -> list[str]:
    """Data columns no field rule reads, no identifier uses and no export goal writes, in name order.

    `braze_id` is the record key, not a data field: map it explicitly to keep it as a property.
    """
    used = {braze_value(schema, rule.braze).column for rule in rules.fields} | rules.identifier_columns() | {KEY}
    ours = rules.remaining.leave_out if rules.remaining is not None else frozenset()
    return sorted(c for c in schema if not c.startswith("_") and c not in used and c not in ours)


def writes(rules: GoalRules, schema: pl.Schema, json_text: Collection[str] = ()) -> list[Write]:
    """Field rules in declared order, then the remaining fields."""
    out = [Write(rule.profile, rule.strategy, braze_value(schema, rule.braze, json_text)) for rule in rules.fields]
    if rules.remaining is not None:
        prefix, strategy = rules.remaining.prefix, rules.remaining.strategy
        columns = remaining_columns(rules, schema)
        for column in columns:
            name = prefix + remaining_name(column, columns)
            out.append(Write(name, strategy, braze_value(schema, column, json_text)))
    return out


def remaining_name(column: str, columns: list[str]) -> str:
    """`custom_attributes.plan` → `plan`, unless a standard field of that name is also there."""
    short = column.removeprefix(CUSTOM_PREFIX)
    return column if short != column and short in columns else short


def inactive_columns(rules: GoalRules, schema: pl.Schema, json_text: Collection[str] = ()) -> list[str]:
    """The columns the profiles step reads of rows that are not ACTIVE (echoes and removals):
    the change bookkeeping, the identifiers (a removal's profile is counted as left) and the
    sources of `sum` rules (an echo moves the sum basis, `sums.echo_basis`). Reading only these
    keeps the day's echoes (~all exported users, once a day's push comes back) out of memory."""
    meta = {KEY, CHANGE, CHANGED_FIELDS, ECHO_FIELDS, PUSHED_VALUES}
    identifiers = {braze_value(schema, rule.braze).column for rule in rules.identifiers}
    identifiers |= {"user_aliases"} & rules.identifier_columns()
    sums = {w.source.column for w in writes(rules, schema, json_text) if w.strategy == "sum"}
    return [c for c in schema if c in meta | identifiers | sums]


def check_changes(changes: pl.DataFrame, goal: str) -> None:
    """The delta step's contract, checked where breaking it would silently corrupt profiles."""
    missing = [c for c in (KEY, CHANGE, CHANGED_FIELDS) if c not in changes.columns]
    if missing:
        raise ValueError(f"goal {goal!r}: changes frame lacks {missing}; pass the user_changes output unchanged")
    if changes[KEY].null_count() or changes[KEY].n_unique() != changes.height:
        raise ValueError(f"goal {goal!r}: braze_id must be present and unique per changes row; rerun the delta step")
    unknown = set(changes[CHANGE].unique().to_list()) - set(CHANGES)
    if unknown:
        raise ValueError(f"goal {goal!r}: unknown _change values {sorted(unknown)}; expected {', '.join(CHANGES)}")


def record_keys(records: pl.DataFrame, rules: GoalRules) -> pl.DataFrame:
    """(__rec, kind, value) for every non-empty identifier value of every record."""
    values = identifier_values(rules, records.schema)
    frames = [records.select(REC, pl.lit(kind).alias("kind"), expr.alias("value")) for kind, expr in values]
    keys = pl.concat(frames).drop_nulls("value")
    shared_kind = len({kind for kind, _ in values}) < len(values)  # two Braze fields filling one identifier
    return keys.unique(maintain_order=True) if shared_kind else keys
