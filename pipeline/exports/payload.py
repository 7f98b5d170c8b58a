"""`export_payload`: Braze-typed attribute values for every member, checked before anything is sent.

The payload is long: one row per (identity, attribute), values as canonical JSON, so the
diff against the acknowledged baseline works attribute by attribute. A member is sent under
the first export identifier it has (the goal lists them in order of preference); a profile
holding several values of that identifier (after a merge) is sent to each of those Braze
users. A value Braze would refuse goes to the dead letters with the reason and is not sent.

Values are built column by column with Polars (`encode`); the few values whose text or
validity only the Python definition in `values` can settle (see `encode`) are done one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from pipeline.exports.encode import Encoded, encoded, json_string
from pipeline.exports.members import SEGMENTS
from pipeline.exports.values import InvalidValue, canonical, check, identity, printable, to_braze
from pipeline.mapping import Connection, ExportGoal
from pipeline.profiles import Snapshot
from pipeline.profiles.snapshot import UPDATED

PAYLOAD_SCHEMA = pl.Schema(
    {"profile_id": pl.String(), "identity": pl.String(), "attribute": pl.String(), "value": pl.String()}
)
MAX_INTERACTIONS = 500  # Braze's array limit: the most recent ones are sent
RAW = "raw"


@dataclass
class Payload:
    rows: pl.DataFrame
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    values: pl.DataFrame = field(default_factory=pl.DataFrame)  # per member: `v<i>` texts, `x<i>` refused
    fingerprint: str = ""
    rebuilt: int = 0  # members whose values were built, not taken from the previous day


def identities(identifiers: pl.DataFrame, goal: ExportGoal) -> pl.DataFrame:
    """(profile_id, braze kind, value) of the preferred identifier each member has; maybe several values."""
    preference = pl.DataFrame(
        {"kind": [m.profile for m in goal.identifiers], "braze": [m.braze for m in goal.identifiers],
         "rank": list(range(len(goal.identifiers)))}
    )  # fmt: skip
    held = (
        identifiers.join(preference, on="kind")
        .with_columns(pl.col("rank").min().over("profile_id").alias("best"))
        .filter(pl.col("rank") == pl.col("best"))
    )
    return held.select("profile_id", "braze", "value").sort("profile_id", "value")


def _identity_text(kind: str) -> Encoded:
    """`values.identity(kind, value)` for the values that certainly pass its checks."""
    value = pl.col("value")
    if kind.startswith("user_alias:"):
        label = kind.split(":", 1)[1]
        prefix = '{"user_alias":{"alias_label":' + canonical(label) + ',"alias_name":'
        text = pl.concat_str(pl.lit(prefix), json_string(value), pl.lit("}}"))
        size = value.str.len_bytes()
        label_ok = 0 < len(label.encode()) <= 236
        return Encoded(text, (size > 0) & (size <= 236) & pl.lit(label_ok))
    text = pl.concat_str(pl.lit("{" + canonical(kind) + ":"), json_string(value), pl.lit("}"))
    if kind == "external_id":
        return Encoded(text, (value.str.len_bytes() > 0) & (value.str.len_bytes() <= 987))
    if kind in ("email", "phone"):
        return encoded(value, pl.String(), kind)._replace(text=text)
    return Encoded(text, pl.lit(True))


def _identities(held: pl.DataFrame, dead: list[dict[str, Any]]) -> pl.DataFrame:
    """(profile_id, identity) of every valid identity; dead letters for the others."""
    parts = []
    for (kind,), group in held.group_by("braze", maintain_order=True):
        text, fast = _identity_text(str(kind))
        parts.append(group.with_columns(text.alias("identity"), fast.fill_null(False).alias("fast")))
    frame = pl.concat(parts) if parts else held.with_columns(identity=pl.lit(None, pl.String), fast=pl.lit(True))
    frame = frame.sort("profile_id", "value")
    slow = []
    for row in frame.filter(~pl.col("fast")).iter_rows(named=True):
        try:
            slow.append((row["profile_id"], row["braze"], row["value"], identity(row["braze"], row["value"])))
        except InvalidValue as exc:
            dead.append(_dead(row["profile_id"], row["braze"], row["value"], str(exc)))
    columns = ["profile_id", "braze", "value", "identity"]
    fixed = pl.DataFrame(slow, schema=dict.fromkeys(columns, pl.String), orient="row")
    good = pl.concat([frame.filter(pl.col("fast")).select(fixed.columns), fixed])
    return good.sort("profile_id", "value").select("profile_id", "identity")


def _interaction_lists(identifiers: pl.DataFrame, interactions: pl.DataFrame | None) -> pl.DataFrame:
    if interactions is None or interactions.is_empty():
        return pl.DataFrame(schema={"profile_id": pl.String, RAW: pl.List(pl.String)})
    viewed = interactions.join(identifiers, on=["kind", "value"]).sort("viewed_at", "interaction_id")
    recent = pl.col("interaction_id").unique(maintain_order=True).tail(MAX_INTERACTIONS)
    return viewed.group_by("profile_id").agg(recent.alias(RAW)).sort("profile_id")


def _first_identifiers(identifiers: pl.DataFrame, kind: str) -> pl.DataFrame:
    """(profile_id, value): the smallest value of identifier `kind` each profile holds."""
    held = identifiers.filter(pl.col("kind") == kind).select("profile_id", "value")
    return held.group_by("profile_id").agg(pl.col("value").min())


def _property(source: Any, connection: Connection) -> str:
    """The profile property a property or permission source reads."""
    return source.property if source.kind == "property" else connection.permission(source.permission).property


def _raw_inputs(
    snapshot: Snapshot, goal: ExportGoal, connection: Connection, who: pl.DataFrame, interactions: pl.DataFrame | None
) -> pl.DataFrame:
    """One row per member in `who` (by profile_id): `profile_id` and each field's raw value as `r<i>`."""
    profiles = snapshot.profiles
    identifiers = snapshot.identifiers.join(who, on="profile_id", how="semi")
    frame = who.select("profile_id", pl.col(SEGMENTS).alias("_segments")).sort("profile_id")  # `_`: never a property
    wanted: dict[str, str] = {}  # profile property → a raw column reading it
    columns = []
    for i, export_field in enumerate(goal.fields):
        source, name = export_field.source, f"r{i}"
        match source.kind:
            case "property" | "permission":
                prop = _property(source, connection)
                if prop not in profiles.columns:
                    columns.append(pl.lit(None).alias(name))  # no profile has the property yet
                else:
                    wanted[prop] = name
                    columns.append(pl.col(prop).alias(name))
            case "identifier":
                first = _first_identifiers(identifiers, source.identifier).rename({"value": f"_id{i}"})
                frame = frame.join(first, on="profile_id", how="left", maintain_order="left")
                columns.append(pl.col(f"_id{i}").alias(name))
            case "segments":
                columns.append(pl.col("_segments").alias(name))
            case "interactions":
                lists = _interaction_lists(identifiers, interactions).rename({RAW: f"_in{i}"})
                frame = frame.join(lists, on="profile_id", how="left", maintain_order="left")
                columns.append(pl.col(f"_in{i}").alias(name))
            case "static":
                columns.append(pl.lit(source.static).alias(name))
            case _:
                raise ValueError(f"unknown export source {source.kind!r}")
    frame = frame.join(profiles.select("profile_id", UPDATED, *wanted), on="profile_id", how="left",
                       maintain_order="left")  # fmt: skip
    return frame.select("profile_id", UPDATED, *columns)


