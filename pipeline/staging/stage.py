"""Stage one day's export: every document parsed, merged to one type per column, deduplicated, hashed."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl

from pipeline import layout
from pipeline.braze.export_files import iter_documents, iter_lines
from pipeline.progress import Counts, Pace, Progress, ProgressLine
from pipeline.staging import rowhash
from pipeline.staging import schema as sc
from pipeline.staging.majority import PieceTypes, decide
from pipeline.staging.parse import FILE, LINE, RAW_LIMIT, Document, Quarantined, parse_document
from pipeline.staging.types import JsonText, conform_frame, json_text
from pipeline.storage import ObjectStore
from pipeline.storage.parquet import parquet_source, write_parquet

WORKERS = 2  # documents parsed at once; pyarrow and zlib release the GIL
JSON_TEXT_KEY = "profilesync.json_text_columns"  # Parquet metadata: columns holding JSON text


@dataclass
class StageResult:
    """The staged frame of one day, and what was left out of it."""

    users: pl.DataFrame
    quarantine: list[Quarantined] = field(default_factory=list)
    lines_read: int = 0  # non-blank lines: always rows + quarantined
    blank_lines: int = 0
    sources: list[str] = field(default_factory=list)
    json_columns: list[str] = field(default_factory=list)  # String columns holding JSON text (type rule)


def _parse_object(store: ObjectStore, key: str) -> list[tuple[str, Document]]:
    return [(key, parse_document(source, data)) for source, data in iter_documents(store, key)]


def stage_export(
    store: ObjectStore,
    keys: Iterable[str],
    fields: Sequence[str] = (),
    workers: int = WORKERS,
    progress: Progress = lambda message: None,
    label: str = "staging",
) -> StageResult:
    """Parse the export objects `keys` (in that order) into one staged frame.

    `fields` names the standard fields that were requested: they get a column even when no user
    has a value. Other columns exist only when some user has a value, since Braze leaves empty
    keys out and a requested field cannot be told from an absent one. `progress` hears of the
    files parsed so far (`label` names the work).
    """
    keys = list(keys)
    parsed: list[tuple[str, Document]] = []
    pace = Pace(len(keys))
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for done, items in enumerate(pool.map(lambda k: _parse_object(store, k), keys), start=1):
            parsed += items
            if pace.due(done):
                counts = Counts(label, done, len(keys), "files", finished=done == len(keys))
                progress(ProgressLine(f"{label}: {done:,}/{len(keys):,} export files parsed", counts))
    key_of = {doc.source: key for key, doc in parsed}
    docs = [doc for _key, doc in parsed]
    pieces = [
        (piece.frame.with_columns(pl.lit(index, pl.UInt32).alias(FILE)), piece.json_columns)
        for index, doc in enumerate(docs)
        for piece in doc.pieces
    ]
    for doc in docs:
        doc.pieces = []  # let the per-document frames go once merged
    decision = decide(
        [PieceTypes(frame.schema, _value_counts(frame), json_columns) for frame, json_columns in pieces],
        fixed={sc.KEY: pl.String(), LINE: pl.UInt32(), FILE: pl.UInt32()},
    )
    targets = decision.targets
    misfits, frames = [], []
    for (frame, json_columns), bad in zip(pieces, decision.misfits, strict=True):
        misfits.append(_misfits(frame, json_columns, bad))  # values of another shape, set aside
        frames.append(conform_frame(frame.drop(*bad), targets, keep_as_is=json_columns))
    users = pl.concat(frames, how="vertical") if frames else pl.DataFrame(schema=targets)  # type: ignore[arg-type]
    del frames, pieces
    users = _detect_custom_times(users)
    users, non_finite = _without_non_finite(users)
    misfits.append(non_finite)
    users = _drop_empty(users, fields)
    users, duplicates = _deduplicate(users, [doc.source for doc in docs])
    sources = [doc.source for doc in docs]
    quarantine = [q for doc in docs for q in doc.quarantined] + _with_raw(store, duplicates, key_of)
    misfits.append(_parse_misfits(docs))
    quarantine += _field_quarantine(users, [m for m in misfits if m is not None], sources)
    order = {doc.source: index for index, doc in enumerate(docs)}
    quarantine.sort(key=lambda q: (order[q.source], q.line, q.field or ""))
    users = users.drop(FILE, LINE).select(_column_order(users.columns))
    json_columns = [n for n, target in targets.items() if isinstance(target, JsonText) and n in users.columns]
    return StageResult(
        users=rowhash.with_row_hash(users),
        quarantine=quarantine,
        lines_read=sum(doc.lines for doc in docs),
        blank_lines=sum(doc.blank for doc in docs),
        sources=[doc.source for doc in docs],
        json_columns=sorted(json_columns),
    )


def _value_counts(frame: pl.DataFrame) -> dict[str, int]:
    """Values (non-null) per column: a piece's votes in `majority.decide`."""
    return {name: frame.height - nulls for name, nulls in frame.null_count().row(0, named=True).items()}


