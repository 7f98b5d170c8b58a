"""The profile snapshot of one store: yesterday's profiles plus the day's changes of every goal."""

import dagster as dg
import polars as pl

from assets.import_goal import goal_key
from assets.lineage import materialized_profiles_metadata, profiles_metadata
from assets.metadata import preview
from assets.partitions import day_and_shard, from_day, previous_day_mapping, profile_side
from assets.resources import store_key
from pipeline.imports import qualified, run_profiles
from pipeline.mapping import Connection
from pipeline.profiles import Snapshot
from pipeline.profiles.provenance import provenance_counts
from pipeline.shards import run_shard_profiles, side_store


def profiles_key(connections: list[Connection]) -> dg.AssetKey:
    """Named after the first connection (by file name) of those sharing the store."""
    return dg.AssetKey([connections[0].name, "profiles"])


def _checks(snapshot: Snapshot) -> list[dg.AssetCheckResult]:
    ids = snapshot.profiles["profile_id"]
    duplicated = ids.filter(ids.is_duplicated()).unique().sort()
    anonymous = ids.filter(~ids.is_in(snapshot.identifiers["profile_id"].implode()))  # no Python set of a million ids
    shared = snapshot.identifiers.filter(pl.struct("kind", "value").is_duplicated())
    return [
        dg.AssetCheckResult(
            check_name="profile_ids_unique",
            passed=duplicated.is_empty(),
            metadata={"duplicated": duplicated.len(), "examples": ", ".join(duplicated.head(5).to_list())},
        ),
        dg.AssetCheckResult(
            check_name="identifiers_present",
            passed=anonymous.is_empty() and shared.is_empty(),
            metadata={
                "profiles_without_identifier": anonymous.len(),
                "identifiers_on_several_profiles": shared.height,
            },
            description="every profile has an identifier and no identifier belongs to two profiles",
        ),
    ]


def profiles_asset(connections: list[Connection]) -> dg.AssetsDefinition:
    owner = connections[0]
    key = profiles_key(connections)
    goals = [(connection, goal) for connection in connections for goal in connection.imports]
    names = ", ".join(qualified(c, g) for c, g in goals)
    sources = {qualified(c, g): (goal_key(c, g, "user_changes"), g) for c, g in goals}
    shards = owner.storage.shards

    @dg.asset(
        key=key,
        deps=[
            dg.AssetDep(key, partition_mapping=previous_day_mapping(shards, every_shard=True)),
            *(dg.AssetDep(goal_key(c, g, "user_changes"), partition_mapping=from_day(shards)) for c, g in goals),
        ],
        partitions_def=profile_side(owner.start_date.isoformat(), shards),
        group_name=owner.name,
        kinds={"polars", "parquet"},
        code_version="2",
        required_resource_keys={store_key(owner)},
        metadata=profiles_metadata([(goal_key(c, g, "user_changes"), g) for c, g in goals]),
        check_specs=[
            dg.AssetCheckSpec("profile_ids_unique", asset=key, blocking=True),
            dg.AssetCheckSpec("identifiers_present", asset=key, blocking=True),
        ],
        description=f"""Unified profiles of {owner.storage.root}: an immutable daily snapshot.

Yesterday's snapshot plus the day's changes of {names}, applied in that order with each
field's merge strategy. Built from inputs, never from its own last output, so re-running a
day gives the same bytes and never applies a `sum` or `add` twice. Fails, naming the day to
run, when a goal's changes were computed against a day whose snapshot was never published.""",
    )
    def profiles(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        store = getattr(context.resources, store_key(owner)).store()
        day, shard = day_and_shard(context)
        if shard is None:
            snapshot, report, manifest = run_profiles(store, goals, day, connections)
        else:  # this shard's profiles, identity resolved over every shard's identifiers
            snapshot, report, manifest = run_shard_profiles(store, goals, day, connections, shard)
        store = side_store(store, connections, shard)
        context.log.info(
            "%d profiles: %d created, %d updated, %d unchanged, %d merged, %d quarantined",
            report.profiles, report.profiles_created, report.profiles_updated, report.profiles_unchanged,
            report.merges, report.quarantined,
        )  # fmt: skip
        per_goal = pl.DataFrame([g.as_dict() for g in report.goals]) if report.goals else None
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": report.profiles,
                "profiles_created": report.profiles_created,
                "profiles_updated": report.profiles_updated,
                "profiles_unchanged": report.profiles_unchanged,
                "merges": report.merges,
                "quarantined": report.quarantined,
                "records_in": report.records_in,
                "echoes": report.echoes,
                "goals": preview(per_goal, rows=50, columns=20),
                "uri": dg.MetadataValue.path(store.uri(manifest["files"]["profiles"]["key"])),
                "preview": preview(snapshot.profiles),
                **materialized_profiles_metadata(sources, provenance_counts(snapshot.provenance)),
            },
            check_results=_checks(snapshot),
        )

    return profiles
