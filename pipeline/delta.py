"""`user_changes`: what changed in a segment between the previous staged copy and today's.

Changes frame (`layout.user_changes(connection, goal, day)`), the contract other steps build on:

- `braze_id` String;
- `_change` String: "added" (not in the previous copy), "changed" (some data value differs),
  "echo" (every value that differs is an echo of profilesync's own push, `pipeline.echoes`) or
  "removed" (not in today's copy); unchanged rows are left out;
- `_changed_fields` List(String): for "added" every data column with a value (braze_id
  included); for "changed" the data columns whose value differs, a column new today or gone
  today counting as null on the side that lacks it; for "removed" empty; echo fields are left out;
- `_echo_fields` List(String): the fields that differ (or, for "added", have a value) only because
  Braze shows what profilesync had acknowledged pushing; empty for most rows;
- `_pushed_values` List(Struct{field, value}): for really changed fields, what profilesync had
  pushed since the previous copy (so Braze held it before the change; `sum` adds from it);
- then every data column of either copy (today's columns in today's order, then columns only
  the previous copy had), null where a side lacks the column. Values come from today for
  added and changed rows and from the previous copy for removed rows, so leavers' identifiers
  are known. A column whose type differs between the two copies is cast to the type both fit
  (`pipeline.staging.types`: Int64 and Float64 give Float64, any other mix String JSON text).

Rows are sorted by braze_id. The previous copy is the latest staged day before today; with none,
every row is "added". Like the staged file, the changes file lists its JSON-text columns in the
Parquet metadata key `profilesync.json_text_columns`. It also records what it was diffed
against, under `profilesync.changes_base`: `{"step": <step whose users.parquet was read>,
"day": <the previous day, or null>}` (`changes_base(store, key)` reads it), so the profiles step
can prove it applies the changes onto the snapshot of that day (`pipeline.day_order`).

How: only (braze_id, `_row_hash`) of the two copies meet first, a few dozen MB at a million rows
(aligned by binary search when both are sorted by key, as staged files are; else joined); each
copy is then streamed once through a filter on the small set of ids whose fate needs full rows
(added or hash differs; hash differs or removed). Rows whose hash differs are compared column by
column, because a hash also differs when only a type changed (5 and 5.0) and such a row is not
reported as changed; lists and structs only where their value hashes differ. `compute_changes`
does this in key ranges of at most `CHUNK_ROWS` differing rows, each written aside, so the day
after a push (most rows echoes) does not hold both copies' values of most users at once.
Comparing every column of every row instead ran out of memory at 10M rows in an earlier
trial. Stored fingerprints are used only when both files record the running process's
`rowhash.scheme()` (another Polars build hashes differently); else both copies are fingerprinted
afresh while they are read.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl

from pipeline import layout
from pipeline.echoes import ECHO, EchoSources, acknowledged, mark_echoes, origins
from pipeline.staging import json_text_columns, publish_parquet, row_hash_scheme, rowhash
from pipeline.staging.types import JsonText, Target, conform, merge_schemas
from pipeline.storage import ObjectStore
from pipeline.storage.parquet import parquet_source, scan_parquet

HASH = rowhash.HASH_COLUMN
CHANGE, FIELDS = "_change", "_changed_fields"
_OLD = "_old:"  # prefix of the previous copy's columns while comparing
_OLD_HASH = "_old_hash"
_FATE, _CANDIDATE = "_fate", "candidate"  # candidate: hash differs; the values decide
_SUSPECT = "_suspect"  # some list or struct value hashes differently on the two sides
_NO_FIELDS = pl.lit([], pl.List(pl.String))
CHUNK_ROWS = 250_000  # rows of today's copy diffed at once (`compute_changes`)
BASE_KEY = "profilesync.changes_base"  # Parquet metadata: what the changes were diffed against


Bound = tuple[str | None, str | None]  # a key range [low, high); None: unbounded
Fates = tuple[pl.DataFrame, pl.DataFrame]  # (key, _fate) of today's rows and of the previous copy's


@dataclass(frozen=True)
class ChangesBase:
    """The copy a changes file was diffed against: `step`'s users of `day` (None: nothing earlier)."""

    step: str
    day: str | None


def changes_base(store: ObjectStore, key: str) -> ChangesBase | None:
    """What the changes file at `key` was diffed against; None for a file written before this was recorded."""
    recorded = pl.read_parquet_metadata(parquet_source(store, key)).get(BASE_KEY)
    if recorded is None:
        return None
    base = json.loads(recorded)
    return ChangesBase(step=base["step"], day=base["day"])


