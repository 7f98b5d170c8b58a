"""Column lineage from the connection files: Braze field → profile property → Braze attribute.

Built from the mapping model alone and attached as definition metadata, so the UI shows it
before anything has run. The columns are the ones a connection file names, not always the
physical layout: the profile store keeps identifiers in a table of their own and the payload
is long (one row per user and attribute), yet `custom_attributes.points` → `points` →
`loyalty_points` is what a reader follows. A column's type is its role (field, identifier,
property, attribute); data types are known only after a run, in each materialisation's preview.
`remaining_fields` are left out: which Braze fields they copy is known only from the data.

After each materialisation the profiles asset carries the same metadata rebuilt with the
day's provenance (`materialized_profiles_metadata`): per property, the goals that set the values
it holds, in how many profiles and on which day last, and lineage from those goals' changes,
including the properties `remaining_fields` created.
"""

from __future__ import annotations

from datetime import date

import dagster as dg
import polars as pl

from pipeline.mapping import Connection, ExportGoal, ImportGoal
from pipeline.mapping.braze_fields import CUSTOM_ATTRIBUTE_PREFIX, STANDARD_IMPORT_FIELDS

LINEAGE = "dagster/column_lineage"
SCHEMA = "dagster/column_schema"
INTERACTION_ID = "interaction_id"


class _Columns:
    """Columns in first-mention order, each with its role, notes and upstream columns."""

    def __init__(self) -> None:
        self.roles: dict[str, str] = {}
        self.notes: dict[str, list[str]] = {}
        self.deps: dict[str, list[dg.TableColumnDep]] = {}

    def add(self, name: str, role: str, note: str, key: dg.AssetKey | None = None, column: str | None = None) -> None:
        self.roles.setdefault(name, role)
        self.notes.setdefault(name, []).append(note)
        self.deps.setdefault(name, [])
        dep = dg.TableColumnDep(key, column) if key is not None and column is not None else None
        if dep is not None and dep not in self.deps[name]:
            self.deps[name].append(dep)

    def schema(self) -> dg.TableSchema:
        return dg.TableSchema(
            columns=[dg.TableColumn(name, role, "; ".join(self.notes[name])) for name, role in self.roles.items()]
        )

    def metadata(self) -> dict[str, object]:
        return {SCHEMA: self.schema(), LINEAGE: dg.TableColumnLineage(deps_by_column=self.deps)}


def changes_metadata(goal: ImportGoal) -> dict[str, object]:
    """The Braze columns of a goal's `user_changes` that the profiles read (no lineage: they are Braze's)."""
    columns = _Columns()
    for mapping in goal.identifiers:
        columns.add(mapping.braze, "identifier", f"→ profile identifier {mapping.profile}")
    for field in goal.fields:
        columns.add(field.braze, "field", f"→ profile property {field.profile} ({field.strategy})")
    return {SCHEMA: columns.schema()}


def profiles_metadata(sources: list[tuple[dg.AssetKey, ImportGoal]]) -> dict[str, object]:
    """Each profile identifier and property ← the Braze columns of the `user_changes` that feed it.

    `sources` are the store's goals in the order they apply, each with its `user_changes` key.
    """
    columns = _Columns()
    _definition_columns(columns, sources)
    return columns.metadata()


def _definition_columns(columns: _Columns, sources: list[tuple[dg.AssetKey, ImportGoal]]) -> None:
    for key, goal in sources:
        where = key.to_user_string()
        for mapping in goal.identifiers:
            columns.add(mapping.profile, "identifier", f"{mapping.braze} of {where}", key, mapping.braze)
        for field in goal.fields:
            columns.add(field.profile, "property", f"{field.braze} of {where} ({field.strategy})", key, field.braze)


def _braze_column(goal: ImportGoal, prop: str) -> str | None:
    """The Braze column of `goal` that property `prop` comes from: its field, or what `remaining_fields` copied."""
    mapped = [f.braze for f in goal.fields if f.profile == prop]
    if mapped:
        return mapped[0]
    remaining = goal.remaining_fields
    if remaining is None or not prop.startswith(remaining.prefix):
        return None
    name = prop[len(remaining.prefix) :]
    return name if name in STANDARD_IMPORT_FIELDS else CUSTOM_ATTRIBUTE_PREFIX + name


def materialized_profiles_metadata(
    sources: dict[str, tuple[dg.AssetKey, ImportGoal]], counts: pl.DataFrame
) -> dict[str, object]:
    """`profiles_metadata` plus what the day's provenance says, for the materialisation.

    `sources`: qualified goal name (`connection/goal`) → its `user_changes` key and goal, in the
    order they apply; `counts`: `pipeline.profiles.provenance.provenance_counts` of the snapshot.
    Each property's description says which goals set the values it holds now, in how many
    profiles and when last; its lineage gains the Braze column each such goal set it from.
    """
    columns = _Columns()
    _definition_columns(columns, list(sources.values()))
    for prop, goal_name, profiles, last_day in counts.iter_rows():  # one row per (property, goal): small
        key, goal = sources.get(goal_name, (None, None))
        column = _braze_column(goal, prop) if goal is not None else None
        columns.add(prop, "property", _origin(goal_name, profiles, last_day), key, column)
    return {**columns.metadata(), "provenance": _provenance_table(counts)}


def _origin(goal: str, profiles: int, last_day: date) -> str:
    return f"set by {goal} in {profiles:,} profile{'s' if profiles != 1 else ''}, last on {last_day.isoformat()}"


def _provenance_table(counts: pl.DataFrame) -> dg.MetadataValue:
    records = [
        dg.TableRecord({"property": p, "goal": g, "profiles": n, "last_day": d.isoformat()})
        for p, g, n, d in counts.iter_rows()
    ]
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn("property", "string"),
            dg.TableColumn("goal", "string", "the import goal (connection/goal) or step that set it"),
            dg.TableColumn("profiles", "int", "profiles whose value it set"),
            dg.TableColumn("last_day", "string", "the last day it set one"),
        ]
    )
    return dg.MetadataValue.table(records, schema)


def payload_metadata(
    connection: Connection, goal: ExportGoal, profiles: dg.AssetKey | None, interactions: dg.AssetKey | None
) -> dict[str, object]:
    """Each Braze identifier and attribute of an export goal ← the profile column it is built from.

    Segment lists and static values come from no column; interactions come from the
    interactions asset's `interaction_id`.
    """
    columns = _Columns()
    for mapping in goal.identifiers:
        columns.add(mapping.braze, "identifier", f"profile identifier {mapping.profile}", profiles, mapping.profile)
    for field in goal.fields:
        source, name = field.source, field.braze
        match source.kind:
            case "property":
                columns.add(name, "attribute", f"profile property {source.property}", profiles, source.property)
            case "identifier":
                columns.add(name, "attribute", f"profile identifier {source.identifier}", profiles, source.identifier)
            case "permission":
                held = connection.permission(source.permission).property
                columns.add(name, "attribute", f"{source.permission} permission, held in {held}", profiles, held)
            case "interactions":
                columns.add(name, "attribute", "ids of the interactions viewed", interactions, INTERACTION_ID)
            case "segments":
                columns.add(name, "attribute", "names of the segments the profile is in")
            case "static":
                columns.add(name, "attribute", f"always {source.static!r}")
    return columns.metadata()
