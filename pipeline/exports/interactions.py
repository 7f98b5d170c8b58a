"""Interactions: which profile viewed which interaction, a profile input fed by the data engineer.

Files dropped under `inputs/interactions/` in the store (CSV or Parquet) hold three columns:
an identifier column named after a profile identifier kind (e.g. `external_id`), then
`interaction_id` and `viewed_at` (ISO 8601). The `interactions` asset publishes, per day, every
interaction viewed up to the end of that day, so export goals read a stable table.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time, timedelta

import polars as pl

from pipeline import layout
from pipeline.storage import ObjectNotFound, ObjectStore
from pipeline.storage.parquet import read_parquet, write_parquet

SCHEMA = pl.Schema(
    {"kind": pl.String(), "value": pl.String(), "interaction_id": pl.String(), "viewed_at": pl.Datetime("us", "UTC")}
)
REQUIRED = ("interaction_id", "viewed_at")


class InteractionsError(ValueError):
    """An interactions file is unusable; the message names the file, the line and the fix."""


def _read(store: ObjectStore, key: str) -> pl.DataFrame:
    data = store.read_bytes(key)
    if key.endswith(".parquet"):
        return pl.read_parquet(io.BytesIO(data))
    if key.endswith(".csv"):
        return pl.read_csv(io.BytesIO(data), infer_schema=False)
    raise InteractionsError(f"{store.uri(key)}: unsupported file type; use .csv or .parquet")


def _normalise(frame: pl.DataFrame, where: str) -> pl.DataFrame:
    missing = [c for c in REQUIRED if c not in frame.columns]
    kinds = [c for c in frame.columns if c not in REQUIRED]
    if missing or len(kinds) != 1:
        raise InteractionsError(
            f"{where}: columns are {frame.columns}; use exactly three: an identifier column named after a "
            "profile identifier (e.g. external_id), interaction_id, viewed_at"
        )
    kind = kinds[0]
    out = frame.select(
        pl.lit(kind).alias("kind"),
        pl.col(kind).cast(pl.String).alias("value"),
        pl.col("interaction_id").cast(pl.String),
        pl.col("viewed_at").cast(pl.String).str.to_datetime(time_zone="UTC", strict=False, time_unit="us"),
    )
    bad = out.with_row_index("line", offset=2).filter(  # line 1 is the CSV header
        pl.col("viewed_at").is_null() | pl.col("value").is_null() | pl.col("interaction_id").is_null()
    )
    if not bad.is_empty():
        line = bad["line"][0]
        raise InteractionsError(
            f"{where}: line {line} has an empty identifier or interaction_id, or a viewed_at that is not "
            f"ISO 8601 ({bad.height} such rows); fix or remove them"
        )
    return out


def publish_interactions(store: ObjectStore, day: str) -> dict[str, object]:
    """Publish every interaction viewed by the end of `day`; returns counts for the metadata."""
    keys = [info.key for info in store.list(layout.INTERACTIONS_INBOX) if info.key.endswith((".csv", ".parquet"))]
    frames = [_normalise(_read(store, key), store.uri(key)) for key in keys]
    table = pl.concat(frames) if frames else SCHEMA.to_frame()
    end_of_day = datetime.combine(date.fromisoformat(day) + timedelta(days=1), time(), tzinfo=UTC)
    published = table.filter(pl.col("viewed_at") < end_of_day).unique()
    published = published.sort("kind", "value", "viewed_at", "interaction_id")
    key = layout.interactions(day)
    write_parquet(store, key, published)
    return {"files": len(keys), "rows": published.height, "later_rows": table.height - published.height, "key": key}


def read_interactions(store: ObjectStore, day: str) -> pl.DataFrame:
    try:
        return read_parquet(store, layout.interactions(day))
    except ObjectNotFound:
        raise ObjectNotFound(
            f"{store.uri(layout.interactions(day))} does not exist; materialize the interactions asset for {day}"
        ) from None