def _with_hash(frame: pl.LazyFrame, schema: pl.Schema, rehash: bool) -> pl.LazyFrame:
    """`frame` with `_row_hash`: the stored one, or computed afresh (`rehash`, or a frame without one)."""
    if HASH in schema and not rehash:
        return frame
    return frame.with_columns(rowhash.row_hash(schema))


def _targets(new: pl.Schema, old: pl.Schema | None, key: str, json_columns: set[str]) -> dict[str, Target]:
    new_columns = {n: t for n, t in new.items() if not n.startswith("_")}
    old_columns = {n: t for n, t in (old or {}).items() if not n.startswith("_")}
    merged = merge_schemas([new_columns, old_columns], json_columns)
    return {key: merged.pop(key), **merged}


def _values(
    schema: pl.Schema, targets: dict[str, Target], json_columns: Collection[str] = (), prefix: str = ""
) -> list[pl.Expr]:
    """The data columns of a frame with `schema` conformed to `targets`, named `prefix + name`.

    Columns in `json_columns` already hold JSON text and are kept as they are.
    """
    out = []
    for name, target in targets.items():
        dtype = pl.String() if isinstance(target, JsonText) else target
        if name not in schema:
            value = pl.lit(None, dtype)
        elif name in json_columns:
            value = pl.col(name).cast(pl.String)
        else:
            value = conform(pl.col(name), schema[name], target)
        out.append(value.alias(prefix + name))
    return out


def _non_null_fields(names: list[str]) -> pl.Expr:
    return pl.concat_list([pl.when(pl.col(n).is_not_null()).then(pl.lit(n)) for n in names]).list.drop_nulls()


def diff(
    new: pl.LazyFrame,
    old: pl.LazyFrame | None,
    key: str = "braze_id",
    *,
    new_json: Collection[str] = (),
    old_json: Collection[str] = (),
    rehash: bool = False,
    fates: Fates | None = None,
) -> pl.LazyFrame:
    """The changes frame of `new` against `old` (see the module docstring); lazy in, lazy out.

    `fates`: the copies' fates as `key_ranges` found them for a single range, not read again.

    `new_json` / `old_json` name each side's String columns that already hold JSON text (the
    staged file's `profilesync.json_text_columns`), so they are not encoded a second time.
    `rehash` ignores stored `_row_hash` columns and fingerprints both sides afresh: stored ones
    are only comparable when both were computed under the running process's scheme.
    """
    new_schema = new.collect_schema()
    old_schema = old.collect_schema() if old is not None else None
    targets = _targets(new_schema, old_schema, key, set(new_json) | set(old_json))
    names = list(targets)
    new = _with_hash(new, new_schema, rehash)
    tagged = [pl.col(key), pl.lit("added").alias(CHANGE), _non_null_fields(names).alias(FIELDS)]
    if old is None or old_schema is None:
        added = new.select(_values(new_schema, targets, new_json)).select(*tagged, *names[1:])
        return added.sort(key)
    old = _with_hash(old, old_schema, rehash)
    new_rows, old_rows = (frame.lazy() for frame in _rows_with_fates(new, old, key, fates))
    added = (
        new_rows.filter(pl.col(_FATE) == "added")
        .select(_values(new_schema, targets, new_json))
        .select(*tagged, *names[1:])
    )
    after = new_rows.filter(pl.col(_FATE) == _CANDIDATE).select(_values(new_schema, targets, new_json))
    before = old_rows.filter(pl.col(_FATE) == _CANDIDATE)
    before = before.select(pl.col(key), *_values(old_schema, targets, old_json, _OLD)[1:])
    changed = (
        _with_changed_fields(after.join(before, on=key, how="inner"), names[1:], targets)
        .filter(pl.col(FIELDS).list.len() > 0)
        .select(pl.col(key), pl.lit("changed").alias(CHANGE), pl.col(FIELDS), *names[1:])
    )
    removed = (
        old_rows.filter(pl.col(_FATE) == "removed")
        .select(_values(old_schema, targets, old_json))
        .select(pl.col(key), pl.lit("removed").alias(CHANGE), _NO_FIELDS.alias(FIELDS), *names[1:])
    )
    return pl.concat([added, changed, removed], how="vertical").sort(key)


