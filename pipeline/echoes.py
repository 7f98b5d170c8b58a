"""Echoes: Braze values that are only profilesync's own pushes coming back through an import.

The rule. For every (Braze user, attribute) the store knows what profilesync last had
acknowledged by Braze: the export baseline of each export goal (`pipeline.push`). When a
segment export shows exactly that value, the difference from the previous staged copy is our
own push coming back, an *echo*: not a Braze change, not written to a profile, not counted as
changed. Any other value is a real change (someone else wrote it) and is imported as usual. A
value Braze refused is never in a baseline (dead letters are not acknowledged), so it can
never be taken for an echo.

What is compared, per changes row and changed field:

- the Braze user, by every identifier the changes frame holds (`braze_id`, `external_id`,
  `email`, `phone`, each `user_aliases` entry) against the baseline's identity (the identifier
  the export goal sent under, canonical JSON such as `{"external_id":"u1"}`). A merged profile
  sent to several Braze users has one baseline row per user, so each user is judged by its own;
- the attribute: export attribute `x` is the import column `x` when `x` is a standard Braze
  field, else `custom_attributes.x`;
- the value: the baseline's canonical JSON decoded to the staged column's type (numbers as
  numbers, so `5` and `5.0` meet; dates and times as the text `to_braze` sends; lists and
  objects decoded whole); a null baseline value (a removal Braze accepted) matches an empty
  field. JSON-text columns (mixed types) are compared as text.

Only baseline rows as of a day before the import's day count: a push of day d runs after the
import of day d, so re-materialising an import day after its own day's push judges as the
first run did (unless a later push changed the same pair again; the baseline keeps only the
newest value).

All goals on one storage root share the profiles, so the baselines of every export goal of
every connection on that root (and on the same Braze REST endpoint) count. The work is joins
over the changed rows only: no Python loop over rows.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import polars as pl

from pipeline.mapping.braze_fields import CUSTOM_ATTRIBUTE_PREFIX, IMPORT_IDENTIFIERS, STANDARD_IMPORT_FIELDS
from pipeline.push import read_baseline
from pipeline.storage import ObjectStore

KEY = "braze_id"
CHANGE, FIELDS, ECHOES, PUSHED = "_change", "_changed_fields", "_echo_fields", "_pushed_values"
ECHO = "echo"  # `_change` of a row whose every difference is an echo
ALIAS = "user_alias:"
ACKNOWLEDGED_SCHEMA = pl.Schema(
    {"kind": pl.String, "key": pl.String, "column": pl.String, "value": pl.String, "as_of": pl.String}
)
_NO_FIELDS = pl.lit([], pl.List(pl.String))
PUSHED_DTYPE = pl.List(pl.Struct({"field": pl.String, "value": pl.String}))
_NO_PUSHES = pl.lit([], PUSHED_DTYPE)


def acknowledged(store: ObjectStore, exports: Sequence[tuple[str, str]], day: str) -> pl.DataFrame:
    """(kind, key, column, value, as_of) of every value the export goals `(connection, goal)` had
    acknowledged before `day`: `kind` is the identifier (`external_id`, `user_alias:<label>`),
    `key` its value, `column` the import column, `value` canonical JSON (null: removed)."""
    frames = [read_baseline(store, connection, goal) for connection, goal in exports]
    frames = [f for f in frames if f.height]
    if not frames:
        return ACKNOWLEDGED_SCHEMA.to_frame()
    identity = pl.col("identity")
    label = identity.str.json_path_match("$.user_alias.alias_label")
    kind = pl.coalesce(
        *[pl.when(identity.str.json_path_match(f"$.{k}").is_not_null()).then(pl.lit(k)) for k in IMPORT_IDENTIFIERS],
        pl.lit(ALIAS) + label,
    )
    key = pl.coalesce(
        *[identity.str.json_path_match(f"$.{k}") for k in IMPORT_IDENTIFIERS],
        identity.str.json_path_match("$.user_alias.alias_name"),
    )
    standard = pl.col("attribute").is_in(list(STANDARD_IMPORT_FIELDS))
    column = (
        pl.when(standard).then(pl.col("attribute")).otherwise(pl.lit(CUSTOM_ATTRIBUTE_PREFIX) + pl.col("attribute"))
    )
    return (
        pl.concat(frames)
        .filter(pl.col("as_of") < day)
        .select(kind.alias("kind"), key.alias("key"), column.alias("column"), "value", "as_of")
        .drop_nulls(["kind", "key"])
        .unique()
        .cast(ACKNOWLEDGED_SCHEMA)
    )


def user_keys(frame: pl.LazyFrame, schema: pl.Schema) -> pl.LazyFrame:
    """(braze_id, kind, key) for every identifier value of every row of a changes frame."""
    parts = [
        frame.select(KEY, pl.lit(kind).alias("kind"), pl.col(kind).cast(pl.String).alias("key"))
        for kind in IMPORT_IDENTIFIERS
        if kind in schema
    ]
    if isinstance(schema.get("user_aliases"), pl.List):
        alias = pl.col("user_aliases")
        parts.append(
            frame.select(KEY, alias)
            .explode("user_aliases")
            .select(
                KEY,
                (pl.lit(ALIAS) + alias.struct.field("alias_label")).alias("kind"),
                alias.struct.field("alias_name").alias("key"),
            )
        )
    return pl.concat(parts).drop_nulls(["kind", "key"])


def _ours(text: pl.Expr, dtype: pl.DataType, json_text: bool) -> pl.Expr:
    """The baseline's canonical JSON `text` as a value comparable with the staged column."""
    if json_text:
        return text
    if dtype.is_numeric():
        return text.cast(pl.Float64, strict=False)
    if dtype == pl.Boolean:
        return text.replace_strict({"true": True, "false": False}, default=None, return_dtype=pl.Boolean)
    wrapped = pl.format('{{"v":{}}}', text)
    if dtype in (pl.String, pl.Date) or isinstance(dtype, pl.Datetime):
        return pl.when(text.str.starts_with('"')).then(wrapped.str.json_path_match("$.v"))
    opening = "[" if isinstance(dtype, pl.List | pl.Array) else "{" if isinstance(dtype, pl.Struct) else None
    if opening is None:
        return pl.lit(None, dtype)  # a type no export value has: never an echo
    # Only text of the right shape is decoded: the decoder would read a lone "x" as the list ["x"].
    shaped = pl.when(text.str.starts_with(opening)).then(wrapped)
    return shaped.str.json_decode(pl.Struct({"v": dtype})).struct.field("v")


