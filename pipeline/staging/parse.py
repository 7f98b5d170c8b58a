"""One JSON-lines document → typed Polars pieces, with every line accounted for.

Fast path: the whole document through `pyarrow.json` with the explicit standard schema (custom
attributes inferred over the whole document, which is one parse block). Slow path, only when the
fast parse fails: each line is checked with `json.loads` (bad JSON and non-objects are
quarantined with their line number), then the good lines are parsed again in halves until every
part parses, so an attribute whose type changes within the file yields a few pieces with
different types (decided later by `pipeline.staging.majority`) instead of a lost file. A single
line that still fails loses only its standard fields that do not fit the schema (quarantined per
field; the whole line when braze_id is the one); when only a custom attribute is irregular (a
list mixing numbers and text), that attribute is kept as JSON text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import polars as pl
import pyarrow as pa
import pyarrow.json as pj

from pipeline.braze.export_files import split_lines
from pipeline.staging import schema as sc

RAW_LIMIT = 2_000
LINE, FILE, PROBLEM = "_line", "_file", "_problem"
_PARSE = pj.ParseOptions(explicit_schema=sc.STANDARD, unexpected_field_behavior="infer")
_INNER_BLANK = re.compile(rb"\n[ \t\r\x0b\x0c]*\n")  # starts with a literal, so the search is fast


@dataclass(frozen=True)
class Quarantined:
    """A line that is not staged, or (`field` set) one value left out of a staged line; and why.

    `raw` is the line, or for a field the value's JSON text; `braze_id` is set when known.
    """

    source: str
    line: int
    reason: str
    raw: str
    field: str | None = None
    braze_id: str | None = None

    @classmethod
    def of(cls, source: str, line: int, reason: str, raw: bytes) -> Quarantined:
        return cls(source, line, reason, raw.decode("utf-8", errors="replace")[:RAW_LIMIT])

    def to_json(self) -> str:
        return json.dumps(
            {"source": self.source, "line": self.line, "field": self.field, "braze_id": self.braze_id,
             "reason": self.reason, "raw": self.raw}
        )  # fmt: skip


@dataclass
class Piece:
    """Rows of one document that parsed together: data columns plus `_line`."""

    frame: pl.DataFrame
    json_columns: frozenset[str] = frozenset()


@dataclass
class Document:
    source: str
    pieces: list[Piece] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    field_quarantined: list[Quarantined] = field(default_factory=list)  # values left out of staged lines
    lines: int = 0  # non-blank lines
    blank: int = 0


def _read(data: bytes) -> pa.Table:
    options = pj.ReadOptions(use_threads=False, block_size=max(len(data) + 1, 1 << 16))
    return pj.read_json(pa.BufferReader(data), read_options=options, parse_options=_PARSE)


def parse_document(source: str, data: bytes) -> Document:
    """Parse one document; rows whose braze_id or dates are unusable are quarantined here."""
    numbers, lines = _numbered(data)
    doc = Document(source, lines=len(numbers), blank=(len(lines) - len(numbers)) if lines is not None else 0)
    if not numbers:
        return doc
    try:
        table = _read(data)
        if table.num_rows != len(numbers):
            raise pa.ArrowInvalid(f"{table.num_rows} rows from {len(numbers)} lines")
        parts = [(table, numbers, frozenset[str]())]
    except pa.ArrowInvalid:
        lines = lines if lines is not None else split_lines(data)
        parts = _slow(lines, numbers, doc)
    for table, part_numbers, json_columns in parts:
        frame = normalise(pl.from_arrow(table), part_numbers)  # type: ignore[arg-type]
        if frame[PROBLEM].null_count() < frame.height:  # filtering copies every column: only when needed
            lines = lines if lines is not None else split_lines(data)
            bad = frame.filter(pl.col(PROBLEM).is_not_null())
            for line, reason in bad.select(LINE, PROBLEM).iter_rows():
                doc.quarantined.append(Quarantined.of(source, line, reason, lines[line - 1]))
            frame = frame.filter(pl.col(PROBLEM).is_null())
        if frame.height:
            doc.pieces.append(Piece(frame.drop(PROBLEM), json_columns))
    doc.quarantined.sort(key=lambda q: q.line)
    return doc


def _numbered(data: bytes) -> tuple[list[int], list[bytes] | None]:
    """Numbers of the non-blank lines, and the lines themselves when they had to be split.

    A document without blank lines (the usual case) is numbered without splitting it; when every
    line starts with `{` (an export's lines are objects) that takes two counts and no copy.
    """
    newlines = data.count(b"\n")
    inner = newlines - 1 if data.endswith(b"\n") else newlines  # line endings that start another line
    if data[:1] == b"{" and data.count(b"\n{") == inner:
        return list(range(1, inner + 2)), None
    body = data[:-1] if data.endswith(b"\n") else data
    first, last = body[: body.find(b"\n")] if b"\n" in body else body, body[body.rfind(b"\n") + 1 :]
    if first.strip() and last.strip() and not _INNER_BLANK.search(body):
        return list(range(1, body.count(b"\n") + 2)), None
    lines = split_lines(data)
    return [n for n, line in enumerate(lines, start=1) if line.strip()], lines


def _slow(lines: list[bytes], numbers: list[int], doc: Document) -> list[tuple[pa.Table, list[int], frozenset[str]]]:
    good: list[tuple[int, bytes, dict]] = []
    for number in numbers:
        raw = lines[number - 1]
        try:
            value = json.loads(raw)
        except ValueError as exc:
            doc.quarantined.append(Quarantined.of(doc.source, number, f"invalid JSON: {exc}", raw))
            continue
        if not isinstance(value, dict):
            reason = f"not a JSON object but a JSON {type(value).__name__}"
            doc.quarantined.append(Quarantined.of(doc.source, number, reason, raw))
            continue
        good.append((number, raw, value))
    return _bisect(good, doc) if good else []


def _bisect(rows: list[tuple[int, bytes, dict]], doc: Document) -> list[tuple[pa.Table, list[int], frozenset[str]]]:
    try:
        table = _read(b"\n".join(raw for _n, raw, _v in rows))
        if table.num_rows != len(rows):
            raise pa.ArrowInvalid(f"{table.num_rows} rows from {len(rows)} lines")
        return [(table, [n for n, _raw, _v in rows], frozenset())]
    except pa.ArrowInvalid as exc:
        if len(rows) == 1:
            return _single(rows[0], exc, doc)
        middle = len(rows) // 2
        return _bisect(rows[:middle], doc) + _bisect(rows[middle:], doc)


def _schema_misfit(standard: dict, error: pa.ArrowInvalid) -> str:
    """Name the first standard field that does not parse on its own."""
    for name, value in standard.items():
        try:
            _read(_compact({name: value}).encode())
        except pa.ArrowInvalid as exc:
            return f"{name} does not fit Braze's export schema: {exc}"
    return f"does not fit Braze's export schema: {error}"


def _misfits(standard: dict) -> dict[str, str]:
    """Standard field → why its value does not fit Braze's export schema, for each that does not."""
    out = {}
    for name, value in standard.items():
        try:
            _read(_compact({name: value}).encode())
        except pa.ArrowInvalid as exc:
            out[name] = f"{name} does not fit Braze's export schema ({sc.STANDARD.field(name).type}): {exc}"
    return out


def _field(source: str, line: int, name: str, key: str, reason: str, value: object) -> Quarantined:
    return Quarantined(source, line, reason, _compact(value)[:RAW_LIMIT], field=name, braze_id=key)


def _compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _single(
    row: tuple[int, bytes, dict], error: pa.ArrowInvalid, doc: Document
) -> list[tuple[pa.Table, list[int], frozenset[str]]]:
    number, raw, value = row
    custom = value.get(sc.CUSTOM)
    standard = {k: v for k, v in value.items() if k != sc.CUSTOM}
    key = standard.get(sc.KEY) if isinstance(standard.get(sc.KEY), str) else None
    try:
        table = _read(_compact(standard).encode())
    except pa.ArrowInvalid as exc:
        misfits = _misfits(standard)
        if key is None or not misfits or sc.KEY in misfits:
            doc.quarantined.append(Quarantined.of(doc.source, number, _schema_misfit(standard, exc), raw))
            return []
        for name, reason in misfits.items():  # only these values are left out; the user is staged
            doc.field_quarantined.append(_field(doc.source, number, name, key, reason, standard.pop(name)))
        table = _read(_compact(standard).encode())
    if custom is not None and not isinstance(custom, dict):
        reason = f"{sc.CUSTOM} is not a JSON object: {error}"
        if key is None:
            doc.quarantined.append(Quarantined.of(doc.source, number, reason, raw))
            return []
        doc.field_quarantined.append(_field(doc.source, number, sc.CUSTOM, key, reason, custom))
        custom = {}
    custom = custom or {}
    arrays, names, as_json = [], [], set()
    for name, item in custom.items():
        try:
            arrays.append(_read(_compact({"v": item}).encode()).column("v").combine_chunks())
        except pa.ArrowInvalid:
            arrays.append(pa.array([_compact(item)], pa.string()))
            as_json.add(sc.CUSTOM_PREFIX + name)
        names.append(name)
    if names:
        table = table.append_column(sc.CUSTOM, pa.StructArray.from_arrays(arrays, names=names))
    return [(table, [number], frozenset(as_json))]


def normalise(frame: pl.DataFrame, numbers: list[int]) -> pl.DataFrame:
    """Custom attributes to columns, text dates parsed, `_line` added, `_problem` naming what is unusable."""
    if sc.CUSTOM in frame.columns:
        dtype = frame.schema[sc.CUSTOM]
        if isinstance(dtype, pl.Struct):
            frame = frame.with_columns(
                pl.col(sc.CUSTOM).struct.field(f.name).alias(sc.CUSTOM_PREFIX + f.name) for f in dtype.fields
            )
        frame = frame.drop(sc.CUSTOM)
    problems = [
        pl.when(pl.col(sc.KEY).is_null()).then(pl.lit("missing braze_id")),
        pl.when(pl.col(sc.KEY) == "").then(pl.lit("empty braze_id")),
    ]
    parsed = []
    for name, parse, form in [(n, sc.parse_time, "a Braze date") for n in sc.TEXT_TIME_FIELDS] + [
        (n, sc.parse_date, "a YYYY-MM-DD date") for n in sc.DATE_FIELDS
    ]:
        if name in frame.columns and frame.schema[name] == pl.String:
            bad = pl.col(name).is_not_null() & parse(pl.col(name)).is_null()
            problems.append(pl.when(bad).then(pl.lit(f"{name} is not {form}")))
            parsed.append(parse(pl.col(name)).alias(name))
    problem = pl.concat_str(problems, separator="; ", ignore_nulls=True)
    return frame.with_columns(
        *parsed,
        pl.Series(LINE, numbers, dtype=pl.UInt32),
        pl.when(problem != "").then(problem).alias(PROBLEM),
    )
