"""Daily partitions: one per day from a connection's start date, today's included; and, for a
sharded store (`storage.shards` > 1), day x shard on the profile-side assets."""

from functools import cache

import dagster as dg

DAY, SHARD = "day", "shard"


@cache
def daily(start_date: str) -> dg.DailyPartitionsDefinition:
    # end_offset=1 makes today a partition: a run imports Braze as it is on the day it runs.
    return dg.DailyPartitionsDefinition(start_date=start_date, timezone="UTC", end_offset=1)


@cache
def day_shard(start_date: str, shards: int) -> dg.MultiPartitionsDefinition:
    """Day x hash shard of the profile id: one run per (day, shard)."""
    return dg.MultiPartitionsDefinition(
        {DAY: daily(start_date), SHARD: dg.StaticPartitionsDefinition([str(k) for k in range(shards)])}
    )


def profile_side(start_date: str, shards: int) -> dg.PartitionsDefinition:
    """The partitions of `profiles` and the export steps: today's days, or day x shard."""
    return daily(start_date) if shards == 1 else day_shard(start_date, shards)


def day_and_shard(context: dg.AssetExecutionContext) -> tuple[str, int | None]:
    """The day of a run, and its shard (None in an unsharded store)."""
    key = context.partition_key
    if isinstance(key, dg.MultiPartitionKey):
        dims = key.keys_by_dimension
        return dims[DAY], int(dims[SHARD])
    return key, None


def previous_day_mapping(shards: int, every_shard: bool = False) -> dg.PartitionMapping:
    """Each day on the day before; with shards, each shard's day on the same shard's day before,
    or (`every_shard`) on every shard's day before: a shard's profiles read every shard's
    identifiers of the day before, so no shard can start a day another has not finished."""
    day_before = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)
    if shards == 1:
        return day_before
    mappings = {DAY: dg.DimensionPartitionMapping(DAY, day_before)}
    if not every_shard:  # a dimension left out of a MultiPartitionMapping maps to all of its partitions
        mappings[SHARD] = dg.DimensionPartitionMapping(SHARD, dg.IdentityPartitionMapping())
    return dg.MultiPartitionMapping(mappings)


def from_day(shards: int) -> dg.PartitionMapping | None:
    """A per-(day, shard) asset on a per-day one: every shard of a day reads that day."""
    return None if shards == 1 else dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name=DAY)