def _staged(value: pl.Expr, dtype: pl.DataType, json_text: bool) -> pl.Expr:
    """The staged value as `_ours` gives the baseline's: numbers as Float64, times as Braze text."""
    if json_text:
        return value
    if dtype.is_numeric():
        return value.cast(pl.Float64)
    if dtype == pl.Date:
        return value.dt.strftime("%Y-%m-%d")
    if isinstance(dtype, pl.Datetime):
        utc = value.dt.convert_time_zone("UTC") if dtype.time_zone else value
        return utc.dt.strftime("%Y-%m-%dT%H:%M:%S.%3fZ")
    return value


def _comparable(dtype: pl.DataType) -> bool:
    """Nested values with times inside cannot be decoded from JSON text reliably: never echoes."""
    if isinstance(dtype, pl.List | pl.Array):
        return _comparable(dtype.inner) and not dtype.inner.is_temporal()
    if isinstance(dtype, pl.Struct):
        return all(_comparable(f.dtype) and not f.dtype.is_temporal() for f in dtype.fields)
    return True


def mark_echoes(
    changes: pl.LazyFrame, ours: pl.DataFrame, json_columns: Collection[str] = (), since: str | None = None
) -> pl.LazyFrame:
    """`changes` with `_echo_fields` and `_pushed_values` after `_changed_fields`.

    `_echo_fields`: the changed fields that are echoes. They leave `_changed_fields`; a "changed"
    row left with none becomes `_change` "echo". "added" and "removed" rows keep their kind (an
    added row's echoes still leave its fields).

    `_pushed_values` (List of Struct{field, value}): for a field that really changed, the value
    profilesync had acknowledged pushing as of `since` (the previous copy's day) or later, i.e.
    after the previous copy was taken: what Braze held just before someone else changed it, which
    the previous copy cannot show. `sum` adds the difference from it (canonical JSON; null when
    the push was a removal). `since` None: every acknowledged push counts.
    """
    schema = changes.collect_schema()
    columns = [c for c in ours["column"].unique().sort().to_list() if c in schema and _comparable(schema[c])]
    if not columns:
        return _with_echoes(changes, None, None)
    active = changes.filter(pl.col(CHANGE) != "removed")
    keys = user_keys(active, schema)
    hits, pushes = [], []
    for column in columns:
        json_text = column in json_columns
        staged = active.filter(pl.col(FIELDS).list.contains(column)).select(
            KEY, _staged(pl.col(column), schema[column], json_text).alias("staged")
        )
        held = ours.lazy().filter(pl.col("column") == column)
        held = held.select(
            "kind", "key", "as_of", "value", _ours(pl.col("value"), schema[column], json_text).alias("ours")
        )
        same = (pl.col("staged").is_null() & pl.col("value").is_null()) | (
            pl.col("staged") == pl.col("ours")
        ).fill_null(False)
        found = staged.join(keys, on=KEY).join(held, on=["kind", "key"]).with_columns(same.alias("same"))
        found = found.with_columns(pl.lit(column).alias("field"))
        hits.append(found.filter("same").select(KEY, "field"))
        recent = pl.lit(True) if since is None else pl.col("as_of") >= since
        pushes.append(found.filter(~pl.col("same") & recent).select(KEY, "field", "as_of", "value"))
    echoes = pl.concat(hits).unique()
    pushed = (
        pl.concat(pushes)
        .join(echoes, on=[KEY, "field"], how="anti")  # an echo of one goal's push is no change at all
        .sort(KEY, "field", "as_of", "value", nulls_last=False)
        .unique([KEY, "field"], keep="last")
        .group_by(KEY)
        .agg(pl.struct("field", "value").sort_by("field").alias(PUSHED))
    )
    echoes = echoes.group_by(KEY).agg(pl.col("field").sort().alias(ECHOES))
    return _with_echoes(changes, echoes, pushed)


