"""Staging in bounded memory: parse and spill, decide types once, then conform and sort in buckets.

Holding every parsed export file until the types were decided cost about 2.9 GiB at 1M users
(issue 11). Instead, in a local temp folder that the caller removes:

1. each export document is parsed (`parse.parse_document`, two at a time) and its pieces are
   spilled to Arrow IPC files at once; what the type vote needs (schema, values per column, JSON-text
   columns) and the quarantine are all that is kept;
2. `majority.decide` chooses the column types from those votes;
3. the ids (braze_id, file, line) of every row are read: the only whole-day column. They give
   the duplicates (the last line read wins) and the braze_id bounds of buckets of about
   `bucket_rows` users;
4. pieces are read back a group at a time, conformed to the decided types (misfits set aside
   per record and field), counted for the day-wide decisions (custom dates, non-finite numbers,
   empty columns) and split into buckets;
5. each bucket is finished (dates parsed, empty columns dropped, sorted by braze_id, hashed) and
   written as one part; the parts, in bucket order, are the staged table sorted by braze_id.

Peak memory is one group of pieces or one bucket, plus the id column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipeline.braze.export_files import iter_documents
from pipeline.staging import rowhash
from pipeline.staging import schema as sc
from pipeline.staging.majority import PieceTypes, decide
from pipeline.staging.parse import FILE, LINE, RAW_LIMIT, Document, Quarantined, parse_document
from pipeline.staging.types import JsonText, Target, conform_frame, json_text
from pipeline.storage import ObjectStore

BUCKET_ROWS = 100_000  # users finished (sorted, hashed, written) at once
GROUP_ROWS = 100_000  # rows of pieces conformed at once
SPILL = "uncompressed"  # Arrow IPC: any type (a struct without fields too); lz4 cost 0.6 CPU-s per 100k users
MISFIT_SCHEMA = {FILE: pl.UInt32, LINE: pl.UInt32, sc.KEY: pl.String, "field": pl.String, "reason": pl.String,
                 "raw": pl.String}  # fmt: skip


@dataclass
class Spilled:
    """One parsed piece on disk, and its votes."""

    path: Path
    file: int  # index of its document among all documents of the day
    schema: dict[str, pl.DataType]
    values: dict[str, int]
    json_columns: frozenset[str]
    rows: int


@dataclass
class Parts:
    """The staged table as sorted parts on disk, and what was left out of it."""

    paths: list[Path]
    schema: dict[str, pl.DataType]
    rows: int
    docs: list[Document]
    duplicates: list[tuple[str, int, str]]  # (source, line, reason) of rows dropped as duplicates
    misfits: pl.DataFrame  # values left out of staged rows (MISFIT_SCHEMA)
    json_columns: list[str] = field(default_factory=list)

    def scan(self) -> pl.LazyFrame:
        if not self.paths:
            return pl.LazyFrame(schema=self.schema)
        return pl.scan_ipc(self.paths)


def spill_documents(
    store: ObjectStore, keys: list[str], folder: Path, workers: int, done: Callable[[int], None]
) -> tuple[list[Document], list[Spilled], dict[str, str]]:
    """Pass 1: parse every document of `keys` and spill its pieces; returns the documents (without
    pieces), the spilled pieces in reading order, and the key each document came from."""

    def one(position: int) -> list[tuple[Document, list[Spilled]]]:
        out = []
        for number, (source, data) in enumerate(iter_documents(store, keys[position])):
            doc = parse_document(source, data)
            pieces = []
            for index, piece in enumerate(doc.pieces):
                path = folder / f"piece-{position}-{number}-{index}.arrow"
                piece.frame.write_ipc(path, compression=SPILL)
                schema = dict(piece.frame.schema)
                pieces.append(
                    Spilled(path, -1, schema, _value_counts(piece.frame), piece.json_columns, piece.frame.height)
                )
            doc.pieces = []
            out.append((doc, pieces))
        return out

    docs, spilled, key_of = [], [], {}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        try:
            for position, items in enumerate(pool.map(one, range(len(keys)))):
                for doc, pieces in items:
                    for piece in pieces:
                        piece.file = len(docs)
                    spilled += pieces
                    key_of[doc.source] = keys[position]
                    docs.append(doc)
                done(position + 1)
        except BaseException:
            pool.shutdown(cancel_futures=True)  # a failed file fails the day: parse no more of it
            raise
    return docs, spilled, key_of


def _value_counts(frame: pl.DataFrame) -> dict[str, int]:
    """Values (non-null) per column: a piece's votes in `majority.decide`."""
    return {name: frame.height - nulls for name, nulls in frame.null_count().row(0, named=True).items()}


def _read(piece: Spilled) -> pl.DataFrame:
    return pl.read_ipc(piece.path).with_columns(pl.lit(piece.file, pl.UInt32).alias(FILE))


