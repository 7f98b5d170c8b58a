"""Metadata helpers: counts under standard keys, and small previews for the UI."""

from __future__ import annotations

from typing import Any

import dagster as dg
import polars as pl


def _cell(value: Any) -> str | int | float | bool | None:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)  # lists, structs, dates: shown as text


def preview(frame: pl.DataFrame | None, rows: int = 5, columns: int = 12) -> dg.MetadataValue:
    """The first rows of a frame as a table; wide frames are cut to their first columns."""
    if frame is None or frame.is_empty():
        return dg.MetadataValue.md("_no rows_")
    shown = frame.head(rows).select(frame.columns[:columns])
    return dg.MetadataValue.table(
        records=[dg.TableRecord({k: _cell(v) for k, v in row.items()}) for row in shown.iter_rows(named=True)],
        schema=dg.TableSchema(columns=[dg.TableColumn(name, str(dtype)) for name, dtype in shown.schema.items()]),
    )


def counts(values: dict[str, Any], *names: str) -> dict[str, Any]:
    """The named counts, as ints (metadata shows them as numbers and plots them over time)."""
    return {name: int(values.get(name) or 0) for name in names}