def _with_echoes(changes: pl.LazyFrame, echoes: pl.LazyFrame | None, pushed: pl.LazyFrame | None) -> pl.LazyFrame:
    names = changes.collect_schema().names()
    order = [*names[: names.index(FIELDS) + 1], ECHOES, PUSHED, *names[names.index(FIELDS) + 1 :]]
    if echoes is None or pushed is None:
        return changes.with_columns(_NO_FIELDS.alias(ECHOES), _NO_PUSHES.alias(PUSHED)).select(order)
    marked = changes.join(echoes, on=KEY, how="left", maintain_order="left")
    marked = marked.join(pushed, on=KEY, how="left", maintain_order="left")
    echo = pl.col(ECHOES).fill_null(_NO_FIELDS)
    real = pl.when(echo.list.len() > 0).then(pl.col(FIELDS).list.set_difference(echo)).otherwise(pl.col(FIELDS))
    only_echoes = (pl.col(CHANGE) == "changed") & (pl.col(FIELDS).list.len() == 0)
    return (
        marked.with_columns(echo.alias(ECHOES), real.alias(FIELDS), pl.col(PUSHED).fill_null(_NO_PUSHES))
        .with_columns(pl.when(only_echoes).then(pl.lit(ECHO)).otherwise(pl.col(CHANGE)).alias(CHANGE))
        .select(order)
    )