def stage_parts(
    docs: list[Document],
    pieces: list[Spilled],
    fields: Sequence[str],
    folder: Path,
    bucket_rows: int = BUCKET_ROWS,
) -> Parts:
    """Passes 2-5 over the spilled `pieces` of `docs`; the parts are written under `folder`."""
    sources = [doc.source for doc in docs]
    decision = decide(
        [PieceTypes(p.schema, p.values, p.json_columns) for p in pieces],
        fixed={sc.KEY: pl.String(), LINE: pl.UInt32(), FILE: pl.UInt32()},
    )
    targets = decision.targets
    dropped, duplicates, edges = _duplicates(pieces, sources, bucket_rows)
    misfits = [_parse_misfits(docs)]
    day = _DayFacts(targets)
    groups: list[list[int]] = [[]]
    rows_in_group = 0
    for index, piece in enumerate(pieces):
        if groups[-1] and rows_in_group + piece.rows > GROUP_ROWS:
            groups.append([])
            rows_in_group = 0
        groups[-1].append(index)
        rows_in_group += piece.rows
    for number, group in enumerate(groups):
        frames = []
        for index in group:
            frame, bad = _read(pieces[index]), decision.misfits[index]
            pieces[index].path.unlink()  # read once: the disk holds the day about once
            misfits.append(_misfits(frame, pieces[index].json_columns, bad))
            frames.append(conform_frame(frame.drop(*bad), targets, keep_as_is=pieces[index].json_columns))
        if not frames:
            continue
        users = pl.concat(frames, how="vertical")
        del frames
        users, non_finite = day.count(users)
        misfits.append(non_finite)
        if dropped.height:
            users = users.join(dropped, on=[FILE, LINE], how="anti")
        if not len(edges):  # one bucket: nothing to split
            users.write_ipc(folder / f"bucket-{0:06d}-{number:06d}.arrow", compression=SPILL)
            continue
        bucket = pl.lit(edges).search_sorted(pl.col(sc.KEY), side="right").alias("_bucket")
        for (key,), part in users.with_columns(bucket).partition_by("_bucket", as_dict=True).items():
            part.drop("_bucket").write_ipc(folder / f"bucket-{key:06d}-{number:06d}.arrow", compression=SPILL)
    times, empty, missing = day.decisions(fields)
    paths, rows, schema = [], 0, {}
    for bucket in range(len(edges) + 1):
        inputs = sorted(folder.glob(f"bucket-{bucket:06d}-*.arrow"))
        if not inputs:
            continue
        users = _finish(pl.concat([pl.read_ipc(p) for p in inputs]), times, empty, missing)
        for path in inputs:
            path.unlink()
        path = folder / f"part-{bucket:06d}.arrow"
        users.write_ipc(path, compression=SPILL)
        paths.append(path)
        rows += users.height
        schema = dict(users.schema)
    if not paths:
        empty_day = conform_frame(pl.DataFrame(schema={sc.KEY: pl.String, LINE: pl.UInt32, FILE: pl.UInt32}), targets)
        schema = dict(_finish(empty_day, times, empty, missing).schema)  # type: ignore[arg-type]
    kept = pl.concat([m for m in misfits if m is not None], how="vertical") if any(
        m is not None for m in misfits
    ) else pl.DataFrame(schema=MISFIT_SCHEMA)  # fmt: skip
    if dropped.height:
        kept = kept.join(dropped, on=[FILE, LINE], how="anti")
    json_columns = sorted(n for n, target in targets.items() if isinstance(target, JsonText) and n in schema)
    return Parts(paths, schema, rows, docs, duplicates, kept, json_columns)


def _duplicates(
    pieces: list[Spilled], sources: list[str], bucket_rows: int
) -> tuple[pl.DataFrame, list[tuple[str, int, str]], pl.Series]:
    """Pass 3: rows dropped as duplicates (file, line), their quarantine entries, and bucket bounds.

    Reads only braze_id, file and line of every row: one row per braze_id, the last one read.
    """
    frames = [
        pl.scan_ipc(p.path).select(sc.KEY, LINE).with_columns(pl.lit(p.file, pl.UInt32).alias(FILE)) for p in pieces
    ]
    schema = {sc.KEY: pl.String, LINE: pl.UInt32, FILE: pl.UInt32}
    ids = pl.concat(frames).collect() if frames else pl.DataFrame(schema=schema)
    ids = ids.sort([sc.KEY, FILE, LINE])
    last = ids.select(pl.col(sc.KEY).is_last_distinct()).to_series()
    kept_keys = ids.filter(last).get_column(sc.KEY)
    edges = kept_keys.gather_every(max(1, bucket_rows), offset=max(1, bucket_rows)) if kept_keys.len() else kept_keys
    dropped = ids.filter(~last)
    if not dropped.height:
        return dropped.select(FILE, LINE), [], edges
    kept = ids.filter(last).join(dropped.select(sc.KEY).unique(), on=sc.KEY, how="semi")
    kept = kept.select(sc.KEY, pl.col(FILE).alias("kept_file"), pl.col(LINE).alias("kept_line"))
    joined = dropped.join(kept, on=sc.KEY, how="left", maintain_order="left")
    out = []
    for braze_id, line, file, kept_file, kept_line in joined.select(
        sc.KEY, LINE, FILE, "kept_file", "kept_line"
    ).iter_rows():  # fmt: skip
        reason = f"duplicate braze_id {braze_id}: the later line {sources[kept_file]}:{kept_line} was kept"
        out.append((sources[file], line, reason))
    return dropped.select(FILE, LINE), out, edges