def _differing(names: list[str]) -> pl.Expr:
    differs = [pl.when(pl.col(n).eq_missing(pl.col(_OLD + n)).not_()).then(pl.lit(n)) for n in names]
    return pl.concat_list(differs).list.drop_nulls() if differs else _NO_FIELDS


def _with_changed_fields(pairs: pl.LazyFrame, names: list[str], targets: dict[str, Target]) -> pl.LazyFrame:
    """`pairs` (today's values beside the previous copy's, `_old:`-prefixed) with `_changed_fields`.

    Comparing lists and structs element by element was most of the cost of building the changes
    (0.7 CPU-s for 50k rows at a million users), and they rarely change: they are compared only in
    rows where the two sides' value hashes differ. Equal hashes count as equal values, the chance
    the row fingerprint already takes (2^-64); different hashes of equal values (0.0 and -0.0)
    are still settled by the comparison.
    """
    nested = [n for n in names if not isinstance(targets[n], JsonText) and targets[n].is_nested()]
    if not nested:
        return pairs.with_columns(_differing(names).alias(FIELDS))
    flat = [n for n in names if n not in nested]
    suspect = pl.any_horizontal([pl.col(n).hash() != pl.col(_OLD + n).hash() for n in nested])
    pairs = pairs.with_columns(suspect.alias(_SUSPECT))
    return pl.concat(
        [
            pairs.filter(pl.col(_SUSPECT)).with_columns(_differing(names).alias(FIELDS)),
            pairs.filter(~pl.col(_SUSPECT)).with_columns(_differing(flat).alias(FIELDS)),
        ]
    ).drop(_SUSPECT)


