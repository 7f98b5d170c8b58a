"""An import goal's steps as engine calls: what each Dagster asset of the goal runs.

Each function reads its inputs from the stores by day, writes its outputs atomically, and
returns plain counts for the run's metadata, so the Dagster layer stays a thin shell.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import polars as pl

from pipeline import layout
from pipeline.braze import BrazeClient
from pipeline.braze.callback import CallbackListener
from pipeline.braze.client import is_loopback
from pipeline.braze.export_evidence import SegmentSize, SizeUnavailable, UserCounter
from pipeline.braze.export_start import cancel_export, start_export
from pipeline.braze.segment_export import ExportIncomplete, ExportManifest, resolve_segment, wait_for_files
from pipeline.day_order import GoalOfDay, check_day_order
from pipeline.delta import compute_changes
from pipeline.echoes import EchoSources
from pipeline.mapping import Connection, ImportGoal
from pipeline.mapping.braze_fields import (
    CUSTOM_ATTRIBUTE_PREFIX,
    STANDARD_IMPORT_FIELDS,
    USER_ALIAS_PREFIX,
    import_column,
)
from pipeline.profiles import (
    DayReport,
    FieldRule,
    GoalRules,
    IdentifierRule,
    RemainingRule,
    Snapshot,
    build_day,
    read_previous_snapshot,
    write_snapshot,
)
from pipeline.profiles.fields import ACTIVE, CHANGE, identifier_values, inactive_columns
from pipeline.staging import json_text_columns, staged_export, write_staged
from pipeline.storage import ObjectNotFound, ObjectStore
from pipeline.storage.parquet import scan_parquet

Progress = Callable[[str], None]


def qualified(connection: Connection, goal: ImportGoal) -> str:
    """The goal's name in a store shared by several connections."""
    return f"{connection.name}/{goal.name}"


def export_fields(goal: ImportGoal) -> tuple[list[str], list[str]]:
    """`fields_to_export` and `custom_attributes_to_export`: only what the goal maps.

    Asking for less makes exports smaller and faster (reference 4.3); `remaining_fields`
    needs everything.
    """
    if goal.remaining_fields is not None:
        return sorted({*STANDARD_IMPORT_FIELDS.values(), "custom_attributes"}), []
    fields = {"braze_id"}
    custom: set[str] = set()
    for braze in [i.braze for i in goal.identifiers] + [f.braze for f in goal.fields]:
        if braze.startswith(USER_ALIAS_PREFIX):
            fields.add("user_aliases")
        elif braze.startswith(CUSTOM_ATTRIBUTE_PREFIX):
            custom.add(braze[len(CUSTOM_ATTRIBUTE_PREFIX) :].split(".", 1)[0])
        else:
            fields.add(STANDARD_IMPORT_FIELDS[braze])
    return sorted(fields), sorted(custom)


def goal_rules(connection: Connection, goal: ImportGoal, members: Sequence[Connection] = ()) -> GoalRules:
    """The engine's rules of an import goal; `members` (the store's connections) decide which
    columns `remaining_fields` leaves out as ours (`exported_columns`)."""
    remaining = goal.remaining_fields
    ours = exported_columns(connection, members)
    return GoalRules(
        name=qualified(connection, goal),
        identifiers=[IdentifierRule(i.braze, i.profile) for i in goal.identifiers],
        allow_create=goal.allow_create,
        fields=[FieldRule(f.braze, f.profile, f.strategy) for f in goal.fields],
        remaining=RemainingRule(remaining.prefix, remaining.strategy, ours) if remaining else None,
    )


def exported_columns(connection: Connection, members: Sequence[Connection]) -> frozenset[str]:
    """Import columns (`custom_attributes.x`, or a standard field) that export goals of the store
    write to the Braze users `connection` reads: `remaining_fields` leaves them out, they are ours."""
    same = [c for c in members if c.braze.rest_endpoint == connection.braze.rest_endpoint]
    return frozenset(import_column(f.braze) for c in same for goal in c.exports for f in goal.fields)


def _callback_listener(rest_endpoint: str) -> CallbackListener | None:
    """A loopback listener when Braze itself is on loopback (the sandbox). Otherwise Braze cannot
    reach this machine, and only a count matching Braze's segment size can prove an export whole."""
    return CallbackListener() if is_loopback(urlsplit(rest_endpoint).hostname or "") else None


