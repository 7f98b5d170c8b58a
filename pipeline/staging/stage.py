"""Stage one day's export: every document parsed, merged to one type per column, deduplicated, hashed.

The work itself is in `pipeline.staging.spill` (bounded memory); this module is its API and the
publishing of the staged copy and its quarantine.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipeline import layout
from pipeline.braze.export_files import iter_lines
from pipeline.progress import Counts, Pace, Progress, ProgressLine
from pipeline.staging import rowhash
from pipeline.staging.parse import Quarantined
from pipeline.staging.spill import BUCKET_ROWS, quarantined_values, spill_documents, stage_parts
from pipeline.storage import ObjectStore
from pipeline.storage.parquet import parquet_source, write_parquet

WORKERS = 2  # documents parsed at once; pyarrow and zlib release the GIL
JSON_TEXT_KEY = "profilesync.json_text_columns"  # Parquet metadata: columns holding JSON text


@dataclass
class StageResult:
    """The staged frame of one day, and what was left out of it.

    `users` is a DataFrame from `stage_export`, and from `staged_export` a LazyFrame over the
    staged parts on local disk (valid inside its `with` block); `rows` counts it either way.
    """

    users: pl.DataFrame | pl.LazyFrame
    quarantine: list[Quarantined] = field(default_factory=list)
    lines_read: int = 0  # non-blank lines: always rows + quarantined
    blank_lines: int = 0
    sources: list[str] = field(default_factory=list)
    json_columns: list[str] = field(default_factory=list)  # String columns holding JSON text (type rule)
    rows: int = 0


@contextmanager
def staged_export(
    store: ObjectStore,
    keys: Iterable[str],
    fields: Sequence[str] = (),
    workers: int = WORKERS,
    progress: Progress = lambda message: None,
    label: str = "staging",
    spill_dir: str | Path | None = None,
    bucket_rows: int = BUCKET_ROWS,
) -> Iterator[StageResult]:
    """Stage the export objects `keys` (in that order) in bounded memory (`pipeline.staging.spill`).

    Yields a result whose `users` is a LazyFrame over sorted parts in a temp folder under
    `spill_dir` (the system's temp folder by default), removed when the block ends, failed or not.
    `fields` names the standard fields that were requested: they get a column even when no user
    has a value. Other columns exist only when some user has a value, since Braze leaves empty
    keys out and a requested field cannot be told from an absent one. `progress` hears of the
    files parsed so far (`label` names the work).
    """
    keys = list(keys)
    pace = Pace(len(keys))

    def done(count: int) -> None:
        if pace.due(count):
            counts = Counts(label, count, len(keys), "files", finished=count == len(keys))
            progress(ProgressLine(f"{label}: {count:,}/{len(keys):,} export files parsed", counts))

    with tempfile.TemporaryDirectory(prefix="profilesync-staging-", dir=spill_dir) as folder:
        docs, pieces, key_of = spill_documents(store, keys, Path(folder), workers, done)
        parts = stage_parts(docs, pieces, fields, Path(folder), bucket_rows)
        quarantine = [q for doc in docs for q in doc.quarantined] + _with_raw(store, parts.duplicates, key_of)
        quarantine += quarantined_values(parts)
        order = {doc.source: index for index, doc in enumerate(docs)}
        quarantine.sort(key=lambda q: (order[q.source], q.line, q.field or ""))
        yield StageResult(
            users=parts.scan(),
            quarantine=quarantine,
            lines_read=sum(doc.lines for doc in docs),
            blank_lines=sum(doc.blank for doc in docs),
            sources=[doc.source for doc in docs],
            json_columns=parts.json_columns,
            rows=parts.rows,
        )


def stage_export(
    store: ObjectStore,
    keys: Iterable[str],
    fields: Sequence[str] = (),
    workers: int = WORKERS,
    progress: Progress = lambda message: None,
    label: str = "staging",
    spill_dir: str | Path | None = None,
    bucket_rows: int = BUCKET_ROWS,
) -> StageResult:
    """`staged_export` with the staged frame in memory (tests, small days)."""
    with staged_export(store, keys, fields, workers, progress, label, spill_dir, bucket_rows) as result:
        result.users = result.users.collect()  # type: ignore[union-attr]
        return result


def _with_raw(store: ObjectStore, entries: list[tuple[str, int, str]], key_of: dict[str, str]) -> list[Quarantined]:
    """Quarantine entries for rows dropped after parsing; their raw lines are read again."""
    wanted: dict[str, dict[tuple[str, int], str]] = defaultdict(dict)
    for source, line, reason in entries:
        wanted[key_of[source]][(source, line)] = reason
    out = []
    for key, reasons in wanted.items():
        for source, line, raw in iter_lines(store, key):
            reason = reasons.get((source, line))
            if reason is not None:
                out.append(Quarantined.of(source, line, reason, raw))
    return out


def write_staged(store: ObjectStore, connection: str, goal: str, day: str, result: StageResult) -> dict[str, object]:
    """Publish the staged copy and its quarantine file; returns counts and keys for the run's metadata.

    The quarantine file is written first (empty when nothing was quarantined) and the Parquet
    file last, since the Parquet file is what marks the day as staged.
    """
    rows = result.rows if isinstance(result.users, pl.LazyFrame) else result.users.height
    quarantined = sum(1 for q in result.quarantine if q.field is None)
    if result.lines_read != rows + quarantined:
        raise AssertionError(f"staging lost lines: {result.lines_read} read, {rows} staged, {quarantined} quarantined")
    users_key = layout.staged_users(connection, goal, day)
    quarantine_key = layout.staged_quarantine(connection, goal, day)
    store.write_bytes(quarantine_key, "".join(q.to_json() + "\n" for q in result.quarantine).encode())
    size = publish_parquet(store, users_key, result.users, result.json_columns)
    return {
        "rows": rows,
        "quarantined": quarantined,
        "quarantined_fields": len(result.quarantine) - quarantined,
        "lines_read": result.lines_read,
        "blank_lines": result.blank_lines,
        "files": len(result.sources),
        "columns": len(rowhash.data_columns(result.users.collect_schema())),
        "users_key": users_key,
        "quarantine_key": quarantine_key,
        "bytes": size,
    }


def publish_parquet(
    store: ObjectStore,
    key: str,
    frame: pl.DataFrame | pl.LazyFrame,
    json_columns: Sequence[str],
    metadata: Mapping[str, str] | None = None,
) -> int:
    """`write_parquet` with the JSON-text columns (and any other `metadata`) in the file's metadata.

    The marker travels with the file because a String column of JSON text cannot be told from
    a String column of plain text, and the delta must not JSON-encode such a column twice. A
    frame with `_row_hash` also records the fingerprint's scheme (`rowhash.scheme()`).
    """
    facts = {**(metadata or {}), JSON_TEXT_KEY: json.dumps(sorted(json_columns))}
    schema = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
    if rowhash.HASH_COLUMN in schema:  # fingerprints are only comparable under the same scheme
        facts[rowhash.SCHEME_KEY] = rowhash.scheme()
    return write_parquet(store, key, frame, facts)


def json_text_columns(store: ObjectStore, key: str) -> list[str]:
    """The columns of a Parquet file written by `publish_parquet` that hold JSON text."""
    metadata = pl.read_parquet_metadata(parquet_source(store, key))
    return json.loads(metadata.get(JSON_TEXT_KEY, "[]"))


def row_hash_scheme(store: ObjectStore, key: str) -> str | None:
    """How the `_row_hash` column of a file written by `publish_parquet` was computed (None: unknown)."""
    return pl.read_parquet_metadata(parquet_source(store, key)).get(rowhash.SCHEME_KEY)
