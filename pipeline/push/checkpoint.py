"""The acknowledged baseline and the per-batch journal that rebuilds it after a crash.

The baseline is one file per goal, the newest state Braze acknowledged, each value with the
day of the payload it came from (`as_of`). A push of any day, a re-run of an old one included,
starts from it and folds its accepted rows in without ever replacing a later day's value, so
the baseline only moves forward and every day's diff is against what Braze really holds.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import polars as pl

from pipeline import layout
from pipeline.layout import latest_day_before
from pipeline.push.frames import (
    BASELINE_SCHEMA,
    JOURNAL_SCHEMA,
    KEY,
    ROW,
)
from pipeline.storage import ObjectNotFound, ObjectStore
from pipeline.storage.parquet import parquet_source, read_parquet, write_parquet

_READERS = 8  # journal files are small; reading them one by one from S3 is latency-bound


def new_run_id() -> str:
    """Sorts in start order, so a later run's journal entries win over an earlier run's."""
    now = time.time()
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"{int(now % 1 * 1000):03d}Z-{uuid.uuid4().hex[:6]}"


def write_journal(store: ObjectStore, key: str, rows: list[tuple[str, str, str | None]]) -> None:
    """Record rows Braze accepted, at once, so a restart does not send them again."""
    write_parquet(store, key, pl.DataFrame(rows, schema=JOURNAL_SCHEMA, orient="row"))


def journal_keys(store: ObjectStore, connection: str, goal: str, day: str) -> list[str]:
    folder = layout.push_journal_folder(connection, goal, day)
    return [info.key for info in store.list(folder) if info.key.endswith(".parquet")]


def read_journal(store: ObjectStore, connection: str, goal: str, day: str) -> pl.DataFrame:
    """Every row accepted for `day` so far, oldest run first."""
    keys = journal_keys(store, connection, goal, day)
    if not keys:
        return pl.DataFrame(schema=JOURNAL_SCHEMA)
    with ThreadPoolExecutor(_READERS, thread_name_prefix="journal-read") as pool:
        parts = list(pool.map(lambda key: pl.read_parquet(io.BytesIO(store.read_bytes(key))), keys))
    return pl.concat([part.select(ROW).cast(JOURNAL_SCHEMA) for part in parts], how="vertical")


_AFTER_EVERY_DAY = "9999-12-31"
_VERSION = "profilesync.baseline_version"  # Parquet key-value metadata: the run that wrote the file


def read_baseline(store: ObjectStore, connection: str, goal: str) -> pl.DataFrame:
    """The newest state Braze acknowledged for the goal (`BASELINE_SCHEMA`), or an empty frame.

    Rows with a null value are removals Braze accepted: kept so an older day cannot bring the
    value back. A store from before as-of days has only per-day files: the latest counts, as of its day.
    """
    try:
        frame = read_parquet(store, layout.baseline(connection, goal))
        return frame.select(list(BASELINE_SCHEMA)).cast(BASELINE_SCHEMA)
    except ObjectNotFound:
        pass
    legacy = _legacy_day(store, connection, goal)
    if legacy is None:
        return pl.DataFrame(schema=BASELINE_SCHEMA)
    frame = read_parquet(store, layout.legacy_baseline(connection, goal, legacy))
    return frame.select(*ROW, as_of=pl.lit(legacy)).cast(BASELINE_SCHEMA)


def with_other_shards(
    own: pl.DataFrame, others: Sequence[ObjectStore], connection: str, goal: str, identities: pl.Series
) -> pl.DataFrame:
    """`own` (a shard's baseline) plus what the other shards of the store acknowledged for
    `identities` (this shard's members today), the newest value of each pair winning: a Braze user
    whose profile moved here by a merge is diffed against what Braze holds, not sent in full again.
    The push still writes only its own shard's baseline."""
    wanted = identities.unique().implode()
    parts = [read_baseline(other, connection, goal).filter(pl.col("identity").is_in(wanted)) for other in others]
    every = pl.concat([*parts, own], how="vertical").cast(BASELINE_SCHEMA)  # own last: it wins a tie
    every = every.sort([*KEY, "as_of"], maintain_order=True)
    return every.unique(subset=KEY, keep="last", maintain_order=True).rechunk()


def baseline_version(store: ObjectStore, connection: str, goal: str) -> str | None:
    """Which push wrote the baseline (read from the file's footer only), None before the first."""
    try:
        return pl.read_parquet_metadata(parquet_source(store, layout.baseline(connection, goal))).get(_VERSION)
    except ObjectNotFound:
        legacy = _legacy_day(store, connection, goal)
        return None if legacy is None else f"legacy {legacy}"


def _legacy_day(store: ObjectStore, connection: str, goal: str) -> str | None:
    return latest_day_before(store, layout.baseline_folder(connection, goal), layout.LEGACY_BASELINE, _AFTER_EVERY_DAY)


def newer_than(baseline: pl.DataFrame, day: str) -> pl.DataFrame:
    """The (identity, attribute) pairs Braze holds a later day's value (or removal) for."""
    return baseline.filter(pl.col("as_of") > day).select(KEY)


def apply_journal(baseline: pl.DataFrame, journal: pl.DataFrame, day: str) -> pl.DataFrame:
    """The baseline after `day`'s accepted rows: the last entry of a pair wins, as of `day`.

    A pair the baseline holds as of a later day keeps that value: an entry of an old day's
    journal (accepted before the later day was pushed) never rolls it back.
    """
    latest = journal.unique(subset=KEY, keep="last", maintain_order=True).join(
        newer_than(baseline, day), on=KEY, how="anti"
    )
    kept = baseline.join(latest.select(KEY), on=KEY, how="anti")
    entered = latest.select(*ROW, as_of=pl.lit(day))
    return pl.concat([kept, entered], how="vertical").cast(BASELINE_SCHEMA).sort(KEY).rechunk()


def write_baseline(store: ObjectStore, connection: str, goal: str, baseline: pl.DataFrame, version: str) -> str:
    key = layout.baseline(connection, goal)
    write_parquet(store, key, baseline, metadata={_VERSION: version})
    return key
