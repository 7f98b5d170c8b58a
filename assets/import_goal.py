"""An import goal as three assets: segment_export → staged_users → user_changes."""


import dagster as dg

from assets.extensions import StagingStep, steps_for
from assets.lineage import changes_metadata
from assets.metadata import counts, preview
from assets.partitions import daily
from assets.progress import step_progress
from assets.resources import braze_key, exports_key, store_key
from pipeline.imports import echo_sources, export_fields, run_changes, run_segment_export, run_staging
from pipeline.mapping import Connection, ImportGoal
from pipeline.staging.transform import apply_transform

# user_changes(d) also reads the previous staged copy; declaring that as a dependency on its own
# previous day (not on yesterday's staged copy) keeps a range backfill inside the range.
yesterday_of_self = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)


class SegmentExportConfig(dg.Config):
    refresh: bool = False
    """Ask Braze for a new export even when the day already has one (it holds today's data)."""


def goal_key(connection: Connection, goal: ImportGoal, step: str) -> dg.AssetKey:
    return dg.AssetKey([connection.name, goal.name, step])


def import_goal_assets(
    connection: Connection, goal: ImportGoal, members: list[Connection] | None = None
) -> list[dg.AssetsDefinition]:
    """`members`: the connections sharing the store, whose export goals' pushes are echoes here."""
    partitions = daily(connection.start_date.isoformat())
    braze, store, exports = braze_key(connection), store_key(connection), exports_key(connection)
    export_asset, staged, changes = (
        goal_key(connection, goal, s) for s in ("segment_export", "staged_users", "user_changes")
    )
    common = {"partitions_def": partitions, "group_name": connection.name, "owners": [], "tags": {"goal": goal.name}}
    fields, custom = export_fields(goal)
    echoes = echo_sources(connection, goal, members or [connection])

    @dg.asset(
        key=export_asset,
        kinds={"braze", "s3"},
        code_version="2",
        required_resource_keys={braze, store, exports},
        description=f"""Braze segment {goal.segment!r} exported to the export bucket for the day.

Asks `/users/export/segment` only for the fields the goal maps ({", ".join(fields + custom)}),
waits until the export is proven whole (Braze's callback, or a count of its users matching Braze's
segment size; a quiet bucket alone proves nothing), and records the manifest. A day keeps its
first export: Braze only exports the present, so a re-run re-stages the same files unless
`refresh` is set.""",
        **common,
    )
    def segment_export(context: dg.AssetExecutionContext, config: SegmentExportConfig) -> dg.MaterializeResult:
        day = context.partition_key
        with getattr(context.resources, braze).client() as client:
            manifest, reused = run_segment_export(
                client,
                getattr(context.resources, exports).store(),
                getattr(context.resources, store).store(),
                connection,
                goal,
                day,
                refresh=config.refresh,
                progress=step_progress(context.log),
            )
            calls = client.stats.as_dict()
        context.log.info(
            "export %s: %d users in %d files", manifest["object_prefix"], manifest["users"], len(manifest["files"])
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": manifest["users"],
                "segment": f"{manifest['segment_name']} ({manifest['segment_id']})",
                "object_prefix": manifest["object_prefix"],
                "files": len(manifest["files"]),
                "bytes": sum(f["size"] for f in manifest["files"]),
                "completion": manifest["completion"],
                "segment_size": manifest.get("segment_size"),
                "waited_s": float(manifest["waited_s"]),
                "reused": reused,
                "fields_to_export": ", ".join(manifest["fields_to_export"]),
                "manifest": dg.MetadataValue.json(manifest),
                "braze_requests": int(calls["requests"]),
            }
        )

    @dg.asset(
        key=staged,
        deps=[export_asset],
        kinds={"polars", "parquet"},
        code_version="1",
        required_resource_keys={store, exports},
        check_specs=[
            dg.AssetCheckSpec("quarantine_rate_below_threshold", asset=staged, blocking=True),
            dg.AssetCheckSpec("identifiers_present", asset=staged, blocking=True),
        ],
        description="""The day's export as one typed zstd Parquet copy.

Custom attributes become columns, lists stay lists, nested objects stay structs, Braze's two
date formats are parsed. Lines that cannot be parsed go to a quarantine file with their
source file, line number and reason; the checks stop the run when too many do, or when
users carry none of the goal's identifiers.""",
        **common,
    )
    def staged_users(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        day = context.partition_key
        target = getattr(context.resources, store).store()
        exported = getattr(context.resources, exports).store()
        result = run_staging(exported, target, connection, goal, day, progress=step_progress(context.log))
        rate = result["quarantined"] / max(1, result["lines_read"])
        context.log.info(
            "staged %d users, quarantined %d lines and %d values",
            result["rows"], result["quarantined"], result["quarantined_fields"],
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result["rows"],
                **counts(result, "lines_read", "quarantined", "quarantined_fields", "files", "columns", "bytes"),
                "uri": dg.MetadataValue.path(target.uri(str(result["users_key"]))),
                "quarantine": dg.MetadataValue.path(target.uri(str(result["quarantine_key"]))),
                "preview": preview(result["preview"]),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name="quarantine_rate_below_threshold",
                    passed=rate <= goal.max_quarantine_rate,
                    metadata={
                        "rate": rate,
                        "threshold": goal.max_quarantine_rate,
                        "quarantined": result["quarantined"],
                    },
                    description="raise max_quarantine_rate or fix the lines listed in the quarantine file",
                ),
                dg.AssetCheckResult(
                    check_name="identifiers_present",
                    passed=result["users_without_identifier"] == 0,
                    metadata={
                        "users_without_identifier": result["users_without_identifier"],
                        "examples": ", ".join(result["anonymous_examples"]),
                        "identifiers": ", ".join(i.braze for i in goal.identifiers),
                    },
                    description="map an identifier these users have (braze_id always exists)",
                ),
            ],
        )

    steps = [step_asset(connection, goal, step, source) for step, source in _chain(connection, goal)]
    last = goal_key(connection, goal, steps_for(connection.name, goal.name)[-1].name) if steps else staged
    source = last.path[-1]

    @dg.asset(
        key=changes,
        deps=[last, dg.AssetDep(changes, partition_mapping=yesterday_of_self)],
        kinds={"polars", "parquet"},
        code_version="4",
        required_resource_keys={store},
        metadata=changes_metadata(goal),
        description="""Users added, changed (with the names of the changed fields) or removed since the
previous staged day.

A lazy join of the two copies' (braze_id, row hash) finds the few rows that differ; only
those are compared column by column. Only these records reach the profiles, so a daily full
export never applies a change twice. A value that is exactly what an export goal of this store
had acknowledged pushing to that user, since the previous copy, with no later real change of it
in the profiles' provenance, is an echo of our own push: counted apart, never a change.
The file records the day it was diffed against, so the profiles apply it only onto that day's
snapshot.""",
        **common,
    )
    def user_changes(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        day = context.partition_key
        target = getattr(context.resources, store).store()
        result = run_changes(target, connection, goal, day, source, echoes)
        context.log.info(
            "%d added, %d changed (%d seen, %d echoes of our own pushes), %d removed since %s",
            result["added"],
            result["changed"],
            result["seen_changed"],
            result["echoes"],
            result["removed"],
            result.get("previous_day") or "nothing",
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": int(result["added"]) + int(result["changed"]) + int(result["removed"]),
                **counts(result, "added", "changed", "seen_changed", "echoes", "removed", "unchanged"),
                "previous_day": str(result.get("previous_day") or "none"),
                "uri": dg.MetadataValue.path(target.uri(str(result["changes_key"]))),
                "preview": preview(result["preview"]),
            }
        )

    return [segment_export, staged_users, *steps, user_changes]


