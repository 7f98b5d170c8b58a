"""Build Definitions from connections: what the code location and `profilesync run` share."""

from __future__ import annotations

from collections import defaultdict

import dagster as dg

from assets.export_goal import export_goal_assets
from assets.extensions import load_extensions
from assets.import_goal import import_goal_assets
from assets.interactions import interactions_asset, interactions_key
from assets.profiles import profiles_asset, profiles_key
from assets.resources import connection_resources, s3_resource
from assets.schedules import connection_job, connection_schedule, shard_job
from assets.sensors import connection_sensors, shard_launcher
from pipeline.exports.steps import uses_interactions
from pipeline.mapping import Connection
from pipeline.mapping.shard_rules import echo_overlaps


def store_groups(connections: list[Connection]) -> list[list[Connection]]:
    """Connections sharing a storage root share one profile store, in file-name order."""
    groups: dict[str, list[Connection]] = defaultdict(list)
    for connection in connections:
        groups[connection.storage.root.rstrip("/")].append(connection)
    for members in groups.values():
        starts = {c.start_date for c in members}
        if len(starts) > 1:
            names = ", ".join(f"{c.name} ({c.start_date})" for c in members)
            raise ValueError(f"connections sharing a store must share start_date: {names}; align them")
        if len({c.storage.shards for c in members}) > 1:
            names = ", ".join(f"{c.name} ({c.storage.shards})" for c in members)
            raise ValueError(f"connections sharing a store must share storage.shards: {names}; align them")
        overlaps = [(c, g, what) for c in members if c.storage.shards > 1 for g, what in echo_overlaps(c, members)]
        if overlaps:
            c, goal, what = overlaps[0]
            raise ValueError(
                f"a sharded store cannot tell echoes apart: import goal {c.name}/{goal} reads what an export goal "
                f"of the store writes ({what}); set storage.shards: 1 or stop importing it"
            )
    return list(groups.values())


def group_assets(members: list[Connection]) -> list[dg.AssetsDefinition]:
    """Everything one profile store's connections define, extension steps included."""
    load_extensions()
    assets = [asset for c in members for goal in c.imports for asset in import_goal_assets(c, goal, members)]
    profiles = interactions = None
    if any(c.imports for c in members):
        assets.append(profiles_asset(members))
        profiles = profiles_key(members)
    if any(uses_interactions(goal) for c in members for goal in c.exports):
        assets.append(interactions_asset(members))
        interactions = interactions_key(members)
    assets += [
        asset
        for c in members
        for goal in c.exports
        for asset in export_goal_assets(c, goal, profiles, interactions, members)
    ]
    return assets


def shared_keys(members: list[Connection]) -> list[dg.AssetKey]:
    """Store-level assets every connection of the store runs: profiles and interactions."""
    keys = [profiles_key(members)] if any(c.imports for c in members) else []
    if any(uses_interactions(goal) for c in members for goal in c.exports):
        keys.append(interactions_key(members))
    return keys


def build_definitions(connections: list[Connection]) -> dg.Definitions:
    assets, jobs, schedules, sensors = [], [], [], []
    for members in store_groups(connections):
        built = group_assets(members)
        assets += built
        # in a sharded store, one day-partitioned job imports; runs per (day, shard) do the rest
        sharded = [a.key for a in built if isinstance(a.partitions_def, dg.MultiPartitionsDefinition)]
        for connection in members:
            if sharded:
                shards = shard_job(connection, sharded)
                jobs.append(shards)
                job = connection_job(connection, [], exclude=sharded)
                sensors.append(shard_launcher(connection, job, shards))
            else:
                job = connection_job(connection, shared_keys(members))
            jobs.append(job)
            schedules.append(connection_schedule(connection, job))
            sensors += connection_sensors(connection, job)
    s3 = s3_resource()  # one S3 resource, shared by every connection's stores
    resources = {key: value for c in connections for key, value in connection_resources(c, s3).items()}
    return dg.Definitions(assets=assets, resources=resources, jobs=jobs, schedules=schedules, sensors=sensors)
