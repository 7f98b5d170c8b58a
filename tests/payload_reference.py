"""The former `export_payload` builder, kept as the test oracle of `pipeline.exports.payload`.

One Python call per member and field: slow, but the plain definition.
Braze-typed attribute values for every member, checked before anything is sent.

The payload is long: one row per (identity, attribute), values as canonical JSON, so the
diff against the acknowledged baseline works attribute by attribute. A member is sent under
the first export identifier it has (the goal lists them in order of preference); a profile
holding several values of that identifier (after a merge) is sent to each of those Braze
users. A value Braze would refuse goes to the dead letters with the reason and is not sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from pipeline.exports.members import SEGMENTS
from pipeline.exports.values import InvalidValue, canonical, check, identity, is_empty, printable, to_braze
from pipeline.mapping import Connection, ExportGoal
from pipeline.profiles import Snapshot

PAYLOAD_SCHEMA = pl.Schema(
    {"profile_id": pl.String(), "identity": pl.String(), "attribute": pl.String(), "value": pl.String()}
)
MAX_INTERACTIONS = 500  # Braze's array limit: the most recent ones are sent


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


def _interaction_lists(identifiers: pl.DataFrame, interactions: pl.DataFrame | None) -> dict[str, list[str]]:
    if interactions is None or interactions.is_empty():
        return {}
    viewed = interactions.join(identifiers, on=["kind", "value"]).sort("viewed_at", "interaction_id")
    recent = pl.col("interaction_id").unique(maintain_order=True).tail(MAX_INTERACTIONS)
    grouped = viewed.group_by("profile_id").agg(recent)
    return dict(zip(grouped["profile_id"].to_list(), grouped["interaction_id"].to_list(), strict=True))


@dataclass(frozen=True)
class Sources:
    """What export fields read, narrowed to the goal's members."""

    connection: Connection
    members: pl.DataFrame
    profiles: pl.DataFrame
    identifiers: pl.DataFrame
    interactions: pl.DataFrame | None

    def values(self, source: Any) -> dict[str, Any]:
        """profile_id → raw value of one export field's source (absent: no value)."""
        match source.kind:
            case "property":
                return self._column(source.property)
            case "permission":
                return self._column(self.connection.permission(source.permission).property)
            case "identifier":
                held = self.identifiers.filter(pl.col("kind") == source.identifier).sort("profile_id", "value")
                first = held.group_by("profile_id", maintain_order=True).first()
                return dict(first.select("profile_id", "value").iter_rows())
            case "segments":
                return dict(self.members.select("profile_id", SEGMENTS).iter_rows())
            case "interactions":
                return _interaction_lists(self.identifiers, self.interactions)
            case "static":
                return dict.fromkeys(self.members["profile_id"].to_list(), source.static)
        raise ValueError(f"unknown export source {source.kind!r}")

    def _column(self, name: str) -> dict[str, Any]:
        if name not in self.profiles.columns:
            return {}  # no profile has the property yet
        return dict(self.profiles.select("profile_id", name).iter_rows())


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
    identity_rows: dict[str, list[str]] = {}
    for profile_id, kind, value in identities(sources.identifiers, goal).iter_rows():
        try:
            identity_rows.setdefault(profile_id, []).append(identity(kind, value))
        except InvalidValue as exc:
            dead.append(_dead(profile_id, kind, value, str(exc)))
    wanted = ", ".join(m.profile for m in goal.identifiers)
    dead += [
        _dead(p, None, None, f"no export identifier ({wanted})")
        for p in members["profile_id"].to_list()
        if p not in identity_rows
    ]
    rows: list[tuple[str, str, str, str]] = []
    for export_field in goal.fields:
        for profile_id, raw in sources.values(export_field.source).items():
            if profile_id not in identity_rows or is_empty(raw):
                continue
            try:
                value = to_braze(raw)
                if export_field.source.kind == "permission":
                    value = _permission_state(connection, export_field.source.permission, value)
                text = canonical(check(export_field.braze, value))
            except InvalidValue as exc:
                letter = _dead(profile_id, export_field.braze, raw, str(exc))
                dead.append({**letter, "identities": identity_rows[profile_id]})
                continue
            rows += [(profile_id, ident, export_field.braze, text) for ident in identity_rows[profile_id]]
    frame = pl.DataFrame(rows, schema=PAYLOAD_SCHEMA, orient="row").sort("identity", "attribute")
    return Payload(frame, dead)


def _dead(profile_id: str, attribute: str | None, value: Any, reason: str) -> dict[str, Any]:
    return {"profile_id": profile_id, "attribute": attribute, "value": printable(to_braze(value)), "reason": reason}


def _permission_state(connection: Connection, channel: str, level: Any) -> str:
    levels = connection.permission(channel).levels
    if level not in levels:
        known = ", ".join(sorted(levels))
        raise InvalidValue(f"permission level {level!r} of channel {channel!r} has no Braze state (mapped: {known})")
    return levels[level]