def _rows_with_fates(
    new: pl.LazyFrame, old: pl.LazyFrame, key: str, fates: Fates | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rows of each copy whose fate needs their values, with `_fate`: today's added and
    candidate rows, the previous copy's removed and candidate rows.

    Only (key, `_row_hash`) of both copies are read whole (a few dozen MB at a million rows).
    Each copy is then one scan filtered on the few keys with a fate: the Parquet reader decodes
    the key column first and the other columns only around the rows it keeps, so memory stays
    near the kept rows (a stream of whole batches held twice as much at a million rows; a join
    of every row with the keys took 2.1x the floor). Both scans run at once, and only once.
    """
    new_fates, old_fates = fates if fates is not None else _read_fates(new, old, key)
    return tuple(  # type: ignore[return-value]
        pl.collect_all(
            [
                _rows_with_fate(new.select(pl.exclude(HASH)), new_fates, key),
                _rows_with_fate(old.select(pl.exclude(HASH)), old_fates, key),
            ]
        )
    )


def _read_fates(new: pl.LazyFrame, old: pl.LazyFrame, key: str) -> Fates:
    new_keys, old_keys = pl.collect_all(
        [new.select(key, HASH), old.select(key, pl.col(HASH).alias(_OLD_HASH))], engine="streaming"
    )
    return _fates(new_keys, old_keys, key)


def _fates(new_keys: pl.DataFrame, old_keys: pl.DataFrame, key: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(key, `_fate`) of today's added and candidate rows, and of the previous copy's removed and
    candidate rows, from the keys and hashes of both copies.

    Staged copies are sorted by a key without nulls or repeats: their keys are then aligned by
    binary search, half the CPU of a hash join of a million text keys. Other frames are joined.
    """
    if not (_strictly_sorted(new_keys[key]) and _strictly_sorted(old_keys[key])):
        status = (
            new_keys.join(old_keys, on=key, how="full", coalesce=True)
            .select(
                key,
                pl.when(pl.col(_OLD_HASH).is_null())
                .then(pl.lit("added"))
                .when(pl.col(HASH).is_null())
                .then(pl.lit("removed"))
                .when(pl.col(HASH) != pl.col(_OLD_HASH))
                .then(pl.lit(_CANDIDATE))
                .alias(_FATE),
            )
            .filter(pl.col(_FATE).is_not_null())
        )
        return status.filter(pl.col(_FATE) != "removed"), status.filter(pl.col(_FATE) != "added")
    new_ids, old_ids = new_keys[key], old_keys[key]
    if old_ids.is_empty():
        at = pl.zeros(new_ids.len(), pl.get_index_type(), eager=True)
        found = differs = pl.repeat(False, new_ids.len(), eager=True)
    else:
        at = old_ids.search_sorted(new_ids, side="left").clip(upper_bound=old_ids.len() - 1)
        found = old_ids.gather(at) == new_ids
        differs = found & (new_keys[HASH] != old_keys[_OLD_HASH].gather(at))
    new_fate = pl.when(~found).then(pl.lit("added")).when(differs).then(pl.lit(_CANDIDATE))
    new_fates = new_keys.select(key, new_fate.alias(_FATE)).filter(pl.col(_FATE).is_not_null())
    kept = pl.zeros(old_ids.len(), pl.Boolean, eager=True).scatter(at.filter(found), True)
    removed = old_keys.select(key).filter(~kept).with_columns(pl.lit("removed").alias(_FATE))
    candidates = new_fates.filter(pl.col(_FATE) == _CANDIDATE)
    return new_fates, pl.concat([candidates, removed])


def _strictly_sorted(ids: pl.Series) -> bool:
    """Ascending without repeats or nulls: each row's position is then found by binary search."""
    if ids.null_count() or ids.len() < 2:
        return ids.null_count() == 0
    return bool((ids.slice(1) > ids.slice(0, ids.len() - 1)).all())


def _rows_with_fate(frame: pl.LazyFrame, fates: pl.DataFrame, key: str) -> pl.LazyFrame:
    """The rows of `frame` whose key is in `fates`, with their `_fate`."""
    wanted = frame.filter(pl.col(key).is_in(fates[key].implode()))
    return wanted.join(fates.lazy(), on=key, how="inner")


def _json_columns(new: pl.LazyFrame, old: pl.LazyFrame | None, marked: set[str]) -> list[str]:
    """Columns of the changes frame that hold JSON text: marked on either side, or merged so."""
    old_schema = old.collect_schema() if old is not None else None
    targets = _targets(new.collect_schema(), old_schema, "braze_id", marked)
    return [name for name, target in targets.items() if isinstance(target, JsonText)]


def change_counts(changes: pl.LazyFrame | pl.DataFrame, new_rows: int) -> dict[str, int]:
    """{added, changed, echoes, seen_changed, removed, unchanged}; `new_rows` is the row count of today's copy.

    `changed` counts only real changes; `echoes` the rows whose every difference is an echo of our
    own push (`pipeline.echoes`); `seen_changed` both, i.e. what differed from the previous copy.
    """
    counted = dict(changes.lazy().group_by(CHANGE).len().collect().iter_rows())
    counts = {kind: int(counted.get(kind, 0)) for kind in ("added", "changed", "removed")}
    counts["echoes"] = int(counted.get(ECHO, 0))
    counts["seen_changed"] = counts["changed"] + counts["echoes"]
    counts["unchanged"] = new_rows - counts["added"] - counts["seen_changed"]
    return counts


def compute_changes(
    store: ObjectStore,
    connection: str,
    goal: str,
    day: str,
    source: str = "staged_users",
    sources: EchoSources | None = None,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> dict[str, object]:
    """Diff today's copy against the latest earlier one and publish `changes.parquet`.

    `source` is the step whose `users.parquet` is diffed: `staged_users`, or the last
    transformation step a data engineer added after it. `sources` names the export goals whose
    acknowledged pushes are echoes when they come back, and what provenance says about them
    (`pipeline.echoes`). Returns the counts of `change_counts` plus `previous_day` (None when
    there was none) and the key written.

    The copies are diffed in key ranges of about `chunk_rows` differing rows, each judged for
    echoes against its own users' pushes (`_judged`) and written aside before the next is read:
    the day after a push most rows differ (its echoes come back), and holding both copies' values,
    or the echo evidence, of all of them at once grew with the users (`key_ranges`).
    """
    folder = layout.step_folder(connection, goal, source)
    previous = layout.latest_day_before(store, folder, layout.USERS_FILE, day)
    new_key = layout.step_file(connection, goal, source, day, layout.USERS_FILE)
    new, new_json = scan_parquet(store, new_key), json_text_columns(store, new_key)
    old, old_json, schemes = None, [], {row_hash_scheme(store, new_key)}
    if previous:
        old_key = layout.step_file(connection, goal, source, previous, layout.USERS_FILE)
        old, old_json = scan_parquet(store, old_key), json_text_columns(store, old_key)
        schemes.add(row_hash_scheme(store, old_key))
    rehash = schemes != {rowhash.scheme()}
    key = layout.user_changes(connection, goal, day)
    json_columns = _json_columns(new, old, set(new_json) | set(old_json))
    base = {BASE_KEY: json.dumps({"step": source, "day": previous})}
    sources = sources if sources is not None else EchoSources()
    ours = acknowledged(store, sources.exports, day)
    # Provenance is evidence only for a column with a push: other columns' origins are never read
    # (at 1M users the day after a push, 4.5 CPU-s per key range for 4 unpushed columns).
    pushed = set(ours["column"].unique().to_list())
    sources = replace(sources, readers=tuple(r for r in sources.readers if r[1] in pushed))
    ranges, fates = key_ranges(new, old, "braze_id", chunk_rows, rehash)
    with tempfile.TemporaryDirectory(prefix="profilesync-") as folder:
        if len(ranges) == 1 and not ours.height:
            changes = diff(new, old, new_json=new_json, old_json=old_json, rehash=rehash, fates=fates)
            marked = mark_echoes(changes, ours, json_columns, previous)
        else:  # each range diffed, then its echoes judged, and written aside before the next is read
            for number, (low, high) in enumerate(ranges):
                part = diff(
                    within(new, low, high),
                    None if old is None else within(old, low, high),
                    new_json=new_json,
                    old_json=old_json,
                    rehash=rehash,
                    fates=fates,  # known for a single range only
                )
                diffed = Path(folder) / f"diff-{number:06d}.parquet"
                part.sink_parquet(diffed)  # the echo marks read the diff once per compared column
                if ours.height:
                    _judged(store, day, sources, pl.scan_parquet(diffed), ours, json_columns, previous).sink_parquet(
                        Path(folder) / f"marked-{number:06d}.parquet"
                    )
                    diffed.unlink()
            if ours.height:
                marked = pl.scan_parquet(Path(folder) / "marked-*.parquet")
            else:
                marked = mark_echoes(pl.scan_parquet(Path(folder) / "diff-*.parquet"), ours)
        publish_parquet(store, key, marked, json_columns, base)
    rows = new.select(pl.len()).collect().item()
    counts = change_counts(scan_parquet(store, key).select(CHANGE), rows)
    return {**counts, "previous_day": previous, "changes_key": key}


def _judged(
    store: ObjectStore,
    day: str,
    sources: EchoSources,
    changes: pl.LazyFrame,
    ours: pl.DataFrame,
    json_columns: Collection[str],
    previous: str | None,
) -> pl.LazyFrame:
    """One key range's changes with their echoes marked, judged against that range's users only:
    the acknowledged pushes and provenance of every changed user at once held 3 GiB at a million
    users the day after a push. A user's marks depend on its own rows only, so ranges agree with one."""
    evidence = origins(store, day, sources, changes.filter(pl.col(CHANGE) != "removed")).collect().lazy()
    return mark_echoes(changes, ours, json_columns, previous, evidence)


def key_ranges(new: pl.LazyFrame, old: pl.LazyFrame | None, key: str, rows: int, rehash: bool = False) -> list[Bound]:
    """[low, high) key ranges in key order, covering every key (the first from no bound, the last
    to none), each holding about `rows` of the rows whose values the diff must read: added,
    removed and hash-differing rows (every row of today's copy when there is no previous copy or
    the stored hashes are not trusted). One range when there are at most `rows` of them.

    Staged copies are sorted by key, so Parquet's row-group statistics let a scan filtered to one
    range skip most other row groups; a day with few changes takes one range and one pass. Also
    returns the fates it read (None when it read none), for `diff` of a single range.
    """
    fates = None
    if old is None or rehash:
        ids = new.select(pl.col(key).drop_nulls()).collect(engine="streaming")[key]
    else:
        fates = new_fates, old_fates = _read_fates(new, old, key)
        ids = pl.concat([new_fates[key], old_fates.filter(pl.col(_FATE) == "removed")[key]]).drop_nulls()
    if ids.len() <= rows:
        return [(None, None)], fates
    if not _strictly_sorted(ids):
        ids = ids.unique().sort()
    cuts = ids.gather(pl.int_range(rows, ids.len(), rows, eager=True)).to_list()
    return list(zip([None, *cuts], [*cuts, None], strict=True)), None


def within(frame: pl.LazyFrame, low: str | None, high: str | None, key: str = "braze_id") -> pl.LazyFrame:
    """The rows of `frame` whose key is in [low, high); rows without a key fall in the first range."""
    condition = pl.lit(True)
    if low is not None:
        condition = condition & (pl.col(key) >= low)
    if high is not None:
        condition = condition & ((pl.col(key) < high) | (pl.col(key).is_null() if low is None else pl.lit(False)))
    return frame.filter(condition)