class _DayFacts:
    """Counts over every row of the day that decide custom dates, non-finite numbers and empty columns."""

    def __init__(self, targets: dict[str, Target]) -> None:
        self.targets = targets
        self.values = dict.fromkeys(targets, 0)
        self.dates = {n: True for n, t in targets.items() if n.startswith(sc.CUSTOM_PREFIX) and t == pl.String}
        self.floats = [n for n, t in targets.items() if isinstance(t, pl.DataType) and t.is_float()
                       and not n.startswith("_")]  # fmt: skip

    def count(self, users: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame | None]:
        """Count one group (after conforming); returns it with non-finite numbers nulled, and those as misfits."""
        users, non_finite = _without_non_finite(users, self.floats)
        counts = users.select(pl.all().count()).row(0, named=True)
        for name, count in counts.items():
            self.values[name] += count
        open_dates = [n for n, ok in self.dates.items() if ok and counts[n]]
        if open_dates:  # the cheap test first: the group's first value of each
            firsts = users.select(sc.parse_time(pl.col(n).drop_nulls().first()).is_not_null() for n in open_dates)
            for name, first_is_time in zip(open_dates, firsts.row(0), strict=True):
                self.dates[name] = bool(first_is_time)
            open_dates = [n for n in open_dates if self.dates[n]]
        if open_dates:
            checks = users.select(
                (pl.col(n).is_not_null() & sc.parse_time(pl.col(n)).is_null()).not_().all().alias(n) for n in open_dates
            ).row(0, named=True)
            for name, all_times in checks.items():
                self.dates[name] = bool(all_times)
        return users, non_finite

    def decisions(self, fields: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
        """Custom columns that are dates, columns to drop as empty, requested standard fields to add."""
        times = [n for n, ok in self.dates.items() if ok and self.values[n]]
        missing = [f for f in fields if f in sc.STANDARD.names and f not in self.targets]
        keep = {sc.KEY, LINE, FILE, *fields}
        empty = [
            n for n, count in self.values.items()
            if n not in keep and (not count or self.targets[n] == pl.Null)
        ]  # fmt: skip
        return times, empty, missing


def _finish(users: pl.DataFrame, times: list[str], empty: list[str], missing: list[str]) -> pl.DataFrame:
    """One bucket as staged: dates parsed, empty columns dropped, sorted by braze_id, hashed."""
    users = users.with_columns(sc.parse_time(pl.col(n)).alias(n) for n in times)
    users = users.with_columns(pl.lit(None, sc.polars_type(f)).alias(f) for f in missing).drop(empty)
    users = users.sort(sc.KEY).drop(FILE, LINE)
    return rowhash.with_row_hash(users.select(_column_order(users.columns)))


def _column_order(columns: list[str]) -> list[str]:
    """braze_id, standard fields by name, then custom attributes by name."""
    data = [c for c in columns if not c.startswith("_") and c != sc.KEY]
    standard = sorted(c for c in data if not c.startswith(sc.CUSTOM_PREFIX))
    return [sc.KEY, *standard, *sorted(c for c in data if c.startswith(sc.CUSTOM_PREFIX))]


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


def _without_non_finite(users: pl.DataFrame, floats: list[str]) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """`users` with infinite and NaN numbers made null, and those values as misfits.

    JSON has no such numbers, but the parser reads `NaN` and `Infinity`, and a number beyond
    ±1.8e308 becomes infinite; sent on to Braze they would arrive as null (issue 8).
    """
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
    return pl.DataFrame(rows, schema=MISFIT_SCHEMA, orient="row")


def quarantined_values(parts: Parts) -> list[Quarantined]:
    """Quarantine entries of the values left out of staged rows (rows dropped as duplicates excepted)."""
    sources = [doc.source for doc in parts.docs]
    return [
        Quarantined(sources[file], line, reason, raw, field=name, braze_id=braze_id)
        for file, line, braze_id, name, reason, raw in parts.misfits.iter_rows()
    ]
