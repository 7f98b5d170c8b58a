"""One job and one schedule per connection: its cron runs the day's partition.

`enabled: false` only sets the schedule's starting state to stopped; the UI toggle (stored
in the Dagster instance) wins after that, as for any Dagster schedule.
"""

from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:  # what define_asset_job returns; dagster does not export the name
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from assets.partitions import daily
from assets.run_lock import STORE_TAG, store_value
from pipeline.mapping import Connection


def job_name(connection: Connection) -> str:
    return f"{connection.name}_sync"


def connection_job(
    connection: Connection, shared: list[dg.AssetKey], exclude: list[dg.AssetKey] = ()
) -> "UnresolvedAssetJobDefinition":
    """The connection's asset group, plus the store-level assets (profiles, interactions) it needs;
    in a sharded store, without the per-(day, shard) assets (`exclude`), which `shard_job` runs."""
    selection = (dg.AssetSelection.groups(connection.name) | dg.AssetSelection.assets(*shared)) - (
        dg.AssetSelection.assets(*exclude)
    )
    return dg.define_asset_job(
        job_name(connection),
        selection=selection,
        description=f"Sync connection {connection.name}: {connection.description or 'every goal'}",
        # The store tag is what the instance's run limit keys on: one run per profile store at a time.
        tags={"profilesync/connection": connection.name, STORE_TAG: store_value(connection)},
    )


def shard_job(connection: Connection, keys: list[dg.AssetKey]) -> "UnresolvedAssetJobDefinition":
    """A sharded store's profiles and export steps, one run per (day, shard) partition, launched
    after the day's import job (by hand or by a backfill; no schedule launches them yet)."""
    return dg.define_asset_job(
        f"{connection.name}_shards",
        selection=dg.AssetSelection.assets(*keys),
        description=f"Profiles and exports of {connection.name}, per day and shard",
        # the store's tag: shard runs queue behind the import and each other (one writer per store)
        tags={"profilesync/connection": connection.name, STORE_TAG: store_value(connection)},
    )


def connection_schedule(connection: Connection, job: "UnresolvedAssetJobDefinition") -> dg.ScheduleDefinition:
    partitions = daily(connection.start_date.isoformat())
    refresh = {"config": {"refresh": True}}
    run_config = {"ops": {f"{connection.name}__{goal.name}__segment_export": refresh for goal in connection.imports}}

    @dg.schedule(
        name=f"{connection.name}_schedule",
        cron_schedule=connection.schedule,
        job=job,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING if connection.enabled else dg.DefaultScheduleStatus.STOPPED,
        description=f"{connection.schedule} (UTC): the day's partition, with a fresh Braze export each time",
        tags={"profilesync/connection": connection.name},
    )
    def schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        # Each tick syncs the day it falls on; several ticks a day refresh the same day's export.
        moment = context.scheduled_execution_time
        day = moment.date().isoformat()
        if day < partitions.get_first_partition_key():
            return dg.SkipReason(f"{day} is before start_date {connection.start_date}")
        run_key = f"{connection.name}:{moment.isoformat()}"
        return dg.RunRequest(run_key=run_key, partition_key=day, run_config=run_config)

    return schedule