def _not_empty(raw: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.String:
        return raw.is_not_null() & (raw != "")
    if isinstance(dtype, pl.List):
        return raw.is_not_null() & (raw.list.len() > 0)
    return raw.is_not_null()


def _field_text(export_field: Any, raw: pl.Expr, dtype: pl.DataType, connection: Connection) -> Encoded:
    """One field's value text, and where Polars settles it (see `encode`)."""
    source, attribute = export_field.source, export_field.braze
    if source.kind == "permission":
        if dtype != pl.String:
            return Encoded(pl.lit(None, pl.String), pl.lit(False))
        levels = connection.permission(source.permission).levels
        state = raw.replace_strict(levels, default=None, return_dtype=pl.String)
        text, fast = encoded(state, pl.String(), attribute)
        return Encoded(text, fast & state.is_not_null())
    if source.kind == "static":
        return _static(source.static, attribute)
    return encoded(raw, dtype, attribute)


def _values(
    inputs: pl.DataFrame, goal: ExportGoal, fields: list[int], connection: Connection, dead: list[dict[str, Any]]
) -> pl.DataFrame:
    """Per row of `inputs`, each listed field's value text as `v<i>` (null: nothing to send) and
    `x<i>`, true where the value was refused (its dead letter is added to `dead`)."""
    texts, slow = [], []
    for i in fields:
        raw, dtype = pl.col(f"r{i}"), inputs.schema[f"r{i}"]
        text, fast = _field_text(goal.fields[i], raw, dtype, connection)
        present = _not_empty(raw, dtype)
        texts.append(pl.when(present & fast).then(text).otherwise(None).cast(pl.String).alias(f"v{i}"))
        slow.append((present & ~fast.fill_null(False)).alias(f"s{i}"))
    wide = inputs.select(*texts, *slow)
    refused = []
    for i in fields:
        rows = wide.select(pl.arg_where(pl.col(f"s{i}"))).to_series()
        column, bad = wide[f"v{i}"].clone(), pl.Series(f"x{i}", [False] * wide.height)
        if not rows.is_empty():
            texts_i = _python_texts(goal.fields[i], inputs, f"r{i}", rows, connection, dead)
            column.scatter(rows, texts_i)
            bad.scatter(rows, [t is None for t in texts_i])
        wide = wide.with_columns(column)
        refused.append(bad)
    return wide.select(*(f"v{i}" for i in fields)).with_columns(refused)


CACHED_SOURCES = ("property", "permission", "identifier")  # what `_updated` covers


def _fingerprint(snapshot: Snapshot, connection: Connection, goal: ExportGoal) -> str:
    """What yesterday's values depend on besides the profiles' own values: the field mapping,
    the permission levels and the type of every property read. Reuse only when it is equal."""
    fields = [f.model_dump(mode="json") if hasattr(f, "model_dump") else repr(f) for f in goal.fields]
    permissions = {k: v.model_dump(mode="json") for k, v in sorted(connection.permissions.items())}
    read = {_property(f.source, connection) for f in goal.fields if f.source.kind in ("property", "permission")}
    types = {name: str(dtype) for name, dtype in snapshot.profiles.schema.items() if name in read}
    return canonical({"format": 1, "fields": fields, "permissions": permissions, "types": types})


@dataclass(frozen=True)
class Previous:
    """An earlier day's values (`Payload.values`) and that day: members whose profile has not
    changed since (`_updated`) keep their property, permission and identifier values."""

    day: str
    values: pl.DataFrame
    fingerprint: str


def _all_values(
    snapshot: Snapshot, connection: Connection, goal: ExportGoal, inputs: pl.DataFrame,
    previous: Previous | None, dead: list[dict[str, Any]],
) -> tuple[pl.DataFrame, int]:
    """`profile_id`, `v<i>`, `x<i>` for every member in `inputs`, and how many members were rebuilt."""
    cached = [i for i, f in enumerate(goal.fields) if f.source.kind in CACHED_SOURCES]
    always = [i for i in range(len(goal.fields)) if i not in cached]
    fresh = _values(inputs, goal, always, connection, dead)
    if previous is None or previous.fingerprint != _fingerprint(snapshot, connection, goal) or not cached:
        return pl.concat([inputs.select("profile_id"), fresh, _values(inputs, goal, cached, connection, dead)],
                         how="horizontal"), inputs.height  # fmt: skip
    old = inputs.select("profile_id", "_updated").join(
        previous.values.select("profile_id", *(f"{c}{i}" for i in cached for c in "vx"), _seen=pl.lit(True)),
        on="profile_id", how="left", maintain_order="left",
    )  # fmt: skip
    stale = (pl.col("_seen").is_null() | (pl.col("_updated") > pl.lit(previous.day).str.to_date())).fill_null(True)
    old = old.with_columns(stale.alias("_stale"))
    columns = []
    for i in cached:  # a value refused before is checked again, so its dead letter is written again
        rows = old.select(pl.arg_where(pl.col("_stale") | pl.col(f"x{i}").fill_null(False))).to_series()
        rebuilt = _values(inputs[rows], goal, [i], connection, dead)
        for name in (f"v{i}", f"x{i}"):
            column = (old[name].fill_null(False) if name.startswith("x") else old[name]).clone()
            column.scatter(rows, rebuilt[name])
            columns.append(column)
    stale_rows = int(old["_stale"].sum())
    return pl.concat([inputs.select("profile_id"), fresh, pl.DataFrame(columns)], how="horizontal"), stale_rows


def _python_texts(
    export_field: Any, inputs: pl.DataFrame, column: str, rows: pl.Series, connection: Connection,
    dead: list[dict[str, Any]],
) -> list[str | None]:
    """The Python definition of the values at `rows` (null and a dead letter for a refused one)."""
    source, attribute = export_field.source, export_field.braze
    picked = inputs[rows]
    texts: list[str | None] = []
    for profile_id, raw in picked.select("profile_id", column).iter_rows():
        try:
            value = to_braze(raw)
            if source.kind == "permission":
                value = _permission_state(connection, source.permission, value)
            texts.append(canonical(check(attribute, value)))
        except InvalidValue as exc:
            texts.append(None)
            dead.append({**_dead(profile_id, attribute, raw, str(exc)), "identities": []})
    return texts


def _static(value: Any, attribute: str) -> Encoded:
    try:
        text = canonical(check(attribute, to_braze(value)))
    except InvalidValue:
        return Encoded(pl.lit(None, pl.String), pl.lit(False))  # every member's dead letter says why
    return Encoded(pl.lit(text), pl.lit(True))


def _long(values: pl.DataFrame, sent_as: pl.DataFrame, goal: ExportGoal) -> pl.DataFrame:
    """The wide values as payload rows, sorted by identity and attribute without sorting them all:
    identities are sorted once and each one's values are laid out in attribute order."""
    if not goal.fields:
        return PAYLOAD_SCHEMA.to_frame()
    order = sorted(range(len(goal.fields)), key=lambda i: goal.fields[i].braze)
    names = pl.Series([goal.fields[i].braze for i in order], dtype=pl.String)
    wide = sent_as.join(values, on="profile_id").sort("identity")
    rows = wide.select(
        "profile_id",
        "identity",
        pl.lit(names.implode()).first().alias("attribute"),
        pl.concat_list([f"v{i}" for i in order]).alias("value"),
    ).explode(["attribute", "value"])
    return rows.filter(pl.col("value").is_not_null()).select(PAYLOAD_SCHEMA.names()).cast(PAYLOAD_SCHEMA)


def build_payload(
    snapshot: Snapshot,
    connection: Connection,
    goal: ExportGoal,
    members: pl.DataFrame,
    interactions: pl.DataFrame | None,
    previous: Previous | None = None,
) -> Payload:
    """The day's payload; with `previous`, only members whose inputs may have changed are rebuilt."""
    dead: list[dict[str, Any]] = []
    held = identities(snapshot.identifiers.join(members, on="profile_id", how="semi"), goal)
    sent_as = _identities(held, dead)
    # A member whose identifiers Braze would all refuse has their dead letters, not this one;
    # its values are still checked, so their letters show everything to fix at once.
    who = members.join(held, on="profile_id", how="semi")
    wanted = ", ".join(m.profile for m in goal.identifiers)
    missing = members.join(held, on="profile_id", how="anti")["profile_id"].to_list()
    dead += [_dead(p, None, None, f"no export identifier ({wanted})") for p in missing]
    field_dead: list[dict[str, Any]] = []
    inputs = _raw_inputs(snapshot, goal, connection, who, interactions)
    values, rebuilt = _all_values(snapshot, connection, goal, inputs, previous, field_dead)
    dead += _with_identities(field_dead, sent_as)
    fingerprint = _fingerprint(snapshot, connection, goal)
    return Payload(_long(values, sent_as, goal), dead, values, fingerprint, rebuilt)


def _with_identities(letters: list[dict[str, Any]], sent_as: pl.DataFrame) -> list[dict[str, Any]]:
    """The dead letters of a field, each with the identities its member would have been sent to."""
    if not letters:
        return letters
    ids = pl.DataFrame({"profile_id": [d["profile_id"] for d in letters]})
    lists = ids.join(sent_as.group_by("profile_id").agg("identity"), on="profile_id", how="left")
    by_id = dict(zip(lists["profile_id"].to_list(), lists["identity"].to_list(), strict=True))
    return [{**d, "identities": by_id[d["profile_id"]] or []} for d in letters]


def _dead(profile_id: str, attribute: str | None, value: Any, reason: str) -> dict[str, Any]:
    return {"profile_id": profile_id, "attribute": attribute, "value": printable(to_braze(value)), "reason": reason}


def _permission_state(connection: Connection, channel: str, level: Any) -> str:
    levels = connection.permission(channel).levels
    if level not in levels:
        known = ", ".join(sorted(levels))
        raise InvalidValue(f"permission level {level!r} of channel {channel!r} has no Braze state (mapped: {known})")
    return levels[level]
