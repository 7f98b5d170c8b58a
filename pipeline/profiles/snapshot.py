"""The profile store of one day as frames, and the look-up behind `profilesync profiles show`.

Frames are kept in canonical order (see the package docstring) so that equal content means
equal frames and, once written, equal bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from pipeline.profiles import provenance as provenance_frames

PROFILE_ID = "profile_id"
CREATED = "_created"
UPDATED = "_updated"

PROFILES_SCHEMA = pl.Schema({PROFILE_ID: pl.String, CREATED: pl.Date, UPDATED: pl.Date})
IDENTIFIERS_SCHEMA = pl.Schema({PROFILE_ID: pl.String, "kind": pl.String, "value": pl.String})
SUM_BASIS_SCHEMA = pl.Schema({"goal": pl.String, "braze_id": pl.String, "property": pl.String, "value": pl.Float64})
MERGES_SCHEMA = pl.Schema(
    {
        "goal": pl.String,
        "braze_id": pl.String,
        "survivor_id": pl.String,
        "merged_id": pl.String,
        "identifiers": pl.List(pl.String),
    }
)
QUARANTINE_SCHEMA = pl.Schema(
    {"goal": pl.String, "braze_id": pl.String, "property": pl.String, "value": pl.String, "reason": pl.String}
)


IDENTIFIER_ORDER = [PROFILE_ID, "kind", "value"]
SUM_BASIS_ORDER = ["goal", "braze_id", "property"]
MERGES_ORDER = ["goal", "merged_id"]
QUARANTINE_ORDER = ["goal", "braze_id", "property"]


@dataclass(frozen=True)
class Snapshot:
    """Profiles, their identifiers and sum bases; plus the day's merges and quarantine."""

    profiles: pl.DataFrame
    identifiers: pl.DataFrame
    sum_basis: pl.DataFrame
    merges: pl.DataFrame
    quarantine: pl.DataFrame
    provenance: pl.DataFrame = field(default_factory=provenance_frames.empty)  # provenance.py

    def next_day(self) -> Snapshot:
        """The state a new day starts from: merges and quarantine only ever describe one day."""
        return Snapshot(
            self.profiles,
            self.identifiers,
            self.sum_basis,
            MERGES_SCHEMA.to_frame(),
            QUARANTINE_SCHEMA.to_frame(),
            self.provenance,
        )

    def properties(self) -> list[str]:
        return [c for c in self.profiles.columns if c not in PROFILES_SCHEMA]


def as_date(day: date | str) -> date:
    """Days arrive as dates from Python and as ISO text from Dagster partition keys."""
    return day if isinstance(day, date) else date.fromisoformat(day)


def empty_snapshot() -> Snapshot:
    """The store before the first day: no profiles."""
    return Snapshot(
        PROFILES_SCHEMA.to_frame(),
        IDENTIFIERS_SCHEMA.to_frame(),
        SUM_BASIS_SCHEMA.to_frame(),
        MERGES_SCHEMA.to_frame(),
        QUARANTINE_SCHEMA.to_frame(),
    )


def canonical_profiles(profiles: pl.DataFrame) -> pl.DataFrame:
    """Rows by profile_id; columns profile_id, _created, _updated, then properties by name."""
    properties = sorted(c for c in profiles.columns if c not in PROFILES_SCHEMA)
    frame = profiles.select(*PROFILES_SCHEMA, *properties)
    # Most days keep the order (no new profiles): a sort would copy every column for nothing.
    return frame if frame[PROFILE_ID].is_sorted() else frame.sort(PROFILE_ID)


def find_profile(snapshot: Snapshot, kind: str, value: str) -> dict[str, Any] | None:
    """The profile holding identifier `kind=value`, as plain Python values; None when none does.

    Properties without a value are left out, so the answer reads like the profile does.
    """
    hits = snapshot.identifiers.filter((pl.col("kind") == kind) & (pl.col("value") == value))
    if hits.is_empty():
        return None
    profile_id = hits[PROFILE_ID][0]
    row = snapshot.profiles.filter(pl.col(PROFILE_ID) == profile_id).row(0, named=True)
    identifiers: dict[str, list[str]] = {}
    for ident in snapshot.identifiers.filter(pl.col(PROFILE_ID) == profile_id).iter_rows(named=True):
        identifiers.setdefault(ident["kind"], []).append(ident["value"])
    properties = {k: v for k, v in row.items() if k not in PROFILES_SCHEMA and v is not None}
    origins = provenance_frames.origins_of(snapshot.provenance, profile_id)
    provenance = {name: origin for name, origin in origins.items() if name in properties}
    return {
        PROFILE_ID: profile_id,
        "created": row[CREATED],
        "updated": row[UPDATED],
        "identifiers": identifiers,
        "properties": properties,
        "provenance": provenance,
    }