def _chain(connection: Connection, goal: ImportGoal) -> list[tuple[StagingStep, str]]:
    """Each registered step with the step it reads from."""
    sources = ["staged_users", *(s.name for s in steps_for(connection.name, goal.name))]
    return list(zip(steps_for(connection.name, goal.name), sources, strict=False))


def step_asset(connection: Connection, goal: ImportGoal, step: StagingStep, source: str) -> dg.AssetsDefinition:
    """A data engineer's transformation (assets/extensions) as an asset of the goal."""
    key = goal_key(connection, goal, step.name)
    store = store_key(connection)

    @dg.asset(
        key=key,
        deps=[goal_key(connection, goal, source)],
        partitions_def=daily(connection.start_date.isoformat()),
        group_name=connection.name,
        tags={"goal": goal.name, "profilesync/extension": "staging_step"},
        kinds={"polars", "parquet"},
        code_version="1",
        required_resource_keys={store},
        description=step.description,
    )
    def extension(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        target = getattr(context.resources, store).store()
        result = apply_transform(
            target, connection.name, goal.name, context.partition_key, source, step.name, step.transform
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": int(result["rows"]),
                **counts(result, "rows_in", "columns", "bytes"),
                "uri": dg.MetadataValue.path(target.uri(str(result["key"]))),
                "preview": preview(result["preview"]),
            }
        )

    return extension