def read_manifest(store: ObjectStore, connection: str, goal: str, day: str) -> dict[str, Any] | None:
    try:
        return json.loads(store.read_bytes(layout.export_manifest(connection, goal, day)))
    except ObjectNotFound:
        return None


def run_segment_export(
    client: BrazeClient,
    exports: ObjectStore,
    store: ObjectStore,
    connection: Connection,
    goal: ImportGoal,
    day: str,
    *,
    refresh: bool = False,
    progress: Progress = lambda message: None,
) -> tuple[dict[str, Any], bool]:
    """Export the goal's segment once per day; returns the manifest and whether it was reused.

    The manifest is written only once the export is proven whole (see export_evidence.py), so
    a failed wait leaves nothing a re-run would reuse. Braze can only export the present, so a
    day that already has an export keeps it: re-running the day re-stages the same files
    instead of relabelling today's data with an old date.
    """
    existing = None if refresh else read_manifest(store, connection.name, goal.name, day)
    if existing is not None:
        progress(f"reusing the export of {day} ({existing['object_prefix']})")
        return existing, True
    segment = resolve_segment(client, goal.segment)
    fields, custom = export_fields(goal)
    listener = _callback_listener(connection.braze.rest_endpoint)
    settings = connection.braze
    size = SegmentSize(client, str(segment["id"]), str(segment.get("name", "")), settings.export_size_tolerance)
    if listener is None:
        try:  # before asking for an export that nothing could prove complete
            size.fetch()
        except SizeUnavailable as exc:
            raise ExportIncomplete(
                f"cannot prove a segment export of {qualified(connection, goal)} complete: Braze's callback cannot "
                f"reach this machine and {exc}"
            ) from None
    count = UserCounter(exports)
    begun = time.monotonic()
    with listener if listener is not None else contextlib.nullcontext():
        prefix = start_export(
            client,
            str(segment["id"]),
            lambda: client.export_segment(
                segment["id"],
                fields,
                custom_attributes_to_export=custom or None,
                callback_endpoint=listener.url if listener else None,
                output_format="gzip",
            ),
            wait_s=settings.export_timeout_s,
            poll_s=settings.export_poll_interval_s,
            progress=progress,
        )
        progress(f"Braze is exporting segment {segment['name']!r} ({segment['id']}) as {prefix}")
        try:
            files, completion = wait_for_files(
                exports,
                segment["id"],
                prefix,
                callback=listener,
                size=size,
                count=count,
                quiet_period_s=settings.export_quiet_period_s,
                timeout_s=settings.export_timeout_s,
                poll_interval_s=settings.export_poll_interval_s,
                progress=progress,
            )
        except ExportIncomplete as exc:  # give up on it in Braze too, or the next run meets it running
            raise ExportIncomplete(f"{exc}; {cancel_export(client, str(segment['id']), progress)}") from None
        except BaseException:
            cancel_export(client, str(segment["id"]), progress)
            raise
    waited = time.monotonic() - begun
    manifest = ExportManifest(
        segment_id=str(segment["id"]),
        segment_name=str(segment.get("name", "")),
        object_prefix=prefix,
        fields_to_export=fields + [f"custom_attributes.{name}" for name in custom],
        completion=completion,
        waited_s=round(waited, 3),
        files=[{"key": f.key, "size": f.size} for f in files],
        users=count(files),
        segment_size=size.last,
    ).as_dict()
    store.write_bytes(
        layout.export_manifest(connection.name, goal.name, day), json.dumps(manifest, indent=2).encode()
    )
    return manifest, False


def run_staging(
    exports: ObjectStore,
    store: ObjectStore,
    connection: Connection,
    goal: ImportGoal,
    day: str,
    progress: Progress = lambda message: None,
) -> dict:
    """Stage the day's export files as one Parquet copy plus a quarantine file; `progress` hears
    of the files parsed so far."""
    manifest = read_manifest(store, connection.name, goal.name, day)
    if manifest is None:
        raise ObjectNotFound(
            f"no segment export recorded for {connection.name}/{goal.name} on {day}; materialize segment_export first"
        )
    fields, _custom = export_fields(goal)
    keys = [f["key"] for f in manifest["files"]]
    label = f"{qualified(connection, goal)} staging"
    with staged_export(exports, keys, fields, progress=progress, label=label) as result:  # bounded memory
        counts = write_staged(store, connection.name, goal.name, day, result)
        users = result.users.lazy()
        # The same identifier expressions the profiles step matches on, so the check sees what it will.
        values = identifier_values(goal_rules(connection, goal), users.collect_schema())
        anonymous = users.filter(pl.all_horizontal(expr.is_null() for _kind, expr in values))
        counts["users_without_identifier"] = anonymous.select(pl.len()).collect().item()
        counts["anonymous_examples"] = anonymous.select("braze_id").head(5).collect().to_series().to_list()
        counts["preview"] = users.head(5).collect()
    return counts


