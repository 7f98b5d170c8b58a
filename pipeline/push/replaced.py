"""What each push replaced: the acknowledged value of every row it is about to send, for undo.

The baseline keeps only the newest acknowledged value of a pair and the journal only what was
sent, so neither can say what Braze held before a day's push. Before a push run sends anything
it writes `braze_push/<day>/replaced/<run>.parquet`: one row per (identity, attribute) it will
send, with the baseline's value and `as_of` for it (both null when Braze was never sent one;
a null value with an `as_of` is a removal Braze accepted), and `new_user`, whether the goal had
acknowledged nothing for the identity and the push could create it (`allow_create`).

A later run of the same day (a resume) records again; its rows may already hold that day's own
values (folded in after a failed run), so the first record of a pair that is not as of the day
itself is the one that counts (`read_replaced`). Cost: one join and one file per run, as large as
the rows it sends; nothing is written when there is nothing to send.
"""

from __future__ import annotations

import polars as pl

from pipeline import layout
from pipeline.push.frames import KEY
from pipeline.storage import ObjectStore
from pipeline.storage.parquet import read_parquet, write_parquet

REPLACED_SCHEMA = {
    "identity": pl.String,
    "attribute": pl.String,
    "value": pl.String,
    "as_of": pl.String,
    "new_user": pl.Boolean,
}


def write_replaced(
    store: ObjectStore,
    connection: str,
    goal: str,
    day: str,
    run_id: str,
    baseline: pl.DataFrame,
    todo: pl.DataFrame,
    *,
    allow_create: bool,
) -> None:
    """Record, before sending, the acknowledged value each row of `todo` replaces."""
    if todo.is_empty():
        return
    known = baseline.select("identity").unique().with_columns(known=pl.lit(True))
    frame = (
        todo.select(KEY)
        .join(baseline.select(*KEY, "value", "as_of"), on=KEY, how="left")
        .join(known, on="identity", how="left")
        .select(*KEY, "value", "as_of", new_user=pl.col("known").is_null() & pl.lit(allow_create))
        .cast(REPLACED_SCHEMA)
    )
    write_parquet(store, layout.push_replaced(connection, goal, day, run_id), frame)


def read_replaced(store: ObjectStore, connection: str, goal: str, day: str) -> pl.DataFrame:
    """Per (identity, attribute) the value Braze held before `day`'s push first sent it.

    Records are read in run order; a row as of `day` itself is that day's own value (a resumed
    run after a failed one) and is passed over.
    """
    folder = layout.push_replaced_folder(connection, goal, day)
    keys = sorted(info.key for info in store.list(folder) if info.key.endswith(".parquet"))
    if not keys:
        return pl.DataFrame(schema=REPLACED_SCHEMA)
    frames = [read_parquet(store, key).select(list(REPLACED_SCHEMA)).cast(REPLACED_SCHEMA) for key in keys]
    return (
        pl.concat(frames, how="vertical")
        .filter(pl.col("as_of").ne_missing(pl.lit(day)))
        .unique(subset=KEY, keep="first", maintain_order=True)
    )
