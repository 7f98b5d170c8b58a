"""The acknowledged baseline and the per-batch journal that rebuilds it after a crash."""

from __future__ import annotations

import io
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import polars as pl

from pipeline.layout import latest_day_before
from pipeline.push.frames import (
    BASELINE_SCHEMA,
    JOURNAL_SCHEMA,
    KEY,
    ROW,
    baseline_folder,
    baseline_key,
    journal_folder,
)
from pipeline.storage import ObjectStore
from pipeline.storage.parquet import read_parquet, write_parquet

_READERS = 8  # journal files are small; reading them one by one from S3 is latency-bound


def new_run_id() -> str:
    """Sorts in start order, so a later run's journal entries win over an earlier run's."""
    now = time.time()
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"{int(now % 1 * 1000):03d}Z-{uuid.uuid4().hex[:6]}"


def journal_key(connection: str, goal: str, day: str, run_id: str, batch: int) -> str:
    return f"{journal_folder(connection, goal, day)}{run_id}-{batch:06d}.parquet"


def write_journal(store: ObjectStore, key: str, rows: list[tuple[str, str, str | None]]) -> None:
    """Record rows Braze accepted, at once, so a restart does not send them again."""
    write_parquet(store, key, pl.DataFrame(rows, schema=JOURNAL_SCHEMA, orient="row"))


def journal_keys(store: ObjectStore, connection: str, goal: str, day: str) -> list[str]:
    return [info.key for info in store.list(journal_folder(connection, goal, day)) if info.key.endswith(".parquet")]


def read_journal(store: ObjectStore, connection: str, goal: str, day: str) -> pl.DataFrame:
    """Every row accepted for `day` so far, oldest run first."""
    keys = journal_keys(store, connection, goal, day)
    if not keys:
        return pl.DataFrame(schema=JOURNAL_SCHEMA)
    with ThreadPoolExecutor(_READERS, thread_name_prefix="journal-read") as pool:
        parts = list(pool.map(lambda key: pl.read_parquet(io.BytesIO(store.read_bytes(key))), keys))
    return pl.concat([part.select(ROW).cast(JOURNAL_SCHEMA) for part in parts], how="vertical")


def read_baseline(store: ObjectStore, connection: str, goal: str, day: str) -> pl.DataFrame:
    """What Braze acknowledged before `day`: the latest baseline of an earlier day, or empty."""
    earlier = latest_day_before(store, baseline_folder(connection, goal), "baseline.parquet", day)
    if earlier is None:
        return pl.DataFrame(schema=BASELINE_SCHEMA)
    return read_parquet(store, baseline_key(connection, goal, earlier)).select(ROW).cast(BASELINE_SCHEMA)


def apply_journal(baseline: pl.DataFrame, journal: pl.DataFrame) -> pl.DataFrame:
    """The baseline after the accepted rows: sets upsert, removals delete, the last entry wins."""
    latest = journal.unique(subset=KEY, keep="last", maintain_order=True)
    kept = baseline.join(latest.select(KEY), on=KEY, how="anti")
    accepted = latest.filter(pl.col("value").is_not_null())
    return pl.concat([kept.select(ROW), accepted.select(ROW)], how="vertical").sort(KEY).rechunk()


def write_baseline(store: ObjectStore, connection: str, goal: str, day: str, baseline: pl.DataFrame) -> str:
    key = baseline_key(connection, goal, day)
    write_parquet(store, key, baseline)
    return key
