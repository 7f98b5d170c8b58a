"""Daily partitions: one per day from a connection's start date, today's included."""

from functools import cache

import dagster as dg


@cache
def daily(start_date: str) -> dg.DailyPartitionsDefinition:
    # end_offset=1 makes today a partition: a run imports Braze as it is on the day it runs.
    return dg.DailyPartitionsDefinition(start_date=start_date, timezone="UTC", end_offset=1)