def _misfits(frame: pl.DataFrame, json_columns: frozenset[str], bad: dict[str, str]) -> pl.DataFrame | None:
    """(file, line, braze_id, field, reason, raw) of every value in the `bad` columns of a piece."""
    parts = []
    for name, reason in bad.items():
        if not reason:
            continue  # the piece has no value there
        raw = pl.col(name) if name in json_columns else json_text(pl.col(name), frame.schema[name])
        parts.append(
            frame.filter(pl.col(name).is_not_null()).select(
                FILE, LINE, sc.KEY, pl.lit(name).alias("field"), pl.lit(reason).alias("reason"),
                raw.str.head(RAW_LIMIT).alias("raw"),
            )
        )  # fmt: skip
    return pl.concat(parts) if parts else None


def _without_non_finite(users: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """`users` with infinite and NaN numbers made null, and those values as misfits.

    JSON has no such numbers, but the parser reads `NaN` and `Infinity`, and a number beyond
    ±1.8e308 becomes infinite; sent on to Braze they would arrive as null (issue 8).
    """
    floats = [n for n, dtype in users.schema.items() if dtype.is_float() and not n.startswith("_")]
    if not floats or not users.height:
        return users, None
    flags = users.select((pl.col(n).is_infinite() | pl.col(n).is_nan()).any() for n in floats).row(0)
    bad = [name for name, flag in zip(floats, flags, strict=True) if flag]
    if not bad:
        return users, None
    parts = [
        users.filter(pl.col(n).is_not_null() & ~pl.col(n).is_finite()).select(
            FILE, LINE, sc.KEY, pl.lit(n).alias("field"),
            pl.format("{} is not a finite number ({}); JSON numbers stop at ±1.8e308 and Braze would "
                      "store null", pl.lit(n), pl.col(n)).alias("reason"),
            pl.col(n).cast(pl.String).alias("raw"),
        )
        for n in bad
    ]  # fmt: skip
    return users.with_columns(pl.when(pl.col(n).is_finite()).then(pl.col(n)).alias(n) for n in bad), pl.concat(parts)


def _parse_misfits(docs: list[Document]) -> pl.DataFrame | None:
    """The values the parser left out of their lines (a standard field of the wrong type), as misfits."""
    rows = [
        (index, q.line, q.braze_id, q.field, q.reason, q.raw)
        for index, doc in enumerate(docs)
        for q in doc.field_quarantined
    ]
    if not rows:
        return None
    schema = {FILE: pl.UInt32, LINE: pl.UInt32, sc.KEY: pl.String, "field": pl.String, "reason": pl.String}
    return pl.DataFrame(rows, schema={**schema, "raw": pl.String}, orient="row")


def _field_quarantine(users: pl.DataFrame, misfits: list[pl.DataFrame], sources: list[str]) -> list[Quarantined]:
    """Quarantine entries of the values left out of staged rows (rows dropped as duplicates excepted)."""
    if not misfits:
        return []
    kept = pl.concat(misfits).join(users.select(FILE, LINE), on=[FILE, LINE], how="semi")
    return [
        Quarantined(sources[file], line, reason, raw, field=name, braze_id=braze_id)
        for file, line, braze_id, name, reason, raw in kept.iter_rows()
    ]


def _detect_custom_times(users: pl.DataFrame) -> pl.DataFrame:
    """A custom text attribute whose every value is a Braze date becomes Datetime(us, UTC)."""
    candidates = [
        name for name, dtype in users.schema.items() if name.startswith(sc.CUSTOM_PREFIX) and dtype == pl.String
    ]
    if not candidates or not users.height:
        return users
    firsts = users.select(sc.parse_time(pl.col(n).drop_nulls().first()).is_not_null() for n in candidates).row(0)
    candidates = [n for n, first_is_time in zip(candidates, firsts, strict=True) if first_is_time]  # cheap test first
    if not candidates:
        return users
    checks = users.select(
        (
            pl.col(n).is_not_null().any() & (pl.col(n).is_not_null() & sc.parse_time(pl.col(n)).is_null()).not_().all()
        ).alias(n)
        for n in candidates
    ).row(0, named=True)
    times = [name for name, all_times in checks.items() if all_times]
    return users.with_columns(sc.parse_time(pl.col(n)).alias(n) for n in times) if times else users


def _drop_empty(users: pl.DataFrame, fields: Sequence[str]) -> pl.DataFrame:
    """Drop columns without a single value, except braze_id and the requested standard fields."""
    keep = {sc.KEY, LINE, FILE}
    missing = [f for f in fields if f in sc.STANDARD.names and f not in users.columns]
    users = users.with_columns(pl.lit(None, sc.polars_type(f)).alias(f) for f in missing)
    keep |= set(fields)
    counts = users.null_count().row(0, named=True) if users.height else dict.fromkeys(users.columns, 0)
    empty = [
        name
        for name, nulls in counts.items()
        if name not in keep and (nulls == users.height or users.schema[name] == pl.Null)
    ]
    return users.drop(empty)


def _deduplicate(users: pl.DataFrame, sources: list[str]) -> tuple[pl.DataFrame, list[tuple[str, int, str]]]:
    """One row per braze_id, the last one read; the others as (source, line, reason)."""
    users = users.sort([sc.KEY, FILE, LINE])
    last = pl.col(sc.KEY).is_last_distinct()
    dropped = users.filter(~last).select(sc.KEY, FILE, LINE)
    if not dropped.height:
        return users, []
    users = users.filter(last)
    kept = users.select(sc.KEY, pl.col(FILE).alias("kept_file"), pl.col(LINE).alias("kept_line"))
    dropped = dropped.join(kept, on=sc.KEY, how="left", maintain_order="left")
    out = []
    for braze_id, file, line, kept_file, kept_line in dropped.iter_rows():
        reason = f"duplicate braze_id {braze_id}: the later line {sources[kept_file]}:{kept_line} was kept"
        out.append((sources[file], line, reason))
    return users, out


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


def _column_order(columns: list[str]) -> list[str]:
    """braze_id, standard fields by name, then custom attributes by name."""
    data = [c for c in columns if not c.startswith("_") and c != sc.KEY]
    standard = sorted(c for c in data if not c.startswith(sc.CUSTOM_PREFIX))
    return [sc.KEY, *standard, *sorted(c for c in data if c.startswith(sc.CUSTOM_PREFIX))]


def write_staged(store: ObjectStore, connection: str, goal: str, day: str, result: StageResult) -> dict[str, object]:
    """Publish the staged copy and its quarantine file; returns counts and keys for the run's metadata.

    The quarantine file is written first (empty when nothing was quarantined) and the Parquet
    file last, since the Parquet file is what marks the day as staged.
    """
    rows = result.users.height
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
        "columns": len(rowhash.data_columns(result.users.schema)),
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
