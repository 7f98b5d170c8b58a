"""An export goal's steps as engine calls: what each Dagster asset of the goal runs."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from pipeline import layout
from pipeline.braze import BrazeClient
from pipeline.braze.rules import MAX_TRACK_OBJECTS
from pipeline.exports.budget import enforce_budget, over_budget
from pipeline.exports.changes import diff_payload, narrow, narrow_wide
from pipeline.exports.interactions import read_interactions
from pipeline.exports.members import members
from pipeline.exports.payload import Previous, build_payload, reads, value_columns
from pipeline.exports.plan import joined_and_left, make_plan, write_plan
from pipeline.mapping import Connection, ExportGoal
from pipeline.profiles import read_snapshot
from pipeline.profiles.store import read_snapshot_part, snapshot_version
from pipeline.push import PushReport, baseline_version, payload_points, push_changes, read_baseline, with_other_shards
from pipeline.storage import ObjectNotFound, ObjectStore
from pipeline.storage.parquet import parquet_source, read_parquet, scan_parquet, write_parquet

Progress = Callable[[str], None]


def run_segment_members(store: ObjectStore, connection: Connection, goal: ExportGoal, day: str) -> dict[str, Any]:
    snapshot = read_snapshot(store, day)
    if snapshot is None:
        raise ObjectNotFound(f"{store.root} has no profile snapshot for {day}; materialize the profiles first")
    current = members(snapshot, connection, goal)
    key = layout.segment_members(connection.name, goal.name, day)
    write_parquet(store, key, current)
    joined, left = joined_and_left(store, connection.name, goal.name, day, current["profile_id"])
    return {
        "members": current.height,
        "joined": joined,
        "left": left,
        "profiles": snapshot.profiles.height,
        "key": key,
        "preview": current.head(5),
    }


def uses_interactions(goal: ExportGoal) -> bool:
    return any(f.source.kind == "interactions" for f in goal.fields)


def run_payload(store: ObjectStore, connection: Connection, goal: ExportGoal, day: str) -> dict[str, Any]:
    version = snapshot_version(store, day)  # before reading: a snapshot replaced meanwhile then fails the next check
    snapshot = read_snapshot_part(store, day, *reads(connection, goal))
    if snapshot is None:
        raise ObjectNotFound(f"{store.root} has no profile snapshot for {day}; materialize the profiles first")
    current = read_parquet(store, layout.segment_members(connection.name, goal.name, day))
    interactions = read_interactions(store, day) if uses_interactions(goal) else None
    previous = _previous(store, connection, goal, day)
    payload = build_payload(snapshot, connection, goal, current, interactions, previous)
    dead_key = layout.export_dead_letter(connection.name, goal.name, day)
    store.write_bytes(dead_key, "".join(json.dumps(d, default=str) + "\n" for d in payload.dead_letters).encode())
    key = layout.export_payload(connection.name, goal.name, day)
    built_from = {FINGERPRINT: payload.fingerprint, SNAPSHOT: version or "", ATTRIBUTES: json.dumps(payload.attributes)}
    write_parquet(store, key, payload.wide, metadata=built_from)
    sent = payload.wide.filter(pl.col("identity").is_not_null())
    return {
        "members": current.height,
        "members_rebuilt": payload.rebuilt,
        "rebuild_reason": payload.reason,
        "rows": sum(sent[c].count() for c in value_columns(sent)),  # (identity, attribute) values to compare
        "identities": payload.identities,
        "dead_letters": len(payload.dead_letters),
        "key": key,
        "dead_letter_key": dead_key,
        "frame": payload.wide,
    }


FINGERPRINT = "profilesync.values_fingerprint"  # payload.parquet metadata: the mapping it was built with
SNAPSHOT = "profilesync.snapshot_version"  # ... the version of the day's profile snapshot it was built from
ATTRIBUTES = "profilesync.attributes"  # ... and the Braze attribute of each `v<i>` column (JSON list)


def _previous(store: ObjectStore, connection: Connection, goal: ExportGoal, day: str) -> Previous | None:
    """The latest earlier day's values, to rebuild only what changed since; None when there is none.

    A payload written before one row per member records no mapping: it is not read, and every
    member is rebuilt with that reason."""
    folder = layout.step_folder(connection.name, goal.name, "export_payload")
    before = layout.latest_day_before(store, folder, layout.PAYLOAD_FILE, day)
    if before is None:
        return None
    key = layout.export_payload(connection.name, goal.name, before)
    metadata = pl.read_parquet_metadata(parquet_source(store, key))
    if FINGERPRINT not in metadata:
        return Previous(before, pl.DataFrame(), "", None, None)
    values = scan_parquet(store, key).drop("identity").collect()  # the identity texts are not reused
    return Previous(before, values, metadata[FINGERPRINT], metadata.get(SNAPSHOT) or None,
                    snapshot_version(store, before))  # fmt: skip


def read_payload(
    store: ObjectStore, connection: Connection, goal: ExportGoal, day: str
) -> tuple[pl.DataFrame, list[str] | None]:
    """The day's payload and the Braze attribute of each `v<i>`; None for a payload written before
    one row per member (then the frame is already (identity, attribute, value) rows)."""
    key = layout.export_payload(connection.name, goal.name, day)
    metadata = pl.read_parquet_metadata(parquet_source(store, key))
    frame = read_parquet(store, key)
    if ATTRIBUTES not in metadata:
        return frame, None
    return frame, json.loads(metadata[ATTRIBUTES])


def differing(
    wide: pl.DataFrame, names: list[str] | None, acknowledged: pl.DataFrame, attributes: list[str]
) -> tuple[int, pl.DataFrame, pl.DataFrame]:
    """(payload values compared, payload rows, baseline rows) of the identities whose values of
    `attributes` differ from the baseline's, from a payload as `read_payload` gives it."""
    if names is None:  # a store from before one row per member: already rows
        return wide.height, *narrow(wide, acknowledged, attributes)
    kept = [i for i, name in enumerate(names) if name in attributes]
    wide = wide.filter(pl.col("identity").is_not_null())  # members Braze would refuse every identifier of
    rows = sum(wide[f"v{i}"].count() for i in kept)
    wide = wide.select("profile_id", "identity", *(pl.col(f"v{i}").alias(f"v{j}") for j, i in enumerate(kept)))
    return rows, *narrow_wide(wide, [names[i] for i in kept], acknowledged)