def echo_sources(connection: Connection, goal: ImportGoal, members: Sequence[Connection]) -> EchoSources:
    """What tells echoes apart for `goal`: every export goal of the store's connections (`members`,
    the connections on its storage root) that talks to the same Braze REST endpoint, whose pushes
    can come back; and every import field of those connections, whose provenance shows a real
    change of a Braze attribute imported after our push (`pipeline.echoes`)."""
    same = [c for c in members if c.braze.rest_endpoint == connection.braze.rest_endpoint]
    return EchoSources(
        exports=tuple((c.name, export.name) for c in same for export in c.exports),
        rules=goal_rules(connection, goal, members),
        readers=tuple((qualified(c, g), f.braze, f.profile) for c in same for g in c.imports for f in g.fields),
    )


def run_changes(
    store: ObjectStore,
    connection: Connection,
    goal: ImportGoal,
    day: str,
    source: str = "staged_users",
    sources: EchoSources | None = None,
) -> dict:
    """The day's changes of the goal, echoes of the store's own pushes told apart (`echo_sources`)."""
    counts = compute_changes(store, connection.name, goal.name, day, source, sources)
    counts["preview"] = scan_parquet(store, str(counts["changes_key"])).head(5).collect()
    return counts


def read_changes(store: ObjectStore, key: str, rules: GoalRules, json_text: Sequence[str]) -> pl.DataFrame:
    """A goal's changes as the profiles step needs them: added and changed rows whole, echoes and
    removals with only the columns it reads of them (`inactive_columns`), in one streaming scan."""
    changes = scan_parquet(store, key)
    schema = changes.collect_schema()
    active = pl.col(CHANGE).is_in(ACTIVE)
    rest = changes.filter(~active).select(inactive_columns(rules, schema, json_text))
    return pl.concat([changes.filter(active), rest], how="diagonal").collect(engine="streaming")


def profile_inputs(
    store: ObjectStore, goals: list[tuple[Connection, ImportGoal]], day: str, members: Sequence[Connection] = ()
) -> tuple[dict[str, list[str]], list[tuple[GoalRules, pl.DataFrame, Sequence[str]]]]:
    """The day's changes of every goal that applies, checked against the snapshot before `day`:
    what the snapshot will cover (`check_day_order`) and each goal's (rules, changes, json text columns).

    Raises `DayOrderError` before anything is read when a goal's changes were not computed for
    the snapshot they would be applied to (`pipeline.day_order`)."""
    applied, order = [], []
    for connection, goal in goals:
        key = layout.user_changes(connection.name, goal.name, day)
        exists = store.exists(key)
        applies = connection.enabled or exists  # a switched-off connection adds only the days it ran
        order.append(GoalOfDay(connection.name, goal.name, applies))
        if not applies:
            continue
        if not exists:
            raise ObjectNotFound(
                f"{store.uri(key)} does not exist: materialize user_changes of {qualified(connection, goal)} "
                f"for {day} before the profiles"
            )
        applied.append((connection, goal, key))
    covers = check_day_order(store, day, order)
    inputs = []
    for connection, goal, key in applied:
        rules, json_text = goal_rules(connection, goal, members), json_text_columns(store, key)
        inputs.append((rules, read_changes(store, key, rules, json_text), json_text))
    return covers, inputs


def run_profiles(
    store: ObjectStore, goals: list[tuple[Connection, ImportGoal]], day: str, members: Sequence[Connection] = ()
) -> tuple[Snapshot, DayReport, dict[str, Any]]:
    """Yesterday's snapshot plus the day's changes of every goal on this store, in declared order.

    Raises `DayOrderError` before writing anything when a goal's changes were not computed for
    the snapshot they would be applied to (`pipeline.day_order`).
    """
    covers, inputs = profile_inputs(store, goals, day, members)
    previous = read_previous_snapshot(store, day)
    snapshot, report = build_day(previous, inputs, date.fromisoformat(day))
    manifest = write_snapshot(store, day, snapshot, report, covers)
    return snapshot, report, manifest
