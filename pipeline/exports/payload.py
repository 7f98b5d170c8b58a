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

PAYLOAD_SCHEMA = pl.Schema(
    {"profile_id": pl.String(), "identity": pl.String(), "attribute": pl.String(), "value": pl.String()}
)
MAX_INTERACTIONS = 500  # Braze's array limit: the most recent ones are sent
RAW = "raw"


@dataclass
class Payload:
    rows: pl.DataFrame
    dead_letters: list[dict[str, Any]] = field(default_factory=list)


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


@dataclass(frozen=True)
class Sources:
    """What export fields read, narrowed to the goal's members."""

    connection: Connection
    members: pl.DataFrame
    profiles: pl.DataFrame
    identifiers: pl.DataFrame
    interactions: pl.DataFrame | None

    def values(self, source: Any) -> pl.DataFrame:
        """(profile_id, raw) of one export field's source; absent: no value."""
        match source.kind:
            case "property":
                return self._column(source.property)
            case "permission":
                return self._column(self.connection.permission(source.permission).property)
            case "identifier":
                held = self.identifiers.filter(pl.col("kind") == source.identifier).sort("profile_id", "value")
                first = held.group_by("profile_id", maintain_order=True).first()
                return first.select("profile_id", pl.col("value").alias(RAW))
            case "segments":
                return self.members.select("profile_id", pl.col(SEGMENTS).alias(RAW))
            case "interactions":
                return _interaction_lists(self.identifiers, self.interactions)
            case "static":
                return self.members.select("profile_id", pl.lit(source.static).alias(RAW))
        raise ValueError(f"unknown export source {source.kind!r}")

    def _column(self, name: str) -> pl.DataFrame:
        if name not in self.profiles.columns:
            return pl.DataFrame(schema={"profile_id": pl.String, RAW: pl.Null})  # no profile has the property yet
        return self.profiles.select("profile_id", pl.col(name).alias(RAW))


def _not_empty(dtype: pl.DataType) -> pl.Expr:
    raw = pl.col(RAW)
    if dtype == pl.String:
        return raw.is_not_null() & (raw != "")
    if isinstance(dtype, pl.List):
        return raw.is_not_null() & (raw.list.len() > 0)
    return raw.is_not_null()


def _permission_states(values: pl.DataFrame, connection: Connection, channel: str) -> pl.DataFrame:
    """Levels replaced by their Braze states where the level is mapped; other rows stay for Python."""
    if values.schema[RAW] != pl.String:
        return values.with_columns(state=pl.lit(None, pl.String))
    levels = connection.permission(channel).levels
    return values.with_columns(pl.col(RAW).replace_strict(levels, default=None, return_dtype=pl.String).alias("state"))


def _field_values(
    sources: Sources, export_field: Any, who: pl.DataFrame, dead: list[dict[str, Any]], connection: Connection
) -> pl.DataFrame:
    """(profile_id, value) of one export field for the members in `who`, dead letters for refused ones."""
    source, attribute = export_field.source, export_field.braze
    values = sources.values(source).join(who, on="profile_id", how="semi")
    dtype = values.schema[RAW]
    values = values.filter(_not_empty(dtype))
    if source.kind == "permission":
        values = _permission_states(values, connection, source.permission)
        text, fast = encoded(pl.col("state"), pl.String(), attribute)
        fast = fast & pl.col("state").is_not_null()
    elif source.kind == "static":
        text, fast = _static(source.static, attribute)
    else:
        text, fast = encoded(pl.col(RAW), dtype, attribute)
    values = values.with_columns(text.alias("value"), fast.fill_null(False).alias("fast"))
    done = values.filter(pl.col("fast")).select("profile_id", "value")
    slow = values.filter(~pl.col("fast"))
    if slow.is_empty():
        return done
    texts: list[str | None] = []
    for profile_id, raw in slow.select("profile_id", RAW).iter_rows():
        try:
            value = to_braze(raw)
            if source.kind == "permission":
                value = _permission_state(connection, source.permission, value)
            texts.append(canonical(check(attribute, value)))
        except InvalidValue as exc:
            texts.append(None)
            dead.append({**_dead(profile_id, attribute, raw, str(exc)), "identities": [attribute]})
    checked = slow.select("profile_id", pl.Series("value", texts, pl.String)).filter(pl.col("value").is_not_null())
    return pl.concat([done, checked])


def _static(value: Any, attribute: str) -> Encoded:
    try:
        text = canonical(check(attribute, to_braze(value)))
    except InvalidValue:
        return Encoded(pl.lit(None, pl.String), pl.lit(False))  # every member's dead letter says why
    return Encoded(pl.lit(text), pl.lit(True))


def build_payload(
    snapshot: Snapshot,
    connection: Connection,
    goal: ExportGoal,
    members: pl.DataFrame,
    interactions: pl.DataFrame | None,
) -> Payload:
    member_ids = members["profile_id"].implode()
    sources = Sources(
        connection,
        members,
        snapshot.profiles.filter(pl.col("profile_id").is_in(member_ids)),
        snapshot.identifiers.filter(pl.col("profile_id").is_in(member_ids)),
        interactions,
    )
    dead: list[dict[str, Any]] = []
    held = identities(sources.identifiers, goal)
    sent_as = _identities(held, dead)
    # A member whose identifiers Braze would all refuse has their dead letters, not this one;
    # its values are still checked, so their letters show everything to fix at once.
    who = held.select("profile_id").unique()
    wanted = ", ".join(m.profile for m in goal.identifiers)
    missing = members.join(who, on="profile_id", how="anti")["profile_id"].to_list()
    dead += [_dead(p, None, None, f"no export identifier ({wanted})") for p in missing]
    frames = []
    for export_field in goal.fields:
        field_dead: list[dict[str, Any]] = []
        values = _field_values(sources, export_field, who, field_dead, connection)
        frames.append(values.with_columns(pl.lit(export_field.braze).alias("attribute")))
        dead += _with_identities(field_dead, sent_as)
    rows = pl.concat(frames) if frames else PAYLOAD_SCHEMA.to_frame().drop("identity")
    frame = rows.join(sent_as, on="profile_id").select(PAYLOAD_SCHEMA.names()).cast(PAYLOAD_SCHEMA)
    return Payload(frame.sort("identity", "attribute"), dead)


def _with_identities(letters: list[dict[str, Any]], sent_as: pl.DataFrame) -> list[dict[str, Any]]:
    """The dead letters of a field, each with the identities its member would have been sent to."""
    if not letters:
        return letters
    ids = pl.DataFrame({"profile_id": [d["profile_id"] for d in letters]})
    lists = ids.join(sent_as.group_by("profile_id").agg("identity"), on="profile_id", how="left")
    by_id = dict(zip(lists["profile_id"].to_list(), lists["identity"].to_list(), strict=True))
    return [{**d, "identities": by_id[d["profile_id"]] or []} for d in sorted(letters, key=lambda d: d["profile_id"])]


def _dead(profile_id: str, attribute: str | None, value: Any, reason: str) -> dict[str, Any]:
    return {"profile_id": profile_id, "attribute": attribute, "value": printable(to_braze(value)), "reason": reason}


def _permission_state(connection: Connection, channel: str, level: Any) -> str:
    levels = connection.permission(channel).levels
    if level not in levels:
        known = ", ".join(sorted(levels))
        raise InvalidValue(f"permission level {level!r} of channel {channel!r} has no Braze state (mapped: {known})")
    return levels[level]