def run_export_changes(
    store: ObjectStore, connection: Connection, goal: ExportGoal, day: str, shards: Sequence[ObjectStore] = ()
) -> dict[str, Any]:
    """Diff the day's payload against the newest acknowledged baseline, whichever day pushed it
    (in a sharded store, `shards`: the other shards' too, for this shard's members).

    `basis.json` records which baseline that was (so the push can tell when a newer one makes
    the diff stale) and how many values were held back; `held_back.parquet` lists them. The plan
    is made from the changes and baseline in hand, not read back.
    """
    wide, names = read_payload(store, connection, goal, day)
    version = baseline_version(store, connection.name, goal.name)
    acknowledged = read_baseline(store, connection.name, goal.name)
    if shards:
        acknowledged = with_other_shards(acknowledged, shards, connection.name, goal.name, wide["identity"])
    attributes = sorted({f.braze for f in goal.fields})
    rows, payload, baseline = differing(wide, names, acknowledged, attributes)
    options: dict[str, Any] = {"attributes": attributes, "day": day, "on_leave": goal.on_leave, "narrowed": True}
    diff = diff_payload(payload, baseline, delta=goal.delta, **options)
    changes = diff.changes
    write_parquet(store, layout.export_held_back(connection.name, goal.name, day), diff.held_back)
    key = layout.export_changes(connection.name, goal.name, day)
    write_parquet(store, key, changes)
    basis = {"baseline_version": version, "held_back": diff.held_back.height}
    store.write_bytes(layout.export_basis(connection.name, goal.name, day), json.dumps(basis).encode())
    full = diff_payload(payload, baseline, delta="profiles", **options)
    users = changes["identity"].n_unique()
    plan = make_plan(store, connection.name, goal.name, day, changes, acknowledged)
    return {
        "payload_rows": rows,
        "users": users,
        "attributes": changes.height,
        "removals": changes["value"].null_count(),
        "held_back": diff.held_back.height,
        "requests_forecast": -(-users // MAX_TRACK_OBJECTS),
        "data_points_forecast": payload_points(changes),
        "data_points_full_profile": payload_points(full.changes),
        "key": key,
        "frame": changes,
        "plan": plan,
        "plan_key": write_plan(store, plan),
        "over_budget": over_budget(goal.budget, plan),
    }


def run_push(
    client: BrazeClient,
    store: ObjectStore,
    connection: Connection,
    goal: ExportGoal,
    day: str,
    progress: Progress = lambda message: None,
    override_budget: bool = False,
    shards: Sequence[ObjectStore] = (),
) -> tuple[PushReport, str]:
    """Push the day's changes, unless their forecast is over the goal's budget (BudgetExceeded).

    Returns the report and what the override let through ('' when the push was within budget)."""
    basis = json.loads(store.read_bytes(layout.export_basis(connection.name, goal.name, day)))
    if basis.get("baseline_version") != baseline_version(store, connection.name, goal.name) or "held_back" not in basis:
        progress("a newer baseline exists than the changes were computed from; recomputing them")
        basis = {"held_back": run_export_changes(store, connection, goal, day, shards)["held_back"]}
    changes = read_parquet(store, layout.export_changes(connection.name, goal.name, day))
    plan_uri = store.uri(layout.export_plan(connection.name, goal.name, day))
    source = str(connection.source or f"the file of connection {connection.name}")
    baseline = read_baseline(store, connection.name, goal.name)  # once, for the plan and the push
    plan = make_plan(store, connection.name, goal.name, day, changes, baseline)
    overridden = enforce_budget(goal.budget, plan, override=override_budget, plan_uri=plan_uri, source=source)
    if overridden:
        progress(overridden)
    report = push_changes(
        client,
        store,
        connection.name,
        goal.name,
        day,
        changes,
        allow_create=goal.allow_create,
        object_limit_mode=connection.braze.track_object_limit_mode,
        max_in_flight=connection.braze.max_requests_in_flight,
        held_back=basis["held_back"],
        progress=progress,
        baseline=baseline,
    )
    return report, overridden
